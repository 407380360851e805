// Per-op statistics behind Iterator::Stats: what each op's GetNext counts and times, and how a
// pipeline's counters find each other without a lock on the hot path.
//
//   // An op's worker thread doing the op's own work (parallel map's function calls):
//   OpWorkScope work(stats_counters());   // sampled; its time is the op's `seconds`
//   output = dataset().fn(input);
//
//   // A buffering op, where its buffer changes (under its own lock):
//   ReportBufferFill(buffer_.size(), capacity);
//
// Counters: one OpCounters per op of the pipeline (per Dataset node of the tree), made all at
// once, as a tree mirroring the datasets, when the outermost iterator is made; then immutable
// in shape, so Stats() walks it from any thread. An iterator made while its parent is being made
// or is inside its GetNext, for one of the parent's inputs, takes that input's counters (repeat's
// iterator of each epoch adds to the same); one made for a dataset that is not an input (an
// interleave's inner datasets, a map function's own pipeline) gets none and reports nothing:
// its time stays its parent's. Each counter has one writer at a time (the thread calling that
// op's GetNext, which the op's own locks order), so it is updated with relaxed loads and stores,
// never a read-modify-write; the worker threads' sums (OpWorkScope), written concurrently, use
// relaxed fetch_add on a sampled call only.
//
// Sampling: reading the clock twice costs 20-40 ns, as much as a cheap op's whole GetNext, so
// only some calls are timed. A call with no timed GetNext around it on its thread (the
// consumer's call of the last op, a producer thread's call of its input) is timed for its
// first kWarmupCalls calls, then one in kSamplePeriod, and stands for that many calls (its
// weight); calls nested inside it on the same thread are timed with it, with its weight. A
// timed call's own time is its time less that of the timed calls nested inside it and of its
// waits for its own worker threads (ExcludedFromOwnTime, used by InterruptibleWait). Untimed
// calls read and restore two thread-local pointers.
#ifndef INPUTPIPE_CORE_OP_STATS_H_
#define INPUTPIPE_CORE_OP_STATS_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "inputpipe/dataset.h"

namespace inputpipe::stats_internal {

inline constexpr int64_t kWarmupCalls = 32;
inline constexpr int64_t kSamplePeriod = 16;

inline int64_t NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// A single-writer counter: relaxed load and store, readable from any thread.
inline void Add(std::atomic<int64_t>& counter, int64_t value) {
  counter.store(counter.load(std::memory_order_relaxed) + value, std::memory_order_relaxed);
}

struct OpCounters {
  // The tree: the counters of `dataset` and of each of its inputs (Dataset::inputs order).
  static std::shared_ptr<OpCounters> MakeTree(DatasetPtr dataset);
  // The child counters for an iterator of `input`, one of dataset's inputs; null if it is not.
  std::shared_ptr<OpCounters> ForInput(const Dataset& input);

  DatasetPtr dataset;
  std::vector<std::shared_ptr<OpCounters>> inputs;

  std::atomic<int64_t> calls{0};     // GetNext calls (all, timed or not)
  std::atomic<int64_t> elements{0};  // elements returned
  std::atomic<int64_t> first_call_ns{-1};
  // Estimates: each timed call's nanoseconds times its weight.
  std::atomic<int64_t> own_ns{0};
  std::atomic<int64_t> total_ns{0};
  std::atomic<int64_t> work_ns{0};  // OpWorkScope's, written by several threads: fetch_add
  std::atomic<int64_t> threads{1};
  std::atomic<int64_t> buffer_capacity{0};
  std::atomic<int64_t> buffer_current{0};
  std::atomic<int64_t> buffer_sum{0};  // buffer_current at each timed call
  std::atomic<int64_t> buffer_samples{0};
  std::atomic<bool> adopted{false};  // an iterator took these counters (ForInput's choice)
};

// A timed call on this thread's stack of GetNext calls.
struct Frame {
  int64_t weight = 1;
  int64_t nested_ns = 0;  // timed calls nested directly inside, and excluded waits
};

struct ThreadStats {
  // The counters of the iterator this thread is making or running (the parent of any iterator
  // made now), or null.
  OpCounters* current = nullptr;
  // The innermost timed call, &untimed inside an untimed one, or null outside any.
  Frame* frame = nullptr;
  int64_t work_calls = 0;  // OpWorkScope's sampling
};

// initial-exec: read at every GetNext, so no __tls_get_addr call under -fPIC; 24 bytes of the
// static TLS that glibc keeps for libraries loaded later (the Python extension).
extern constinit thread_local ThreadStats thread_stats [[gnu::tls_model("initial-exec")]];
extern Frame untimed;

// The weight of an outermost call that is the `calls`-th: 0 (not timed) or the calls it stands
// for.
inline int64_t SampleWeight(int64_t calls) {
  if (calls < kWarmupCalls) return 1;
  return (calls % kSamplePeriod) == 0 ? kSamplePeriod : 0;
}

// A wait of an op for its own worker threads: not the op's own time. A no-op unless the call
// around it is timed.
class ExcludedFromOwnTime {
 public:
  ExcludedFromOwnTime() : frame_(thread_stats.frame) {
    if (frame_ != nullptr && frame_ != &untimed) start_ = NowNanos();
  }
  ~ExcludedFromOwnTime() {
    if (frame_ != nullptr && frame_ != &untimed) frame_->nested_ns += NowNanos() - start_;
  }
  ExcludedFromOwnTime(const ExcludedFromOwnTime&) = delete;
  ExcludedFromOwnTime& operator=(const ExcludedFromOwnTime&) = delete;

 private:
  Frame* const frame_;
  int64_t start_ = 0;
};

}  // namespace inputpipe::stats_internal

namespace inputpipe {

// Work an op's worker thread does for the op (see the banner): sampled per thread, its time added
// to the op's `seconds`. `counters` may be null (an op that reports nothing).
class OpWorkScope {
 public:
  explicit OpWorkScope(stats_internal::OpCounters* counters);
  ~OpWorkScope();
  OpWorkScope(const OpWorkScope&) = delete;
  OpWorkScope& operator=(const OpWorkScope&) = delete;

 private:
  stats_internal::OpCounters* counters_ = nullptr;  // null when not timed
  // The thread's ThreadStats::current before the scope (set when counters were given).
  std::optional<stats_internal::OpCounters*> saved_current_;
  stats_internal::Frame frame_;
  stats_internal::Frame* saved_frame_ = nullptr;
  int64_t start_ = 0;
};

}  // namespace inputpipe

#endif  // INPUTPIPE_CORE_OP_STATS_H_
