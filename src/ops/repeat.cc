// repeat(count): the input `count` times (forever when count < 0), with a fresh input iterator
// per epoch. State: the epoch, whether this epoch produced an element yet, and the input's
// state until all epochs are done (then an explicit `exhausted` flag). As tf.data, a forever
// repeat whose epoch ends before producing anything stops instead of looping.
// Random-access when the input is, with a known non-zero length (element i = input[i % n]).
#include <limits>

#include "inputpipe/ops.h"

namespace inputpipe {

namespace {
constexpr char kEpoch[] = "epoch";
constexpr char kProducedInEpoch[] = "produced_in_epoch";
constexpr char kExhausted[] = "exhausted";
constexpr char kInput[] = "input";

class RepeatDataset : public Dataset {
 public:
  RepeatDataset(DatasetPtr input, int64_t count) : input_(std::move(input)), count_(count) {}

  std::string op_name() const override { return "repeat"; }
  std::string params() const override { return "count=" + std::to_string(count_); }
  std::vector<DatasetPtr> inputs() const override { return {input_}; }
  int64_t Cardinality() const override {
    int64_t n = input_->Cardinality();
    if (count_ < 0) return n == 0 ? 0 : kInfiniteCardinality;
    if (count_ == 0 || n == 0) return 0;
    if (n < 0) return n;
    if (n > std::numeric_limits<int64_t>::max() / count_) return kInfiniteCardinality;
    return n * count_;
  }
  bool IsRandomAccess() const override {
    return input_->IsRandomAccess() && input_->Cardinality() >= 0;
  }
  Element Get(int64_t index) const override { return input_->Get(index % input_->Cardinality()); }

 protected:
  std::unique_ptr<Iterator> MakeIteratorInternal() const override;

 private:
  friend class RepeatIterator;
  const DatasetPtr input_;
  const int64_t count_;
};

class RepeatIterator : public Iterator {
 public:
  explicit RepeatIterator(const RepeatDataset& ds) : Iterator(ds.shared()), ds_(ds) {
    if (ds.count_ != 0) input_ = ds.input_->MakeIterator();
  }

 protected:
  std::optional<Element> GetNextInternal() override {
    while (input_) {
      if (std::optional<Element> element = input_->GetNext()) {
        produced_in_epoch_ = true;
        return element;
      }
      ++epoch_;
      bool forever = ds_.count_ < 0;
      if ((forever && !produced_in_epoch_) || (!forever && epoch_ >= ds_.count_)) {
        input_.reset();  // exhausted
      } else {
        input_ = ds_.input_->MakeIterator();
        produced_in_epoch_ = false;
      }
    }
    return std::nullopt;
  }
  void SaveInternal(StateWriter& w) override {
    w.WriteInt(kEpoch, epoch_);
    w.WriteBool(kProducedInEpoch, produced_in_epoch_);
    w.WriteBool(kExhausted, !input_);
    if (input_) w.WriteChild(kInput, *input_);
  }
  void RestoreInternal(StateReader& r) override {
    int64_t max_epoch = ds_.count_ < 0 ? std::numeric_limits<int64_t>::max() : ds_.count_;
    epoch_ = r.ReadIntInRange(kEpoch, 0, max_epoch);
    produced_in_epoch_ = r.ReadBool(kProducedInEpoch);
    if (r.ReadBool(kExhausted)) {
      input_.reset();
    } else {
      if (!input_) throw DataLossError("corrupt state: repeat(count=0) cannot be active");
      r.RestoreChild(kInput, *input_);
    }
  }

 private:
  const RepeatDataset& ds_;
  std::unique_ptr<Iterator> input_;  // the current epoch's; null once exhausted
  int64_t epoch_ = 0;
  bool produced_in_epoch_ = false;
};

std::unique_ptr<Iterator> RepeatDataset::MakeIteratorInternal() const {
  return std::make_unique<RepeatIterator>(*this);
}
}  // namespace

DatasetPtr Repeat(DatasetPtr input, int64_t count) {
  if (!input) throw InvalidArgumentError("repeat: input dataset is null");
  return std::make_shared<RepeatDataset>(std::move(input), count);
}

}  // namespace inputpipe
