// group_by_window(key_fn, reduce_fn, window_size | window_size_fn): tf.data's grouping.
// Elements are grouped by key_fn (an int64); when a key's window holds its window size
// (window_size, or window_size_fn(key), asked once per key and kept, as tf.data does) elements,
// reduce_fn(key, window) turns it into a dataset whose elements are emitted; at the end of the
// input the remaining windows are reduced in increasing key order (as tf.data, whose groups
// are a std::map).
//
// State: no element values, but not O(1): the open windows hold input elements, and the input
// (not random-access in general) cannot produce them again except by re-reading. So the state
// is an *anchor* (the input's state before the oldest element still in a window: open or being
// reduced; captured before every read, kept per window), the number of elements read, two
// bitmaps over the input positions from the anchor to there ("open": in an open window;
// "current": in the window being reduced; coded by threading/position_bitmap.h) and the reduce
// iterator's state. Keys are recomputed by key_fn on restore, which re-reads the input from the
// anchor: the state grows by two bits per element of that span (docs/reorder.md), the replay
// by that span's elements. One
// input->SaveNode() per element read keeps an anchor ready for every window. Window sizes from
// window_size_fn are not saved: a restored iterator asks window_size_fn again (a pure function
// gives the same sizes; a stateful one is reported as external state).
//
// An error of the input passes through and changes nothing (no element, no window touched);
// the state lists where such errors were raised after the anchor, so that the replay skips
// them as the consumer did (ops/input_errors.h). An error of key_fn, window_size_fn or
// reduce_fn drops the element (the window) it was called for: the bitmaps say so.
#include <algorithm>
#include <map>
#include <unordered_map>

#include "core/element_list_dataset.h"
#include "core/op_skeleton.h"
#include "core/tensor_ops.h"
#include "inputpipe/ops.h"
#include "ops/input_errors.h"
#include "ops/threading/position_bitmap.h"

namespace inputpipe {

namespace {
constexpr char kAnchor[] = "anchor";  // input position of the anchor; "input": the state there
constexpr char kRead[] = "read";      // elements read from the input
constexpr char kInputDone[] = "input_done";
constexpr char kOpen[] = "open";        // bitmap from the anchor: in an open window
constexpr char kCurrent[] = "current";  // bitmap from the anchor: in the window being reduced
constexpr char kReduce[] = "reduce";    // the reduce iterator's state, while one is active

class GroupByWindowIterator;

class GroupByWindowDataset
    : public OpDataset<GroupByWindowDataset, GroupByWindowIterator, UnaryDataset> {
 public:
  // Exactly one of window_size (> 0) and window_size_fn is given.
  GroupByWindowDataset(DatasetPtr input, KeyFn key_fn, ReduceFn reduce_fn, int64_t window_size,
                       WindowSizeFn window_size_fn, FunctionOptions options)
      : OpDataset(std::move(input)),
        key_fn(std::move(key_fn)),
        reduce_fn(std::move(reduce_fn)),
        window_size(window_size),
        window_size_fn(std::move(window_size_fn)),
        options(std::move(options)) {}

  std::string op_name() const override { return "group_by_window"; }
  std::string params() const override {
    return "fn=" + options.name + (options.stateful ? ", stateful=true" : "") +
           (window_size_fn ? ", window_size=window_size_func"
                           : ", window_size=" + std::to_string(window_size));
  }
  int64_t Cardinality() const override {
    return input_->Cardinality() == 0 ? 0 : kUnknownCardinality;
  }
  bool IsRandomAccess() const override { return false; }
  Element Get(int64_t index) const override { return Dataset::Get(index); }

  const KeyFn key_fn;
  const ReduceFn reduce_fn;
  const int64_t window_size;  // 0 when window_size_fn gives the sizes
  const WindowSizeFn window_size_fn;
  const FunctionOptions options;
};

class GroupByWindowIterator : public UnaryIterator<GroupByWindowDataset> {
 public:
  using UnaryIterator::UnaryIterator;

