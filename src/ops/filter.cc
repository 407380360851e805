// filter(predicate): the input's elements for which predicate is true. Holds no element
// between calls, so its state is the input's. Not random-access (element i of the output
// depends on every predicate before it); cardinality unknown, as tf.data.
#include "inputpipe/ops.h"

namespace inputpipe {

namespace {
constexpr char kInput[] = "input";

class FilterDataset : public Dataset {
 public:
  FilterDataset(DatasetPtr input, PredicateFn predicate, FunctionOptions options)
      : input_(std::move(input)), predicate_(std::move(predicate)), options_(std::move(options)) {}

  std::string op_name() const override { return "filter"; }
  std::string params() const override {
    return "predicate=" + options_.name + (options_.stateful ? ", stateful=true" : "");
  }
  std::vector<DatasetPtr> inputs() const override { return {input_}; }
  int64_t Cardinality() const override { return kUnknownCardinality; }

 protected:
  std::unique_ptr<Iterator> MakeIteratorInternal() const override;

 private:
  friend class FilterIterator;
  const DatasetPtr input_;
  const PredicateFn predicate_;
  const FunctionOptions options_;
};

class FilterIterator : public Iterator {
 public:
  explicit FilterIterator(const FilterDataset& ds)
      : Iterator(ds.shared()), ds_(ds), input_(ds.input_->MakeIterator()) {}

 protected:
  std::optional<Element> GetNextInternal() override {
    while (std::optional<Element> element = input_->GetNext()) {
      if (ds_.predicate_(*element)) return element;
    }
    return std::nullopt;
  }
  void SaveInternal(StateWriter& w) override {
    if (ds_.options_.stateful) {
      w.ReportExternalState("filter(predicate=" + ds_.options_.name +
                            "): the predicate is declared stateful");
    }
    w.WriteChild(kInput, *input_);
  }
  void RestoreInternal(StateReader& r) override { r.RestoreChild(kInput, *input_); }

 private:
  const FilterDataset& ds_;
  std::unique_ptr<Iterator> input_;
};

std::unique_ptr<Iterator> FilterDataset::MakeIteratorInternal() const {
  return std::make_unique<FilterIterator>(*this);
}
}  // namespace

DatasetPtr Filter(DatasetPtr input, PredicateFn predicate, FunctionOptions options) {
  if (!input) throw InvalidArgumentError("filter: input dataset is null");
  if (!predicate) throw InvalidArgumentError("filter: predicate is empty");
  return std::make_shared<FilterDataset>(std::move(input), std::move(predicate),
                                         std::move(options));
}

}  // namespace inputpipe
