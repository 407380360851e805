// The half shared by interleave's two iterators, the sequential one (interleave.cc) and the
// parallel one (parallel_interleave.cc): the dataset, the cycle over the slots, and the state
// codec. One state format, one fingerprint: a state of either restores into the other.
//
// State keys: "input" (the outer input), "cycle_index", "block_index", "end_of_input"; per open
// slot i, "outer_i" (the outer input's state before the element that made the slot) and
// "inner_i" (the slot's inner state after the last element the consumer took from it).
// Restore re-reads one outer element per open slot, calls fn and restores the inner iterator.
#ifndef INPUTPIPE_OPS_INTERLEAVE_DATASET_H_
#define INPUTPIPE_OPS_INTERLEAVE_DATASET_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/op_skeleton.h"
#include "inputpipe/ops.h"

namespace inputpipe {

class InterleaveDatasetBase : public UnaryDataset {
 public:
  InterleaveDatasetBase(DatasetPtr input, DatasetFn fn, int64_t cycle_length, int64_t block_length,
                        std::optional<bool> deterministic, FunctionOptions options)
      : UnaryDataset(std::move(input)),
        fn(std::move(fn)),
        cycle_length(cycle_length),
        block_length(block_length),
        deterministic(deterministic.value_or(true)),
        deterministic_given(deterministic.has_value()),
        options(std::move(options)) {}

  std::string op_name() const override { return "interleave"; }
  std::string params() const override;
  int64_t Cardinality() const override {
    return input_->Cardinality() == 0 ? 0 : kUnknownCardinality;
  }
  bool IsRandomAccess() const override { return false; }
  Element Get(int64_t index) const override { return Dataset::Get(index); }

  // The iterator of the dataset fn makes of `element`.
  std::unique_ptr<Iterator> MakeInner(const Element& element) const;
  // A stateful fn is external state: the save policy decides (see state.h).
  void ReportIfStateful(StateWriter& w) const;

  // File-local iterators read these directly.
  const DatasetFn fn;
  const int64_t cycle_length;
  const int64_t block_length;
  // The fingerprint's (true for the sequential form). Unless given (deterministic_given), a
  // parallel iterator made under Options::deterministic=false runs unordered, the options op
  // saying so in the fingerprint (as parallel map).
  const bool deterministic;
  const bool deterministic_given;
  const FunctionOptions options;
};

// The cycle: which slot is current, how far into its block, which slots are open, and the
// state of all that. A subclass says how a slot yields elements.
class InterleaveIteratorBase : public UnaryIterator<InterleaveDatasetBase> {
 public:
  explicit InterleaveIteratorBase(const InterleaveDatasetBase& ds)
      : UnaryIterator(ds), open_(ds.cycle_length, false), outer_before_(ds.cycle_length) {}

 protected:
  // The next element of slot cycle_index_, nullopt at its end; errors are thrown with the
  // position left on the slot. May move cycle_index_ (and reset block_index_) to another open
  // slot that has an element (deterministic=false).
  virtual std::optional<Element> TakeFromSlot() = 0;
  // Slot `i` now reads `inner`. `restored`: the inner state it was restored to, as saved; null
  // for a fresh inner iterator.
  virtual void OnOpen(int64_t i, std::unique_ptr<Iterator> inner,
                      std::shared_ptr<const StateNode> restored) = 0;
  // Slot `i` ended: drop its inner iterator.
  virtual void OnClose(int64_t i) = 0;
  // The state to save for open slot `i`: its inner state after the last element taken from it.
  virtual StateNode InnerState(int64_t i) = 0;

  std::optional<Element> GetNextInternal() override;
  void SaveInternal(StateWriter& w) override;
  void RestoreInternal(StateReader& r) override;

  bool is_open(int64_t i) const { return open_[i]; }

  // The consumer's thread only.
  int64_t cycle_index_ = 0;
  int64_t block_index_ = 0;

 private:
  void AdvanceToNextInCycle();
  void Open(int64_t i);  // reads the next outer element into slot i, or notes the input's end
  void Close(int64_t i);

  bool end_of_input_ = false;
  int64_t num_open_ = 0;
  std::vector<bool> open_;
  std::vector<StateNode> outer_before_;  // per open slot
};

// The parallel form (parallel_interleave.cc). REQUIRES: threads > 0; the arguments checked.
DatasetPtr MakeParallelInterleave(DatasetPtr input, DatasetFn fn, int64_t cycle_length,
                                  int64_t block_length, int64_t threads,
                                  std::optional<bool> deterministic, FunctionOptions options);

}  // namespace inputpipe

#endif  // INPUTPIPE_OPS_INTERLEAVE_DATASET_H_
