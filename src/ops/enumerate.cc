// enumerate(start): (int64 index, element) tuples, index counting from `start`. State: the next
// index and the input's state. Random-access when the input is.
#include <limits>

#include "inputpipe/ops.h"

namespace inputpipe {

namespace {
constexpr char kNext[] = "next";  // elements produced so far (index = start + next)
constexpr char kInput[] = "input";

class EnumerateDataset : public Dataset {
 public:
  EnumerateDataset(DatasetPtr input, int64_t start) : input_(std::move(input)), start_(start) {}

  std::string op_name() const override { return "enumerate"; }
  std::string params() const override { return "start=" + std::to_string(start_); }
  std::vector<DatasetPtr> inputs() const override { return {input_}; }
  int64_t Cardinality() const override { return input_->Cardinality(); }
  bool IsRandomAccess() const override { return input_->IsRandomAccess(); }
  Element Get(int64_t index) const override { return Pair(index, input_->Get(index)); }

  Element Pair(int64_t position, Element element) const {
    return Element::Tuple({Tensor::Scalar<int64_t>(start_ + position), std::move(element)});
  }

 protected:
  std::unique_ptr<Iterator> MakeIteratorInternal() const override;

 private:
  friend class EnumerateIterator;
  const DatasetPtr input_;
  const int64_t start_;
};

class EnumerateIterator : public Iterator {
 public:
  explicit EnumerateIterator(const EnumerateDataset& ds)
      : Iterator(ds.shared()), ds_(ds), input_(ds.input_->MakeIterator()) {}

 protected:
  std::optional<Element> GetNextInternal() override {
    std::optional<Element> element = input_->GetNext();
    if (!element) return std::nullopt;
    int64_t index;  // start + position must fit (a hostile or corrupt state can put it at the edge)
    if (next_ == std::numeric_limits<int64_t>::max() ||
        __builtin_add_overflow(ds_.start_, next_, &index)) {
      throw InvalidArgumentError("enumerate(start=" + std::to_string(ds_.start_) +
                                 "): the index overflows int64 after " + std::to_string(next_) +
                                 " elements");
    }
    return ds_.Pair(next_++, std::move(*element));
  }
  void SaveInternal(StateWriter& w) override {
    w.WriteInt(kNext, next_);
    w.WriteChild(kInput, *input_);
  }
  void RestoreInternal(StateReader& r) override {
    next_ = r.ReadIntInRange(kNext, 0, std::numeric_limits<int64_t>::max());
    r.RestoreChild(kInput, *input_);
  }

 private:
  const EnumerateDataset& ds_;
  std::unique_ptr<Iterator> input_;
  int64_t next_ = 0;
};

std::unique_ptr<Iterator> EnumerateDataset::MakeIteratorInternal() const {
  return std::make_unique<EnumerateIterator>(*this);
}
}  // namespace

DatasetPtr Enumerate(DatasetPtr input, int64_t start) {
  if (!input) throw InvalidArgumentError("enumerate: input dataset is null");
  return std::make_shared<EnumerateDataset>(std::move(input), start);
}

}  // namespace inputpipe
