// ragged_batch and the ragged element: tf.data's example (rows of different lengths), scalars
// stacked, trailing dimensions kept, errors, the ops that refuse ragged values, and exact
// resumption (the state is the input's, as batch's).
#include <gtest/gtest.h>

#include "inputpipe/element_spec.h"
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
  ExpectInvalidArgument([&] { Collect(RaggedBatch(mixed, 2)); },
                        {"ragged_batch", "element 1 of the batch", "int64[2, 2]", "int64[1, 1]",
                         "shape after the first dimension"});
  // A dtype that changes names the element and the component.
  auto dtypes = Map(Range(0, 3),
                    [](const Element& e) {
                      int64_t x = e.tensor().scalar<int64_t>();
                      Tensor b = x == 2 ? Tensor::FromVector<int32_t>({1})
                                        : Tensor::FromVector<int64_t>({1, 2});
                      return Element::Dict({{"a", I64(x)}, {"b", b}});
                    },
                    {.name = "dtypes"});
  ExpectInvalidArgument([&] { Collect(RaggedBatch(dtypes, 3)); },
                        {"ragged_batch", "element 2 of the batch", "component ['b']",
                         "int32[1]", "int64[2]", "dtype"});
  ExpectInvalidArgument([&] { Collect(RaggedBatch(Concatenate(Range(0, 1), Fills(3)), 2)); },
                        {"ragged_batch", "element 1 of the batch is int64[1]", "int64[]",
                         "rank"});
  ExpectInvalidArgument([] { RaggedBatch(Fills(4), 0); }, {"ragged_batch", "batch_size"});
  // batch would stack the two parts apart: it refuses, naming the op (ragged_batch nests).
  ExpectInvalidArgument([] { Collect(Batch(RaggedBatch(Fills(5), 2), 2)); },
                        {"batch", "ragged"});
  ExpectInvalidArgument([] { Collect(PaddedBatch(RaggedBatch(Fills(5), 2), 2)); },
                        {"padded_batch", "ragged"});
}

// A ragged component gains a ragged dimension: each element's ragged value is one row (as
// tf.data's ragged_batch of RaggedTensors, ragged_rank 1 -> 2).
TEST(RaggedBatchTest, RaggedComponentsGainARaggedDimension) {
  // Batches of fills: [[1], [2, 2]], [[3, 3, 3]], [[4]*4, [5]*5], ...; then two of them a row.
  auto nested = Collect(RaggedBatch(RaggedBatch(Fills(6), 2), 2));
  ASSERT_EQ(nested.size(), 2u);
  ASSERT_TRUE(IsRagged(nested[0]));
  EXPECT_EQ(RaggedRank(nested[0]), 2);
  EXPECT_EQ(RaggedRowSplits(nested[0]), I64s({0, 2, 4}));  // rows of 2 and 2 fills
  const Element& inner = nested[0].children()[1];
  EXPECT_EQ(RaggedRowSplits(inner), I64s({0, 1, 3, 6, 10}));
  EXPECT_EQ(RaggedValues(inner), I64s({1, 2, 2, 3, 3, 3, 4, 4, 4, 4}));
  EXPECT_EQ(RaggedRowSplits(nested[1]), I64s({0, 1}));  // the remainder: [[5]*5]
  EXPECT_EQ(RaggedRowSplits(nested[1].children()[1]), I64s({0, 5}));
  // Three levels, and inside a tuple beside a scalar.
  auto deeper = Collect(RaggedBatch(RaggedBatch(RaggedBatch(Fills(9), 2), 2), 2));
  EXPECT_EQ(RaggedRank(deeper[0]), 3);
  auto pairs = Collect(RaggedBatch(Zip({Range(0, 3), RaggedBatch(Fills(7), 2)}), 3));
  ASSERT_EQ(pairs.size(), 1u);
  EXPECT_EQ(pairs[0][0].tensor(), I64s({0, 1, 2}));
  EXPECT_EQ(RaggedRank(pairs[0][1]), 2);
  EXPECT_EQ(RaggedRowSplits(pairs[0][1]), I64s({0, 2, 4, 6}));
  ExpectExactResume(RaggedBatch(RaggedBatch(Fills(20), 3), 2));
  // Values of another dtype in one element name it, as for tensors.
  auto mixed = Map(Range(0, 3),
                   [](const Element& e) {
                     Tensor seven = e.tensor().scalar<int64_t>() == 2
                                        ? Tensor::FromVector<int32_t>({7})
                                        : I64s({7});
                     return MakeRagged(seven, I64s({0, 1}));
                   },
                   {.name = "ragged_dtypes"});
  ExpectInvalidArgument([&] { Collect(RaggedBatch(mixed, 3)); },
                        {"ragged_batch", "element 2 of the batch is int32[1]",
                         "element 0 is int64[1]", "dtype"});
}