 protected:
  std::optional<Element> GetNextInternal() override {
    while (true) {
      if (current_) {
        if (std::optional<Element> element = current_->GetNext()) return element;
        current_.reset();
        current_window_ = Window();
        if (!errors_.empty()) errors_.DropBefore(OldestPosition());
      }
      if (!input_done_) {
        StateNode before = input_->SaveNode();
        std::optional<Element> element = errors_.Read(*input_, read_);
        if (!element) {
          input_done_ = true;
          continue;
        }
        Add(read_++, std::move(*element), std::move(before), /*replaying=*/false);
      } else if (!groups_.empty()) {
        Reduce(groups_.begin()->first);
      } else {
        return std::nullopt;
      }
    }
  }

  void SaveInternal(StateWriter& w) override {
    const GroupByWindowDataset& ds = dataset();
    if (ds.options.stateful) {
      w.ReportExternalState("group_by_window(fn=" + ds.options.name +
                            "): the function is declared stateful");
    }
    const Window* oldest = current_ ? &current_window_ : nullptr;
    for (const auto& [key, window] : groups_) {
      if (!oldest || window.positions.front() < oldest->positions.front()) oldest = &window;
    }
    w.WriteInt(kRead, read_);
    w.WriteBool(kInputDone, input_done_);
    if (!oldest) {
      w.WriteInt(kAnchor, read_);
      SaveInput(w);
      return;
    }
    const int64_t anchor = oldest->positions.front();
    w.WriteInt(kAnchor, anchor);
    w.WriteChildNode(kInputKey, oldest->first_node);
    PositionBitmap open(read_ - anchor);
    for (const auto& [key, window] : groups_) SetPositions(window.positions, anchor, &open);
    w.WriteBytes(kOpen, open.Encode());
    // The anchor's node was captured by the read that succeeded, after the errors there.
    errors_.Save(w, anchor + 1);
    if (current_) {
      PositionBitmap current(read_ - anchor);
      SetPositions(current_window_.positions, anchor, &current);
      w.WriteBytes(kCurrent, current.Encode());
      w.WriteChild(kReduce, *current_);
    }
  }

  void RestoreInternal(StateReader& r) override {
    read_ = ReadCounter(r, kRead);
    input_done_ = r.ReadBool(kInputDone);
    const int64_t anchor = r.ReadIntInRange(kAnchor, 0, read_);
    RestoreInput(r);
    const int64_t span = read_ - anchor;
    const bool has_current = r.HasChild(kReduce);
    const PositionBitmap open =
        span > 0 ? PositionBitmap::Decode(r.ReadBytes(kOpen), span, "group_by_window 'open'")
                 : PositionBitmap();
    const PositionBitmap current = has_current ? PositionBitmap::Decode(r.ReadBytes(kCurrent), span,
                                                                        "group_by_window 'current'")
                                               : PositionBitmap(span);
    errors_.Restore(r, anchor + 1, read_, dataset());
    // Re-read from the anchor, putting each element back where it was.
    for (int64_t position = anchor; position < read_; ++position) {
      StateNode before;
      std::optional<Element> element = errors_.Replay(*input_, position, dataset(), &before);
      if (!element) {
        throw DataLossError("corrupt state: group_by_window's input ended at position " +
                            std::to_string(position) + " of " + std::to_string(read_) +
                            " during replay");
      }
      const int64_t bit = position - anchor;
      if (current.Test(bit)) {
        if (current_window_.positions.empty()) current_window_.first_node = std::move(before);
        current_window_.positions.push_back(position);
        current_window_.elements.push_back(std::move(*element));
      } else if (open.Test(bit)) {
        Add(position, std::move(*element), std::move(before), /*replaying=*/true);
      }
    }
    // Past the last element read, the errors the live run raised since: the input moved past
    // them. Once the input has ended nothing reads it again.
    if (input_done_) {
      errors_.EndReplay();
    } else {
      errors_.ReplayTrailing(*input_, read_, dataset());
    }
    if (has_current) {
      if (current_window_.elements.empty())
        throw DataLossError("corrupt state: group_by_window: empty window");
      current_window_.key = dataset().key_fn(current_window_.elements.front());
      current_ = MakeReduceIterator(current_window_);
      current_->RestoreNode(r.ChildNode(kReduce));
    }
  }

 private:
  struct Window {
    int64_t key = 0;
    std::vector<Element> elements;
    std::vector<int64_t> positions;  // input positions of `elements`
    StateNode first_node;            // the input's state before elements[0]
  };

