// flat_map(fn): the elements of fn(x) for each input element x, one dataset after the other.
// State (element_cursor.h), while inside fn(x): the input's state captured *before* x was read
// plus the state of fn(x)'s iterator; a restore re-reads x, calls fn again and restores that
// iterator.
#include "core/op_skeleton.h"
#include "inputpipe/ops.h"
#include "ops/element_cursor.h"

namespace inputpipe {

namespace {
constexpr char kInner[] = "inner";

class FlatMapIterator;

class FlatMapDataset : public OpDataset<FlatMapDataset, FlatMapIterator, SequentialUnaryDataset> {
 public:
  FlatMapDataset(DatasetPtr input, DatasetFn fn, FunctionOptions options)
      : OpDataset(std::move(input)), fn(std::move(fn)), options(std::move(options)) {}

  std::string op_name() const override { return "flat_map"; }
  std::string params() const override { return FnParam("fn", options); }
  int64_t Cardinality() const override { return kUnknownCardinality; }  // as tf.data

  const DatasetFn fn;
  const FunctionOptions options;
};

class FlatMapIterator : public DatasetIterator<FlatMapDataset> {
 public:
  explicit FlatMapIterator(const FlatMapDataset& ds)
      : DatasetIterator(ds), input_(ds.input()->MakeIterator()) {}

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
    ReportIfStateful(w, dataset().options, "flat_map");
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
    DatasetPtr inner = dataset().fn(element);
    if (!inner) {
      throw InvalidArgumentError("flat_map(fn=" + dataset().options.name +
                                 "): fn returned a null dataset");
    }
    inner_ = inner->MakeIterator();
  }

  ElementCursor input_;
  std::unique_ptr<Iterator> inner_;  // fn(x) of the element input_ read last
};
}  // namespace

DatasetPtr FlatMap(DatasetPtr input, DatasetFn fn, FunctionOptions options) {
  CheckInput(input, "flat_map");
  CheckFn(fn, "flat_map");
  return std::make_shared<FlatMapDataset>(std::move(input), std::move(fn), std::move(options));
}

}  // namespace inputpipe
