// The ragged element: a dict of two reserved keys (inputpipe/ragged.h says why a dict).
#include "inputpipe/ragged.h"

#include <limits>
#include <string>

#include "inputpipe/errors.h"

namespace inputpipe {

Element MakeRagged(Tensor values, Tensor row_splits) {
  return MakeRagged(Element(std::move(values)), std::move(row_splits));
}

Element MakeRagged(Element values, Tensor row_splits) {
  int64_t rows = 0;  // what row_splits splits: the values' first dimension, or their rows
  if (values.is_tensor()) {
    if (values.tensor().rank() < 1) {
      throw InvalidArgumentError("ragged: values must have rank >= 1, got " +
                                 values.tensor().DebugString());
    }
    rows = values.tensor().shape()[0];
  } else if (IsRagged(values)) {
    rows = RaggedRowSplits(values).num_elements() - 1;
  } else {
    throw InvalidArgumentError("ragged: values must be a tensor or a ragged value, got " +
                               values.StructureString());
  }
  if ((row_splits.dtype() != DType::kInt64 && row_splits.dtype() != DType::kInt32) ||
      row_splits.rank() != 1 || row_splits.num_elements() < 1) {
    throw InvalidArgumentError("ragged: row_splits must be a non-empty int64 or int32 vector, got " +
                               row_splits.DebugString());
  }
  if (!values.is_tensor() && RaggedRowSplits(values).dtype() != row_splits.dtype()) {
    throw InvalidArgumentError(
        "ragged: row_splits of " + std::string(DTypeName(row_splits.dtype())) +
        " over values whose row_splits are " +
        std::string(DTypeName(RaggedRowSplits(values).dtype())) +
        ": every ragged dimension of a value has the same row_splits dtype");
  }
  const int64_t n = row_splits.num_elements();
  if (RowSplitAt(row_splits, 0) != 0 || RowSplitAt(row_splits, n - 1) != rows) {
    throw InvalidArgumentError("ragged: row_splits " + row_splits.DebugString() +
                               " must start at 0 and end at the number of values, " +
                               std::to_string(rows));
  }
  for (int64_t i = 1; i < n; ++i) {
    if (RowSplitAt(row_splits, i) < RowSplitAt(row_splits, i - 1)) {
      throw InvalidArgumentError("ragged: row_splits " + row_splits.DebugString() +
                                 " decrease at " + std::to_string(i));
    }
  }
  return Element::Dict({{kRaggedRowSplitsKey, std::move(row_splits)},
                        {kRaggedValuesKey, std::move(values)}});
}

bool IsRagged(const Element& element) {
  if (!element.is_dict() || element.size() != 2) return false;
  const std::vector<std::string>& keys = element.keys();
  const Element& values = element.children()[1];
  return keys[0] == kRaggedRowSplitsKey && keys[1] == kRaggedValuesKey &&
         element.children()[0].is_tensor() && (values.is_tensor() || IsRagged(values));
}

int RaggedRank(const Element& element) {
  const Element& values = element.children()[1];
  return values.is_tensor() ? 1 : 1 + RaggedRank(values);
}

bool ContainsRagged(const Element& element) {
  if (IsRagged(element)) return true;
  for (const Element& child : element.children()) {
    if (ContainsRagged(child)) return true;
  }
  return false;
}

const Tensor& RaggedValues(const Element& element) { return element.children()[1].tensor(); }
const Tensor& RaggedRowSplits(const Element& element) { return element.children()[0].tensor(); }

int64_t RowSplitAt(const Tensor& row_splits, int64_t i) {
  return row_splits.dtype() == DType::kInt32 ? row_splits.data<int32_t>()[i]
                                             : row_splits.data<int64_t>()[i];
}

Tensor RowSplitsTensor(const std::vector<int64_t>& splits, DType dtype, const char* op) {
  if (dtype == DType::kInt64) return Tensor::FromVector(splits);
  if (dtype != DType::kInt32) {
    throw InvalidArgumentError(std::string(op) + ": row_splits_dtype must be int64 or int32, got " +
                               std::string(DTypeName(dtype)));
  }
  std::vector<int32_t> narrow(splits.size());
  for (size_t i = 0; i < splits.size(); ++i) {
    if (splits[i] > std::numeric_limits<int32_t>::max()) {
      throw InvalidArgumentError(std::string(op) + ": " + std::to_string(splits[i]) +
                                 " values do not fit int32 row_splits (use int64)");
    }
    narrow[i] = static_cast<int32_t>(splits[i]);
  }
  return Tensor::FromVector(narrow);
}

}  // namespace inputpipe
