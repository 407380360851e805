// choose_from_datasets: tf.data's documented example, errors, exact resumption.
#include <gtest/gtest.h>

#include "ops/reorder_test_util.h"

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

TEST(ChooseFromDatasetsTest, RejectsBadChoices) {
  auto it = ChooseFromDatasets({Range(0, 5)}, Choices({0, 3}))->MakeIterator();
  it->GetNext();
  try {
    it->GetNext();
    FAIL() << "expected InvalidArgumentError";
  } catch (const InvalidArgumentError& e) {
    EXPECT_NE(std::string(e.what()).find("choice 3 is out of range [0, 1)"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(ChooseFromDatasets({}, Choices({0})), InvalidArgumentError);
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

}  // namespace
}  // namespace inputpipe
