// interleave(fn, cycle_length, block_length, num_parallel_calls, deterministic): tf.data's
// interleave. Up to cycle_length inner iterators (slots), made by fn from consecutive input
// elements; block_length elements are taken from each slot in turn; an exhausted slot is
// refilled from the next input element. The order is tf.data's.
//
// This file: the factory, the cycle and its state shared by both forms (interleave_dataset.h),
// and the sequential iterator (num_parallel_calls == 0), which reads each slot's inner iterator
// on the caller's thread. num_parallel_calls != 0 is parallel_interleave.cc.
//
// State (interleave_dataset.h): the outer input's state; the cycle position; per open slot, the
// outer state before the element that made it and its inner state. Restore re-reads one outer
// element per open slot and restores its inner iterator.
#include "core/interrupt.h"
#include "core/op_skeleton.h"
#include "inputpipe/ops.h"
#include "ops/interleave_dataset.h"
#include "ops/parallel_map.h"

namespace inputpipe {

namespace {
constexpr char kCycleIndex[] = "cycle_index";
constexpr char kBlockIndex[] = "block_index";
constexpr char kEndOfInput[] = "end_of_input";
std::string OuterKey(size_t slot) { return "outer_" + std::to_string(slot); }
std::string InnerKey(size_t slot) { return "inner_" + std::to_string(slot); }
}  // namespace

// ---- The shared half (interleave_dataset.h).

std::string InterleaveDatasetBase::params() const {
  return "fn=" + options.name + (options.stateful ? ", stateful=true" : "") +
         ", cycle_length=" + std::to_string(cycle_length) +
         ", block_length=" + std::to_string(block_length) +
         (deterministic ? "" : ", deterministic=false");
}

std::unique_ptr<Iterator> InterleaveDatasetBase::MakeInner(const Element& element) const {
  DatasetPtr inner = fn(element);
  if (!inner) {
    throw InvalidArgumentError("interleave(fn=" + options.name + "): fn returned a null dataset");
  }
  return inner->MakeIterator();
}

void InterleaveDatasetBase::ReportIfStateful(StateWriter& w) const {
  if (options.stateful) {
    w.ReportExternalState("interleave(fn=" + options.name + "): the function is declared stateful");
  }
}

std::optional<Element> InterleaveIteratorBase::GetNextInternal() {
  while (!end_of_input_ || num_open_ > 0) {
    if (open_[cycle_index_]) {
      std::optional<Element> element = TakeFromSlot();
      if (element) {
        if (++block_index_ == dataset().block_length) AdvanceToNextInCycle();
        return element;
      }
      Close(cycle_index_);
      AdvanceToNextInCycle();
    } else if (!end_of_input_) {
      Open(cycle_index_);
    } else {
      AdvanceToNextInCycle();
    }
  }
  return std::nullopt;
}

void InterleaveIteratorBase::SaveInternal(StateWriter& w) {
  dataset().ReportIfStateful(w);
  // All of this is the consumer's (a parallel form's threads touch the slots' queues only), so
  // no lock and no waiting.
  SaveInput(w);
  w.WriteInt(kCycleIndex, cycle_index_);
  w.WriteInt(kBlockIndex, block_index_);
  w.WriteBool(kEndOfInput, end_of_input_);
  for (size_t i = 0; i < open_.size(); ++i) {
    if (!open_[i]) continue;
    w.WriteChildNode(OuterKey(i), outer_before_[i]);
    w.WriteChildNode(InnerKey(i), InnerState(static_cast<int64_t>(i)));
  }
}

void InterleaveIteratorBase::RestoreInternal(StateReader& r) {
  const InterleaveDatasetBase& ds = dataset();
  RestoreInput(r);
  cycle_index_ = r.ReadIntInRange(kCycleIndex, 0, ds.cycle_length - 1);
  block_index_ = r.ReadIntInRange(kBlockIndex, 0, ds.block_length - 1);
  end_of_input_ = r.ReadBool(kEndOfInput);
  // A slot past the cycle (a state of a longer cycle_length, restored past the change with
  // allow_changes) would be dropped with its elements: refused.
  for (const StateNode& child : r.node().children) {
    if (!child.name.starts_with("outer_")) continue;
    const std::string slot = child.name.substr(6);
    if (slot.empty() || slot.size() > 18 || slot.find_first_not_of("0123456789") != slot.npos ||
        std::stoll(slot) >= ds.cycle_length) {
      throw DataLossError("corrupt state: interleave(" + ds.params() + ") has slot '" + child.name +
                          "', outside its cycle of " + std::to_string(ds.cycle_length));
    }
  }
  for (size_t i = 0; i < open_.size(); ++i) {
    if (!r.HasChild(OuterKey(i))) continue;
    const StateNode& outer_node = r.ChildNode(OuterKey(i));
    auto outer = ds.input()->MakeIterator();
    outer->RestoreNode(outer_node);
    std::optional<Element> element = outer->GetNext();
    if (!element) {
      throw DataLossError("corrupt state: interleave slot " + std::to_string(i) +
                          ": the input has no element at the saved position");
    }
    auto inner = ds.MakeInner(*element);
    const StateNode& inner_node = r.ChildNode(InnerKey(i));
    inner->RestoreNode(inner_node);
    outer_before_[i] = outer_node;
    open_[i] = true;
    ++num_open_;
    OnOpen(static_cast<int64_t>(i), std::move(inner),
           std::make_shared<const StateNode>(inner_node));
  }
}

void InterleaveIteratorBase::AdvanceToNextInCycle() {
  block_index_ = 0;
  cycle_index_ = (cycle_index_ + 1) % dataset().cycle_length;
}

void InterleaveIteratorBase::Open(int64_t i) {
  StateNode before = input_->SaveNode();
  std::optional<Element> element = input_->GetNext();
  if (!element) {
    end_of_input_ = true;
    return;
  }
  auto inner = dataset().MakeInner(*element);
  outer_before_[i] = std::move(before);
  open_[i] = true;
  ++num_open_;
  OnOpen(i, std::move(inner), nullptr);
  // The outer element lives in the open slot now: an interrupt of a later wait of this call
  // (the slot's first element) loses nothing.
  MarkInputsKept();
}

void InterleaveIteratorBase::Close(int64_t i) {
  OnClose(i);
  open_[i] = false;
  --num_open_;
}

// ---- The sequential form.

namespace {

class InterleaveIterator;

class InterleaveDataset
    : public OpDataset<InterleaveDataset, InterleaveIterator, InterleaveDatasetBase> {
 public:
  InterleaveDataset(DatasetPtr input, DatasetFn fn, int64_t cycle_length, int64_t block_length,
                    FunctionOptions options)
      : OpDataset(std::move(input), std::move(fn), cycle_length, block_length,
                  /*deterministic=*/true, std::move(options)) {}
};

class InterleaveIterator : public InterleaveIteratorBase {
 public:
  explicit InterleaveIterator(const InterleaveDataset& ds)
      : InterleaveIteratorBase(ds), inner_(ds.cycle_length) {}

