// skip(count): the input without its first `count` elements (without any when count < 0).
// State: how many were skipped so far, and the input's state until it is done (then an
// explicit `exhausted` flag). Random-access when the input is.
//
// The first `count` elements are skipped by SkipElements (core/element_skip.h): a seek where the
// input can (range, from_tensor_slices, take of them, ...), so range(10**8).skip(10**8 - 2)
// costs nothing; the state is the same as stepping's.
#include "core/element_skip.h"
#include "core/op_skeleton.h"
#include "inputpipe/ops.h"
#include "ops/iteration_access.h"

namespace inputpipe {

namespace {
constexpr char kSkipped[] = "skipped";  // the counter: elements skipped so far

class SkipIterator;

class SkipDataset : public OpDataset<SkipDataset, SkipIterator, UnaryIterationDataset> {
 public:
  SkipDataset(DatasetPtr input, int64_t count) : OpDataset(std::move(input)), count(count) {}

  std::string op_name() const override { return "skip"; }
  std::string params() const override { return "count=" + std::to_string(count); }
  int64_t Cardinality() const override {
    int64_t n = input_->Cardinality();
    if (n < 0) return n;
    if (count < 0) return 0;
    return n > count ? n - count : 0;
  }
  Element Get(int64_t index) const override { return input_->Get(index + count); }
  Element GetInIteration(int64_t index, int64_t iteration) const override {
    return ::inputpipe::GetInIteration(*input_, index + count, iteration);
  }

  const int64_t count;
};

class SkipIterator : public CounterIterator<SkipDataset>, public ElementSkipper {
 public:
  explicit SkipIterator(const SkipDataset& ds)
      : CounterIterator(ds, kSkipped, AtInputEnd::kDrop, CountLimit(ds.count)) {}

  // After the prefix skip is its input: as exact as the input's skip.
  int64_t SkipElements(int64_t n, SkipMode mode) override {
    if (!SkipPrefix()) return 0;
    const int64_t skipped = inputpipe::SkipElements(*input_, n, mode);
    if (skipped < n) ExhaustInput();
    return skipped;
  }

 protected:
  std::optional<Element> GetNextInternal() override {
    if (!SkipPrefix()) return std::nullopt;
    std::optional<Element> element = input_->GetNext();
    if (!element) return ExhaustInput();
    return element;
  }

 private:
  // Moves past what is left of the first `count` elements; false once the input has ended
  // (then dropped). skip(-1) skips everything: in chunks, the counter kept between them.
  bool SkipPrefix() {
    if (!input_) return false;
    constexpr int64_t kChunk = int64_t{1} << 20;
    while (dataset().count < 0 || counter_ < dataset().count) {
      const int64_t want = dataset().count < 0 ? kChunk : dataset().count - counter_;
      const int64_t skipped = inputpipe::SkipElements(*input_, want);
      counter_ += skipped;
      if (skipped < want) {
        ExhaustInput();
        return false;
      }
    }
    return true;
  }
};
}  // namespace

DatasetPtr Skip(DatasetPtr input, int64_t count) {
  CheckInput(input, "skip");
  if (count < 0 && input->Cardinality() == kInfiniteCardinality) {
    // tf.data accepts it and its first next() never returns.
    throw InvalidArgumentError("skip: count=" + std::to_string(count) +
                               " skips every element of an infinite input (" +
                               input->Signature() + "): its iterator would never yield");
  }
  return std::make_shared<SkipDataset>(std::move(input), count);
}

}  // namespace inputpipe
