// distribute: every rank's rows of each global batch, the union of the ranks equal to the
// single-process stream, one state for all ranks that continues on another rank count.
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "ops/ops_test_util.h"
#include "ops/reorder_test_util.h"

namespace inputpipe::testing {
namespace {
using reorder_test::Seq;

// The rows of every rank's step k concatenated, per step; with a state, what each rank's
// iterator gives after restoring it.
std::vector<std::vector<int64_t>> UnionOfRanks(const std::function<DatasetPtr(int64_t)>& make,
                                               int64_t ranks,
                                               const std::optional<std::string>& state = {}) {
  std::vector<std::vector<std::vector<int64_t>>> per_rank;
  for (int64_t r = 0; r < ranks; ++r) {
    if (!state) {
      per_rank.push_back(Rows(make(r)));
      continue;
    }
    auto it = make(r)->MakeIterator();
    it->Restore(*state);
    per_rank.emplace_back();
    for (const Element& e : CollectFrom(*it)) per_rank.back().push_back(ValuesOf(e.tensor()));
  }
  std::vector<std::vector<int64_t>> out(per_rank[0].size());
  for (int64_t r = 0; r < ranks; ++r) {
    EXPECT_EQ(per_rank[r].size(), out.size()) << "rank " << r << " makes another step count";
    for (size_t k = 0; k < out.size() && k < per_rank[r].size(); ++k) {
      out[k].insert(out[k].end(), per_rank[r][k].begin(), per_rank[r][k].end());
    }
  }
  return out;
}

TEST(DistributeTest, RanksTogetherMakeTheGlobalBatches) {
  auto global = [] { return Batch(GlobalShuffle(Range(0, 30), 7), 8); };
  for (int64_t w : {1, 2, 4, 8}) {
    EXPECT_EQ(UnionOfRanks([&](int64_t r) { return Distribute(global(), w, r); }, w),
              Rows(global()))
        << "num_ranks=" << w;
  }
  // Not random-access before the batch: every rank computes the global batch and slices it.
  auto filtered = [] { return Batch(Filter(Range(0, 40), IsEven), 6); };
  EXPECT_EQ(UnionOfRanks([&](int64_t r) { return Distribute(filtered(), 3, r); }, 3),
            Rows(filtered()));
}

TEST(DistributeTest, RankComputesOnlyItsRowsByIndex) {
  auto calls = std::make_shared<std::atomic<int64_t>>(0);
  MapFn counted = [calls](const Element& e) {
    calls->fetch_add(1);
    return e;
  };
  auto ds = Distribute(Batch(Map(Range(0, 32), counted, {.name = "counted"}), 8), 4, 1);
  EXPECT_EQ(Rows(ds), (std::vector<std::vector<int64_t>>{{2, 3}, {10, 11}, {18, 19}, {26, 27}}));
  EXPECT_EQ(calls->load(), 8);  // this rank's 2 rows of each of the 4 batches, nothing else
}

// Under repeat, a reshuffling global shuffle draws a new permutation each epoch; the ranks'
// rows by index follow it (not epoch 0's order every epoch), through a map too.
TEST(DistributeTest, ByIndexFollowsEachEpochsReshuffle) {
  MapFn same = [](const Element& e) { return e; };
  auto global = [&] {
    return Batch(Map(Repeat(GlobalShuffle(Range(0, 12), 7), 3), same, {.name = "same"}), 6);
  };
  EXPECT_NE(Rows(global())[0], Rows(global())[2]);  // epoch 1 is another permutation
  for (int64_t w : {1, 2, 3}) {
    EXPECT_EQ(UnionOfRanks([&](int64_t r) { return Distribute(global(), w, r); }, w),
              Rows(global()))
        << "num_ranks=" << w;
  }
}

// take, skip, shard, enumerate and batch between the repeat and the reshuffling shuffle pass
// the epoch on too: the ranks' rows are still computed by index (together, every input element
// of the global stream once, none twice), and follow each epoch's order.
TEST(DistributeTest, ByIndexThroughTakeSkipShardEnumerateAndBatchUnderARepeat) {
  auto calls = std::make_shared<std::atomic<int64_t>>(0);
  MapFn counted = [calls](const Element& e) {
    calls->fetch_add(1);
    return e;
  };
  MapFn pair_to_int = [](const Element& e) {
    return I64(e.children()[0].tensor().scalar<int64_t>() * 100 +
               e.children()[1].tensor().scalar<int64_t>());
  };
  const std::vector<std::pair<std::string, std::function<DatasetPtr(DatasetPtr)>>> ops = {
      {"take", [](DatasetPtr d) { return Take(d, 9); }},
      {"skip", [](DatasetPtr d) { return Skip(d, 3); }},
      {"shard", [](DatasetPtr d) { return Shard(d, 2, 1); }},
      {"enumerate", [&](DatasetPtr d) { return Map(Enumerate(d), pair_to_int, {.name = "pair"}); }},
      {"batch", [](DatasetPtr d) { return Batch(d, 3); }},
  };
  for (const auto& [name, op] : ops) {
    auto global = [&] {
      DatasetPtr shuffled = GlobalShuffle(Map(Range(0, 12), counted, {.name = "counted"}), 7);
      return Batch(Repeat(op(shuffled), 2), 2);
    };
    const auto expected = Rows(global());
    int64_t elements = 0;  // input elements in the global stream
    for (const auto& row : expected) elements += static_cast<int64_t>(row.size());
    for (int64_t w : {1, 2}) {
      calls->store(0);
      EXPECT_EQ(UnionOfRanks([&](int64_t r) { return Distribute(global(), w, r); }, w), expected)
          << name << ", num_ranks=" << w;
      EXPECT_EQ(calls->load(), elements) << name << ", num_ranks=" << w;
    }
  }
}

// Iterating one dataset again (an epoch per iterator) reshuffles as the single process does,
// and a state of the second iteration restores it in a fresh dataset.
TEST(DistributeTest, ByIndexReshufflesOnEveryNewIterator) {
  DatasetPtr single = Batch(GlobalShuffle(Range(0, 12), 7), 4);
  const auto first = Rows(single), second = Rows(single);
  ASSERT_NE(first, second);
  DatasetPtr rank1 = Distribute(Batch(GlobalShuffle(Range(0, 12), 7), 4), 2, 1);
  auto half = [](const std::vector<std::vector<int64_t>>& rows) {
    std::vector<std::vector<int64_t>> out;
    for (const auto& r : rows) out.push_back({r[2], r[3]});
    return out;
  };
  EXPECT_EQ(Rows(rank1), half(first));
  auto it = rank1->MakeIterator();  // the second iterator: the second epoch's order
  std::vector<std::vector<int64_t>> got;
  got.push_back(ValuesOf(it->GetNext()->tensor()));
  auto restored = Distribute(Batch(GlobalShuffle(Range(0, 12), 7), 4), 2, 1)->MakeIterator();
  restored->Restore(it->Save());
  for (const auto& e : CollectFrom(*restored)) got.push_back(ValuesOf(e.tensor()));
  EXPECT_EQ(got, half(second));
}

// A restore sets the dataset's iteration counter from the state, up or down: the iterators
// made after it continue the saved run's iterations, however many this dataset made before.
TEST(DistributeTest, ARestoreIntoADatasetIteratedBeforeContinuesTheSavedIterations) {
  auto make = [] { return Distribute(Batch(GlobalShuffle(Range(0, 12), 7), 4), 2, 1); };
  auto rows = [](const std::vector<Element>& elements) {
    std::vector<std::vector<int64_t>> out;
    for (const Element& e : elements) out.push_back(ValuesOf(e.tensor()));
    return out;
  };
  DatasetPtr saving = make();
  Rows(saving);                         // iteration 0
  auto it = saving->MakeIterator();     // iteration 1
  it->GetNext();
  const std::string state = it->Save();
  const auto rest = rows(CollectFrom(*it));
  const auto next = Rows(saving);       // iteration 2
  ASSERT_NE(next, Rows(saving));        // iteration 3 is another order
  for (int before : {0, 4}) {
    DatasetPtr used = make();
    for (int k = 0; k < before; ++k) Rows(used);
    auto restored = used->MakeIterator();
    restored->Restore(state);
    EXPECT_EQ(rows(CollectFrom(*restored)), rest) << before << " iterations before";
    EXPECT_EQ(Rows(used), next) << before << " iterations before";
  }
}

TEST(DistributeTest, LastPartialBatchIsSplitToo) {
  // 10 rows in batches of 4: the last has 2 rows, over 4 ranks: 0, 1, 0, 1 rows.
  auto rows_of = [](int64_t r) { return Rows(Distribute(Batch(Range(0, 10), 4), 4, r)); };
  EXPECT_EQ(rows_of(0), (std::vector<std::vector<int64_t>>{{0}, {4}, {}}));
  EXPECT_EQ(rows_of(1), (std::vector<std::vector<int64_t>>{{1}, {5}, {8}}));
  EXPECT_EQ(rows_of(3), (std::vector<std::vector<int64_t>>{{3}, {7}, {9}}));
  EXPECT_EQ(Rows(Distribute(Batch(Range(0, 10), 4, /*drop_remainder=*/true), 4, 1)).size(), 2u);
}

TEST(DistributeTest, ResumesExactlyOnEveryRank) {
  // reshuffle_each_iteration=false: the harness compares iterators of one dataset.
  ExpectExactResume(Distribute(Batch(GlobalShuffle(Range(0, 50), 3, false), 6), 3, 2));
  ExpectExactResume(Distribute(Batch(Shuffle(Seq(50), 8, 3, false), 6), 2, 1));
}

TEST(DistributeTest, OneStateForAllRanksContinuesOnAnotherRankCount) {
  for (bool by_index : {true, false}) {
    auto global = [&] {
      DatasetPtr base = by_index ? GlobalShuffle(Range(0, 48), 5) : Shuffle(Seq(48), 10, 5);
      return Batch(base, 12);
    };
    std::vector<std::vector<int64_t>> expected = Rows(global());
    // Two ranks run 3 steps; their states are byte-identical.
    std::vector<std::string> states;
    for (int64_t r = 0; r < 2; ++r) {
      auto it = Distribute(global(), 2, r)->MakeIterator();
      for (int k = 0; k < 3; ++k) it->GetNext();
      states.push_back(it->Save());
    }
    EXPECT_EQ(states[0], states[1]);
    // The state continues on 3 ranks and on 4: the union of the rest is the global rest.
    for (int64_t w : {3, 4}) {
      EXPECT_EQ(UnionOfRanks([&](int64_t r) { return Distribute(global(), w, r); }, w, states[0]),
                std::vector<std::vector<int64_t>>(expected.begin() + 3, expected.end()))
          << "by_index=" << by_index << ", to " << w << " ranks";
    }
  }
}

TEST(DistributeTest, RankCountIsNotInTheFingerprint) {
  EXPECT_EQ(Distribute(Batch(Range(0, 8), 4), 2, 0)->Pipeline(),
            Distribute(Batch(Range(0, 8), 4), 4, 3)->Pipeline());
}

TEST(DistributeTest, ABatchTheRanksDoNotDivideIsAnError) {
  ExpectInvalidArgument([] { Distribute(Batch(Range(0, 8), 6), 4, 0); },
                        {"distribute", "global batch size 6", "num_ranks=4"});
  ExpectInvalidArgument([] { Distribute(Batch(Range(0, 8), 4), 2, 2); },
                        {"rank", "[0, num_ranks=2)"});
  // Only known when the first batch comes (the batch is under another op).
  MapFn identity = [](const Element& e) { return e; };
  auto it = Distribute(Map(Batch(Range(0, 8), 6), identity, {.name = "id"}), 4, 0)->MakeIterator();
  ExpectInvalidArgument([&] { it->GetNext(); }, {"6 rows", "num_ranks=4"});
}

}  // namespace
}  // namespace inputpipe::testing

