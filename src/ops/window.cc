// window(size, shift, stride, drop_remainder): groups the input into windows, each a nested
// dataset (for structured inputs, the same structure of datasets). Window k holds the input
// elements k*shift + j*stride for j < size that exist; partial windows at the end are kept
// unless drop_remainder.
//
// State: the input's state captured just before the first element of the next window (the
// buffer front, whose position is always a multiple of shift), or an explicit `exhausted`
// flag. A restore re-reads that window's elements: at most (size-1)*stride+1 of them.
#include <deque>

#include "core/element_list_dataset.h"
#include "core/op_skeleton.h"
#include "core/tensor_ops.h"
#include "inputpipe/ops.h"

namespace inputpipe {

namespace {
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
    while (input_ && buffer_.size() < span) Read(/*keep=*/true);
    if (buffer_.empty() || (ds.drop_remainder && buffer_.size() < span)) {
      buffer_.clear();
      return ExhaustInput();
    }
    std::vector<Element> members;
    for (size_t i = 0; i < buffer_.size(); i += ds.stride) members.push_back(buffer_[i].element);
    // Move to the next window's first element, reading past the elements in between.
    const size_t shift = ds.shift;
    if (shift < buffer_.size()) {
      buffer_.erase(buffer_.begin(), buffer_.begin() + shift);
    } else {
      size_t skip = shift - buffer_.size();
      buffer_.clear();
      while (input_ && skip-- > 0) Read(/*keep=*/false);
    }
    return MakeWindow(members);
  }
  void SaveInternal(StateWriter& w) override {
    if (buffer_.empty()) {
      SaveInputOrExhausted(w);
    } else {
      w.WriteBool(kExhaustedKey, false);
      w.WriteChildNode(kInputKey, *buffer_.front().before);
    }
  }
  void RestoreInternal(StateReader& r) override {
    RestoreInputOrExhausted(r);  // at a window's first element: position 0 mod shift
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
    std::optional<Element> element = input_->GetNext();
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

  std::deque<Buffered> buffer_;      // front: the next window's first element
  int64_t position_ = 0;             // input elements read, counted from a window start
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
