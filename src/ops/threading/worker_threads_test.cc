// WorkerThreads: stop wakes every wait, the destructor joins, an escaped exception reaches the
// consumer's wait loop.
#include "ops/threading/worker_threads.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <thread>

#include "inputpipe/thread_context.h"

namespace inputpipe {
namespace {

// A queue of ints filled by worker threads until stopped: the shape of every threaded op.
class Squares {
 public:
  // Each worker pushes next_*next_ until `limit` values are queued, then waits for room.
  explicit Squares(int64_t limit, int64_t fail_at = -1) : limit_(limit), fail_at_(fail_at) {}

  void Start(int64_t n) {
    threads_.Start(n, [this] { Work(); });
  }
  int64_t Take() EXCLUDES(mu_) {
    MutexLock lock(mu_);
    while (queue_.empty() && !threads_.stopping()) consumer_cv_.Wait(mu_);
    threads_.RethrowIfFailed();
    int64_t value = queue_.front();
    queue_.erase(queue_.begin());
    work_cv_.Signal();
    return value;
  }
  int64_t waiting() EXCLUDES(mu_) {
    MutexLock lock(mu_);
    return waiting_;
  }
  WorkerThreads& threads() { return threads_; }

 private:
  void Work() EXCLUDES(mu_) {
    MutexLock lock(mu_);
    while (!threads_.stopping()) {
      if (static_cast<int64_t>(queue_.size()) >= limit_) {
        ++waiting_;
        work_cv_.Wait(mu_);
        --waiting_;
        continue;
      }
      if (next_ == fail_at_) throw std::runtime_error("worker failed");
      queue_.push_back(next_ * next_);
      ++next_;
      consumer_cv_.Signal();
    }
  }

  const int64_t limit_;
  const int64_t fail_at_;
  Mutex mu_;
  CondVar work_cv_, consumer_cv_;
  std::vector<int64_t> queue_ GUARDED_BY(mu_);
  int64_t next_ GUARDED_BY(mu_) = 0;
  int64_t waiting_ GUARDED_BY(mu_) = 0;
  WorkerThreads threads_{mu_, {&work_cv_, &consumer_cv_}};
};

TEST(WorkerThreadsTest, ThreadsRunUntilTheOwnerIsDestroyed) {
  auto squares = std::make_unique<Squares>(4);
  EXPECT_FALSE(squares->threads().started());
  squares->Start(3);
  EXPECT_TRUE(squares->threads().started());
  for (int64_t i = 0; i < 100; ++i) EXPECT_EQ(squares->Take(), i * i);
  // All three block on a full queue; the destructor must wake and join them (else: a hang).
  while (squares->waiting() < 3) std::this_thread::yield();
  squares.reset();
}

TEST(WorkerThreadsTest, StopWakesEveryWaitAndIsSeenByTheThreads) {
  Squares squares(1);
  squares.Start(2);
  EXPECT_EQ(squares.Take(), 0);
  while (squares.waiting() < 2) std::this_thread::yield();
  squares.threads().Stop();
  EXPECT_TRUE(squares.threads().stopping());
  // The threads returned: nobody waits any more.
  while (squares.waiting() > 0) std::this_thread::yield();
  EXPECT_NO_THROW(squares.threads().RethrowIfFailed());
}

TEST(WorkerThreadsTest, AnEscapedExceptionReachesTheConsumer) {
  Squares squares(1000, /*fail_at=*/10);
  squares.Start(4);
  // Values 0..9 may come first; then the failure, at the consumer's wait, every time after.
  bool failed = false;
  for (int i = 0; i < 20 && !failed; ++i) {
    try {
      squares.Take();
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "worker failed");
      failed = true;
    }
  }
  EXPECT_TRUE(failed);
  EXPECT_TRUE(squares.threads().stopping());
  EXPECT_THROW(squares.Take(), std::runtime_error);
}

TEST(WorkerThreadsTest, ThreadsAreMarkedAndServeWhatTheirStarterServed) {
  EXPECT_FALSE(OnEngineThread());
  Mutex mu;
  CondVar cv;
  std::atomic<int> seen{0};
  {
    WorkerThreads threads(mu, {&cv});
    ServingScope outer(7);
    {
      ServingScope inner(8);
      EXPECT_TRUE(IsServing(7) && IsServing(8));
      threads.Start(2, [&] {
        // Copied at the start: the starter's scopes have ended by the time this runs.
        if (OnEngineThread() && IsServing(7) && IsServing(8) && !IsServing(9)) ++seen;
      });
    }
    EXPECT_TRUE(IsServing(7));
    EXPECT_FALSE(IsServing(8));
  }  // joined
  EXPECT_EQ(seen.load(), 2);
  EXPECT_FALSE(IsServing(7));
}

// A thread that destroys its own WorkerThreads (a map function dropping the last owner of its
// iterator) cannot join itself: std::thread::join would throw EDEADLK out of the destructor,
// std::terminate. It stays in the destructor for good instead, and the owner leaks; the other
// threads stop and are joined.
TEST(WorkerThreadsTest, DestroyedOnItsOwnThreadDoesNotAbort) {
  struct Owner {
    Mutex mu;
    CondVar cv;
    std::atomic<bool> sibling_done{false};
    WorkerThreads threads{mu, {&cv}};
  };
  auto* owner = new Owner();
  std::atomic<bool>* sibling_done = &owner->sibling_done;  // never freed: the owner leaks
  std::atomic<bool> go{false}, deleting{false};
  owner->threads.Start(1, [owner] {
    MutexLock lock(owner->mu);
    while (!owner->threads.stopping()) owner->cv.Wait(owner->mu);
    owner->sibling_done = true;
  });
  owner->threads.Start(1, [owner, &go, &deleting] {
    while (!go) std::this_thread::yield();  // Start has returned: threads_ is complete
    deleting = true;
    delete owner;
  });
  go = true;
  while (!deleting) std::this_thread::yield();
  // The other thread is stopped, as by any destruction, and nothing aborts meanwhile.
  while (!*sibling_done) std::this_thread::yield();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
}

}  // namespace
}  // namespace inputpipe
