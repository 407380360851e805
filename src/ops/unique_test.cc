// unique: tf.data's example, exact resumption, and the state's size (8 bytes per distinct
// element).
#include <gtest/gtest.h>

#include <iostream>

#include "ops/ops_test_util.h"

namespace inputpipe {
namespace {

using namespace testing;  // NOLINT: test helpers

// 0, 0, 1, 1, 2, 2, ...: n / 2 distinct elements.
DatasetPtr Halves(int64_t n) {
  return Map(
      Range(0, n), [](const Element& e) { return I64(e.tensor().scalar<int64_t>() / 2); },
      {.name = "half"});
}

TEST(UniqueTest, MatchesTfDataExample) {
  // tf.data: [1, 37, 2, 37, 2, 1] -> [1, 37, 2]
  EXPECT_EQ(Ints(Unique(FromTensorSlices(I64s({1, 37, 2, 37, 2, 1})))),
            (std::vector<int64_t>{1, 37, 2}));
  auto strings = Collect(
      Unique(FromTensorSlices(Element(Tensor::FromStrings({"a", "b", "a", "c", "b"}, {5})))));
  ASSERT_EQ(strings.size(), 3u);
  EXPECT_EQ(strings[2].tensor().strings()[0], "c");
}

TEST(UniqueTest, ResumesExactly) {
  std::vector<int64_t> values;
  for (int i = 0; i < 200; ++i) values.push_back((i * 37) % 61);
  ExpectExactResume(Unique(FromTensorSlices(I64s(values))));
}

TEST(UniqueTest, StateIsEightBytesPerDistinctElement) {
  auto it = Unique(Halves(20000))->MakeIterator();
  CollectFrom(*it, 5000);
  std::string state = it->Save();
  std::cout << "unique: state of " << state.size() << " bytes after 5000 distinct elements\n";
  EXPECT_GE(state.size(), 5000u * 8);
  EXPECT_LT(state.size(), 5000u * 8 + 300);
  auto restored = Unique(Halves(20000))->MakeIterator();
  restored->Restore(state);
  EXPECT_EQ(restored->GetNext()->tensor().scalar<int64_t>(), 5000);
}

}  // namespace
}  // namespace inputpipe
