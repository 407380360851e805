// interleave(..., num_parallel_calls != 0): the parallel form of interleave.cc, same order,
// same state and fingerprint (interleave_dataset.h) when deterministic.
//
// min(N, cycle_length) worker threads read the open slots' inner iterators ahead, up to
// clamp(block_length, 2, 64) elements per slot, each through the slot's PairedReader
// (threading/paired_reader.h: every element with the inner state right after it); a worker
// picks the first slot with room in cycle order from the consumer's position. The outer input
// is read on the consumer's thread. With deterministic=false (the op's argument, or, unset, the
// pipeline's Options::deterministic), when the current slot has nothing ready the consumer
// continues from a slot that has.
//
// State: the inner state saved for a slot is the one paired with the last element the consumer
// took from it, so a save never waits for the workers. Each slot's stream is consumed in order,
// so exactly-once holds with deterministic=false as well.
#include <algorithm>
#include <deque>
#include <memory>

#include "core/interrupt.h"
#include "core/op_skeleton.h"
#include "core/op_stats.h"
#include "core/options_context.h"
#include "inputpipe/ops.h"
#include "ops/interleave_dataset.h"
#include "ops/threading/paired_reader.h"
#include "ops/threading/worker_threads.h"
#include "util/mutex.h"

namespace inputpipe {

namespace {

class ParallelInterleaveIterator;

class ParallelInterleaveDataset
    : public OpDataset<ParallelInterleaveDataset, ParallelInterleaveIterator,
                       InterleaveDatasetBase> {
 public:
  ParallelInterleaveDataset(DatasetPtr input, DatasetFn fn, int64_t cycle_length,
                            int64_t block_length, int64_t threads,
                            std::optional<bool> deterministic, FunctionOptions options)
      : OpDataset(std::move(input), std::move(fn), cycle_length, block_length, deterministic,
                  std::move(options)),
        threads(threads) {}

  const int64_t threads;
};

class ParallelInterleaveIterator : public InterleaveIteratorBase {
 public:
  explicit ParallelInterleaveIterator(const ParallelInterleaveDataset& ds)
      : InterleaveIteratorBase(ds),
        deterministic_(ds.deterministic_given ? ds.deterministic
                                              : CurrentOptions().deterministic.value_or(true)),
        threads_count_(CappedThreads(std::min(ds.threads, ds.cycle_length))),
        per_slot_capacity_(std::clamp<int64_t>(ds.block_length, 2, 64)),
        consumed_(ds.cycle_length),
        slots_(ds.cycle_length) {}

 protected:
  std::optional<Element> GetNextInternal() override {
    if (!threads_.started()) {
      ReportThreads(threads_count_);
      threads_.Start(threads_count_, [this] { Work(); });
    }
    return InterleaveIteratorBase::GetNextInternal();
  }

  // The next element of the current slot (nullopt at its end); with deterministic=false, of
  // any slot with one ready if the current one has none.
  std::optional<Element> TakeFromSlot() override EXCLUDES(mu_) {
    PairedElement item;
    {
      InterruptibleWait wait;  // an interrupt leaves before the item is taken: nothing lost
      MutexLock lock(mu_);
      int64_t k = -1;
      while ((k = ReadySlot()) < 0 && !threads_.stopping()) wait.Wait(consumer_cv_, mu_);
      threads_.RethrowIfFailed();
      if (k < 0) return std::nullopt;
      if (k != cycle_index_) {  // deterministic=false: continue from the slot that has one
        cycle_index_ = k;
        block_index_ = 0;
      }
      Slot& slot = slots_[k];
      if (slot.items.empty()) return std::nullopt;  // eof
      item = std::move(slot.items.front());
      slot.items.pop_front();
      SetBuffered(buffered_ - 1);
      consumed_[k] = item.state;
      priority_ = k;
    }
    worker_cv_.Signal();
    if (item.error) std::rethrow_exception(item.error);  // the position stays on this slot
    return std::move(item.element);
  }

  void OnOpen(int64_t i, std::unique_ptr<Iterator> inner,
              std::shared_ptr<const StateNode> restored) override EXCLUDES(mu_) {
    auto initial =
        restored ? std::move(restored) : std::make_shared<const StateNode>(inner->SaveNode());
    consumed_[i] = initial;
    MutexLock lock(mu_);
    Slot& slot = slots_[i];
    slot.inner = std::move(inner);
    slot.reader = PairedReader(*slot.inner, std::move(initial));
    SetBuffered(buffered_ - static_cast<int64_t>(slot.items.size()));
    slot.items.clear();
    slot.eof = false;
    worker_cv_.Signal();
  }

