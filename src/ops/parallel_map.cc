// map(fn, num_parallel_calls, deterministic): fn runs on a pool of worker threads.
//
// Threads: one dispatcher reads the input sequentially and captures the input's state right
// after each element; N workers run fn on those elements (C++ functions truly in parallel);
// the consumer takes results in input order (deterministic) or as they complete (not).
// Every element read lives in `window_`, ordered by input position, until it has been
// delivered and every element before it too; the window holds at most W = max(4N, 32)
// elements (a larger window lets the threads run longer without waking each other).
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
// The number of threads does not change the output, so it is not in the fingerprint (a state
// restores on a machine where AUTOTUNE means another thread count).
#include "ops/parallel_map.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "ops/map_dataset.h"

namespace inputpipe {

namespace {
constexpr char kInput[] = "input";
constexpr char kDeliveredAhead[] = "delivered_ahead";
// Elements in flight: at least this many, so that the threads rarely wait for each other.
constexpr int64_t kMinWindow = 32;
// Calls one worker runs under one acquisition of the function's own lock (run_calls).
constexpr size_t kMaxGroupedCalls = 16;

class ParallelMapDataset : public MapDatasetBase {
 public:
  ParallelMapDataset(DatasetPtr input, MapFn fn, FunctionOptions options, int64_t threads,
                     bool deterministic)
      : MapDatasetBase(std::move(input), std::move(fn), std::move(options)),
        threads_(threads),
        deterministic_(deterministic) {}

  std::string op_name() const override { return "parallel_map"; }
  std::string params() const override {
    return FnParams() + ", deterministic=" + (deterministic_ ? "true" : "false");
  }

 protected:
  std::unique_ptr<Iterator> MakeIteratorInternal() const override;

 private:
  friend class ParallelMapIterator;
  const int64_t threads_;
  const bool deterministic_;
};

class ParallelMapIterator : public Iterator {
 public:
  explicit ParallelMapIterator(const ParallelMapDataset& ds)
      : Iterator(ds.shared()),
        ds_(ds),
        input_(ds.input_->MakeIterator()),
        capacity_(std::max<int64_t>(4 * ds.threads_, kMinWindow)) {}

  ~ParallelMapIterator() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      cancelled_ = true;
    }
    dispatcher_cv_.notify_all();
    worker_cv_.notify_all();
    if (dispatcher_.joinable()) dispatcher_.join();
    for (auto& worker : workers_) worker.join();
  }

 protected:
  std::optional<Element> GetNextInternal() override {
    if (!dispatcher_.joinable()) Start();
    std::shared_ptr<Slot> slot;
    bool wake_dispatcher;
    {
      std::unique_lock<std::mutex> lock(mu_);
      consumer_cv_.wait(lock, [&] {
        slot = ReadySlot();
        return slot != nullptr || (input_done_ && undelivered_ == 0);
      });
      if (!slot) return std::nullopt;
      slot->delivered = true;
      --undelivered_;
      PopDelivered();
      // Wake the dispatcher only once the window is half empty: it then reads a run of
      // elements instead of waking for each one.
      wake_dispatcher = static_cast<int64_t>(window_.size()) <= capacity_ / 2;
    }
    if (wake_dispatcher) dispatcher_cv_.notify_one();
    if (slot->error) std::rethrow_exception(slot->error);
    return std::move(slot->output);
  }

  void SaveInternal(StateWriter& w) override {
    ds_.ReportIfStateful(w);
    if (!dispatcher_.joinable()) {  // not started: the input and skip_ are ours alone
      if (base_node_) {
        w.WriteChildNode(kInput, *base_node_);
      } else {
        w.WriteChild(kInput, *input_);
      }
      if (!skip_.empty()) w.WriteBytes(kDeliveredAhead, EncodeBitmap(skip_));
      return;
    }
    std::shared_ptr<const StateNode> base;
    std::vector<int64_t> ahead;
    {
      std::lock_guard<std::mutex> lock(mu_);
      base = base_node_;
      for (size_t i = 0; i < window_.size(); ++i) {
        if (window_[i]->delivered) ahead.push_back(static_cast<int64_t>(i));
      }
      // Skips of the restored state the dispatcher has not reached yet (skip_ is constant
      // once the threads run).
      int64_t end = popped_ + static_cast<int64_t>(window_.size());
      for (int64_t offset : skip_) {
        if (offset >= end) ahead.push_back(offset - popped_);
      }
    }
    w.WriteChildNode(kInput, *base);
    if (!ahead.empty()) w.WriteBytes(kDeliveredAhead, EncodeBitmap(ahead));
  }

