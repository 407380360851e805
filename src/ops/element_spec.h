// The element spec check of the ops that mix several inputs into one stream
// (choose_from_datasets, sample_from_datasets): every input must produce the same structure
// and, leaf by leaf, the same dtype (shapes may differ), as concatenate requires and as
// tf.data's static element specs enforce.
//
// There are no static specs here, so the check is made where it can be: on element 0 of the
// random-access inputs when the op is made (CheckRandomAccessInputSpecs), and on the first
// element each input produces (InputSpecChecker, in the iterator). The checker holds no data
// (a skeleton of the first element: structure and dtypes) and is not part of the state.
//
//   CheckRandomAccessInputSpecs(inputs, "sample_from_datasets");   // at creation
//   InputSpecChecker specs_("sample_from_datasets", inputs.size());  // per iterator
//   specs_.Check(i, *element);                                     // before returning it
#ifndef INPUTPIPE_OPS_ELEMENT_SPEC_H_
#define INPUTPIPE_OPS_ELEMENT_SPEC_H_

#include <optional>
#include <string>
#include <vector>

#include "inputpipe/dataset.h"
#include "inputpipe/element.h"
#include "inputpipe/element_spec.h"
#include "inputpipe/errors.h"

namespace inputpipe {

// The spec of one row of elements of `spec`: unbatch's, and from_tensor_slices' of its
// element's spec. Each tensor loses its first dimension; a ragged value's row is a slice of its
// values (a tensor of unknown length, or a ragged value of unknown rows). Throws
// InvalidArgumentError naming `ds` for a scalar component.
ElementSpec UnbatchSpec(const ElementSpec& spec, const Dataset& ds);

// Same structure and, leaf by leaf, the same dtype (or both datasets).
inline bool SameElementSpec(const Element& a, const Element& b) {
  if (!a.SameStructure(b)) return false;
  std::vector<Element> la = a.FlattenLeaves(), lb = b.FlattenLeaves();
  for (size_t i = 0; i < la.size(); ++i) {
    if (la[i].is_dataset() != lb[i].is_dataset()) return false;
    if (la[i].is_tensor() && la[i].tensor().dtype() != lb[i].tensor().dtype()) return false;
  }
  return true;
}

[[noreturn]] inline void ThrowSpecMismatch(const std::string& op, size_t a, const std::string& sa,
                                           size_t b, const std::string& sb) {
  throw InvalidArgumentError(op +
                             ": the inputs have incompatible element structures or dtypes: "
                             "datasets[" + std::to_string(a) + "] has " + sa + ", datasets[" +
                             std::to_string(b) + "] has " + sb);
}

// Checks element 0 of every random-access, non-empty input against the first such input.
inline void CheckRandomAccessInputSpecs(const std::vector<DatasetPtr>& inputs,
                                        const std::string& op) {
  std::optional<Element> first;
  size_t first_index = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i]->IsRandomAccess() || inputs[i]->Cardinality() <= 0) continue;
    Element e;
    try {
      e = inputs[i]->Get(0);
    } catch (const Error&) {
      continue;  // a bad element 0 is the iterator's to report (ignore_errors may skip it)
    }
    if (!first) {
      first = std::move(e);
      first_index = i;
    } else if (!SameElementSpec(*first, e)) {
      ThrowSpecMismatch(op, first_index, first->StructureString(), i, e.StructureString());
    }
  }
}

class InputSpecChecker {
 public:
  InputSpecChecker(std::string op, size_t num_inputs)
      : op_(std::move(op)), checked_(num_inputs, false) {}

  // Throws InvalidArgumentError when `element`, the first one of input `input`, does not
  // match the first element of the stream; later elements of a checked input are not looked
  // at (an input's elements share one spec, as in tf.data).
  void Check(size_t input, const Element& element) {
    if (checked_[input]) return;
    if (!reference_) {
      reference_ =
          element.MapTensors([](const Tensor& t) { return Tensor::Allocate(t.dtype(), {0}); });
      reference_text_ = element.StructureString();
      reference_input_ = input;
    } else if (!SameElementSpec(*reference_, element)) {
      ThrowSpecMismatch(op_, reference_input_, reference_text_, input, element.StructureString());
    }
    checked_[input] = true;
  }

 private:
  const std::string op_;
  std::vector<bool> checked_;
  std::optional<Element> reference_;  // structure and dtypes of the stream's first element
  std::string reference_text_;
  size_t reference_input_ = 0;
};

}  // namespace inputpipe

#endif  // INPUTPIPE_OPS_ELEMENT_SPEC_H_
