// Interrupting a wait: a thread that calls Iterator::GetNext or Iterator::Restore may install an
// interrupt check, which the engine calls while that thread waits, so that a wait that would
// block (a prefetch or parallel map whose element is slow, a long restore) can be abandoned.
//
//   std::atomic<bool> stop{false};                  // set by a signal handler, another thread
//   ScopedInterruptCheck interrupt([&] {
//     if (stop.load()) throw MyInterrupted();       // any exception: it leaves GetNext
//   });
//   std::optional<Element> e = it->GetNext();       // an element, or MyInterrupted ~20 ms
//                                                   // after `stop` is set
//   e = it->GetNext();                              // after an interrupt: the element that
//                                                   // was being waited for, nothing lost
//
// What calls the check: the consumer's waits of prefetch, parallel map and parallel interleave,
// about every kInterruptPollInterval while they wait (never while an element is ready), and
// every GetNext of a Restore (its replays) at most as often, and batch gathering a batch of 4096
// elements or more (at most as often, unless capturing its input's state costs over 50 us; what
// it gathered is kept, and the next GetNext goes on from it). Nothing else: a slow user function running on this thread, a slow read and other
// sequential ops are not interrupted inside.
//
// Losing nothing: a GetNext is interrupted only where no op of the pipeline has taken anything
// from an input during the current call, so an interrupted GetNext leaves the iterator where it
// was and the next GetNext returns the element that was being waited for. A wait nested under
// an op that already took an element in this call (batch's second element, zip's second input)
// does not call the check: that GetNext finishes first. Restore is always interruptible: an
// interrupted restore is a failed restore (the iterator must not be used; make a fresh one).
//
// Thread-safety: the check is installed for the calling thread only, for the scope's lifetime;
// it runs on that thread, with no engine lock held. Scopes nest (the inner one wins until it
// ends). The engine's own threads (prefetch's producer, map's workers) never call it; their
// waits end only when their own iterator is destroyed (inputpipe/thread_context.h).
#ifndef INPUTPIPE_INTERRUPT_H_
#define INPUTPIPE_INTERRUPT_H_

#include <chrono>
#include <functional>

namespace inputpipe {

// Returns to let the wait go on; throws to interrupt it (the exception leaves GetNext/Restore).
// Throw a type of your own, not an inputpipe::Error: ops that skip data errors (ignore_errors)
// catch those.
using InterruptCheck = std::function<void()>;

// How often a waiting GetNext or a Restore calls the check.
inline constexpr std::chrono::milliseconds kInterruptPollInterval{20};

class ScopedInterruptCheck {
 public:
  // An empty `check` installs nothing (the calls of this thread stay uninterruptible).
  explicit ScopedInterruptCheck(InterruptCheck check);
  ~ScopedInterruptCheck();
  ScopedInterruptCheck(const ScopedInterruptCheck&) = delete;
  ScopedInterruptCheck& operator=(const ScopedInterruptCheck&) = delete;

 private:
  InterruptCheck check_;
  // The thread's interrupt state before this scope (src/core/interrupt.h), restored on exit.
  const InterruptCheck* previous_check_;
  unsigned char previous_flags_;
};

}  // namespace inputpipe

#endif  // INPUTPIPE_INTERRUPT_H_
