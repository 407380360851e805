// sample_from_datasets(inputs, weights, seed, stop_on_empty_dataset): each element comes from
// input i with probability weights[i] / sum(weights) (uniform when no weights are given).
// When the chosen input has ended: stop (stop_on_empty_dataset) or draw again, so the
// remaining inputs are sampled in proportion to their weights; the stream ends when every
// input of positive weight has ended (tf.data's semantics). The inputs must produce one
// structure and dtypes (shapes may differ), as concatenate: ops/element_spec.h.
//
// The draw number c uses CounterHash(seed, c) (random_util.h), so the state is: the draw
// counter, the seed, which inputs have ended, whether the stream stopped, and the inputs'
// states. An unseeded dataset picks its seed at creation and saves it, as shuffle does.
//
// rerandomize_each_iteration (tf.data's): the k-th iterator made from the dataset (the k-th
// epoch under repeat) draws with the key of (seed, k), epoch 0 keeping the key without it; the
// epoch is saved ("epoch", only then) and restored as random.cc's.
//
// Weights given as a dataset (SampleFromDatasetsByWeights): each draw takes the next weights
// element, as tf.data does; it is choose_from_datasets over map(zip(weights, random(seed))),
// so its state is theirs and the weights are never in it.
#include <cmath>
#include <cstdio>
#include <limits>

#include "core/op_skeleton.h"
#include "inputpipe/ops.h"
#include "ops/element_spec.h"
#include "ops/random_util.h"

namespace inputpipe {

namespace {
constexpr char kSeed[] = "seed";
constexpr char kDraws[] = "draws";      // random draws made so far
constexpr char kStopped[] = "stopped";  // the stream has ended
constexpr char kEpoch[] = "epoch";      // the iteration, with rerandomize_each_iteration only

class SampleIterator;

class SampleDataset : public OpDataset<SampleDataset, SampleIterator, NaryDataset> {
 public:
  SampleDataset(std::vector<DatasetPtr> inputs, std::vector<double> weights,
                std::optional<int64_t> seed, bool stop_on_empty, bool rerandomize)
      : OpDataset(std::move(inputs)),
        weights(std::move(weights)),
        seed(OpSeed::From(seed)),
        stop_on_empty(stop_on_empty),
        rerandomize(rerandomize) {
    double total = 0;
    for (double w : this->weights) total += w;
    double running = 0;
    for (double w : this->weights) {
      running += w / total;
      cumulative_.push_back(running);
    }
    // Rounding must never reach past the last input of positive weight.
    size_t last = this->weights.size() - 1;
    while (this->weights[last] == 0) --last;
    for (size_t i = last; i < cumulative_.size(); ++i) cumulative_[i] = 1.0;
  }

  std::string op_name() const override { return "sample_from_datasets"; }
  std::string params() const override {
    std::string text;
    for (double w : weights) {
      char buf[32];
      std::snprintf(buf, sizeof(buf), "%.17g", w);
      text += (text.empty() ? "" : " ") + std::string(buf);
    }
    return "weights=[" + text + "], " + seed.Param() +
           ", stop_on_empty_dataset=" + (stop_on_empty ? "true" : "false") +
           (rerandomize ? ", rerandomize_each_iteration=true" : "");
  }
  int64_t Cardinality() const override {
    for (const auto& input : inputs_) {
      if (input->Cardinality() != kInfiniteCardinality) return kUnknownCardinality;
    }
    return kInfiniteCardinality;
  }

  // The input chosen by random bits.
  size_t Choose(uint64_t bits) const {
    double u = UniformDouble(bits);
    size_t i = 0;
    while (i + 1 < cumulative_.size() && (u >= cumulative_[i] || weights[i] == 0)) ++i;
    return i;
  }

  const std::vector<double> weights;
  const OpSeed seed;
  const bool stop_on_empty;
  const bool rerandomize;
  mutable EpochCounter epochs;  // with rerandomize: the next iterator's epoch

 private:
  std::vector<double> cumulative_;
};

// inputs_[i] (input_<i> in the state) is dropped once it has ended.
class SampleIterator : public NaryIterator<SampleDataset> {
 public:
  explicit SampleIterator(const SampleDataset& ds)
      : NaryIterator(ds),
        seed_(ds.seed.value),
        epoch_(ds.rerandomize ? ds.epochs.Next() : 0),
        specs_("sample_from_datasets", inputs_.size()) {
    CountLiveWeighted();
  }

 protected:
  std::optional<Element> GetNextInternal() override {
    uint64_t key = MixKey(static_cast<uint64_t>(seed_), 0x73616d70ULL);
    if (epoch_ != 0) key = MixKey(key, static_cast<uint64_t>(epoch_));
    while (!stopped_ && live_weighted_ > 0) {
      size_t i = dataset().Choose(CounterHash(key, static_cast<uint64_t>(draws_)));
      if (inputs_[i]) {
        if (std::optional<Element> element = inputs_[i]->GetNext()) {
          if (draws_ == std::numeric_limits<int64_t>::max()) {  // only a hostile state gets here
            throw InvalidArgumentError("sample_from_datasets: the draw counter overflows int64");
          }
          ++draws_;  // after the read: a failed read is retried with the same draw
          specs_.Check(i, *element);
          return element;
        }
        inputs_[i].reset();
        --live_weighted_;
        if (dataset().stop_on_empty) stopped_ = true;
      }
      ++draws_;
    }
    stopped_ = true;
    return std::nullopt;
  }

  void SaveInternal(StateWriter& w) override {
    w.WriteInt(kSeed, seed_);
    w.WriteInt(kDraws, draws_);
    w.WriteBool(kStopped, stopped_);
    if (dataset().rerandomize) w.WriteInt(kEpoch, epoch_);
    SaveInputs(w);
  }

