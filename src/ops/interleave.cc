// interleave(fn, cycle_length, block_length, num_parallel_calls, deterministic): tf.data's
// interleave. Up to cycle_length inner iterators (slots), made by fn from consecutive input
// elements; block_length elements are taken from each slot in turn; an exhausted slot is
// refilled from the next input element. The order is tf.data's.
//
// num_parallel_calls != 0: worker threads read the open slots ahead (a few elements per
// slot), pairing each element with the inner iterator's state captured right after it; the
// consumer takes them in the sequential order (deterministic) or, with deterministic=false,
// from any slot with an element ready when the current one has none. The outer input is read
// on the consumer's thread.
//
// State: the outer input's state; cycle position (cycle_index, block_index, end_of_input);
// per open slot i, "outer_i": the outer input's state captured before the element that created
// the slot, and "inner_i": the slot's inner state after the last element the consumer took
// from it. Restore re-reads one outer element per open slot and restores its inner iterator.
// A save never waits for the workers. The sequential and the deterministic parallel forms have
// the same state and fingerprint: a state of one restores into the other.
#include <algorithm>
#include <condition_variable>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>

#include "inputpipe/ops.h"
#include "ops/parallel_map.h"

namespace inputpipe {

namespace {
constexpr char kInput[] = "input";
constexpr char kCycleIndex[] = "cycle_index";
constexpr char kBlockIndex[] = "block_index";
constexpr char kEndOfInput[] = "end_of_input";
std::string OuterKey(size_t slot) { return "outer_" + std::to_string(slot); }
std::string InnerKey(size_t slot) { return "inner_" + std::to_string(slot); }

class InterleaveDataset : public Dataset {
 public:
  InterleaveDataset(DatasetPtr input, DatasetFn fn, int64_t cycle_length, int64_t block_length,
                    int64_t threads, bool deterministic, FunctionOptions options)
      : input_(std::move(input)),
        fn_(std::move(fn)),
        cycle_length_(cycle_length),
        block_length_(block_length),
        threads_(threads),
        deterministic_(deterministic || threads == 0),
        options_(std::move(options)) {}

  std::string op_name() const override { return "interleave"; }
  std::string params() const override {
    return "fn=" + options_.name + (options_.stateful ? ", stateful=true" : "") +
           ", cycle_length=" + std::to_string(cycle_length_) +
           ", block_length=" + std::to_string(block_length_) +
           (deterministic_ ? "" : ", deterministic=false");
  }
  std::vector<DatasetPtr> inputs() const override { return {input_}; }
  int64_t Cardinality() const override {
    return input_->Cardinality() == 0 ? 0 : kUnknownCardinality;
  }

 protected:
  std::unique_ptr<Iterator> MakeIteratorInternal() const override;

 private:
  friend class InterleaveIterator;
  const DatasetPtr input_;
  const DatasetFn fn_;
  const int64_t cycle_length_;
  const int64_t block_length_;
  const int64_t threads_;  // 0: sequential
  const bool deterministic_;
  const FunctionOptions options_;
};

class InterleaveIterator : public Iterator {
 public:
  explicit InterleaveIterator(const InterleaveDataset& ds)
      : Iterator(ds.shared()),
        ds_(ds),
        input_(ds.input_->MakeIterator()),
        slots_(ds.cycle_length_),
        per_slot_capacity_(std::clamp<int64_t>(ds.block_length_, 2, 64)) {}

  ~InterleaveIterator() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      cancelled_ = true;
    }
    worker_cv_.notify_all();
    for (auto& worker : workers_) worker.join();
  }

 protected:
  std::optional<Element> GetNextInternal() override {
    const bool parallel = ds_.threads_ != 0;
    if (parallel && workers_.empty()) Start();
    while (!end_of_input_ || num_open_ > 0) {
      if (slots_[cycle_index_].open) {
        std::optional<Element> element =
            parallel ? TakeParallel() : slots_[cycle_index_].inner->GetNext();
        if (element) {
          if (++block_index_ == ds_.block_length_) AdvanceToNextInCycle();
          return element;
        }
        CloseSlot(cycle_index_);
        AdvanceToNextInCycle();
      } else if (!end_of_input_) {
        OpenSlot(cycle_index_);
      } else {
        AdvanceToNextInCycle();
      }
    }
    return std::nullopt;
  }

  void SaveInternal(StateWriter& w) override {
    if (ds_.options_.stateful) {
      w.ReportExternalState("interleave(fn=" + ds_.options_.name +
                            "): the function is declared stateful");
    }
    // Everything read here is written by the consumer's thread only (the workers touch the
    // slots' queues, never these fields), so no lock and no waiting.
    w.WriteChild(kInput, *input_);
    w.WriteInt(kCycleIndex, cycle_index_);
    w.WriteInt(kBlockIndex, block_index_);
    w.WriteBool(kEndOfInput, end_of_input_);
    for (size_t i = 0; i < slots_.size(); ++i) {
      Slot& slot = slots_[i];
      if (!slot.open) continue;
      w.WriteChildNode(OuterKey(i), slot.outer_before);
      if (ds_.threads_ != 0) {
        w.WriteChildNode(InnerKey(i), *slot.consumed);
      } else {
        w.WriteChild(InnerKey(i), *slot.inner);
      }
    }
  }