 protected:
  std::optional<Element> TakeFromSlot() override { return inner_[cycle_index_]->GetNext(); }
  void OnOpen(int64_t i, std::unique_ptr<Iterator> inner,
              std::shared_ptr<const StateNode> /*restored*/) override {
    inner_[i] = std::move(inner);
  }
  void OnClose(int64_t i) override { inner_[i].reset(); }
  StateNode InnerState(int64_t i) override { return inner_[i]->SaveNode(); }

 private:
  std::vector<std::unique_ptr<Iterator>> inner_;  // per open slot
};

}  // namespace

DatasetPtr Interleave(DatasetPtr input, DatasetFn fn, int64_t cycle_length, int64_t block_length,
                      int64_t num_parallel_calls, std::optional<bool> deterministic,
                      FunctionOptions options) {
  CheckInput(input, "interleave");
  CheckFn(fn, "interleave");
  if (cycle_length == kAutotune) cycle_length = AutotuneThreads();
  if (cycle_length <= 0) {
    throw InvalidArgumentError("interleave: cycle_length must be positive or AUTOTUNE (-1), got " +
                               std::to_string(cycle_length));
  }
  CheckPositive(block_length, "interleave", "block_length");
  if (num_parallel_calls < 0 && num_parallel_calls != kAutotune) {
    throw InvalidArgumentError(
        "interleave: num_parallel_calls must be >= 0 or AUTOTUNE (-1), got " +
        std::to_string(num_parallel_calls));
  }
  if (num_parallel_calls != 0) {
    int64_t threads = num_parallel_calls == kAutotune ? AutotuneThreads() : num_parallel_calls;
    return MakeParallelInterleave(std::move(input), std::move(fn), cycle_length, block_length,
                                  threads, deterministic, std::move(options));
  }
  return std::make_shared<InterleaveDataset>(std::move(input), std::move(fn), cycle_length,
                                             block_length, std::move(options));
}

}  // namespace inputpipe
