// take(count): the first `count` elements of the input (all when count < 0). State: how many
// were taken, and the input's state until it is done (then an explicit `exhausted` flag).
// Random-access when the input is.
#include <algorithm>
#include <limits>

#include "inputpipe/ops.h"

namespace inputpipe {

namespace {
constexpr char kTaken[] = "taken";
constexpr char kExhausted[] = "exhausted";
constexpr char kInput[] = "input";

class TakeDataset : public Dataset {
 public:
  TakeDataset(DatasetPtr input, int64_t count) : input_(std::move(input)), count_(count) {}

  std::string op_name() const override { return "take"; }
  std::string params() const override { return "count=" + std::to_string(count_); }
  std::vector<DatasetPtr> inputs() const override { return {input_}; }
  int64_t Cardinality() const override {
    int64_t n = input_->Cardinality();
    if (count_ < 0 || n == kUnknownCardinality) return n;
    if (n == kInfiniteCardinality) return count_;
    return std::min(n, count_);
  }
  bool IsRandomAccess() const override { return input_->IsRandomAccess(); }
  Element Get(int64_t index) const override { return input_->Get(index); }

 protected:
  std::unique_ptr<Iterator> MakeIteratorInternal() const override;

 private:
  friend class TakeIterator;
  const DatasetPtr input_;
  const int64_t count_;
};

class TakeIterator : public Iterator {
 public:
  explicit TakeIterator(const TakeDataset& ds)
      : Iterator(ds.shared()), ds_(ds), input_(ds.input_->MakeIterator()) {}

 protected:
  std::optional<Element> GetNextInternal() override {
    if (!input_) return std::nullopt;
    std::optional<Element> element;
    if (ds_.count_ < 0 || taken_ < ds_.count_) element = input_->GetNext();
    if (!element) {
      input_.reset();  // exhausted
      return std::nullopt;
    }
    ++taken_;
    return element;
  }
  void SaveInternal(StateWriter& w) override {
    w.WriteInt(kTaken, taken_);
    w.WriteBool(kExhausted, !input_);
    if (input_) w.WriteChild(kInput, *input_);
  }
  void RestoreInternal(StateReader& r) override {
    int64_t max = ds_.count_ < 0 ? std::numeric_limits<int64_t>::max() : ds_.count_;
    taken_ = r.ReadIntInRange(kTaken, 0, max);
    if (r.ReadBool(kExhausted)) {
      input_.reset();
    } else {
      r.RestoreChild(kInput, *input_);
    }
  }

 private:
  const TakeDataset& ds_;
  std::unique_ptr<Iterator> input_;  // null once exhausted
  int64_t taken_ = 0;
};

std::unique_ptr<Iterator> TakeDataset::MakeIteratorInternal() const {
  return std::make_unique<TakeIterator>(*this);
}
}  // namespace

DatasetPtr Take(DatasetPtr input, int64_t count) {
  if (!input) throw InvalidArgumentError("take: input dataset is null");
  return std::make_shared<TakeDataset>(std::move(input), count);
}

}  // namespace inputpipe
