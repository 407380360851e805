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
#include "inputpipe/ops.h"
#include "ops/random_util.h"

namespace inputpipe {

namespace {
constexpr char kSeed[] = "seed";
constexpr char kEpoch[] = "epoch";
constexpr char kPosition[] = "position";

class GlobalShuffleDataset : public Dataset {
 public:
  GlobalShuffleDataset(DatasetPtr input, std::optional<int64_t> seed, bool reshuffle)
      : input_(std::move(input)),
        seed_(OpSeed::From(seed)),
        reshuffle_(reshuffle),
        n_(input_->Cardinality()) {}

  std::string op_name() const override { return "global_shuffle"; }
  std::string params() const override {
    return seed_.Param() + ", reshuffle_each_iteration=" + (reshuffle_ ? "true" : "false");
  }
  std::vector<DatasetPtr> inputs() const override { return {input_}; }
  int64_t Cardinality() const override { return n_; }
  bool IsRandomAccess() const override { return true; }
  Element Get(int64_t index) const override {
    if (index < 0 || index >= n_) {
      throw InvalidArgumentError("global_shuffle: index " + std::to_string(index) +
                                 " out of range [0, " + std::to_string(n_) + ")");
    }
    return input_->Get(Permutation(seed_.value, 0)(index));
  }

  IndexPermutation Permutation(int64_t seed, int64_t epoch) const {
    return IndexPermutation(n_, MixKey(static_cast<uint64_t>(seed), static_cast<uint64_t>(epoch)));
  }

 protected:
  std::unique_ptr<Iterator> MakeIteratorInternal() const override;

 private:
  friend class GlobalShuffleIterator;
  const DatasetPtr input_;
  const OpSeed seed_;
  const bool reshuffle_;
  const int64_t n_;
  mutable EpochCounter epochs_;
};

class GlobalShuffleIterator : public Iterator {
 public:
  explicit GlobalShuffleIterator(const GlobalShuffleDataset& ds)
      : Iterator(ds.shared()),
        ds_(ds),
        seed_(ds.seed_.value),
        epoch_(ds.reshuffle_ ? ds.epochs_.Next() : 0),
        perm_(ds.Permutation(seed_, epoch_)) {}

 protected:
  std::optional<Element> GetNextInternal() override {
    if (position_ >= ds_.n_) return std::nullopt;
    return ds_.input_->Get(perm_(position_++));
  }
  void SaveInternal(StateWriter& w) override {
    w.WriteInt(kSeed, seed_);
    w.WriteInt(kEpoch, epoch_);
    w.WriteInt(kPosition, position_);
  }
  void RestoreInternal(StateReader& r) override {
    seed_ = ds_.seed_.Restore(r, kSeed, "global_shuffle");
    epoch_ = ds_.epochs_.Restore(r, kEpoch, ds_.reshuffle_);
    position_ = r.ReadIntInRange(kPosition, 0, ds_.n_);
    perm_ = ds_.Permutation(seed_, epoch_);
  }

 private:
  const GlobalShuffleDataset& ds_;
  int64_t seed_;
  int64_t epoch_;
  IndexPermutation perm_;
  int64_t position_ = 0;
};

std::unique_ptr<Iterator> GlobalShuffleDataset::MakeIteratorInternal() const {
  return std::make_unique<GlobalShuffleIterator>(*this);
}
}  // namespace

DatasetPtr GlobalShuffle(DatasetPtr input, std::optional<int64_t> seed,
                         bool reshuffle_each_iteration) {
  if (!input) throw InvalidArgumentError("global_shuffle: input dataset is null");
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
