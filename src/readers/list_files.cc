// list_files(patterns, shuffle, seed): the files matching glob patterns as string scalars,
// sorted by name, or in a seeded random order. Without a seed, the dataset draws one when it
// is built. State: the index of the next name and the seed of the order, so that a restore in
// another process (which draws another seed) reproduces the saved order, and a digest of the
// names matched, each relative to its pattern's directory (the part before the first wildcard):
// the same tree of files under another root ("/data/*.csv" then "/scratch/copy/*.csv", or
// "data/*.csv" from another working directory) restores, while a file added, removed or renamed
// under it is refused. The names are paths, so the elements themselves change with the root:
// the readers downstream identify the files by their contents (file_identity.h).
#include <algorithm>
#include <random>
#include <tuple>

#include "core/op_skeleton.h"
#include "core/tensor_ops.h"
#include "inputpipe/file_system.h"
#include "inputpipe/readers.h"
#include "inputpipe/state.h"

namespace inputpipe {

namespace {
constexpr char kNext[] = "next";  // index of the next name in the iterator's order
constexpr char kSeed[] = "seed";  // seed of that order (0 and unused when not shuffled)
// Digest of (pattern index, name relative to the pattern's directory) of every name in sorted
// order; absent from states of older versions, which had the full names in the fingerprint.
constexpr char kNames[] = "names";

// The part of `pattern` that a match repeats verbatim: up to the '/' before the first wildcard
// ("/data/*/x.csv" -> "/data/"; "/data/a.csv" -> "/data/"; "*.csv" -> "").
std::string FixedPrefix(const std::string& pattern) {
  const size_t wildcard = std::min(pattern.find_first_of("*?["), pattern.size());
  if (wildcard == 0) return "";
  const size_t slash = pattern.rfind('/', wildcard - 1);
  return slash == std::string::npos ? "" : pattern.substr(0, slash + 1);
}

// A name as the pattern that matched it sees it, whatever the pattern's root.
struct MatchedName {
  std::string name;
  size_t pattern;
  bool operator<(const MatchedName& o) const {
    return std::tie(name, pattern) < std::tie(o.name, o.pattern);
  }
};

uint64_t DigestNames(const std::vector<MatchedName>& matched,
                     const std::vector<std::string>& patterns) {
  const uint64_t count = matched.size();
  uint64_t h = HashBytes(&count, sizeof(count));
  for (const auto& m : matched) {
    const std::string prefix = FixedPrefix(patterns[m.pattern]);
    std::string_view relative = m.name;
    if (relative.starts_with(prefix)) relative.remove_prefix(prefix.size());
    const uint64_t head[2] = {m.pattern, relative.size()};
    h = HashBytes(head, sizeof(head), h);
    h = HashBytes(relative.data(), relative.size(), h);
  }
  return h;
}

// The same permutation for the same seed on every platform (std::shuffle's is unspecified).
std::vector<int64_t> Permutation(int64_t n, int64_t seed) {
  std::vector<int64_t> order(n);
  for (int64_t i = 0; i < n; ++i) order[i] = i;
  std::mt19937_64 rng(static_cast<uint64_t>(seed));
  for (int64_t i = n - 1; i > 0; --i) std::swap(order[i], order[rng() % (i + 1)]);
  return order;
}

class ListFilesIterator;

class ListFilesDataset : public OpDataset<ListFilesDataset, ListFilesIterator> {
 public:
  ListFilesDataset(std::vector<std::string> patterns, std::vector<std::string> names,
                   uint64_t names_digest, bool shuffle, std::optional<int64_t> seed)
      : patterns(std::move(patterns)), names(std::move(names)), names_digest(names_digest),
        shuffle(shuffle), seed(seed),
        drawn_seed(seed ? *seed : static_cast<int64_t>(std::random_device{}() >> 1)) {
    if (shuffle) order_ = Permutation(Cardinality(), drawn_seed);
  }

