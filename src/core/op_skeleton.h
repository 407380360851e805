// The skeleton of an op: the bases that own what every op would otherwise repeat (making its
// iterator, holding its input, the typed dataset accessor, the argument checks), so that an op
// file holds only what is particular to it. The model of a simple op is src/ops/batch.cc:
//
//   class TakeIterator;
//   class TakeDataset : public OpDataset<TakeDataset, TakeIterator, UnaryDataset> {
//    public:
//     TakeDataset(DatasetPtr input, int64_t count) : OpDataset(std::move(input)), count(count) {}
//     std::string op_name() const override { return "take"; }
//     std::string params() const override { return "count=" + std::to_string(count); }
//     const int64_t count;  // file-local class: its iterator reads the parameters directly
//   };
//   class TakeIterator : public UnaryIterator<TakeDataset> {
//    public:
//     using UnaryIterator::UnaryIterator;
//    protected:
//     std::optional<Element> GetNextInternal() override { ... dataset().count ... input_ ... }
//     void SaveInternal(StateWriter& w) override { SaveInput(w); ... }
//     void RestoreInternal(StateReader& r) override { RestoreInput(r); ... }
//   };
//   DatasetPtr Take(DatasetPtr input, int64_t count) {
//     CheckInput(input, "take");
//     return std::make_shared<TakeDataset>(std::move(input), count);
//   }
//
// UnaryDataset's defaults are those of an op that passes its input's elements through one for
// one (cardinality, random access, Get); an op that changes them overrides them.
#ifndef INPUTPIPE_CORE_OP_SKELETON_H_
#define INPUTPIPE_CORE_OP_SKELETON_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "inputpipe/dataset.h"
#include "inputpipe/errors.h"

namespace inputpipe {

// Makes iterators of type `It` for the dataset `Self` (which derives from this class), so
// that no op writes MakeIteratorInternal. `Base` is Dataset, UnaryDataset or an op family's
// own base (MapDatasetBase). `It` may be incomplete where Self is defined.
template <typename Self, typename It, typename Base = Dataset>
class OpDataset : public Base {
 public:
  using Base::Base;

 protected:
  std::unique_ptr<Iterator> MakeIteratorInternal() const final {
    return std::make_unique<It>(static_cast<const Self&>(*this));
  }
};

// A dataset that reads one input.
class UnaryDataset : public Dataset {
 public:
  // REQUIRES: input is not null (the factory checks it with CheckInput).
  explicit UnaryDataset(DatasetPtr input) : input_(std::move(input)) {}

  std::vector<DatasetPtr> inputs() const override { return {input_}; }
  int64_t Cardinality() const override { return input_->Cardinality(); }
  bool IsRandomAccess() const override { return input_->IsRandomAccess(); }
  Element Get(int64_t index) const override { return input_->Get(index); }

  const DatasetPtr& input() const { return input_; }

 protected:
  const DatasetPtr input_;
};

// An iterator of the dataset type D, with typed access to it (tf.data's DatasetIterator<T>).
// The iterator keeps its dataset alive, so dataset() is valid for the iterator's lifetime.
template <typename D>
class DatasetIterator : public Iterator {
 public:
  explicit DatasetIterator(const D& ds) : Iterator(ds.shared()), dataset_(ds) {}

  const D& dataset() const { return dataset_; }

 private:
  const D& dataset_;
};

// An iterator over one input iterator, made from the dataset's input. Its state holds the
// input's under the key "input" (SaveInput / RestoreInput); an op that drops its input once
// exhausted resets input_ and says so in its own state.
template <typename D>
class UnaryIterator : public DatasetIterator<D> {
 public:
  explicit UnaryIterator(const D& ds)
      : DatasetIterator<D>(ds), input_(ds.input()->MakeIterator()) {}

 protected:
  static constexpr char kInputKey[] = "input";
  void SaveInput(StateWriter& w) { w.WriteChild(kInputKey, *input_); }
  void RestoreInput(StateReader& r) { r.RestoreChild(kInputKey, *input_); }

  std::unique_ptr<Iterator> input_;
};

// ---- Argument checks shared by the factories: InvalidArgumentError naming op and argument.

inline void CheckInput(const DatasetPtr& input, std::string_view op) {
  if (!input) throw InvalidArgumentError(std::string(op) + ": input dataset is null");
}

// "zip: inputs[1] is null".
inline void CheckInputs(const std::vector<DatasetPtr>& inputs, std::string_view op,
                        std::string_view arg = "inputs") {
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i]) {
      throw InvalidArgumentError(std::string(op) + ": " + std::string(arg) + "[" +
                                 std::to_string(i) + "] is null");
    }
  }
}

// value > 0.
inline void CheckPositive(int64_t value, std::string_view op, std::string_view arg) {
  if (value <= 0) {
    throw InvalidArgumentError(std::string(op) + ": " + std::string(arg) +
                               " must be positive, got " + std::to_string(value));
  }
}

// value >= 0.
inline void CheckNonNegative(int64_t value, std::string_view op, std::string_view arg) {
  if (value < 0) {
    throw InvalidArgumentError(std::string(op) + ": " + std::string(arg) +
                               " must be non-negative, got " + std::to_string(value));
  }
}

// A callable argument (std::function) is set.
template <typename Fn>
void CheckFn(const Fn& fn, std::string_view op, std::string_view arg = "fn") {
  if (!fn) throw InvalidArgumentError(std::string(op) + ": " + std::string(arg) + " is empty");
}

}  // namespace inputpipe

#endif  // INPUTPIPE_CORE_OP_SKELETON_H_
