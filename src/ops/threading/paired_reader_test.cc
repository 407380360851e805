// PairedReader: each element comes with the input's state right after it; a failed read
// carries its error and the state after the failure (or, if the input cannot say, the one
// before); the end keeps the last state.
#include "ops/threading/paired_reader.h"

#include <gtest/gtest.h>

#include "core/op_skeleton.h"
#include "inputpipe/ops.h"

namespace inputpipe {
namespace {

int64_t Value(const Element& e) { return e.tensor().scalar<int64_t>(); }

// The first element a fresh iterator of `ds` restored to `state` yields (-1: none).
int64_t NextAfter(const DatasetPtr& ds, const StateNode& state) {
  auto it = ds->MakeIterator();
  it->RestoreNode(state);
  std::optional<Element> e = it->GetNext();
  return e ? Value(*e) : -1;
}

TEST(PairedReaderTest, PairsEachElementWithTheStateAfterIt) {
  DatasetPtr ds = Range(0, 3);
  auto input = ds->MakeIterator();
  PairedReader reader(*input);
  EXPECT_EQ(NextAfter(ds, *reader.last_state()), 0);
  for (int64_t i = 0; i < 3; ++i) {
    PairedElement item = reader.Read();
    ASSERT_TRUE(item.element.has_value());
    EXPECT_EQ(Value(*item.element), i);
    EXPECT_FALSE(item.error);
    EXPECT_EQ(NextAfter(ds, *item.state), i == 2 ? -1 : i + 1);
    EXPECT_EQ(reader.last_state(), item.state);
  }
  std::shared_ptr<const StateNode> last = reader.last_state();
  PairedElement end = reader.Read();
  EXPECT_TRUE(end.end());
  EXPECT_EQ(end.state, last);
}

TEST(PairedReaderTest, StartsFromTheGivenState) {
  DatasetPtr ds = Range(0, 10);
  auto saved = ds->MakeIterator();
  saved->GetNext();
  auto initial = std::make_shared<const StateNode>(saved->SaveNode());
  auto input = ds->MakeIterator();
  input->RestoreNode(*initial);
  PairedReader reader(*input, initial);
  EXPECT_EQ(reader.last_state(), initial);  // as saved, not saved again
  EXPECT_EQ(Value(*reader.Read().element), 1);
}

TEST(PairedReaderTest, AFailedReadCarriesItsErrorAndTheStateAfterIt) {
  DatasetPtr ds = Map(Range(0, 5), [](const Element& e) {
    if (Value(e) == 2) throw InvalidArgumentError("bad 2");
    return e;
  });
  auto input = ds->MakeIterator();
  PairedReader reader(*input);
  reader.Read();
  reader.Read();
  PairedElement failed = reader.Read();
  EXPECT_FALSE(failed.end());
  EXPECT_FALSE(failed.element.has_value());
  ASSERT_TRUE(failed.error);
  EXPECT_THROW(std::rethrow_exception(failed.error), InvalidArgumentError);
  EXPECT_EQ(NextAfter(ds, *failed.state), 3);  // the next read continues after it
  EXPECT_EQ(Value(*reader.Read().element), 3);
}

// An input that cannot report its state after a failed read.
class BrokenAfterFailureIterator;

class BrokenAfterFailure : public OpDataset<BrokenAfterFailure, BrokenAfterFailureIterator> {
 public:
  std::string op_name() const override { return "broken_after_failure"; }
  std::string params() const override { return ""; }
  int64_t Cardinality() const override { return kUnknownCardinality; }
};

class BrokenAfterFailureIterator : public DatasetIterator<BrokenAfterFailure> {
 public:
  using DatasetIterator::DatasetIterator;

 protected:
  std::optional<Element> GetNextInternal() override {
    if (next_ == 1) {
      broken_ = true;
      throw DataLossError("read failed");
    }
    return Element(Tensor::Scalar<int64_t>(next_++));
  }
  void SaveInternal(StateWriter& w) override {
    if (broken_) throw DataLossError("no state");
    w.WriteInt("next", next_);
  }
  void RestoreInternal(StateReader& r) override { next_ = r.ReadInt("next"); }

 private:
  int64_t next_ = 0;
  bool broken_ = false;
};

TEST(PairedReaderTest, KeepsThePreviousStateWhenTheInputCannotReportOne) {
  auto input = std::make_shared<BrokenAfterFailure>()->MakeIterator();
  PairedReader reader(*input);
  PairedElement first = reader.Read();
  PairedElement failed = reader.Read();
  ASSERT_TRUE(failed.error);
  EXPECT_THROW(std::rethrow_exception(failed.error), DataLossError);
  EXPECT_EQ(failed.state, first.state);
}

}  // namespace
}  // namespace inputpipe