  void RestoreInternal(StateReader& r) override {
    r.RestoreChild(kInput, *input_);
    cycle_index_ = r.ReadIntInRange(kCycleIndex, 0, ds_.cycle_length_ - 1);
    block_index_ = r.ReadIntInRange(kBlockIndex, 0, ds_.block_length_ - 1);
    end_of_input_ = r.ReadBool(kEndOfInput);
    for (size_t i = 0; i < slots_.size(); ++i) {
      if (!r.HasChild(OuterKey(i))) continue;
      const StateNode& outer_node = r.ChildNode(OuterKey(i));
      auto outer = ds_.input_->MakeIterator();
      outer->RestoreNode(outer_node);
      std::optional<Element> element = outer->GetNext();
      if (!element) {
        throw DataLossError("corrupt state: interleave slot " + std::to_string(i) +
                            ": the input has no element at the saved position");
      }
      auto inner = MakeInner(*element);
      inner->RestoreNode(r.ChildNode(InnerKey(i)));
      Slot& slot = slots_[i];
      slot.outer_before = outer_node;
      slot.inner = std::move(inner);
      slot.consumed = std::make_shared<const StateNode>(r.ChildNode(InnerKey(i)));
      slot.produced = slot.consumed;
      slot.open = true;
      ++num_open_;
    }
  }

 private:
  struct Item {
    std::optional<Element> element;
    std::exception_ptr error;
    std::shared_ptr<const StateNode> node;  // the inner state right after this element
  };
  struct Slot {
    // Consumer's thread only:
    bool open = false;
    StateNode outer_before;
    std::shared_ptr<const StateNode> consumed;  // parallel: inner state the consumer reached
    // Parallel: GUARDED_BY(mu_) once published (inner is then read by one worker at a time,
    // the one that set busy).
    std::unique_ptr<Iterator> inner;
    std::deque<Item> items;
    bool busy = false;
    bool eof = false;
    std::shared_ptr<const StateNode> produced;  // inner state after the last element read
  };

  void AdvanceToNextInCycle() {
    block_index_ = 0;
    cycle_index_ = (cycle_index_ + 1) % ds_.cycle_length_;
  }

  std::unique_ptr<Iterator> MakeInner(const Element& element) {
    DatasetPtr inner = ds_.fn_(element);
    if (!inner)
      throw InvalidArgumentError("interleave(fn=" + ds_.options_.name +
                                 "): fn returned a null dataset");
    return inner->MakeIterator();
  }

  // Reads the next input element into slot i (or notes the input's end).
  void OpenSlot(int64_t i) {
    StateNode before = input_->SaveNode();
    std::optional<Element> element = input_->GetNext();
    if (!element) {
      end_of_input_ = true;
      return;
    }
    auto inner = MakeInner(*element);
    Slot& slot = slots_[i];
    slot.outer_before = std::move(before);
    if (ds_.threads_ != 0) {
      auto initial = std::make_shared<const StateNode>(inner->SaveNode());
      slot.consumed = initial;
      std::lock_guard<std::mutex> lock(mu_);
      slot.inner = std::move(inner);
      slot.produced = initial;
      slot.items.clear();
      slot.eof = false;
      worker_cv_.notify_one();
    } else {
      slot.inner = std::move(inner);
    }
    slot.open = true;
    ++num_open_;
  }

  void CloseSlot(int64_t i) {
    Slot& slot = slots_[i];
    std::unique_ptr<Iterator> inner;
    {
      std::lock_guard<std::mutex> lock(mu_);  // the slot is eof: no worker holds it
      inner = std::move(slot.inner);
      slot.items.clear();
      slot.eof = false;
    }
    slot.open = false;
    slot.consumed.reset();
    --num_open_;
  }

