// interleave: tf.data's documented orders, sequential and parallel; exact resumption at
// several thread counts; exactly-once with deterministic=false; saves while workers run.
#include <gtest/gtest.h>

#include "ops/reorder_test_util.h"

namespace inputpipe {
namespace {

using reorder_test::Ints;
using reorder_test::Seq;
using reorder_test::Sorted;
using testing::Collect;
using testing::ExpectExactResume;

// x -> x repeated `times` times (tf.data: from_tensors(x).repeat(times)).
DatasetFn Repeated(int64_t times, int spin_micros = 0) {
  return [times, spin_micros](const Element& x) {
    return Map(Range(0, times),
               [x, spin_micros](const Element&) {
                 reorder_test::Spin(spin_micros);
                 return x;
               },
               {.name = "const"});
  };
}

// x -> x*100, x*100+1, ..., x*100 + (x % 5) - 1: inner datasets of uneven (some zero) lengths
// whose elements are all distinct.
DatasetFn Uneven(int spin_micros = 0) {
  return [spin_micros](const Element& x) {
    int64_t v = x.tensor().scalar<int64_t>();
    return Map(Range(0, v % 5),
               [v, spin_micros](const Element& e) {
                 reorder_test::Spin(spin_micros);
                 return Element(Tensor::Scalar<int64_t>(v * 100 + e.tensor().scalar<int64_t>()));
               },
               {.name = "tag"});
  };
}

std::vector<int64_t> UnevenExpected(int64_t n) {
  std::vector<int64_t> out;
  for (int64_t v = 0; v < n; ++v) {
    for (int64_t i = 0; i < v % 5; ++i) out.push_back(v * 100 + i);
  }
  return out;
}

const int64_t kThreads[] = {0, 1, 2, 4, kAutotune};

TEST(InterleaveTest, MatchesTfDataDocumentation) {
  // tf.data: Dataset.range(1, 6).interleave(lambda x: from_tensors(x).repeat(6),
  //                                          cycle_length=2, block_length=4)
  const std::vector<int64_t> expected = {1, 1, 1, 1, 2, 2, 2, 2, 1, 1, 2, 2, 3, 3, 3,
                                         3, 4, 4, 4, 4, 3, 3, 4, 4, 5, 5, 5, 5, 5, 5};
  for (int64_t threads : kThreads) {
    EXPECT_EQ(Ints(Collect(Interleave(Range(1, 6), Repeated(6), 2, 4, threads))), expected)
        << threads;
  }
  // cycle_length=1 is flat_map.
  EXPECT_EQ(Ints(Collect(Interleave(Range(1, 4), Repeated(2), 1))),
            (std::vector<int64_t>{1, 1, 2, 2, 3, 3}));
  EXPECT_THROW(Interleave(Range(1, 4), Repeated(2), 0), InvalidArgumentError);
  EXPECT_THROW(Interleave(Range(1, 4), Repeated(2), 2, 0), InvalidArgumentError);
}

TEST(InterleaveTest, ParallelOrderEqualsSequentialOrder) {
  for (int64_t cycle : {1, 2, 3, 7}) {
    for (int64_t block : {1, 2, 3}) {
      auto sequential = Ints(Collect(Interleave(Seq(40), Uneven(), cycle, block)));
      EXPECT_EQ(Sorted(sequential), UnevenExpected(40));
      for (int64_t threads : {1, 3, 8}) {
        EXPECT_EQ(Ints(Collect(Interleave(Seq(40), Uneven(5), cycle, block, threads))), sequential)
            << cycle << " " << block << " " << threads;
      }
    }
  }
}

TEST(InterleaveTest, ResumesExactly) {
  for (int64_t threads : kThreads) {
    SCOPED_TRACE(threads);
    ExpectExactResume(Interleave(Range(1, 6), Repeated(6), 2, 4, threads));
    ExpectExactResume(Interleave(Seq(30), Uneven(10), 3, 2, threads));
    ExpectExactResume(Interleave(Seq(30), Uneven(), 4, 1, threads));
  }
}

TEST(InterleaveTest, SequentialAndParallelStatesAreInterchangeable) {
  auto sequential = Interleave(Seq(30), Uneven(), 3, 2);
  auto parallel = Interleave(Seq(30), Uneven(), 3, 2, 4);
  EXPECT_EQ(sequential->Pipeline(), parallel->Pipeline());
  std::vector<int64_t> expected = Ints(Collect(sequential));
  auto it = sequential->MakeIterator();
  testing::CollectFrom(*it, 13);
  auto restored = parallel->MakeIterator();
  restored->Restore(it->Save());
  EXPECT_EQ(Ints(testing::CollectFrom(*restored)),
            std::vector<int64_t>(expected.begin() + 13, expected.end()));
}

TEST(InterleaveTest, NonDeterministicDeliversEachElementExactlyOnce) {
  for (int64_t threads : {2, 4}) {
    auto ds = Interleave(Seq(60), Uneven(20), 4, 2, threads, /*deterministic=*/false);
    EXPECT_EQ(Sorted(Ints(Collect(ds))), UnevenExpected(60));
    for (int64_t k : {0, 1, 5, 17, 60, 100, 119, 120}) {
      reorder_test::ExpectExactlyOnceAcrossSave(ds, UnevenExpected(60), k);
    }
  }
}

TEST(InterleaveTest, StressSavesWhileWorkersRun) {
  auto expected = Ints(Collect(Interleave(Seq(400), Uneven(), 4, 3)));
  reorder_test::StressSaves(Interleave(Seq(400), Uneven(10), 4, 3, 4), expected, true, 60, 5);
  reorder_test::StressSaves(Interleave(Seq(300), Uneven(10), 4, 3, 4, false), UnevenExpected(300),
                            false, 30, 6);
}

TEST(InterleaveTest, InnerErrorsReachTheConsumer) {
  DatasetFn failing = [](const Element& x) {
    int64_t v = x.tensor().scalar<int64_t>();
    return Map(Range(0, 3),
               [v](const Element& e) {
                 if (v == 2 && e.tensor().scalar<int64_t>() == 1) throw InvalidArgumentError("bad");
                 return Element(Tensor::Scalar<int64_t>(v * 10 + e.tensor().scalar<int64_t>()));
               },
               {.name = "f"});
  };
  for (int64_t threads : {0, 2}) {
    auto it = Interleave(Range(1, 3), failing, 2, 1, threads)->MakeIterator();
    EXPECT_EQ(Ints(testing::CollectFrom(*it, 3)), (std::vector<int64_t>{10, 20, 11})) << threads;
    EXPECT_THROW(it->GetNext(), InvalidArgumentError);
    EXPECT_EQ(Ints(testing::CollectFrom(*it)), (std::vector<int64_t>{22, 12})) << threads;
  }
}

TEST(InterleaveTest, StatefulFunctionIsExternalState) {
  auto it = Interleave(Range(0, 5), Repeated(2), 2, 1, 0, true, {.name = "gen", .stateful = true})
                ->MakeIterator();
  it->GetNext();
  EXPECT_THROW(it->Save(), ExternalStateError);
}

TEST(InterleaveTest, DestroysCleanlyWithWorkersReading) {
  for (int i = 0; i < 10; ++i) {
    auto it = Interleave(Range(0, 100), Repeated(100, 50), 4, 1, 4)->MakeIterator();
    it->GetNext();
  }
}

// Neither the thread count nor the threading is part of a deterministic interleave's identity:
// a state of either form restores into the other at any thread count, both ways.
TEST(InterleaveTest, StatesRestoreAcrossThreadCountsBothWays) {
  auto sequential = Interleave(Seq(30), Uneven(), 3, 2);
  const std::vector<int64_t> expected = Ints(Collect(sequential));
  for (int64_t threads : {int64_t{1}, int64_t{4}, kAutotune}) {
    SCOPED_TRACE(threads);
    auto parallel = Interleave(Seq(30), Uneven(), 3, 2, threads);
    EXPECT_EQ(parallel->Pipeline(), sequential->Pipeline());
    for (auto [from, to] : {std::pair{sequential, parallel}, std::pair{parallel, sequential}}) {
      auto it = from->MakeIterator();
      testing::CollectFrom(*it, 19);
      auto restored = to->MakeIterator();
      restored->Restore(it->Save());
      EXPECT_EQ(Ints(testing::CollectFrom(*restored)),
                std::vector<int64_t>(expected.begin() + 19, expected.end()));
    }
  }
  // deterministic=false follows completion: its own identity.
  EXPECT_NE(Interleave(Seq(30), Uneven(), 3, 2, 2, false)->Pipeline(), sequential->Pipeline());
}

// With allow_changes a state of a longer cycle restores only if it fits the new cycle: a slot
// past it is a DataLossError naming interleave, never dropped with its elements.
TEST(InterleaveTest, AllowChangesRefusesASlotOutsideTheCycle) {
  auto it = Interleave(Seq(30), Uneven(), 4, 1)->MakeIterator();
  testing::CollectFrom(*it, 6);
  const std::string state = it->Save();
  ASSERT_NE(InspectState(state).find("outer_3"), std::string::npos);
  auto shorter = Interleave(Seq(30), Uneven(), 3, 1)->MakeIterator();
  EXPECT_THROW(shorter->Restore(state), PipelineMismatchError);
  try {
    Interleave(Seq(30), Uneven(), 3, 1)->MakeIterator()->Restore(state, {.allow_changes = true});
    FAIL() << "a slot outside the cycle was accepted";
  } catch (const DataLossError& e) {
    EXPECT_NE(std::string(e.what()).find("interleave"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace inputpipe
