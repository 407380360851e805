// map(num_parallel_calls=N): tf.data's results in input order, exact resumption at several
// thread counts, saves that never wait for calls in flight, exactly-once delivery with
// deterministic=false.
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <mutex>

#include "ops/reorder_test_util.h"

namespace inputpipe {
namespace {

using reorder_test::Ints;
using reorder_test::Seq;
using reorder_test::SlowSquare;
using testing::Collect;
using testing::ExpectExactResume;

std::vector<int64_t> Squares(int64_t n) {
  std::vector<int64_t> out;
  for (int64_t i = 0; i < n; ++i) out.push_back(i * i);
  return out;
}

const int64_t kThreadCounts[] = {1, 2, 3, 8, kAutotune};

TEST(ParallelMapTest, OutputsInInputOrderAtEveryThreadCount) {
  for (int64_t threads : kThreadCounts) {
    auto ds = Map(Range(0, 200), SlowSquare(20), {.name = "square"}, threads);
    EXPECT_EQ(Ints(Collect(ds)), Squares(200)) << threads;
    EXPECT_EQ(ds->Cardinality(), 200);
    EXPECT_TRUE(ds->IsRandomAccess());
    EXPECT_EQ(ds->Get(7).tensor().scalar<int64_t>(), 49);
  }
  EXPECT_EQ(Ints(Collect(Map(Range(0, 0), SlowSquare(0), {}, 4))), std::vector<int64_t>{});
  EXPECT_THROW(Map(Range(0, 3), SlowSquare(0), {}, -2), InvalidArgumentError);
}

TEST(ParallelMapTest, ResumesExactlyAtSeveralThreadCounts) {
  for (int64_t threads : kThreadCounts) {
    SCOPED_TRACE(threads);
    ExpectExactResume(Map(Range(0, 60), SlowSquare(30), {.name = "square"}, threads));
    ExpectExactResume(Map(Seq(60), SlowSquare(30), {.name = "square"}, threads));
  }
}

TEST(ParallelMapTest, StateRestoresAcrossThreadCounts) {
  auto it = Map(Seq(50), SlowSquare(10), {.name = "square"}, 2)->MakeIterator();
  testing::CollectFrom(*it, 17);
  std::string state = it->Save();
  auto restored = Map(Seq(50), SlowSquare(10), {.name = "square"}, 7)->MakeIterator();
  restored->Restore(state);
  auto expected = Squares(50);
  EXPECT_EQ(Ints(testing::CollectFrom(*restored)),
            std::vector<int64_t>(expected.begin() + 17, expected.end()));
}

TEST(ParallelMapTest, FunctionErrorsReachTheConsumerInOrder) {
  auto ds = Map(
      Range(0, 10),
      [](const Element& e) {
        int64_t v = e.tensor().scalar<int64_t>();
        if (v == 5) throw InvalidArgumentError("bad element 5");
        reorder_test::Spin(v < 5 ? 200 : 0);  // later elements finish first
        return Element(Tensor::Scalar<int64_t>(v));
      },
      {.name = "check"}, 4);
  auto it = ds->MakeIterator();
  for (int64_t i = 0; i < 5; ++i) EXPECT_EQ(it->GetNext()->tensor().scalar<int64_t>(), i);
  EXPECT_THROW(it->GetNext(), InvalidArgumentError);
  EXPECT_EQ(it->GetNext()->tensor().scalar<int64_t>(), 6);  // as map: the error skips one element
}

TEST(ParallelMapTest, SaveNeverWaitsForCallsInFlight) {
  // Elements >= 3 block inside fn until released: if Save waited for calls in flight, this
  // test would hang instead of passing.
  auto release = std::make_shared<std::atomic<bool>>(false);
  auto ds = Map(
      Range(0, 20),
      [release](const Element& e) {
        int64_t v = e.tensor().scalar<int64_t>();
        while (v >= 3 && !release->load()) std::this_thread::yield();
        return Element(Tensor::Scalar<int64_t>(v * 10));
      },
      {.name = "gate"}, 4);
  auto it = ds->MakeIterator();
  EXPECT_EQ(Ints(testing::CollectFrom(*it, 3)), (std::vector<int64_t>{0, 10, 20}));
  std::string state = it->Save();  // workers are blocked on 3, 4, 5, 6
  release->store(true);
  auto restored = ds->MakeIterator();
  restored->Restore(state);
  std::vector<int64_t> rest = Ints(testing::CollectFrom(*restored));
  ASSERT_EQ(rest.size(), 17u);
  EXPECT_EQ(rest.front(), 30);
  EXPECT_EQ(Ints(testing::CollectFrom(*it)), rest);
}

TEST(ParallelMapTest, NonDeterministicDeliversEachElementExactlyOnceAcrossSaves) {
  // Uneven work so completion order differs from input order.
  MapFn uneven = [](const Element& e) {
    int64_t v = e.tensor().scalar<int64_t>();
    reorder_test::Spin(static_cast<int>((v * 7919) % 13) * 15);
    return e;
  };
  for (int64_t threads : {2, 4, 8}) {
    auto ds = Map(Seq(300), uneven, {.name = "uneven"}, threads, /*deterministic=*/false);
    EXPECT_EQ(reorder_test::Sorted(Ints(Collect(ds))), reorder_test::Iota(300));
    for (int64_t k : {0, 1, 2, 7, 50, 151, 299, 300}) {
      reorder_test::ExpectExactlyOnceAcrossSave(ds, reorder_test::Iota(300), k);
    }
  }
}

TEST(ParallelMapTest, StressSavesAtThousandsOfMoments) {
  reorder_test::StressSaves(Map(Seq(2000), SlowSquare(20), {.name = "square"}, 4), Squares(2000),
                            /*deterministic=*/true, 100, 1);
  MapFn uneven = [](const Element& e) {
    reorder_test::Spin(static_cast<int>((e.tensor().scalar<int64_t>() * 31) % 7) * 10);
    return e;
  };
  reorder_test::StressSaves(Map(Seq(1500), uneven, {.name = "uneven"}, 4, false),
                            reorder_test::Iota(1500), /*deterministic=*/false, 40, 2);
}

TEST(ParallelMapTest, RestoredNonDeterministicStateSavesItsPendingSkips) {
  // A state with delivered-ahead elements, restored and saved again before the dispatcher
  // re-read them, must keep them.
  MapFn uneven = [](const Element& e) {
    int64_t v = e.tensor().scalar<int64_t>();
    reorder_test::Spin(v % 4 == 0 ? 2000 : 0);
    return e;
  };
  auto ds = Map(Seq(100), uneven, {.name = "uneven"}, 4, false);
  for (int64_t k : {3, 10, 40}) {
    auto it = ds->MakeIterator();
    std::vector<int64_t> seen = Ints(testing::CollectFrom(*it, k));
    std::string state = it->Save();
    auto second = ds->MakeIterator();
    second->Restore(state);
    std::string again = second->Save();  // before any GetNext
    auto third = ds->MakeIterator();
    third->Restore(again);
    auto more = Ints(testing::CollectFrom(*third, 2));
    std::string once_more = third->Save();  // dispatcher possibly mid-skip
    auto fourth = ds->MakeIterator();
    fourth->Restore(once_more);
    for (int64_t v : more) seen.push_back(v);
    for (int64_t v : Ints(testing::CollectFrom(*fourth))) seen.push_back(v);
    EXPECT_EQ(reorder_test::Sorted(seen), reorder_test::Iota(100)) << k;
  }
}

TEST(ParallelMapTest, StatefulFunctionIsExternalState) {
  auto ds = Map(Range(0, 10), SlowSquare(0), {.name = "counter", .stateful = true}, 2);
  EXPECT_FALSE(ds->IsRandomAccess());
  auto it = ds->MakeIterator();
  it->GetNext();
  EXPECT_THROW(it->Save(), ExternalStateError);
  std::vector<std::string> warnings;
  it->Save(ExternalStatePolicy::kWarn, &warnings);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("map(fn=counter)"), std::string::npos);
}

TEST(ParallelMapTest, DestroysCleanlyWithWorkInFlight) {
  for (int i = 0; i < 20; ++i) {
    auto it = Map(Range(0, 1000), SlowSquare(100), {}, 4)->MakeIterator();
    it->GetNext();
  }  // each destructor joins its threads while calls are running
}

// A function with a lock of its own (the bindings: Python's GIL) declares it through
// run_calls: every call runs inside it, several per acquisition, and the results are the same.
TEST(ParallelMapTest, RunCallsHoldsTheFunctionsLockForEveryCall) {
  struct Lock {
    std::mutex mu;
    std::atomic<int64_t> acquisitions{0};
  };
  auto lock = std::make_shared<Lock>();
  thread_local bool held = false;
  FunctionOptions options{.name = "square", .run_calls = [lock](const std::function<void()>& calls) {
                            std::lock_guard<std::mutex> guard(lock->mu);
                            ++lock->acquisitions;
                            held = true;
                            calls();
                            held = false;
                          }};
  auto square = SlowSquare(5);
  std::atomic<int64_t> outside{0};
  MapFn checked = [square, &outside](const Element& e) {
    if (!held) ++outside;
    return square(e);
  };
  for (int64_t threads : {1, 2, 4}) {
    lock->acquisitions = 0;
    auto ds = Map(Range(0, 500), checked, options, threads);
    EXPECT_EQ(Ints(Collect(ds)), Squares(500)) << threads;
    EXPECT_GT(lock->acquisitions.load(), 0);
    EXPECT_LE(lock->acquisitions.load(), 500);
    ExpectExactResume(Map(Seq(80), checked, options, threads));
  }
  EXPECT_EQ(outside.load(), 0) << "a call ran without the function's lock";
}

TEST(ParallelMapTest, RunCallsFailureReachesTheConsumerAsTheElementsError) {
  FunctionOptions options{.name = "square", .run_calls = [](const std::function<void()>&) {
                            throw FailedPreconditionError("the interpreter is shutting down");
                          }};
  auto it = Map(Range(0, 5), SlowSquare(0), options, 2)->MakeIterator();
  EXPECT_THROW(it->GetNext(), FailedPreconditionError);
}

TEST(ParallelMapTest, AnOversizedDeliveredAheadBitmapIsDataLoss) {
  // A corrupt state must not make a restore skip (or allocate for) millions of elements: the
  // bitmap is bounded far above any window.
  auto ds = Map(Seq(100), SlowSquare(0), {.name = "square"}, 2, /*deterministic=*/false);
  auto it = ds->MakeIterator();
  it->GetNext();
  DecodedState decoded = DecodeState(it->Save());
  decoded.root.blobs.clear();
  decoded.root.blobs.emplace_back("delivered_ahead", "\x02");
  EXPECT_NO_THROW(ds->MakeIterator()->Restore(EncodeState(decoded.pipeline, decoded.root)));
  decoded.root.blobs.back().second = std::string(1 << 20, '\xff');  // 8M elements
  EXPECT_THROW(ds->MakeIterator()->Restore(EncodeState(decoded.pipeline, decoded.root)),
               DataLossError);
}

// ---- Identity: the thread count and the threading itself are not part of a deterministic
// map's identity.

// The stream of `to` after restoring the state `from` saved after k elements.
std::vector<int64_t> ContinueIn(const DatasetPtr& from, const DatasetPtr& to, int64_t k) {
  auto it = from->MakeIterator();
  testing::CollectFrom(*it, k);
  auto restored = to->MakeIterator();
  restored->Restore(it->Save());
  return Ints(testing::CollectFrom(*restored));
}

TEST(ParallelMapTest, DeterministicParallelMapIsMapToAState) {
  auto sequential = Map(Seq(50), SlowSquare(10), {.name = "square"});
  const auto expected = Squares(50);
  for (int64_t threads : kThreadCounts) {
    SCOPED_TRACE(threads);
    auto parallel = Map(Seq(50), SlowSquare(10), {.name = "square"}, threads);
    EXPECT_EQ(parallel->Pipeline(), sequential->Pipeline());
    EXPECT_EQ(parallel->Signature(), "map(fn=square)");
    for (int64_t k : {0, 1, 17, 50}) {
      SCOPED_TRACE(k);
      const std::vector<int64_t> rest(expected.begin() + k, expected.end());
      EXPECT_EQ(ContinueIn(sequential, parallel, k), rest) << "map -> parallel map";
      EXPECT_EQ(ContinueIn(parallel, sequential, k), rest) << "parallel map -> map";
    }
    // Saved after the same elements, both save the same bytes.
    auto a = sequential->MakeIterator();
    auto b = parallel->MakeIterator();
    testing::CollectFrom(*a, 9);
    testing::CollectFrom(*b, 9);
    EXPECT_EQ(a->Save(), b->Save());
  }
}

// deterministic=false delivers in completion order: an identity of its own, refused by map
// (and map's by it), even with allow_changes (another op).
TEST(ParallelMapTest, NonDeterministicKeepsADistinctIdentity) {
  auto sequential = Map(Seq(30), SlowSquare(0), {.name = "square"});
  auto unordered = Map(Seq(30), SlowSquare(0), {.name = "square"}, 3, /*deterministic=*/false);
  EXPECT_EQ(unordered->Signature(), "parallel_map(fn=square, deterministic=false)");
  for (auto [from, to] : {std::pair{sequential, unordered}, std::pair{unordered, sequential}}) {
    std::string state = from->MakeIterator()->Save();
    EXPECT_THROW(to->MakeIterator()->Restore(state), PipelineMismatchError);
    EXPECT_THROW(to->MakeIterator()->Restore(state, {.allow_changes = true}),
                 PipelineMismatchError);
  }
  // Its thread count is not identity either.
  auto more = Map(Seq(30), SlowSquare(0), {.name = "square"}, kAutotune, false);
  EXPECT_EQ(more->Pipeline(), unordered->Pipeline());
}

// States saved before the change name the op "parallel_map(fn=..., deterministic=true)" and
// its node "parallel_map" (tests/data/states/v1): they restore into map and parallel map.
TEST(ParallelMapTest, OldDeterministicParallelMapStatesRestoreIntoMapAndParallelMap) {
  auto parallel = Map(Seq(40), SlowSquare(0), {.name = "square"}, 3);
  auto it = parallel->MakeIterator();
  testing::CollectFrom(*it, 11);
  DecodedState decoded = DecodeState(it->Save());
  ASSERT_EQ(decoded.pipeline[0], "map(fn=square)");
  ASSERT_EQ(decoded.root.op, "map");
  decoded.pipeline[0] = "parallel_map(fn=square, deterministic=true)";
  decoded.root.op = "parallel_map";
  const std::string old_state = EncodeState(decoded.pipeline, decoded.root);
  const auto expected = Squares(40);
  const std::vector<int64_t> rest(expected.begin() + 11, expected.end());
  for (const DatasetPtr& into : {parallel, Map(Seq(40), SlowSquare(0), {.name = "square"})}) {
    auto restored = into->MakeIterator();
    restored->Restore(old_state);
    EXPECT_EQ(Ints(testing::CollectFrom(*restored)), rest);
  }
  // A nondeterministic state's bitmap is not map's: refused, not ignored.
  decoded.root.blobs.emplace_back("delivered_ahead", std::string("\x01\x01", 2));
  decoded.pipeline[0] = "map(fn=square)";
  EXPECT_THROW(Map(Seq(40), SlowSquare(0), {.name = "square"})
                   ->MakeIterator()
                   ->Restore(EncodeState(decoded.pipeline, decoded.root)),
               DataLossError);
}

}  // namespace
}  // namespace inputpipe