  void RestoreInternal(StateReader& r) override {
    seed_ = dataset().seed.Restore(r, kSeed, "sample_from_datasets");
    draws_ = ReadCounter(r, kDraws);
    stopped_ = r.ReadBool(kStopped);
    if (dataset().rerandomize) epoch_ = dataset().epochs.Restore(r, kEpoch, true);
    RestoreLiveInputs(r);
    CountLiveWeighted();
  }

 private:
  void CountLiveWeighted() {
    live_weighted_ = 0;
    for (size_t i = 0; i < inputs_.size(); ++i) {
      if (inputs_[i] && dataset().weights[i] > 0) ++live_weighted_;
    }
  }

  int64_t seed_;
  int64_t epoch_;
  int64_t draws_ = 0;
  int64_t live_weighted_ = 0;  // inputs with weight > 0 not ended
  bool stopped_ = false;
  InputSpecChecker specs_;  // not saved: a restored iterator checks its inputs again
};
}  // namespace

DatasetPtr SampleFromDatasets(std::vector<DatasetPtr> inputs, std::vector<double> weights,
                              std::optional<int64_t> seed, bool stop_on_empty_dataset,
                              bool rerandomize_each_iteration) {
  if (inputs.empty())
    throw InvalidArgumentError("sample_from_datasets: needs at least one dataset");
  CheckInputs(inputs, "sample_from_datasets", "datasets");
  CheckRandomAccessInputSpecs(inputs, "sample_from_datasets");
  if (weights.empty()) weights.assign(inputs.size(), 1.0 / static_cast<double>(inputs.size()));
  if (weights.size() != inputs.size()) {
    throw InvalidArgumentError("sample_from_datasets: " + std::to_string(weights.size()) +
                               " weights for " + std::to_string(inputs.size()) + " datasets");
  }
  double total = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    if (!(weights[i] >= 0) || !std::isfinite(weights[i])) {
      throw InvalidArgumentError("sample_from_datasets: weights[" + std::to_string(i) +
                                 "] must be finite and >= 0, got " + std::to_string(weights[i]));
    }
    total += weights[i];
  }
  if (!(total > 0)) throw InvalidArgumentError("sample_from_datasets: the weights sum to 0");
  return std::make_shared<SampleDataset>(std::move(inputs), std::move(weights), seed,
                                         stop_on_empty_dataset, rerandomize_each_iteration);
}

namespace {
// The input one weights element picks with 64 random bits; errors name the weights element.
int64_t PickByWeights(const Element& element, uint64_t bits, int64_t num_inputs) {
  const std::string where =
      "sample_from_datasets: weights element " + std::to_string(CurrentMapPosition());
  if (!element.is_tensor()) {
    throw InvalidArgumentError(where + " is " + element.StructureString() +
                               "; expected a float32 or float64 vector of one weight per dataset");
  }
  const Tensor& weights = element.tensor();
  if (weights.dtype() != DType::kFloat32 && weights.dtype() != DType::kFloat64) {
    throw InvalidArgumentError(where + " has dtype " + std::string(DTypeName(weights.dtype())) +
                               "; expected float32 or float64");
  }
  if (weights.shape() != Shape{num_inputs}) {
    throw InvalidArgumentError(where + " has shape " + ShapeString(weights.shape()) +
                               "; expected [" + std::to_string(num_inputs) + "], one per dataset");
  }
  std::vector<double> w(static_cast<size_t>(num_inputs));
  double total = 0;
  for (int64_t i = 0; i < num_inputs; ++i) {
    w[i] =
        weights.dtype() == DType::kFloat32 ? weights.data<float>()[i] : weights.data<double>()[i];
    if (!(w[i] >= 0) || !std::isfinite(w[i])) {
      throw InvalidArgumentError(where + ": weights[" + std::to_string(i) +
                                 "] must be finite and >= 0, got " + std::to_string(w[i]));
    }
    total += w[i];
  }
  if (!(total > 0)) throw InvalidArgumentError(where + " sums to 0");
  // As SampleDataset::Choose: the first input whose cumulative share passes u, never one of
  // weight 0 (rounding cannot reach past the last input of positive weight).
  const double target = UniformDouble(bits) * total;
  double running = 0;
  int64_t last_positive = 0;
  for (int64_t i = 0; i < num_inputs; ++i) {
    if (w[i] == 0) continue;
    last_positive = i;
    running += w[i];
    if (target < running) return i;
  }
  return last_positive;
}
}  // namespace

DatasetPtr SampleFromDatasetsByWeights(std::vector<DatasetPtr> inputs, DatasetPtr weights,
                                       std::optional<int64_t> seed, bool stop_on_empty_dataset,
                                       bool rerandomize_each_iteration) {
  if (inputs.empty())
    throw InvalidArgumentError("sample_from_datasets: needs at least one dataset");
  CheckInputs(inputs, "sample_from_datasets", "datasets");
  if (!weights) throw InvalidArgumentError("sample_from_datasets: the weights dataset is null");
  const int64_t n = static_cast<int64_t>(inputs.size());
  DatasetPtr draws = RandomDataset(seed, rerandomize_each_iteration);
  FunctionOptions pick;
  pick.name = "sample_from_datasets.pick";
  DatasetPtr choices =
      Map(Zip({std::move(weights), std::move(draws)}),
          [n](const Element& pair) {
            const uint64_t bits = static_cast<uint64_t>(pair[1].tensor().scalar<int64_t>());
            return Element(Tensor::Scalar<int64_t>(PickByWeights(pair[0], bits, n)));
          },
          std::move(pick));
  return ChooseFromDatasets(std::move(inputs), std::move(choices), stop_on_empty_dataset);
}

}  // namespace inputpipe