  // The input position of the oldest element in a window (open or being reduced); read_ when
  // there is none.
  int64_t OldestPosition() const {
    int64_t oldest = current_ ? current_window_.positions.front() : read_;
    for (const auto& [key, window] : groups_) oldest = std::min(oldest, window.positions.front());
    return oldest;
  }

  static void SetPositions(const std::vector<int64_t>& positions, int64_t anchor,
                           PositionBitmap* bitmap) {
    for (int64_t p : positions) bitmap->Set(p - anchor);
  }

  void Add(int64_t position, Element element, StateNode before, bool replaying) {
    int64_t key = dataset().key_fn(element);
    // Before the element joins a window: a failed size drops it, as in tf.data. A replayed
    // element's window was open at the save, so it cannot fill here; its size is asked later.
    const int64_t window_size = replaying ? 0 : WindowSize(key);
    Window& window = groups_[key];
    if (window.positions.empty()) {
      window.key = key;
      window.first_node = std::move(before);
    }
    window.positions.push_back(position);
    window.elements.push_back(std::move(element));
    if (!replaying && static_cast<int64_t>(window.elements.size()) == window_size) Reduce(key);
  }

  int64_t WindowSize(int64_t key) {
    const GroupByWindowDataset& ds = dataset();
    if (!ds.window_size_fn) return ds.window_size;
    auto known = window_sizes_.find(key);
    if (known != window_sizes_.end()) return known->second;
    const int64_t size = ds.window_size_fn(key);
    if (size <= 0) {
      throw InvalidArgumentError("group_by_window(fn=" + ds.options.name +
                                 "): window_size_func returned " + std::to_string(size) +
                                 " for key " + std::to_string(key) + "; it must be positive");
    }
    window_sizes_.emplace(key, size);
    return size;
  }

  void Reduce(int64_t key) {
    auto node = groups_.extract(key);
    current_window_ = std::move(node.mapped());
    current_ = MakeReduceIterator(current_window_);
  }

  std::unique_ptr<Iterator> MakeReduceIterator(const Window& window) {
    const GroupByWindowDataset& ds = dataset();
    DatasetPtr reduced =
        ds.reduce_fn(window.key, MakeElementListDataset("group_window", window.elements));
    if (!reduced) {
      throw InvalidArgumentError("group_by_window(fn=" + ds.options.name +
                                 "): reduce_fn returned a null dataset");
    }
    return reduced->MakeIterator();
  }

  std::map<int64_t, Window> groups_;                   // open windows by key
  std::unordered_map<int64_t, int64_t> window_sizes_;  // window_size_fn's answers, by key
  Window current_window_;                              // the window being reduced (while current_)
  std::unique_ptr<Iterator> current_;
  int64_t read_ = 0;
  bool input_done_ = false;
  InputErrorLog errors_;  // the input's errors since the oldest element in a window
};

DatasetPtr MakeGroupByWindow(DatasetPtr input, KeyFn key_fn, ReduceFn reduce_fn,
                             int64_t window_size, WindowSizeFn window_size_fn,
                             FunctionOptions options) {
  CheckInput(input, "group_by_window");
  CheckFn(key_fn, "group_by_window", "key_func");
  CheckFn(reduce_fn, "group_by_window", "reduce_func");
  return std::make_shared<GroupByWindowDataset>(std::move(input), std::move(key_fn),
                                                std::move(reduce_fn), window_size,
                                                std::move(window_size_fn), std::move(options));
}
}  // namespace

DatasetPtr GroupByWindow(DatasetPtr input, KeyFn key_fn, ReduceFn reduce_fn, int64_t window_size,
                         FunctionOptions options) {
  CheckPositive(window_size, "group_by_window", "window_size");
  return MakeGroupByWindow(std::move(input), std::move(key_fn), std::move(reduce_fn), window_size,
                           WindowSizeFn(), std::move(options));
}

DatasetPtr GroupByWindow(DatasetPtr input, KeyFn key_fn, ReduceFn reduce_fn,
                         WindowSizeFn window_size_fn, FunctionOptions options) {
  CheckFn(window_size_fn, "group_by_window", "window_size_func");
  return MakeGroupByWindow(std::move(input), std::move(key_fn), std::move(reduce_fn),
                           /*window_size=*/0, std::move(window_size_fn), std::move(options));
}

}  // namespace inputpipe
