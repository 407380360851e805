#include "inputpipe/element.h"

#include "inputpipe/dataset.h"
#include "inputpipe/errors.h"

namespace inputpipe {

Element::Element(Tensor tensor) : kind_(Kind::kTensor), tensor_(std::move(tensor)) {}

Element Element::Tuple(std::vector<Element> items) {
  Element e;
  e.kind_ = Kind::kTuple;
  e.children_ = std::move(items);
  return e;
}

Element Element::Dict(std::vector<std::pair<std::string, Element>> items) {
  Element e;
  e.kind_ = Kind::kDict;
  for (auto& [key, value] : items) {
    for (const auto& existing : e.keys_) {
      if (existing == key) throw InvalidArgumentError("duplicate dict key '" + key + "'");
    }
    e.keys_.push_back(std::move(key));
    e.children_.push_back(std::move(value));
  }
  return e;
}

Element Element::FromDataset(DatasetPtr dataset) {
  if (!dataset) throw InvalidArgumentError("Element::FromDataset: null dataset");
  Element e;
  e.kind_ = Kind::kDataset;
  e.dataset_ = std::move(dataset);
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
  if (index >= children_.size()) {
    throw InvalidArgumentError("index " + std::to_string(index) + " out of range for " +
                               StructureString());
  }
  return children_[index];
}

const Element& Element::at(const std::string& key) const {
  for (size_t i = 0; i < keys_.size(); ++i) {
    if (keys_[i] == key) return children_[i];
  }
  throw InvalidArgumentError("no key '" + key + "' in " + StructureString());
}

const DatasetPtr& Element::dataset() const {
  if (kind_ != Kind::kDataset) {
    throw InvalidArgumentError("expected a dataset, got " + StructureString());
  }
  return dataset_;
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
  if (kind_ != other.kind_ || children_.size() != other.children_.size()) return false;
  if (keys_ != other.keys_) return false;
  for (size_t i = 0; i < children_.size(); ++i) {
    if (!children_[i].SameStructure(other.children_[i])) return false;
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
      for (size_t i = 0; i < children_.size(); ++i) {
        s += (i ? ", " : "") + children_[i].StructureString();
      }
      return s + (children_.size() == 1 ? ",)" : ")");
    }
    case Kind::kDict: {
      std::string s = "{";
      for (size_t i = 0; i < children_.size(); ++i) {
        s += (i ? ", " : "") + keys_[i] + ": " + children_[i].StructureString();
      }
      return s + "}";
    }
  }
  return "?";
}

bool Element::operator==(const Element& other) const {
  if (!SameStructure(other)) return false;
  if (kind_ == Kind::kTensor) return tensor_ == other.tensor_;
  if (kind_ == Kind::kDataset) return dataset_ == other.dataset_;
  for (size_t i = 0; i < children_.size(); ++i) {
    if (children_[i] != other.children_[i]) return false;
  }
  return true;
}

std::string Element::DebugString() const {
  switch (kind_) {
    case Kind::kTensor:
      return tensor_.DebugString();
    case Kind::kDataset:
      return "dataset<" + dataset_->Signature() + ">";
    case Kind::kTuple:
    case Kind::kDict: {
      std::string s = is_tuple() ? "(" : "{";
      for (size_t i = 0; i < children_.size(); ++i) {
        if (i) s += ", ";
        if (is_dict()) s += keys_[i] + ": ";
        s += children_[i].DebugString();
      }
      return s + (is_tuple() ? ")" : "}");
    }
  }
  return "?";
}

}  // namespace inputpipe
