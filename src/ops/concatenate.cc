// concatenate(first, second): every element of `first`, then every element of `second`; both
// must produce the same structure and dtypes (shapes may differ, as tf.data). State: which
// input is active (0, 1, or 2 = exhausted) and that input's state. Random-access when both
// inputs are and `first` is finite.
#include <limits>

#include "core/op_skeleton.h"
#include "ops/element_spec.h"
#include "inputpipe/ops.h"

namespace inputpipe {

namespace {
constexpr char kActive[] = "active";  // 0: first, 1: second, 2: exhausted
constexpr char kInput[] = "input";
constexpr int64_t kDone = 2;

void CheckSpec(const Element& first, const Element& second) {
  if (!SameElementSpec(first, second)) {
    throw InvalidArgumentError(
        "concatenate: the inputs have incompatible element structures or dtypes: first has " +
        first.StructureString() + ", second has " + second.StructureString());
  }
}

class ConcatenateIterator;

class ConcatenateDataset : public OpDataset<ConcatenateDataset, ConcatenateIterator, NaryDataset> {
 public:
  ConcatenateDataset(DatasetPtr first, DatasetPtr second)
      : OpDataset(std::vector<DatasetPtr>{std::move(first), std::move(second)}) {}

  std::string op_name() const override { return "concatenate"; }
  std::string params() const override { return ""; }
  int64_t Cardinality() const override {
    int64_t a = inputs_[0]->Cardinality(), b = inputs_[1]->Cardinality();
    if (a == kInfiniteCardinality || b == kInfiniteCardinality) return kInfiniteCardinality;
    if (a == kUnknownCardinality || b == kUnknownCardinality) return kUnknownCardinality;
    return a + b;
  }
  bool IsRandomAccess() const override {
    return inputs_[0]->IsRandomAccess() && inputs_[1]->IsRandomAccess() &&
           inputs_[0]->Cardinality() >= 0;
  }
  Element Get(int64_t index) const override {
    int64_t n = inputs_[0]->Cardinality();
    return index < n ? inputs_[0]->Get(index) : inputs_[1]->Get(index - n);
  }
};

// One input iterator at a time, not NaryIterator's one per input: the second is made when the
// first ends, as tf.data does.
class ConcatenateIterator : public DatasetIterator<ConcatenateDataset> {
 public:
  explicit ConcatenateIterator(const ConcatenateDataset& ds)
      : DatasetIterator(ds), input_(ds.input_list()[0]->MakeIterator()) {}

 protected:
  std::optional<Element> GetNextInternal() override {
    while (active_ < kDone) {
      std::optional<Element> element = input_->GetNext();
      if (element) {
        // The structures can only be compared where the inputs meet (no static specs).
        if (active_ == 0) last_of_first_ = element;
        if (active_ == 1 && last_of_first_) {
          CheckSpec(*last_of_first_, *element);
          last_of_first_.reset();
        }
        return element;
      }
      Activate(active_ + 1);
    }
    return std::nullopt;
  }
  void SaveInternal(StateWriter& w) override {
    w.WriteInt(kActive, active_);
    if (input_) w.WriteChild(kInput, *input_);
  }
  void RestoreInternal(StateReader& r) override {
    Activate(r.ReadIntInRange(kActive, 0, kDone));
    if (input_) r.RestoreChild(kInput, *input_);
  }

 private:
  void Activate(int64_t active) {
    if (active != active_) {
      input_ = active < kDone ? dataset().input_list()[active]->MakeIterator() : nullptr;
    }
    active_ = active;
  }

  int64_t active_ = 0;
  std::unique_ptr<Iterator> input_;       // of input active_; null once exhausted
  std::optional<Element> last_of_first_;  // only for the structure check, never saved
};
}  // namespace

DatasetPtr Concatenate(DatasetPtr first, DatasetPtr second) {
  if (!first) throw InvalidArgumentError("concatenate: first dataset is null");
  if (!second) throw InvalidArgumentError("concatenate: second dataset is null");
  // Random-access inputs can be checked now, as tf.data checks its static element specs.
  if (first->IsRandomAccess() && second->IsRandomAccess() && first->Cardinality() > 0 &&
      second->Cardinality() > 0) {
    CheckSpec(first->Get(0), second->Get(0));
  }
  return std::make_shared<ConcatenateDataset>(std::move(first), std::move(second));
}

}  // namespace inputpipe
