// shard(elastic=true): a checkpoint of W ranks continues on W' ranks with every input element
// consumed before it never seen again and every other one exactly once (2 -> 3 -> 1 -> 4).
#include <algorithm>
#include <map>
#include <memory>

#include "ops/ops_test_util.h"
#include "ops/reorder_test_util.h"

namespace inputpipe::testing {
namespace {
using reorder_test::Seq;

using MakeRank = std::function<DatasetPtr(int64_t rank, int64_t ranks)>;

// Runs `steps[i]` elements per rank on ranks[i] ranks, saves every rank, reshards to the next
// rank count, ..., then the last run to the end. Returns every element delivered, by any rank.
std::vector<int64_t> RunResizing(const MakeRank& make, const std::vector<int64_t>& ranks,
                                 const std::vector<int64_t>& steps) {
  std::vector<int64_t> seen;
  std::vector<std::string> states;  // the previous run's, in rank order
  for (size_t run = 0; run < ranks.size(); ++run) {
    const int64_t w = ranks[run];
    std::vector<std::string> next_states;
    for (int64_t r = 0; r < w; ++r) {
      auto it = make(r, w)->MakeIterator();
      if (!states.empty()) it->Restore(ReshardStates(states, r, w));
      const int64_t limit = run < steps.size() ? steps[run] : -1;
      for (const auto& e : CollectFrom(*it, limit)) seen.push_back(e.tensor().scalar<int64_t>());
      next_states.push_back(it->Save());
    }
    states = std::move(next_states);
  }
  return seen;
}

std::vector<int64_t> Sorted(std::vector<int64_t> v) {
  std::sort(v.begin(), v.end());
  return v;
}

TEST(ElasticShardTest, StartsAsShard) {
  EXPECT_EQ(Ints(ElasticShard(Range(0, 10), 3, 1)), Ints(Shard(Range(0, 10), 3, 1)));
  EXPECT_EQ(Ints(ElasticShard(Seq(10), 3, 2)), Ints(Shard(Range(0, 10), 3, 2)));
  EXPECT_EQ(ElasticShard(Range(0, 10), 3, 1)->Pipeline(),
            ElasticShard(Range(0, 10), 2, 0)->Pipeline());
}

TEST(ElasticShardTest, ResumesExactly) {
  ExpectExactResume(ElasticShard(Range(0, 40), 3, 1));
  ExpectExactResume(Filter(ElasticShard(Seq(40), 4, 3), IsEven, {.name = "even"}));
}

TEST(ElasticShardTest, ResizingLosesAndRepeatsNothing) {
  const int64_t n = 200;
  for (bool by_index : {true, false}) {
    // Filter makes the ranks drift apart in the input; map and batch hold nothing.
    MakeRank make = [&](int64_t r, int64_t w) {
      DatasetPtr input = by_index ? GlobalShuffle(Range(0, n), 11) : DatasetPtr(Seq(n));
      PredicateFn keep = [](const Element& e) { return e.tensor().scalar<int64_t>() % 3 != 0; };
      return Filter(ElasticShard(input, w, r), keep, {.name = "not_mul3"});
    };
    std::vector<int64_t> expected;
    for (int64_t i = 0; i < n; ++i) {
      if (i % 3 != 0) expected.push_back(i);
    }
    EXPECT_EQ(Sorted(RunResizing(make, {2, 3, 1, 4}, {7, 5, 9})), expected) << by_index;
    EXPECT_EQ(Sorted(RunResizing(make, {4, 2, 4}, {3, 11})), expected) << by_index;
    EXPECT_EQ(Sorted(RunResizing(make, {3, 3}, {10})), expected) << by_index;
  }
}

TEST(ElasticShardTest, TheSameRankCountRestoresEachRanksOwnState) {
  MakeRank make = [](int64_t r, int64_t w) { return Shuffle(ElasticShard(Seq(60), w, r), 5, 1); };
  std::vector<std::string> states;
  for (int64_t r = 0; r < 3; ++r) {
    auto it = make(r, 3)->MakeIterator();
    CollectFrom(*it, 4 + r);
    states.push_back(it->Save());
  }
  for (int64_t r = 0; r < 3; ++r) EXPECT_EQ(ReshardStates(states, r, 3), states[r]);
}

TEST(ElasticShardTest, AnOpHoldingElementsRefusesAResize) {
  MakeRank make = [](int64_t r, int64_t w) { return Shuffle(ElasticShard(Seq(60), w, r), 5, 1); };
  std::vector<std::string> states;
  for (int64_t r = 0; r < 2; ++r) {
    auto it = make(r, 2)->MakeIterator();
    CollectFrom(*it, 3);
    states.push_back(it->Save());
  }
  ExpectError<FailedPreconditionError>([&] { ReshardStates(states, 0, 3); },
                                       {"from 2 to 3 ranks", "op 'shuffle'"});
  EXPECT_EQ(ReshardStates(states, 1, 2), states[1]);
}

TEST(ElasticShardTest, AStateOfOtherRanksIsNotRestoredDirectly) {
  auto it = ElasticShard(Range(0, 10), 2, 0)->MakeIterator();
  it->GetNext();
  std::string state = it->Save();
  auto other = ElasticShard(Range(0, 10), 3, 0)->MakeIterator();
  ExpectError<FailedPreconditionError>([&] { other->Restore(state); },
                                       {"rank 0 of 2 ranks", "num_shards=3", "reshard_states"});
}

TEST(ElasticShardTest, RanksOfAnotherPipelineAreRefused) {
  auto a = ElasticShard(Range(0, 10), 2, 0)->MakeIterator();
  auto b = ElasticShard(Range(0, 12), 2, 1)->MakeIterator();
  ExpectError<PipelineMismatchError>(
      [&] {
        ReshardStates({a->Save(), b->Save()}, 0, 3);
      },
      {"rank 1"});
}

}  // namespace
}  // namespace inputpipe::testing

