// unbatch(): splits each input element along its first dimension into that many elements.
// State, while inside an input element: the input's state captured *before* that element was
// read, plus the position inside it; a restore re-reads that one element. Otherwise the input's
// current state, or an explicit `exhausted` flag once it has ended.
#include "core/tensor_ops.h"
#include "inputpipe/ops.h"

namespace inputpipe {

namespace {
constexpr char kExhausted[] = "exhausted";
constexpr char kInsideElement[] = "inside_element";
constexpr char kPosition[] = "position";  // next slice of the current input element
constexpr char kInput[] = "input";

class UnbatchDataset : public Dataset {
 public:
  explicit UnbatchDataset(DatasetPtr input) : input_(std::move(input)) {}

  std::string op_name() const override { return "unbatch"; }
  std::string params() const override { return ""; }
  std::vector<DatasetPtr> inputs() const override { return {input_}; }
  // As tf.data when the batch dimension is not static (elements have no static shapes here).
  int64_t Cardinality() const override {
    int64_t n = input_->Cardinality();
    return n == kInfiniteCardinality ? n : kUnknownCardinality;
  }

 protected:
  std::unique_ptr<Iterator> MakeIteratorInternal() const override;

 private:
  friend class UnbatchIterator;
  const DatasetPtr input_;
};

class UnbatchIterator : public Iterator {
 public:
  explicit UnbatchIterator(const UnbatchDataset& ds)
      : Iterator(ds.shared()), input_(ds.input_->MakeIterator()) {}

 protected:
  std::optional<Element> GetNextInternal() override {
    while (true) {
      if (current_ && position_ < length_) return SliceElement(*current_, position_++);
      current_.reset();
      if (!input_) return std::nullopt;
      StateNode before = input_->SaveNode();
      if (!ReadElement()) return std::nullopt;
      before_ = std::move(before);
    }
  }
  void SaveInternal(StateWriter& w) override {
    const bool inside = current_ && position_ < length_;
    w.WriteBool(kExhausted, !input_);
    w.WriteBool(kInsideElement, inside);
    if (inside) {
      w.WriteInt(kPosition, position_);
      w.WriteChildNode(kInput, before_);
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
      if (!ReadElement()) {
        throw DataLossError("unbatch: the input ended where the state expects an element");
      }
      position_ = r.ReadIntInRange(kPosition, 0, length_ - 1);
    } else {
      r.RestoreChild(kInput, *input_);
    }
  }

 private:
  // Reads the next input element into current_; false (and input_ reset) at its end.
  bool ReadElement() {
    std::optional<Element> element = input_->GetNext();
    if (!element) {
      input_.reset();
      return false;
    }
    length_ = FirstDimOf(*element, "unbatch");
    position_ = 0;
    current_ = std::move(element);
    return true;
  }

  std::unique_ptr<Iterator> input_;  // null once exhausted
  StateNode before_;                 // input state before current_ was read
  std::optional<Element> current_;
  int64_t length_ = 0;
  int64_t position_ = 0;
};

std::unique_ptr<Iterator> UnbatchDataset::MakeIteratorInternal() const {
  return std::make_unique<UnbatchIterator>(*this);
}
}  // namespace

DatasetPtr Unbatch(DatasetPtr input) {
  if (!input) throw InvalidArgumentError("unbatch: input dataset is null");
  return std::make_shared<UnbatchDataset>(std::move(input));
}

}  // namespace inputpipe
