// enumerate(start): (int64 index, element) tuples, index counting from `start`. State: the next
// index and the input's state. Random-access when the input is.
#include <limits>

#include "core/element_skip.h"
#include "core/op_skeleton.h"
#include "inputpipe/ops.h"
#include "ops/iteration_access.h"

namespace inputpipe {

namespace {
constexpr char kNext[] = "next";  // the counter: elements produced (index = start + next)

class EnumerateIterator;

class EnumerateDataset
    : public OpDataset<EnumerateDataset, EnumerateIterator, UnaryIterationDataset> {
 public:
  EnumerateDataset(DatasetPtr input, int64_t start) : OpDataset(std::move(input)), start(start) {}

  std::string op_name() const override { return "enumerate"; }
  std::string params() const override { return "start=" + std::to_string(start); }
  Element Get(int64_t index) const override { return Pair(index, input_->Get(index)); }
  Element GetInIteration(int64_t index, int64_t iteration) const override {
    return Pair(index, ::inputpipe::GetInIteration(*input_, index, iteration));
  }

  Element Pair(int64_t position, Element element) const {
    return Element::Tuple({Tensor::Scalar<int64_t>(start + position), std::move(element)});
  }

  const int64_t start;
};

// Moves past elements by moving its input and its count (ElementSkipper).
class EnumerateIterator : public CounterIterator<EnumerateDataset>, public ElementSkipper {
 public:
  explicit EnumerateIterator(const EnumerateDataset& ds)
      : CounterIterator(ds, kNext, AtInputEnd::kKeep) {}

  // A failed read moves the input but not the index (GetNextInternal): only kUnread can seek.
  bool Seeks(SkipMode mode) const override { return mode == SkipMode::kUnread; }
  int64_t SkipElements(int64_t n, SkipMode mode) override {
    for (int64_t moved = 0; moved < n; ++moved) {
      if (inputpipe::SkipElements(*input_, 1, mode) == 0) return moved;
      ++counter_;
    }
    return n;
  }

 protected:
  std::optional<Element> GetNextInternal() override {
    std::optional<Element> element = input_->GetNext();
    if (!element) return std::nullopt;
    const int64_t start = dataset().start;
    int64_t index;  // start + position must fit (a hostile or corrupt state can put it at the edge)
    if (counter_ == std::numeric_limits<int64_t>::max() ||
        __builtin_add_overflow(start, counter_, &index)) {
      throw InvalidArgumentError("enumerate(start=" + std::to_string(start) +
                                 "): the index overflows int64 after " + std::to_string(counter_) +
                                 " elements");
    }
    return dataset().Pair(counter_++, std::move(*element));
  }
};
}  // namespace

DatasetPtr Enumerate(DatasetPtr input, int64_t start) {
  CheckInput(input, "enumerate");
  return std::make_shared<EnumerateDataset>(std::move(input), start);
}

}  // namespace inputpipe
