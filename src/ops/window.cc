// window(size, shift, stride, drop_remainder): groups the input into windows, each a nested
// dataset (for structured inputs, the same structure of datasets). Window k holds the input
// elements k*shift + j*stride for j < size that exist; partial windows at the end are kept
// unless drop_remainder.
//
// State: the input's state captured just before the first element of the next window (the
// buffer front, whose position is always a multiple of shift), or an explicit `exhausted`
// flag. A restore re-reads that window's elements: at most (size-1)*stride+1 of them.
//
// An error of the input passes through: the window being filled keeps the elements read so
// far and the next call goes on filling it, so the error drops only what the input dropped.
// The state lists where such errors were raised since the buffer front (ops/input_errors.h),
// and a restore that lists some re-reads up to the last of them at once, skipping them as the
// consumer did. The elements between windows (shift > span) are skipped at the start of the
// next call, so an error among them cannot take the window just made; a save before that
// writes the input's state and `skip`, the elements still to skip (absent: none).
#include <deque>

#include "core/element_list_dataset.h"
#include "core/op_skeleton.h"
#include "core/tensor_ops.h"
#include "inputpipe/ops.h"
#include "ops/input_errors.h"

namespace inputpipe {

namespace {
constexpr char kSkip[] = "skip";  // input elements to skip before the next window's first

class WindowIterator;

class WindowDataset : public OpDataset<WindowDataset, WindowIterator, SequentialUnaryDataset> {
 public:
  WindowDataset(DatasetPtr input, int64_t size, int64_t shift, int64_t stride, bool drop_remainder)
      : OpDataset(std::move(input)),
        size(size),
        shift(shift),
        stride(stride),
        drop_remainder(drop_remainder) {}

  std::string op_name() const override { return "window"; }
  std::string params() const override {
    return "size=" + std::to_string(size) + ", shift=" + std::to_string(shift) +
           ", stride=" + std::to_string(stride) +
           ", drop_remainder=" + (drop_remainder ? "true" : "false");
  }
  int64_t Cardinality() const override {
    int64_t n = input_->Cardinality();
    if (n < 0) return n;
    if (!drop_remainder) return (n + shift - 1) / shift;
    int64_t rest = n - Span();
    return rest < 0 ? 0 : rest / shift + 1;
  }
  // Input elements one full window spans.
  int64_t Span() const { return (size - 1) * stride + 1; }

  const int64_t size, shift, stride;
  const bool drop_remainder;
};

class WindowIterator : public UnaryIterator<WindowDataset> {
 public:
  using UnaryIterator::UnaryIterator;