  std::string op_name() const override { return "list_files"; }
  // The patterns and names are paths, which change when the data moves: only counted here; the
  // iterator checks the names relative to their patterns.
  std::string params() const override {
    std::string p = "patterns=" + std::to_string(patterns.size()) +
                    ", files=" + std::to_string(names.size());
    p += std::string(", shuffle=") + (shuffle ? "true" : "false");
    if (shuffle && seed) p += ", seed=" + std::to_string(*seed);
    return p;
  }
  int64_t Cardinality() const override { return static_cast<int64_t>(names.size()); }
  bool IsRandomAccess() const override { return !shuffle || seed.has_value(); }
  Element Get(int64_t index) const override {
    if (index < 0 || index >= Cardinality()) {
      throw InvalidArgumentError("list_files: Get(" + std::to_string(index) + ") out of range");
    }
    return Tensor::String(names[shuffle ? order_[index] : index]);
  }

  const std::vector<std::string> patterns;
  const std::vector<std::string> names;
  const uint64_t names_digest;  // DigestNames
  const bool shuffle;
  const std::optional<int64_t> seed;
  const int64_t drawn_seed;  // seed, or one drawn at construction

 private:
  std::vector<int64_t> order_;  // when shuffled: the permutation of drawn_seed
};

class ListFilesIterator : public DatasetIterator<ListFilesDataset> {
 public:
  explicit ListFilesIterator(const ListFilesDataset& ds)
      : DatasetIterator(ds), seed_(ds.shuffle ? ds.drawn_seed : 0) {}

 protected:
  std::optional<Element> GetNextInternal() override {
    if (next_ >= dataset().Cardinality()) return std::nullopt;
    int64_t i = next_++;
    if (!restored_order_.empty()) return Tensor::String(dataset().names[restored_order_[i]]);
    return dataset().Get(i);
  }
  void SaveInternal(StateWriter& w) override {
    w.WriteInt(kNext, next_);
    w.WriteInt(kSeed, seed_);
    w.WriteInt(kNames, static_cast<int64_t>(dataset().names_digest));
  }
  void RestoreInternal(StateReader& r) override {
    next_ = ReadCounter(r, kNext, dataset().Cardinality());
    for (const auto& [key, digest] : r.node().ints) {
      if (key == kNames && static_cast<uint64_t>(digest) != dataset().names_digest) {
        RefuseChangeUnlessAllowed(
            "list_files: the files matched are not those of the saved state (the same number, " +
            std::to_string(dataset().Cardinality()) + ", but other names relative to the " +
            "directories of the patterns, or another pattern matching them)");
      }
    }
    int64_t seed = r.ReadInt(kSeed);
    if (dataset().shuffle && seed != seed_) {
      if (dataset().seed) {
        throw DataLossError("corrupt state: list_files seed " + std::to_string(seed) +
                            " where the dataset's is " + std::to_string(*dataset().seed));
      }
      seed_ = seed;  // saved by a process that drew another seed
      restored_order_ = Permutation(dataset().Cardinality(), seed_);
    }
  }

 private:
  int64_t next_ = 0;
  int64_t seed_;
  std::vector<int64_t> restored_order_;  // only when the saved seed differs from the dataset's
};
}  // namespace

// Each pattern is expanded by the file system of its scheme (glob(3) for POSIX).
DatasetPtr ListFiles(std::vector<std::string> patterns, bool shuffle, std::optional<int64_t> seed) {
  if (patterns.empty()) throw InvalidArgumentError("list_files: no file pattern given");
  std::vector<MatchedName> matched_all;
  for (size_t p = 0; p < patterns.size(); ++p) {
    const std::string& pattern = patterns[p];
    std::vector<std::string> matched;
    try {
      matched = FileSystemForPath(pattern)->GetMatchingPaths(pattern);
    } catch (const InvalidArgumentError& e) {
      throw InvalidArgumentError(std::string("list_files: ") + e.what());
    } catch (const IOError& e) {
      throw IOError("list_files: cannot expand pattern '" + pattern + "': " + e.what());
    }
    if (matched.empty()) {
      throw InvalidArgumentError("list_files: no files matched pattern '" + pattern + "'");
    }
    for (auto& name : matched) matched_all.push_back({std::move(name), p});
  }
  std::sort(matched_all.begin(), matched_all.end());
  const uint64_t digest = DigestNames(matched_all, patterns);
  std::vector<std::string> names;
  names.reserve(matched_all.size());
  for (auto& m : matched_all) names.push_back(std::move(m.name));
  return std::make_shared<ListFilesDataset>(std::move(patterns), std::move(names), digest,
                                            shuffle, seed);
}

}  // namespace inputpipe
