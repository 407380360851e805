// ElementSpec: the structure, dtypes and shapes of a dataset's elements (tf.data's
// `element_spec`, a structure of TensorSpec / DatasetSpec).
//
//   ElementSpec spec = ElementSpecOf(*Batch(Range(0, 10), 4));
//   spec.ToString();                          // "int64[?]": a batch, the last one shorter
//   ElementSpecOf(*Enumerate(ds)).children;   // {int64[], <ds's spec>}
//
// Elements carry no static types here, so a spec is derived, op by op, from what each op
// guarantees: a source of fixed type (range, counter, random) says it; an op that passes its
// input's elements through (take, filter, shuffle, prefetch, ...) has its input's spec; batch,
// unbatch, enumerate, concatenate and the sampling ops transform their inputs' specs as tf.data
// does (batch's first dimension is unknown unless drop_remainder; ragged_batch's ragged values
// are dicts of the two reserved keys of inputpipe/ragged.h, row_splits int64[rows + 1] and
// values [?, *inner]). Where no rule applies (map,
// flat_map, interleave, from_generator, readers, ...) the spec is that of the dataset's first
// element: element 0 by index when the dataset is random-access, else the first element of a
// fresh iterator, which runs the pipeline up to it (so it costs what producing that element
// costs). Such a spec has the first element's exact shapes: tf.data, which traces the
// function, can know a dimension varies where this cannot. A dimension that differs between
// inputs (concatenate) is unknown (-1), a rank that differs is unknown (rank_known = false).
//
// Thread-safety: ElementSpecOf may be called from any thread; it does not touch other
// iterators of the dataset.
#ifndef INPUTPIPE_ELEMENT_SPEC_H_
#define INPUTPIPE_ELEMENT_SPEC_H_

#include <string>
#include <vector>

#include "inputpipe/dataset.h"
#include "inputpipe/element.h"
#include "inputpipe/tensor.h"

namespace inputpipe {

inline constexpr int64_t kUnknownDim = -1;

struct ElementSpec {
  Element::Kind kind = Element::Kind::kTensor;
  // Tensors: the dtype and the shape (kUnknownDim for a dimension that varies; no shape at all
  // when rank_known is false).
  DType dtype = DType::kFloat32;
  Shape shape;
  bool rank_known = true;
  // Tuples and dicts: the items' specs (and the dict's keys, parallel to them). A dataset
  // element: one child, the nested dataset's element spec.
  std::vector<ElementSpec> children;
  std::vector<std::string> keys;

  static ElementSpec ForTensor(DType dtype, Shape shape);
  // The spec of `element` with its exact shapes; a nested dataset by ElementSpecOf.
  static ElementSpec Of(const Element& element);

  // "(int64[], {x: float32[?, 3]})", the notation of Element::StructureString with '?' for
  // unknown dimensions, "float32[*]" for an unknown rank and "dataset<spec>" for a dataset.
  std::string ToString() const;
  bool operator==(const ElementSpec& other) const;
  bool operator!=(const ElementSpec& other) const { return !(*this == other); }
};

// The spec of `dataset`'s elements (see the banner). Throws what producing the first element
// throws where the spec comes from it, and InvalidArgumentError naming the op when the dataset
// has no element to take it from.
ElementSpec ElementSpecOf(const Dataset& dataset);

// The most specific spec both `a` and `b` satisfy: equal dimensions kept, others unknown.
// REQUIRES: the same structure and dtypes (InvalidArgumentError naming `what` otherwise).
ElementSpec MostSpecificCommonSpec(const ElementSpec& a, const ElementSpec& b,
                                   const std::string& what);

// An op whose spec is not one of the rules of the banner implements this (beside its Dataset
// base), and ElementSpecOf asks it first: rebatch, scan.
class ElementSpecSource {
 public:
  virtual ~ElementSpecSource() = default;
  virtual ElementSpec StaticElementSpec() const = 0;
};

}  // namespace inputpipe

#endif  // INPUTPIPE_ELEMENT_SPEC_H_
