// The producer side of every threaded op (prefetch, parallel_map, parallel interleave): a reader
// that pairs each element it reads with the input's state captured right after it.
//
//   PairedReader reader(*input_);                 // on the consumer's thread, before the threads
//   ...                                           // then on one producer thread at a time:
//   PairedElement item = reader.Read();
//   if (item.end()) ...                           // the input ended
//   Publish(std::move(item));                     // element (or error) + item.state
//   ...                                           // the consumer, when it takes the item:
//   last_taken_state_ = item.state;               // what its Save() reports: never waits
//
// The invariant of docs/reorder.md: a save reports the state paired with the last element the
// CONSUMER took, and never waits for a producer. The pairing is done here, once: the state is
// captured without any lock, on the producer's thread, right after the read; a failed read
// carries its exception and the input's state after the failure (the consumer rethrows it at
// the element's place and the next read continues after it, as in the sequential ops); when the
// input cannot report a state after a failure, the state after the previous element stands.
//
// Worker processes (not built yet): the parent process keeps the order and the consumer's
// position, the workers only compute. A process-worker map over a streaming input reuses this
// reader as is in the parent (read, pair, ship element i to a worker, re-order the results by
// i, report the state paired with the last result taken), WorkerThreads (worker_threads.h) for
// the parent's dispatcher and collector threads, and PositionBitmap (position_bitmap.h) for the
// "delivered ahead" set when it delivers out of order: its state can then be parallel_map's,
// byte for byte, so a state restores with 0, 2 or 32 workers. Over a random-access input the
// parent hands out indices instead and needs no reader (the state: the next index taken). The
// piece to extract next for it is parallel_map's window (in-flight slots in input order, the
// base state, the delivered-ahead set). Rank splitting plugs in at the same place: a reader
// over a rank's share of the input is still a reader of an Iterator.
//
// Thread-safety: one thread at a time (a handover through a mutex, as interleave's slots do).
#ifndef INPUTPIPE_OPS_THREADING_PAIRED_READER_H_
#define INPUTPIPE_OPS_THREADING_PAIRED_READER_H_

#include <exception>
#include <memory>
#include <optional>

#include "inputpipe/dataset.h"

namespace inputpipe {

// One read: an element or an error, and the input's state right after it.
struct PairedElement {
  std::optional<Element> element;  // empty at the end of the input and on an error
  std::exception_ptr error;        // the read threw: rethrown to the consumer at this place
  // The input's state right after this read (at the end: after the last element). Shared:
  // saves copy the pointer, not the tree.
  std::shared_ptr<const StateNode> state;

  bool end() const { return !element && !error; }
};

class PairedReader {
 public:
  PairedReader() = default;
  // Reads `input` (not owned; it must outlive the reader). The state before the first read is
  // `initial` (a restored state, as saved) or, when null, the input's state now.
  explicit PairedReader(Iterator& input, std::shared_ptr<const StateNode> initial = nullptr);

  PairedElement Read();
  // As Read, moving past the element without producing it where the input can
  // (core/element_skip.h): `element` is then an empty tuple.
  PairedElement Skip();

  // The state after the last read (`initial` before any).
  const std::shared_ptr<const StateNode>& last_state() const { return last_state_; }

 private:
  PairedElement ReadOrSkip(bool skip);

  Iterator* input_ = nullptr;
  std::shared_ptr<const StateNode> last_state_;
};

}  // namespace inputpipe

#endif  // INPUTPIPE_OPS_THREADING_PAIRED_READER_H_