  // Parallel: the next element of the current slot (nullopt at its end); with
  // deterministic=false, of any slot with one ready if the current one has none.
  std::optional<Element> TakeParallel() {
    Item item;
    {
      std::unique_lock<std::mutex> lock(mu_);
      int64_t ready = -1;
      consumer_cv_.wait(lock, [&] {
        Slot& current = slots_[cycle_index_];
        if (!current.items.empty() || current.eof) return true;
        if (ds_.deterministic_) return false;
        for (int64_t k = 0; k < ds_.cycle_length_; ++k) {
          if (slots_[k].open && !slots_[k].items.empty()) {
            ready = k;
            return true;
          }
        }
        return false;
      });
      if (slots_[cycle_index_].items.empty() && !slots_[cycle_index_].eof) {
        cycle_index_ = ready;  // deterministic=false: continue from the slot that has one
        block_index_ = 0;
      }
      Slot& slot = slots_[cycle_index_];
      if (slot.items.empty()) return std::nullopt;  // eof
      item = std::move(slot.items.front());
      slot.items.pop_front();
      slot.consumed = item.node;
      priority_ = cycle_index_;
    }
    worker_cv_.notify_one();
    if (item.error) std::rethrow_exception(item.error);  // the position stays on this slot
    return std::move(item.element);
  }

  void Start() {
    int64_t threads = std::min(ds_.threads_, ds_.cycle_length_);
    for (int64_t i = 0; i < threads; ++i) workers_.emplace_back([this] { Work(); });
  }

  // A slot a worker may read, in cycle order from the consumer's position. REQUIRES: mu_.
  int64_t SlotToRead() const {
    for (int64_t n = 0; n < ds_.cycle_length_; ++n) {
      int64_t k = (priority_ + n) % ds_.cycle_length_;
      const Slot& slot = slots_[k];
      if (slot.inner && !slot.busy && !slot.eof &&
          static_cast<int64_t>(slot.items.size()) < per_slot_capacity_) {
        return k;
      }
    }
    return -1;
  }

  void Work() {
    while (true) {
      int64_t k;
      Iterator* inner;
      std::shared_ptr<const StateNode> previous;
      {
        std::unique_lock<std::mutex> lock(mu_);
        worker_cv_.wait(lock, [&] { return cancelled_ || (k = SlotToRead()) >= 0; });
        if (cancelled_) return;
        slots_[k].busy = true;
        inner = slots_[k].inner.get();
        previous = slots_[k].produced;
      }
      Item item;
      try {
        item.element = inner->GetNext();
        if (item.element) item.node = std::make_shared<const StateNode>(inner->SaveNode());
      } catch (...) {
        item.element.reset();
        item.error = std::current_exception();
        try {
          item.node = std::make_shared<const StateNode>(inner->SaveNode());
        } catch (...) {
          item.node = previous;
        }
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        Slot& slot = slots_[k];
        slot.busy = false;
        if (!item.element && !item.error) {
          slot.eof = true;
        } else {
          slot.produced = item.node;
          slot.items.push_back(std::move(item));
        }
      }
      consumer_cv_.notify_one();
      worker_cv_.notify_one();
    }
  }

  const InterleaveDataset& ds_;
  std::unique_ptr<Iterator> input_;  // consumer's thread only
  std::vector<Slot> slots_;
  const int64_t per_slot_capacity_;
  // Consumer's thread only:
  int64_t cycle_index_ = 0;
  int64_t block_index_ = 0;
  bool end_of_input_ = false;
  int64_t num_open_ = 0;

  std::vector<std::thread> workers_;
  std::mutex mu_;                        // guards the slots' parallel fields and what follows
  std::condition_variable worker_cv_;    // a slot to read, or cancelled_
  std::condition_variable consumer_cv_;  // an item or an eof
  int64_t priority_ = 0;                 // GUARDED_BY(mu_): where workers look first
  bool cancelled_ = false;               // GUARDED_BY(mu_)
};

std::unique_ptr<Iterator> InterleaveDataset::MakeIteratorInternal() const {
  return std::make_unique<InterleaveIterator>(*this);
}
}  // namespace

DatasetPtr Interleave(DatasetPtr input, DatasetFn fn, int64_t cycle_length, int64_t block_length,
                      int64_t num_parallel_calls, bool deterministic, FunctionOptions options) {
  if (!input) throw InvalidArgumentError("interleave: input dataset is null");
  if (!fn) throw InvalidArgumentError("interleave: fn is empty");
  if (cycle_length == kAutotune) cycle_length = AutotuneThreads();
  if (cycle_length <= 0) {
    throw InvalidArgumentError("interleave: cycle_length must be positive or AUTOTUNE (-1), got " +
                               std::to_string(cycle_length));
  }
  if (block_length <= 0) {
    throw InvalidArgumentError("interleave: block_length must be positive, got " +
                               std::to_string(block_length));
  }
  if (num_parallel_calls < 0 && num_parallel_calls != kAutotune) {
    throw InvalidArgumentError(
        "interleave: num_parallel_calls must be >= 0 or AUTOTUNE (-1), got " +
        std::to_string(num_parallel_calls));
  }
  int64_t threads = num_parallel_calls == kAutotune ? AutotuneThreads() : num_parallel_calls;
  return std::make_shared<InterleaveDataset>(std::move(input), std::move(fn), cycle_length,
                                             block_length, threads, deterministic,
                                             std::move(options));
}

}  // namespace inputpipe
