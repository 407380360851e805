// take_while: tf.data's example, the end at the first false predicate (the input not read
// further, after a restore too), exact resumption.
#include <gtest/gtest.h>

#include "ops/ops_test_util.h"

namespace inputpipe {
namespace {

using namespace testing;  // NOLINT: test helpers

bool BelowFive(const Element& e) { return e.tensor().scalar<int64_t>() < 5; }

TEST(TakeWhileTest, MatchesTfDataExample) {
  // tf.data: range(10).take_while(lambda x: x < 5) -> [0, 1, 2, 3, 4]
  EXPECT_EQ(Ints(TakeWhile(Range(0, 10), BelowFive)), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  // Elements after the first false one are not taken, even where the predicate is true again.
  EXPECT_EQ(Ints(TakeWhile(FromTensorSlices(I64s({1, 2, 9, 3})), BelowFive)),
            (std::vector<int64_t>{1, 2}));
  EXPECT_TRUE(Ints(TakeWhile(Range(7, 10), BelowFive)).empty());
  EXPECT_EQ(TakeWhile(Range(0, 10), BelowFive)->Cardinality(), kUnknownCardinality);
  EXPECT_EQ(TakeWhile(Counter(), BelowFive)->Cardinality(), kUnknownCardinality);
}

TEST(TakeWhileTest, StopsReadingAnInfiniteInput) {
  EXPECT_EQ(Ints(TakeWhile(Counter(), BelowFive)), (std::vector<int64_t>{0, 1, 2, 3, 4}));
}

TEST(TakeWhileTest, ResumesExactly) {
  ExpectExactResume(
      TakeWhile(Range(0, 30), [](const Element& e) { return e.tensor().scalar<int64_t>() < 17; }));
  ExpectExactResume(TakeWhile(Counter(), BelowFive));
}

TEST(TakeWhileTest, AStateAfterTheEndStaysEnded) {
  // The predicate is false for 9 and true again for 3: a restore at the end must not read on.
  DatasetPtr ds = TakeWhile(FromTensorSlices(I64s({1, 9, 3})), BelowFive);
  auto it = ds->MakeIterator();
  ASSERT_TRUE(it->GetNext());
  ASSERT_FALSE(it->GetNext());
  auto restored = ds->MakeIterator();
  restored->Restore(it->Save());
  EXPECT_FALSE(restored->GetNext());
}

TEST(TakeWhileTest, RejectsAnEmptyPredicate) {
  ExpectInvalidArgument([] { TakeWhile(Range(0, 3), PredicateFn()); }, {"take_while", "predicate"});
}

}  // namespace
}  // namespace inputpipe
