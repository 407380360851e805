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
// "current": in the window being reduced) and the reduce iterator's state. Keys are recomputed
// by key_fn on restore, which re-reads the input from the anchor: the state grows by two bits
// per element of that span (docs/reorder.md), the replay by that span's elements. One
// input->SaveNode() per element read keeps an anchor ready for every window. Window sizes from
// window_size_fn are not saved: a restored iterator asks window_size_fn again (a pure function
// gives the same sizes; a stateful one is reported as external state).
#include <map>
#include <unordered_map>

#include "core/tensor_ops.h"
#include "core/element_list_dataset.h"
#include "inputpipe/ops.h"

namespace inputpipe {

namespace {
constexpr char kInput[] = "input";    // the input's state at the anchor
constexpr char kAnchor[] = "anchor";  // input position of the anchor
constexpr char kRead[] = "read";      // elements read from the input
constexpr char kInputDone[] = "input_done";
constexpr char kOpen[] = "open";        // bitmap from the anchor: in an open window
constexpr char kCurrent[] = "current";  // bitmap from the anchor: in the window being reduced
constexpr char kReduce[] = "reduce";    // the reduce iterator's state, while one is active

class GroupByWindowDataset : public Dataset {
 public:
  // Exactly one of window_size (> 0) and window_size_fn is given.
  GroupByWindowDataset(DatasetPtr input, KeyFn key_fn, ReduceFn reduce_fn, int64_t window_size,
                       WindowSizeFn window_size_fn, FunctionOptions options)
      : input_(std::move(input)),
        key_fn_(std::move(key_fn)),
        reduce_fn_(std::move(reduce_fn)),
        window_size_(window_size),
        window_size_fn_(std::move(window_size_fn)),
        options_(std::move(options)) {}

  std::string op_name() const override { return "group_by_window"; }
  std::string params() const override {
    return "fn=" + options_.name + (options_.stateful ? ", stateful=true" : "") +
           (window_size_fn_ ? ", window_size=window_size_func"
                            : ", window_size=" + std::to_string(window_size_));
  }
  std::vector<DatasetPtr> inputs() const override { return {input_}; }
  int64_t Cardinality() const override {
    return input_->Cardinality() == 0 ? 0 : kUnknownCardinality;
  }

 protected:
  std::unique_ptr<Iterator> MakeIteratorInternal() const override;

 private:
  friend class GroupByWindowIterator;
  const DatasetPtr input_;
  const KeyFn key_fn_;
  const ReduceFn reduce_fn_;
  const int64_t window_size_;  // 0 when window_size_fn_ gives the sizes
  const WindowSizeFn window_size_fn_;
  const FunctionOptions options_;
};

class GroupByWindowIterator : public Iterator {
 public:
  explicit GroupByWindowIterator(const GroupByWindowDataset& ds)
      : Iterator(ds.shared()), ds_(ds), input_(ds.input_->MakeIterator()) {}

