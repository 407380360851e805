// range(start, stop, step): int64 scalars start, start+step, ... excluding stop. Random-access;
// its state is the index of the next element. With output_type (tf.data's argument) the values
// are computed in int64 and converted; a non-int64 output_type is in params(), so in the
// pipeline's identity (it changes the output), and int64 keeps the old params and fingerprint.
#include "core/index_iterator.h"
#include "core/tensor_ops.h"
#include "inputpipe/element_spec.h"
#include "inputpipe/ops.h"

namespace inputpipe {

namespace {
class RangeDataset : public RandomAccessSource, public ElementSpecSource {
 public:
  RangeDataset(int64_t start, int64_t stop, int64_t step, DType dtype)
      : start_(start), stop_(stop), step_(step), dtype_(dtype) {}

  ElementSpec StaticElementSpec() const override {
    return ElementSpec::ForTensor(dtype_, {});
  }
  std::string op_name() const override { return "range"; }
  std::string params() const override {
    return "start=" + std::to_string(start_) + ", stop=" + std::to_string(stop_) +
           ", step=" + std::to_string(step_) + DTypeParam(dtype_, "output_type");
  }
  int64_t Cardinality() const override {
    if (step_ > 0) return stop_ > start_ ? (stop_ - start_ + step_ - 1) / step_ : 0;
    return start_ > stop_ ? (start_ - stop_ - step_ - 1) / -step_ : 0;
  }
  Element Get(int64_t index) const override {
    return IntegerScalarAs(start_ + index * step_, dtype_);
  }

 private:
  const int64_t start_, stop_, step_;
  const DType dtype_;
};
}  // namespace

DatasetPtr Range(int64_t start, int64_t stop, int64_t step) {
  return Range(start, stop, step, DType::kInt64);
}

DatasetPtr Range(int64_t start, int64_t stop, int64_t step, DType output_type) {
  if (step == 0) throw InvalidArgumentError("range: step must not be 0");
  CheckIntegerOutputType(output_type, "range: output_type");
  return std::make_shared<RangeDataset>(start, stop, step, output_type);
}

}  // namespace inputpipe
