// choose_from_datasets: tf.data's documented example, both stop_on_empty_dataset modes, errors,
// exact resumption.
#include <gtest/gtest.h>

#include "core/op_skeleton.h"
#include "ops/reorder_test_util.h"
#include "testing/expect_error.h"

namespace inputpipe {
namespace {

using reorder_test::Ints;
using testing::Collect;

DatasetPtr Choices(std::vector<int64_t> values) {
  return FromTensorSlices(Element(Tensor::FromVector<int64_t>(values)));
}

DatasetPtr Constant(int64_t value) {
  return Map(Range(0, 100),
             [value](const Element&) { return Element(Tensor::Scalar<int64_t>(value)); },
             {.name = "const"});
}

TEST(ChooseFromDatasetsTest, MatchesTfDataExample) {
  // tf.data: datasets = [repeat("foo"), repeat("bar"), repeat("baz")],
  // choice = range(3).repeat(3) -> foo bar baz foo bar baz foo bar baz.
  auto ds = ChooseFromDatasets({Constant(0), Constant(1), Constant(2)},
                               Choices({0, 1, 2, 0, 1, 2, 0, 1, 2}));
  EXPECT_EQ(Ints(Collect(ds)), (std::vector<int64_t>{0, 1, 2, 0, 1, 2, 0, 1, 2}));
  // Each input is read in its own order.
  EXPECT_EQ(
      Ints(Collect(ChooseFromDatasets({Range(0, 5), Range(10, 15)}, Choices({1, 0, 0, 1, 1})))),
      (std::vector<int64_t>{10, 0, 1, 11, 12}));
  // A chosen input that has ended stops the stream (tf.data's stop_on_empty_dataset=True).
  EXPECT_EQ(Ints(Collect(ChooseFromDatasets({Range(0, 1), Range(10, 15)}, Choices({0, 1, 0, 1})))),
            (std::vector<int64_t>{0, 10}));
}

// Choices c mod n forever, from a RandomDataset: an infinite choice stream.
DatasetPtr RandomChoices(int64_t n, int64_t seed) {
  return Map(RandomDataset(seed),
             [n](const Element& e) {
               return Element(Tensor::Scalar<int64_t>(
                   static_cast<int64_t>(static_cast<uint64_t>(e.tensor().scalar<int64_t>()) % n)));
             },
             {.name = "mod" + std::to_string(n)});
}

// An input that ends, then would produce again if read after its end (as a reader of a file
// that grows): 0, end, 1, end, ... State: reads so far. choose_from_datasets must never read an
// input again once it has ended, before a save or after a restore.
class BurstsIterator;

class Bursts : public OpDataset<Bursts, BurstsIterator> {
 public:
  std::string op_name() const override { return "bursts"; }
  std::string params() const override { return ""; }
  int64_t Cardinality() const override { return kUnknownCardinality; }
};

class BurstsIterator : public DatasetIterator<Bursts> {
 public:
  using DatasetIterator::DatasetIterator;

 protected:
  std::optional<Element> GetNextInternal() override {
    int64_t call = calls_++;
    if (call % 2 == 1) return std::nullopt;
    return Element(Tensor::Scalar<int64_t>(1000 + call / 2));
  }
  void SaveInternal(StateWriter& w) override { w.WriteInt("calls", calls_); }
  void RestoreInternal(StateReader& r) override { calls_ = ReadCounter(r, "calls"); }

