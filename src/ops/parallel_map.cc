// map(fn, num_parallel_calls, deterministic): fn runs on a pool of worker threads.
//
// Threads: one dispatcher reads the input sequentially and captures the input's state right
// after each element; N workers run fn on those elements (C++ functions truly in parallel);
// the consumer takes results in input order (deterministic) or as they complete (not).
// Every element read lives in `window_`, ordered by input position, until it has been
// delivered and every element before it too; the window holds at most W = max(4N, 32)
// elements (a larger window lets the threads run longer without waking each other).
//
// The shared pieces (src/ops/threading/): the dispatcher reads through a PairedReader (each
// element with the input's state right after it), WorkerThreads owns the threads, and the
// bitmap is a PositionBitmap.
//
// State: the input's state just before the oldest element not yet delivered to the consumer
// (`base_node_`, the node captured after the element before it), plus, only when
// deterministic=false, a bitmap of the elements after it that were already delivered
// ("delivered_ahead", bit i = the i-th element after the base; at most W bits). A save never
// waits for calls in flight; elements in flight are recomputed after a restore, and the
// restored dispatcher re-reads the elements of the bitmap without mapping or delivering them:
// every element is delivered exactly once across the save. With deterministic=true the
// bitmap is always empty and the state is the node paired with the last element delivered.
//
// Identity: the number of threads does not change the output, so it is not in the fingerprint
// (a state restores on a machine where AUTOTUNE means another thread count). With
// deterministic=true neither does the threading itself: the output is map's, so the op is "map"
// with map's fingerprint and node layout (the input's state), and a state saved by map(fn)
// restores into map(fn, num_parallel_calls=N) and back. Older versions called it
// "parallel_map(fn=..., deterministic=true)": state.cc reads that as "map(fn=...)". With
// deterministic=false the order depends on timing: "parallel_map(fn=..., deterministic=false)",
// an identity of its own.
//
// A held function that computes map's input itself (FunctionOptions::computes_input: worker
// processes reading by index) gets an empty tuple: the dispatcher moves the input past each
// element (PairedReader::Skip, exactly as a read would: SkipMode::kExact, a seek where the
// input can) and captures its state as usual, so the parent neither computes nor converts
// what the workers compute.
//
// Seeded (map(fn, seed)): each slot carries its position, the restored position plus its
// offset from the dispatcher's start, so fn draws what the sequential map draws for that
// element whatever the thread count; the state adds "position", the elements before the base.
#include "ops/parallel_map.h"

#include <sched.h>

#include <algorithm>
#include <deque>
#include <exception>
#include <memory>
#include <thread>
#include <vector>

#include "core/interrupt.h"
#include "core/op_skeleton.h"
#include "core/op_stats.h"
#include "core/options_context.h"
#include "ops/map_dataset.h"
#include "ops/threading/paired_reader.h"
#include "ops/threading/position_bitmap.h"
#include "ops/threading/worker_threads.h"
#include "util/mutex.h"

namespace inputpipe {

namespace {
constexpr char kDeliveredAhead[] = "delivered_ahead";
// Elements in flight: at least this many, so that the threads rarely wait for each other.
constexpr int64_t kMinWindow = 32;
// Calls one worker runs under one acquisition of the function's own lock (run_calls).
constexpr size_t kMaxGroupedCalls = 16;
// The most elements a restored "delivered_ahead" may name: far above any window (4 per thread),
// so that a corrupt state cannot make a restore allocate without bound.
constexpr int64_t kMaxDeliveredAhead = int64_t{1} << 22;

class ParallelMapIterator;

class ParallelMapDataset
    : public OpDataset<ParallelMapDataset, ParallelMapIterator, MapDatasetBase> {
 public:
  ParallelMapDataset(DatasetPtr input, MapFunction fn, FunctionOptions options, int64_t threads,
                     std::optional<bool> deterministic)
      : OpDataset(std::move(input), std::move(fn), std::move(options)),
        threads(threads),
        deterministic(deterministic.value_or(true)),
        deterministic_given(deterministic.has_value()) {}

  std::string op_name() const override { return deterministic ? "map" : "parallel_map"; }
  std::string params() const override {
    return deterministic ? FnParams() : FnParams() + ", deterministic=false";
  }

  int64_t threads_for_get() const override { return threads; }

  const int64_t threads;
  // The fingerprint's: unless given (deterministic_given), an iterator made under
  // Options::deterministic=false runs unordered, the options op saying so in the fingerprint.
  const bool deterministic;
  const bool deterministic_given;
};

class ParallelMapIterator : public UnaryIterator<ParallelMapDataset> {
 public:
  explicit ParallelMapIterator(const ParallelMapDataset& ds)
      : UnaryIterator(ds),
        deterministic_(ds.deterministic_given ? ds.deterministic
                                              : CurrentOptions().deterministic.value_or(true)),
        threads_count_(CappedThreads(ds.threads)),
        capacity_(std::max<int64_t>(4 * threads_count_, kMinWindow)) {}

