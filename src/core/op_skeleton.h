// The skeleton of an op: the bases that own what every op would otherwise repeat (making its
// iterator, holding its inputs, the typed dataset accessor, the argument checks, the common
// state), so that an op file holds only what is particular to it. A simple op (filter.cc,
// map.cc are the models):
//
//   class FilterIterator;
//   class FilterDataset
//       : public OpDataset<FilterDataset, FilterIterator, SequentialUnaryDataset> {
//    public:
//     FilterDataset(DatasetPtr input, PredicateFn predicate, FunctionOptions options) ...
//     std::string op_name() const override { return "filter"; }
//     std::string params() const override { return FnParam("predicate", options); }
//     int64_t Cardinality() const override { return kUnknownCardinality; }
//     const PredicateFn predicate;  // file-local class: its iterator reads the parameters
//     const FunctionOptions options;
//   };
//   class FilterIterator : public UnaryIterator<FilterDataset> {
//    public:
//     using UnaryIterator::UnaryIterator;
//    protected:
//     std::optional<Element> GetNextInternal() override { ... input_ ... dataset().predicate }
//     void SaveInternal(StateWriter& w) override { ...; SaveInput(w); }
//     void RestoreInternal(StateReader& r) override { RestoreInput(r); }
//   };
//   DatasetPtr Filter(DatasetPtr input, PredicateFn predicate, FunctionOptions options) {
//     CheckInput(input, "filter");
//     CheckFn(predicate, "filter", "predicate");
//     return std::make_shared<FilterDataset>(std::move(input), ...);
//   }
//
// UnaryDataset's defaults are those of an op that passes its input's elements through one for
// one (cardinality, random access, Get); an op that changes them overrides them. An op that is
// never random-access derives from SequentialUnaryDataset instead.
//
// The rest of the skeleton, for the ops that need it:
// - An op whose state is one counter and its input's (take.cc, enumerate.cc) derives its
//   iterator from CounterIterator<D> and writes only GetNextInternal. Another counter in a
//   state is read back with ReadCounter (bounded by CountLimit(count) for a count where < 0
//   means "all").
// - An op that drops its input once exhausted (take, skip, shard, repeat) returns
//   ExhaustInput() at the input's end and saves with SaveInputOrExhausted: an explicit
//   `exhausted` flag, and the input's state while it is live.
// - An op over several inputs (zip.cc, sample/choose_from_datasets) derives its dataset from
//   NaryDataset and its iterator from NaryIterator<D>: one iterator per input, saved under
//   "input_0", "input_1", ...; an input that has ended is null and absent from the state.
// - A random-access source (range.cc, from_tensors.cc, ...) derives from RandomAccessSource
//   (core/index_iterator.h): it defines Cardinality and Get, the iterator is an index.
// - An op that takes a callable spells its fingerprint with FnParam and reports a stateful
//   callable with ReportIfStateful.
#ifndef INPUTPIPE_CORE_OP_SKELETON_H_
#define INPUTPIPE_CORE_OP_SKELETON_H_

#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "inputpipe/dataset.h"
#include "inputpipe/errors.h"
#include "inputpipe/ops.h"

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

// A dataset that reads one input and is not random-access: its elements only come out of
// iteration (filter, unbatch, shuffle, ...). Get is Dataset's UnimplementedError.
class SequentialUnaryDataset : public UnaryDataset {
 public:
  using UnaryDataset::UnaryDataset;

  bool IsRandomAccess() const final { return false; }
  Element Get(int64_t index) const final { return Dataset::Get(index); }
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
// input's under the key "input" (SaveInput / RestoreInput). An op that drops its input once
// exhausted returns ExhaustInput() there and saves with SaveInputOrExhausted, which write an
// explicit `exhausted` flag and the input's state only while it is live (tf.data's habit:
// an exhausted input is said, not inferred from a missing child).
template <typename D>
class UnaryIterator : public DatasetIterator<D> {
 public:
  explicit UnaryIterator(const D& ds) : UnaryIterator(ds, ds.input()->MakeIterator()) {}

 protected:
  // `input` may be null: an op that knows at once it reads nothing (repeat(count=0)).
  UnaryIterator(const D& ds, std::unique_ptr<Iterator> input)
      : DatasetIterator<D>(ds), input_(std::move(input)) {}

  static constexpr char kInputKey[] = "input";
  static constexpr char kExhaustedKey[] = "exhausted";

  void SaveInput(StateWriter& w) { w.WriteChild(kInputKey, *input_); }
  void RestoreInput(StateReader& r) { r.RestoreChild(kInputKey, *input_); }

  // Drops the input (input_ is null from now on); the end of this op's stream.
  std::optional<Element> ExhaustInput() {
    input_.reset();
    return std::nullopt;
  }
  void SaveInputOrExhausted(StateWriter& w) {
    w.WriteBool(kExhaustedKey, !input_);
    if (input_) SaveInput(w);
  }
  // A state that says "live" where this iterator has no input (an op that makes none, as
  // repeat(count=0)) is corrupt.
  void RestoreInputOrExhausted(StateReader& r) {
    if (r.ReadBool(kExhaustedKey)) {
      input_.reset();
      return;
    }
    if (!input_) {
      throw DataLossError("corrupt state: " + this->dataset().Signature() + " cannot be active");
    }
    RestoreInput(r);
  }

  std::unique_ptr<Iterator> input_;  // null once exhausted, for the ops that drop it
};

// A dataset that reads several inputs, all of the same role (zip's, the sampled datasets).
// An op with inputs of another role too (choose_from_datasets' choice) overrides inputs().
class NaryDataset : public Dataset {
 public:
  // REQUIRES: no input is null (the factory checks them with CheckInputs).
  explicit NaryDataset(std::vector<DatasetPtr> inputs) : inputs_(std::move(inputs)) {}

