// rebatch(batch_sizes, drop_remainder): the input's batches cut into batches of
// batch_sizes[0], batch_sizes[1], ... (cycled, tf.data's vector form), across input batch
// boundaries, as unbatch() followed by batch() would give, but slicing row ranges instead of
// single rows. A ragged component (ragged_batch's) is cut into its rows and joined row after
// row, as tf.data rebatches a RaggedTensor.
//
// Between two calls the op holds only the rest of the input batch it read last, so its state
// is unbatch's (element_cursor.h: the input's state *before* that batch, and the row to go on
// from), plus which of batch_sizes comes next. A restore re-reads that one input batch.
#include <algorithm>

#include "core/cardinality.h"
#include "core/op_skeleton.h"
#include "core/tensor_ops.h"
#include "inputpipe/element_spec.h"
#include "inputpipe/ops.h"
#include "ops/element_cursor.h"
#include "ops/ragged_rows.h"

namespace inputpipe {

namespace {
constexpr char kPosition[] = "position";   // next row of the current input batch
constexpr char kNextSize[] = "next_size";  // index into batch_sizes of the next batch

class RebatchIterator;

class RebatchDataset : public OpDataset<RebatchDataset, RebatchIterator, SequentialUnaryDataset>,
                       public ElementSpecSource {
 public:
  RebatchDataset(DatasetPtr input, std::vector<int64_t> batch_sizes, bool drop_remainder)
      : OpDataset(std::move(input)),
        batch_sizes(std::move(batch_sizes)),
        drop_remainder(drop_remainder) {}

  std::string op_name() const override { return "rebatch"; }
  std::string params() const override {
    std::string sizes;
    for (int64_t s : batch_sizes) sizes += (sizes.empty() ? "" : ", ") + std::to_string(s);
    return "batch_sizes=[" + sizes + "], drop_remainder=" + (drop_remainder ? "true" : "false");
  }
  int64_t Cardinality() const override { return UnknownUnlessInfinite(input_->Cardinality()); }

  // The input's spec with its first dimension replaced: the batch size where every batch has
  // it (drop_remainder and one size), else unknown.
  ElementSpec StaticElementSpec() const override {
    const bool fixed =
        drop_remainder && std::all_of(batch_sizes.begin(), batch_sizes.end(),
                                      [&](int64_t s) { return s == batch_sizes[0]; });
    return SetFirstDim(ElementSpecOf(*input_), fixed ? batch_sizes[0] : kUnknownDim);
  }

  const std::vector<int64_t> batch_sizes;
  const bool drop_remainder;

 private:
  static ElementSpec SetFirstDim(ElementSpec spec, int64_t dim) {
    if (spec.kind == Element::Kind::kTensor) {
      if (spec.rank_known && !spec.shape.empty()) spec.shape[0] = dim;
    } else if (spec.kind != Element::Kind::kDataset) {
      for (ElementSpec& child : spec.children) child = SetFirstDim(std::move(child), dim);
    }
    return spec;
  }
};

class RebatchIterator : public DatasetIterator<RebatchDataset> {
 public:
  explicit RebatchIterator(const RebatchDataset& ds)
      : DatasetIterator(ds), input_(ds.input()->MakeIterator()) {}

 protected:
  std::optional<Element> GetNextInternal() override {
    const int64_t want = dataset().batch_sizes[next_size_];
    std::vector<Element> pieces;
    int64_t have = 0;
    while (have < want) {
      if (!current_ || position_ >= length_) {
        current_.reset();
        std::optional<Element> element = input_.Next();
        if (!element) break;
        SetCurrent(std::move(*element));
        continue;
      }
      const int64_t n = std::min(length_ - position_, want - have);
      pieces.push_back(RowsWithRagged(*current_, position_, position_ + n));
      position_ += n;
      have += n;
    }
    if (have == 0 || (have < want && dataset().drop_remainder)) return std::nullopt;
    next_size_ = (next_size_ + 1) % dataset().batch_sizes.size();
    return JoinRowsWithRagged(pieces, "rebatch");
  }
  void SaveInternal(StateWriter& w) override {
    const bool inside = current_ && position_ < length_;
    input_.Save(w, inside);
    if (inside) w.WriteInt(kPosition, position_);
    w.WriteInt(kNextSize, static_cast<int64_t>(next_size_));
  }
  void RestoreInternal(StateReader& r) override {
    if (std::optional<Element> element = input_.Restore(r, "rebatch")) {
      SetCurrent(std::move(*element));
      position_ = r.ReadIntInRange(kPosition, 0, length_ - 1);
    }
    next_size_ = static_cast<size_t>(
        r.ReadIntInRange(kNextSize, 0, static_cast<int64_t>(dataset().batch_sizes.size()) - 1));
  }

 private:
  void SetCurrent(Element element) {
    length_ = LengthWithRagged(element, "rebatch");
    position_ = 0;
    current_ = std::move(element);
  }

  ElementCursor input_;
  std::optional<Element> current_;  // the input batch input_ read last
  int64_t length_ = 0;              // its rows
  int64_t position_ = 0;            // the next of them to go out
  size_t next_size_ = 0;            // batch_sizes[next_size_] is the next batch's size
};
}  // namespace

DatasetPtr Rebatch(DatasetPtr input, std::vector<int64_t> batch_sizes, bool drop_remainder) {
  CheckInput(input, "rebatch");
  if (batch_sizes.empty()) throw InvalidArgumentError("rebatch: batch_size is empty");
  for (int64_t size : batch_sizes) CheckPositive(size, "rebatch", "batch_size");
  return std::make_shared<RebatchDataset>(std::move(input), std::move(batch_sizes), drop_remainder);
}

}  // namespace inputpipe
