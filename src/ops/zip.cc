// zip(inputs, keys): tuples (or dicts named by `keys`) of one element from each input, ending
// with the shortest input. State: each input's state ("input_0", ...), or an explicit
// `exhausted` flag once an input has ended (the others may have read one element past the last
// tuple). Random-access when every input is.
#include <algorithm>
#include <set>

#include "core/element_skip.h"
#include "core/op_skeleton.h"
#include "inputpipe/ops.h"

namespace inputpipe {

namespace {
constexpr char kExhausted[] = "exhausted";

class ZipIterator;

class ZipDataset : public OpDataset<ZipDataset, ZipIterator, NaryDataset> {
 public:
  ZipDataset(std::vector<DatasetPtr> inputs, std::vector<std::string> keys)
      : OpDataset(std::move(inputs)), keys_(std::move(keys)) {}

  std::string op_name() const override { return "zip"; }
  std::string params() const override {
    std::string out = "inputs=" + std::to_string(inputs_.size());
    if (!keys_.empty()) {
      out += ", keys=[";
      for (size_t i = 0; i < keys_.size(); ++i) out += (i ? ", " : "") + keys_[i];
      out += "]";
    }
    return out;
  }
  // As tf.data: unknown if any input is unknown, else the shortest finite one, else infinite.
  int64_t Cardinality() const override {
    int64_t result = kInfiniteCardinality;
    for (const auto& input : inputs_) {
      int64_t n = input->Cardinality();
      if (n == kUnknownCardinality) return kUnknownCardinality;
      if (n != kInfiniteCardinality && (result == kInfiniteCardinality || n < result)) result = n;
    }
    return result;
  }
  bool IsRandomAccess() const override {
    return std::all_of(inputs_.begin(), inputs_.end(),
                       [](const DatasetPtr& d) { return d->IsRandomAccess(); });
  }
  Element Get(int64_t index) const override {
    std::vector<Element> items;
    for (const auto& input : inputs_) items.push_back(input->Get(index));
    return Pack(std::move(items));
  }

  Element Pack(std::vector<Element> items) const {
    if (keys_.empty()) return Element::Tuple(std::move(items));
    std::vector<std::pair<std::string, Element>> named;
    for (size_t i = 0; i < items.size(); ++i) named.emplace_back(keys_[i], std::move(items[i]));
    return Element::Dict(std::move(named));
  }

 private:
  const std::vector<std::string> keys_;
};

// Moves past tuples by moving each input past one element in turn, as GetNextInternal reads
// them (ElementSkipper): a seek where the inputs can, the same state as stepping.
class ZipIterator : public NaryIterator<ZipDataset>, public ElementSkipper {
 public:
  using NaryIterator::NaryIterator;

  // A failed read leaves the inputs after it unmoved (GetNextInternal): only kUnread can seek,
  // or kExact over one input (filter(processes=True)'s zip((ds,))) or none left (exhausted).
  bool Seeks(SkipMode mode) const override {
    return mode == SkipMode::kUnread || inputs_.size() <= 1;
  }
  int64_t SkipElements(int64_t n, SkipMode mode) override {
    for (int64_t moved = 0; moved < n; ++moved) {
      if (exhausted_) return moved;
      for (auto& input : inputs_) {
        if (inputpipe::SkipElements(*input, 1, mode) == 0) {
          exhausted_ = true;
          inputs_.clear();
          return moved;
        }
      }
    }
    return n;
  }

 protected:
  std::optional<Element> GetNextInternal() override {
    if (exhausted_) return std::nullopt;
    std::vector<Element> items;
    for (auto& input : inputs_) {
      std::optional<Element> item = input->GetNext();
      if (!item) {
        exhausted_ = true;
        inputs_.clear();
        return std::nullopt;
      }
      items.push_back(std::move(*item));
    }
    return dataset().Pack(std::move(items));
  }
  void SaveInternal(StateWriter& w) override {
    w.WriteBool(kExhausted, exhausted_);
    SaveInputs(w);
  }
  void RestoreInternal(StateReader& r) override {
    exhausted_ = r.ReadBool(kExhausted);
    if (exhausted_) {
      inputs_.clear();
    } else {
      RestoreInputs(r);
    }
  }

 private:
  bool exhausted_ = false;
};
}  // namespace

DatasetPtr Zip(std::vector<DatasetPtr> inputs, std::vector<std::string> keys) {
  if (inputs.empty()) throw InvalidArgumentError("zip: inputs must hold at least one dataset");
  CheckInputs(inputs, "zip");
  if (!keys.empty()) {
    if (keys.size() != inputs.size()) {
      throw InvalidArgumentError("zip: keys has " + std::to_string(keys.size()) + " names for " +
                                 std::to_string(inputs.size()) + " inputs");
    }
    std::set<std::string> seen;
    for (const auto& key : keys) {
      if (!seen.insert(key).second) throw InvalidArgumentError("zip: duplicate key '" + key + "'");
    }
  }
  return std::make_shared<ZipDataset>(std::move(inputs), std::move(keys));
}

}  // namespace inputpipe