// row_splits_dtype int32 (tf.data's choice): every ragged dimension made is int32, and the
// element spec, unbatch and rebatch keep it; an int64 ragged component cannot join an int32
// batch (one dtype per value). The default (int64) keeps the fingerprint it always had.
TEST(RaggedBatchTest, Int32RowSplitsAtEveryRaggedDimension) {
  auto narrow = RaggedBatch(Fills(6), 2, false, DType::kInt32);
  auto b = Collect(narrow);
  EXPECT_EQ(RaggedRowSplits(b[1]), Tensor::FromVector<int32_t>({0, 3, 7}));
  EXPECT_EQ(RaggedValues(b[1]), I64s({3, 3, 3, 4, 4, 4, 4}));
  EXPECT_EQ(ElementSpecOf(*narrow).children[0].dtype, DType::kInt32);
  auto nested = Collect(RaggedBatch(narrow, 2, false, DType::kInt32));
  EXPECT_EQ(RaggedRowSplits(nested[0]), Tensor::FromVector<int32_t>({0, 2, 4}));
  EXPECT_EQ(RaggedRowSplits(nested[0].children()[1]), Tensor::FromVector<int32_t>({0, 1, 3, 6, 10}));
  EXPECT_EQ(Collect(Unbatch(narrow))[1].tensor(), I64s({2, 2}));
  auto recut = Collect(Rebatch(narrow, {3}));
  EXPECT_EQ(RaggedRowSplits(recut[0]), Tensor::FromVector<int32_t>({0, 1, 3, 6}));
  ExpectExactResume(Rebatch(RaggedBatch(narrow, 2, false, DType::kInt32), {3}));
  ExpectInvalidArgument([&] { Collect(RaggedBatch(narrow, 2)); },
                        {"ragged_batch", "row_splits of int32", "the batch's are int64"});
  ExpectInvalidArgument([] { RaggedBatch(Fills(6), 2, false, DType::kFloat32); },
                        {"ragged_batch", "row_splits_dtype must be int64 or int32"});
  EXPECT_EQ(RaggedBatch(Fills(6), 2)->Signature().find("row_splits_dtype"), std::string::npos);
  EXPECT_NE(narrow->Signature().find("row_splits_dtype=int32"), std::string::npos);
  ExpectInvalidArgument([] { MakeRagged(MakeRagged(I64s({1}), Tensor::FromVector<int32_t>({0, 1})),
                                        I64s({0, 1})); },
                        {"ragged", "row_splits of int64 over values whose row_splits are int32"});
}

// unbatch splits a ragged value into its rows (ragged values of one ragged dimension fewer):
// it undoes ragged_batch, also beside a scalar, and resumes exactly inside a batch.
TEST(RaggedBatchTest, UnbatchGivesTheRows) {
  EXPECT_EQ(Collect(Unbatch(RaggedBatch(Fills(8), 3))), Collect(Fills(8)));
  auto twice = RaggedBatch(Fills(8), 2);
  auto rows = Collect(Unbatch(RaggedBatch(twice, 3)));
  ASSERT_EQ(rows.size(), 4u);
  for (size_t i = 0; i < rows.size(); ++i) {
    ASSERT_TRUE(IsRagged(rows[i])) << i;
    EXPECT_EQ(RaggedRowSplits(rows[i]), RaggedRowSplits(Collect(twice)[i])) << i;
    EXPECT_EQ(RaggedValues(rows[i]), RaggedValues(Collect(twice)[i])) << i;
  }
  auto pairs = Collect(Unbatch(RaggedBatch(Zip({Range(0, 3), Fills(4)}), 2)));
  ASSERT_EQ(pairs.size(), 3u);
  EXPECT_EQ(pairs[2][0].tensor(), I64(2));
  EXPECT_EQ(pairs[2][1].tensor(), I64s({3, 3, 3}));
  ExpectExactResume(Unbatch(RaggedBatch(Fills(12), 4)));
  ExpectExactResume(Unbatch(RaggedBatch(RaggedBatch(Fills(12), 2), 3)));
  ExpectInvalidArgument(
      [] { Collect(Unbatch(Zip({RaggedBatch(Fills(5), 2), Batch(Range(0, 9), 3)}))); },
      {"unbatch", "different first dimensions", "2 and 3"});
}

TEST(RaggedBatchTest, MakeRaggedChecksItsParts) {
  Element r = MakeRagged(I64s({1, 2, 3}), I64s({0, 2, 2, 3}));
  EXPECT_TRUE(IsRagged(r));
  EXPECT_FALSE(IsRagged(Element::Dict({{"values", I64s({1})}, {"row_splits", I64s({0, 1})}})));
  ExpectInvalidArgument([] { MakeRagged(I64s({1, 2}), I64s({0, 3})); }, {"ragged", "end"});
  ExpectInvalidArgument([] { MakeRagged(I64s({1, 2}), I64s({0, 2, 1, 2})); },
                        {"ragged", "decrease"});
  ExpectInvalidArgument([] { MakeRagged(I64(1), I64s({0})); }, {"ragged", "rank"});
  // Ragged values: the row splits split their rows.
  Element two = MakeRagged(r, I64s({0, 1, 3}));
  EXPECT_TRUE(IsRagged(two));
  EXPECT_EQ(RaggedRank(two), 2);
  ExpectInvalidArgument([&] { MakeRagged(r, I64s({0, 2})); }, {"ragged", "end at", "3"});
  ExpectInvalidArgument([] { MakeRagged(Element::Tuple({I64(1)}), I64s({0})); },
                        {"ragged", "tensor or a ragged value"});
}

