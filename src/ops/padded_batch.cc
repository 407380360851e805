// padded_batch(n, padded_shapes, padding_values, drop_remainder): stacks n consecutive
// elements after padding each component to a common shape: padded_shapes[c] where given (-1 =
// the batch's longest in that dimension), else the batch's longest. Holds no element between
// calls, so its state is the input's (ops/batch_input.h). Random-access when the input is.
#include <algorithm>

#include "core/op_skeleton.h"
#include "core/tensor_ops.h"
#include "inputpipe/ops.h"
#include "inputpipe/ragged.h"
#include "ops/batch_input.h"

namespace inputpipe {

namespace {
constexpr char kOp[] = "padded_batch";

class PaddedBatchDataset
    : public OpDataset<PaddedBatchDataset, BatchingIterator, BatchingDataset> {
 public:
  PaddedBatchDataset(DatasetPtr input, int64_t batch_size, std::vector<Shape> padded_shapes,
                     std::vector<Tensor> padding_values, bool drop_remainder)
      : OpDataset(std::move(input), batch_size, drop_remainder),
        padded_shapes_(std::move(padded_shapes)),
        padding_values_(std::move(padding_values)) {}

  std::string op_name() const override { return kOp; }
  std::string params() const override {
    std::string shapes, values;
    for (const auto& s : padded_shapes_) shapes += (shapes.empty() ? "" : ", ") + ShapeString(s);
    for (const auto& v : padding_values_) values += (values.empty() ? "" : ", ") + v.DebugString();
    return "batch_size=" + std::to_string(batch_size) + ", padded_shapes=[" + shapes +
           "], padding_values=[" + values +
           "], drop_remainder=" + (drop_remainder ? "true" : "false");
  }
  // Pads and stacks.
  Element Combine(const std::vector<Element>& elements) const override;

 private:
  Tensor PadComponent(const std::vector<Tensor>& parts, size_t c) const;

  const std::vector<Shape> padded_shapes_;
  const std::vector<Tensor> padding_values_;
};

Element PaddedBatchDataset::Combine(const std::vector<Element>& elements) const {
  const Element& first = elements[0];
  if (ContainsRagged(first)) {  // its two parts would be padded apart
    throw InvalidArgumentError(std::string(kOp) + ": cannot pad ragged values " +
                               first.StructureString());
  }
  std::vector<std::vector<Tensor>> components;  // [component][element]
  for (size_t i = 0; i < elements.size(); ++i) {
    if (!elements[i].SameStructure(first)) {
      throw InvalidArgumentError(std::string(kOp) + ": element " + std::to_string(i) +
                                 " has structure " + elements[i].StructureString() +
                                 ", element 0 has " + first.StructureString());
    }
    std::vector<Element> leaves = elements[i].FlattenLeaves();
    components.resize(leaves.size());
    for (size_t c = 0; c < leaves.size(); ++c) {
      if (leaves[c].is_dataset()) {
        throw InvalidArgumentError(std::string(kOp) + ": cannot batch a dataset component");
      }
      components[c].push_back(leaves[c].tensor());
    }
  }
  auto check_count = [&](size_t given, const char* what) {
    if (given != 0 && given != components.size()) {
      throw InvalidArgumentError(std::string(kOp) + ": " + what + " has " + std::to_string(given) +
                                 " entries for elements with " + std::to_string(components.size()) +
                                 " components " + first.StructureString());
    }
  };
  check_count(padded_shapes_.size(), "padded_shapes");
  check_count(padding_values_.size(), "padding_values");
  std::vector<Element> stacked;
  for (size_t c = 0; c < components.size(); ++c)
    stacked.emplace_back(PadComponent(components[c], c));
  return first.PackLeaves(stacked);
}

Tensor PaddedBatchDataset::PadComponent(const std::vector<Tensor>& parts, size_t c) const {
  const std::string where = std::string(kOp) + ": component " + std::to_string(c);
  const Tensor& first = parts[0];
  Shape shape(first.rank(), 0);
  for (size_t i = 0; i < parts.size(); ++i) {
    if (parts[i].dtype() != first.dtype() || parts[i].rank() != first.rank()) {
      throw InvalidArgumentError(where + " of element " + std::to_string(i) + " is " +
                                 parts[i].DebugString(0) + ", of element 0 " +
                                 first.DebugString(0));
    }
    for (size_t d = 0; d < shape.size(); ++d) shape[d] = std::max(shape[d], parts[i].shape()[d]);
  }
  if (!padded_shapes_.empty()) {
    const Shape& wanted = padded_shapes_[c];
    if (wanted.size() != shape.size()) {
      throw InvalidArgumentError(where + ": padded shape " + ShapeString(wanted) + " has rank " +
                                 std::to_string(wanted.size()) + ", the component has rank " +
                                 std::to_string(shape.size()));
    }
    for (size_t d = 0; d < shape.size(); ++d) {
      if (wanted[d] < 0) continue;
      if (shape[d] > wanted[d]) {
        throw InvalidArgumentError(where + ": an element is " + std::to_string(shape[d]) +
                                   " long in dimension " + std::to_string(d) +
                                   ", more than padded shape " + ShapeString(wanted) + " allows");
      }
      shape[d] = wanted[d];
    }
  }
  Tensor pad = padding_values_.empty() ? ZeroScalar(first.dtype()) : padding_values_[c];
  if (pad.dtype() != first.dtype()) {
    throw InvalidArgumentError(where + ": padding value " + pad.DebugString() +
                               " is not of dtype " + std::string(DTypeName(first.dtype())));
  }
  std::vector<Tensor> padded;
  padded.reserve(parts.size());
  for (const auto& part : parts) {
    padded.push_back(part.shape() == shape ? part : PadTo(part, shape, pad, kOp));
  }
  return Stack(padded, kOp);
}

}  // namespace

DatasetPtr PaddedBatch(DatasetPtr input, int64_t batch_size, std::vector<Shape> padded_shapes,
                       std::vector<Tensor> padding_values, bool drop_remainder) {
  CheckInput(input, kOp);
  CheckPositive(batch_size, kOp, "batch_size");
  for (size_t c = 0; c < padded_shapes.size(); ++c) {
    for (int64_t dim : padded_shapes[c]) {
      if (dim < -1) {
        throw InvalidArgumentError("padded_batch: padded_shapes[" + std::to_string(c) + "] = " +
                                   ShapeString(padded_shapes[c]) + " has a dimension below -1");
      }
    }
  }
  for (size_t c = 0; c < padding_values.size(); ++c) {
    if (padding_values[c].rank() != 0) {
      throw InvalidArgumentError("padded_batch: padding_values[" + std::to_string(c) +
                                 "] must be a scalar, got " + padding_values[c].DebugString());
    }
  }
  return std::make_shared<PaddedBatchDataset>(std::move(input), batch_size,
                                              std::move(padded_shapes), std::move(padding_values),
                                              drop_remainder);
}

}  // namespace inputpipe
