// shard(num_shards, index): every num_shards-th element of the input, starting at `index`.
// State: the input position (elements read so far) and the input's state until it is done
// (then an explicit `exhausted` flag). Random-access when the input is.
#include <limits>

#include "inputpipe/ops.h"

namespace inputpipe {

namespace {
constexpr char kPosition[] = "position";  // input elements read so far
constexpr char kExhausted[] = "exhausted";
constexpr char kInput[] = "input";

class ShardDataset : public Dataset {
 public:
  ShardDataset(DatasetPtr input, int64_t num_shards, int64_t index)
      : input_(std::move(input)), num_shards_(num_shards), index_(index) {}

  std::string op_name() const override { return "shard"; }
  std::string params() const override {
    return "num_shards=" + std::to_string(num_shards_) + ", index=" + std::to_string(index_);
  }
  std::vector<DatasetPtr> inputs() const override { return {input_}; }
  int64_t Cardinality() const override {
    int64_t n = input_->Cardinality();
    if (n < 0) return n;
    return n / num_shards_ + (index_ < n % num_shards_ ? 1 : 0);
  }
  bool IsRandomAccess() const override { return input_->IsRandomAccess(); }
  Element Get(int64_t index) const override { return input_->Get(index * num_shards_ + index_); }

 protected:
  std::unique_ptr<Iterator> MakeIteratorInternal() const override;

 private:
  friend class ShardIterator;
  const DatasetPtr input_;
  const int64_t num_shards_, index_;
};

class ShardIterator : public Iterator {
 public:
  explicit ShardIterator(const ShardDataset& ds)
      : Iterator(ds.shared()), ds_(ds), input_(ds.input_->MakeIterator()) {}

 protected:
  std::optional<Element> GetNextInternal() override {
    while (input_) {
      std::optional<Element> element = input_->GetNext();
      if (!element) {
        input_.reset();  // exhausted
        break;
      }
      if (position_++ % ds_.num_shards_ == ds_.index_) return element;
    }
    return std::nullopt;
  }
  void SaveInternal(StateWriter& w) override {
    w.WriteInt(kPosition, position_);
    w.WriteBool(kExhausted, !input_);
    if (input_) w.WriteChild(kInput, *input_);
  }
  void RestoreInternal(StateReader& r) override {
    position_ = r.ReadIntInRange(kPosition, 0, std::numeric_limits<int64_t>::max());
    if (r.ReadBool(kExhausted)) {
      input_.reset();
    } else {
      r.RestoreChild(kInput, *input_);
    }
  }

 private:
  const ShardDataset& ds_;
  std::unique_ptr<Iterator> input_;  // null once exhausted
  int64_t position_ = 0;
};

std::unique_ptr<Iterator> ShardDataset::MakeIteratorInternal() const {
  return std::make_unique<ShardIterator>(*this);
}
}  // namespace

DatasetPtr Shard(DatasetPtr input, int64_t num_shards, int64_t index) {
  if (!input) throw InvalidArgumentError("shard: input dataset is null");
  if (num_shards <= 0) {
    throw InvalidArgumentError("shard: num_shards must be positive, got " +
                               std::to_string(num_shards));
  }
  if (index < 0 || index >= num_shards) {
    throw InvalidArgumentError("shard: index must be in [0, num_shards=" +
                               std::to_string(num_shards) + "), got " + std::to_string(index));
  }
  return std::make_shared<ShardDataset>(std::move(input), num_shards, index);
}

}  // namespace inputpipe
