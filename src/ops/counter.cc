// counter(start, step): int64 scalars start, start+step, ... forever. Random-access with
// infinite cardinality; its state is the index of the next element (IndexIterator).
#include "core/index_iterator.h"
#include "inputpipe/ops.h"

namespace inputpipe {

namespace {
class CounterDataset : public RandomAccessSource {
 public:
  CounterDataset(int64_t start, int64_t step) : start_(start), step_(step) {}

  std::string op_name() const override { return "counter"; }
  std::string params() const override {
    return "start=" + std::to_string(start_) + ", step=" + std::to_string(step_);
  }
  int64_t Cardinality() const override { return kInfiniteCardinality; }
  Element Get(int64_t index) const override {
    // Unsigned arithmetic: wraps around like tf.data's int64 counter instead of being UB.
    uint64_t value =
        static_cast<uint64_t>(start_) + static_cast<uint64_t>(index) * static_cast<uint64_t>(step_);
    return Tensor::Scalar<int64_t>(static_cast<int64_t>(value));
  }

 private:
  const int64_t start_, step_;
};
}  // namespace

DatasetPtr Counter(int64_t start, int64_t step) {
  return std::make_shared<CounterDataset>(start, step);
}

}  // namespace inputpipe