  // Stops the threads, then releases the hold before they are joined (threads_, the last
  // member, joins them): a function that runs elsewhere (the Python bindings' worker processes)
  // ends its calls in flight when its last hold goes, so a call that never returns cannot make
  // this destructor wait forever.
  ~ParallelMapIterator() override {
    threads_.Stop();
    held_.reset();
  }

 protected:
  std::optional<Element> GetNextInternal() override EXCLUDES(mu_) {
    if (!threads_.started()) Start();
    std::shared_ptr<Slot> slot;
    bool wake_dispatcher;
    {
      InterruptibleWait wait;  // an interrupt leaves before the slot is delivered: nothing lost
      MutexLock lock(mu_);
      while (!(slot = ReadySlot()) && !(input_done_ && undelivered_ == 0) && !threads_.stopping()) {
        wait.Wait(consumer_cv_, mu_);
      }
      threads_.RethrowIfFailed();
      if (!slot) return std::nullopt;
      slot->delivered = true;
      --undelivered_;
      PopDelivered();
      ReportBufferFill(static_cast<int64_t>(window_.size()), capacity_);
      // Wake the dispatcher only once the window is half empty: it then reads a run of
      // elements instead of waking for each one.
      wake_dispatcher = static_cast<int64_t>(window_.size()) <= capacity_ / 2;
    }
    if (wake_dispatcher) dispatcher_cv_.Signal();
    if (slot->error) std::rethrow_exception(slot->error);
    return std::move(slot->output);
  }

  void SaveInternal(StateWriter& w) override EXCLUDES(mu_) {
    dataset().ReportIfStateful(w);
    std::shared_ptr<const StateNode> base;
    std::vector<int64_t> ahead;
    int64_t position;
    {
      MutexLock lock(mu_);
      base = base_node_;
      position = start_position_ + popped_;
      for (size_t i = 0; i < window_.size(); ++i) {
        if (window_[i]->delivered) ahead.push_back(static_cast<int64_t>(i));
      }
      // Skips of the restored state the dispatcher has not reached yet (all of them before it
      // starts; skip_ is constant once the threads run).
      int64_t end = popped_ + static_cast<int64_t>(window_.size());
      for (int64_t offset : skip_) {
        if (offset >= end) ahead.push_back(offset - popped_);
      }
    }
    if (base) {
      w.WriteChildNode(kInputKey, *base);
    } else {  // neither started nor restored: the input is ours to save
      SaveInput(w);
    }
    dataset().SavePosition(w, position);
    if (!ahead.empty()) {
      PositionBitmap delivered(ahead.back() + 1);
      for (int64_t i : ahead) delivered.Set(i);
      w.WriteBytes(kDeliveredAhead, delivered.Encode());
    }
  }

  void RestoreInternal(StateReader& r) override EXCLUDES(mu_) {
    RestoreInput(r);
    {
      MutexLock lock(mu_);
      base_node_ = std::make_shared<const StateNode>(r.ChildNode(kInputKey));
    }
    start_position_ = dataset().RestorePosition(r);
    // Written only by deterministic=false, when elements were delivered ahead.
    if (const std::string* bytes = r.FindBytes(kDeliveredAhead)) {
      if (deterministic_) {
        throw DataLossError("corrupt state: parallel_map(deterministic=true) has a '" +
                            std::string(kDeliveredAhead) + "' bitmap");
      }
      skip_ =
          PositionBitmap::DecodeAtMost(*bytes, kMaxDeliveredAhead, "parallel_map 'delivered_ahead'")
              .Positions();
    }
  }

