// from_tensors(element): the single element `element`. Random-access (one element); its state
// is whether that element was produced (IndexIterator); its fingerprint hashes the data.
#include "core/index_iterator.h"
#include "core/tensor_ops.h"
#include "inputpipe/ops.h"

namespace inputpipe {

namespace {
class FromTensorsDataset : public RandomAccessSource {
 public:
  explicit FromTensorsDataset(Element element)
      : element_(std::move(element)), hash_(HashElement(element_)) {}

  std::string op_name() const override { return "from_tensors"; }
  std::string params() const override { return "data=" + HexU64(hash_); }
  int64_t Cardinality() const override { return 1; }
  Element Get(int64_t index) const override { return element_; }

 private:
  const Element element_;
  const uint64_t hash_;
};
}  // namespace

DatasetPtr FromTensors(Element element) {
  return std::make_shared<FromTensorsDataset>(std::move(element));
}

}  // namespace inputpipe
