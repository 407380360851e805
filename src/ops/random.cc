// random(seed): an infinite stream of random int64 scalars (all 64 bits random). Counter-based
// (SplitMix64 at a counter, random_util.h): element i is a function of (seed, i), so the
// dataset is random-access and the state is the seed and the counter.
//
// An unseeded dataset picks its seed at creation; the seed travels in the state (a restore in
// another process continues the same stream) and the fingerprint says "seed=random". By default
// every iteration of a dataset produces the same stream (tf.data's default,
// rerandomize_each_iteration=False). With rerandomize_each_iteration, the k-th iterator made
// from the dataset (the k-th epoch under repeat) draws the stream of (seed, k), epoch 0 being
// the stream without it; the epoch is saved ("epoch", written only then) and a restore moves
// the dataset's counter past it, so the epochs after a restored one continue as they would have
// (random_util.h's EpochCounter, as shuffle's reshuffle_each_iteration). Such a dataset is not
// random-access: element i depends on the iteration.
#include <limits>

#include "core/op_skeleton.h"
#include "inputpipe/ops.h"
#include "ops/random_util.h"

namespace inputpipe {

namespace {
constexpr char kSeed[] = "seed";
constexpr char kNext[] = "next";    // counter of the next element
constexpr char kEpoch[] = "epoch";  // the iteration, with rerandomize_each_iteration only

class RandomIterator;

class RandomDatasetImpl : public OpDataset<RandomDatasetImpl, RandomIterator> {
 public:
  RandomDatasetImpl(std::optional<int64_t> seed, bool rerandomize)
      : seed(OpSeed::From(seed)), rerandomize(rerandomize) {}

  std::string op_name() const override { return "random"; }
  std::string params() const override {
    // Without it the fingerprint is the one of the versions that had no such argument.
    return seed.Param() + (rerandomize ? ", rerandomize_each_iteration=true" : "");
  }
  int64_t Cardinality() const override { return kInfiniteCardinality; }
  bool IsRandomAccess() const override { return !rerandomize; }
  Element Get(int64_t index) const override { return Value(seed.value, 0, index); }

  static Element Value(int64_t seed, int64_t epoch, int64_t index) {
    uint64_t key = MixKey(static_cast<uint64_t>(seed), 0x72616e64ULL);
    if (epoch != 0) key = MixKey(key, static_cast<uint64_t>(epoch));
    uint64_t bits = CounterHash(key, static_cast<uint64_t>(index));
    return Tensor::Scalar<int64_t>(static_cast<int64_t>(bits));
  }

  const OpSeed seed;
  const bool rerandomize;
  mutable EpochCounter epochs;  // with rerandomize: the next iterator's epoch
};

class RandomIterator : public DatasetIterator<RandomDatasetImpl> {
 public:
  explicit RandomIterator(const RandomDatasetImpl& ds)
      : DatasetIterator(ds), seed_(ds.seed.value), epoch_(ds.rerandomize ? ds.epochs.Next() : 0) {}

 protected:
  std::optional<Element> GetNextInternal() override {
    return RandomDatasetImpl::Value(seed_, epoch_, next_++);
  }
  void SaveInternal(StateWriter& w) override {
    w.WriteInt(kSeed, seed_);
    w.WriteInt(kNext, next_);
    if (dataset().rerandomize) w.WriteInt(kEpoch, epoch_);
  }
  void RestoreInternal(StateReader& r) override {
    seed_ = dataset().seed.Restore(r, kSeed, "random");
    next_ = ReadCounter(r, kNext);
    if (dataset().rerandomize) epoch_ = dataset().epochs.Restore(r, kEpoch, true);
  }

 private:
  int64_t seed_;  // the dataset's, or the one a restore brought
  int64_t epoch_;
  int64_t next_ = 0;
};
}  // namespace

DatasetPtr RandomDataset(std::optional<int64_t> seed, bool rerandomize_each_iteration) {
  return std::make_shared<RandomDatasetImpl>(seed, rerandomize_each_iteration);
}

}  // namespace inputpipe
