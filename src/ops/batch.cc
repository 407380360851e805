// batch(n, drop_remainder): stacks n consecutive elements. Between two GetNext calls no element
// is held, so the state is just the input's. Random-access when the input is.
#include "core/tensor_ops.h"
#include "inputpipe/ops.h"
#include "ops/batch_input.h"

namespace inputpipe {

namespace {
constexpr char kInput[] = "input";

class BatchDataset : public Dataset {
 public:
  BatchDataset(DatasetPtr input, int64_t batch_size, bool drop_remainder)
      : input_(std::move(input)), batch_size_(batch_size), drop_remainder_(drop_remainder) {}

  std::string op_name() const override { return "batch"; }
  std::string params() const override {
    return "batch_size=" + std::to_string(batch_size_) +
           ", drop_remainder=" + (drop_remainder_ ? "true" : "false");
  }
  std::vector<DatasetPtr> inputs() const override { return {input_}; }
  int64_t Cardinality() const override {
    int64_t n = input_->Cardinality();
    if (n < 0) return n;
    return drop_remainder_ ? n / batch_size_ : (n + batch_size_ - 1) / batch_size_;
  }
  bool IsRandomAccess() const override { return input_->IsRandomAccess(); }
  Element Get(int64_t index) const override {
    int64_t n = input_->Cardinality();
    int64_t begin = index * batch_size_;
    int64_t end = std::min(n, begin + batch_size_);
    std::vector<Element> elements;
    elements.reserve(end - begin);
    for (int64_t i = begin; i < end; ++i) elements.push_back(input_->Get(i));
    return StackElements(elements, "batch");
  }

 protected:
  std::unique_ptr<Iterator> MakeIteratorInternal() const override;

 private:
  friend class BatchIterator;
  const DatasetPtr input_;
  const int64_t batch_size_;
  const bool drop_remainder_;
};

class BatchIterator : public Iterator {
 public:
  explicit BatchIterator(const BatchDataset& ds)
      : Iterator(ds.shared()), ds_(ds), input_(ds.input_->MakeIterator()) {}

 protected:
  std::optional<Element> GetNextInternal() override {
    std::optional<std::vector<Element>> elements =
        ReadBatchElements(*input_, ds_.batch_size_, ds_.drop_remainder_);
    if (!elements) return std::nullopt;
    return StackElements(*elements, "batch");
  }
  void SaveInternal(StateWriter& w) override { w.WriteChild(kInput, *input_); }
  void RestoreInternal(StateReader& r) override { r.RestoreChild(kInput, *input_); }

 private:
  const BatchDataset& ds_;
  std::unique_ptr<Iterator> input_;
};

std::unique_ptr<Iterator> BatchDataset::MakeIteratorInternal() const {
  return std::make_unique<BatchIterator>(*this);
}
}  // namespace

DatasetPtr Batch(DatasetPtr input, int64_t batch_size, bool drop_remainder) {
  if (!input) throw InvalidArgumentError("batch: input dataset is null");
  if (batch_size <= 0) {
    throw InvalidArgumentError("batch: batch_size must be positive, got " + std::to_string(batch_size));
  }
  return std::make_shared<BatchDataset>(std::move(input), batch_size, drop_remainder);
}

}  // namespace inputpipe
