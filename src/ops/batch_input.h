// The half shared by batch and padded_batch, which differ only in how a batch's elements are
// combined (Combine): the parameters, the number of batches, random access, and an iterator
// that reads batch_size elements at a time. Between two GetNext calls no element is held (but
// after an interrupted gather, see BatchingIterator), so the state is just the input's.
//
//   class BatchDataset : public OpDataset<BatchDataset, BatchingIterator, BatchingDataset> {
//    public:
//     using OpDataset::OpDataset;
//     std::string op_name() const override { return "batch"; }
//     std::string params() const override { ... }
//     Element Combine(const std::vector<Element>& elements) const override { ... }
//   };
#ifndef INPUTPIPE_OPS_BATCH_INPUT_H_
#define INPUTPIPE_OPS_BATCH_INPUT_H_

#include <algorithm>
#include <chrono>
#include <optional>
#include <utility>
#include <vector>

#include "core/interrupt.h"
#include "core/op_skeleton.h"
#include "inputpipe/dataset.h"
#include "ops/iteration_access.h"

namespace inputpipe {

class BatchingDataset : public UnaryIterationDataset {
 public:
  BatchingDataset(DatasetPtr input, int64_t batch_size, bool drop_remainder)
      : UnaryIterationDataset(std::move(input)),
        batch_size(batch_size),
        drop_remainder(drop_remainder) {}

  int64_t Cardinality() const override {
    int64_t n = input_->Cardinality();
    if (n < 0) return n;
    return drop_remainder ? n / batch_size : (n + batch_size - 1) / batch_size;
  }
  // Random-access when the input is: batch i is input[i * batch_size, ...).
  Element Get(int64_t index) const override {
    return BatchOf(index, [&](int64_t i) { return input_->Get(i); });
  }
  Element GetInIteration(int64_t index, int64_t iteration) const override {
    return BatchOf(index,
                   [&](int64_t i) { return ::inputpipe::GetInIteration(*input_, i, iteration); });
  }

  // The batch of `elements`: 1 to batch_size of them (fewer only for the last one).
  virtual Element Combine(const std::vector<Element>& elements) const = 0;

  const int64_t batch_size;
  const bool drop_remainder;

 private:
  template <typename GetInput>
  Element BatchOf(int64_t index, GetInput get) const {
    const int64_t begin = index * batch_size;
    const int64_t end = std::min(input_->Cardinality(), begin + batch_size);
    std::vector<Element> elements;
    elements.reserve(end - begin);
    for (int64_t i = begin; i < end; ++i) elements.push_back(get(i));
    return Combine(elements);
  }
};

class BatchingIterator : public UnaryIterator<BatchingDataset> {
 public:
  using UnaryIterator::UnaryIterator;

 protected:
  std::optional<Element> GetNextInternal() override {
    const int64_t batch_size = dataset().batch_size;
    // Whether this call may be interrupted: decided before it takes anything (core/interrupt.h).
    const bool interruptible = InterruptionAllowed();
    if (gathered_.empty()) {
      gathered_start_.reset();
      // A long gather (batch(10**7)) on a thread with an interrupt check may be interrupted
      // (Ctrl-C): what it took stays in gathered_ for the next call, and a save meanwhile
      // reports the input's state before the first of them, captured here once per batch of
      // at least kInterruptibleBatch elements (nothing on the path of small batches). A
      // capture that costs more than kMaxCapture (an input whose state grows, unique's set)
      // turns this off for the iterator: the batch then finishes before an interrupt.
      if (batch_size >= kInterruptibleBatch && interruptible && capture_allowed_) {
        const auto start = std::chrono::steady_clock::now();
        try {
          gathered_start_ = input_->SaveNode();
        } catch (...) {  // a state that cannot be captured now: this batch is not interruptible
        }
        capture_allowed_ = std::chrono::steady_clock::now() - start <= kMaxCapture;
      }
      // Bounded: batch(n) with a huge n is a common way to say "everything in one batch".
      gathered_.reserve(static_cast<size_t>(std::min<int64_t>(batch_size, 1024)));
    } else if (interruptible) {
      // Resumed after an interrupt: the elements held count as taken in this call, so the
      // inputs' waits are not interrupted (an interrupt there would drop them, as an error does).
      MarkInputsTaken();
    }
    const bool poll = gathered_start_.has_value() && interruptible;
    try {
      while (static_cast<int64_t>(gathered_.size()) < batch_size) {
        if (poll && gathered_.size() % kPollEvery == kPollEvery - 1) {
          // Only this poll's exception keeps the gathered elements (the catch below).
          try {
            PollInterruptCheck();
          } catch (...) {
            interrupted_ = true;
            throw;
          }
        }
        std::optional<Element> element = input_->GetNext();
        if (!element) break;
        gathered_.push_back(std::move(*element));
      }
    } catch (...) {
      // The input failed (an error, not an interrupt): as before, the partial batch is dropped
      // and the next call starts a new one after the failure.
      if (!std::exchange(interrupted_, false)) Clear();
      throw;
    }
    std::vector<Element> elements = std::move(gathered_);
    Clear();
    // No batch: the input had ended, or (with drop_remainder) fewer than batch_size were left.
    if (elements.empty()) return std::nullopt;
    if (dataset().drop_remainder && static_cast<int64_t>(elements.size()) < batch_size) {
      return std::nullopt;
    }
    return dataset().Combine(elements);
  }
  void SaveInternal(StateWriter& w) override {
    if (gathered_.empty()) {
      SaveInput(w);
    } else {  // after an interrupted gather: where the batch being gathered began
      w.WriteChildNode(kInputKey, *gathered_start_);
    }
  }
  void RestoreInternal(StateReader& r) override {
    Clear();
    RestoreInput(r);
  }

 private:
  static constexpr int64_t kInterruptibleBatch = 4096;
  static constexpr size_t kPollEvery = 1024;  // elements between two looks at the clock
  // About a tenth of gathering kInterruptibleBatch of the cheapest elements.
  static constexpr std::chrono::microseconds kMaxCapture{50};

  void Clear() {
    gathered_.clear();
    gathered_.shrink_to_fit();  // a huge batch's vector is not kept for good
    gathered_start_.reset();
  }

  // The batch being gathered, non-empty between two calls only after an interrupt; then
  // gathered_start_ holds the input's state before its first element.
  std::vector<Element> gathered_;
  std::optional<StateNode> gathered_start_;
  bool interrupted_ = false;
  bool capture_allowed_ = true;  // see GetNextInternal
};

}  // namespace inputpipe

#endif  // INPUTPIPE_OPS_BATCH_INPUT_H_
