// global_shuffle(seed, reshuffle_each_iteration): a uniform permutation of a random-access
// dataset, without a buffer: element i of an epoch is input.Get(perm(i)), where perm is a
// keyed Feistel bijection of [0, n) (random_util.h) keyed by (seed, epoch). O(1) memory.
//
// Epochs: with reshuffle_each_iteration, the k-th iterator made from this dataset uses epoch k
// (tf.data: each iteration over the dataset, e.g. each epoch under repeat, is shuffled anew);
// without it every iterator uses epoch 0. The dataset itself is random-access: Get(i) is
// epoch 0's i-th element.
//
// State: the position in the epoch, the epoch, and the seed. An unseeded shuffle picks its
// seed at random when the dataset is created; the seed travels in the state, so a restore in
// another process continues the same permutation, and the fingerprint says "seed=random"
// rather than the number (pipelines built in two processes have equal fingerprints).
#include <algorithm>

#include "core/element_skip.h"
#include "core/op_skeleton.h"
#include "inputpipe/ops.h"
#include "ops/iteration_access.h"
#include "ops/random_util.h"

namespace inputpipe {

namespace {
constexpr char kPosition[] = "position";

class GlobalShuffleIterator;

class GlobalShuffleDataset
    : public OpDataset<GlobalShuffleDataset, GlobalShuffleIterator, UnaryDataset>,
      public IterationAccess {
 public:
  GlobalShuffleDataset(DatasetPtr input, std::optional<int64_t> seed, bool reshuffle)
      : OpDataset(std::move(input)), seed(seed, reshuffle), n(input_->Cardinality()) {}

  std::string op_name() const override { return "global_shuffle"; }
  std::string params() const override { return seed.Param(); }
  int64_t Cardinality() const override { return n; }
  bool IsRandomAccess() const override { return true; }
  Element Get(int64_t index) const override { return GetInIteration(index, 0); }
  // The k-th iterator's epoch is k when reshuffling (ShuffleSeed::Start), 0 otherwise.
  Element GetInIteration(int64_t index, int64_t iteration) const override {
    if (index < 0 || index >= n) {
      throw InvalidArgumentError("global_shuffle: index " + std::to_string(index) +
                                 " out of range [0, " + std::to_string(n) + ")");
    }
    const int64_t epoch = seed.reshuffle ? iteration : 0;
    return input_->Get(Permutation({seed.seed.value, epoch})(index));
  }
  // Its input is read by Get on every iteration, by the iterator as here.
  bool ForwardsIteration() const override { return true; }
  bool ReshufflesEachIteration() const override { return seed.reshuffle; }

  IndexPermutation Permutation(const SeedEpoch& s) const { return IndexPermutation(n, s.Key()); }

  const ShuffleSeed seed;
  const int64_t n;
};

// Reads the input by index (Get): it makes no input iterator.
// Moves past elements by moving its position (ElementSkipper): Get is not called for them.
class GlobalShuffleIterator : public DatasetIterator<GlobalShuffleDataset>, public ElementSkipper {
 public:
  explicit GlobalShuffleIterator(const GlobalShuffleDataset& ds)
      : DatasetIterator(ds), seed_(ds.seed.Start()), perm_(ds.Permutation(seed_)) {}

  int64_t SkipElements(int64_t n, SkipMode) override {
    const int64_t moved = std::min(n, dataset().n - position_);
    position_ += moved;
    return moved;
  }

 protected:
  std::optional<Element> GetNextInternal() override {
    if (position_ >= dataset().n) return std::nullopt;
    return dataset().input()->Get(perm_(position_++));
  }
  void SaveInternal(StateWriter& w) override {
    dataset().seed.Save(w, seed_);
    w.WriteInt(kPosition, position_);
  }
  void RestoreInternal(StateReader& r) override {
    seed_ = dataset().seed.Restore(r, "global_shuffle");
    position_ = ReadCounter(r, kPosition, dataset().n);
    perm_ = dataset().Permutation(seed_);
  }

 private:
  SeedEpoch seed_;
  IndexPermutation perm_;
  int64_t position_ = 0;
};
}  // namespace

DatasetPtr GlobalShuffle(DatasetPtr input, std::optional<int64_t> seed,
                         bool reshuffle_each_iteration) {
  CheckInput(input, "global_shuffle");
  if (!input->IsRandomAccess()) {
    throw InvalidArgumentError("global_shuffle needs a random-access input, but " +
                               input->WhyNotRandomAccess() +
                               "; use shuffle(buffer_size) for such inputs");
  }
  if (input->Cardinality() < 0) {
    throw InvalidArgumentError("global_shuffle needs a finite input; " + input->Signature() +
                               " has cardinality " + std::to_string(input->Cardinality()));
  }
  return std::make_shared<GlobalShuffleDataset>(std::move(input), seed, reshuffle_each_iteration);
}

}  // namespace inputpipe
