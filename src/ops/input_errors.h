// InputErrorLog: where an op's input raised the errors that reached the consumer, for the ops
// that restore by re-reading their input from an anchor (shuffle, window, group_by_window).
//
// A consumer may catch an error and go on (the readers move past a bad record; map drops the
// element whose fn raised). A restore that re-reads the input from an anchor meets that error
// again: the log says it was raised there in the live run, so the replay skips it and
// reproduces what the live run then yielded. An error the live run did not raise still fails
// the restore, and so does a listed data error that does not happen again (the input changed).
//
//   // live: every read of the input goes through the log
//   std::optional<Element> e = errors_.Read(*input_, read_);   // an error: noted, rethrown
//   errors_.DropBefore(oldest_anchor);                         // keeps it small
//   // save: the errors after the anchor node was captured
//   errors_.Save(w, /*from=*/anchor);
//   // restore: list them again, then re-read through Replay
//   errors_.Restore(r, anchor, read_, dataset());
//   for (int64_t p = anchor; p < read_; ++p) e = errors_.Replay(*input_, p, dataset());
//   errors_.ReplayTrailing(*input_, read_, dataset());        // the errors after the last read
//
// Positions are the op's own read count: an error "at p" was raised by a read attempt after p
// elements had been read. Every error is listed, with its kind:
// - a data error (DataLossError, InvalidArgumentError, IOError: those ignore_errors skips) is
//   raised for a bad record the input has moved past: the replay must meet it again, else the
//   input changed since the save and the restore fails (DataLossError, "replay diverged");
// - any other exception (a user function's own, e.g. a Python exception from map's fn; an
//   interrupt, which takes nothing from the input) is skipped where it happens again and
//   passed over where it does not. Those raised after the last element read before the save
//   are not re-read by the restore (an interrupt may not happen again, and a read that
//   succeeds must not be taken at restore time): the first live read after it skips them where
//   they happen again.
// An error the replay meets where none is listed (a transient EIO during the restore) fails the
// restore with its own type, its message prefixed with "replay diverged" and the op.
//
// State: `input_errors` (bytes, written only when there is one): varint count, then per error
// varint((gap << 1) | other), the gap from the previous position (the first from `from`),
// other = 1 when it is not a data error. At most kMaxInputErrors are kept; past that the log
// stops noting, and a save whose span holds one not noted writes `input_errors_lost` = 1, which
// its restore rejects (DataLossError) rather than diverge. A state without either key (every
// state saved before this log existed) lists none.
#ifndef INPUTPIPE_OPS_INPUT_ERRORS_H_
#define INPUTPIPE_OPS_INPUT_ERRORS_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "inputpipe/dataset.h"

namespace inputpipe {

class InputErrorLog {
 public:
  // Errors kept between anchors: ample for a few bad records per buffer, and it bounds the
  // state and the memory when every element fails.
  static constexpr int64_t kMaxInputErrors = 4096;

  // A live read: input.GetNext(), the op having read `position` elements. An error is noted
  // at `position` and rethrown.
  // Inline: it is on every read of the ops' hot paths.
  std::optional<Element> Read(Iterator& input, int64_t position) {
    while (true) {
      try {
        std::optional<Element> element = input.GetNext();
        pending_others_ = 0;  // those a restore left to meet did not happen again: passed over
        return element;
      } catch (...) {
        if (pending_others_ > 0 && SkipPendingOther(position)) continue;
        NoteCurrent(position);
        throw;
      }
    }
  }

  // Forgets the errors before `position`: no save needs them any more.
  void DropBefore(int64_t position);

  // Writes the errors at `from` and after (none: writes nothing).
  void Save(StateWriter& w, int64_t from) const;

  // Lists a state's errors for the replay; each must lie in [from, to]. Corrupt bytes, or a
  // state that lost some: DataLossError naming `op`.
  void Restore(const StateReader& r, int64_t from, int64_t to, const Dataset& op);

  // Re-reads the element at `position` during a restore. A listed error at `position` is
  // skipped; any other error is rethrown with its type and "replay diverged" naming `op`; an
  // element read while a listed data error before it was not met is a DataLossError. `before`, when
  // given, gets the input's state just before the read that succeeded (after the skipped
  // errors), as a live read would have captured it.
  std::optional<Element> Replay(Iterator& input, int64_t position, const Dataset& op,
                                StateNode* before = nullptr);

  // Meets again the data errors listed at `position` (after the last element read), which the
  // live run had moved past: each read must raise one. Then every listed error must be met.
  // The other errors listed there are left to the next live Read at `position`: one that
  // happens again there is skipped (the consumer skipped it before the save), so that neither
  // the consumer nor an op above re-reading its current element meets it twice.
  void ReplayTrailing(Iterator& input, int64_t position, const Dataset& op);

  // Ends a replay that stops before the listed errors after it (the input had ended: nothing
  // reads it again); they stay listed for the next save.
  void EndReplay() { next_ = errors_.size(); }

  // No error noted or listed.
  bool empty() const { return errors_.empty(); }
  // The position of the last error listed by a restore. REQUIRES: !empty().
  int64_t last() const { return errors_.back().position; }

 private:
  struct Listed {
    int64_t position;
    bool data;  // a data error (else a user function's exception, an interrupt, ...)
  };

  // Errors listed by a restore and not met again yet.
  bool replaying() const { return next_ < errors_.size(); }
  // REQUIRES: an exception is being handled: notes it at `position`.
  void NoteCurrent(int64_t position);
  // REQUIRES: an exception is being handled. True when it is one of the other errors a restore
  // left to meet at `position` (ReplayTrailing): it is skipped, still listed for a save.
  bool SkipPendingOther(int64_t position);
  std::vector<Listed>::const_iterator From(int64_t position) const;

  std::vector<Listed> errors_;  // position non-decreasing
  size_t next_ = 0;             // errors_[next_ ..] are listed and not met again yet
  int64_t last_lost_ = -1;      // the position of the last error not noted (the cap)
  int64_t pending_others_ = 0;  // other errors ReplayTrailing left to meet, at pending_at_
  int64_t pending_at_ = -1;
};

}  // namespace inputpipe

#endif  // INPUTPIPE_OPS_INPUT_ERRORS_H_
