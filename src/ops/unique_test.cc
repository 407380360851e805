// unique: tf.data's example, exact resumption, and the state's size (8 bytes per distinct
// element).
#include <gtest/gtest.h>

#include "ops/reorder_test_util.h"

namespace inputpipe {
namespace {

using reorder_test::Ints;
using testing::Collect;

DatasetPtr Values(std::vector<int64_t> values) {
  return FromTensorSlices(Element(Tensor::FromVector<int64_t>(values)));
}

TEST(UniqueTest, MatchesTfDataExample) {
  // tf.data: [1, 37, 2, 37, 2, 1] -> [1, 37, 2]
  EXPECT_EQ(Ints(Collect(Unique(Values({1, 37, 2, 37, 2, 1})))), (std::vector<int64_t>{1, 37, 2}));
  auto strings = Collect(
      Unique(FromTensorSlices(Element(Tensor::FromStrings({"a", "b", "a", "c", "b"}, {5})))));
  ASSERT_EQ(strings.size(), 3u);
  EXPECT_EQ(strings[2].tensor().strings()[0], "c");
}

TEST(UniqueTest, ResumesExactly) {
  std::vector<int64_t> values;
  for (int i = 0; i < 200; ++i) values.push_back((i * 37) % 61);
  testing::ExpectExactResume(Unique(Values(values)));
}

TEST(UniqueTest, StateIsEightBytesPerDistinctElement) {
  auto it = Unique(Map(Range(0, 20000),
                       [](const Element& e) {
                         return Element(Tensor::Scalar<int64_t>(e.tensor().scalar<int64_t>() / 2));
                       },
                       {.name = "half"}))
                ->MakeIterator();
  testing::CollectFrom(*it, 5000);
  std::string state = it->Save();
  std::cout << "unique: state of " << state.size() << " bytes after 5000 distinct elements\n";
  EXPECT_GE(state.size(), 5000u * 8);
  EXPECT_LT(state.size(), 5000u * 8 + 300);
  auto restored =
      Unique(Map(Range(0, 20000),
                 [](const Element& e) {
                   return Element(Tensor::Scalar<int64_t>(e.tensor().scalar<int64_t>() / 2));
                 },
                 {.name = "half"}))
          ->MakeIterator();
  restored->Restore(state);
  EXPECT_EQ(restored->GetNext()->tensor().scalar<int64_t>(), 5000);
}

}  // namespace
}  // namespace inputpipe
