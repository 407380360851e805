// window and flat_map: tf.data's documented examples, a brute-force check of window's
// definition and cardinality, and exact resumption (both re-read input instead of storing it).
#include <gtest/gtest.h>

#include "ops/ops_test_util.h"

namespace inputpipe {
namespace {

using namespace testing;  // NOLINT: test helpers
using Windows = std::vector<std::vector<int64_t>>;

TEST(WindowTest, MatchesTfDataExamples) {
  EXPECT_EQ(Rows(Window(Range(0, 7), 3)), (Windows{{0, 1, 2}, {3, 4, 5}, {6}}));
  EXPECT_EQ(Rows(Window(Range(0, 7), 3, 0, 1, true)), (Windows{{0, 1, 2}, {3, 4, 5}}));
  EXPECT_EQ(Rows(Window(Range(0, 7), 3, 2, 1, true)), (Windows{{0, 1, 2}, {2, 3, 4}, {4, 5, 6}}));
  EXPECT_EQ(Rows(Window(Range(0, 7), 3, 1, 2, true)), (Windows{{0, 2, 4}, {1, 3, 5}, {2, 4, 6}}));
  EXPECT_EQ(Rows(Window(Range(0, 10), 2, 4)), (Windows{{0, 1}, {4, 5}, {8, 9}}));
}

TEST(WindowTest, StructuredInputsGiveStructuresOfDatasets) {
  // from_tensor_slices(([1..5], [6..10])).window(2):
  //   ([1, 2], [6, 7]), ([3, 4], [8, 9]), ([5], [10]).
  auto windows =
      Window(FromTensorSlices(Element::Tuple({I64s({1, 2, 3, 4, 5}), I64s({6, 7, 8, 9, 10})})), 2);
  auto it = windows->MakeIterator();
  std::optional<Element> first = it->GetNext();
  ASSERT_TRUE(first && first->is_tuple() && (*first)[0].is_dataset() && (*first)[1].is_dataset());
  EXPECT_EQ(Ints((*first)[1].dataset()), (std::vector<int64_t>{6, 7}));
  auto all = Collect(windows);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[2], Element::Tuple({Element::Tuple({I64(5)}), Element::Tuple({I64(10)})}));
  // Dicts: {'a': [1, 2, 3], 'b': [4, 5, 6]}.window(2):
  //   {'a': [1, 2], 'b': [4, 5]}, {'a': [3], 'b': [6]}.
  auto dicts = Collect(
      Window(FromTensorSlices(Element::Dict({{"a", I64s({1, 2, 3})}, {"b", I64s({4, 5, 6})}})), 2));
  ASSERT_EQ(dicts.size(), 2u);
  EXPECT_EQ(dicts[0].at("b"), Element::Tuple({I64(4), I64(5)}));
  EXPECT_EQ(dicts[1].at("a"), Element::Tuple({I64(3)}));
}

// Window k starts at k*shift and holds start + j*stride (j < size) that exist.
Windows Reference(int64_t n, int64_t size, int64_t shift, int64_t stride, bool drop) {
  Windows out;
  for (int64_t start = 0; start < n; start += shift) {
    std::vector<int64_t> w;
    for (int64_t j = 0; j < size && start + j * stride < n; ++j) w.push_back(start + j * stride);
    if (!drop || static_cast<int64_t>(w.size()) == size) out.push_back(w);
  }
  return out;
}

TEST(WindowTest, MatchesItsDefinitionAndCardinality) {
  for (int64_t n : {0, 1, 7, 12})
    for (int64_t size : {1, 2, 3, 5})
      for (int64_t shift : {1, 2, 3, 7})
        for (int64_t stride : {1, 2, 3})
          for (bool drop : {false, true}) {
            SCOPED_TRACE(Window(Range(0, n), size, shift, stride, drop)->Signature() +
                         " n=" + std::to_string(n));
            auto ds = Window(Range(0, n), size, shift, stride, drop);
            Windows expected = Reference(n, size, shift, stride, drop);
            ASSERT_EQ(Rows(ds), expected);
            EXPECT_EQ(ds->Cardinality(), static_cast<int64_t>(expected.size()));
          }
  EXPECT_EQ(Window(Counter(), 3)->Cardinality(), kInfiniteCardinality);
  EXPECT_EQ(Window(Filter(Range(0, 3), IsEven), 3)->Cardinality(), kUnknownCardinality);
  EXPECT_FALSE(Window(Range(0, 3), 2)->IsRandomAccess());
}

TEST(WindowTest, RejectsBadArguments) {
  ExpectInvalidArgument([] { Window(Range(0, 3), 0); }, {"window", "size", "0"});
  ExpectInvalidArgument([] { Window(Range(0, 3), 2, 1, 0); }, {"window", "stride", "0"});
  ExpectInvalidArgument([] { Window(nullptr, 2); }, {"window", "input"});
}

TEST(WindowTest, ResumesExactly) {
  ExpectExactResume(Window(Range(0, 30), 4));
  ExpectExactResume(Window(Range(0, 30), 4, 3, 2));
  ExpectExactResume(Window(Range(0, 30), 4, 1, 3, true));
  ExpectExactResume(Window(Range(0, 30), 2, 5, 2));
  ExpectExactResume(Window(Filter(Range(0, 60), IsEven, {.name = "even"}), 3, 2, 2, true));
  ExpectExactResume(Window(
      FromTensorSlices(Element::Dict({{"a", I64s({1, 2, 3, 4, 5})},
                                      {"b", Tensor::FromStrings({"p", "q", "r", "s", "t"}, {5})}})),
      2, 1));
  ExpectExactResume(Window(Counter(), 3, 2), {.max_elements = 50});
}

DatasetPtr Slices(const Element& e) { return FromTensorSlices(e); }

TEST(FlatMapTest, MatchesTfDataExample) {
  // from_tensor_slices([[1, 2, 3], [4, 5, 6], [7, 8, 9]]).flat_map(from_tensor_slices): 1..9.
  auto ds = FlatMap(
      FromTensorSlices(Tensor::FromVector<int64_t>({1, 2, 3, 4, 5, 6, 7, 8, 9}, {3, 3})), Slices);
  EXPECT_EQ(Ints(ds), (std::vector<int64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_EQ(ds->Cardinality(), kUnknownCardinality);
  EXPECT_EQ(FlatMap(Range(0, 0), Slices)->Cardinality(), kUnknownCardinality);  // as tf.data
  EXPECT_FALSE(ds->IsRandomAccess());
  // Empty inner datasets are skipped: x -> range(x) over 0, 1, 2, 0, 3.
  auto ranges = FlatMap(FromTensorSlices(I64s({0, 1, 2, 0, 3})),
                        [](const Element& e) { return Range(0, e.tensor().scalar<int64_t>()); });
  EXPECT_EQ(Ints(ranges), (std::vector<int64_t>{0, 0, 1, 0, 1, 2}));
}

TEST(FlatMapTest, RejectsBadArguments) {
  ExpectInvalidArgument([] { FlatMap(nullptr, Slices); }, {"flat_map", "input"});
  ExpectInvalidArgument([] { FlatMap(Range(0, 3), nullptr); }, {"flat_map", "fn"});
  ExpectInvalidArgument(
      [] {
        Collect(
            FlatMap(Range(0, 3), [](const Element&) { return DatasetPtr(); }, {.name = "nothing"}));
      },
      {"flat_map(fn=nothing)", "null"});
  auto it = FlatMap(Range(0, 3), Slices, {.name = "rng", .stateful = true})->MakeIterator();
  EXPECT_THROW(it->Save(), ExternalStateError);
}

TEST(FlatMapTest, ResumesExactly) {
  auto to_range = [](const Element& e) { return Range(0, e.tensor().scalar<int64_t>() % 5); };
  ExpectExactResume(FlatMap(Range(0, 20), to_range, {.name = "to_range"}));
  // Inner datasets that are themselves pipelines with state of their own.
  ExpectExactResume(FlatMap(Range(1, 8),
                            [](const Element& e) {
                              int64_t x = e.tensor().scalar<int64_t>();
                              return Take(Filter(Counter(x * 100), IsEven), x);
                            },
                            {.name = "evens"}));
  ExpectExactResume(
      FlatMap(Counter(1),
              [](const Element& e) { return Repeat(FromTensors(e), e.tensor().scalar<int64_t>()); },
              {.name = "repeat_x"}),
      {.max_elements = 60});
}

}  // namespace
}  // namespace inputpipe