namespace inputpipe::testing {
namespace {

DatasetPtr RaisingAtFive(DatasetPtr input) {
  return Map(input,
             [](const Element& e) {
               if (e.tensor().scalar<int64_t>() == 5) throw InvalidArgumentError("bad 5");
               return e;
             },
             {.name = "fail_at_5"});
}

TEST(ElasticShardTest, InfiniteRandomAccessInputNeverEnds) {
  EXPECT_EQ(Ints(ElasticShard(Repeat(Range(0, 5), -1), 2, 0), 6),
            (std::vector<int64_t>{0, 2, 4, 1, 3, 0}));
}

// An element that raises is raised once, by the rank it belongs to, and the stream goes on;
// the other ranks pass it. By index and streaming alike.
TEST(ElasticShardTest, AnElementThatRaisesIsRaisedOnceByItsRank) {
  for (bool by_index : {true, false}) {
    auto input = [&] {
      DatasetPtr in = RaisingAtFive(Range(0, 10));
      return by_index ? in : Filter(in, [](const Element&) { return true; });
    };
    auto mine = ElasticShard(input(), 2, 1)->MakeIterator();  // 1, 3, 5 (raises), 7, 9
    std::vector<int64_t> got;
    int errors = 0;
    while (true) {
      try {
        std::optional<Element> e = mine->GetNext();
        if (!e) break;
        got.push_back(e->tensor().scalar<int64_t>());
      } catch (const InvalidArgumentError&) {
        ++errors;
      }
      ASSERT_LT(got.size() + errors, 10u) << "by_index=" << by_index;
    }
    EXPECT_EQ(got, (std::vector<int64_t>{1, 3, 7, 9})) << "by_index=" << by_index;
    EXPECT_EQ(errors, 1) << "by_index=" << by_index;
    EXPECT_EQ(Ints(ElasticShard(input(), 2, 0)), (std::vector<int64_t>{0, 2, 4, 6, 8}))
        << "by_index=" << by_index;
  }
}

// By index, a rank computes only its own elements: no rank reads an element of another rank,
// nor one consumed before a resize, and none twice. The map before the shard logs every input
// index it computes; the log of each rank must be exactly the elements it delivered.
TEST(ElasticShardTest, ARankComputesOnlyItsOwnElementsByIndex) {
  const int64_t n = 60;
  auto computed = std::make_shared<std::vector<int64_t>>();
  MapFn logged = [computed](const Element& e) {
    computed->push_back(e.tensor().scalar<int64_t>());  // the consumer's thread only
    return e;
  };
  auto make = [&](int64_t r, int64_t w) {
    return ElasticShard(Map(GlobalShuffle(Range(0, n), 5), logged, {.name = "logged"}), w, r);
  };
  std::vector<int64_t> delivered_all;
  std::vector<std::string> states;
  const std::vector<int64_t> ranks = {2, 3}, steps = {7, -1};  // 7 each on 2 ranks, then the rest
  for (size_t run = 0; run < ranks.size(); ++run) {
    std::vector<std::string> next_states;
    for (int64_t r = 0; r < ranks[run]; ++r) {
      computed->clear();
      auto it = make(r, ranks[run])->MakeIterator();
      if (!states.empty()) it->Restore(ReshardStates(states, r, ranks[run]));
      std::vector<int64_t> delivered;
      for (const auto& e : CollectFrom(*it, steps[run])) {
        delivered.push_back(e.tensor().scalar<int64_t>());
      }
      EXPECT_EQ(*computed, delivered) << "run " << run << ", rank " << r << " of " << ranks[run];
      delivered_all.insert(delivered_all.end(), delivered.begin(), delivered.end());
      next_states.push_back(it->Save());
    }
    states = std::move(next_states);
  }
  std::vector<int64_t> all(n);
  for (int64_t i = 0; i < n; ++i) all[i] = i;
  EXPECT_EQ(Sorted(delivered_all), all);  // over both runs: each element once, by some rank
}

// By index under a repeat, each epoch's reshuffled order, as the stream (iteration_access.h).
TEST(ElasticShardTest, ByIndexFollowsEachEpochsReshuffle) {
  auto input = [] { return Repeat(GlobalShuffle(Range(0, 10), 3), 2); };
  EXPECT_EQ(Ints(ElasticShard(input(), 1, 0)), Ints(input()));
  std::vector<int64_t> odd_positions;
  const std::vector<int64_t> stream = Ints(input());
  for (size_t i = 1; i < stream.size(); i += 2) odd_positions.push_back(stream[i]);
  EXPECT_EQ(Ints(ElasticShard(input(), 2, 1)), odd_positions);
}

// Positions r, r + w, r + 2w, ... of `stream`: what rank r of w takes of a fresh layout.
std::vector<int64_t> EveryNth(const std::vector<int64_t>& stream, int64_t r, int64_t w) {
  std::vector<int64_t> out;
  for (size_t i = r; i < stream.size(); i += w) out.push_back(stream[i]);
  return out;
}

// Each new iterator of one dataset is the next iteration of a reshuffling input read by index
// (the next epoch's order, as the stream's), not the first epoch's again.
TEST(ElasticShardTest, ByIndexEachNewIteratorReadsTheNextIteration) {
  auto shuffled = [] { return GlobalShuffle(Range(0, 12), 7); };
  DatasetPtr single = shuffled();
  const std::vector<int64_t> e0 = Ints(single), e1 = Ints(single), e2 = Ints(single);
  ASSERT_NE(e0, e1);
  for (int64_t r = 0; r < 3; ++r) {
    DatasetPtr ds = ElasticShard(shuffled(), 3, r);
    EXPECT_EQ(Ints(ds), EveryNth(e0, r, 3)) << "rank " << r;
    EXPECT_EQ(Ints(ds), EveryNth(e1, r, 3)) << "rank " << r;
    EXPECT_EQ(Ints(ds), EveryNth(e2, r, 3)) << "rank " << r;
  }
  // Not reshuffling: every iteration the same order, and no iteration in the state.
  DatasetPtr fixed = ElasticShard(GlobalShuffle(Range(0, 12), 7, false), 2, 0);
  EXPECT_EQ(Ints(fixed), Ints(fixed));
  EXPECT_EQ(fixed->MakeIterator()->Save(), fixed->MakeIterator()->Save());
}

// A state saved in a later iteration continues it, on the same rank count and resized, in a
// fresh dataset or one iterated before; the iterators after it continue the iterations.
TEST(ElasticShardTest, ALaterIterationResumesAndResizes) {
  auto shuffled = [] { return GlobalShuffle(Range(0, 12), 7); };
  DatasetPtr single = shuffled();
  Ints(single);
  const std::vector<int64_t> e1 = Ints(single), e2 = Ints(single);
  std::vector<int64_t> seen;
  std::vector<std::string> states;
  for (int64_t r = 0; r < 2; ++r) {
    DatasetPtr ds = ElasticShard(shuffled(), 2, r);
    Ints(ds);                          // iteration 0
    auto it = ds->MakeIterator();      // iteration 1
    std::vector<int64_t> head;
    for (const auto& e : CollectFrom(*it, 2)) head.push_back(e.tensor().scalar<int64_t>());
    const std::vector<int64_t> mine = EveryNth(e1, r, 2);
    EXPECT_EQ(head, std::vector<int64_t>(mine.begin(), mine.begin() + 2)) << "rank " << r;
    seen.insert(seen.end(), head.begin(), head.end());
    states.push_back(it->Save());
  }
  for (int before : {0, 3}) {
    std::vector<int64_t> all = seen;
    for (int64_t r = 0; r < 3; ++r) {
      DatasetPtr ds = ElasticShard(shuffled(), 3, r);
      for (int k = 0; k < before; ++k) Ints(ds);
      auto it = ds->MakeIterator();
      it->Restore(ReshardStates(states, r, 3));
      for (const auto& e : CollectFrom(*it)) all.push_back(e.tensor().scalar<int64_t>());
      EXPECT_EQ(Ints(ds), EveryNth(e2, r, 3)) << "rank " << r << ", " << before << " before";
    }
    EXPECT_EQ(Sorted(all), Sorted(e1)) << before << " iterations before";
  }
  // Ranks in different iterations of the input do not resize together.
  auto other = ElasticShard(shuffled(), 2, 1)->MakeIterator();  // iteration 0
  ExpectError<FailedPreconditionError>([&] { ReshardStates({states[0], other->Save()}, 0, 3); },
                                       {"rank 1 is in iteration 0", "rank 0 in iteration 1"});
}

}  // namespace
}  // namespace inputpipe::testing