  void RestoreInternal(StateReader& r) override {
    r.RestoreChild(kInput, *input_);
    base_node_ = std::make_shared<const StateNode>(r.ChildNode(kInput));
    for (const auto& [key, bytes] : r.node().blobs) {
      if (key != kDeliveredAhead) continue;
      if (ds_.deterministic_) {
        throw DataLossError("corrupt state: parallel_map(deterministic=true) has a '" +
                            std::string(kDeliveredAhead) + "' bitmap");
      }
      for (size_t i = 0; i < bytes.size() * 8; ++i) {
        if ((static_cast<uint8_t>(bytes[i / 8]) >> (i % 8)) & 1)
          skip_.push_back(static_cast<int64_t>(i));
      }
    }
  }

 private:
  struct Slot {
    Element input;  // until a worker takes it
    std::optional<Element> output;
    std::exception_ptr error;
    std::shared_ptr<const StateNode> node_after;  // the input's state right after this element
    bool done = false;                            // fn returned or threw
    bool delivered = false;                       // handed to the consumer (or before the save)
  };

  static std::string EncodeBitmap(const std::vector<int64_t>& offsets) {
    std::string bytes(static_cast<size_t>(offsets.back() / 8 + 1), '\0');
    for (int64_t i : offsets) bytes[i / 8] = static_cast<char>(bytes[i / 8] | (1 << (i % 8)));
    return bytes;
  }

  // Drops the delivered prefix of the window, moving the base past it. REQUIRES: mu_ held.
  void PopDelivered() {
    while (!window_.empty() && window_.front()->delivered) {
      base_node_ = window_.front()->node_after;
      window_.pop_front();
      ++popped_;
    }
  }

  // The slot to deliver next, or null. REQUIRES: mu_ held.
  std::shared_ptr<Slot> ReadySlot() {
    if (ds_.deterministic_) {
      return !window_.empty() && window_.front()->done ? window_.front() : nullptr;
    }
    for (const auto& slot : window_) {
      if (slot->done && !slot->delivered) return slot;
    }
    return nullptr;
  }

  // Called by the consumer before the first read: from here on only the dispatcher touches
  // input_ and skip_.
  void Start() {
    if (!base_node_) base_node_ = std::make_shared<const StateNode>(input_->SaveNode());
    last_read_node_ = base_node_;
    dispatcher_ = std::thread([this] { Dispatch(); });
    for (int64_t i = 0; i < ds_.threads_; ++i) workers_.emplace_back([this] { Work(); });
  }

