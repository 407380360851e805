// unbatch(): splits each input element along its first dimension into that many elements. A
// ragged component (ragged_batch's) is split into its rows: a tensor each, or a ragged value
// each when it has more than one ragged dimension, as tf.data unbatches a RaggedTensor.
// State (element_cursor.h), while inside an input element: the input's state captured *before*
// that element was read, plus the position inside it; a restore re-reads that one element.
#include <limits>

#include "core/cardinality.h"
#include "core/op_skeleton.h"
#include "core/tensor_ops.h"
#include "inputpipe/ops.h"
#include "inputpipe/ragged.h"
#include "ops/batch_input.h"
#include "ops/element_cursor.h"
#include "ops/ragged_rows.h"

namespace inputpipe {

namespace {
constexpr char kPosition[] = "position";  // next slice of the current input element

class UnbatchIterator;

class UnbatchDataset : public OpDataset<UnbatchDataset, UnbatchIterator, SequentialUnaryDataset> {
 public:
  using OpDataset::OpDataset;

  std::string op_name() const override { return "unbatch"; }
  std::string params() const override { return ""; }
  // Elements have no static shapes here; the one static batch dimension there is, is that of
  // batch / padded_batch with drop_remainder: then n batches of batch_size make n * batch_size
  // elements, as tf.data computes. Otherwise unknown (or infinite), as tf.data without a
  // static batch dimension.
  int64_t Cardinality() const override {
    const int64_t n = input_->Cardinality();
    const auto* batching = dynamic_cast<const BatchingDataset*>(input_.get());
    if (n >= 0 && batching != nullptr && batching->drop_remainder &&
        n <= std::numeric_limits<int64_t>::max() / batching->batch_size) {
      return n * batching->batch_size;
    }
    return UnknownUnlessInfinite(n);
  }
};

class UnbatchIterator : public DatasetIterator<UnbatchDataset> {
 public:
  explicit UnbatchIterator(const UnbatchDataset& ds)
      : DatasetIterator(ds), input_(ds.input()->MakeIterator()) {}

 protected:
  std::optional<Element> GetNextInternal() override {
    while (true) {
      if (current_ && position_ < length_) {
        const int64_t index = position_++;
        return ragged_ ? RowWithRagged(*current_, index) : SliceElement(*current_, index);
      }
      current_.reset();
      std::optional<Element> element = input_.Next();
      if (!element) return std::nullopt;
      SetCurrent(std::move(*element));
    }
  }
  void SaveInternal(StateWriter& w) override {
    const bool inside = current_ && position_ < length_;
    input_.Save(w, inside);
    if (inside) w.WriteInt(kPosition, position_);
  }
  void RestoreInternal(StateReader& r) override {
    if (std::optional<Element> element = input_.Restore(r, "unbatch")) {
      SetCurrent(std::move(*element));
      position_ = r.ReadIntInRange(kPosition, 0, length_ - 1);
    }
  }

 private:
  void SetCurrent(Element element) {
    ragged_ = ContainsRagged(element);
    length_ = ragged_ ? LengthWithRagged(element, "unbatch") : FirstDimOf(element, "unbatch");
    position_ = 0;
    current_ = std::move(element);
  }

  ElementCursor input_;
  std::optional<Element> current_;  // the element input_ read last
  bool ragged_ = false;  // current_ has ragged components: sliced by RowWithRagged
  int64_t length_ = 0;
  int64_t position_ = 0;
};
}  // namespace

DatasetPtr Unbatch(DatasetPtr input) {
  CheckInput(input, "unbatch");
  return std::make_shared<UnbatchDataset>(std::move(input));
}

}  // namespace inputpipe
