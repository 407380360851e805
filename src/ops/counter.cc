// counter(start, step): int64 scalars start, start+step, ... forever. Random-access with
// infinite cardinality; its state is the index of the next element (IndexIterator). dtype as
// range's output_type: in params() (so in the identity) only when it is not int64.
#include "core/index_iterator.h"
#include "core/tensor_ops.h"
#include "inputpipe/element_spec.h"
#include "inputpipe/ops.h"

namespace inputpipe {

namespace {
class CounterDataset : public RandomAccessSource, public ElementSpecSource {
 public:
  CounterDataset(int64_t start, int64_t step, DType dtype)
      : start_(start), step_(step), dtype_(dtype) {}

  ElementSpec StaticElementSpec() const override {
    return ElementSpec::ForTensor(dtype_, {});
  }
  std::string op_name() const override { return "counter"; }
  std::string params() const override {
    return "start=" + std::to_string(start_) + ", step=" + std::to_string(step_) +
           DTypeParam(dtype_, "dtype");
  }
  int64_t Cardinality() const override { return kInfiniteCardinality; }
  Element Get(int64_t index) const override {
    // Unsigned arithmetic: wraps around like tf.data's int64 counter instead of being UB.
    uint64_t value =
        static_cast<uint64_t>(start_) + static_cast<uint64_t>(index) * static_cast<uint64_t>(step_);
    return IntegerScalarAs(static_cast<int64_t>(value), dtype_);
  }

 private:
  const int64_t start_, step_;
  const DType dtype_;
};
}  // namespace

DatasetPtr Counter(int64_t start, int64_t step) { return Counter(start, step, DType::kInt64); }

DatasetPtr Counter(int64_t start, int64_t step, DType dtype) {
  CheckIntegerOutputType(dtype, "counter: dtype");
  return std::make_shared<CounterDataset>(start, step, dtype);
}

}  // namespace inputpipe
