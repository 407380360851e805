// range(start, stop, step): int64 scalars start, start+step, ... excluding stop. Random-access;
// its state is the index of the next element. With output_type (tf.data's argument) the values
// are computed in int64 and converted; a non-int64 output_type is in params(), so in the
// pipeline's identity (it changes the output), and int64 keeps the old params and fingerprint.
#include <cstdint>
#include <string>

#include "core/index_iterator.h"
#include "core/tensor_ops.h"
#include "inputpipe/element_spec.h"
#include "inputpipe/ops.h"

namespace inputpipe {

namespace {
// The number of elements, in unsigned arithmetic: stop - start and its rounding up overflow
// int64 near its limits (range(0, INT64_MAX, 2**62) has 2 elements; in int64 the count
// overflowed to -1, the infinite cardinality, and the iteration never ended). Up to 2**64 - 1.
uint64_t RangeCount(int64_t start, int64_t stop, int64_t step) {
  if (step > 0 ? stop <= start : start <= stop) return 0;
  uint64_t span = step > 0 ? static_cast<uint64_t>(stop) - static_cast<uint64_t>(start)
                           : static_cast<uint64_t>(start) - static_cast<uint64_t>(stop);
  // |step|, INT64_MIN's too (its negation in int64 overflows).
  uint64_t stride = step > 0 ? static_cast<uint64_t>(step) : 0 - static_cast<uint64_t>(step);
  return (span - 1) / stride + 1;
}

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
    return static_cast<int64_t>(RangeCount(start_, stop_, step_));  // checked by Range()
  }
  Element Get(int64_t index) const override {
    // Unsigned: index * step may leave int64 on the way (start -10, step 2**61, index 4)
    // although the value, between start and stop, never does.
    uint64_t value =
        static_cast<uint64_t>(start_) + static_cast<uint64_t>(index) * static_cast<uint64_t>(step_);
    return IntegerScalarAs(static_cast<int64_t>(value), dtype_);
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
  if (RangeCount(start, stop, step) > static_cast<uint64_t>(INT64_MAX)) {
    // A count, a position in the state, is an int64.
    throw InvalidArgumentError("range: start=" + std::to_string(start) + ", stop=" +
                               std::to_string(stop) + ", step=" + std::to_string(step) +
                               " has more than 2**63 - 1 elements");
  }
  CheckIntegerOutputType(output_type, "range: output_type");
  return std::make_shared<RangeDataset>(start, stop, step, output_type);
}

}  // namespace inputpipe