 protected:
  std::optional<Element> GetNextInternal() override {
    const WindowDataset& ds = dataset();
    const size_t span = ds.Span();
    while (input_ && skip_ > 0) {
      Read(/*keep=*/false);
      --skip_;
    }
    while (input_ && buffer_.size() < span) Read(/*keep=*/true);
    if (buffer_.empty() || (ds.drop_remainder && buffer_.size() < span)) {
      buffer_.clear();
      return ExhaustInput();
    }
    std::vector<Element> members;
    for (size_t i = 0; i < buffer_.size(); i += ds.stride) members.push_back(buffer_[i].element);
    // Move to the next window's first element; the elements in between are read past by the
    // next call.
    const size_t shift = ds.shift;
    if (shift < buffer_.size()) {
      buffer_.erase(buffer_.begin(), buffer_.begin() + shift);
    } else {
      skip_ = input_ ? static_cast<int64_t>(shift - buffer_.size()) : 0;
      buffer_.clear();
    }
    if (!errors_.empty()) errors_.DropBefore(position_ - static_cast<int64_t>(buffer_.size()));
    return MakeWindow(members);
  }
  void SaveInternal(StateWriter& w) override {
    if (buffer_.empty()) {
      SaveInputOrExhausted(w);
      if (input_ && skip_ > 0) w.WriteInt(kSkip, skip_);
    } else {
      w.WriteBool(kExhaustedKey, false);
      w.WriteChildNode(kInputKey, *buffer_.front().before);
      // The front's node was captured by the read that succeeded, after the errors there.
      errors_.Save(w, position_ - static_cast<int64_t>(buffer_.size()) + 1);
    }
  }
  void RestoreInternal(StateReader& r) override {
    RestoreInputOrExhausted(r);  // at a window's first element: position 0 mod shift
    const WindowDataset& ds = dataset();
    // Written only when positive, and added after v1: absent is 0.
    skip_ = r.ReadIntInRangeOr(kSkip, 1, ds.shift - 1, 0);
    if (!input_) return;
    const int64_t span = ds.Span();
    errors_.Restore(r, 1, span - 1, ds);
    if (errors_.empty()) return;
    if (skip_ > 0)
      throw DataLossError("corrupt state: " + ds.Signature() + ": '" + kSkip +
                          "' with input errors listed");
    // The live run's errors were raised while this window filled: re-read up to the last of
    // them now, so that a replay that diverges fails the restore.
    const int64_t last = errors_.last();
    while (position_ < last) {
      std::optional<StateNode> before;
      std::optional<Element> element;
      if (position_ % ds.shift == 0) {
        before.emplace();
        element = errors_.Replay(*input_, position_, ds, &*before);
      } else {
        element = errors_.Replay(*input_, position_, ds);
      }
      if (!element) {
        throw DataLossError("corrupt state: " + ds.Signature() + ": the input ended at element " +
                            std::to_string(position_) + " of the window during replay");
      }
      buffer_.push_back({std::move(*element), std::move(before)});
      ++position_;
    }
    errors_.ReplayTrailing(*input_, last, ds);
  }

 private:
  struct Buffered {
    Element element;
    std::optional<StateNode> before;  // input state before `element`, kept for window starts
  };

  // Reads one input element (buffering it when `keep`); resets input_ at its end.
  void Read(bool keep) {
    std::optional<StateNode> before;
    if (position_ % dataset().shift == 0) before = input_->SaveNode();
    std::optional<Element> element = errors_.Read(*input_, position_);
    if (!element) {
      input_.reset();
      return;
    }
    ++position_;
    if (keep) buffer_.push_back({std::move(*element), std::move(before)});
  }

  Element MakeWindow(const std::vector<Element>& members) const {
    const Element& first = members[0];
    std::vector<std::vector<Element>> components(first.FlattenLeaves().size());
    for (size_t i = 0; i < members.size(); ++i) {
      if (!members[i].SameStructure(first)) {
        throw InvalidArgumentError("window: element " + std::to_string(i) +
                                   " of a window has structure " + members[i].StructureString() +
                                   ", element 0 has " + first.StructureString());
      }
      std::vector<Element> leaves = members[i].FlattenLeaves();
      for (size_t c = 0; c < leaves.size(); ++c) components[c].push_back(std::move(leaves[c]));
    }
    std::vector<Element> datasets;
    for (auto& component : components) {
      datasets.push_back(
          Element::FromDataset(MakeElementListDataset("window_component", std::move(component))));
    }
    return first.PackLeaves(datasets);
  }

  std::deque<Buffered> buffer_;  // front: the next window's first element
  int64_t position_ = 0;         // input elements read, counted from a window start
  int64_t skip_ = 0;             // input elements to read past before the next window
  InputErrorLog errors_;         // the input's errors since the buffer front
};

}  // namespace

DatasetPtr Window(DatasetPtr input, int64_t size, int64_t shift, int64_t stride,
                  bool drop_remainder) {
  CheckInput(input, "window");
  CheckPositive(size, "window", "size");
  CheckPositive(stride, "window", "stride");
  if (shift <= 0) shift = size;
  return std::make_shared<WindowDataset>(std::move(input), size, shift, stride, drop_remainder);
}

}  // namespace inputpipe