  std::vector<DatasetPtr> inputs() const override { return inputs_; }

  const std::vector<DatasetPtr>& input_list() const { return inputs_; }

 protected:
  const std::vector<DatasetPtr> inputs_;
};

// An iterator over one iterator per input of the dataset (NaryDataset::input_list), saved
// under "input_0", "input_1", ... An op may drop an input that has ended (reset it): it is
// then absent from the state, and RestoreLiveInputs resets it again.
template <typename D>
class NaryIterator : public DatasetIterator<D> {
 public:
  explicit NaryIterator(const D& ds) : DatasetIterator<D>(ds) {
    for (const auto& input : ds.input_list()) inputs_.push_back(input->MakeIterator());
  }

 protected:
  static std::string InputKey(size_t i) { return "input_" + std::to_string(i); }

  // Every input not dropped.
  void SaveInputs(StateWriter& w) {
    for (size_t i = 0; i < inputs_.size(); ++i) {
      if (inputs_[i]) w.WriteChild(InputKey(i), *inputs_[i]);
    }
  }
  // Every input not dropped must be in the state.
  void RestoreInputs(StateReader& r) {
    for (size_t i = 0; i < inputs_.size(); ++i) {
      if (inputs_[i]) r.RestoreChild(InputKey(i), *inputs_[i]);
    }
  }
  // An input absent from the state had ended: it is dropped.
  void RestoreLiveInputs(StateReader& r) {
    for (size_t i = 0; i < inputs_.size(); ++i) {
      if (r.HasChild(InputKey(i))) {
        r.RestoreChild(InputKey(i), *inputs_[i]);
      } else {
        inputs_[i].reset();
      }
    }
  }

  std::vector<std::unique_ptr<Iterator>> inputs_;  // one per input; null once dropped
};

// ---- Counters in a state.

// The most a counter of elements can reach: no stream yields 2^62 elements (a century at a
// billion a second), so a state past it is hostile; refusing it on restore keeps every
// `counter++` of the ops from overflowing.
inline constexpr int64_t kMaxElementCount = int64_t{1} << 62;

// A counter saved by an op (elements taken, read, produced), read back and checked to lie in
// [0, limit]: a larger one is a DataLossError.
inline int64_t ReadCounter(const StateReader& r, std::string_view key,
                           int64_t limit = kMaxElementCount) {
  return r.ReadIntInRange(key, 0, limit);
}

// The limit of a counter of `count` elements, where a negative count means "all" or "forever"
// (take, skip, repeat).
inline int64_t CountLimit(int64_t count) { return count < 0 ? kMaxElementCount : count; }

// What an iterator does with its input once the input has ended.
enum class AtInputEnd {
  kKeep,  // keeps it (its state says it has ended): enumerate, ignore_errors
  kDrop,  // drops it and says `exhausted` (UnaryIterator::ExhaustInput): take, skip, shard
};

// An iterator whose state is one counter and its input's: take's elements taken, enumerate's
// next index, ignore_errors' errors skipped. Save and restore are written once, here, so they
// cannot drift apart: the counter under `key` (at most `limit` on restore), then the input's
// state (SaveInput, or SaveInputOrExhausted for AtInputEnd::kDrop).
template <typename D>
class CounterIterator : public UnaryIterator<D> {
 protected:
  CounterIterator(const D& ds, const char* key, AtInputEnd at_end,
                  int64_t limit = kMaxElementCount)
      : UnaryIterator<D>(ds), key_(key), drops_input_(at_end == AtInputEnd::kDrop), limit_(limit) {}

  void SaveInternal(StateWriter& w) override {
    w.WriteInt(key_, counter_);
    if (drops_input_) {
      this->SaveInputOrExhausted(w);
    } else {
      this->SaveInput(w);
    }
  }
  void RestoreInternal(StateReader& r) override {
    counter_ = ReadCounter(r, key_, limit_);
    if (drops_input_) {
      this->RestoreInputOrExhausted(r);
    } else {
      this->RestoreInput(r);
    }
  }

  int64_t counter_ = 0;

 private:
  const char* const key_;
  const bool drops_input_;
  const int64_t limit_;
};

// ---- Callables (map's fn, filter's predicate, flat_map's fn).

// "fn=NAME", plus ", stateful=true" when it is: a callable's part of the fingerprint.
inline std::string FnParam(std::string_view arg, const FunctionOptions& options) {
  return std::string(arg) + "=" + options.name + (options.stateful ? ", stateful=true" : "");
}

// A callable declared stateful is external state: the save policy decides (state.h). The
// warning reads "filter(predicate=NAME): the predicate is declared stateful".
inline void ReportIfStateful(StateWriter& w, const FunctionOptions& options, std::string_view op,
                             std::string_view arg = "fn", std::string_view what = "function") {
  if (options.stateful) {
    w.ReportExternalState(std::string(op) + "(" + std::string(arg) + "=" + options.name +
                          "): the " + std::string(what) + " is declared stateful");
  }
}

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

// A callable argument (std::function) is set.
template <typename Fn>
void CheckFn(const Fn& fn, std::string_view op, std::string_view arg = "fn") {
  if (!fn) throw InvalidArgumentError(std::string(op) + ": " + std::string(arg) + " is empty");
}

}  // namespace inputpipe

#endif  // INPUTPIPE_CORE_OP_SKELETON_H_
