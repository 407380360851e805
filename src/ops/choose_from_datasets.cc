// choose_from_datasets(inputs, choice_dataset, stop_on_empty_dataset): element k comes from
// inputs[c], c being the next element of choice_dataset (int64 scalars in [0, inputs.size()),
// else InvalidArgumentError). The stream ends when the choices end. When the chosen input has
// ended: with stop_on_empty_dataset (tf.data's default) the stream ends; without, the choice is
// skipped and the next one read, and the stream ends once every input has ended (tf.data's
// DirectedInterleave: an ended input is never read again, even if chosen).
//
// State: the choice iterator's state, a stopped flag, and the state of every input not ended
// (absent = ended, which is all that stop_on_empty_dataset=false needs to remember).
#include "inputpipe/ops.h"

namespace inputpipe {

namespace {
constexpr char kChoice[] = "choice";
constexpr char kStopped[] = "stopped";                                   // the stream has ended
std::string InputKey(size_t i) { return "input_" + std::to_string(i); }  // absent once ended

class ChooseDataset : public Dataset {
 public:
  ChooseDataset(std::vector<DatasetPtr> inputs, DatasetPtr choice, bool stop_on_empty)
      : inputs_(std::move(inputs)), choice_(std::move(choice)), stop_on_empty_(stop_on_empty) {}

  std::string op_name() const override { return "choose_from_datasets"; }
  std::string params() const override {
    return "num_datasets=" + std::to_string(inputs_.size()) +
           ", stop_on_empty_dataset=" + (stop_on_empty_ ? "true" : "false");
  }
  std::vector<DatasetPtr> inputs() const override {
    std::vector<DatasetPtr> all = {choice_};
    all.insert(all.end(), inputs_.begin(), inputs_.end());
    return all;
  }
  int64_t Cardinality() const override {
    return choice_->Cardinality() == 0 ? 0 : kUnknownCardinality;
  }

 protected:
  std::unique_ptr<Iterator> MakeIteratorInternal() const override;

 private:
  friend class ChooseIterator;
  const std::vector<DatasetPtr> inputs_;
  const DatasetPtr choice_;
  const bool stop_on_empty_;
};

class ChooseIterator : public Iterator {
 public:
  explicit ChooseIterator(const ChooseDataset& ds)
      : Iterator(ds.shared()), ds_(ds), choice_(ds.choice_->MakeIterator()) {
    for (const auto& input : ds.inputs_) inputs_.push_back(input->MakeIterator());
    live_ = static_cast<int64_t>(inputs_.size());
  }

 protected:
  std::optional<Element> GetNextInternal() override {
    while (!stopped_) {
      std::optional<Element> choice = choice_->GetNext();
      if (!choice) break;
      const size_t i = CheckedChoice(*choice);
      if (!inputs_[i]) continue;  // ended before: skipped (only without stop_on_empty)
      if (std::optional<Element> element = inputs_[i]->GetNext()) return element;
      inputs_[i].reset();
      --live_;
      if (ds_.stop_on_empty_ || live_ == 0) break;
    }
    stopped_ = true;
    return std::nullopt;
  }

  void SaveInternal(StateWriter& w) override {
    w.WriteBool(kStopped, stopped_);
    w.WriteChild(kChoice, *choice_);
    for (size_t i = 0; i < inputs_.size(); ++i) {
      if (inputs_[i]) w.WriteChild(InputKey(i), *inputs_[i]);
    }
  }

  void RestoreInternal(StateReader& r) override {
    stopped_ = r.ReadBool(kStopped);
    r.RestoreChild(kChoice, *choice_);
    live_ = 0;
    for (size_t i = 0; i < inputs_.size(); ++i) {
      if (r.HasChild(InputKey(i))) {
        r.RestoreChild(InputKey(i), *inputs_[i]);
        ++live_;
      } else {
        inputs_[i].reset();
      }
    }
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

  const ChooseDataset& ds_;
  std::unique_ptr<Iterator> choice_;
  std::vector<std::unique_ptr<Iterator>> inputs_;  // null once ended
  int64_t live_ = 0;                               // inputs not ended
  bool stopped_ = false;
};

std::unique_ptr<Iterator> ChooseDataset::MakeIteratorInternal() const {
  return std::make_unique<ChooseIterator>(*this);
}
}  // namespace

DatasetPtr ChooseFromDatasets(std::vector<DatasetPtr> inputs, DatasetPtr choice_dataset,
                              bool stop_on_empty_dataset) {
  if (inputs.empty())
    throw InvalidArgumentError("choose_from_datasets: needs at least one dataset");
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i])
      throw InvalidArgumentError("choose_from_datasets: dataset " + std::to_string(i) + " is null");
  }
  if (!choice_dataset) throw InvalidArgumentError("choose_from_datasets: choice_dataset is null");
  return std::make_shared<ChooseDataset>(std::move(inputs), std::move(choice_dataset),
                                         stop_on_empty_dataset);
}

}  // namespace inputpipe
