#include "ops/threading/worker_threads.h"

namespace inputpipe {

WorkerThreads::WorkerThreads(Mutex& mu, std::vector<CondVar*> wake)
    : mu_(mu), wake_(std::move(wake)) {}

WorkerThreads::~WorkerThreads() {
  Stop();
  for (std::thread& thread : threads_) thread.join();
}

void WorkerThreads::Start(int64_t n, std::function<void()> body) {
  for (int64_t i = 0; i < n; ++i) threads_.emplace_back([this, body] { Run(body); });
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
