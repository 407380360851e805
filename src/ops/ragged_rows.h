// Rows of elements that may hold ragged components (inputpipe/ragged.h), for the ops that cut and
// join along the first dimension: unbatch and from_tensor_slices (one row), rebatch (row ranges,
// joined across input batches) and ragged_batch (joining ragged values). A ragged component's rows are its rows, not
// its row_splits' or values' first dimension.
//
//   int64_t n = LengthWithRagged(batch, "rebatch");       // rows of every component
//   Element head = RowsWithRagged(batch, 0, 2);           // rows [0, 2) of every component
//   Element both = JoinRowsWithRagged({head, tail}, "rebatch");
#ifndef INPUTPIPE_OPS_RAGGED_ROWS_H_
#define INPUTPIPE_OPS_RAGGED_ROWS_H_

#include <cstdint>
#include <vector>

#include "inputpipe/element.h"

namespace inputpipe {

// Rows [begin, end) of `values`: a tensor's along its first dimension, a ragged value's rows.
Element RowSlice(const Element& values, int64_t begin, int64_t end);

// Tensors concatenated along the first dimension, or ragged values (of one ragged_rank) row
// after row. `op` names the op in errors.
Element ConcatRows(const std::vector<Element>& parts, const char* op);

// The rows every component has (FirstDimOf's rule, a ragged component counting its rows).
// Throws InvalidArgumentError naming `op` when components disagree or there is no tensor.
int64_t LengthWithRagged(const Element& element, const char* op);

// Row `index` of every component of `element` (SliceElement's rule, a ragged component giving
// its row: a tensor, or a ragged value of one ragged dimension fewer).
Element RowWithRagged(const Element& element, int64_t index);

// Rows [begin, end) of every component of `element` (tuples and dicts kept).
Element RowsWithRagged(const Element& element, int64_t begin, int64_t end);

// `pieces` (one structure) joined component by component along their rows.
Element JoinRowsWithRagged(const std::vector<Element>& pieces, const char* op);

// An op that makes ragged dimensions whose row_splits may be int32 (ragged_batch): its element
// spec says which.
class RowSplitsDTypeSource {
 public:
  virtual ~RowSplitsDTypeSource() = default;
  virtual DType row_splits_dtype() const = 0;
};

}  // namespace inputpipe

#endif  // INPUTPIPE_OPS_RAGGED_ROWS_H_
