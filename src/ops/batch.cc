// batch(n, drop_remainder): stacks n consecutive elements. Between two GetNext calls no element
// is held, so the state is just the input's. Random-access when the input is.
//
// The parameters, cardinality, random access and the iterator are the half batch shares with
// padded_batch (ops/batch_input.h); this file says only how a batch's elements are combined.
#include "core/op_skeleton.h"
#include "core/tensor_ops.h"
#include "inputpipe/ops.h"
#include "ops/batch_input.h"

namespace inputpipe {

namespace {

class BatchDataset : public OpDataset<BatchDataset, BatchingIterator, BatchingDataset> {
 public:
  using OpDataset::OpDataset;

  std::string op_name() const override { return "batch"; }
  std::string params() const override {
    return "batch_size=" + std::to_string(batch_size) +
           ", drop_remainder=" + (drop_remainder ? "true" : "false");
  }
  Element Combine(const std::vector<Element>& elements) const override {
    return StackElements(elements, "batch");
  }
};

}  // namespace

DatasetPtr Batch(DatasetPtr input, int64_t batch_size, bool drop_remainder) {
  CheckInput(input, "batch");
  CheckPositive(batch_size, "batch", "batch_size");
  return std::make_shared<BatchDataset>(std::move(input), batch_size, drop_remainder);
}

}  // namespace inputpipe
