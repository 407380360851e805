// Mutex, MutexLock and CondVar: std::mutex and std::condition_variable with the annotations
// clang's -Wthread-safety checks (libstdc++'s own types carry none).
//
//   Mutex mu_;
//   CondVar ready_cv_;
//   std::deque<Item> queue_ GUARDED_BY(mu_);
//
//   Item Pop() EXCLUDES(mu_) {
//     MutexLock lock(mu_);
//     while (queue_.empty()) ready_cv_.Wait(mu_);   // a loop, not a predicate lambda: the
//     Item item = std::move(queue_.front());        // analysis sees the lock held inside it
//     queue_.pop_front();
//     return item;
//   }
#ifndef INPUTPIPE_UTIL_MUTEX_H_
#define INPUTPIPE_UTIL_MUTEX_H_

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "util/thread_annotations.h"

namespace inputpipe {

class CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ACQUIRE() { mu_.lock(); }
  void Unlock() RELEASE() { mu_.unlock(); }

 private:
  friend class CondVar;
  std::mutex mu_;
};

// Holds `mu` for the lifetime of the object.
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) ACQUIRE(mu) : mu_(mu) { mu_.Lock(); }
  ~MutexLock() RELEASE() { mu_.Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex& mu_;
};

// Releases `mu` for the lifetime of the object (a slow call made without the lock).
class SCOPED_CAPABILITY MutexUnlock {
 public:
  explicit MutexUnlock(Mutex& mu) RELEASE(mu) : mu_(mu) { mu_.Unlock(); }
  // RELEASE() ends the scope, whatever its constructor did: clang 14 mis-reads ACQUIRE() here
  // ("releasing mutex that was not held" at the end of the enclosing MutexLock).
  ~MutexUnlock() RELEASE() { mu_.Lock(); }
  MutexUnlock(const MutexUnlock&) = delete;
  MutexUnlock& operator=(const MutexUnlock&) = delete;

 private:
  Mutex& mu_;
};

class CondVar {
 public:
  // Atomically releases `mu` and waits for a notification (or a spurious wake-up: callers
  // loop on their condition); `mu` is held again on return.
  void Wait(Mutex& mu) REQUIRES(mu) {
    std::unique_lock<std::mutex> lock(mu.mu_, std::adopt_lock);
    cv_.wait(lock);
    lock.release();
  }
  // As Wait, but returns at `deadline` at the latest: false if it timed out.
  bool WaitUntil(Mutex& mu, std::chrono::steady_clock::time_point deadline) REQUIRES(mu) {
    std::unique_lock<std::mutex> lock(mu.mu_, std::adopt_lock);
    const bool woken = cv_.wait_until(lock, deadline) == std::cv_status::no_timeout;
    lock.release();
    return woken;
  }
  void Signal() { cv_.notify_one(); }
  void SignalAll() { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

}  // namespace inputpipe

#endif  // INPUTPIPE_UTIL_MUTEX_H_
