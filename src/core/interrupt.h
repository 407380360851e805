// The engine's side of include/inputpipe/interrupt.h: where an installed interrupt check may be
// called, and the per-thread bookkeeping that decides when calling it loses nothing.
//
//   // A consumer's wait in a threaded op: the check runs every kInterruptPollInterval while
//   // the wait lasts, without `mu_`, and its exception leaves with nothing taken yet.
//   InterruptibleWait wait;                          // before the lock: reads this thread's frame
//   MutexLock lock(mu_);
//   while (buffer_.empty() && !threads_.stopping()) wait.Wait(consumer_cv_, mu_);
//   ... take buffer_.front() ...                     // only after the loop
//
// The rule, kept by Iterator::GetNext on a thread that has a check installed: each GetNext call
// is a frame; a frame is interruptible when its parent frame is and the parent has not yet
// received an element from any input during its own current call. So the top-level call is
// interruptible, and so is the chain under it down to the first op that has taken something
// (batch after its first element, zip after its first input, filter after a rejected element):
// below that, waits are not interrupted and the call finishes. Nothing an op took is then ever
// dropped by an interrupt, whatever the op, without auditing each op. An op whose taken
// elements live in its members (interleave's open slots) may say so (MarkInputsKept) to keep
// its later waits interruptible. During Iterator::Restore every frame is interruptible (an
// interrupted restore fails as a whole) and each GetNext polls the check.
//
// Cost: without a check installed (C++ users, the engine's threads) GetNext reads one
// thread-local pointer; with one, it also saves and restores one thread-local byte.
#ifndef INPUTPIPE_CORE_INTERRUPT_H_
#define INPUTPIPE_CORE_INTERRUPT_H_

#include <atomic>
#include <chrono>
#include <exception>

#include "inputpipe/interrupt.h"
#include "util/mutex.h"

