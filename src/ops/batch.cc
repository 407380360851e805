// batch(n, drop_remainder): stacks n consecutive elements. Between two GetNext calls no element
// is held, so the state is just the input's. Random-access when the input is.
//
// The model of a simple op (src/core/op_skeleton.h): the dataset holds the parameters and
// what they change (fingerprint, cardinality, random access), the iterator what it does.
#include "core/op_skeleton.h"
#include "core/tensor_ops.h"
#include "inputpipe/ops.h"
#include "ops/batch_input.h"

namespace inputpipe {

namespace {

class BatchIterator;

class BatchDataset : public OpDataset<BatchDataset, BatchIterator, UnaryDataset> {
 public:
  BatchDataset(DatasetPtr input, int64_t batch_size, bool drop_remainder)
      : OpDataset(std::move(input)), batch_size(batch_size), drop_remainder(drop_remainder) {}

  std::string op_name() const override { return "batch"; }
  std::string params() const override {
    return "batch_size=" + std::to_string(batch_size) +
           ", drop_remainder=" + (drop_remainder ? "true" : "false");
  }
  int64_t Cardinality() const override {
    int64_t n = input_->Cardinality();
    if (n < 0) return n;
    return drop_remainder ? n / batch_size : (n + batch_size - 1) / batch_size;
  }
  Element Get(int64_t index) const override {
    int64_t n = input_->Cardinality();
    int64_t begin = index * batch_size;
    int64_t end = std::min(n, begin + batch_size);
    std::vector<Element> elements;
    elements.reserve(end - begin);
    for (int64_t i = begin; i < end; ++i) elements.push_back(input_->Get(i));
    return StackElements(elements, "batch");
  }

  const int64_t batch_size;
  const bool drop_remainder;
};

class BatchIterator : public UnaryIterator<BatchDataset> {
 public:
  using UnaryIterator::UnaryIterator;

 protected:
  std::optional<Element> GetNextInternal() override {
    std::optional<std::vector<Element>> elements =
        ReadBatchElements(*input_, dataset().batch_size, dataset().drop_remainder);
    if (!elements) return std::nullopt;
    return StackElements(*elements, "batch");
  }
  void SaveInternal(StateWriter& w) override { SaveInput(w); }
  void RestoreInternal(StateReader& r) override { RestoreInput(r); }
};

}  // namespace

DatasetPtr Batch(DatasetPtr input, int64_t batch_size, bool drop_remainder) {
  CheckInput(input, "batch");
  CheckPositive(batch_size, "batch", "batch_size");
  return std::make_shared<BatchDataset>(std::move(input), batch_size, drop_remainder);
}

}  // namespace inputpipe
