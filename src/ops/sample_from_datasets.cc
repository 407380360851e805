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

class SampleIterator;

class SampleDataset : public OpDataset<SampleDataset, SampleIterator, NaryDataset> {
 public:
  SampleDataset(std::vector<DatasetPtr> inputs, std::vector<double> weights,
                std::optional<int64_t> seed, bool stop_on_empty)
      : OpDataset(std::move(inputs)),
        weights(std::move(weights)),
        seed(OpSeed::From(seed)),
        stop_on_empty(stop_on_empty) {
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
           ", stop_on_empty_dataset=" + (stop_on_empty ? "true" : "false");
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

 private:
  std::vector<double> cumulative_;
};

// inputs_[i] (input_<i> in the state) is dropped once it has ended.
class SampleIterator : public NaryIterator<SampleDataset> {
 public:
  explicit SampleIterator(const SampleDataset& ds)
      : NaryIterator(ds), seed_(ds.seed.value), specs_("sample_from_datasets", inputs_.size()) {
    CountLiveWeighted();
  }

 protected:
  std::optional<Element> GetNextInternal() override {
    const uint64_t key = MixKey(static_cast<uint64_t>(seed_), 0x73616d70ULL);
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
    SaveInputs(w);
  }

  void RestoreInternal(StateReader& r) override {
    seed_ = dataset().seed.Restore(r, kSeed, "sample_from_datasets");
    draws_ = ReadCounter(r, kDraws);
    stopped_ = r.ReadBool(kStopped);
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
  int64_t draws_ = 0;
  int64_t live_weighted_ = 0;  // inputs with weight > 0 not ended
  bool stopped_ = false;
  InputSpecChecker specs_;  // not saved: a restored iterator checks its inputs again
};
}  // namespace

DatasetPtr SampleFromDatasets(std::vector<DatasetPtr> inputs, std::vector<double> weights,
                              std::optional<int64_t> seed, bool stop_on_empty_dataset) {
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
                                         stop_on_empty_dataset);
}

}  // namespace inputpipe