namespace inputpipe::testing {
namespace {

// A map that raises for element 5 of Range(0, 8).
DatasetPtr FailingAtFive() {
  return Map(Range(0, 8),
             [](const Element& e) {
               if (e.tensor().scalar<int64_t>() == 5) throw InvalidArgumentError("bad 5");
               return e;
             },
             {.name = "fail_at_5"});
}

TEST(DistributeTest, InfiniteRandomAccessInputNeverEnds) {
  auto ds = Distribute(Batch(Repeat(Range(0, 5), -1), 4), 2, 0);
  EXPECT_EQ(Rows(ds, 3), (std::vector<std::vector<int64_t>>{{0, 1}, {4, 0}, {3, 4}}));
}

TEST(DistributeTest, ARowThatRaisesIsRaisedOnceAndTheStepPasses) {
  auto it = Distribute(Batch(FailingAtFive(), 4), 2, 0)->MakeIterator();
  EXPECT_EQ(ValuesOf(it->GetNext()->tensor()), (std::vector<int64_t>{0, 1}));
  EXPECT_THROW(it->GetNext(), InvalidArgumentError);  // rows 4, 5 of step 1
  EXPECT_FALSE(it->GetNext().has_value());             // 8 rows: two steps, then the end
}

}  // namespace
}  // namespace inputpipe::testing