 private:
  // One element read, from the dispatcher's read until it is delivered and every element
  // before it too. Its fields are under mu_ once it is in window_.
  struct Slot {
    Element input;  // until a worker takes it
    std::optional<Element> output;
    std::exception_ptr error;
    std::shared_ptr<const StateNode> node_after;  // the input's state right after this element
    int64_t position = 0;                         // in the input since the iterator began
    bool done = false;                            // fn returned or threw
    bool delivered = false;                       // handed to the consumer (or before the save)
  };

  // Drops the delivered prefix of the window, moving the base past it.
  void PopDelivered() REQUIRES(mu_) {
    while (!window_.empty() && window_.front()->delivered) {
      base_node_ = window_.front()->node_after;
      window_.pop_front();
      ++popped_;
    }
  }

  // The slot to deliver next, or null.
  std::shared_ptr<Slot> ReadySlot() REQUIRES(mu_) {
    if (deterministic_) {
      return !window_.empty() && window_.front()->done ? window_.front() : nullptr;
    }
    for (const auto& slot : window_) {
      if (slot->done && !slot->delivered) return slot;
    }
    return nullptr;
  }

  // Called by the consumer before the first read: from here on only the dispatcher touches
  // input_ (through reader_) and skip_.
  void Start() EXCLUDES(mu_) {
    std::shared_ptr<const StateNode> start;
    {
      MutexLock lock(mu_);
      reader_ = PairedReader(*input_, base_node_);
      base_node_ = start = reader_.last_state();
    }
    if (dataset().options.hold_for_iterator) {
      // Where the input starts, for a function that reads it elsewhere (worker processes).
      held_ = HoldForIterator(dataset().options, input_->dataset(), *start, start_position_, this);
      computes_input_ = dataset().options.computes_input;
    }
    ReportThreads(threads_count_);
    threads_.Start(1, [this] { Dispatch(); });
    threads_.Start(threads_count_, [this] { Work(); });
  }

  void Dispatch() EXCLUDES(mu_) {
    size_t next_skip = 0;
    for (int64_t offset = 0;; ++offset) {
      {
        MutexLock lock(mu_);
        // 1. Wait for room in the window.
        while (!threads_.stopping() && static_cast<int64_t>(window_.size()) >= capacity_) {
          dispatcher_cv_.Wait(mu_);
        }
        if (threads_.stopping()) return;
      }
      // 2. Read the next element and its state, without the lock; only move past it when the
      // function computes it itself (worker processes reading by index).
      PairedElement read = computes_input_ ? reader_.Skip() : reader_.Read();
      // 3. Queue it: skipped (delivered before the restored save), failed, or to map.
      bool skip = next_skip < skip_.size() && skip_[next_skip] == offset;
      if (skip) ++next_skip;
      auto slot = std::make_shared<Slot>();
      slot->node_after = read.state;
      slot->position = start_position_ + offset;
      MutexLock lock(mu_);
      if (read.end()) {
        input_done_ = true;
        consumer_cv_.Signal();
        return;
      }
      if (skip) {
        slot->done = slot->delivered = true;
        window_.push_back(slot);
        PopDelivered();
        continue;
      }
      window_.push_back(slot);
      ReportBufferFill(static_cast<int64_t>(window_.size()), capacity_);
      ++undelivered_;
      if (read.error) {
        slot->error = read.error;
        slot->done = true;
        consumer_cv_.Signal();
      } else {
        slot->input = std::move(*read.element);
        work_.push_back(slot);
        worker_cv_.Signal();
      }
    }
  }

