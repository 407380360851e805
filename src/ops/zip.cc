// zip(inputs, keys): tuples (or dicts named by `keys`) of one element from each input, ending
// with the shortest input. State: each input's state, or an explicit `exhausted` flag once an
// input has ended (the others may have read one element past the last tuple). Random-access
// when every input is.
#include <algorithm>
#include <set>

#include "inputpipe/ops.h"

namespace inputpipe {

namespace {
constexpr char kExhausted[] = "exhausted";
constexpr char kInputPrefix[] = "input_";  // input_0, input_1, ...

std::string InputKey(size_t i) { return kInputPrefix + std::to_string(i); }

class ZipDataset : public Dataset {
 public:
  ZipDataset(std::vector<DatasetPtr> inputs, std::vector<std::string> keys)
      : inputs_(std::move(inputs)), keys_(std::move(keys)) {}

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
  std::vector<DatasetPtr> inputs() const override { return inputs_; }
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

 protected:
  std::unique_ptr<Iterator> MakeIteratorInternal() const override;

 private:
  friend class ZipIterator;
  const std::vector<DatasetPtr> inputs_;
  const std::vector<std::string> keys_;
};

class ZipIterator : public Iterator {
 public:
  explicit ZipIterator(const ZipDataset& ds) : Iterator(ds.shared()), ds_(ds) {
    for (const auto& input : ds.inputs_) inputs_.push_back(input->MakeIterator());
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
    return ds_.Pack(std::move(items));
  }
  void SaveInternal(StateWriter& w) override {
    w.WriteBool(kExhausted, exhausted_);
    for (size_t i = 0; i < inputs_.size(); ++i) w.WriteChild(InputKey(i), *inputs_[i]);
  }
  void RestoreInternal(StateReader& r) override {
    exhausted_ = r.ReadBool(kExhausted);
    if (exhausted_) {
      inputs_.clear();
      return;
    }
    for (size_t i = 0; i < inputs_.size(); ++i) r.RestoreChild(InputKey(i), *inputs_[i]);
  }

 private:
  const ZipDataset& ds_;
  std::vector<std::unique_ptr<Iterator>> inputs_;
  bool exhausted_ = false;
};

std::unique_ptr<Iterator> ZipDataset::MakeIteratorInternal() const {
  return std::make_unique<ZipIterator>(*this);
}
}  // namespace

DatasetPtr Zip(std::vector<DatasetPtr> inputs, std::vector<std::string> keys) {
  if (inputs.empty()) throw InvalidArgumentError("zip: inputs must hold at least one dataset");
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i]) throw InvalidArgumentError("zip: inputs[" + std::to_string(i) + "] is null");
  }
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