 private:
  int64_t calls_ = 0;
};

TEST(ChooseFromDatasetsTest, WithoutStopOnEmptySkipsEndedInputs) {
  // tf.data (stop_on_empty_dataset=False): a choice of an ended input is skipped.
  EXPECT_EQ(Ints(Collect(ChooseFromDatasets({Range(0, 2), Range(10, 15)},
                                            Choices({0, 1, 0, 1, 0, 1, 0, 1}), false))),
            (std::vector<int64_t>{0, 10, 1, 11, 12, 13}));
  // An empty input is skipped from the start.
  EXPECT_EQ(Ints(Collect(
                ChooseFromDatasets({Range(0, 0), Range(5, 8)}, Choices({0, 1, 0, 0, 1}), false))),
            (std::vector<int64_t>{5, 6}));
  // Once every input has ended the stream ends, even though the choices go on forever.
  auto both_end = ChooseFromDatasets({Range(0, 3), Range(10, 12)}, RandomChoices(2, 5), false);
  EXPECT_EQ(reorder_test::Sorted(Ints(Collect(both_end))), (std::vector<int64_t>{0, 1, 2, 10, 11}));
  // The choices ending ends the stream with inputs left.
  EXPECT_EQ(Ints(Collect(ChooseFromDatasets({Range(0, 5), Range(10, 15)}, Choices({1, 1}), false))),
            (std::vector<int64_t>{10, 11}));
  // An input that ended is not read again, even if it would produce more.
  EXPECT_EQ(Ints(Collect(ChooseFromDatasets({std::make_shared<Bursts>(), Range(10, 13)},
                                            Choices({0, 0, 0, 1, 0, 1}), false))),
            (std::vector<int64_t>{1000, 10, 11}));
  EXPECT_EQ(Ints(Collect(ChooseFromDatasets({std::make_shared<Bursts>(), Range(10, 13)},
                                            Choices({0, 0, 0, 1}), true))),
            (std::vector<int64_t>{1000}));
}

TEST(ChooseFromDatasetsTest, RejectsBadChoices) {
  auto it = ChooseFromDatasets({Range(0, 5)}, Choices({0, 3}))->MakeIterator();
  it->GetNext();
  testing::ExpectError<InvalidArgumentError>([&] { it->GetNext(); },
                                             {"choice 3 is out of range [0, 1)"});
  EXPECT_THROW(ChooseFromDatasets({}, Choices({0})), InvalidArgumentError);
  testing::ExpectError<InvalidArgumentError>(
      [] { ChooseFromDatasets({Range(0, 1), nullptr}, Choices({0})); },
      {"choose_from_datasets: datasets[1] is null"});
  // Out of range is an error even once every input named before has ended (tf.data checks the
  // index first); the stream then goes on with the next choice.
  auto skipping =
      ChooseFromDatasets({Range(0, 1), Range(5, 7)}, Choices({0, 0, 2, 1}), false)->MakeIterator();
  EXPECT_EQ(Ints(testing::CollectFrom(*skipping, 1)), (std::vector<int64_t>{0}));
  EXPECT_THROW(skipping->GetNext(), InvalidArgumentError);  // skips 0 (ended), then 2
  EXPECT_EQ(Ints(testing::CollectFrom(*skipping)), (std::vector<int64_t>{5}));
}

TEST(ChooseFromDatasetsTest, ResumesExactly) {
  std::vector<int64_t> choices;
  for (int i = 0; i < 60; ++i) choices.push_back((i * 7) % 3);
  testing::ExpectExactResume(
      ChooseFromDatasets({Range(0, 30), reorder_test::Seq(30), Range(100, 130)}, Choices(choices)));
  auto random_choice = Map(RandomDataset(3),
                           [](const Element& e) {
                             return Element(Tensor::Scalar<int64_t>(static_cast<int64_t>(
                                 static_cast<uint64_t>(e.tensor().scalar<int64_t>()) % 2)));
                           },
                           {.name = "mod2"});
  testing::ExpectExactResume(
      ChooseFromDatasets({Range(0, 40), reorder_test::Seq(40)}, random_choice));
}

TEST(ChooseFromDatasetsTest, WithoutStopOnEmptyResumesExactly) {
  // Inputs ending at different times, an infinite choice stream: the state must carry which
  // inputs have ended (a restored Bursts would produce again if read).
  testing::ExactnessOptions options;
  options.extra_breakpoints = reorder_test::Iota(45);
  auto ds = ChooseFromDatasets(
      {Range(0, 5), reorder_test::Seq(30), std::make_shared<Bursts>(), Range(100, 101)},
      RandomChoices(4, 11), false);
  ASSERT_EQ(Collect(ds).size(), 37u);  // every element of every input, once
  testing::ExpectExactResume(ds, options);
  std::vector<int64_t> choices;
  for (int i = 0; i < 50; ++i) choices.push_back((i * 5) % 3);
  testing::ExpectExactResume(
      ChooseFromDatasets({Range(0, 4), reorder_test::Seq(9), Range(100, 130)}, Choices(choices),
                         false),
      options);
}

TEST(ChooseFromDatasetsTest, FingerprintTellsTheModesApart) {
  auto stop = ChooseFromDatasets({Range(0, 5), Range(10, 15)}, Choices({0, 1, 0}));
  auto skip = ChooseFromDatasets({Range(0, 5), Range(10, 15)}, Choices({0, 1, 0}), false);
  EXPECT_EQ(stop->Signature(), "choose_from_datasets(num_datasets=2, stop_on_empty_dataset=true)");
  EXPECT_EQ(skip->Signature(), "choose_from_datasets(num_datasets=2, stop_on_empty_dataset=false)");
  reorder_test::ExpectStateRefusedBy(stop, skip);
  reorder_test::ExpectStateRefusedBy(skip, stop);
}


// The inputs must produce one structure and dtypes, as concatenate (tf.data checks the static
// element specs): random-access inputs when the op is made, the others at their first element.
TEST(ChooseFromDatasetsTest, RejectsInputsOfDifferentDtypesOrStructures) {
  DatasetPtr words = FromTensorSlices(Element(Tensor::FromStrings({"a", "b"}, {2})));
  testing::ExpectError<InvalidArgumentError>(
      [&] { ChooseFromDatasets({Range(0, 3), words}, Choices({0, 1})); },
      {"choose_from_datasets", "incompatible element structures or dtypes", "datasets[0] has",
       "datasets[1] has"});
  testing::ExpectError<InvalidArgumentError>(
      [&] { ChooseFromDatasets({Range(0, 3), Zip({Range(0, 3), Range(0, 3)})}, Choices({0})); },
      {"choose_from_datasets", "datasets[1] has"});
  // Not random-access: found where the second input first produces an element.
  DatasetPtr filtered_words = Filter(words, [](const Element&) { return true; }, {.name = "all"});
  auto it = ChooseFromDatasets({reorder_test::Seq(5), filtered_words}, Choices({0, 0, 1}))
                ->MakeIterator();
  EXPECT_EQ(Ints(testing::CollectFrom(*it, 2)), (std::vector<int64_t>{0, 1}));
  testing::ExpectError<InvalidArgumentError>(
      [&] { it->GetNext(); }, {"choose_from_datasets", "datasets[0] has", "datasets[1] has"});
  // Shapes may differ (as tf.data): int64 scalars and int64 vectors mix.
  DatasetPtr rows = FromTensorSlices(Element(Tensor::FromVector<int64_t>({7, 8, 9, 10}, {2, 2})));
  EXPECT_EQ(Collect(ChooseFromDatasets({Range(0, 3), rows}, Choices({0, 1, 0, 1}))).size(), 4u);
}

}  // namespace
}  // namespace inputpipe
