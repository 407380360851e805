// Moving an input iterator past elements without producing them: what skip(n) asks of its
// input, and what a parallel map whose worker processes compute its input asks (parallel_map.cc,
// Iterator::Skip). An iterator that can do it without reading the elements implements
// ElementSkipper: a random-access source seeks (its state is one index), global shuffle moves
// its position, and map (unless declared stateful), enumerate, zip, take and skip move their
// inputs without calling a function; every other iterator reads and drops them.
//
//   // skip(count)'s iterator, before its first element:
//   int64_t skipped = SkipElements(*input_, count);
//   if (skipped < count) return ExhaustInput();  // the input ended inside the prefix
//
// Either way the input's state afterwards is byte for byte what `n` GetNext calls leave, so a
// state saved after a seek restores into a build that steps (tests/python/test_golden_states.py)
// -- where none of the elements would have failed to read. Where one would have, the two modes
// differ (SkipMode).
#ifndef INPUTPIPE_CORE_ELEMENT_SKIP_H_
#define INPUTPIPE_CORE_ELEMENT_SKIP_H_

#include <cstdint>

#include "core/interrupt.h"
#include "inputpipe/dataset.h"

namespace inputpipe {

// What a skip must leave where an element moved past would have failed to read (a source's
// __getitem__ raising, a map's function throwing).
enum class SkipMode {
  // skip(n)'s: elements moved past are not read where the ops can avoid it, so such a failure
  // does not happen; an op whose own count would have left the failed read out (take's count,
  // enumerate's index, zip's other inputs) counts it as an element.
  kUnread,
  // The state n GetNext calls leave, failures included (a failed read counts as one of the n,
  // as a GetNext that threw): the parent of worker processes that compute map's input, whose
  // positions must be theirs. Only ops whose position moves the same whether or not an element
  // fails seek (sources, global shuffle, map, skip, zip of one input, of them); take,
  // enumerate and zip of several inputs read.
  kExact,
};

class ElementSkipper {
 public:
  // Moves past the next `n` elements (n >= 0) and returns how many it moved past: fewer than
  // n only when the sequence ended, the iterator then being as after GetNext returned the end.
  // Elements moved past are not produced: a source's read of them (a from_source __getitem__,
  // its errors) does not happen. Called only with a mode Seeks() accepts. REQUIRES: the
  // iterator is an op's input (never a top-level iterator, which may forward to a fresh one
  // after a failed Restore).
  virtual int64_t SkipElements(int64_t n, SkipMode mode) = 0;
  // Whether SkipElements keeps `mode`'s promise; else SkipElements (the function) reads.
  virtual bool Seeks(SkipMode mode) const { return true; }

 protected:
  ~ElementSkipper() = default;
};

// Moves `it` past its next `n` elements: seeks where it is an ElementSkipper that Seeks(mode),
// else reads and drops them (a read that fails throws, as GetNext does). Returns how many it
// moved past (as ElementSkipper::SkipElements).
inline int64_t SkipElements(Iterator& it, int64_t n, SkipMode mode = SkipMode::kUnread) {
  if (n <= 0) return 0;
  if (auto* skipper = dynamic_cast<ElementSkipper*>(&it); skipper && skipper->Seeks(mode)) {
    return skipper->SkipElements(n, mode);
  }
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