namespace inputpipe::testing {
namespace {

using Overlap = CallOverlap;

// A parallel map under the batch: a rank's rows by index run on that many threads of the
// distribute iterator's own (no map iterator exists to run them), with the same rows.
TEST(DistributeTest, ByIndexRowsOfAParallelMapRunInParallel) {
  for (int64_t w : {1, 2, 3}) {
    Overlap overlap;
    auto global = [&](int64_t threads) {
      return Batch(Map(GlobalShuffle(Range(0, 50), 7), overlap.fn(), {.name = "slow"}, threads),
                   6);
    };
    std::vector<std::vector<int64_t>> sequential = Rows(global(0));
    EXPECT_EQ(overlap.most.load(), 1);
    EXPECT_EQ(UnionOfRanks([&](int64_t r) { return Distribute(global(4), w, r); }, w),
              sequential)
        << "num_ranks=" << w;
    EXPECT_GE(overlap.most.load(), 2) << "num_ranks=" << w << ": the rows ran one at a time";
  }
}

// The threads compute one step ahead, never more, and a state saved there is the steps taken:
// it continues exactly, on threads or without them and on another rank count.
TEST(DistributeTest, ByIndexParallelRowsComputeOneStepAheadAndResumeAnywhere) {
  Overlap overlap;
  auto global = [&](int64_t threads) {
    return Batch(Map(GlobalShuffle(Range(0, 48), 3), overlap.fn(), {.name = "slow"}, threads),
                 12);
  };
  const std::vector<std::vector<int64_t>> expected = Rows(global(0));
  auto it = Distribute(global(3), 2, 0)->MakeIterator();
  overlap.calls = 0;
  it->GetNext();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_LE(overlap.calls.load(), 12);  // this step's 6 rows and the next step's 6
  it->GetNext();
  const std::string state = it->Save();
  for (int64_t threads : {0, 2}) {
    for (int64_t w : {2, 4}) {
      EXPECT_EQ(
          UnionOfRanks([&](int64_t r) { return Distribute(global(threads), w, r); }, w, state),
          std::vector<std::vector<int64_t>>(expected.begin() + 2, expected.end()))
          << "threads=" << threads << ", to " << w << " ranks";
    }
  }
  ExpectExactResume(Distribute(
      Batch(Map(GlobalShuffle(Range(0, 50), 3, false), overlap.fn(), {.name = "slow"}, 3), 6),
      3, 1));
}

TEST(DistributeTest, AParallelRowThatRaisesIsRaisedOnceInOrderAndTheStepPasses) {
  MapFn fail_at_5 = [](const Element& e) {
    if (e.tensor().scalar<int64_t>() == 5) throw InvalidArgumentError("bad 5");
    return e;
  };
  for (int64_t rank : {0, 1}) {
    auto it = Distribute(Batch(Map(Range(0, 12), fail_at_5, {.name = "fail_at_5"}, 4), 4), 2,
                         rank)
                  ->MakeIterator();
    EXPECT_EQ(ValuesOf(it->GetNext()->tensor()), (std::vector<int64_t>{2 * rank, 2 * rank + 1}));
    if (rank == 0) {
      ExpectInvalidArgument([&] { it->GetNext(); }, {"bad 5"});  // rows 4, 5
    } else {
      EXPECT_EQ(ValuesOf(it->GetNext()->tensor()), (std::vector<int64_t>{6, 7}));
    }
    EXPECT_EQ(ValuesOf(it->GetNext()->tensor()), (std::vector<int64_t>{8 + 2 * rank, 9 + 2 * rank}));
    EXPECT_FALSE(it->GetNext().has_value());
  }
}

// The last, partial global batch and an infinite input, on threads: the same rows as without.
TEST(DistributeTest, ParallelRowsOfAPartialLastBatchAndOfAnInfiniteInput) {
  MapFn same = [](const Element& e) { return e; };
  for (bool drop : {false, true}) {
    for (int64_t r = 0; r < 4; ++r) {
      auto rows = [&](int64_t threads) {
        return Rows(Distribute(Batch(Map(Range(0, 10), same, {.name = "same"}, threads), 4, drop),
                               4, r));
      };
      EXPECT_EQ(rows(3), rows(0)) << "rank " << r << ", drop_remainder=" << drop;
    }
  }
  auto infinite = Distribute(Batch(Map(Repeat(Range(0, 5), -1), same, {.name = "same"}, 2), 4),
                             2, 0);
  EXPECT_EQ(Rows(infinite, 3), (std::vector<std::vector<int64_t>>{{0, 1}, {4, 0}, {3, 4}}));
}

}  // namespace
}  // namespace inputpipe::testing
