// Moving an input iterator past elements without producing them: what skip(n) asks of its
// input, and what a parallel map whose worker processes compute its input asks (parallel_map.cc).
// An iterator that can do it without reading the elements implements ElementSkipper: a
// random-access source seeks (its state is one index), global shuffle moves its position, and
// map (unless declared stateful), enumerate, zip, take and skip move their inputs without
// calling a function; every other iterator reads and drops them.
//
//   // skip(count)'s iterator, before its first element:
//   int64_t skipped = SkipElements(*input_, count);
//   if (skipped < count) return ExhaustInput();  // the input ended inside the prefix
//
// Either way the input's state afterwards is byte for byte what `n` GetNext calls leave, so a
// state saved after a seek restores into a build that steps (tests/python/test_golden_states.py).
#ifndef INPUTPIPE_CORE_ELEMENT_SKIP_H_
#define INPUTPIPE_CORE_ELEMENT_SKIP_H_

#include <cstdint>

#include "core/interrupt.h"
#include "inputpipe/dataset.h"

namespace inputpipe {

class ElementSkipper {
 public:
  // Moves past the next `n` elements (n >= 0) and returns how many it moved past: fewer than
  // n only when the sequence ended, the iterator then being as after GetNext returned the end.
  // Elements moved past are not produced: a source's read of them (a from_source __getitem__,
  // its errors) does not happen. REQUIRES: the iterator is an op's input (never a top-level
  // iterator, which may forward to a fresh one after a failed Restore).
  virtual int64_t SkipElements(int64_t n) = 0;

 protected:
  ~ElementSkipper() = default;
};

// Moves `it` past its next `n` elements: seeks where it is an ElementSkipper, else reads and
// drops them. Returns how many it moved past (as ElementSkipper::SkipElements).
inline int64_t SkipElements(Iterator& it, int64_t n) {
  if (n <= 0) return 0;
  if (auto* skipper = dynamic_cast<ElementSkipper*>(&it)) return skipper->SkipElements(n);
  // A dropped element is nobody's: the caller's frame stays as interruptible as it was before
  // the first one (core/interrupt.h), so a wait inside a later read can still be interrupted.
  unsigned char& flags = interrupt_internal::thread_state.flags;
  const unsigned char took = flags & interrupt_internal::kTook;
  for (int64_t i = 0; i < n; ++i) {
    if (!it.GetNext()) return i;
    flags = static_cast<unsigned char>((flags & ~interrupt_internal::kTook) | took);
  }
  return n;
}

}  // namespace inputpipe

#endif  // INPUTPIPE_CORE_ELEMENT_SKIP_H_
