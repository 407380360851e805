// ragged_batch(n, drop_remainder, row_splits_dtype): batches n consecutive elements whose
// tensors may differ in their first dimension, as tf.data's ragged_batch does. Each tensor
// component of rank >= 1 becomes a ragged value (inputpipe/ragged.h): the elements' tensors
// concatenated along the first dimension, and row_splits [0, len_0, len_0 + len_1, ...];
// scalars are stacked as batch stacks them. A ragged component (ragged_rank k) becomes one of
// ragged_rank k + 1 whose rows are the elements' ragged values, as tf.data batches a
// RaggedTensor. The dimensions after the ragged ones must agree within a batch. row_splits are
// of row_splits_dtype (int64 or int32; a ragged component must have the same, as every
// dimension of one ragged value does). The batching (parameters, cardinality, random access,
// iterator and its state: just the input's) is batch's (ops/batch_input.h); only Combine
// differs.
#include <algorithm>

#include "core/op_skeleton.h"
#include "core/tensor_ops.h"
#include "inputpipe/ops.h"
#include "inputpipe/ragged.h"
#include "ops/batch_input.h"
#include "ops/ragged_rows.h"

namespace inputpipe {

namespace {

constexpr char kOp[] = "ragged_batch";

std::string Spec(const Tensor& t) {
  return std::string(DTypeName(t.dtype())) + ShapeString(t.shape());
}

// "element 3 of the batch, component ['tokens']": where a mismatch is.
std::string Where(size_t i, const std::string& path) {
  return "element " + std::to_string(i) + " of the batch" +
         (path.empty() ? "" : ", component " + path);
}

// The innermost values of a ragged value (its flat_values, in tf.RaggedTensor's words).
const Tensor& FlatValues(const Element& ragged) {
  const Element* values = &ragged.children()[1];
  while (!values->is_tensor()) values = &values->children()[1];
  return values->tensor();
}

// The parts of one component agree with element 0's: dtype, rank, and the dimensions after the
// first (which is the ragged one). InvalidArgumentError naming the element and the component.
void CheckParts(const std::vector<const Tensor*>& parts, const std::string& path) {
  const Tensor& first = *parts[0];
  for (size_t i = 1; i < parts.size(); ++i) {
    const Tensor& p = *parts[i];
    const bool same_inner =
        p.rank() == first.rank() && std::equal(p.shape().begin() + (p.rank() > 0), p.shape().end(),
                                               first.shape().begin() + (first.rank() > 0));
    if (p.dtype() == first.dtype() && same_inner) continue;
    std::string why = "shape after the first dimension";
    if (p.rank() != first.rank()) why = "rank";
    if (p.dtype() != first.dtype()) why = "dtype";
    throw InvalidArgumentError(std::string(kOp) + ": " + Where(i, path) + " is " + Spec(p) +
                               ", element 0 is " + Spec(first) + ": the " + why + " differs");
  }
}

// One component of the batch: `parts` holds it for every element, `path` names it.
Element CombineComponent(const std::vector<Element>& parts, const std::string& path,
                         DType row_splits_dtype) {
  const Element& first = parts[0];
  const size_t n = parts.size();
  if (first.is_dataset()) {
    throw InvalidArgumentError(std::string(kOp) + ": cannot batch a dataset component" +
                               (path.empty() ? "" : " (" + path + ")"));
  }
  if ((first.is_tuple() || first.is_dict()) && !IsRagged(first)) {
    std::vector<Element> items(first.size());
    for (size_t c = 0; c < first.size(); ++c) {
      std::vector<Element> column;
      column.reserve(n);
      for (const Element& part : parts) column.push_back(part.children()[c]);
      items[c] = CombineComponent(column,
                                  path + (first.is_dict() ? "['" + first.keys()[c] + "']"
                                                          : "[" + std::to_string(c) + "]"),
                                  row_splits_dtype);
    }
    if (first.is_tuple()) return Element::Tuple(std::move(items));
    std::vector<std::pair<std::string, Element>> entries;
    for (size_t c = 0; c < items.size(); ++c) entries.emplace_back(first.keys()[c], items[c]);
    return Element::Dict(std::move(entries));
  }
  std::vector<const Tensor*> tensors(n);
  for (size_t i = 0; i < n; ++i) tensors[i] = first.is_tensor() ? &parts[i].tensor()
                                                                 : &FlatValues(parts[i]);
  CheckParts(tensors, path);
  if (first.is_tensor() && first.tensor().rank() == 0) {
    std::vector<Tensor> scalars;
    for (const Tensor* t : tensors) scalars.push_back(*t);
    return Element(Stack(scalars, kOp));
  }
  // A tensor's rows are its first dimension, a ragged value's its rows.
  std::vector<int64_t> splits(n + 1, 0);
  for (size_t i = 0; i < n; ++i) {
    const int64_t rows = first.is_tensor() ? parts[i].tensor().shape()[0]
                                           : RaggedRowSplits(parts[i]).num_elements() - 1;
    splits[i + 1] = splits[i] + rows;
  }
  if (!first.is_tensor() && RaggedRowSplits(first).dtype() != row_splits_dtype) {
    throw InvalidArgumentError(std::string(kOp) + ": component " + (path.empty() ? "" : path + " ") +
                               "is ragged with row_splits of " +
                               std::string(DTypeName(RaggedRowSplits(first).dtype())) +
                               ", the batch's are " + std::string(DTypeName(row_splits_dtype)) +
                               " (row_splits_dtype): one dtype for every ragged dimension");
  }
  return MakeRagged(ConcatRows(parts, kOp), RowSplitsTensor(splits, row_splits_dtype, kOp));
}

class RaggedBatchDataset : public OpDataset<RaggedBatchDataset, BatchingIterator, BatchingDataset>,
                           public RowSplitsDTypeSource {
 public:
  RaggedBatchDataset(DatasetPtr input, int64_t batch_size, bool drop_remainder,
                     DType row_splits_dtype)
      : OpDataset(std::move(input), batch_size, drop_remainder),
        row_splits_dtype_(row_splits_dtype) {}

  std::string op_name() const override { return kOp; }
  // int64, the default, is not named: the fingerprints of the pipelines made before int32.
  std::string params() const override {
    return "batch_size=" + std::to_string(batch_size) +
           ", drop_remainder=" + (drop_remainder ? "true" : "false") +
           (row_splits_dtype_ == DType::kInt64
                ? ""
                : ", row_splits_dtype=" + std::string(DTypeName(row_splits_dtype_)));
  }
  DType row_splits_dtype() const override { return row_splits_dtype_; }

  Element Combine(const std::vector<Element>& elements) const override {
    const Element& first = elements[0];
    for (size_t i = 1; i < elements.size(); ++i) {
      if (!elements[i].SameStructure(first)) {
        throw InvalidArgumentError(std::string(kOp) + ": element " + std::to_string(i) +
                                   " has structure " + elements[i].StructureString() +
                                   ", element 0 has " + first.StructureString());
      }
    }
    return CombineComponent(elements, "", row_splits_dtype_);
  }

 private:
  const DType row_splits_dtype_;
};

}  // namespace

DatasetPtr RaggedBatch(DatasetPtr input, int64_t batch_size, bool drop_remainder,
                       DType row_splits_dtype) {
  CheckInput(input, kOp);
  CheckPositive(batch_size, kOp, "batch_size");
  if (row_splits_dtype != DType::kInt64 && row_splits_dtype != DType::kInt32) {
    throw InvalidArgumentError(std::string(kOp) + ": row_splits_dtype must be int64 or int32, got " +
                               std::string(DTypeName(row_splits_dtype)));
  }
  return std::make_shared<RaggedBatchDataset>(std::move(input), batch_size, drop_remainder,
                                              row_splits_dtype);
}

}  // namespace inputpipe
