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
  for (const Element& part : parts) {
    const Tensor& part_splits = RaggedRowSplits(part);
    const int64_t* s = part_splits.data<int64_t>();
    const int64_t offset = splits.back();
    for (int64_t j = 1; j < part_splits.num_elements(); ++j) splits.push_back(offset + s[j]);
    values.push_back(part.children()[1]);
  }
  return MakeRagged(ConcatRows(values, op), Tensor::FromVector(splits));
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
  const int64_t* s = RaggedRowSplits(values).data<int64_t>();
  std::vector<int64_t> splits(static_cast<size_t>(end - begin + 1));
  for (int64_t k = begin; k <= end; ++k) splits[k - begin] = s[k] - s[begin];
  return MakeRagged(RowSlice(values.children()[1], s[begin], s[end]), Tensor::FromVector(splits));
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
    const int64_t* s = RaggedRowSplits(element).data<int64_t>();
    const Element& values = element.children()[1];
    if (values.is_tensor()) return Element(SliceRange(values.tensor(), s[index], s[index + 1]));
    return RowSlice(values, s[index], s[index + 1]);
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
