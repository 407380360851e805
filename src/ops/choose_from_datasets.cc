// choose_from_datasets(inputs, choice_dataset, stop_on_empty_dataset): element k comes from
// inputs[c], c being the next element of choice_dataset (int64 scalars in [0, inputs.size()),
// else InvalidArgumentError). The stream ends when the choices end. When the chosen input has
// ended: with stop_on_empty_dataset (tf.data's default) the stream ends; without, the choice is
// skipped and the next one read, and the stream ends once every input has ended (tf.data's
// DirectedInterleave: an ended input is never read again, even if chosen). The inputs must
// produce one structure and dtypes (shapes may differ), as concatenate: ops/element_spec.h.
//
// State: the choice iterator's state, a stopped flag, and the state of every input not ended
// (absent = ended, which is all that stop_on_empty_dataset=false needs to remember).
#include <algorithm>

#include "core/op_skeleton.h"
#include "inputpipe/ops.h"
#include "ops/element_spec.h"

namespace inputpipe {

namespace {
constexpr char kChoice[] = "choice";
constexpr char kStopped[] = "stopped";  // the stream has ended

class ChooseIterator;

class ChooseDataset : public OpDataset<ChooseDataset, ChooseIterator, NaryDataset> {
 public:
  ChooseDataset(std::vector<DatasetPtr> inputs, DatasetPtr choice, bool stop_on_empty)
      : OpDataset(std::move(inputs)), choice(std::move(choice)), stop_on_empty(stop_on_empty) {}

  std::string op_name() const override { return "choose_from_datasets"; }
  std::string params() const override {
    return "num_datasets=" + std::to_string(inputs_.size()) +
           ", stop_on_empty_dataset=" + (stop_on_empty ? "true" : "false");
  }
  std::vector<DatasetPtr> inputs() const override {
    std::vector<DatasetPtr> all = {choice};
    all.insert(all.end(), inputs_.begin(), inputs_.end());
    return all;
  }
  int64_t Cardinality() const override {
    return choice->Cardinality() == 0 ? 0 : kUnknownCardinality;
  }

  const DatasetPtr choice;
  const bool stop_on_empty;
};

// inputs_[i] (input_<i> in the state) is dropped once it has ended.
class ChooseIterator : public NaryIterator<ChooseDataset> {
 public:
  explicit ChooseIterator(const ChooseDataset& ds)
      : NaryIterator(ds),
        choice_(ds.choice->MakeIterator()),
        live_(inputs_.size()),
        specs_("choose_from_datasets", inputs_.size()) {}

 protected:
  std::optional<Element> GetNextInternal() override {
    while (!stopped_) {
      std::optional<Element> choice = choice_->GetNext();
      if (!choice) break;
      const size_t i = CheckedChoice(*choice);
      if (!inputs_[i]) continue;  // ended before: skipped (only without stop_on_empty)
      if (std::optional<Element> element = inputs_[i]->GetNext()) {
        specs_.Check(i, *element);
        return element;
      }
      inputs_[i].reset();
      --live_;
      if (dataset().stop_on_empty || live_ == 0) break;
    }
    stopped_ = true;
    return std::nullopt;
  }

  void SaveInternal(StateWriter& w) override {
    w.WriteBool(kStopped, stopped_);
    w.WriteChild(kChoice, *choice_);
    SaveInputs(w);
  }

  void RestoreInternal(StateReader& r) override {
    stopped_ = r.ReadBool(kStopped);
    r.RestoreChild(kChoice, *choice_);
    RestoreLiveInputs(r);
    live_ = std::count_if(inputs_.begin(), inputs_.end(),
                          [](const std::unique_ptr<Iterator>& in) { return in != nullptr; });
    if (live_ == 0 && !stopped_) {
      throw DataLossError(
          "corrupt state: choose_from_datasets: every input ended but the stream "
          "did not stop");
    }
  }

 private:
  // The input index `choice` names. Checked even when that input has ended, as tf.data does.
  size_t CheckedChoice(const Element& choice) const {
    if (!choice.is_tensor() || choice.tensor().dtype() != DType::kInt64 ||
        choice.tensor().rank() != 0) {
      throw InvalidArgumentError(
          "choose_from_datasets: choice_dataset must produce int64 scalars, got " +
          choice.StructureString());
    }
    const int64_t i = choice.tensor().scalar<int64_t>();
    if (i < 0 || i >= static_cast<int64_t>(inputs_.size())) {
      throw InvalidArgumentError("choose_from_datasets: choice " + std::to_string(i) +
                                 " is out of range [0, " + std::to_string(inputs_.size()) + ")");
    }
    return static_cast<size_t>(i);
  }

  std::unique_ptr<Iterator> choice_;
  int64_t live_;  // inputs not ended
  bool stopped_ = false;
  InputSpecChecker specs_;  // not saved: a restored iterator checks its inputs again
};
}  // namespace

DatasetPtr ChooseFromDatasets(std::vector<DatasetPtr> inputs, DatasetPtr choice_dataset,
                              bool stop_on_empty_dataset) {
  if (inputs.empty())
    throw InvalidArgumentError("choose_from_datasets: needs at least one dataset");
  CheckInputs(inputs, "choose_from_datasets", "datasets");
  CheckRandomAccessInputSpecs(inputs, "choose_from_datasets");
  if (!choice_dataset) throw InvalidArgumentError("choose_from_datasets: choice_dataset is null");
  return std::make_shared<ChooseDataset>(std::move(inputs), std::move(choice_dataset),
                                         stop_on_empty_dataset);
}

}  // namespace inputpipe
