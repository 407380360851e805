#include "ops/threading/worker_threads.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "core/interrupt.h"
#include "core/options_context.h"
#include "inputpipe/thread_context.h"

namespace inputpipe {

namespace {

// The iterators the calling thread serves, innermost last (thread_context.h), and whether the
// engine started it. A worker copies its starter's list once, when it starts.
thread_local std::vector<uint64_t> serving;
thread_local bool engine_thread = false;

// The destructor of a WorkerThreads running on one of its own threads (a map function that
// dropped the last owner of its iterator): that thread cannot join itself (EDEADLK, which
// std::thread::join throws, out of a destructor: std::terminate), and returning would run the
// op's loop over destroyed members. So the thread stops here for good and the iterator leaks
// (reachable from this thread's stack: not a leak to LeakSanitizer).
[[noreturn]] void ParkForever() {
  std::fputs(
      "inputpipe: an iterator was destroyed on one of its own worker threads (did a map "
      "function drop its last owner?); the thread cannot join itself, so it stops here and the "
      "iterator is leaked. Destroy an iterator on another thread.\n",
      stderr);
  for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
}

}  // namespace

bool OnEngineThread() { return engine_thread; }

bool EngineThreadStopping() { return OwnerStoppingNow(); }

bool IsServing(uint64_t id) {
  return std::find(serving.begin(), serving.end(), id) != serving.end();
}

ServingScope::ServingScope(uint64_t id) { serving.push_back(id); }
ServingScope::~ServingScope() { serving.pop_back(); }

WorkerThreads::WorkerThreads(Mutex& mu, std::vector<CondVar*> wake)
    : mu_(mu), wake_(std::move(wake)) {}

WorkerThreads::~WorkerThreads() {
  Stop();
  const std::thread::id self = std::this_thread::get_id();
  bool on_own_thread = false;
  for (std::thread& thread : threads_) {
    if (thread.get_id() == self) {
      on_own_thread = true;
    } else {
      thread.join();
    }
  }
  if (on_own_thread) ParkForever();  // after the others are joined: no thread is left unjoined
}

void WorkerThreads::Start(int64_t n, std::function<void()> body) {
  const std::vector<uint64_t>& served = serving;  // the starter's: copied into each thread
  // The options in force for the starter (core/options_context.h): the iterators the threads
  // make (the next epoch under a prefetch) see them too.
  std::shared_ptr<const Options> options = CurrentOptionsPtr();
  for (int64_t i = 0; i < n; ++i) {
    threads_.emplace_back([this, body, served, options] {
      engine_thread = true;
      serving = served;
      SetOwnerStopping(&stopping_);  // its waits in its inputs end when this owner stops
      OptionsScope scope(options);
      Run(body);
    });
  }
}

void WorkerThreads::Run(const std::function<void()>& body) {
  try {
    body();
  } catch (...) {
    {
      MutexLock lock(error_mu_);
      if (!error_) error_ = std::current_exception();
      // Inside the section, after the error: whoever sees the error sees stopping(), and
      // whoever sees stopping() set by a failure finds the error.
      stopping_.store(true, std::memory_order_release);
    }
    Stop();  // the other threads return, the consumer wakes and rethrows
  }
}

void WorkerThreads::RethrowIfFailed() const {
  std::exception_ptr error;
  {
    MutexLock lock(error_mu_);
    error = error_;
  }
  if (error) std::rethrow_exception(error);
}

void WorkerThreads::Stop() {
  stopping_.store(true, std::memory_order_release);
  // A waiter checked stopping() under mu_ and is about to wait: taking mu_ here orders this
  // signal after its wait began, so it cannot be lost.
  { MutexLock lock(mu_); }
  for (CondVar* cv : wake_) cv->SignalAll();
}

}  // namespace inputpipe
