// repeat(count): the input `count` times (forever when count < 0), with a fresh input iterator
// per epoch. State: the epoch, whether this epoch produced an element yet, and the input's
// state until all epochs are done (then an explicit `exhausted` flag). As tf.data, a forever
// repeat whose epoch ends before producing anything stops instead of looping.
// Random-access when the input is, with a known non-zero length (element i = input[i % n]).
#include <limits>

#include "core/op_skeleton.h"
#include "inputpipe/ops.h"
#include "ops/iteration_access.h"

namespace inputpipe {

namespace {
constexpr char kEpoch[] = "epoch";
constexpr char kProducedInEpoch[] = "produced_in_epoch";

class RepeatIterator;

class RepeatDataset : public OpDataset<RepeatDataset, RepeatIterator, UnaryDataset>,
                      public IterationAccess {
 public:
  RepeatDataset(DatasetPtr input, int64_t count) : OpDataset(std::move(input)), count(count) {}

  std::string op_name() const override { return "repeat"; }
  std::string params() const override { return "count=" + std::to_string(count); }
  int64_t Cardinality() const override {
    int64_t n = input_->Cardinality();
    if (count < 0) return n == 0 ? 0 : kInfiniteCardinality;
    if (count == 0 || n == 0) return 0;
    if (n < 0) return n;
    if (n > std::numeric_limits<int64_t>::max() / count) return kInfiniteCardinality;
    return n * count;
  }
  bool IsRandomAccess() const override {
    return input_->IsRandomAccess() && input_->Cardinality() >= 0;
  }
  Element Get(int64_t index) const override { return input_->Get(index % input_->Cardinality()); }
  // Epoch e of the repeat is its input's iteration e (a fresh input iterator per epoch): what
  // a reshuffling shuffle under it needs (iteration_access.h).
  Element GetInIteration(int64_t index, int64_t iteration) const override {
    const int64_t n = input_->Cardinality();
    const int64_t epochs_before = count > 0 ? iteration * count : 0;
    return ::inputpipe::GetInIteration(*input_, index % n, epochs_before + index / n);
  }
  bool ForwardsIteration() const override { return ::inputpipe::ForwardsIteration(*input_); }

  const int64_t count;
};

class RepeatIterator : public UnaryIterator<RepeatDataset> {
 public:
  explicit RepeatIterator(const RepeatDataset& ds)
      : UnaryIterator(ds, ds.count != 0 ? ds.input()->MakeIterator() : nullptr) {}

 protected:
  std::optional<Element> GetNextInternal() override {
    while (input_) {
      if (std::optional<Element> element = input_->GetNext()) {
        produced_in_epoch_ = true;
        return element;
      }
      ++epoch_;
      const bool forever = dataset().count < 0;
      if ((forever && !produced_in_epoch_) || (!forever && epoch_ >= dataset().count)) {
        return ExhaustInput();
      }
      input_ = dataset().input()->MakeIterator();
      produced_in_epoch_ = false;
    }
    return std::nullopt;
  }
  void SaveInternal(StateWriter& w) override {
    w.WriteInt(kEpoch, epoch_);
    w.WriteBool(kProducedInEpoch, produced_in_epoch_);
    SaveInputOrExhausted(w);
  }
  void RestoreInternal(StateReader& r) override {
    epoch_ = ReadCounter(r, kEpoch, CountLimit(dataset().count));
    produced_in_epoch_ = r.ReadBool(kProducedInEpoch);
    RestoreInputOrExhausted(r);  // a live repeat(count=0) is corrupt
  }

 private:
  int64_t epoch_ = 0;
  bool produced_in_epoch_ = false;
};
}  // namespace

DatasetPtr Repeat(DatasetPtr input, int64_t count) {
  CheckInput(input, "repeat");
  return std::make_shared<RepeatDataset>(std::move(input), count);
}

}  // namespace inputpipe
