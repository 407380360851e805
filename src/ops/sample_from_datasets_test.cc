// sample_from_datasets: weighted sampling with tf.data's end-of-input rules; exact resumption.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "ops/reorder_test_util.h"
#include "testing/expect_error.h"

namespace inputpipe {
namespace {

using reorder_test::Ints;
using reorder_test::Seq;
using testing::Collect;

DatasetPtr Constant(int64_t value, int64_t count) {
  return Map(Range(0, count),
             [value](const Element&) { return Element(Tensor::Scalar<int64_t>(value)); },
             {.name = "const" + std::to_string(value)});
}

TEST(SampleFromDatasetsTest, FollowsTheWeights) {
  auto ds = SampleFromDatasets({Constant(0, 100000), Constant(1, 100000)}, {0.8, 0.2}, 3);
  std::vector<int64_t> out = Ints(Collect(ds, 20000));
  double ones = 0;
  for (int64_t v : out) ones += v;
  // Binomial(20000, 0.2): sd = 56.6; 5 sd either side.
  EXPECT_NEAR(ones, 4000, 283);
  // A zero weight is never chosen.
  for (int64_t v :
       Ints(Collect(SampleFromDatasets({Constant(0, 50), Constant(1, 50)}, {1, 0}, 1)))) {
    EXPECT_EQ(v, 0);
  }
}

TEST(SampleFromDatasetsTest, EndOfInputRulesMatchTfData) {
  // stop_on_empty_dataset=false: every element of every input comes out, each input in order.
  auto all = Ints(Collect(SampleFromDatasets({Range(0, 10), Range(100, 130)}, {}, 4)));
  ASSERT_EQ(all.size(), 40u);
  std::vector<int64_t> low, high;
  for (int64_t v : all) (v < 100 ? low : high).push_back(v);
  EXPECT_EQ(low, reorder_test::Iota(10));
  EXPECT_EQ(high, reorder_test::Iota(30, 100));
  // stop_on_empty_dataset=true: stops at the first draw of an ended input.
  auto stopped = Ints(Collect(SampleFromDatasets({Range(0, 3), Range(100, 1000)}, {}, 4, true)));
  EXPECT_LT(stopped.size(), 900u);
  int64_t small = 0;
  for (int64_t v : stopped) small += v < 100;
  EXPECT_EQ(small, 3);
  EXPECT_THROW(SampleFromDatasets({Range(0, 3)}, {1, 2}), InvalidArgumentError);
  EXPECT_THROW(SampleFromDatasets({Range(0, 3)}, {-1}), InvalidArgumentError);
  EXPECT_THROW(SampleFromDatasets({Range(0, 3), Range(0, 3)}, {0, 0}), InvalidArgumentError);
  testing::ExpectError<InvalidArgumentError>([] { SampleFromDatasets({nullptr, Range(0, 3)}); },
                                             {"sample_from_datasets: datasets[0] is null"});
}

TEST(SampleFromDatasetsTest, ResumesExactly) {
  testing::ExpectExactResume(
      SampleFromDatasets({Seq(20), Range(100, 150), Seq(5)}, {0.5, 0.3, 0.2}, 7));
  testing::ExpectExactResume(
      SampleFromDatasets({Seq(20), Range(100, 150)}, {}, std::nullopt, true));
  testing::ExpectExactResume(SampleFromDatasets(
      {Prefetch(Seq(40), 4), Map(Seq(40), reorder_test::SlowSquare(0), {}, 2)}, {}, 1));
}


// The inputs must produce one structure and dtypes, as concatenate (tf.data checks the static
// element specs): random-access inputs when the op is made, the others at their first element.
TEST(SampleFromDatasetsTest, RejectsInputsOfDifferentDtypesOrStructures) {
  DatasetPtr words = FromTensorSlices(Element(Tensor::FromStrings({"a", "b", "c"}, {3})));
  testing::ExpectError<InvalidArgumentError>(
      [&] { SampleFromDatasets({Range(0, 3), words}, {}, 7); },
      {"sample_from_datasets", "incompatible element structures or dtypes", "datasets[0] has",
       "datasets[1] has"});
  // Not random-access: found when the strings are first drawn, whatever came first.
  DatasetPtr filtered_words = Filter(words, [](const Element&) { return true; }, {.name = "all"});
  auto it = SampleFromDatasets({Seq(100), filtered_words}, {}, 7)->MakeIterator();
  std::string message;
  try {
    for (int i = 0; i < 100; ++i) it->GetNext();
  } catch (const InvalidArgumentError& e) {
    message = e.what();
  }
  EXPECT_NE(message.find("sample_from_datasets: the inputs have incompatible element"),
            std::string::npos)
      << message;
  // Same dtype, other shapes: allowed, as tf.data.
  DatasetPtr rows = FromTensorSlices(Element(Tensor::FromVector<int64_t>({7, 8, 9, 10}, {2, 2})));
  EXPECT_EQ(Collect(SampleFromDatasets({Range(0, 3), rows}, {}, 7)).size(), 5u);
  // A bad element 0 is not the check's to report: the op is made, the iterator reports it.
  DatasetPtr bad_first = Map(
      Range(0, 3),
      [](const Element& e) {
        if (e.tensor().scalar<int64_t>() == 0) throw DataLossError("bad element 0");
        return e;
      },
      {.name = "bad_first"});
  EXPECT_NO_THROW(SampleFromDatasets({bad_first, Range(0, 3)}, {}, 7));
}

// rerandomize_each_iteration: other draws each epoch, exact across epoch boundaries.
TEST(SampleFromDatasetsTest, RerandomizeEachIterationDrawsAnewPerEpochAndResumes) {
  auto make = [](bool rerandomize) {
    return Repeat(
        Take(SampleFromDatasets({Seq(40), Range(100, 140)}, {}, 3, false, rerandomize), 12), 3);
  };
  std::vector<int64_t> full = Ints(Collect(make(true)));
  ASSERT_EQ(full.size(), 36u);
  std::vector<int64_t> e0(full.begin(), full.begin() + 12),
      e1(full.begin() + 12, full.begin() + 24);
  EXPECT_NE(e0, e1);
  std::vector<int64_t> same = Ints(Collect(make(false)));
  EXPECT_EQ(std::vector<int64_t>(same.begin(), same.begin() + 12), e0);  // epoch 0 as before
  EXPECT_EQ(std::vector<int64_t>(same.begin() + 12, same.begin() + 24), e0);
  reorder_test::ExpectRestoresAt([&] { return make(true); }, full, {0, 5, 11, 12, 13, 24, 35, 36});
  EXPECT_EQ(SampleFromDatasets({Seq(4)}, {1}, 3)->Signature(),
            "sample_from_datasets(weights=[1], seed=3, stop_on_empty_dataset=false)");
}

DatasetPtr WeightRows(std::vector<double> values, int64_t columns) {
  int64_t rows = static_cast<int64_t>(values.size()) / columns;
  return FromTensorSlices(Element(Tensor::FromVector<double>(values, {rows, columns})));
}

// Weights as a dataset: draw k uses weights element k; the stream ends with the weights.
TEST(SampleFromDatasetsTest, WeightsGivenAsADatasetWeighEachDraw) {
  // One-hot weights pick exactly.
  DatasetPtr one_hot = WeightRows({1, 0, 0, 1, 0, 1, 1, 0, 0, 1}, 2);
  EXPECT_EQ(Ints(Collect(SampleFromDatasetsByWeights({Seq(10), Range(100, 110)}, one_hot, 7))),
            (std::vector<int64_t>{0, 100, 101, 1, 102}));
  // Changing weights: the first 4000 draws 0.9 / 0.1, the next 4000 0.1 / 0.9.
  DatasetPtr phases = Concatenate(Take(Repeat(WeightRows({0.9, 0.1}, 2)), 4000),
                                  Take(Repeat(WeightRows({0.1, 0.9}, 2)), 4000));
  std::vector<int64_t> drawn =
      Ints(Collect(SampleFromDatasetsByWeights({Seq(10000), Range(-10000, 0)}, phases, 11)));
  ASSERT_EQ(drawn.size(), 8000u);
  int first_half = 0, second_half = 0;
  for (size_t i = 0; i < drawn.size(); ++i) (i < 4000 ? first_half : second_half) += drawn[i] >= 0;
  EXPECT_NEAR(first_half / 4000.0, 0.9, 0.03);
  EXPECT_NEAR(second_half / 4000.0, 0.1, 0.03);
  testing::ExpectExactResume(SampleFromDatasetsByWeights(
      {Seq(20), Range(100, 150)}, Take(Repeat(WeightRows({0.3, 0.7}, 2)), 60), 7));
  testing::ExpectExactResume(SampleFromDatasetsByWeights(
      {Seq(20), Range(100, 150)}, Repeat(WeightRows({0.5, 0.5, 0.2, 0.8}, 2)), std::nullopt, true));
  // A weights element of the wrong shape or sign names its position.
  testing::ExpectError<InvalidArgumentError>(
      [] {
        Collect(SampleFromDatasetsByWeights({Seq(3), Seq(3)}, WeightRows({1, 1, 1}, 3), 1));
      },
      {"sample_from_datasets", "weights element 0", "shape [3]", "expected [2]"});
  testing::ExpectError<InvalidArgumentError>(
      [] {
        Collect(SampleFromDatasetsByWeights({Seq(3), Seq(3)}, WeightRows({1, 1, -1, 1}, 2), 1));
      },
      {"sample_from_datasets", "weights element 1", "weights[0] must be finite and >= 0"});
  // A weights element that is no tensor (a tuple) names it too.
  testing::ExpectError<InvalidArgumentError>(
      [] {
        DatasetPtr pairs = Zip({WeightRows({0.5, 0.5}, 2), WeightRows({0.5, 0.5}, 2)});
        Collect(SampleFromDatasetsByWeights({Seq(3), Seq(3)}, pairs, 1));
      },
      {"sample_from_datasets", "weights element 0 is (", "expected a float32 or float64 vector"});
}

}  // namespace
}  // namespace inputpipe

namespace inputpipe {
namespace {

// A checksum-valid state whose draw counter is near INT64_MAX is refused by the restore (it
// used to be accepted, and the next GetNext overflowed: under ignore_errors an input vanished).
TEST(SampleFromDatasetsTest, AHostileDrawCounterIsRefusedOnRestore) {
  DatasetPtr ds = SampleFromDatasets({Range(0, 10), Range(100, 110)}, {0.5, 0.5}, 3);
  std::unique_ptr<Iterator> it = ds->MakeIterator();
  it->GetNext();
  StateNode node = it->SaveNode();
  for (int64_t draws : {std::numeric_limits<int64_t>::max(), (int64_t{1} << 62) + 1}) {
    for (auto& [key, value] : node.ints) {
      if (key == "draws") value = draws;
    }
    std::unique_ptr<Iterator> restored = ds->MakeIterator();
    EXPECT_THROW(restored->RestoreNode(node), DataLossError) << draws;
  }
}

}  // namespace
}  // namespace inputpipe