 protected:
  std::optional<Element> GetNextInternal() override {
    while (true) {
      if (current_) {
        if (std::optional<Element> element = current_->GetNext()) return element;
        current_.reset();
        current_window_ = Window();
      }
      if (!input_done_) {
        StateNode before = input_->SaveNode();
        std::optional<Element> element = input_->GetNext();
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
    if (ds_.options_.stateful) {
      w.ReportExternalState("group_by_window(fn=" + ds_.options_.name +
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
      w.WriteChild(kInput, *input_);
      return;
    }
    const int64_t anchor = oldest->positions.front();
    w.WriteInt(kAnchor, anchor);
    w.WriteChildNode(kInput, oldest->first_node);
    std::string open((read_ - anchor + 7) / 8, '\0');
    for (const auto& [key, window] : groups_) SetBits(window.positions, anchor, &open);
    w.WriteBytes(kOpen, std::move(open));
    if (current_) {
      std::string current((read_ - anchor + 7) / 8, '\0');
      SetBits(current_window_.positions, anchor, &current);
      w.WriteBytes(kCurrent, std::move(current));
      w.WriteChild(kReduce, *current_);
    }
  }

  void RestoreInternal(StateReader& r) override {
    read_ = r.ReadIntInRange(kRead, 0, INT64_MAX);
    input_done_ = r.ReadBool(kInputDone);
    const int64_t anchor = r.ReadIntInRange(kAnchor, 0, read_);
    r.RestoreChild(kInput, *input_);
    const std::string empty;
    const std::string& open = anchor < read_ ? r.ReadBytes(kOpen) : empty;
    const bool has_current = r.HasChild(kReduce);
    const std::string& current = has_current ? r.ReadBytes(kCurrent) : empty;
    const size_t bytes = static_cast<size_t>((read_ - anchor + 7) / 8);
    if (open.size() != bytes || (has_current && current.size() != bytes)) {
      throw DataLossError("corrupt state: group_by_window bitmaps of " +
                          std::to_string(open.size()) + " bytes for " +
                          std::to_string(read_ - anchor) + " positions");
    }
    // Re-read from the anchor, putting each element back where it was.
    for (int64_t position = anchor; position < read_; ++position) {
      StateNode before = input_->SaveNode();
      std::optional<Element> element = input_->GetNext();
      if (!element) {
        throw DataLossError("corrupt state: group_by_window's input ended at position " +
                            std::to_string(position) + " of " + std::to_string(read_) +
                            " during replay");
      }
      const int64_t bit = position - anchor;
      if (has_current && ((static_cast<uint8_t>(current[bit / 8]) >> (bit % 8)) & 1)) {
        if (current_window_.positions.empty()) current_window_.first_node = std::move(before);
        current_window_.positions.push_back(position);
        current_window_.elements.push_back(std::move(*element));
      } else if ((static_cast<uint8_t>(open[bit / 8]) >> (bit % 8)) & 1) {
        Add(position, std::move(*element), std::move(before), /*replaying=*/true);
      }
    }
    if (has_current) {
      if (current_window_.elements.empty())
        throw DataLossError("corrupt state: group_by_window: empty window");
      current_window_.key = ds_.key_fn_(current_window_.elements.front());
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

  static void SetBits(const std::vector<int64_t>& positions, int64_t anchor, std::string* bitmap) {
    for (int64_t p : positions) {
      int64_t bit = p - anchor;
      (*bitmap)[bit / 8] = static_cast<char>((*bitmap)[bit / 8] | (1 << (bit % 8)));
    }
  }

  void Add(int64_t position, Element element, StateNode before, bool replaying) {
    int64_t key = ds_.key_fn_(element);
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
    if (!ds_.window_size_fn_) return ds_.window_size_;
    auto known = window_sizes_.find(key);
    if (known != window_sizes_.end()) return known->second;
    const int64_t size = ds_.window_size_fn_(key);
    if (size <= 0) {
      throw InvalidArgumentError("group_by_window(fn=" + ds_.options_.name +
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
    DatasetPtr reduced =
        ds_.reduce_fn_(window.key, MakeElementListDataset("group_window", window.elements));
    if (!reduced) {
      throw InvalidArgumentError("group_by_window(fn=" + ds_.options_.name +
                                 "): reduce_fn returned a null dataset");
    }
    return reduced->MakeIterator();
  }

  const GroupByWindowDataset& ds_;
  std::unique_ptr<Iterator> input_;
  std::map<int64_t, Window> groups_;                   // open windows by key
  std::unordered_map<int64_t, int64_t> window_sizes_;  // window_size_fn's answers, by key
  Window current_window_;                              // the window being reduced (while current_)
  std::unique_ptr<Iterator> current_;
  int64_t read_ = 0;
  bool input_done_ = false;
};

std::unique_ptr<Iterator> GroupByWindowDataset::MakeIteratorInternal() const {
  return std::make_unique<GroupByWindowIterator>(*this);
}

DatasetPtr MakeGroupByWindow(DatasetPtr input, KeyFn key_fn, ReduceFn reduce_fn,
                             int64_t window_size, WindowSizeFn window_size_fn,
                             FunctionOptions options) {
  if (!input) throw InvalidArgumentError("group_by_window: input dataset is null");
  if (!key_fn) throw InvalidArgumentError("group_by_window: key_func is empty");
  if (!reduce_fn) throw InvalidArgumentError("group_by_window: reduce_func is empty");
  return std::make_shared<GroupByWindowDataset>(std::move(input), std::move(key_fn),
                                                std::move(reduce_fn), window_size,
                                                std::move(window_size_fn), std::move(options));
}
}  // namespace

DatasetPtr GroupByWindow(DatasetPtr input, KeyFn key_fn, ReduceFn reduce_fn, int64_t window_size,
                         FunctionOptions options) {
  if (window_size <= 0) {
    throw InvalidArgumentError("group_by_window: window_size must be positive, got " +
                               std::to_string(window_size));
  }
  return MakeGroupByWindow(std::move(input), std::move(key_fn), std::move(reduce_fn), window_size,
                           WindowSizeFn(), std::move(options));
}

DatasetPtr GroupByWindow(DatasetPtr input, KeyFn key_fn, ReduceFn reduce_fn,
                         WindowSizeFn window_size_fn, FunctionOptions options) {
  if (!window_size_fn) throw InvalidArgumentError("group_by_window: window_size_func is empty");
  return MakeGroupByWindow(std::move(input), std::move(key_fn), std::move(reduce_fn),
                           /*window_size=*/0, std::move(window_size_fn), std::move(options));
}

}  // namespace inputpipe
