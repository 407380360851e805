// Element: what a dataset produces. A tensor, or a nested tuple / dict of elements, or (for
// window) a dataset.
//
//   Element pair = Element::Tuple({Tensor::Scalar<int64_t>(1), Tensor::String("a")});
//   Element features = Element::Dict({{"x", Tensor::Scalar(1.0f)}, {"id", Tensor::Scalar<int64_t>(7)}});
//   int64_t first = pair[0].tensor().scalar<int64_t>();
//
// Elements are values: copies share tensor buffers, nested datasets and the children of tuples
// and dicts (never mutated once built), so copying a tuple copies no child.
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
  const std::vector<Element>& children() const;
  // Dict keys, parallel to children(). REQUIRES: is_dict().
  const std::vector<std::string>& keys() const;
  size_t size() const { return children().size(); }
  const Element& operator[](size_t index) const;
  // Dict lookup; throws InvalidArgumentError naming the missing key.
  const Element& at(const std::string& key) const;
  // REQUIRES: is_dataset().
  const DatasetPtr& dataset() const;
  // Whether another Element shares this tuple's or dict's node (copies do, and then share its
  // children too). False for tensors and datasets. A leaf belongs to its holder alone only if no
  // node above it is shared (see Tensor::owns_unshared_buffer).
  bool shares_node() const { return node_ != nullptr && node_.use_count() > 1; }

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
  // What a tuple, dict or dataset element holds beyond its kind: one shared pointer, so that a
  // tensor element (the common case: every leaf) is no bigger than its tensor plus 24 bytes.
  struct Node;
  static const Node& EmptyNode();
  const Node& node() const { return node_ ? *node_ : EmptyNode(); }

  Kind kind_ = Kind::kTensor;
  Tensor tensor_;
  std::shared_ptr<const Node> node_;  // null for tensors
};

struct Element::Node {
  std::vector<Element> children;
  std::vector<std::string> keys;
  DatasetPtr dataset;
};

inline const std::vector<Element>& Element::children() const { return node().children; }
inline const std::vector<std::string>& Element::keys() const { return node().keys; }

// 16 hex digits of a 64-bit hash of the element's content (structure, dtypes, shapes, bytes):
// how pipeline fingerprints name data ("from_tensors(data=...)"), so two pipelines over other
// data are told apart. The same for the same content in every process.
std::string ElementDigest(const Element& element);

}  // namespace inputpipe

#endif  // INPUTPIPE_ELEMENT_H_
