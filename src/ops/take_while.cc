// take_while(predicate): the input's elements up to (excluding) the first one for which
// predicate is false. Holds no element between calls: the state is the input's while it is
// read, then an explicit `exhausted` flag (set both at the input's end and at the first false
// predicate, so a restored iterator never reads past where the original stopped). Not
// random-access; cardinality unknown (infinite inputs too: the predicate may end them).
#include "core/op_skeleton.h"
#include "inputpipe/ops.h"

namespace inputpipe {

namespace {
class TakeWhileIterator;

class TakeWhileDataset
    : public OpDataset<TakeWhileDataset, TakeWhileIterator, SequentialUnaryDataset> {
 public:
  TakeWhileDataset(DatasetPtr input, PredicateFn predicate, FunctionOptions options)
      : OpDataset(std::move(input)), predicate(std::move(predicate)), options(std::move(options)) {}

  std::string op_name() const override { return "take_while"; }
  std::string params() const override { return FnParam("predicate", options); }
  int64_t Cardinality() const override {
    return input_->Cardinality() == 0 ? 0 : kUnknownCardinality;
  }

  const PredicateFn predicate;
  const FunctionOptions options;
};

class TakeWhileIterator : public UnaryIterator<TakeWhileDataset> {
 public:
  using UnaryIterator::UnaryIterator;

 protected:
  std::optional<Element> GetNextInternal() override {
    if (!input_) return std::nullopt;
    std::optional<Element> element = input_->GetNext();
    if (!element || !dataset().predicate(*element)) return ExhaustInput();
    return element;
  }
  void SaveInternal(StateWriter& w) override {
    ReportIfStateful(w, dataset().options, "take_while", "predicate", "predicate");
    SaveInputOrExhausted(w);
  }
  void RestoreInternal(StateReader& r) override { RestoreInputOrExhausted(r); }
};
}  // namespace

DatasetPtr TakeWhile(DatasetPtr input, PredicateFn predicate, FunctionOptions options) {
  CheckInput(input, "take_while");
  CheckFn(predicate, "take_while", "predicate");
  return std::make_shared<TakeWhileDataset>(std::move(input), std::move(predicate),
                                            std::move(options));
}

}  // namespace inputpipe
