// Ragged values: a batch of rows of different lengths, as tf.RaggedTensor. `values` holds every
// row's items one after the other (shape [total, *inner]); row i is
// values[row_splits[i] : row_splits[i + 1]]. `values` may itself be ragged (tf.RaggedTensor's
// ragged_rank 2 and more: what ragged_batch makes of ragged components).
//
//   Element r = MakeRagged(Tensor::FromVector<int32_t>({1, 2, 3}),
//                          Tensor::FromVector<int64_t>({0, 2, 2, 3}));   // [[1, 2], [], [3]]
//   if (IsRagged(r)) int64_t rows = RaggedRowSplits(r).num_elements() - 1;  // 3
//   DatasetPtr batches = RaggedBatch(ds, 32);   // inputpipe/ops.h
//
// An element that is ragged is a dict with exactly two reserved keys, kRaggedRowSplitsKey and
// kRaggedValuesKey (in that order), so it travels through every op, the element codec of worker
// processes and the checkpoint format unchanged; Python sees it as an inputpipe.RaggedArray.
// Ops that would mix up its two parts (batch, unbatch, from_tensor_slices) refuse it, naming
// the op: rebatching ragged values is ragged_batch's job.
#ifndef INPUTPIPE_RAGGED_H_
#define INPUTPIPE_RAGGED_H_

#include "inputpipe/element.h"
#include "inputpipe/tensor.h"

namespace inputpipe {

inline constexpr const char* kRaggedRowSplitsKey = "__ragged_row_splits__";
inline constexpr const char* kRaggedValuesKey = "__ragged_values__";

// The ragged element of `values` split into rows at `row_splits`. InvalidArgumentError unless
// row_splits is an int64 or int32 vector of at least one entry that starts at 0, never
// decreases and ends at values' first dimension (values must have rank >= 1). Every ragged
// dimension of one value has the same row_splits dtype (as tf.RaggedTensor requires).
Element MakeRagged(Tensor values, Tensor row_splits);
// The same with `values` a tensor or a ragged value (then its rows are what row_splits splits).
Element MakeRagged(Element values, Tensor row_splits);
// Whether `element` is a ragged value (a dict with exactly the two reserved keys, row_splits a
// tensor and values a tensor or a ragged value).
bool IsRagged(const Element& element);
// Whether `element` or any element nested in it is ragged.
bool ContainsRagged(const Element& element);
// The parts. REQUIRES: IsRagged(element); for RaggedValues, that the values are a tensor
// (RaggedRank(element) == 1).
const Tensor& RaggedValues(const Element& element);
const Tensor& RaggedRowSplits(const Element& element);
// The number of ragged dimensions: 1 when the values are a tensor. REQUIRES: IsRagged(element).
int RaggedRank(const Element& element);

// Entry i of a row_splits tensor (int64 or int32), and row splits as a tensor of `dtype`
// (kInt64 or kInt32; InvalidArgumentError naming `op` when a split does not fit in int32).
int64_t RowSplitAt(const Tensor& row_splits, int64_t i);
Tensor RowSplitsTensor(const std::vector<int64_t>& splits, DType dtype, const char* op);

}  // namespace inputpipe

#endif  // INPUTPIPE_RAGGED_H_
