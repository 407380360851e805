// filter, take, skip and shard: tf.data's documented examples, edge counts (-1, 0, past the
// end), cardinality, random access and exact resumption.
#include <gtest/gtest.h>

#include "inputpipe/readers.h"
#include "inputpipe/source.h"
#include "ops/ops_test_util.h"

namespace inputpipe {
namespace {

using namespace testing;  // NOLINT: test helpers

bool LessThan3(const Element& e) { return e.tensor().scalar<int64_t>() < 3; }

TEST(FilterTest, KeepsElementsMatchingThePredicate) {
  // from_tensor_slices([1, 2, 3]).filter(lambda x: x < 3): 1, 2.
  EXPECT_EQ(Ints(Filter(FromTensorSlices(I64s({1, 2, 3})), LessThan3)),
            (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(Ints(Filter(Range(0, 10), IsEven)), (std::vector<int64_t>{0, 2, 4, 6, 8}));
  EXPECT_EQ(Ints(Filter(Range(0, 10), [](const Element&) { return false; })),
            (std::vector<int64_t>{}));
  EXPECT_EQ(Filter(Range(0, 10), IsEven)->Cardinality(), kUnknownCardinality);
  EXPECT_FALSE(Filter(Range(0, 10), IsEven)->IsRandomAccess());
  EXPECT_NE(Filter(Range(0, 10), IsEven, {.name = "even"})
                ->WhyNotRandomAccess()
                .find("filter(predicate=even)"),
            std::string::npos);
  ExpectInvalidArgument([] { Filter(nullptr, IsEven); }, {"filter", "input"});
  ExpectInvalidArgument([] { Filter(Range(0, 3), nullptr); }, {"filter", "predicate"});
}

TEST(FilterTest, StatefulPredicateIsExternalState) {
  auto it = Filter(Range(0, 10), IsEven, {.name = "sampler", .stateful = true})->MakeIterator();
  it->GetNext();
  EXPECT_THROW(it->Save(), ExternalStateError);
  std::vector<std::string> warnings;
  it->Save(ExternalStatePolicy::kWarn, &warnings);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("filter(predicate=sampler)"), std::string::npos) << warnings[0];
}

TEST(FilterTest, ResumesExactly) {
  ExpectExactResume(Filter(Range(0, 50), IsEven, {.name = "even"}));
  ExpectExactResume(
      Filter(Map(Range(0, 50), SquareFn, {.name = "square"}), LessThan3, {.name = "lt3"}));
}

// An op that is not random-access refuses Get, rather than passing its input's elements
// through (the default of a one-input dataset).
TEST(FilterTest, OpsThatAreNotRandomAccessRefuseGet) {
  auto r = Range(0, 10);
  for (const DatasetPtr& ds :
       {Filter(r, IsEven, {.name = "even"}), FlatMap(r, [r](const Element&) { return r; }),
        Unbatch(Batch(r, 2)), Unique(r), Window(r, 2), Shuffle(r, 4, 1), IgnoreErrors(r)}) {
    EXPECT_FALSE(ds->IsRandomAccess()) << ds->Signature();
    EXPECT_THROW(ds->Get(0), UnimplementedError) << ds->Signature();
  }
}

TEST(TakeTest, TakesTheFirstElements) {
  EXPECT_EQ(Ints(Take(Range(0, 10), 3)), (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(Ints(Take(Range(0, 5), -1)), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(Ints(Take(Range(0, 5), 0)), (std::vector<int64_t>{}));
  EXPECT_EQ(Ints(Take(Range(0, 3), 20)), (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(Ints(Take(Counter(7), 2)), (std::vector<int64_t>{7, 8}));
  EXPECT_EQ(Take(Range(0, 10), 3)->Cardinality(), 3);
  EXPECT_EQ(Take(Range(0, 2), 3)->Cardinality(), 2);
  EXPECT_EQ(Take(Range(0, 10), -1)->Cardinality(), 10);
  EXPECT_EQ(Take(Counter(), 4)->Cardinality(), 4);
  EXPECT_EQ(Take(Counter(), -1)->Cardinality(), kInfiniteCardinality);
  EXPECT_EQ(Take(Filter(Range(0, 10), IsEven), 3)->Cardinality(), kUnknownCardinality);
  EXPECT_TRUE(Take(Counter(), 4)->IsRandomAccess());
  ExpectGetMatchesIteration(Take(Counter(), 4));
  ExpectGetMatchesIteration(Take(Range(0, 3), 9));
  ExpectInvalidArgument([] { Take(nullptr, 1); }, {"take", "input"});
}

TEST(TakeTest, DoesNotReadPastCount) {
  int64_t reads = 0;
  auto counted = Map(Range(0, 100), [&reads](const Element& e) {
    ++reads;
    return e;
  });
  Collect(Take(counted, 3));
  EXPECT_EQ(reads, 3);
}

TEST(TakeTest, ResumesExactly) {
  ExpectExactResume(Take(Range(0, 20), 7));
  ExpectExactResume(Take(Range(0, 5), 20));
  ExpectExactResume(Take(Range(0, 30), -1));
  ExpectExactResume(Take(Filter(Counter(), IsEven, {.name = "even"}), 15));
}

TEST(SkipTest, SkipsTheFirstElements) {
  EXPECT_EQ(Ints(Skip(Range(0, 10), 7)), (std::vector<int64_t>{7, 8, 9}));
  EXPECT_EQ(Ints(Skip(Range(0, 5), -1)), (std::vector<int64_t>{}));
  EXPECT_EQ(Ints(Skip(Range(0, 3), 0)), (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(Ints(Skip(Range(0, 3), 5)), (std::vector<int64_t>{}));
  EXPECT_EQ(Skip(Range(0, 10), 7)->Cardinality(), 3);
  EXPECT_EQ(Skip(Range(0, 10), 70)->Cardinality(), 0);
  EXPECT_EQ(Skip(Range(0, 10), -1)->Cardinality(), 0);
  EXPECT_EQ(Skip(Counter(), 5)->Cardinality(), kInfiniteCardinality);
  EXPECT_EQ(Skip(Filter(Range(0, 10), IsEven), 1)->Cardinality(), kUnknownCardinality);
  EXPECT_EQ(Skip(Range(0, 10), 7)->Get(1).tensor().scalar<int64_t>(), 8);
  EXPECT_TRUE(Skip(Counter(), 3)->IsRandomAccess());
  ExpectInvalidArgument([] { Skip(Counter(), -1); }, {"skip", "count=-1", "infinite", "counter"});
  ExpectGetMatchesIteration(Skip(Range(0, 10), 7));
  ExpectGetMatchesIteration(Skip(Range(0, 10), -1));
  ExpectGetMatchesIteration(Skip(Counter(), 3));
  ExpectInvalidArgument([] { Skip(nullptr, 1); }, {"skip", "input"});
}

// Over a random-access source the skipped elements are not read: a seek (core/element_skip.h),
// through take, skip, map, global shuffle and enumerate too. A map declared stateful runs its
// function for each element moved past.
TEST(SkipTest, SeeksOverARandomAccessSourceWithoutReadingTheSkippedElements) {
  auto gets = std::make_shared<std::vector<int64_t>>();
  RandomAccessFunctions fns;
  fns.size = int64_t{1} << 40;
  fns.get = [gets](int64_t i) {
    gets->push_back(i);
    return Element(Tensor::Scalar<int64_t>(i));
  };
  DatasetPtr source = FromSource(fns, {.name = "counted"});
  const int64_t n = fns.size;
  EXPECT_EQ(Ints(Skip(source, n - 2)), (std::vector<int64_t>{n - 2, n - 1}));
  EXPECT_EQ(*gets, (std::vector<int64_t>{n - 2, n - 1}));
  gets->clear();
  EXPECT_EQ(Ints(Skip(Skip(Take(source, 1000), 500), 498)), (std::vector<int64_t>{998, 999}));
  EXPECT_EQ(Ints(Skip(Take(source, 10), 20)), (std::vector<int64_t>{}));
  EXPECT_EQ(*gets, (std::vector<int64_t>{998, 999}));
  gets->clear();
  int64_t calls = 0;
  auto mapped = Map(Take(source, 10), [&calls](const Element& e) {
    ++calls;
    return e;
  });
  EXPECT_EQ(Ints(Skip(mapped, 8)), (std::vector<int64_t>{8, 9}));
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(*gets, (std::vector<int64_t>{8, 9}));
  gets->clear();
  calls = 0;
  auto stateful = Map(Take(source, 10), [&calls](const Element& e) {
    ++calls;
    return e;
  }, {.name = "counting", .stateful = true});
  EXPECT_EQ(Ints(Skip(stateful, 8)), (std::vector<int64_t>{8, 9}));
  EXPECT_EQ(calls, 10);
  gets->clear();
  // A global shuffle moves its position; enumerate its count: 2 reads of 1000.
  auto shuffled = Enumerate(GlobalShuffle(Take(source, 1000), 7));
  auto it = Skip(shuffled, 998)->MakeIterator();
  auto first = it->GetNext();
  ASSERT_TRUE(first);
  EXPECT_EQ((*first)[0].tensor().scalar<int64_t>(), 998);
  EXPECT_EQ(gets->size(), 1u);
}

// One next() of `it`: the element, "error: ..." for a read that throws (the iterator goes on),
// or nullopt at the end.
std::optional<std::string> NextOrError(Iterator& it) {
  try {
    auto element = it.GetNext();
    if (!element) return std::nullopt;
    return element->DebugString();
  } catch (const Error& e) {
    return std::string("error: ") + e.what();
  }
}

// Iterator::Skip(k) leaves the state k GetNext calls leave, byte for byte, and the same elements
// after it, through every op that seeks and over inputs that do not (they read and drop); also
// where some of the k elements would fail to read, each such GetNext counting as one (what the
// parent of worker processes computing map's input relies on).
TEST(SkipTest, AnIteratorsSkipLeavesTheStateSteppingLeaves) {
  auto failing = [](int64_t every) {
    return [every](const Element& e) {
      const int64_t x = e.tensor().scalar<int64_t>();
      if (x % every == 2) throw DataLossError("bad record " + std::to_string(x));
      return e;
    };
  };
  auto add = [](const Element& e, ElementRng& rng) {
    const int64_t x = e.tensor().scalar<int64_t>();
    return Element(Tensor::Scalar<int64_t>(x * 1000 + rng.Uniform(1000)));
  };
  const std::vector<std::pair<std::string, std::function<DatasetPtr()>>> cases = {
      {"map", [=] { return Map(Range(0, 40), SquareFn, {.name = "square"}); }},
      {"seeded map", [=] { return Map(GlobalShuffle(Range(0, 40), 3), add, 11, {.name = "add"}); }},
      {"map over filter",
       [=] {
         return Map(Filter(Range(0, 80), IsEven, {.name = "even"}), SquareFn, {.name = "sq"});
       }},
      {"enumerate", [=] { return Enumerate(Map(Range(0, 40), add, 5, {.name = "add"}), 3); }},
      {"shuffle of take", [=] { return GlobalShuffle(Take(Range(0, 100), 40), 9); }},
      {"zip", [=] { return Zip({Map(Range(0, 40), SquareFn, {.name = "sq"}), Range(0, 45)}); }},
      {"zip, the first shorter",
       [=] { return Zip({Take(Range(0, 100), 39), Map(Range(0, 45), add, 2, {.name = "add"})}); }},
      {"take of map",
       [=] { return Take(Map(Skip(Range(0, 60), 5), SquareFn, {.name = "square"}), 40); }},
      {"take over failures",
       [=] { return Take(Map(Range(0, 60), failing(7), {.name = "f"}), 38); }},
      {"enumerate over failures",
       [=] { return Enumerate(Map(Range(0, 40), failing(5), {.name = "f"})); }},
      {"zip over failures",
       [=] { return Zip({Map(Range(0, 40), failing(7), {.name = "f"}), Range(0, 45)}); }},
      {"zip of one input over failures",
       [=] { return Zip({Map(Range(0, 40), failing(7), {.name = "f"})}); }},
      {"seeded map over failures",
       [=] { return Map(Map(GlobalShuffle(Range(0, 40), 3), failing(6), {.name = "f"}), add, 4,
                        {.name = "add"}); }},
      {"skip of take over failures",
       [=] { return Skip(Take(Map(Range(0, 60), failing(4), {.name = "f"}), 40), 3); }},
  };
  // A dataset each: a reshuffling shuffle's second iterator has the next epoch.
  for (const auto& [what, make] : cases) {
    for (int64_t k : {0, 1, 17, 39, 40, 41, 100}) {
      SCOPED_TRACE(what + ", k=" + std::to_string(k));
      auto stepped = make()->MakeIterator();
      int64_t read = 0;
      while (read < k && NextOrError(*stepped)) ++read;
      auto skipped = make()->MakeIterator();
      int64_t moved = 0;  // one at a time, a throw counting as one, as GetNext's
      while (moved < k) {
        try {
          if (skipped->Skip(1) == 0) break;
        } catch (const Error&) {
        }
        ++moved;
      }
      EXPECT_EQ(moved, read);
      EXPECT_EQ(skipped->Save(), stepped->Save());
      while (true) {
        auto a = NextOrError(*stepped);
        auto b = NextOrError(*skipped);
        ASSERT_EQ(a.has_value(), b.has_value());
        if (!a) break;
        EXPECT_EQ(*a, *b);
      }
    }
  }
}

TEST(SkipTest, ResumesExactly) {
  ExpectExactResume(Skip(Range(0, 30), 7));
  ExpectExactResume(Skip(Take(Range(0, 30), 20), 7));
  ExpectExactResume(Skip(Skip(Range(0, 30), 3), 7));
  ExpectExactResume(Skip(Take(Range(0, 30), 5), 7));
  ExpectExactResume(Skip(Range(0, 5), 9));
  ExpectExactResume(Skip(Range(0, 5), -1));
  ExpectExactResume(Skip(Filter(Range(0, 60), IsEven, {.name = "even"}), 4));
}

TEST(ShardTest, KeepsEveryNthElement) {
  // range(10).shard(num_shards=3, index=0): 0, 3, 6, 9; index=1: 1, 4, 7; index=2: 2, 5, 8.
  EXPECT_EQ(Ints(Shard(Range(0, 10), 3, 0)), (std::vector<int64_t>{0, 3, 6, 9}));
  EXPECT_EQ(Ints(Shard(Range(0, 10), 3, 1)), (std::vector<int64_t>{1, 4, 7}));
  EXPECT_EQ(Ints(Shard(Range(0, 10), 3, 2)), (std::vector<int64_t>{2, 5, 8}));
  EXPECT_EQ(Shard(Range(0, 10), 3, 0)->Cardinality(), 4);
  EXPECT_EQ(Shard(Range(0, 10), 3, 1)->Cardinality(), 3);
  EXPECT_EQ(Shard(Counter(), 3, 1)->Cardinality(), kInfiniteCardinality);
  EXPECT_EQ(Shard(Range(0, 10), 3, 1)->Get(2).tensor().scalar<int64_t>(), 7);
  for (int64_t index : {0, 1, 2}) ExpectGetMatchesIteration(Shard(Range(0, 10), 3, index));
}

TEST(ShardTest, ValidatesNumShardsAndIndex) {
  ExpectInvalidArgument([] { Shard(Range(0, 10), 0, 0); }, {"shard", "num_shards", "0"});
  ExpectInvalidArgument([] { Shard(Range(0, 10), 3, 3); }, {"shard", "index", "3"});
  ExpectInvalidArgument([] { Shard(Range(0, 10), 3, -1); }, {"shard", "index", "-1"});
  ExpectInvalidArgument([] { Shard(nullptr, 3, 1); }, {"shard", "input"});
}

TEST(ShardTest, ResumesExactly) {
  ExpectExactResume(Shard(Range(0, 50), 4, 3));
  ExpectExactResume(Shard(Filter(Range(0, 90), IsEven, {.name = "even"}), 3, 1));
}

}  // namespace
}  // namespace inputpipe
