// list_files(patterns, shuffle, seed): the files matching glob patterns as string scalars,
// sorted by name, or in a seeded random order. Without a seed, the dataset draws one when it
// is built. State: the index of the next name and the seed of the order, so that a restore in
// another process (which draws another seed) reproduces the saved order.
#include <algorithm>
#include <random>

#include "core/op_skeleton.h"
#include "core/tensor_ops.h"
#include "inputpipe/file_system.h"
#include "inputpipe/readers.h"

namespace inputpipe {

namespace {
constexpr char kNext[] = "next";  // index of the next name in the iterator's order
constexpr char kSeed[] = "seed";  // seed of that order (0 and unused when not shuffled)

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
  ListFilesDataset(std::vector<std::string> patterns, std::vector<std::string> names, bool shuffle,
                   std::optional<int64_t> seed)
      : patterns(std::move(patterns)), names(std::move(names)), shuffle(shuffle), seed(seed),
        drawn_seed(seed ? *seed : static_cast<int64_t>(std::random_device{}() >> 1)) {
    if (shuffle) order_ = Permutation(Cardinality(), drawn_seed);
  }

  std::string op_name() const override { return "list_files"; }
  std::string params() const override {
    std::string p = "patterns=[";
    for (size_t i = 0; i < patterns.size(); ++i) p += (i ? ", '" : "'") + patterns[i] + "'";
    std::string all;
    for (const auto& n : names) all += n + '\0';
    p += "], files=" + std::to_string(names.size()) + " (hash " +
         HexU64(HashBytes(all.data(), all.size())) + ")";
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
  }
  void RestoreInternal(StateReader& r) override {
    next_ = ReadCounter(r, kNext, dataset().Cardinality());
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
  std::vector<std::string> names;
  for (const auto& pattern : patterns) {
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
    for (auto& name : matched) names.push_back(std::move(name));
  }
  std::sort(names.begin(), names.end());
  return std::make_shared<ListFilesDataset>(std::move(patterns), std::move(names), shuffle, seed);
}

}  // namespace inputpipe
