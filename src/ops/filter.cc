// filter(predicate): the input's elements for which predicate is true. Holds no element
// between calls, so its state is the input's. Not random-access (element i of the output
// depends on every predicate before it); cardinality unknown, as tf.data.
#include "core/op_skeleton.h"
#include "inputpipe/ops.h"

namespace inputpipe {

namespace {
class FilterIterator;

class FilterDataset : public OpDataset<FilterDataset, FilterIterator, SequentialUnaryDataset> {
 public:
  FilterDataset(DatasetPtr input, PredicateFn predicate, FunctionOptions options)
      : OpDataset(std::move(input)), predicate(std::move(predicate)), options(std::move(options)) {}

  std::string op_name() const override { return "filter"; }
  std::string params() const override { return FnParam("predicate", options); }
  int64_t Cardinality() const override { return kUnknownCardinality; }

  const PredicateFn predicate;
  const FunctionOptions options;
};

class FilterIterator : public UnaryIterator<FilterDataset> {
 public:
  using UnaryIterator::UnaryIterator;

 protected:
  std::optional<Element> GetNextInternal() override {
    while (std::optional<Element> element = input_->GetNext()) {
      if (dataset().predicate(*element)) return element;
    }
    return std::nullopt;
  }
  void SaveInternal(StateWriter& w) override {
    ReportIfStateful(w, dataset().options, "filter", "predicate", "predicate");
    SaveInput(w);
  }
  void RestoreInternal(StateReader& r) override { RestoreInput(r); }
};
}  // namespace

DatasetPtr Filter(DatasetPtr input, PredicateFn predicate, FunctionOptions options) {
  CheckInput(input, "filter");
  CheckFn(predicate, "filter", "predicate");
  return std::make_shared<FilterDataset>(std::move(input), std::move(predicate),
                                         std::move(options));
}

}  // namespace inputpipe
