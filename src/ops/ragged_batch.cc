// ragged_batch(n, drop_remainder): batches n consecutive elements whose tensors may differ in
// their first dimension, as tf.data's ragged_batch does. Each tensor leaf of rank >= 1 becomes
// a ragged value (inputpipe/ragged.h): the elements' tensors concatenated along the first
// dimension, and row_splits [0, len_0, len_0 + len_1, ...]; scalars are stacked as batch stacks
// them. The dimensions after the first must agree within a batch (one ragged dimension only).
// The batching (parameters, cardinality, random access, iterator and its state: just the
// input's) is batch's (ops/batch_input.h); only Combine differs.
#include "core/op_skeleton.h"
#include "core/tensor_ops.h"
#include "inputpipe/ops.h"
#include "inputpipe/ragged.h"
#include "ops/batch_input.h"

namespace inputpipe {

namespace {

class RaggedBatchDataset : public OpDataset<RaggedBatchDataset, BatchingIterator, BatchingDataset> {
 public:
  using OpDataset::OpDataset;

  std::string op_name() const override { return "ragged_batch"; }
  std::string params() const override {
    return "batch_size=" + std::to_string(batch_size) +
           ", drop_remainder=" + (drop_remainder ? "true" : "false");
  }

  Element Combine(const std::vector<Element>& elements) const override {
    const Element& first = elements[0];
    if (ContainsRagged(first)) {
      throw InvalidArgumentError("ragged_batch: the input is already ragged (" +
                                 first.StructureString() + "); one ragged dimension is supported");
    }
    const size_t n = elements.size();
    std::vector<Element> leaves = first.FlattenLeaves();
    std::vector<std::vector<Element>> all(n);
    for (size_t i = 0; i < n; ++i) {
      if (!elements[i].SameStructure(first)) {
        throw InvalidArgumentError("ragged_batch: element " + std::to_string(i) +
                                   " has structure " + elements[i].StructureString() +
                                   ", element 0 has " + first.StructureString());
      }
      all[i] = i == 0 ? leaves : elements[i].FlattenLeaves();
    }
    std::vector<Element> out;
    out.reserve(leaves.size());
    std::vector<Tensor> parts(n);
    for (size_t leaf = 0; leaf < leaves.size(); ++leaf) {
      if (!leaves[leaf].is_tensor()) {
        throw InvalidArgumentError("ragged_batch: cannot batch a dataset component");
      }
      for (size_t i = 0; i < n; ++i) parts[i] = all[i][leaf].tensor();
      if (parts[0].rank() == 0) {
        out.emplace_back(Stack(parts, "ragged_batch"));
        continue;
      }
      std::vector<int64_t> splits(n + 1, 0);
      for (size_t i = 0; i < n; ++i) {
        if (parts[i].rank() == 0) {
          throw InvalidArgumentError("ragged_batch: element " + std::to_string(i) +
                                     " has a scalar where element 0 has " +
                                     parts[0].DebugString(0));
        }
        splits[i + 1] = splits[i] + parts[i].shape()[0];
      }
      out.emplace_back(MakeRagged(ConcatFirstDim(parts, "ragged_batch"),
                                  Tensor::FromVector(splits)));
    }
    return first.PackLeaves(out);
  }
};

}  // namespace

DatasetPtr RaggedBatch(DatasetPtr input, int64_t batch_size, bool drop_remainder) {
  CheckInput(input, "ragged_batch");
  CheckPositive(batch_size, "ragged_batch", "batch_size");
  return std::make_shared<RaggedBatchDataset>(std::move(input), batch_size, drop_remainder);
}

}  // namespace inputpipe
