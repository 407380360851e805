// list_files(patterns, shuffle, seed): the files matching glob patterns as string scalars,
// sorted by name, or in a seeded random order. Without a seed, the dataset draws one when it
// is built. State: the index of the next name and the seed of the order, so that a restore in
// another process (which draws another seed) reproduces the saved order.
#include <algorithm>
#include <random>

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

class ListFilesDataset : public Dataset {
 public:
  ListFilesDataset(std::vector<std::string> patterns, std::vector<std::string> names, bool shuffle,
                   std::optional<int64_t> seed)
      : patterns_(std::move(patterns)), names_(std::move(names)), shuffle_(shuffle), seed_(seed),
        drawn_seed_(seed ? *seed : static_cast<int64_t>(std::random_device{}() >> 1)) {
    if (shuffle_) order_ = Permutation(Cardinality(), drawn_seed_);
  }

  std::string op_name() const override { return "list_files"; }
  std::string params() const override {
    std::string p = "patterns=[";
    for (size_t i = 0; i < patterns_.size(); ++i) p += (i ? ", '" : "'") + patterns_[i] + "'";
    std::string all;
    for (const auto& n : names_) all += n + '\0';
    p += "], files=" + std::to_string(names_.size()) + " (hash " +
         HexU64(HashBytes(all.data(), all.size())) + ")";
    p += std::string(", shuffle=") + (shuffle_ ? "true" : "false");
    if (shuffle_ && seed_) p += ", seed=" + std::to_string(*seed_);
    return p;
  }
  int64_t Cardinality() const override { return static_cast<int64_t>(names_.size()); }
  bool IsRandomAccess() const override { return !shuffle_ || seed_.has_value(); }
  Element Get(int64_t index) const override {
    if (index < 0 || index >= Cardinality()) {
      throw InvalidArgumentError("list_files: Get(" + std::to_string(index) + ") out of range");
    }
    return Tensor::String(names_[shuffle_ ? order_[index] : index]);
  }

 protected:
  std::unique_ptr<Iterator> MakeIteratorInternal() const override;

 private:
  friend class ListFilesIterator;
  const std::vector<std::string> patterns_;
  const std::vector<std::string> names_;
  const bool shuffle_;
  const std::optional<int64_t> seed_;
  const int64_t drawn_seed_;    // seed_, or one drawn at construction
  std::vector<int64_t> order_;  // when shuffled: the permutation of drawn_seed_
};

class ListFilesIterator : public Iterator {
 public:
  explicit ListFilesIterator(const ListFilesDataset& ds)
      : Iterator(ds.shared()), ds_(ds), seed_(ds.shuffle_ ? ds.drawn_seed_ : 0) {}

 protected:
  std::optional<Element> GetNextInternal() override {
    if (next_ >= ds_.Cardinality()) return std::nullopt;
    int64_t i = next_++;
    if (!restored_order_.empty()) return Tensor::String(ds_.names_[restored_order_[i]]);
    return ds_.Get(i);
  }
  void SaveInternal(StateWriter& w) override {
    w.WriteInt(kNext, next_);
    w.WriteInt(kSeed, seed_);
  }
  void RestoreInternal(StateReader& r) override {
    next_ = r.ReadIntInRange(kNext, 0, ds_.Cardinality());
    int64_t seed = r.ReadInt(kSeed);
    if (ds_.shuffle_ && seed != seed_) {
      if (ds_.seed_) {
        throw DataLossError("corrupt state: list_files seed " + std::to_string(seed) +
                            " where the dataset's is " + std::to_string(*ds_.seed_));
      }
      seed_ = seed;  // saved by a process that drew another seed
      restored_order_ = Permutation(ds_.Cardinality(), seed_);
    }
  }

 private:
  const ListFilesDataset& ds_;
  int64_t next_ = 0;
  int64_t seed_;
  std::vector<int64_t> restored_order_;  // only when the saved seed differs from the dataset's
};

std::unique_ptr<Iterator> ListFilesDataset::MakeIteratorInternal() const {
  return std::make_unique<ListFilesIterator>(*this);
}
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