namespace inputpipe::testing {
namespace {

// By index over a parallel map, a rank computes its elements on that many threads of its own
// (a few ahead): each element is still delivered once across resizes, since what was computed
// ahead is not state.
TEST(ElasticShardTest, ByIndexOverAParallelMapComputesOnThreadsAndResizesExactly) {
  const int64_t n = 90;
  CallOverlap overlap;
  MakeRank make = [&](int64_t r, int64_t w) {
    return ElasticShard(Map(GlobalShuffle(Range(0, n), 11), overlap.fn(), {.name = "slow"}, 3),
                        w, r);
  };
  std::vector<int64_t> all(n);
  for (int64_t i = 0; i < n; ++i) all[i] = i;
  EXPECT_EQ(Sorted(RunResizing(make, {2, 3, 1}, {7, 5})), all);
  EXPECT_GE(overlap.most.load(), 2);
  // The same elements in the same order as without threads.
  MakeRank sequential = [&](int64_t r, int64_t w) {
    return ElasticShard(Map(GlobalShuffle(Range(0, n), 11), overlap.fn(), {.name = "slow"}), w, r);
  };
  EXPECT_EQ(RunResizing(make, {2, 3}, {9}), RunResizing(sequential, {2, 3}, {9}));
  ExpectExactResume(ElasticShard(
      Map(GlobalShuffle(Range(0, 40), 3, false), overlap.fn(), {.name = "slow"}, 2), 3, 1));
}

}  // namespace
}  // namespace inputpipe::testing