// rebatch cuts a ragged value into its rows and joins rows of consecutive input batches, so
// rebatch(m) of ragged_batch(n) is ragged_batch(m), at one ragged dimension or more, beside a
// scalar, and resumes exactly inside an input batch.
TEST(RaggedBatchTest, RebatchRecutsTheRows) {
  for (int64_t m : {1, 2, 3, 5, 40}) {
    SCOPED_TRACE(m);
    EXPECT_EQ(Collect(Rebatch(RaggedBatch(Fills(12), 4), {m})), Collect(RaggedBatch(Fills(12), m)));
    EXPECT_EQ(Collect(Rebatch(RaggedBatch(Fills(12), 4), {m}, /*drop_remainder=*/true)),
              Collect(RaggedBatch(Fills(12), m, true)));
    EXPECT_EQ(Collect(Rebatch(RaggedBatch(RaggedBatch(Fills(14), 2), 3), {m})),
              Collect(RaggedBatch(RaggedBatch(Fills(14), 2), m)));
  }
  auto pairs = RaggedBatch(Zip({Range(0, 9), Fills(10)}), 4);
  EXPECT_EQ(Collect(Rebatch(pairs, {3, 2})),
            Collect(Rebatch(RaggedBatch(Zip({Range(0, 9), Fills(10)}), 1), {3, 2})));
  auto cut = Collect(Rebatch(pairs, {3}));
  ASSERT_EQ(cut.size(), 3u);
  EXPECT_EQ(cut[1][0].tensor(), I64s({3, 4, 5}));
  EXPECT_EQ(RaggedRowSplits(cut[1][1]), I64s({0, 4, 9, 15}));
  EXPECT_EQ(RaggedValues(cut[1][1]), I64s({4, 4, 4, 4, 5, 5, 5, 5, 5, 6, 6, 6, 6, 6, 6}));
  ExpectExactResume(Rebatch(RaggedBatch(Fills(25), 4), {3}));
  ExpectExactResume(Rebatch(RaggedBatch(RaggedBatch(Fills(25), 2), 3), {2, 5}, true));
  // A ragged value beside tensors of another length is named, as tensors are.
  ExpectInvalidArgument(
      [] { Collect(Rebatch(Zip({RaggedBatch(Fills(9), 2), Batch(Range(0, 9), 3)}), {1})); },
      {"rebatch", "different first dimensions"});
}

// from_tensor_slices of a ragged value gives its rows (random access: Get(i) is row i), so it
// undoes ragged_batch as unbatch does, beside a tensor too, and resumes exactly.
TEST(RaggedBatchTest, FromTensorSlicesGivesTheRows) {
  auto batched = Collect(RaggedBatch(Fills(8), 7));
  ASSERT_EQ(batched.size(), 1u);
  auto rows = FromTensorSlices(batched[0]);
  EXPECT_EQ(rows->Cardinality(), 7);
  EXPECT_EQ(Collect(rows), Collect(Fills(8)));
  EXPECT_EQ(rows->Get(3), Collect(Fills(8))[3]);
  EXPECT_EQ(ElementSpecOf(*rows).ToString(), "int64[?]");  // rows of every length, not row 0's
  auto nested = Collect(RaggedBatch(RaggedBatch(Fills(8), 2), 4));
  EXPECT_EQ(Collect(FromTensorSlices(nested[0])), Collect(RaggedBatch(Fills(8), 2)));
  const Element three_rows = Collect(RaggedBatch(Fills(4), 3))[0];
  auto pairs = FromTensorSlices(Element::Tuple({I64s({10, 20, 30}), three_rows}));
  auto got = Collect(pairs);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[2][0].tensor(), I64(30));
  EXPECT_EQ(got[2][1].tensor(), I64s({3, 3, 3}));
  EXPECT_EQ(ElementSpecOf(*pairs).ToString(), "(int64[], int64[?])");
  ExpectExactResume(FromTensorSlices(batched[0]));
  ExpectInvalidArgument(
      [&] { FromTensorSlices(Element::Tuple({I64s({1, 2}), batched[0]})); },
      {"from_tensor_slices", "different first dimensions"});
}

TEST(RaggedBatchTest, ResumesExactly) {
  ExpectExactResume(RaggedBatch(Fills(30), 4));
  ExpectExactResume(RaggedBatch(Fills(30), 4, /*drop_remainder=*/true));
}

}  // namespace
}  // namespace inputpipe