  void OnClose(int64_t i) override EXCLUDES(mu_) {
    std::unique_ptr<Iterator> inner;  // destroyed without the lock
    {
      MutexLock lock(mu_);  // the slot is eof: no worker holds it
      Slot& slot = slots_[i];
      inner = std::move(slot.inner);
      slot.reader = PairedReader();
      SetBuffered(buffered_ - static_cast<int64_t>(slot.items.size()));
      slot.items.clear();
      slot.eof = false;
    }
    consumed_[i].reset();
  }

  StateNode InnerState(int64_t i) override { return *consumed_[i]; }

 private:
  struct Slot {
    std::unique_ptr<Iterator> inner;  // null while the slot is closed
    // Over `inner`; used without the lock by the one worker that set `busy`.
    PairedReader reader;
    std::deque<PairedElement> items;  // read ahead, not yet taken
    bool busy = false;
    bool eof = false;
  };

  // The slot the consumer takes from: the current one if it has an item or ended; with
  // deterministic=false, else any open slot with an item; else -1.
  int64_t ReadySlot() REQUIRES(mu_) {
    const Slot& current = slots_[cycle_index_];
    if (!current.items.empty() || current.eof) return cycle_index_;
    if (deterministic_) return -1;
    for (int64_t k = 0; k < dataset().cycle_length; ++k) {
      if (is_open(k) && !slots_[k].items.empty()) return k;
    }
    return -1;
  }

  // Elements read ahead in all slots, for the stats.
  void SetBuffered(int64_t buffered) REQUIRES(mu_) {
    buffered_ = buffered;
    ReportBufferFill(buffered_, dataset().cycle_length * per_slot_capacity_);
  }

  // A slot a worker may read, in cycle order from the consumer's position; -1 if none.
  int64_t SlotToRead() const REQUIRES(mu_) {
    const int64_t cycle_length = dataset().cycle_length;
    for (int64_t n = 0; n < cycle_length; ++n) {
      int64_t k = (priority_ + n) % cycle_length;
      const Slot& slot = slots_[k];
      if (slot.inner && !slot.busy && !slot.eof &&
          static_cast<int64_t>(slot.items.size()) < per_slot_capacity_) {
        return k;
      }
    }
    return -1;
  }

  void Work() EXCLUDES(mu_) {
    while (true) {
      int64_t k = -1;
      PairedReader* reader;
      {
        MutexLock lock(mu_);
        while (!threads_.stopping() && (k = SlotToRead()) < 0) worker_cv_.Wait(mu_);
        if (threads_.stopping()) return;
        slots_[k].busy = true;
        reader = &slots_[k].reader;
      }
      PairedElement item;
      {
        OpWorkScope work(stats_counters());  // reading the inner datasets: interleave's own time
        item = reader->Read();
      }
      {
        MutexLock lock(mu_);
        Slot& slot = slots_[k];
        slot.busy = false;
        if (item.end()) {
          slot.eof = true;
        } else {
          slot.items.push_back(std::move(item));
          SetBuffered(buffered_ + 1);
        }
      }
      consumer_cv_.Signal();
      worker_cv_.Signal();
    }
  }

  const bool deterministic_;  // the dataset's, or the options' (see InterleaveDatasetBase)
  const int64_t threads_count_;
  const int64_t per_slot_capacity_;
  // The consumer's: the inner state paired with the last element it took from each open slot.
  std::vector<std::shared_ptr<const StateNode>> consumed_;

  Mutex mu_;
  CondVar worker_cv_;    // a slot to read, or stopping
  CondVar consumer_cv_;  // an item or an eof, or stopping
  std::vector<Slot> slots_ GUARDED_BY(mu_);
  int64_t priority_ GUARDED_BY(mu_) = 0;                      // where workers look first
  int64_t buffered_ GUARDED_BY(mu_) = 0;                      // items in all slots
  WorkerThreads threads_{mu_, {&worker_cv_, &consumer_cv_}};  // last: joined first
};

}  // namespace

DatasetPtr MakeParallelInterleave(DatasetPtr input, DatasetFn fn, int64_t cycle_length,
                                  int64_t block_length, int64_t threads,
                                  std::optional<bool> deterministic, FunctionOptions options) {
  return std::make_shared<ParallelInterleaveDataset>(std::move(input), std::move(fn), cycle_length,
                                                     block_length, threads, deterministic,
                                                     std::move(options));
}

}  // namespace inputpipe
