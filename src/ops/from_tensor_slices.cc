// from_tensor_slices(element): element i is the i-th slice of every tensor along the first
// dimension. Random-access; its state is the index of the next slice (IndexIterator), and
// its fingerprint is a hash of the data, never the values.
#include "core/index_iterator.h"
#include "core/tensor_ops.h"
#include "inputpipe/ops.h"

namespace inputpipe {

namespace {
class FromTensorSlicesDataset : public RandomAccessSource {
 public:
  FromTensorSlicesDataset(Element element, int64_t length)
      : element_(std::move(element)), length_(length), hash_(HashElement(element_)) {}

  std::string op_name() const override { return "from_tensor_slices"; }
  std::string params() const override {
    return "data=" + HexU64(hash_) + ", length=" + std::to_string(length_);
  }
  int64_t Cardinality() const override { return length_; }
  Element Get(int64_t index) const override { return SliceElement(element_, index); }

 private:
  const Element element_;
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
  int64_t length = FirstDimOf(element, "from_tensor_slices");
  return std::make_shared<FromTensorSlicesDataset>(std::move(element), length);
}

}  // namespace inputpipe
