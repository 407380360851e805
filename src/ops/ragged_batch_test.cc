// ragged_batch and the ragged element: tf.data's example (rows of different lengths), scalars
// stacked, trailing dimensions kept, errors, the ops that refuse ragged values, and exact
// resumption (the state is the input's, as batch's).
#include <gtest/gtest.h>

#include "inputpipe/ragged.h"
#include "ops/ops_test_util.h"

namespace inputpipe {
namespace {

using namespace testing;  // NOLINT: test helpers

// range(1, stop).map(lambda x: tf.fill([x], x)): [1], [2, 2], [3, 3, 3], ...
DatasetPtr Fills(int64_t stop) {
  return Map(Range(1, stop),
             [](const Element& e) {
               int64_t x = e.tensor().scalar<int64_t>();
               return Element(I64s(std::vector<int64_t>(x, x)));
             },
             {.name = "fill"});
}

TEST(RaggedBatchTest, ConcatenatesRowsAndRecordsTheirSplits) {
  auto b = Collect(RaggedBatch(Fills(6), 2));
  ASSERT_EQ(b.size(), 3u);
  ASSERT_TRUE(IsRagged(b[0]));
  EXPECT_EQ(RaggedValues(b[0]), I64s({1, 2, 2}));
  EXPECT_EQ(RaggedRowSplits(b[0]), I64s({0, 1, 3}));
  EXPECT_EQ(RaggedValues(b[1]), I64s({3, 3, 3, 4, 4, 4, 4}));
  EXPECT_EQ(RaggedRowSplits(b[1]), I64s({0, 3, 7}));
  EXPECT_EQ(RaggedRowSplits(b[2]), I64s({0, 5}));  // the remainder: one row
  EXPECT_EQ(Collect(RaggedBatch(Fills(6), 2, /*drop_remainder=*/true)).size(), 2u);
  EXPECT_EQ(RaggedBatch(Fills(6), 2)->Cardinality(), 3);
  EXPECT_EQ(RaggedBatch(Fills(6), 2, true)->Cardinality(), 2);
}

TEST(RaggedBatchTest, StacksScalarsAndKeepsTrailingDimensions) {
  // (x, fill([x, 2], x)): the scalar is stacked, the matrix is ragged in its first dimension.
  auto pairs = Map(Range(0, 3),
                   [](const Element& e) {
                     int64_t x = e.tensor().scalar<int64_t>();
                     return Element::Tuple(
                         {I64(x), Tensor::FromVector<int64_t>(std::vector<int64_t>(2 * x, x),
                                                              {x, 2})});
                   },
                   {.name = "pairs"});
  auto b = Collect(RaggedBatch(pairs, 3));
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0][0].tensor(), I64s({0, 1, 2}));
  ASSERT_TRUE(IsRagged(b[0][1]));
  EXPECT_EQ(RaggedValues(b[0][1]).shape(), (Shape{3, 2}));
  EXPECT_EQ(RaggedRowSplits(b[0][1]), I64s({0, 0, 1, 3}));
}

TEST(RaggedBatchTest, RefusesWhatItCannotBatch) {
  auto mixed = Map(Range(1, 3),
                   [](const Element& e) {
                     int64_t x = e.tensor().scalar<int64_t>();
                     return Element(Tensor::FromVector<int64_t>(std::vector<int64_t>(x * x, x),
                                                                {x, x}));
                   },
                   {.name = "squares"});
  ExpectInvalidArgument([&] { Collect(RaggedBatch(mixed, 2)); }, {"ragged_batch", "concatenate"});
  ExpectInvalidArgument([] { Collect(RaggedBatch(RaggedBatch(Fills(4), 2), 2)); },
                        {"ragged_batch", "already ragged"});
  ExpectInvalidArgument([] { RaggedBatch(Fills(4), 0); }, {"ragged_batch", "batch_size"});
  // batch and unbatch would stack or slice the two parts apart: they refuse, naming the op.
  ExpectInvalidArgument([] { Collect(Batch(RaggedBatch(Fills(5), 2), 2)); },
                        {"batch", "ragged"});
  ExpectInvalidArgument([] { Collect(Unbatch(RaggedBatch(Fills(5), 2))); },
                        {"unbatch", "ragged"});
  ExpectInvalidArgument([] { Collect(PaddedBatch(RaggedBatch(Fills(5), 2), 2)); },
                        {"padded_batch", "ragged"});
}

TEST(RaggedBatchTest, MakeRaggedChecksItsParts) {
  Element r = MakeRagged(I64s({1, 2, 3}), I64s({0, 2, 2, 3}));
  EXPECT_TRUE(IsRagged(r));
  EXPECT_FALSE(IsRagged(Element::Dict({{"values", I64s({1})}, {"row_splits", I64s({0, 1})}})));
  ExpectInvalidArgument([] { MakeRagged(I64s({1, 2}), I64s({0, 3})); }, {"ragged", "end"});
  ExpectInvalidArgument([] { MakeRagged(I64s({1, 2}), I64s({0, 2, 1, 2})); },
                        {"ragged", "decrease"});
  ExpectInvalidArgument([] { MakeRagged(I64(1), I64s({0})); }, {"ragged", "rank"});
}

TEST(RaggedBatchTest, ResumesExactly) {
  ExpectExactResume(RaggedBatch(Fills(30), 4));
  ExpectExactResume(RaggedBatch(Fills(30), 4, /*drop_remainder=*/true));
}

}  // namespace
}  // namespace inputpipe
