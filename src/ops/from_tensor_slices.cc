// from_tensor_slices(element): element i is the i-th slice of every tensor along the first
// dimension (a ragged component's rows: ragged_rows.h). Random-access; its state is the index of
// the next slice (IndexIterator), and its fingerprint is a hash of the data, never the values.
#include "core/index_iterator.h"
#include "core/tensor_ops.h"
#include "inputpipe/ops.h"
#include "inputpipe/ragged.h"
#include "ops/element_spec.h"
#include "ops/ragged_rows.h"

namespace inputpipe {

namespace {
class FromTensorSlicesDataset : public RandomAccessSource, public ElementSpecSource {
 public:
  FromTensorSlicesDataset(Element element, int64_t length)
      : element_(std::move(element)),
        ragged_(ContainsRagged(element_)),
        length_(length),
        hash_(HashElement(element_)) {}

  std::string op_name() const override { return "from_tensor_slices"; }
  std::string params() const override {
    return "data=" + HexU64(hash_) + ", length=" + std::to_string(length_);
  }
  int64_t Cardinality() const override { return length_; }
  // The element's spec without its first dimension: a ragged component's rows have unknown
  // lengths, not those of row 0.
  ElementSpec StaticElementSpec() const override {
    return UnbatchSpec(ElementSpec::Of(element_), *this);
  }
  Element Get(int64_t index) const override {
    return ragged_ ? RowWithRagged(element_, index) : SliceElement(element_, index);
  }

 private:
  const Element element_;
  const bool ragged_;
  const int64_t length_;
  const uint64_t hash_;
};
}  // namespace

DatasetPtr FromTensorSlices(Element element) {
  for (const auto& leaf : element.FlattenLeaves()) {
    if (leaf.is_dataset()) {
      throw InvalidArgumentError(
          "from_tensor_slices: element holds a dataset, which cannot be sliced");
    }
  }
  int64_t length = ContainsRagged(element) ? LengthWithRagged(element, "from_tensor_slices")
                                           : FirstDimOf(element, "from_tensor_slices");
  return std::make_shared<FromTensorSlicesDataset>(std::move(element), length);
}

}  // namespace inputpipe
