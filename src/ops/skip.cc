// skip(count): the input without its first `count` elements (without any when count < 0).
// State: how many were skipped so far, and the input's state until it is done (then an
// explicit `exhausted` flag). Random-access when the input is.
#include "core/op_skeleton.h"
#include "inputpipe/ops.h"
#include "ops/iteration_access.h"

namespace inputpipe {

namespace {
constexpr char kSkipped[] = "skipped";  // the counter: elements skipped so far

class SkipIterator;

class SkipDataset : public OpDataset<SkipDataset, SkipIterator, UnaryIterationDataset> {
 public:
  SkipDataset(DatasetPtr input, int64_t count) : OpDataset(std::move(input)), count(count) {}

  std::string op_name() const override { return "skip"; }
  std::string params() const override { return "count=" + std::to_string(count); }
  int64_t Cardinality() const override {
    int64_t n = input_->Cardinality();
    if (n < 0) return n;
    if (count < 0) return 0;
    return n > count ? n - count : 0;
  }
  // skip(-1) of an infinite input never yields: no index maps to an input element.
  bool IsRandomAccess() const override {
    return input_->IsRandomAccess() && (count >= 0 || input_->Cardinality() >= 0);
  }
  Element Get(int64_t index) const override { return input_->Get(index + count); }
  Element GetInIteration(int64_t index, int64_t iteration) const override {
    return ::inputpipe::GetInIteration(*input_, index + count, iteration);
  }

  const int64_t count;
};

class SkipIterator : public CounterIterator<SkipDataset> {
 public:
  explicit SkipIterator(const SkipDataset& ds)
      : CounterIterator(ds, kSkipped, AtInputEnd::kDrop, CountLimit(ds.count)) {}

 protected:
  std::optional<Element> GetNextInternal() override {
    if (!input_) return std::nullopt;
    while (dataset().count < 0 || counter_ < dataset().count) {
      if (!input_->GetNext()) return ExhaustInput();
      ++counter_;
    }
    std::optional<Element> element = input_->GetNext();
    if (!element) return ExhaustInput();
    return element;
  }
};
}  // namespace

DatasetPtr Skip(DatasetPtr input, int64_t count) {
  CheckInput(input, "skip");
  return std::make_shared<SkipDataset>(std::move(input), count);
}

}  // namespace inputpipe
