// ElementSpecOf: the rules of include/inputpipe/element_spec.h's banner, op by op, and the
// first element where none applies. The rules are kept here, in one place, rather than as a
// method of every op: most ops pass their input's spec through, and the few that transform it
// are named below.
#include "inputpipe/element_spec.h"

#include <algorithm>
#include <optional>
#include <set>
#include <string>

#include "inputpipe/errors.h"
#include "inputpipe/ragged.h"
#include "ops/batch_input.h"
#include "ops/element_spec.h"
#include "ops/ragged_rows.h"

namespace inputpipe {

ElementSpec ElementSpec::ForTensor(DType dtype, Shape shape) {
  ElementSpec spec;
  spec.dtype = dtype;
  spec.shape = std::move(shape);
  return spec;
}

ElementSpec ElementSpec::Of(const Element& element) {
  ElementSpec spec;
  spec.kind = element.kind();
  switch (element.kind()) {
    case Element::Kind::kTensor:
      spec.dtype = element.tensor().dtype();
      spec.shape = element.tensor().shape();
      break;
    case Element::Kind::kDataset:
      spec.children.push_back(ElementSpecOf(*element.dataset()));
      break;
    case Element::Kind::kDict:
      spec.keys = element.keys();
      [[fallthrough]];
    case Element::Kind::kTuple:
      for (const Element& child : element.children()) spec.children.push_back(Of(child));
      break;
  }
  return spec;
}

std::string ElementSpec::ToString() const {
  switch (kind) {
    case Element::Kind::kTensor: {
      std::string out(DTypeName(dtype));
      if (!rank_known) return out + "[*]";
      out += "[";
      for (size_t i = 0; i < shape.size(); ++i) {
        if (i > 0) out += ", ";
        out += shape[i] == kUnknownDim ? "?" : std::to_string(shape[i]);
      }
      return out + "]";
    }
    case Element::Kind::kDataset:
      return "dataset<" + children.front().ToString() + ">";
    case Element::Kind::kTuple:
    case Element::Kind::kDict: {
      const bool dict = kind == Element::Kind::kDict;
      std::string out = dict ? "{" : "(";
      for (size_t i = 0; i < children.size(); ++i) {
        if (i > 0) out += ", ";
        if (dict) out += keys[i] + ": ";
        out += children[i].ToString();
      }
      if (dict) return out + "}";
      return out + (children.size() == 1 ? ",)" : ")");
    }
  }
  return "?";
}

bool ElementSpec::operator==(const ElementSpec& other) const {
  if (kind != other.kind) return false;
  if (kind == Element::Kind::kTensor) {
    if (dtype != other.dtype || rank_known != other.rank_known) return false;
    return !rank_known || shape == other.shape;
  }
  return keys == other.keys && children == other.children;
}

ElementSpec MostSpecificCommonSpec(const ElementSpec& a, const ElementSpec& b,
                                   const std::string& what) {
  auto mismatch = [&] {
    return InvalidArgumentError(what + ": incompatible element specs " + a.ToString() + " and " +
                                b.ToString());
  };
  if (a.kind != b.kind || a.keys != b.keys || a.children.size() != b.children.size()) {
    throw mismatch();
  }
  ElementSpec out = a;
  if (a.kind == Element::Kind::kTensor) {
    if (a.dtype != b.dtype) throw mismatch();
    if (!a.rank_known || !b.rank_known || a.shape.size() != b.shape.size()) {
      out.rank_known = false;
      out.shape.clear();
      return out;
    }
    for (size_t i = 0; i < a.shape.size(); ++i) {
      if (a.shape[i] != b.shape[i]) out.shape[i] = kUnknownDim;
    }
    return out;
  }
  for (size_t i = 0; i < a.children.size(); ++i) {
    out.children[i] = MostSpecificCommonSpec(a.children[i], b.children[i], what);
  }
  return out;
}

namespace {

// The ops whose elements are their (first) input's elements, unchanged.
bool PassesInputThrough(const std::string& op) {
  static const std::set<std::string> kOps = {
      "take",     "skip",   "repeat",        "shard",  "shuffle",    "global_shuffle",
      "prefetch", "filter", "ignore_errors", "unique", "take_while", "cache", "options"};
  return kOps.count(op) > 0;
}

// `fn` applied to every tensor spec of `spec`, keeping the structure (nested datasets kept).
template <typename Fn>
ElementSpec MapTensorSpecs(const ElementSpec& spec, const Fn& fn) {
  if (spec.kind == Element::Kind::kTensor) return fn(spec);
  if (spec.kind == Element::Kind::kDataset) return spec;
  ElementSpec out = spec;
  for (ElementSpec& child : out.children) child = MapTensorSpecs(child, fn);
  return out;
}

ElementSpec WithLeadingDim(const ElementSpec& spec, int64_t dim, bool inner_unknown) {
  return MapTensorSpecs(spec, [&](ElementSpec t) {
    if (t.rank_known && inner_unknown) std::fill(t.shape.begin(), t.shape.end(), kUnknownDim);
    if (t.rank_known) t.shape.insert(t.shape.begin(), dim);
    return t;
  });
}

bool IsRaggedSpec(const ElementSpec& spec) {
  return spec.kind == Element::Kind::kDict && spec.children.size() == 2 &&
         spec.keys == std::vector<std::string>{kRaggedRowSplitsKey, kRaggedValuesKey};
}

// The spec of a ragged value of `rows` rows (kUnknownDim: unknown) over `values`.
ElementSpec RaggedSpec(int64_t rows, ElementSpec values, DType row_splits_dtype) {
  ElementSpec ragged;
  ragged.kind = Element::Kind::kDict;
  ragged.keys = {kRaggedRowSplitsKey, kRaggedValuesKey};
  ragged.children = {
      ElementSpec::ForTensor(row_splits_dtype, {rows == kUnknownDim ? kUnknownDim : rows + 1}),
      std::move(values)};
  return ragged;
}

// `spec` (a tensor's or a ragged value's) with its first dimension, and so every ragged
// dimension below it, unknown: the spec of several of them concatenated.
ElementSpec WithUnknownLength(ElementSpec spec) {
  if (IsRaggedSpec(spec)) {
    return RaggedSpec(kUnknownDim, WithUnknownLength(spec.children[1]), spec.children[0].dtype);
  }
  if (spec.rank_known && !spec.shape.empty()) spec.shape[0] = kUnknownDim;
  return spec;
}

// ragged_batch's rule (ragged_batch.cc): a tensor of rank >= 1 becomes a ragged value of
// row_splits int64[rows + 1] (or int32) and values [?, *inner], a ragged value one of one more
// ragged dimension, a scalar is stacked; `rows` is batch_size under drop_remainder, else
// unknown. A tensor of unknown rank is taken as ragged (a scalar there would be stacked).
ElementSpec RaggedBatchSpec(const ElementSpec& input, int64_t rows, DType row_splits_dtype) {
  if (input.kind == Element::Kind::kDataset) return input;
  if (input.kind == Element::Kind::kTensor && input.rank_known && input.shape.empty()) {
    return ElementSpec::ForTensor(input.dtype, {rows});
  }
  if (input.kind == Element::Kind::kTensor || IsRaggedSpec(input)) {
    return RaggedSpec(rows, WithUnknownLength(input), row_splits_dtype);
  }
  ElementSpec out = input;
  for (ElementSpec& child : out.children) child = RaggedBatchSpec(child, rows, row_splits_dtype);
  return out;
}

ElementSpec FromFirstElement(const Dataset& ds) {
  std::optional<Element> first;
  if (ds.IsRandomAccess()) {
    if (ds.Cardinality() > 0) first = ds.Get(0);
  } else {
    first = ds.MakeIterator()->GetNext();
  }
  if (!first) {
    throw InvalidArgumentError("element_spec: " + ds.Signature() +
                               " produced no element to take the spec from (its elements "
                               "have no static spec)");
  }
  return ElementSpec::Of(*first);
}

}  // namespace

// unbatch's rule (and from_tensor_slices'): each tensor without its first dimension; a ragged value's rows are its
// values' slices (a tensor of unknown length, or a ragged value of unknown rows).
ElementSpec UnbatchSpec(const ElementSpec& spec, const Dataset& ds) {
  if (IsRaggedSpec(spec)) return WithUnknownLength(spec.children[1]);
  if (spec.kind == Element::Kind::kTensor) {
    if (spec.rank_known && spec.shape.empty()) {
      throw InvalidArgumentError("element_spec: " + ds.Signature() +
                                 ": the input has a scalar component, which cannot be unbatched");
    }
    ElementSpec out = spec;
    if (out.rank_known) out.shape.erase(out.shape.begin());
    return out;
  }
  if (spec.kind == Element::Kind::kDataset) return spec;
  ElementSpec out = spec;
  for (ElementSpec& child : out.children) child = UnbatchSpec(child, ds);
  return out;
}

ElementSpec ElementSpecOf(const Dataset& ds) {
  if (const auto* source = dynamic_cast<const ElementSpecSource*>(&ds)) {
    return source->StaticElementSpec();
  }
  const std::string op = ds.op_name();
  const std::vector<DatasetPtr> inputs = ds.inputs();
  if (PassesInputThrough(op) && !inputs.empty()) return ElementSpecOf(*inputs.front());
  if (op == "range" || op == "counter" || op == "random") {
    return ElementSpec::ForTensor(DType::kInt64, {});
  }
  if (const auto* batching = dynamic_cast<const BatchingDataset*>(&ds); batching != nullptr) {
    if (op == "ragged_batch") {
      const auto* splits = dynamic_cast<const RowSplitsDTypeSource*>(&ds);
      return RaggedBatchSpec(ElementSpecOf(*inputs.front()),
                             batching->drop_remainder ? batching->batch_size : kUnknownDim,
                             splits != nullptr ? splits->row_splits_dtype() : DType::kInt64);
    }
    return WithLeadingDim(ElementSpecOf(*inputs.front()),
                          batching->drop_remainder ? batching->batch_size : kUnknownDim,
                          /*inner_unknown=*/op == "padded_batch");
  }
  if (op == "unbatch") {
    return UnbatchSpec(ElementSpecOf(*inputs.front()), ds);
  }
  if (op == "enumerate") {
    ElementSpec pair;
    pair.kind = Element::Kind::kTuple;
    pair.children = {ElementSpec::ForTensor(DType::kInt64, {}), ElementSpecOf(*inputs.front())};
    return pair;
  }
  if (op == "concatenate" || op == "sample_from_datasets" || op == "choose_from_datasets") {
    // choose_from_datasets' first input is its choice dataset.
    const size_t first = op == "choose_from_datasets" ? 1 : 0;
    if (inputs.size() > first) {
      ElementSpec spec = ElementSpecOf(*inputs[first]);
      for (size_t i = first + 1; i < inputs.size(); ++i) {
        spec = MostSpecificCommonSpec(spec, ElementSpecOf(*inputs[i]), op);
      }
      return spec;
    }
  }
  if (op == "zip") {
    // The structure (tuple or dict, and its keys) from the first element, each item's spec
    // from its input.
    ElementSpec spec = FromFirstElement(ds);
    for (size_t i = 0; i < spec.children.size() && i < inputs.size(); ++i) {
      spec.children[i] = ElementSpecOf(*inputs[i]);
    }
    return spec;
  }
  return FromFirstElement(ds);
}

}  // namespace inputpipe
