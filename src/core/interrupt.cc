#include "core/interrupt.h"

#include <utility>

#include "core/op_stats.h"

namespace inputpipe {

namespace interrupt_internal {

constinit thread_local ThreadState thread_state;

void PollWhenDue(ThreadState& state) {
  const auto now = std::chrono::steady_clock::now();
  if (now < state.next_poll) return;
  state.next_poll = now + kInterruptPollInterval;
  CallCheck(state);
}

void CallCheck(ThreadState& state) {
  try {
    (*state.check)();
  } catch (...) {
    state.interrupted = true;
    throw;
  }
}

}  // namespace interrupt_internal

using interrupt_internal::thread_state;

void PollInterruptCheck() {
  if (thread_state.check != nullptr) interrupt_internal::PollWhenDue(thread_state);
}

ScopedInterruptCheck::ScopedInterruptCheck(InterruptCheck check)
    : check_(std::move(check)),
      previous_check_(thread_state.check),
      previous_flags_(thread_state.flags) {
  if (!check_) return;
  thread_state.check = &check_;
  // A fresh top-level frame: an enclosing GetNext (this scope opened inside a user function)
  // is another pipeline's; its frames are restored on exit.
  thread_state.flags = interrupt_internal::kScope;
  thread_state.next_poll = {};
}

ScopedInterruptCheck::~ScopedInterruptCheck() {
  thread_state.check = previous_check_;
  thread_state.flags = previous_flags_;
}

const char* OwnerStopping::what() const noexcept {
  return "the iterator this engine thread works for is being destroyed";
}

void InterruptibleWait::Wait(CondVar& cv, Mutex& mu) {
  // An op waiting for its own threads: the time is its inputs', not its own (OpStats::seconds).
  stats_internal::ExcludedFromOwnTime waiting;
  if (!enabled_ && owner_stopping_ == nullptr) {
    cv.Wait(mu);
    return;
  }
  if (owner_stopping_ != nullptr && owner_stopping_->load(std::memory_order_acquire)) {
    throw OwnerStopping();
  }
  const auto now = std::chrono::steady_clock::now();
  if (deadline_ == std::chrono::steady_clock::time_point{}) {
    deadline_ = now + kInterruptPollInterval;
  }
  if (now < deadline_ && cv.WaitUntil(mu, deadline_)) return;  // woken: the caller looks again
  deadline_ = std::chrono::steady_clock::now() + kInterruptPollInterval;
  if (!enabled_) return;  // an engine thread: the caller looks again, and the next Wait checks
  // Without the op's lock: the check may take a lock of its own (Python's GIL) that a thread of
  // the op holds while it waits for `mu`.
  MutexUnlock unlock(mu);
  interrupt_internal::CallCheck(thread_state);
}

}  // namespace inputpipe
