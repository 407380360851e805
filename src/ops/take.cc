// take(count): the first `count` elements of the input (all when count < 0). State: how many
// were taken, and the input's state until it is done (then an explicit `exhausted` flag).
// Random-access when the input is. A skip after it seeks through it (ElementSkipper) when its
// input seeks.
#include <algorithm>

#include "core/element_skip.h"
#include "core/op_skeleton.h"
#include "inputpipe/ops.h"
#include "ops/iteration_access.h"

namespace inputpipe {

namespace {
constexpr char kTaken[] = "taken";  // the counter: elements taken so far

class TakeIterator;

class TakeDataset : public OpDataset<TakeDataset, TakeIterator, UnaryIterationDataset> {
 public:
  TakeDataset(DatasetPtr input, int64_t count) : OpDataset(std::move(input)), count(count) {}

  std::string op_name() const override { return "take"; }
  std::string params() const override { return "count=" + std::to_string(count); }
  int64_t Cardinality() const override {
    int64_t n = input_->Cardinality();
    if (count < 0 || n == kUnknownCardinality) return n;
    if (n == kInfiniteCardinality) return count;
    return std::min(n, count);
  }
  // Get is the input's (UnaryDataset).
  Element GetInIteration(int64_t index, int64_t iteration) const override {
    return ::inputpipe::GetInIteration(*input_, index, iteration);
  }

  const int64_t count;
};

class TakeIterator : public CounterIterator<TakeDataset>, public ElementSkipper {
 public:
  explicit TakeIterator(const TakeDataset& ds)
      : CounterIterator(ds, kTaken, AtInputEnd::kDrop, CountLimit(ds.count)) {}

  // A failed read is not one of the count (GetNextInternal): only kUnread can seek.
  bool Seeks(SkipMode mode) const override { return mode == SkipMode::kUnread; }
  int64_t SkipElements(int64_t n, SkipMode mode) override {
    if (!input_) return 0;
    const int64_t count = dataset().count;
    const int64_t want = count < 0 ? n : std::min(n, count - counter_);
    const int64_t skipped = inputpipe::SkipElements(*input_, want, mode);
    counter_ += skipped;
    if (skipped < n) ExhaustInput();  // as the GetNext that found the end
    return skipped;
  }

 protected:
  std::optional<Element> GetNextInternal() override {
    if (!input_) return std::nullopt;
    std::optional<Element> element;
    if (dataset().count < 0 || counter_ < dataset().count) element = input_->GetNext();
    if (!element) return ExhaustInput();
    ++counter_;
    return element;
  }
};
}  // namespace

DatasetPtr Take(DatasetPtr input, int64_t count) {
  CheckInput(input, "take");
  return std::make_shared<TakeDataset>(std::move(input), count);
}

}  // namespace inputpipe