  void Work() EXCLUDES(mu_) {
    // A function that needs a lock of its own to run (Python's GIL: options.run_calls) runs a
    // run of queued calls under one acquisition: handing that lock from thread to thread for
    // every short call costs more than the call.
    const FunctionOptions& options = dataset().options;
    const bool grouped = static_cast<bool>(options.run_calls);
    std::vector<std::shared_ptr<Slot>> run;
    while (true) {
      run.clear();
      {
        MutexLock lock(mu_);
        while (!threads_.stopping() && work_.empty()) worker_cv_.Wait(mu_);
        if (threads_.stopping()) return;
        size_t take = grouped ? std::min(work_.size(), kMaxGroupedCalls) : 1;
        for (size_t i = 0; i < take; ++i) {
          run.push_back(std::move(work_.front()));
          work_.pop_front();
        }
      }
      size_t called = 0;
      auto call_all = [&] {
        for (; called < run.size(); ++called) {
          // Stopping (the iterator is being destroyed): the rest of the run is never delivered,
          // and a call now could start what the released hold ended (worker processes).
          if (threads_.stopping()) return;
          std::optional<Element> output;
          std::exception_ptr error;
          try {
            OpWorkScope work(stats_counters());  // the function's time: map's own
            output = dataset().fn(run[called]->input, run[called]->position, this);
          } catch (...) {
            error = std::current_exception();
          }
          Publish(*run[called], std::move(output), error);
        }
      };
      if (!grouped) {
        call_all();
        continue;
      }
      try {
        options.run_calls(call_all);
      } catch (...) {  // run_calls itself failed (e.g. Python is shutting down)
        for (; called < run.size(); ++called) {
          Publish(*run[called], std::nullopt, std::current_exception());
        }
      }
    }
  }

  void Publish(Slot& slot, std::optional<Element> output, std::exception_ptr error) EXCLUDES(mu_) {
    MutexLock lock(mu_);
    slot.output = std::move(output);
    slot.error = error;
    slot.input = Element();
    slot.done = true;
    consumer_cv_.Signal();
  }

  const bool deterministic_;     // the dataset's, or the options' (see ParallelMapDataset)
  const int64_t threads_count_;  // the dataset's, capped by the options
  const int64_t capacity_;
  // The dispatcher's alone once started (the consumer's before): reader_ (so input_) and
  // skip_, the sorted offsets after the restored base delivered before the save, constant once
  // the threads run. start_position_, the restored position (0 when not restored), is constant
  // once they run.
  PairedReader reader_;
  std::vector<int64_t> skip_;
  int64_t start_position_ = 0;
  // options.hold_for_iterator's, from Start() on; released once the threads are told to stop,
  // before they are joined (see the destructor).
  std::shared_ptr<void> held_;
  // The held function computes map's input itself (FunctionOptions::computes_input): the
  // dispatcher moves the input past each element instead of reading it. Set before the threads.
  bool computes_input_ = false;

  Mutex mu_;               // also guards the fields of the Slots in window_ and work_
  CondVar dispatcher_cv_;  // room in window_, or stopping
  CondVar worker_cv_;      // work_ non-empty, or stopping
  CondVar consumer_cv_;    // a slot done, input_done_, or stopping
  std::deque<std::shared_ptr<Slot>> window_ GUARDED_BY(mu_);    // read, not all delivered; in order
  std::deque<std::shared_ptr<Slot>> work_ GUARDED_BY(mu_);      // waiting for a worker
  std::shared_ptr<const StateNode> base_node_ GUARDED_BY(mu_);  // input before window_.front()
  int64_t popped_ GUARDED_BY(mu_) = 0;       // slots dropped from window_ since Start()
  int64_t undelivered_ GUARDED_BY(mu_) = 0;  // slots in window_ not delivered
  bool input_done_ GUARDED_BY(mu_) = false;
  WorkerThreads threads_{mu_, {&dispatcher_cv_, &worker_cv_, &consumer_cv_}};  // last: joined first
};

}  // namespace

int64_t AutotuneThreads() {
#ifdef __linux__
  // The CPUs this process may run on (taskset, a container's cpuset), not the machine's.
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof(allowed), &allowed) == 0) {
    const int count = CPU_COUNT(&allowed);
    if (count > 0) return count;
  }
#endif
  return std::max<int64_t>(1, static_cast<int64_t>(std::thread::hardware_concurrency()));
}

DatasetPtr MakeParallelMap(DatasetPtr input, MapFunction fn, FunctionOptions options,
                           int64_t num_parallel_calls, std::optional<bool> deterministic) {
  if (num_parallel_calls < 0 && num_parallel_calls != kAutotune) {
    throw InvalidArgumentError("map: num_parallel_calls must be >= 0 or AUTOTUNE (-1), got " +
                               std::to_string(num_parallel_calls));
  }
  int64_t threads = num_parallel_calls == kAutotune ? AutotuneThreads() : num_parallel_calls;
  return std::make_shared<ParallelMapDataset>(std::move(input), std::move(fn), std::move(options),
                                              threads, deterministic);
}

}  // namespace inputpipe
