// sample_from_datasets(inputs, weights, seed, stop_on_empty_dataset): each element comes from
// input i with probability weights[i] / sum(weights) (uniform when no weights are given).
// When the chosen input has ended: stop (stop_on_empty_dataset) or draw again, so the
// remaining inputs are sampled in proportion to their weights; the stream ends when every
// input of positive weight has ended (tf.data's semantics).
//
// The draw number c uses CounterHash(seed, c) (random_util.h), so the state is: the draw
// counter, the seed, which inputs have ended, whether the stream stopped, and the inputs'
// states. An unseeded dataset picks its seed at creation and saves it, as shuffle does.
#include <cmath>
#include <cstdio>
#include <limits>

#include "inputpipe/ops.h"
#include "ops/random_util.h"

namespace inputpipe {

namespace {
constexpr char kSeed[] = "seed";
constexpr char kDraws[] = "draws";                                       // random draws made so far
constexpr char kStopped[] = "stopped";                                   // the stream has ended
std::string InputKey(size_t i) { return "input_" + std::to_string(i); }  // absent once ended

class SampleDataset : public Dataset {
 public:
  SampleDataset(std::vector<DatasetPtr> inputs, std::vector<double> weights,
                std::optional<int64_t> seed, bool stop_on_empty)
      : inputs_(std::move(inputs)),
        weights_(std::move(weights)),
        seed_(OpSeed::From(seed)),
        stop_on_empty_(stop_on_empty) {
    double total = 0;
    for (double w : weights_) total += w;
    double running = 0;
    for (double w : weights_) {
      running += w / total;
      cumulative_.push_back(running);
    }
    // Rounding must never reach past the last input of positive weight.
    size_t last = weights_.size() - 1;
    while (weights_[last] == 0) --last;
    for (size_t i = last; i < cumulative_.size(); ++i) cumulative_[i] = 1.0;
  }

  std::string op_name() const override { return "sample_from_datasets"; }
  std::string params() const override {
    std::string weights;
    for (double w : weights_) {
      char buf[32];
      std::snprintf(buf, sizeof(buf), "%.17g", w);
      weights += (weights.empty() ? "" : " ") + std::string(buf);
    }
    return "weights=[" + weights + "], " + seed_.Param() +
           ", stop_on_empty_dataset=" + (stop_on_empty_ ? "true" : "false");
  }
  std::vector<DatasetPtr> inputs() const override { return inputs_; }
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
    while (i + 1 < cumulative_.size() && (u >= cumulative_[i] || weights_[i] == 0)) ++i;
    return i;
  }

 protected:
  std::unique_ptr<Iterator> MakeIteratorInternal() const override;

 private:
  friend class SampleIterator;
  const std::vector<DatasetPtr> inputs_;
  const std::vector<double> weights_;
  std::vector<double> cumulative_;
  const OpSeed seed_;
  const bool stop_on_empty_;
};

class SampleIterator : public Iterator {
 public:
  explicit SampleIterator(const SampleDataset& ds)
      : Iterator(ds.shared()), ds_(ds), seed_(ds.seed_.value) {
    for (const auto& input : ds.inputs_) inputs_.push_back(input->MakeIterator());
    for (size_t i = 0; i < inputs_.size(); ++i) {
      if (ds.weights_[i] > 0) ++live_weighted_;
    }
  }

 protected:
  std::optional<Element> GetNextInternal() override {
    const uint64_t key = MixKey(static_cast<uint64_t>(seed_), 0x73616d70ULL);
    while (!stopped_ && live_weighted_ > 0) {
      size_t i = ds_.Choose(CounterHash(key, static_cast<uint64_t>(draws_)));
      if (inputs_[i]) {
        if (std::optional<Element> element = inputs_[i]->GetNext()) {
          if (draws_ == std::numeric_limits<int64_t>::max()) {  // only a hostile state gets here
            throw InvalidArgumentError("sample_from_datasets: the draw counter overflows int64");
          }
          ++draws_;  // after the read: a failed read is retried with the same draw
          return element;
        }
        inputs_[i].reset();
        --live_weighted_;
        if (ds_.stop_on_empty_) stopped_ = true;
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
    for (size_t i = 0; i < inputs_.size(); ++i) {
      if (inputs_[i]) w.WriteChild(InputKey(i), *inputs_[i]);
    }
  }

  void RestoreInternal(StateReader& r) override {
    seed_ = ds_.seed_.Restore(r, kSeed, "sample_from_datasets");
    draws_ = r.ReadIntInRange(kDraws, 0, std::numeric_limits<int64_t>::max());
    stopped_ = r.ReadBool(kStopped);
    live_weighted_ = 0;
    for (size_t i = 0; i < inputs_.size(); ++i) {
      if (r.HasChild(InputKey(i))) {
        r.RestoreChild(InputKey(i), *inputs_[i]);
        if (ds_.weights_[i] > 0) ++live_weighted_;
      } else {
        inputs_[i].reset();
      }
    }
  }

 private:
  const SampleDataset& ds_;
  std::vector<std::unique_ptr<Iterator>> inputs_;  // null once ended
  int64_t seed_;
  int64_t draws_ = 0;
  int64_t live_weighted_ = 0;  // inputs with weight > 0 not ended
  bool stopped_ = false;
};

std::unique_ptr<Iterator> SampleDataset::MakeIteratorInternal() const {
  return std::make_unique<SampleIterator>(*this);
}
}  // namespace

DatasetPtr SampleFromDatasets(std::vector<DatasetPtr> inputs, std::vector<double> weights,
                              std::optional<int64_t> seed, bool stop_on_empty_dataset) {
  if (inputs.empty())
    throw InvalidArgumentError("sample_from_datasets: needs at least one dataset");
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i])
      throw InvalidArgumentError("sample_from_datasets: dataset " + std::to_string(i) + " is null");
  }
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
