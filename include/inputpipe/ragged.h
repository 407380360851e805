// Ragged values: a batch of rows of different lengths, as tf.RaggedTensor with one ragged
// dimension. `values` holds every row's items one after the other (shape [total, *inner]);
// row i is values[row_splits[i] : row_splits[i + 1]].
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
// row_splits is an int64 vector of at least one entry that starts at 0, never decreases and
// ends at values' first dimension (values must have rank >= 1).
Element MakeRagged(Tensor values, Tensor row_splits);
// Whether `element` is a ragged value (a dict with exactly the two reserved keys).
bool IsRagged(const Element& element);
// Whether `element` or any element nested in it is ragged.
bool ContainsRagged(const Element& element);
// The parts. REQUIRES: IsRagged(element).
const Tensor& RaggedValues(const Element& element);
const Tensor& RaggedRowSplits(const Element& element);

}  // namespace inputpipe

#endif  // INPUTPIPE_RAGGED_H_
