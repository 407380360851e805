// range(start, stop, step): int64 scalars start, start+step, ... excluding stop. Random-access;
// its state is the index of the next element.
#include "core/index_iterator.h"
#include "inputpipe/ops.h"

namespace inputpipe {

namespace {
class RangeDataset : public RandomAccessSource {
 public:
  RangeDataset(int64_t start, int64_t stop, int64_t step)
      : start_(start), stop_(stop), step_(step) {}

  std::string op_name() const override { return "range"; }
  std::string params() const override {
    return "start=" + std::to_string(start_) + ", stop=" + std::to_string(stop_) +
           ", step=" + std::to_string(step_);
  }
  int64_t Cardinality() const override {
    if (step_ > 0) return stop_ > start_ ? (stop_ - start_ + step_ - 1) / step_ : 0;
    return start_ > stop_ ? (start_ - stop_ - step_ - 1) / -step_ : 0;
  }
  Element Get(int64_t index) const override {
    return Tensor::Scalar<int64_t>(start_ + index * step_);
  }

 private:
  const int64_t start_, stop_, step_;
};
}  // namespace

DatasetPtr Range(int64_t start, int64_t stop, int64_t step) {
  if (step == 0) throw InvalidArgumentError("range: step must not be 0");
  return std::make_shared<RangeDataset>(start, stop, step);
}

}  // namespace inputpipe
