// random(seed): an infinite stream of random int64 scalars (all 64 bits random). Counter-based
// (SplitMix64 at a counter, random_util.h): element i is a function of (seed, i), so the
// dataset is random-access and the state is the seed and the counter.
//
// An unseeded dataset picks its seed at creation; the seed travels in the state (a restore in
// another process continues the same stream) and the fingerprint says "seed=random". Every
// iteration of a dataset produces the same stream (tf.data's default,
// rerandomize_each_iteration=False).
#include <limits>

#include "core/op_skeleton.h"
#include "inputpipe/ops.h"
#include "ops/random_util.h"

namespace inputpipe {

namespace {
constexpr char kSeed[] = "seed";
constexpr char kNext[] = "next";  // counter of the next element

class RandomIterator;

class RandomDatasetImpl : public OpDataset<RandomDatasetImpl, RandomIterator> {
 public:
  explicit RandomDatasetImpl(std::optional<int64_t> seed) : seed(OpSeed::From(seed)) {}

  std::string op_name() const override { return "random"; }
  std::string params() const override { return seed.Param(); }
  int64_t Cardinality() const override { return kInfiniteCardinality; }
  bool IsRandomAccess() const override { return true; }
  Element Get(int64_t index) const override { return Value(seed.value, index); }

  static Element Value(int64_t seed, int64_t index) {
    uint64_t bits = CounterHash(MixKey(static_cast<uint64_t>(seed), 0x72616e64ULL),
                                static_cast<uint64_t>(index));
    return Tensor::Scalar<int64_t>(static_cast<int64_t>(bits));
  }

  const OpSeed seed;
};

class RandomIterator : public DatasetIterator<RandomDatasetImpl> {
 public:
  explicit RandomIterator(const RandomDatasetImpl& ds)
      : DatasetIterator(ds), seed_(ds.seed.value) {}

 protected:
  std::optional<Element> GetNextInternal() override {
    return RandomDatasetImpl::Value(seed_, next_++);
  }
  void SaveInternal(StateWriter& w) override {
    w.WriteInt(kSeed, seed_);
    w.WriteInt(kNext, next_);
  }
  void RestoreInternal(StateReader& r) override {
    seed_ = dataset().seed.Restore(r, kSeed, "random");
    next_ = ReadCounter(r, kNext);
  }

 private:
  int64_t seed_;  // the dataset's, or the one a restore brought
  int64_t next_ = 0;
};
}  // namespace

DatasetPtr RandomDataset(std::optional<int64_t> seed) {
  return std::make_shared<RandomDatasetImpl>(seed);
}

}  // namespace inputpipe
