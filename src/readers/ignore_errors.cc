// ignore_errors(log_warning): skips the elements whose production raised a data error
// (DataLossError, InvalidArgumentError, IOError), counting them. The readers move past a bad
// record before raising, so the next GetNext goes on after it. State: the count of skipped
// errors and the input's state.
#include <iostream>

#include "core/cardinality.h"
#include "inputpipe/readers.h"

namespace inputpipe {

namespace {
constexpr char kInput[] = "input";
constexpr char kIgnored[] = "ignored";  // errors skipped so far
constexpr char kOpName[] = "ignore_errors";

class IgnoreErrorsDataset : public Dataset {
 public:
  IgnoreErrorsDataset(DatasetPtr input, bool log_warning)
      : input_(std::move(input)), log_warning_(log_warning) {}

  std::string op_name() const override { return kOpName; }
  // log_warning does not change the output.
  std::string params() const override { return ""; }
  std::vector<DatasetPtr> inputs() const override { return {input_}; }
  int64_t Cardinality() const override { return UnknownUnlessInfinite(input_->Cardinality()); }

 protected:
  std::unique_ptr<Iterator> MakeIteratorInternal() const override;

 private:
  friend class IgnoreErrorsIterator;
  const DatasetPtr input_;
  const bool log_warning_;
};

class IgnoreErrorsIterator : public Iterator {
 public:
  explicit IgnoreErrorsIterator(const IgnoreErrorsDataset& ds)
      : Iterator(ds.shared()), ds_(ds), input_(ds.input_->MakeIterator()) {}

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
  void SaveInternal(StateWriter& w) override {
    w.WriteInt(kIgnored, ignored_);
    w.WriteChild(kInput, *input_);
  }
  void RestoreInternal(StateReader& r) override {
    ignored_ = r.ReadIntInRange(kIgnored, 0, INT64_MAX);
    r.RestoreChild(kInput, *input_);
  }

 private:
  void Skipped(const Error& e) {
    ++ignored_;
    if (ds_.log_warning_) std::cerr << "inputpipe: warning: ignored error: " << e.what() << std::endl;
  }

  const IgnoreErrorsDataset& ds_;
  std::unique_ptr<Iterator> input_;
  int64_t ignored_ = 0;
};

std::unique_ptr<Iterator> IgnoreErrorsDataset::MakeIteratorInternal() const {
  return std::make_unique<IgnoreErrorsIterator>(*this);
}

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
  if (!input) throw InvalidArgumentError("ignore_errors: input dataset is null");
  return std::make_shared<IgnoreErrorsDataset>(std::move(input), log_warning);
}

int64_t IgnoredErrorCount(Iterator& iterator) { return SumIgnored(iterator.SaveNode()); }

}  // namespace inputpipe
