// rebatch: tf.data's examples (one size, a cycled vector of sizes, drop_remainder), batches
// across input batch boundaries, structures, exact resumption inside an input batch.
#include <gtest/gtest.h>

#include "inputpipe/element_spec.h"
#include "ops/ops_test_util.h"

namespace inputpipe {
namespace {

using namespace testing;  // NOLINT: test helpers

using Batches = std::vector<std::vector<int64_t>>;

TEST(RebatchTest, MatchesTfDataExamples) {
  // tf.data: range(6).batch(2).rebatch(3) -> [[0, 1, 2], [3, 4, 5]]
  EXPECT_EQ(Rows(Rebatch(Batch(Range(0, 6), 2), {3})), (Batches{{0, 1, 2}, {3, 4, 5}}));
  // tf.data: range(7).batch(4).rebatch(batch_size=[2, 1, 1]) -> [0, 1], [2], [3], [4, 5], [6]
  EXPECT_EQ(Rows(Rebatch(Batch(Range(0, 7), 4), {2, 1, 1})),
            (Batches{{0, 1}, {2}, {3}, {4, 5}, {6}}));
  // tf.data: range(8).batch(4).rebatch(3) -> [0, 1, 2], [3, 4, 5], [6, 7]; drop_remainder
  // drops [6, 7].
  EXPECT_EQ(Rows(Rebatch(Batch(Range(0, 8), 4), {3})), (Batches{{0, 1, 2}, {3, 4, 5}, {6, 7}}));
  EXPECT_EQ(Rows(Rebatch(Batch(Range(0, 8), 4), {3}, true)), (Batches{{0, 1, 2}, {3, 4, 5}}));
}

TEST(RebatchTest, IsUnbatchThenBatch) {
  DatasetPtr uneven = Batch(Range(0, 23), 5);  // 5, 5, 5, 5, 3 rows
  for (int64_t size : {1, 2, 4, 5, 7, 30}) {
    for (bool drop : {false, true}) {
      EXPECT_EQ(Rows(Rebatch(uneven, {size}, drop)), Rows(Batch(Unbatch(uneven), size, drop)))
          << "size " << size << " drop_remainder " << drop;
    }
  }
}

TEST(RebatchTest, SlicesEveryComponent) {
  DatasetPtr pairs = Batch(Zip({Range(0, 5), Batch(Range(0, 10), 2, true)}), 2);
  auto batches = Collect(Rebatch(pairs, {3}));
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(ValuesOf(batches[0][0].tensor()), (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(batches[0][1].tensor().shape(), (Shape{3, 2}));
  EXPECT_EQ(ValuesOf(batches[1][1].tensor()), (std::vector<int64_t>{6, 7, 8, 9}));
  EXPECT_EQ(ElementSpecOf(*Rebatch(pairs, {3})).ToString(), "(int64[?], int64[?, 2])");
  EXPECT_EQ(ElementSpecOf(*Rebatch(pairs, {3}, true)).ToString(), "(int64[3], int64[3, 2])");
}

TEST(RebatchTest, ResumesExactlyInsideAnInputBatch) {
  ExpectExactResume(Rebatch(Batch(Range(0, 50), 7), {3}));
  ExpectExactResume(Rebatch(Batch(Range(0, 50), 4), {5, 1, 2}, true));
  ExpectExactResume(Rebatch(Batch(Range(0, 50), 3), {2}, false), {.extra_breakpoints = {3, 4, 7}});
}

TEST(RebatchTest, RejectsBadArguments) {
  ExpectInvalidArgument([] { Rebatch(Batch(Range(0, 4), 2), {}); }, {"rebatch", "batch_size"});
  ExpectInvalidArgument(
      [] {
        Rebatch(Batch(Range(0, 4), 2), {2, 0});
      },
      {"rebatch", "batch_size", "positive"});
  ExpectInvalidArgument([] { Collect(Rebatch(Range(0, 4), {2})); }, {"rebatch"});  // scalars
}

}  // namespace
}  // namespace inputpipe
