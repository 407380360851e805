// WorkerThreads: the threads of one iterator (prefetch's producer, parallel_map's dispatcher and
// workers, parallel interleave's workers), started together, stopped and joined by the owner,
// with any exception that escapes a thread carried to the consumer.
//
//   Mutex mu_;
//   CondVar work_cv_, consumer_cv_;
//   std::deque<Item> queue_ GUARDED_BY(mu_);
//   WorkerThreads threads_{mu_, {&work_cv_, &consumer_cv_}};  // declared last: joined first
//
//   void Work() EXCLUDES(mu_) {             // each of threads_.Start(4, [this] { Work(); })
//     MutexLock lock(mu_);
//     while (!threads_.stopping()) {
//       if (nothing to do) { work_cv_.Wait(mu_); continue; }
//       ...
//     }
//   }
//   Item Take() EXCLUDES(mu_) {             // the consumer
//     MutexLock lock(mu_);
//     while (queue_.empty() && !threads_.stopping()) consumer_cv_.Wait(mu_);
//     threads_.RethrowIfFailed();           // a thread died: its exception, here
//     ...
//   }
//
// Stop() (and the destructor, and a thread whose body throws) sets stopping(), then takes `mu`
// and signals every condition variable named at construction, so that a wait loop that checks
// stopping() under `mu` cannot miss it. The destructor then joins every thread: declare the
// WorkerThreads after everything its threads touch, so that it is destroyed first. A thread
// waiting inside one of its inputs' GetNext (a prefetch's producer in the parallel map below)
// is not woken by this Stop: that wait (InterruptibleWait, core/interrupt.h) throws
// OwnerStopping within a poll interval instead, so the join never waits on an input. Errors a
// thread expects (a failed read, a failed call) are data for the consumer, paired with their
// element (paired_reader.h); RethrowIfFailed is for what nothing else catches.
//
// The owner's thread (the consumer's) calls Start, started and Stop; stopping() may be read
// anywhere. How a process-worker map would reuse this: paired_reader.h.
//
// Each thread is marked as the engine's and serves the iterators its starter served
// (inputpipe/thread_context.h: how the Python bindings tell an iterator's next() from its own
// map function). A destructor running on one of its own threads (a map function dropping the
// last owner of its iterator) cannot join that thread: it stops the others and parks it for
// good, leaking the owner, rather than std::terminate or a return into destroyed members.
#ifndef INPUTPIPE_OPS_THREADING_WORKER_THREADS_H_
#define INPUTPIPE_OPS_THREADING_WORKER_THREADS_H_

#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <thread>
#include <vector>

#include "util/mutex.h"

namespace inputpipe {

class WorkerThreads {
 public:
  // `mu`: the lock the threads' wait loops hold; `wake`: every condition variable a thread or
  // the consumer waits on. Both must outlive this object.
  WorkerThreads(Mutex& mu, std::vector<CondVar*> wake);
  // Stop(), then joins every thread.
  ~WorkerThreads();
  WorkerThreads(const WorkerThreads&) = delete;
  WorkerThreads& operator=(const WorkerThreads&) = delete;

  // Starts `n` threads running body(), serving what the calling thread serves; may be called
  // again for another kind of thread. REQUIRES: `mu` not held.
  void Start(int64_t n, std::function<void()> body);
  // Some thread was started.
  bool started() const { return !threads_.empty(); }

  // True once Stop() was called or a thread's body threw: every loop returns when it sees it.
  bool stopping() const { return stopping_.load(std::memory_order_acquire); }
  // Rethrows the first exception that escaped a thread's body; nothing if none did.
  void RethrowIfFailed() const EXCLUDES(error_mu_);
  // Sets stopping() and wakes every wait. REQUIRES: `mu` not held.
  void Stop();

 private:
  void Run(const std::function<void()>& body) EXCLUDES(error_mu_);

  Mutex& mu_;
  const std::vector<CondVar*> wake_;
  std::vector<std::thread> threads_;  // the owner's thread only
  std::atomic<bool> stopping_{false};
  mutable Mutex error_mu_;  // taken after `mu` (RethrowIfFailed under the op's lock), never before
  std::exception_ptr error_ GUARDED_BY(error_mu_);
};

}  // namespace inputpipe

#endif  // INPUTPIPE_OPS_THREADING_WORKER_THREADS_H_
