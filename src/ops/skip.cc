// skip(count): the input without its first `count` elements (without any when count < 0).
// State: how many were skipped so far, and the input's state until it is done (then an
// explicit `exhausted` flag). Random-access when the input is.
#include <limits>

#include "inputpipe/ops.h"

namespace inputpipe {

namespace {
constexpr char kSkipped[] = "skipped";
constexpr char kExhausted[] = "exhausted";
constexpr char kInput[] = "input";

class SkipDataset : public Dataset {
 public:
  SkipDataset(DatasetPtr input, int64_t count) : input_(std::move(input)), count_(count) {}

  std::string op_name() const override { return "skip"; }
  std::string params() const override { return "count=" + std::to_string(count_); }
  std::vector<DatasetPtr> inputs() const override { return {input_}; }
  int64_t Cardinality() const override {
    int64_t n = input_->Cardinality();
    if (n < 0) return n;
    if (count_ < 0) return 0;
    return n > count_ ? n - count_ : 0;
  }
  // skip(-1) of an infinite input never yields: no index maps to an input element.
  bool IsRandomAccess() const override {
    return input_->IsRandomAccess() && (count_ >= 0 || input_->Cardinality() >= 0);
  }
  Element Get(int64_t index) const override { return input_->Get(index + count_); }

 protected:
  std::unique_ptr<Iterator> MakeIteratorInternal() const override;

 private:
  friend class SkipIterator;
  const DatasetPtr input_;
  const int64_t count_;
};

class SkipIterator : public Iterator {
 public:
  explicit SkipIterator(const SkipDataset& ds)
      : Iterator(ds.shared()), ds_(ds), input_(ds.input_->MakeIterator()) {}

 protected:
  std::optional<Element> GetNextInternal() override {
    if (!input_) return std::nullopt;
    while (ds_.count_ < 0 || skipped_ < ds_.count_) {
      if (!input_->GetNext()) return Exhaust();
      ++skipped_;
    }
    std::optional<Element> element = input_->GetNext();
    if (!element) return Exhaust();
    return element;
  }
  void SaveInternal(StateWriter& w) override {
    w.WriteInt(kSkipped, skipped_);
    w.WriteBool(kExhausted, !input_);
    if (input_) w.WriteChild(kInput, *input_);
  }
  void RestoreInternal(StateReader& r) override {
    int64_t max = ds_.count_ < 0 ? std::numeric_limits<int64_t>::max() : ds_.count_;
    skipped_ = r.ReadIntInRange(kSkipped, 0, max);
    if (r.ReadBool(kExhausted)) {
      input_.reset();
    } else {
      r.RestoreChild(kInput, *input_);
    }
  }

 private:
  std::optional<Element> Exhaust() {
    input_.reset();
    return std::nullopt;
  }

  const SkipDataset& ds_;
  std::unique_ptr<Iterator> input_;  // null once exhausted
  int64_t skipped_ = 0;
};

std::unique_ptr<Iterator> SkipDataset::MakeIteratorInternal() const {
  return std::make_unique<SkipIterator>(*this);
}
}  // namespace

DatasetPtr Skip(DatasetPtr input, int64_t count) {
  if (!input) throw InvalidArgumentError("skip: input dataset is null");
  return std::make_shared<SkipDataset>(std::move(input), count);
}

}  // namespace inputpipe
