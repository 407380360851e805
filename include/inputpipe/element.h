// Element: what a dataset produces. A tensor, or a nested tuple / dict of elements, or (for
// window) a dataset.
//
//   Element pair = Element::Tuple({Tensor::Scalar<int64_t>(1), Tensor::String("a")});
//   Element features = Element::Dict({{"x", Tensor::Scalar(1.0f)}, {"id", Tensor::Scalar<int64_t>(7)}});
//   int64_t first = pair[0].tensor().scalar<int64_t>();
//
// Elements are values: copies share tensor buffers and nested datasets, never mutate them.
// Dict keys keep the order they were given in; two dicts with the same keys in another order
// have different structures.
#ifndef INPUTPIPE_ELEMENT_H_
#define INPUTPIPE_ELEMENT_H_

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "inputpipe/tensor.h"

namespace inputpipe {

class Dataset;
using DatasetPtr = std::shared_ptr<const Dataset>;

class Element {
 public:
  enum class Kind : uint8_t { kTensor, kTuple, kDict, kDataset };

  Element() : Element(Tensor()) {}
  Element(Tensor tensor);  // NOLINT: a tensor is an element
  static Element Tuple(std::vector<Element> items);
  static Element Dict(std::vector<std::pair<std::string, Element>> items);
  static Element FromDataset(DatasetPtr dataset);

  Kind kind() const { return kind_; }
  bool is_tensor() const { return kind_ == Kind::kTensor; }
  bool is_tuple() const { return kind_ == Kind::kTuple; }
  bool is_dict() const { return kind_ == Kind::kDict; }
  bool is_dataset() const { return kind_ == Kind::kDataset; }

  // REQUIRES: is_tensor().
  const Tensor& tensor() const;
  // Tuple items or dict values, in order. Empty for tensors and datasets.
  const std::vector<Element>& children() const { return children_; }
  // Dict keys, parallel to children(). REQUIRES: is_dict().
  const std::vector<std::string>& keys() const { return keys_; }
  size_t size() const { return children_.size(); }
  const Element& operator[](size_t index) const;
  // Dict lookup; throws InvalidArgumentError naming the missing key.
  const Element& at(const std::string& key) const;
  // REQUIRES: is_dataset().
  const DatasetPtr& dataset() const;

  // Leaves (tensors and datasets) in depth-first order.
  std::vector<Element> FlattenLeaves() const;
  // Rebuilds this element's structure with new leaves (as many as FlattenLeaves() returns).
  Element PackLeaves(const std::vector<Element>& leaves) const;
  // Applies `fn` to every tensor leaf, keeping the structure.
  Element MapTensors(const std::function<Tensor(const Tensor&)>& fn) const;

  // Same kinds, tuple lengths and dict keys, recursively (tensors may differ).
  bool SameStructure(const Element& other) const;
  // "(int64[], {x: float32[3]})": structure with dtypes and shapes.
  std::string StructureString() const;
  // Equal structure and equal tensors; datasets compare by identity.
  bool operator==(const Element& other) const;
  bool operator!=(const Element& other) const { return !(*this == other); }
  std::string DebugString() const;

 private:
  Kind kind_ = Kind::kTensor;
  Tensor tensor_;
  std::vector<Element> children_;
  std::vector<std::string> keys_;
  DatasetPtr dataset_;
};

}  // namespace inputpipe

#endif  // INPUTPIPE_ELEMENT_H_
