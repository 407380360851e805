// zip, enumerate and concatenate: tf.data's documented examples, cardinality, random access,
// structure checks and exact resumption.
#include <gtest/gtest.h>

#include "ops/ops_test_util.h"

namespace inputpipe {
namespace {

using namespace testing;  // NOLINT: test helpers

TEST(ZipTest, PairsUpToTheShortestInput) {
  // a = range(1, 4), b = range(4, 7): (1, 4), (2, 5), (3, 6).
  auto zipped = Collect(Zip({Range(1, 4), Range(4, 7)}));
  ASSERT_EQ(zipped.size(), 3u);
  EXPECT_EQ(zipped[2], Element::Tuple({I64(3), I64(6)}));
  // Zip with a longer (here infinite) input stops at the shortest.
  EXPECT_EQ(Collect(Zip({Range(1, 4), Counter(13)})).size(), 3u);
  EXPECT_EQ(Collect(Zip({Counter(13), Range(13, 15)})).size(), 2u);
  // Nested structures: (a, (b, c)).
  auto nested = Collect(Zip({Range(1, 4), Zip({Range(4, 7), Batch(Range(7, 13), 2)})}));
  ASSERT_EQ(nested.size(), 3u);
  EXPECT_EQ(nested[0][1][1].tensor(), I64s({7, 8}));
  // Named inputs give dicts.
  auto dicts = Collect(Zip({Range(0, 2), Range(10, 12)}, {"x", "y"}));
  EXPECT_EQ(dicts[1].at("y").tensor().scalar<int64_t>(), 11);
}

TEST(ZipTest, CardinalityAndRandomAccess) {
  EXPECT_EQ(Zip({Range(0, 5), Range(0, 3)})->Cardinality(), 3);
  EXPECT_EQ(Zip({Range(0, 5), Counter()})->Cardinality(), 5);
  EXPECT_EQ(Zip({Counter(), Counter()})->Cardinality(), kInfiniteCardinality);
  EXPECT_EQ(Zip({Range(0, 5), Filter(Range(0, 5), IsEven)})->Cardinality(), kUnknownCardinality);
  EXPECT_TRUE(Zip({Range(0, 5), Counter()})->IsRandomAccess());
  EXPECT_EQ(Zip({Range(0, 5), Counter(7)})->Get(2), Element::Tuple({I64(2), I64(9)}));
  ExpectGetMatchesIteration(Zip({Range(0, 5), Counter(7)}, {"a", "b"}));
  EXPECT_FALSE(Zip({Range(0, 5), Filter(Range(0, 5), IsEven)})->IsRandomAccess());
}

TEST(ZipTest, RejectsBadArguments) {
  ExpectInvalidArgument([] { Zip({}); }, {"zip", "inputs"});
  ExpectInvalidArgument([] { Zip({Range(0, 1), nullptr}); }, {"zip", "inputs[1]"});
  ExpectInvalidArgument([] { Zip({Range(0, 1), Range(0, 1)}, {"a"}); }, {"zip", "keys"});
  ExpectInvalidArgument([] { Zip({Range(0, 1), Range(0, 1)}, {"a", "a"}); }, {"zip", "'a'"});
}

TEST(ZipTest, ResumesExactly) {
  ExpectExactResume(Zip({Range(0, 20), Range(100, 113)}));
  // Not random-access: the longer input reads one element past the last tuple; the state
  // after the end says "exhausted" instead of replaying that.
  ExpectExactResume(
      Zip({Filter(Range(0, 40), IsEven, {.name = "even"}), Range(100, 113)}, {"even", "plain"}));
  ExpectExactResume(Zip({Range(0, 13), Filter(Range(0, 40), IsEven, {.name = "even"})}));
}

TEST(EnumerateTest, PairsIndexAndElement) {
  // from_tensor_slices([1, 2, 3]).enumerate(start=5): (5, 1), (6, 2), (7, 3).
  auto pairs = Collect(Enumerate(FromTensorSlices(I64s({1, 2, 3})), 5));
  ASSERT_EQ(pairs.size(), 3u);
  EXPECT_EQ(pairs[0], Element::Tuple({I64(5), I64(1)}));
  EXPECT_EQ(pairs[2], Element::Tuple({I64(7), I64(3)}));
  // Nested elements: enumerate(zip(a, b)) -> (0, (7, 8)), (1, (9, 10)).
  auto nested =
      Collect(Enumerate(Zip({FromTensorSlices(I64s({7, 9})), FromTensorSlices(I64s({8, 10}))})));
  EXPECT_EQ(nested[1], Element::Tuple({I64(1), Element::Tuple({I64(9), I64(10)})}));
  EXPECT_EQ(Enumerate(Range(0, 9))->Cardinality(), 9);
  EXPECT_EQ(Enumerate(Range(0, 9), 3)->Get(4), Element::Tuple({I64(7), I64(4)}));
  ExpectGetMatchesIteration(Enumerate(Range(0, 9), 3));
  ExpectInvalidArgument([] { Enumerate(nullptr); }, {"enumerate", "input"});
}

TEST(EnumerateTest, ResumesExactly) {
  ExpectExactResume(Enumerate(Range(10, 40), 100));
  ExpectExactResume(Enumerate(Filter(Range(0, 60), IsEven, {.name = "even"})));
}

TEST(ConcatenateTest, AppendsTheSecondInput) {
  // range(1, 4).concatenate(range(4, 8)): 1..7.
  auto ds = Concatenate(Range(1, 4), Range(4, 8));
  EXPECT_EQ(Ints(ds), (std::vector<int64_t>{1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(ds->Cardinality(), 7);
  EXPECT_TRUE(ds->IsRandomAccess());
  EXPECT_EQ(ds->Get(5).tensor().scalar<int64_t>(), 6);
  ExpectGetMatchesIteration(ds);
  ExpectGetMatchesIteration(Concatenate(Range(0, 3), Counter(10)));
  EXPECT_EQ(Ints(Concatenate(Range(0, 0), Range(4, 6))), (std::vector<int64_t>{4, 5}));
  EXPECT_EQ(Ints(Concatenate(Range(4, 6), Range(0, 0))), (std::vector<int64_t>{4, 5}));
  // Shapes may differ, as in tf.data.
  EXPECT_EQ(Collect(Concatenate(Batch(Range(0, 4), 2), Batch(Range(0, 3), 3))).size(), 3u);
  EXPECT_EQ(Concatenate(Counter(), Range(0, 3))->Cardinality(), kInfiniteCardinality);
  EXPECT_EQ(Concatenate(Range(0, 3), Filter(Range(0, 3), IsEven))->Cardinality(),
            kUnknownCardinality);
  EXPECT_FALSE(Concatenate(Filter(Range(0, 3), IsEven), Range(0, 3))->IsRandomAccess());
}

TEST(ConcatenateTest, RejectsIncompatibleStructuresOrDtypes) {
  auto strings = FromTensorSlices(Tensor::FromStrings({"a", "b"}, {2}));
  // Random-access inputs are checked when the dataset is built.
  ExpectInvalidArgument([&] { Concatenate(Range(0, 3), strings); }, {"concatenate", "string"});
  ExpectInvalidArgument(
      [] {
        Concatenate(Range(0, 3), Zip({Range(0, 3), Range(0, 3)}));
      },
      {"concatenate", "structure"});
  ExpectInvalidArgument([] { Concatenate(nullptr, Range(0, 3)); }, {"concatenate", "first"});
  // Others where the inputs meet.
  auto lazy = Concatenate(Filter(Range(0, 3), IsEven), strings);
  auto it = lazy->MakeIterator();
  it->GetNext();
  it->GetNext();
  EXPECT_THROW(it->GetNext(), InvalidArgumentError);
}

TEST(ConcatenateTest, ResumesExactly) {
  ExpectExactResume(Concatenate(Range(0, 7), Range(100, 110)), {.extra_breakpoints = {6, 7, 8}});
  ExpectExactResume(Concatenate(Filter(Range(0, 14), IsEven, {.name = "even"}), Range(100, 110)),
                    {.extra_breakpoints = {6, 7, 8}});
  ExpectExactResume(Concatenate(Range(0, 5), Counter(50)), {.max_elements = 40});
}

}  // namespace
}  // namespace inputpipe