namespace inputpipe {

namespace interrupt_internal {

// Bits of ThreadState::flags.
inline constexpr unsigned char kInterruptible = 1;  // the current frame may be interrupted
inline constexpr unsigned char kTook = 2;  // the current frame received an element from an input
inline constexpr unsigned char kRestoring = 4;  // inside Iterator::Restore
// The scope's own level, the caller of the top-level GetNext: each of its calls is a fresh
// top-level call, whatever the previous ones returned.
inline constexpr unsigned char kScope = 8;

struct ThreadState {
  const InterruptCheck* check = nullptr;  // the innermost ScopedInterruptCheck's, or null
  // On an engine thread, its WorkerThreads' stopping flag (OwnerStopping below); else null.
  const std::atomic<bool>* owner_stopping = nullptr;
  unsigned char flags = 0;
  std::chrono::steady_clock::time_point next_poll{};  // Restore's polling
  // Set when the check threw on this thread (CallCheck): an op that counts a failed read as a
  // position (map) clears it before the read, and does not count one the check interrupted
  // (nothing was read: the next call reads that element).
  bool interrupted = false;
};

extern constinit thread_local ThreadState thread_state;

// The flags of a GetNext frame entered under a frame with `parent` flags.
inline unsigned char ChildFlags(unsigned char parent) {
  if (parent & kRestoring) return kRestoring | kInterruptible;
  if (parent & kScope) return kInterruptible;
  return parent == kInterruptible ? kInterruptible : 0;
}

// Calls the check when the poll interval has passed since the last poll (Restore's GetNexts,
// PollInterruptCheck).
void PollWhenDue(ThreadState& state);
// Calls the installed check, setting state.interrupted when it throws. REQUIRES: state.check.
void CallCheck(ThreadState& state);

}  // namespace interrupt_internal

// Thrown by a wait on an engine thread whose own threads are being stopped (its iterator is
// being destroyed): that thread's call of an input's GetNext (a prefetch's producer waiting in
// the parallel map below it) leaves, so that its owner can join it, although the wait's own op
// is not being stopped. Every wait, whatever was taken: what the thread read is dropped with
// its iterator. Not an inputpipe::Error, so that nothing skipping data errors (ignore_errors)
// takes it for one and reads again.
class OwnerStopping : public std::exception {
 public:
  const char* what() const noexcept override;
};

// Marks the calling thread, for its whole life, as one of the threads `stopping` tells to
// stop (WorkerThreads::stopping()).
inline void SetOwnerStopping(const std::atomic<bool>* stopping) {
  interrupt_internal::thread_state.owner_stopping = stopping;
}

// True on an engine thread whose threads are being stopped (inputpipe/thread_context.h).
inline bool OwnerStoppingNow() {
  const std::atomic<bool>* stopping = interrupt_internal::thread_state.owner_stopping;
  return stopping != nullptr && stopping->load(std::memory_order_acquire);
}

// True when the calling thread's current GetNext (or Restore) may be interrupted now.
inline bool InterruptionAllowed() {
  const interrupt_internal::ThreadState& s = interrupt_internal::thread_state;
  if (s.check == nullptr) return false;
  return (s.flags & interrupt_internal::kRestoring) ||
         s.flags == interrupt_internal::kInterruptible;
}

// For an op's long loop on the consumer's thread (batch gathering 10**7 elements) whose GetNext
// was interruptible when it began (InterruptionAllowed() then) and that keeps what it took in
// its members: calls the check when a poll interval has passed since the last poll. Its
// exception is the interrupt: the op rethrows it with what it took kept for the next call.
void PollInterruptCheck();

// The current GetNext holds elements an earlier, interrupted call of the op took (kept in its
// members): from here on its inputs' waits are not interrupted, as after a first element.
inline void MarkInputsTaken() {
  interrupt_internal::thread_state.flags |= interrupt_internal::kTook;
}

// The current GetNext's elements taken so far are kept in the op's members, so an interrupt from
// here on loses none of them: its later waits (and its inputs' calls) become interruptible again
// if the call was.
inline void MarkInputsKept() {
  interrupt_internal::thread_state.flags &= static_cast<unsigned char>(~interrupt_internal::kTook);
}

// Iterator::Restore's scope: every GetNext under it is interruptible and polls the check.
class RestoreInterruptScope {
 public:
  RestoreInterruptScope() : saved_(interrupt_internal::thread_state.flags) {
    interrupt_internal::thread_state.flags =
        interrupt_internal::kRestoring | interrupt_internal::kInterruptible;
  }
  ~RestoreInterruptScope() { interrupt_internal::thread_state.flags = saved_; }
  RestoreInterruptScope(const RestoreInterruptScope&) = delete;
  RestoreInterruptScope& operator=(const RestoreInterruptScope&) = delete;

 private:
  unsigned char saved_;
};

// One wait loop's waits (see the banner). Whether the loop may be interrupted is read once, at
// construction, on the consumer's thread; on an engine thread it is never interrupted, but it
// throws OwnerStopping once that thread's owner stops it.
class InterruptibleWait {
 public:
  InterruptibleWait()
      : enabled_(InterruptionAllowed()),
        owner_stopping_(interrupt_internal::thread_state.owner_stopping) {}
  InterruptibleWait(const InterruptibleWait&) = delete;
  InterruptibleWait& operator=(const InterruptibleWait&) = delete;

  // cv.Wait(mu), but calling the check (with `mu` released) each time the loop has waited a
  // poll interval; the check's exception leaves with `mu` held, as the caller's lock expects.
  // On an engine thread, throws OwnerStopping (with `mu` held) once its owner stops it.
  void Wait(CondVar& cv, Mutex& mu) REQUIRES(mu);

 private:
  const bool enabled_;
  const std::atomic<bool>* const owner_stopping_;
  std::chrono::steady_clock::time_point deadline_{};
};

}  // namespace inputpipe

#endif  // INPUTPIPE_CORE_INTERRUPT_H_
