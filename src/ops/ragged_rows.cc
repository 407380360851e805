#include "ops/ragged_rows.h"

#include <string>
#include <utility>

#include "core/tensor_ops.h"
#include "inputpipe/errors.h"
#include "inputpipe/ragged.h"

namespace inputpipe {

namespace {

// The rows of `parts` (ragged values of one ragged_rank) one after the other.
Element ConcatRagged(const std::vector<Element>& parts, const char* op) {
  std::vector<int64_t> splits = {0};
  std::vector<Element> values;
  values.reserve(parts.size());
  const DType dtype = RaggedRowSplits(parts[0]).dtype();
  for (const Element& part : parts) {
    const Tensor& part_splits = RaggedRowSplits(part);
    if (part_splits.dtype() != dtype) {
      throw InvalidArgumentError(std::string(op) + ": ragged values with row_splits of " +
                                 std::string(DTypeName(dtype)) + " and of " +
                                 std::string(DTypeName(part_splits.dtype())) + " in one batch");
    }
    const int64_t offset = splits.back();
    for (int64_t j = 1; j < part_splits.num_elements(); ++j) {
      splits.push_back(offset + RowSplitAt(part_splits, j));
    }
    values.push_back(part.children()[1]);
  }
  return MakeRagged(ConcatRows(values, op), RowSplitsTensor(splits, dtype, op));
}

// A tuple or dict like `like`, holding `items`.
Element Rebuilt(const Element& like, std::vector<Element> items) {
  if (like.is_tuple()) return Element::Tuple(std::move(items));
  std::vector<std::pair<std::string, Element>> entries;
  entries.reserve(items.size());
  for (size_t i = 0; i < items.size(); ++i) entries.emplace_back(like.keys()[i], std::move(items[i]));
  return Element::Dict(std::move(entries));
}

Element JoinComponents(const std::vector<Element>& pieces, const char* op) {
  const Element& first = pieces.front();
  if (first.is_tensor() || IsRagged(first)) return ConcatRows(pieces, op);
  std::vector<Element> items;
  items.reserve(first.size());
  std::vector<Element> column(pieces.size());
  for (size_t c = 0; c < first.size(); ++c) {
    for (size_t i = 0; i < pieces.size(); ++i) column[i] = pieces[i].children()[c];
    items.push_back(JoinComponents(column, op));
  }
  return Rebuilt(first, std::move(items));
}

}  // namespace

Element RowSlice(const Element& values, int64_t begin, int64_t end) {
  if (values.is_tensor()) return Element(SliceRange(values.tensor(), begin, end));
  const Tensor& s = RaggedRowSplits(values);
  const int64_t first = RowSplitAt(s, begin), last = RowSplitAt(s, end);
  std::vector<int64_t> splits(static_cast<size_t>(end - begin + 1));
  for (int64_t k = begin; k <= end; ++k) splits[k - begin] = RowSplitAt(s, k) - first;
  return MakeRagged(RowSlice(values.children()[1], first, last),
                    RowSplitsTensor(splits, s.dtype(), "ragged"));
}

Element ConcatRows(const std::vector<Element>& parts, const char* op) {
  if (!parts[0].is_tensor()) return ConcatRagged(parts, op);
  std::vector<Tensor> tensors;
  tensors.reserve(parts.size());
  for (const Element& part : parts) tensors.push_back(part.tensor());
  return Element(ConcatFirstDim(tensors, op));
}

int64_t LengthWithRagged(const Element& element, const char* op) {
  if (IsRagged(element)) return RaggedRowSplits(element).num_elements() - 1;
  if (!element.is_tuple() && !element.is_dict()) return FirstDimOf(element, op);
  int64_t dim = -1;
  for (const Element& child : element.children()) {
    const int64_t d = LengthWithRagged(child, op);
    if (dim >= 0 && d != dim) {
      throw InvalidArgumentError(std::string(op) + ": components have different first dimensions (" +
                                 std::to_string(dim) + " and " + std::to_string(d) + ") in " +
                                 element.StructureString());
    }
    dim = d;
  }
  if (dim < 0) throw InvalidArgumentError(std::string(op) + ": element has no tensors");
  return dim;
}

Element RowsWithRagged(const Element& element, int64_t begin, int64_t end) {
  if (element.is_tensor() || IsRagged(element)) return RowSlice(element, begin, end);
  std::vector<Element> items;
  items.reserve(element.size());
  for (const Element& child : element.children()) items.push_back(RowsWithRagged(child, begin, end));
  return Rebuilt(element, std::move(items));
}

Element RowWithRagged(const Element& element, int64_t index) {
  if (IsRagged(element)) {
    const Tensor& s = RaggedRowSplits(element);
    const int64_t begin = RowSplitAt(s, index), end = RowSplitAt(s, index + 1);
    const Element& values = element.children()[1];
    if (values.is_tensor()) return Element(SliceRange(values.tensor(), begin, end));
    return RowSlice(values, begin, end);
  }
  if (!element.is_tuple() && !element.is_dict()) return SliceElement(element, index);
  std::vector<Element> items;
  items.reserve(element.size());
  for (const Element& child : element.children()) items.push_back(RowWithRagged(child, index));
  return Rebuilt(element, std::move(items));
}

Element JoinRowsWithRagged(const std::vector<Element>& pieces, const char* op) {
  if (pieces.size() == 1) return pieces.front();
  for (const Element& piece : pieces) {
    if (!piece.SameStructure(pieces.front())) {
      throw InvalidArgumentError(std::string(op) + ": input batches of different structures: " +
                                 pieces.front().StructureString() + " and " +
                                 piece.StructureString());
    }
  }
  return JoinComponents(pieces, op);
}

}  // namespace inputpipe
