#include "core/element_list_dataset.h"

#include <mutex>

#include "core/index_iterator.h"
#include "core/tensor_ops.h"

namespace inputpipe {

namespace {
class ElementListDataset : public RandomAccessSource {
 public:
  ElementListDataset(std::string op_name, std::vector<Element> elements)
      : op_name_(std::move(op_name)), elements_(std::move(elements)) {}

  std::string op_name() const override { return op_name_; }
  // Hashed once, on first use: most nested datasets are iterated and never fingerprinted.
  std::string params() const override {
    std::call_once(hash_once_, [this] {
      uint64_t h = elements_.size();
      for (const auto& e : elements_) h = HashBytes(&h, sizeof(h), HashElement(e));
      hash_ = h;
    });
    return "data=" + HexU64(hash_) + ", length=" + std::to_string(elements_.size());
  }
  int64_t Cardinality() const override { return static_cast<int64_t>(elements_.size()); }
  Element Get(int64_t index) const override { return elements_.at(index); }

 private:
  const std::string op_name_;
  const std::vector<Element> elements_;
  mutable std::once_flag hash_once_;
  mutable uint64_t hash_ = 0;
};
}  // namespace

DatasetPtr MakeElementListDataset(std::string op_name, std::vector<Element> elements) {
  return std::make_shared<ElementListDataset>(std::move(op_name), std::move(elements));
}

}  // namespace inputpipe
