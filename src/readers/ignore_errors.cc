// ignore_errors(log_warning): skips the elements whose production raised a data error
// (DataLossError, InvalidArgumentError, IOError), counting them. The readers move past a bad
// record before raising, so the next GetNext goes on after it. State: the count of skipped
// errors and the input's state.
#include <iostream>

#include "core/cardinality.h"
#include "core/op_skeleton.h"
#include "inputpipe/readers.h"

namespace inputpipe {

namespace {
constexpr char kIgnored[] = "ignored";  // the counter: errors skipped so far
constexpr char kOpName[] = "ignore_errors";

class IgnoreErrorsIterator;

class IgnoreErrorsDataset
    : public OpDataset<IgnoreErrorsDataset, IgnoreErrorsIterator, SequentialUnaryDataset> {
 public:
  IgnoreErrorsDataset(DatasetPtr input, bool log_warning)
      : OpDataset(std::move(input)), log_warning(log_warning) {}

  std::string op_name() const override { return kOpName; }
  // log_warning does not change the output.
  std::string params() const override { return ""; }
  int64_t Cardinality() const override { return UnknownUnlessInfinite(input_->Cardinality()); }

  const bool log_warning;
};

class IgnoreErrorsIterator : public CounterIterator<IgnoreErrorsDataset> {
 public:
  explicit IgnoreErrorsIterator(const IgnoreErrorsDataset& ds)
      : CounterIterator(ds, kIgnored, AtInputEnd::kKeep) {}

 protected:
  std::optional<Element> GetNextInternal() override {
    while (true) {
      try {
        return input_->GetNext();
      } catch (const DataLossError& e) {
        Skipped(e);
      } catch (const InvalidArgumentError& e) {
        Skipped(e);
      } catch (const IOError& e) {
        Skipped(e);
      }
    }
  }

 private:
  void Skipped(const Error& e) {
    ++counter_;
    if (dataset().log_warning) {
      std::cerr << "inputpipe: warning: ignored error: " << e.what() << std::endl;
    }
  }
};

int64_t SumIgnored(const StateNode& node) {
  int64_t total = 0;
  if (node.op == kOpName) {
    for (const auto& [key, value] : node.ints) {
      if (key == kIgnored) total += value;
    }
  }
  for (const auto& child : node.children) total += SumIgnored(child);
  return total;
}
}  // namespace

DatasetPtr IgnoreErrors(DatasetPtr input, bool log_warning) {
  CheckInput(input, kOpName);
  return std::make_shared<IgnoreErrorsDataset>(std::move(input), log_warning);
}

int64_t IgnoredErrorCount(Iterator& iterator) { return SumIgnored(iterator.SaveNode()); }

}  // namespace inputpipe
