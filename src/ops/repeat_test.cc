// repeat: tf.data's documented examples, count -1 / 0, empty inputs, cardinality, random
// access and exact resumption across epoch boundaries.
#include <gtest/gtest.h>

#include "ops/ops_test_util.h"

namespace inputpipe {
namespace {

using namespace testing;  // NOLINT: test helpers

TEST(RepeatTest, RepeatsTheInput) {
  // from_tensor_slices([1, 2, 3]).repeat(3): 1, 2, 3, 1, 2, 3, 1, 2, 3.
  auto ds = FromTensorSlices(I64s({1, 2, 3}));
  EXPECT_EQ(Ints(Repeat(ds, 3)), (std::vector<int64_t>{1, 2, 3, 1, 2, 3, 1, 2, 3}));
  EXPECT_EQ(Ints(Repeat(ds, -1), 7), (std::vector<int64_t>{1, 2, 3, 1, 2, 3, 1}));
  EXPECT_EQ(Ints(Repeat(ds, 0)), (std::vector<int64_t>{}));
  EXPECT_EQ(Ints(Repeat(ds, 1)), (std::vector<int64_t>{1, 2, 3}));
  // A forever repeat of an empty input ends instead of looping.
  EXPECT_EQ(Ints(Repeat(Range(0, 0))), (std::vector<int64_t>{}));
  EXPECT_EQ(Ints(Repeat(Filter(Range(0, 5), [](const Element&) { return false; }))),
            (std::vector<int64_t>{}));
  ExpectInvalidArgument([] { Repeat(nullptr); }, {"repeat", "input"});
}

TEST(RepeatTest, MakesAFreshInputIteratorPerEpoch) {
  // Each epoch of take(repeat) restarts the inner pipeline, not just its last op.
  auto ds = Repeat(Take(Skip(Range(0, 10), 2), 3), 2);
  EXPECT_EQ(Ints(ds), (std::vector<int64_t>{2, 3, 4, 2, 3, 4}));
}

TEST(RepeatTest, Cardinality) {
  EXPECT_EQ(Repeat(Range(0, 3), 4)->Cardinality(), 12);
  EXPECT_EQ(Repeat(Range(0, 3), 0)->Cardinality(), 0);
  EXPECT_EQ(Repeat(Range(0, 3), -1)->Cardinality(), kInfiniteCardinality);
  EXPECT_EQ(Repeat(Range(0, 0), -1)->Cardinality(), 0);
  EXPECT_EQ(Repeat(Filter(Range(0, 3), IsEven), 2)->Cardinality(), kUnknownCardinality);
  EXPECT_EQ(Repeat(Counter(), 2)->Cardinality(), kInfiniteCardinality);
  EXPECT_EQ(Take(Repeat(Range(0, 3), -1), 10)->Cardinality(), 10);
}

TEST(RepeatTest, RandomAccess) {
  auto ds = Repeat(Range(10, 13), 3);
  ASSERT_TRUE(ds->IsRandomAccess());
  EXPECT_EQ(ds->Get(7).tensor().scalar<int64_t>(), 11);
  ExpectGetMatchesIteration(ds);
  ExpectGetMatchesIteration(Repeat(Range(10, 13), -1), 50);
  ExpectGetMatchesIteration(Repeat(Range(10, 13), 0));
  EXPECT_TRUE(Repeat(Range(10, 13))->IsRandomAccess());
  EXPECT_FALSE(Repeat(Filter(Range(0, 3), IsEven), 2)->IsRandomAccess());
}

TEST(RepeatTest, ResumesExactly) {
  // Breakpoints on and around the epoch boundaries (every 5 elements).
  ExpectExactResume(Repeat(Range(0, 5), 3), {.extra_breakpoints = {4, 6, 9, 10, 14}});
  ExpectExactResume(Repeat(Range(0, 5), -1), {.max_elements = 60, .extra_breakpoints = {10, 15}});
  ExpectExactResume(Repeat(Filter(Range(0, 10), IsEven, {.name = "even"}), 4),
                    {.extra_breakpoints = {4, 5, 6, 10}});
  ExpectExactResume(Repeat(Range(0, 0), -1));
  ExpectExactResume(Repeat(Range(0, 3), 0));
}

}  // namespace
}  // namespace inputpipe
