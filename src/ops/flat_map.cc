// flat_map(fn): the elements of fn(x) for each input element x, one dataset after the other.
// State (element_cursor.h), while inside fn(x): the input's state captured *before* x was read
// plus the state of fn(x)'s iterator; a restore re-reads x, calls fn again and restores that
// iterator.
#include "inputpipe/ops.h"
#include "ops/element_cursor.h"

namespace inputpipe {

namespace {
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
      std::optional<Element> element = input_.Next();
      if (!element) return std::nullopt;
      OpenInner(*element);
    }
  }
  void SaveInternal(StateWriter& w) override {
    if (ds_.options_.stateful) {
      w.ReportExternalState("flat_map(fn=" + ds_.options_.name +
                            "): the function is declared stateful");
    }
    input_.Save(w, /*inside=*/inner_ != nullptr);
    if (inner_) w.WriteChild(kInner, *inner_);
  }
  void RestoreInternal(StateReader& r) override {
    if (std::optional<Element> element = input_.Restore(r, "flat_map")) {
      OpenInner(*element);
      r.RestoreChild(kInner, *inner_);
    }
  }

 private:
  void OpenInner(const Element& element) {
    DatasetPtr inner = ds_.fn_(element);
    if (!inner) {
      throw InvalidArgumentError("flat_map(fn=" + ds_.options_.name +
                                 "): fn returned a null dataset");
    }
    inner_ = inner->MakeIterator();
  }

  const FlatMapDataset& ds_;
  ElementCursor input_;
  std::unique_ptr<Iterator> inner_;  // fn(x) of the element input_ read last
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
