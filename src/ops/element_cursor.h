// The input side of an op that emits several elements from one input element across calls,
// shared by flat_map and unbatch: the input iterator plus its state captured *before* the
// element being expanded, so that a save inside that element restores by re-reading it.
//
// State keys (the op adds its position inside the element): `exhausted` once the input has
// ended; `inside_element`; `input`: the state before the element while inside one, else the
// input's current state.
#ifndef INPUTPIPE_OPS_ELEMENT_CURSOR_H_
#define INPUTPIPE_OPS_ELEMENT_CURSOR_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "inputpipe/dataset.h"

namespace inputpipe {

class ElementCursor {
 public:
  explicit ElementCursor(std::unique_ptr<Iterator> input) : input_(std::move(input)) {}

  // The next input element, remembering the input's state before it; std::nullopt from the
  // input's end on.
  std::optional<Element> Next() {
    if (!input_) return std::nullopt;
    StateNode before = input_->SaveNode();
    std::optional<Element> element = input_->GetNext();
    if (!element) {
      input_.reset();
      return std::nullopt;
    }
    before_ = std::move(before);
    return element;
  }

  // `inside`: the op has more to emit from the element Next() returned last.
  void Save(StateWriter& w, bool inside) {
    w.WriteBool(kExhausted, !input_);
    w.WriteBool(kInsideElement, inside);
    if (inside) {
      w.WriteChildNode(kInput, before_);
    } else if (input_) {
      w.WriteChild(kInput, *input_);
    }
  }

  // The element the op was inside at the save, read again; std::nullopt when it was not
  // inside one. `op` names the op in the error for a state whose element is gone.
  std::optional<Element> Restore(StateReader& r, std::string_view op) {
    if (r.ReadBool(kExhausted)) {
      input_.reset();
      return std::nullopt;
    }
    if (!r.ReadBool(kInsideElement)) {
      r.RestoreChild(kInput, *input_);
      return std::nullopt;
    }
    before_ = r.ChildNode(kInput);
    input_->RestoreNode(before_);
    std::optional<Element> element = input_->GetNext();
    if (!element) {
      throw DataLossError(std::string(op) + ": the input ended where the state expects an element");
    }
    return element;
  }

 private:
  static constexpr char kExhausted[] = "exhausted";
  static constexpr char kInsideElement[] = "inside_element";
  static constexpr char kInput[] = "input";

  std::unique_ptr<Iterator> input_;  // null once exhausted
  StateNode before_;                 // input state before the element Next() returned last
};

}  // namespace inputpipe

#endif  // INPUTPIPE_OPS_ELEMENT_CURSOR_H_
