// padded_batch and unbatch: tf.data's documented examples, padding rules and errors, and exact
// resumption (unbatch's state re-reads one input element instead of storing it).
#include <gtest/gtest.h>

#include "ops/ops_test_util.h"

namespace inputpipe {
namespace {

using namespace testing;  // NOLINT: test helpers

// tf.data's example input: range(1, 5).map(lambda x: tf.fill([x], x)) -> [1], [2, 2], ...
DatasetPtr Fills(int64_t stop = 5) {
  return Map(Range(1, stop),
             [](const Element& e) {
               int64_t x = e.tensor().scalar<int64_t>();
               return Element(I64s(std::vector<int64_t>(x, x)));
             },
             {.name = "fill"});
}

Tensor Matrix(std::vector<int64_t> values, int64_t rows) {
  return Tensor::FromVector<int64_t>(values, {rows, static_cast<int64_t>(values.size()) / rows});
}

TEST(PaddedBatchTest, MatchesTfDataExamples) {
  // Pad to the smallest per-batch size that fits all elements.
  auto b = Collect(PaddedBatch(Fills(), 2));
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b[0].tensor(), Matrix({1, 0, 2, 2}, 2));
  EXPECT_EQ(b[1].tensor(), Matrix({3, 3, 3, 0, 4, 4, 4, 4}, 2));
  // Pad to a fixed size.
  auto c = Collect(PaddedBatch(Fills(), 2, {{5}}));
  EXPECT_EQ(c[0].tensor(), Matrix({1, 0, 0, 0, 0, 2, 2, 0, 0, 0}, 2));
  // Pad with a custom value.
  auto d = Collect(PaddedBatch(Fills(), 2, {{5}}, {I64(-1)}));
  EXPECT_EQ(d[1].tensor(), Matrix({3, 3, 3, -1, -1, 4, 4, 4, 4, -1}, 2));
  // Components padded independently: ([1, 2, 3], [10]), ([4, 5], [11, 12]) with
  // padded_shapes=([4], [None]), padding_values=(-1, 100).
  auto pairs = FromTensorSlices(Element::Tuple({I64s({0, 1}), I64s({0, 1})}));
  auto nested = Map(pairs,
                    [](const Element& e) {
                      return e[0].tensor().scalar<int64_t>() == 0
                                 ? Element::Tuple({I64s({1, 2, 3}), I64s({10})})
                                 : Element::Tuple({I64s({4, 5}), I64s({11, 12})});
                    },
                    {.name = "pairs"});
  auto e = Collect(PaddedBatch(nested, 2, {{4}, {-1}}, {I64(-1), I64(100)}));
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0][0].tensor(), Matrix({1, 2, 3, -1, 4, 5, -1, -1}, 2));
  EXPECT_EQ(e[0][1].tensor(), Matrix({10, 100, 11, 12}, 2));
}

TEST(PaddedBatchTest, DefaultPaddingPerDtypeAndDropRemainder) {
  auto words = Map(Range(1, 4),
                   [](const Element& e) {
                     int64_t n = e.tensor().scalar<int64_t>();
                     std::vector<std::string> w(n, "w" + std::to_string(n));
                     return Element(Tensor::FromStrings(w, {n}));
                   },
                   {.name = "words"});
  auto batches = Collect(PaddedBatch(words, 3));
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(batches[0].tensor(),
            Tensor::FromStrings({"w1", "", "", "w2", "w2", "", "w3", "w3", "w3"}, {3, 3}));
  EXPECT_EQ(Collect(PaddedBatch(Fills(6), 2, {}, {}, true)).size(), 2u);
  EXPECT_EQ(PaddedBatch(Fills(6), 2)->Cardinality(), 3);
  EXPECT_EQ(PaddedBatch(Fills(6), 2, {}, {}, true)->Cardinality(), 2);
  auto ra = PaddedBatch(Fills(6), 2);
  ASSERT_TRUE(ra->IsRandomAccess());
  EXPECT_EQ(ra->Get(2).tensor(), Matrix({5, 5, 5, 5, 5}, 1));
  ExpectGetMatchesIteration(ra);
  ExpectGetMatchesIteration(PaddedBatch(Fills(6), 2, {{7}}, {I64(9)}, true));
}

TEST(PaddedBatchTest, RejectsBadArgumentsAndOversizedElements) {
  ExpectInvalidArgument([] { PaddedBatch(Fills(), 0); }, {"padded_batch", "batch_size"});
  ExpectInvalidArgument([] { PaddedBatch(Fills(), 2, {{-2}}); },
                        {"padded_batch", "padded_shapes[0]"});
  ExpectInvalidArgument(
      [] {
        PaddedBatch(Fills(), 2, {}, {I64s({1, 2})});
      },
      {"padded_batch", "padding_values[0]", "scalar"});
  ExpectInvalidArgument([] { Collect(PaddedBatch(Fills(), 2, {{3}})); },
                        {"padded_batch", "4", "[3]"});
  ExpectInvalidArgument(
      [] {
        Collect(PaddedBatch(Fills(), 2, {{3}, {3}}));
      },
      {"padded_batch", "padded_shapes"});
  ExpectInvalidArgument(
      [] {
        Collect(PaddedBatch(Fills(), 2, {{3, 3}}));
      },
      {"padded_batch", "rank"});
  ExpectInvalidArgument([] { Collect(PaddedBatch(Fills(), 2, {}, {Tensor::String("x")})); },
                        {"padded_batch", "padding value", "int64"});
}

