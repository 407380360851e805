#include "inputpipe/element.h"

#include "core/tensor_ops.h"
#include "inputpipe/dataset.h"
#include "inputpipe/errors.h"

namespace inputpipe {

Element::Element(Tensor tensor) : kind_(Kind::kTensor), tensor_(std::move(tensor)) {}

const Element::Node& Element::EmptyNode() {
  // Never destroyed: threads still running while the process exits (a prefetch's producer under
  // a Python daemon thread) read it after static destructors have run.
  static const Node* empty = new Node();
  return *empty;
}

Element Element::Tuple(std::vector<Element> items) {
  Element e;
  e.kind_ = Kind::kTuple;
  e.node_ = std::make_shared<const Node>(Node{std::move(items), {}, nullptr});
  return e;
}

Element Element::Dict(std::vector<std::pair<std::string, Element>> items) {
  Node node;
  for (auto& [key, value] : items) {
    for (const auto& existing : node.keys) {
      if (existing == key) throw InvalidArgumentError("duplicate dict key '" + key + "'");
    }
    node.keys.push_back(std::move(key));
    node.children.push_back(std::move(value));
  }
  Element e;
  e.kind_ = Kind::kDict;
  e.node_ = std::make_shared<const Node>(std::move(node));
  return e;
}

Element Element::FromDataset(DatasetPtr dataset) {
  if (!dataset) throw InvalidArgumentError("Element::FromDataset: null dataset");
  Element e;
  e.kind_ = Kind::kDataset;
  e.node_ = std::make_shared<const Node>(Node{{}, {}, std::move(dataset)});
  return e;
}

const Tensor& Element::tensor() const {
  if (kind_ != Kind::kTensor) {
    throw InvalidArgumentError("expected a tensor, got an element of structure " +
                               StructureString());
  }
  return tensor_;
}

const Element& Element::operator[](size_t index) const {
  if (index >= children().size()) {
    throw InvalidArgumentError("index " + std::to_string(index) + " out of range for " +
                               StructureString());
  }
  return children()[index];
}

const Element& Element::at(const std::string& key) const {
  for (size_t i = 0; i < keys().size(); ++i) {
    if (keys()[i] == key) return children()[i];
  }
  throw InvalidArgumentError("no key '" + key + "' in " + StructureString());
}

const DatasetPtr& Element::dataset() const {
  if (kind_ != Kind::kDataset) {
    throw InvalidArgumentError("expected a dataset, got " + StructureString());
  }
  return node_->dataset;
}

namespace {
void Flatten(const Element& e, std::vector<Element>* out) {
  if (e.is_tuple() || e.is_dict()) {
    for (const auto& child : e.children()) Flatten(child, out);
  } else {
    out->push_back(e);
  }
}

Element Pack(const Element& structure, const std::vector<Element>& leaves, size_t* next) {
  if (!structure.is_tuple() && !structure.is_dict()) {
    if (*next >= leaves.size()) throw InvalidArgumentError("PackLeaves: too few leaves");
    return leaves[(*next)++];
  }
  std::vector<Element> children;
  children.reserve(structure.size());
  for (const auto& child : structure.children()) children.push_back(Pack(child, leaves, next));
  if (structure.is_tuple()) return Element::Tuple(std::move(children));
  std::vector<std::pair<std::string, Element>> items;
  for (size_t i = 0; i < children.size(); ++i) {
    items.emplace_back(structure.keys()[i], std::move(children[i]));
  }
  return Element::Dict(std::move(items));
}
}  // namespace

std::vector<Element> Element::FlattenLeaves() const {
  std::vector<Element> out;
  Flatten(*this, &out);
  return out;
}

Element Element::PackLeaves(const std::vector<Element>& leaves) const {
  size_t next = 0;
  Element packed = Pack(*this, leaves, &next);
  if (next != leaves.size()) throw InvalidArgumentError("PackLeaves: too many leaves");
  return packed;
}

Element Element::MapTensors(const std::function<Tensor(const Tensor&)>& fn) const {
  std::vector<Element> leaves = FlattenLeaves();
  for (auto& leaf : leaves) {
    if (leaf.is_tensor()) leaf = Element(fn(leaf.tensor()));
  }
  return PackLeaves(leaves);
}

bool Element::SameStructure(const Element& other) const {
  if (kind_ != other.kind_) return false;
  if (kind_ == Kind::kTensor || kind_ == Kind::kDataset || node_ == other.node_) return true;
  const Node& mine = *node_;
  const Node& theirs = *other.node_;
  if (mine.children.size() != theirs.children.size() || mine.keys != theirs.keys) return false;
  for (size_t i = 0; i < mine.children.size(); ++i) {
    if (!mine.children[i].SameStructure(theirs.children[i])) return false;
  }
  return true;
}

std::string Element::StructureString() const {
  switch (kind_) {
    case Kind::kTensor:
      return std::string(DTypeName(tensor_.dtype())) + ShapeString(tensor_.shape());
    case Kind::kDataset:
      return "dataset";
    case Kind::kTuple: {
      std::string s = "(";
      for (size_t i = 0; i < children().size(); ++i) {
        s += (i ? ", " : "") + children()[i].StructureString();
      }
      return s + (children().size() == 1 ? ",)" : ")");
    }
    case Kind::kDict: {
      std::string s = "{";
      for (size_t i = 0; i < children().size(); ++i) {
        s += (i ? ", " : "") + keys()[i] + ": " + children()[i].StructureString();
      }
      return s + "}";
    }
  }
  return "?";
}

bool Element::operator==(const Element& other) const {
  if (!SameStructure(other)) return false;
  if (kind_ == Kind::kTensor) return tensor_ == other.tensor_;
  if (kind_ == Kind::kDataset) return node_->dataset == other.node_->dataset;
  if (node_ == other.node_) return true;
  const std::vector<Element>& mine = children();
  const std::vector<Element>& theirs = other.children();
  for (size_t i = 0; i < mine.size(); ++i) {
    if (mine[i] != theirs[i]) return false;
  }
  return true;
}

std::string Element::DebugString() const {
  switch (kind_) {
    case Kind::kTensor:
      return tensor_.DebugString();
    case Kind::kDataset:
      return "dataset<" + node_->dataset->Signature() + ">";
    case Kind::kTuple:
    case Kind::kDict: {
      std::string s = is_tuple() ? "(" : "{";
      for (size_t i = 0; i < children().size(); ++i) {
        if (i) s += ", ";
        if (is_dict()) s += keys()[i] + ": ";
        s += children()[i].DebugString();
      }
      return s + (is_tuple() ? ")" : "}");
    }
  }
  return "?";
}

std::string ElementDigest(const Element& element) { return HexU64(HashElement(element)); }

}  // namespace inputpipe