  void Dispatch() {
    size_t next_skip = 0;
    for (int64_t offset = 0;; ++offset) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        // 1. Wait for room in the window.
        dispatcher_cv_.wait(
            lock, [&] { return cancelled_ || static_cast<int64_t>(window_.size()) < capacity_; });
        if (cancelled_) return;
      }
      // 2. Read the next element and capture the input's state after it, without the lock.
      auto slot = std::make_shared<Slot>();
      try {
        std::optional<Element> element = input_->GetNext();
        if (!element) {
          std::lock_guard<std::mutex> lock(mu_);
          input_done_ = true;
          consumer_cv_.notify_one();
          return;
        }
        slot->input = std::move(*element);
        slot->node_after = std::make_shared<const StateNode>(input_->SaveNode());
      } catch (...) {
        slot->error = std::current_exception();
        slot->done = true;
        try {
          slot->node_after = std::make_shared<const StateNode>(input_->SaveNode());
        } catch (...) {
          slot->node_after = last_read_node_;
        }
      }
      last_read_node_ = slot->node_after;
      // 3. Queue it: skipped (delivered before the restored save), failed, or to map.
      bool skip = next_skip < skip_.size() && skip_[next_skip] == offset;
      if (skip) ++next_skip;
      std::lock_guard<std::mutex> lock(mu_);
      if (skip) {
        slot->done = slot->delivered = true;
        slot->input = Element();
        window_.push_back(slot);
        PopDelivered();
        continue;
      }
      window_.push_back(slot);
      ++undelivered_;
      if (slot->done) {
        consumer_cv_.notify_one();
      } else {
        work_.push_back(slot);
        worker_cv_.notify_one();
      }
    }
  }

  void Work() {
    // A function that needs a lock of its own to run (Python's GIL: options.run_calls) runs a
    // run of queued calls under one acquisition: handing that lock from thread to thread for
    // every short call costs more than the call.
    const bool grouped = static_cast<bool>(ds_.options.run_calls);
    std::vector<std::shared_ptr<Slot>> run;
    while (true) {
      run.clear();
      {
        std::unique_lock<std::mutex> lock(mu_);
        worker_cv_.wait(lock, [&] { return cancelled_ || !work_.empty(); });
        if (cancelled_) return;
        size_t take = grouped ? std::min(work_.size(), kMaxGroupedCalls) : 1;
        for (size_t i = 0; i < take; ++i) {
          run.push_back(std::move(work_.front()));
          work_.pop_front();
        }
      }
      size_t called = 0;
      auto call_all = [&] {
        for (; called < run.size(); ++called) {
          std::optional<Element> output;
          std::exception_ptr error;
          try {
            output = ds_.fn(run[called]->input);
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
        ds_.options.run_calls(call_all);
      } catch (...) {  // run_calls itself failed (e.g. Python is shutting down)
        for (; called < run.size(); ++called) {
          Publish(*run[called], std::nullopt, std::current_exception());
        }
      }
    }
  }

  void Publish(Slot& slot, std::optional<Element> output, std::exception_ptr error) {
    std::lock_guard<std::mutex> lock(mu_);
    slot.output = std::move(output);
    slot.error = error;
    slot.input = Element();
    slot.done = true;
    consumer_cv_.notify_one();
  }

  const ParallelMapDataset& ds_;
  // The dispatcher's alone once started (the consumer's before): input_, skip_,
  // last_read_node_.
  std::unique_ptr<Iterator> input_;
  std::vector<int64_t> skip_;  // sorted offsets after the restored base, delivered before the save;
                               // constant once the threads run
  std::shared_ptr<const StateNode> last_read_node_;
  const int64_t capacity_;
  std::thread dispatcher_;
  std::vector<std::thread> workers_;

  std::mutex mu_;                             // guards everything below; the Slots' fields too
  std::condition_variable dispatcher_cv_;     // room in window_, or cancelled_
  std::condition_variable worker_cv_;         // work_ non-empty, or cancelled_
  std::condition_variable consumer_cv_;       // a slot done, or input_done_
  std::deque<std::shared_ptr<Slot>> window_;  // GUARDED_BY(mu_): read, not all delivered; in order
  std::deque<std::shared_ptr<Slot>> work_;    // GUARDED_BY(mu_): waiting for a worker
  std::shared_ptr<const StateNode> base_node_;  // GUARDED_BY(mu_): input before window_.front()
  int64_t popped_ = 0;       // GUARDED_BY(mu_): slots dropped from window_ since Start()
  int64_t undelivered_ = 0;  // GUARDED_BY(mu_): slots in window_ not delivered
  bool input_done_ = false;  // GUARDED_BY(mu_)
  bool cancelled_ = false;   // GUARDED_BY(mu_)
};

std::unique_ptr<Iterator> ParallelMapDataset::MakeIteratorInternal() const {
  return std::make_unique<ParallelMapIterator>(*this);
}
}  // namespace

int64_t AutotuneThreads() {
  return std::max<int64_t>(1, static_cast<int64_t>(std::thread::hardware_concurrency()));
}

DatasetPtr MakeParallelMap(DatasetPtr input, MapFn fn, FunctionOptions options,
                           int64_t num_parallel_calls, bool deterministic) {
  if (num_parallel_calls < 0 && num_parallel_calls != kAutotune) {
    throw InvalidArgumentError("map: num_parallel_calls must be >= 0 or AUTOTUNE (-1), got " +
                               std::to_string(num_parallel_calls));
  }
  int64_t threads = num_parallel_calls == kAutotune ? AutotuneThreads() : num_parallel_calls;
  return std::make_shared<ParallelMapDataset>(std::move(input), std::move(fn), std::move(options),
                                              threads, deterministic);
}

}  // namespace inputpipe