TEST(PaddedBatchTest, ResumesExactly) {
  ExpectExactResume(PaddedBatch(Fills(30), 4));
  ExpectExactResume(PaddedBatch(
      Filter(Fills(30), [](const Element& e) { return e.tensor().num_elements() % 3 != 0; },
             {.name = "not3"}),
      3, {{40}}, {I64(-7)}, true));
}

TEST(UnbatchTest, SplitsAlongTheFirstDimension) {
  // Elements [1, 2, 3], [1, 2], [1, 2, 3, 4] -> 1, 2, 3, 1, 2, 1, 2, 3, 4.
  auto lists = Map(
      Range(0, 3),
      [](const Element& e) {
        static const std::vector<std::vector<int64_t>> kLists = {{1, 2, 3}, {1, 2}, {1, 2, 3, 4}};
        return Element(I64s(kLists[e.tensor().scalar<int64_t>()]));
      },
      {.name = "lists"});
  EXPECT_EQ(Ints(Unbatch(lists)), (std::vector<int64_t>{1, 2, 3, 1, 2, 1, 2, 3, 4}));
  // Structures are split component by component; empty elements yield nothing.
  auto zipped = Unbatch(Batch(Zip({Range(0, 5), Range(10, 15)}), 2));
  auto items = Collect(zipped);
  ASSERT_EQ(items.size(), 5u);
  EXPECT_EQ(items[4], Element::Tuple({I64(4), I64(14)}));
  EXPECT_EQ(Ints(Unbatch(Fills(1))), (std::vector<int64_t>{}));
  EXPECT_EQ(Ints(Unbatch(Map(Range(0, 3), [](const Element&) { return Element(I64s({})); }))),
            (std::vector<int64_t>{}));
  EXPECT_EQ(Unbatch(Batch(Range(0, 5), 2))->Cardinality(), kUnknownCardinality);
  EXPECT_EQ(Unbatch(Batch(Counter(), 2))->Cardinality(), kInfiniteCardinality);
  EXPECT_EQ(Unbatch(Range(0, 0))->Cardinality(), kUnknownCardinality);
}

TEST(UnbatchTest, RejectsScalars) {
  ExpectInvalidArgument([] { Collect(Unbatch(Range(0, 3))); }, {"unbatch", "scalar"});
  ExpectInvalidArgument([] { Unbatch(nullptr); }, {"unbatch", "input"});
}

TEST(UnbatchTest, ResumesExactlyWithoutStoringTheElement) {
  ExpectExactResume(Unbatch(Batch(Range(0, 23), 5)));
  ExpectExactResume(Unbatch(Fills(12)));  // lengths 1..11, including breakpoints mid-element
  // Elements of 40000 bytes: the state still holds positions only.
  ExpectExactResume(
      Unbatch(Batch(FromTensorSlices(Tensor::Allocate(DType::kFloat64, {40, 500})), 10)));
  auto mixed = Map(Range(0, 12),
                   [](const Element& e) {
                     int64_t n = e.tensor().scalar<int64_t>() % 4;  // lengths 0, 1, 2, 3, 0, ...
                     return Element(I64s(std::vector<int64_t>(n, e.tensor().scalar<int64_t>())));
                   },
                   {.name = "mixed"});
  ExpectExactResume(Unbatch(mixed));
  ExpectExactResume(Unbatch(Filter(
      mixed, [](const Element& e) { return e.tensor().num_elements() != 2; }, {.name = "not2"})));
}


// tf.data: batch(3, drop_remainder=True).unbatch() has a static batch dimension, so its
// cardinality is known (9 for 9 or 10 inputs); padded_batch likewise.
TEST(PaddedBatchTest, UnbatchOfADropRemainderBatchHasAKnownCardinality) {
  EXPECT_EQ(Unbatch(Batch(Range(0, 9), 3, true))->Cardinality(), 9);
  EXPECT_EQ(Unbatch(Batch(Range(0, 10), 3, true))->Cardinality(), 9);
  EXPECT_EQ(testing::Collect(Unbatch(Batch(Range(0, 10), 3, true))).size(), 9u);
  EXPECT_EQ(Unbatch(PaddedBatch(Range(0, 8), 4, {}, {}, true))->Cardinality(), 8);
  EXPECT_EQ(Unbatch(Batch(Range(0, 9), 3, false))->Cardinality(), kUnknownCardinality);
  EXPECT_EQ(Unbatch(Batch(Counter(), 3, true))->Cardinality(), kInfiniteCardinality);
}

}  // namespace
}  // namespace inputpipe
