// choose_from_datasets(inputs, choice_dataset): element k comes from inputs[c_k], where c_k
// is the k-th element of choice_dataset (int64 scalars in [0, inputs.size())). As tf.data's
// default (stop_on_empty_dataset=True), the stream ends when the choices end or a chosen
// input has ended. State: the choice iterator's and the inputs' states, and a stopped flag.
#include "inputpipe/ops.h"

namespace inputpipe {

namespace {
constexpr char kChoice[] = "choice";
constexpr char kStopped[] = "stopped";
std::string InputKey(size_t i) { return "input_" + std::to_string(i); }

class ChooseDataset : public Dataset {
 public:
  ChooseDataset(std::vector<DatasetPtr> inputs, DatasetPtr choice)
      : inputs_(std::move(inputs)), choice_(std::move(choice)) {}

  std::string op_name() const override { return "choose_from_datasets"; }
  std::string params() const override { return "num_datasets=" + std::to_string(inputs_.size()); }
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
};

class ChooseIterator : public Iterator {
 public:
  explicit ChooseIterator(const ChooseDataset& ds)
      : Iterator(ds.shared()), ds_(ds), choice_(ds.choice_->MakeIterator()) {
    for (const auto& input : ds.inputs_) inputs_.push_back(input->MakeIterator());
  }

 protected:
  std::optional<Element> GetNextInternal() override {
    if (stopped_) return std::nullopt;
    std::optional<Element> choice = choice_->GetNext();
    if (!choice) {
      stopped_ = true;
      return std::nullopt;
    }
    const Element& c = *choice;
    if (!c.is_tensor() || c.tensor().dtype() != DType::kInt64 || c.tensor().rank() != 0) {
      throw InvalidArgumentError(
          "choose_from_datasets: choice_dataset must produce int64 scalars, got " +
          c.StructureString());
    }
    int64_t i = c.tensor().scalar<int64_t>();
    if (i < 0 || i >= static_cast<int64_t>(inputs_.size())) {
      throw InvalidArgumentError("choose_from_datasets: choice " + std::to_string(i) +
                                 " is out of range [0, " + std::to_string(inputs_.size()) + ")");
    }
    std::optional<Element> element = inputs_[i]->GetNext();
    if (!element) stopped_ = true;
    return element;
  }

  void SaveInternal(StateWriter& w) override {
    w.WriteBool(kStopped, stopped_);
    w.WriteChild(kChoice, *choice_);
    for (size_t i = 0; i < inputs_.size(); ++i) w.WriteChild(InputKey(i), *inputs_[i]);
  }

  void RestoreInternal(StateReader& r) override {
    stopped_ = r.ReadBool(kStopped);
    r.RestoreChild(kChoice, *choice_);
    for (size_t i = 0; i < inputs_.size(); ++i) r.RestoreChild(InputKey(i), *inputs_[i]);
  }

 private:
  const ChooseDataset& ds_;
  std::unique_ptr<Iterator> choice_;
  std::vector<std::unique_ptr<Iterator>> inputs_;
  bool stopped_ = false;
};

std::unique_ptr<Iterator> ChooseDataset::MakeIteratorInternal() const {
  return std::make_unique<ChooseIterator>(*this);
}
}  // namespace

DatasetPtr ChooseFromDatasets(std::vector<DatasetPtr> inputs, DatasetPtr choice_dataset) {
  if (inputs.empty())
    throw InvalidArgumentError("choose_from_datasets: needs at least one dataset");
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i])
      throw InvalidArgumentError("choose_from_datasets: dataset " + std::to_string(i) + " is null");
  }
  if (!choice_dataset) throw InvalidArgumentError("choose_from_datasets: choice_dataset is null");
  return std::make_shared<ChooseDataset>(std::move(inputs), std::move(choice_dataset));
}

}  // namespace inputpipe
