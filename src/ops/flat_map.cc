// flat_map(fn): the elements of fn(x) for each input element x, one dataset after the other.
// State, while inside fn(x): the input's state captured *before* x was read plus the state of
// fn(x)'s iterator; a restore re-reads x, calls fn again and restores that iterator. Otherwise
// the input's current state, or an explicit `exhausted` flag once it has ended.
#include "inputpipe/ops.h"

namespace inputpipe {

namespace {
constexpr char kExhausted[] = "exhausted";
constexpr char kInsideElement[] = "inside_element";
constexpr char kInput[] = "input";
constexpr char kInner[] = "inner";

class FlatMapDataset : public Dataset {
 public:
  FlatMapDataset(DatasetPtr input, DatasetFn fn, FunctionOptions options)
      : input_(std::move(input)), fn_(std::move(fn)), options_(std::move(options)) {}

  std::string op_name() const override { return "flat_map"; }
  std::string params() const override {
    return "fn=" + options_.name + (options_.stateful ? ", stateful=true" : "");
  }
  std::vector<DatasetPtr> inputs() const override { return {input_}; }
  int64_t Cardinality() const override { return kUnknownCardinality; }  // as tf.data

 protected:
  std::unique_ptr<Iterator> MakeIteratorInternal() const override;

 private:
  friend class FlatMapIterator;
  const DatasetPtr input_;
  const DatasetFn fn_;
  const FunctionOptions options_;
};

class FlatMapIterator : public Iterator {
 public:
  explicit FlatMapIterator(const FlatMapDataset& ds)
      : Iterator(ds.shared()), ds_(ds), input_(ds.input_->MakeIterator()) {}

 protected:
  std::optional<Element> GetNextInternal() override {
    while (true) {
      if (inner_) {
        if (std::optional<Element> element = inner_->GetNext()) return element;
        inner_.reset();
      }
      if (!input_) return std::nullopt;
      StateNode before = input_->SaveNode();
      if (!OpenInner()) return std::nullopt;
      before_ = std::move(before);
    }
  }
  void SaveInternal(StateWriter& w) override {
    if (ds_.options_.stateful) {
      w.ReportExternalState("flat_map(fn=" + ds_.options_.name +
                            "): the function is declared stateful");
    }
    w.WriteBool(kExhausted, !input_);
    w.WriteBool(kInsideElement, inner_ != nullptr);
    if (inner_) {
      w.WriteChildNode(kInput, before_);
      w.WriteChild(kInner, *inner_);
    } else if (input_) {
      w.WriteChild(kInput, *input_);
    }
  }
  void RestoreInternal(StateReader& r) override {
    if (r.ReadBool(kExhausted)) {
      input_.reset();
    } else if (r.ReadBool(kInsideElement)) {
      before_ = r.ChildNode(kInput);
      input_->RestoreNode(before_);
      if (!OpenInner()) {
        throw DataLossError("flat_map: the input ended where the state expects an element");
      }
      r.RestoreChild(kInner, *inner_);
    } else {
      r.RestoreChild(kInput, *input_);
    }
  }

 private:
  // Reads the next input element and opens fn(element); false (and input_ reset) at the end.
  bool OpenInner() {
    std::optional<Element> element = input_->GetNext();
    if (!element) {
      input_.reset();
      return false;
    }
    DatasetPtr inner = ds_.fn_(*element);
    if (!inner) {
      throw InvalidArgumentError("flat_map(fn=" + ds_.options_.name +
                                 "): fn returned a null dataset");
    }
    inner_ = inner->MakeIterator();
    return true;
  }

  const FlatMapDataset& ds_;
  std::unique_ptr<Iterator> input_;  // null once exhausted
  StateNode before_;                 // input state before the element inner_ came from
  std::unique_ptr<Iterator> inner_;
};

std::unique_ptr<Iterator> FlatMapDataset::MakeIteratorInternal() const {
  return std::make_unique<FlatMapIterator>(*this);
}
}  // namespace

DatasetPtr FlatMap(DatasetPtr input, DatasetFn fn, FunctionOptions options) {
  if (!input) throw InvalidArgumentError("flat_map: input dataset is null");
  if (!fn) throw InvalidArgumentError("flat_map: fn is empty");
  return std::make_shared<FlatMapDataset>(std::move(input), std::move(fn), std::move(options));
}

}  // namespace inputpipe
