// ElementSpecOf: the static rules (sources, pass-through ops, batch, unbatch, enumerate,
// concatenate, zip) and the first-element fallback, with nested datasets.
#include "inputpipe/element_spec.h"

#include <gtest/gtest.h>

#include "inputpipe/ragged.h"
#include "ops/ops_test_util.h"

namespace inputpipe::testing {
namespace {

std::string SpecOf(const DatasetPtr& ds) { return ElementSpecOf(*ds).ToString(); }

Element Vector3(const Element& e) {
  int64_t v = e.tensor().scalar<int64_t>();
  return Element(Tensor::FromVector<float>({1.0f * v, 2.0f, 3.0f}));
}

TEST(ElementSpecTest, SourcesAndPassThroughOps) {
  EXPECT_EQ(SpecOf(Range(0, 10)), "int64[]");
  EXPECT_EQ(SpecOf(Counter(3)), "int64[]");
  EXPECT_EQ(SpecOf(Range(0, 0)), "int64[]");  // empty, still known
  EXPECT_EQ(SpecOf(Prefetch(Shuffle(Take(Filter(Range(0, 10), IsEven), 3), 4, 1), 2)), "int64[]");
  EXPECT_EQ(SpecOf(FromTensors(Element(Tensor::FromVector<float>({1, 2})))), "float32[2]");
}

TEST(ElementSpecTest, BatchDimensionIsKnownOnlyWithDropRemainder) {
  EXPECT_EQ(SpecOf(Batch(Range(0, 10), 4)), "int64[?]");
  EXPECT_EQ(SpecOf(Batch(Range(0, 10), 4, /*drop_remainder=*/true)), "int64[4]");
  EXPECT_EQ(SpecOf(Batch(Batch(Range(0, 10), 2, true), 3)), "int64[?, 2]");
  EXPECT_EQ(SpecOf(PaddedBatch(Map(Range(1, 5), Vector3), 2, {}, {}, true)), "float32[2, ?]");
  EXPECT_EQ(SpecOf(Unbatch(Batch(Map(Range(0, 5), Vector3), 2))), "float32[3]");
  EXPECT_THROW(SpecOf(Unbatch(Range(0, 3))), InvalidArgumentError);
}

// ragged_batch: rank >= 1 ragged (row_splits int64[rows + 1], values [?, *inner]), scalars
// stacked; the rows known only with drop_remainder. No shape of the first batch leaks in.
TEST(ElementSpecTest, RaggedBatchHasRaggedParts) {
  DatasetPtr pairs = Map(
      Range(0, 5),
      [](const Element& e) {
        return Element::Tuple({e, Tensor::FromVector<float>({1, 2, 3, 4, 5, 6}, {3, 2})});
      },
      {.name = "pairs"});
  EXPECT_EQ(SpecOf(RaggedBatch(pairs, 2)),
            "(int64[?], {__ragged_row_splits__: int64[?], __ragged_values__: float32[?, 2]})");
  EXPECT_EQ(SpecOf(RaggedBatch(pairs, 2, /*drop_remainder=*/true)),
            "(int64[2], {__ragged_row_splits__: int64[3], __ragged_values__: float32[?, 2]})");
  // A ragged component gains a ragged dimension.
  EXPECT_EQ(SpecOf(RaggedBatch(RaggedBatch(pairs, 2), 3, true)),
            "({__ragged_row_splits__: int64[4], __ragged_values__: int64[?]}, "
            "{__ragged_row_splits__: int64[4], __ragged_values__: "
            "{__ragged_row_splits__: int64[?], __ragged_values__: float32[?, 2]}})");
  // unbatch gives the rows back, of unknown length.
  EXPECT_EQ(SpecOf(Unbatch(RaggedBatch(pairs, 2))), "(int64[], float32[?, 2])");
  EXPECT_EQ(SpecOf(Unbatch(RaggedBatch(RaggedBatch(pairs, 2), 3))),
            "(int64[?], {__ragged_row_splits__: int64[?], __ragged_values__: float32[?, 2]})");
  const ElementSpec spec = ElementSpecOf(*RaggedBatch(Map(Range(0, 3), Vector3), 4));
  ASSERT_EQ(spec.kind, Element::Kind::kDict);
  EXPECT_EQ(spec.keys, (std::vector<std::string>{kRaggedRowSplitsKey, kRaggedValuesKey}));
}

TEST(ElementSpecTest, StructuresFromTheInputs) {
  DatasetPtr vectors = Map(Range(0, 4), Vector3);  // no rule for map: its first element
  EXPECT_EQ(SpecOf(vectors), "float32[3]");
  EXPECT_EQ(SpecOf(Enumerate(vectors)), "(int64[], float32[3])");
  EXPECT_EQ(SpecOf(Zip({Range(0, 3), Batch(vectors, 2)}, {"a", "b"})),
            "{a: int64[], b: float32[?, 3]}");
  EXPECT_EQ(SpecOf(Zip({Range(0, 3)})), "(int64[],)");
}

TEST(ElementSpecTest, ConcatenateKeepsOnlyCommonDimensions) {
  DatasetPtr two = FromTensors(Element(Tensor::FromVector<int64_t>({1, 2})));
  DatasetPtr three = FromTensors(Element(Tensor::FromVector<int64_t>({1, 2, 3})));
  DatasetPtr matrix = FromTensors(Element(Tensor::FromVector<int64_t>({1, 2}, {1, 2})));
  EXPECT_EQ(SpecOf(Concatenate(two, two)), "int64[2]");
  EXPECT_EQ(SpecOf(Concatenate(two, three)), "int64[?]");
  EXPECT_EQ(SpecOf(Concatenate(two, matrix)), "int64[*]");
  EXPECT_EQ(SpecOf(SampleFromDatasets({two, three}, {}, 1)), "int64[?]");
}

TEST(ElementSpecTest, NestedDatasets) {
  EXPECT_EQ(SpecOf(Window(Range(0, 10), 3)), "dataset<int64[]>");
  EXPECT_EQ(SpecOf(Window(Zip({Range(0, 10), Map(Range(0, 10), Vector3)}), 2)),
            "(dataset<int64[]>, dataset<float32[3]>)");
}

TEST(ElementSpecTest, NoElementNoStaticSpecIsAnError) {
  ExpectInvalidArgument([] { SpecOf(Map(Range(0, 0), Vector3)); },
                        {"element_spec", "map", "produced no element"});
}

}  // namespace
}  // namespace inputpipe::testing
