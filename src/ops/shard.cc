// shard(num_shards, index): every num_shards-th element of the input, starting at `index`.
// State: the input position (elements read so far) and the input's state until it is done
// (then an explicit `exhausted` flag). Random-access when the input is.
#include "core/op_skeleton.h"
#include "inputpipe/ops.h"
#include "ops/iteration_access.h"

namespace inputpipe {

namespace {
constexpr char kPosition[] = "position";  // the counter: input elements read so far

class ShardIterator;

class ShardDataset : public OpDataset<ShardDataset, ShardIterator, UnaryIterationDataset> {
 public:
  ShardDataset(DatasetPtr input, int64_t num_shards, int64_t index)
      : OpDataset(std::move(input)), num_shards(num_shards), index(index) {}

  std::string op_name() const override { return "shard"; }
  std::string params() const override {
    return "num_shards=" + std::to_string(num_shards) + ", index=" + std::to_string(index);
  }
  int64_t Cardinality() const override {
    int64_t n = input_->Cardinality();
    if (n < 0) return n;
    return n / num_shards + (index < n % num_shards ? 1 : 0);
  }
  Element Get(int64_t i) const override { return input_->Get(i * num_shards + index); }
  Element GetInIteration(int64_t i, int64_t iteration) const override {
    return ::inputpipe::GetInIteration(*input_, i * num_shards + index, iteration);
  }

  const int64_t num_shards, index;
};

class ShardIterator : public CounterIterator<ShardDataset> {
 public:
  explicit ShardIterator(const ShardDataset& ds)
      : CounterIterator(ds, kPosition, AtInputEnd::kDrop) {}

 protected:
  std::optional<Element> GetNextInternal() override {
    while (input_) {
      std::optional<Element> element = input_->GetNext();
      if (!element) return ExhaustInput();
      if (counter_++ % dataset().num_shards == dataset().index) return element;
    }
    return std::nullopt;
  }
};
}  // namespace

DatasetPtr Shard(DatasetPtr input, int64_t num_shards, int64_t index) {
  CheckInput(input, "shard");
  CheckPositive(num_shards, "shard", "num_shards");
  if (index < 0 || index >= num_shards) {
    throw InvalidArgumentError("shard: index must be in [0, num_shards=" +
                               std::to_string(num_shards) + "), got " + std::to_string(index));
  }
  return std::make_shared<ShardDataset>(std::move(input), num_shards, index);
}

}  // namespace inputpipe
