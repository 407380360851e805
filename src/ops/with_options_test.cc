// with_options: merging, what reaches the ops (deterministic, the thread cap, also in iterators
// made later on other threads), and identity (only deterministic=false is in the fingerprint).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "inputpipe/options.h"
#include "ops/reorder_test_util.h"
#include "testing/expect_error.h"

namespace inputpipe {
namespace {

using reorder_test::Ints;
using reorder_test::Sorted;
using testing::Collect;
using testing::CollectFrom;

Options Deterministic(bool value) {
  Options o;
  o.deterministic = value;
  return o;
}

Options Threads(int64_t n) {
  Options o;
  o.private_threadpool_size = n;
  return o;
}

// Element 0 takes 150 ms, the others none: in completion order it does not come first.
DatasetPtr SlowFirst(std::optional<bool> deterministic) {
  MapFn fn = [](const Element& e) {
    if (e.tensor().scalar<int64_t>() == 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(150));
    return e;
  };
  return Map(Range(0, 8), fn, {.name = "slow_first"}, 4, deterministic);
}

TEST(WithOptionsTest, MergesOuterWinsPerField) {
  Options inner = Threads(2);
  inner.deterministic = true;
  DatasetPtr ds = WithOptions(
      Map(WithOptions(Range(0, 4), inner), [](const Element& e) { return e; }, {.name = "id"}),
      Deterministic(false));
  Options merged = PipelineOptions(*ds);
  EXPECT_EQ(merged.deterministic, false);
  EXPECT_EQ(merged.private_threadpool_size, 2);
  EXPECT_FALSE(merged.external_state_policy.has_value());
  EXPECT_FALSE(PipelineOptions(*Range(0, 3)).deterministic.has_value());
  EXPECT_EQ(merged.ToString(), "deterministic=false, private_threadpool_size=2");
  testing::ExpectError<InvalidArgumentError>(
      [] { WithOptions(Range(0, 3), Threads(0)); },
      {"with_options", "private_threadpool_size", "positive"});
}

TEST(WithOptionsTest, DeterministicFalseReordersParallelMapsThatDidNotChoose) {
  EXPECT_EQ(Ints(Collect(WithOptions(SlowFirst(std::nullopt), Deterministic(true))))[0], 0);
  std::vector<int64_t> unordered =
      Ints(Collect(WithOptions(SlowFirst(std::nullopt), Deterministic(false))));
  EXPECT_NE(unordered[0], 0);
  EXPECT_EQ(Sorted(unordered), reorder_test::Iota(8));
  // The op's own argument wins.
  EXPECT_EQ(Ints(Collect(WithOptions(SlowFirst(true), Deterministic(false))))[0], 0);
  // The options reach the map iterators made later: each epoch of a repeat, made on a
  // prefetch's thread.
  std::vector<int64_t> epochs = Ints(
      Collect(WithOptions(Prefetch(Repeat(SlowFirst(std::nullopt), 2), 2), Deterministic(false))));
  ASSERT_EQ(epochs.size(), 16u);
  EXPECT_NE(epochs[0], 0);
  EXPECT_NE(epochs[8], 0);
}

// x -> 10x, 10x + 1, 10x + 2, two slots: 0, 10, 1, 11, ... The second element of x = 0 takes
// 150 ms: in completion order slot 1's next one (11) comes before it.
DatasetPtr SlowSlotZero(int64_t threads, std::optional<bool> deterministic) {
  DatasetFn fn = [](const Element& x) {
    const int64_t v = x.tensor().scalar<int64_t>();
    return Map(Range(0, 3),
               [v](const Element& e) {
                 const int64_t i = e.tensor().scalar<int64_t>();
                 if (v == 0 && i == 1) std::this_thread::sleep_for(std::chrono::milliseconds(150));
                 return Element(Tensor::Scalar<int64_t>(10 * v + i));
               },
               {.name = "tens"});
  };
  return Interleave(Range(0, 4), fn, 2, 1, threads, deterministic);
}

TEST(WithOptionsTest, DeterministicFalseReordersParallelInterleavesThatDidNotChoose) {
  const std::vector<int64_t> ordered = Ints(Collect(SlowSlotZero(0, std::nullopt)));
  EXPECT_EQ(Ints(Collect(WithOptions(SlowSlotZero(2, std::nullopt), Deterministic(true)))),
            ordered);
  DatasetPtr unordered = WithOptions(SlowSlotZero(2, std::nullopt), Deterministic(false));
  std::vector<int64_t> out = Ints(Collect(unordered));
  ASSERT_EQ(ordered[2], 1);
  EXPECT_EQ(out[2], 11);
  EXPECT_EQ(Sorted(out), Sorted(ordered));
  // The op's own argument wins; the sequential form has no order to relax.
  EXPECT_EQ(Ints(Collect(WithOptions(SlowSlotZero(2, true), Deterministic(false)))), ordered);
  EXPECT_EQ(Ints(Collect(WithOptions(SlowSlotZero(0, std::nullopt), Deterministic(false)))),
            ordered);
  // The options op carries the identity; the interleave's own is the deterministic one's.
  EXPECT_EQ(unordered->Pipeline()[0], "options(deterministic=false)");
  EXPECT_EQ(unordered->inputs().front()->Signature(), SlowSlotZero(0, std::nullopt)->Signature());
  for (int64_t k : {0, 1, 3, 11, 12}) {
    reorder_test::ExpectExactlyOnceAcrossSave(unordered, Sorted(ordered), k);
  }
}

TEST(WithOptionsTest, PrivateThreadpoolSizeCapsTheWorkerThreads) {
  auto max_concurrent = [](std::optional<int64_t> cap) {
    auto running = std::make_shared<std::atomic<int>>(0);
    auto peak = std::make_shared<std::atomic<int>>(0);
    MapFn fn = [running, peak](const Element& e) {
      int now = ++*running;
      int seen = peak->load();
      while (now > seen && !peak->compare_exchange_weak(seen, now)) {
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      --*running;
      return e;
    };
    DatasetPtr ds = Map(Range(0, 32), fn, {.name = "count"}, 8);
    if (cap) ds = WithOptions(ds, Threads(*cap));
    EXPECT_EQ(Collect(ds).size(), 32u);
    return peak->load();
  };
  EXPECT_LE(max_concurrent(2), 2);
  EXPECT_GT(max_concurrent(std::nullopt), 2);
}

// Options that change no output are transparent: the pipeline and the state are the input's,
// so a state restores whether or not they are there. deterministic=false is the op
// "options(deterministic=false)", and a state of the other pipeline is refused.
TEST(WithOptionsTest, OnlyOutputChangingOptionsArePartOfTheIdentity) {
  auto make = [] { return Repeat(Map(Range(0, 10), reorder_test::SlowSquare(0), {}, 3), 2); };
  Options threading = Threads(2);
  threading.autotune_enabled = false;
  threading.external_state_policy = ExternalStatePolicy::kWarn;
  DatasetPtr with = WithOptions(make(), threading);
  EXPECT_EQ(with->Pipeline(), make()->Pipeline());
  testing::ExpectExactResume(with);
  std::vector<int64_t> full = Ints(Collect(make()));
  for (int64_t k : {0, 4, 10, 15}) {
    auto plain = make()->MakeIterator();
    CollectFrom(*plain, k);
    auto restored = WithOptions(make(), threading)->MakeIterator();
    restored->Restore(plain->Save());
    EXPECT_EQ(Ints(CollectFrom(*restored)), std::vector<int64_t>(full.begin() + k, full.end()));
    auto back = make()->MakeIterator();
    auto optioned = WithOptions(make(), threading)->MakeIterator();
    CollectFrom(*optioned, k);
    back->Restore(optioned->Save());
    EXPECT_EQ(Ints(CollectFrom(*back)), std::vector<int64_t>(full.begin() + k, full.end()));
  }
  DatasetPtr unordered = WithOptions(make(), Deterministic(false));
  EXPECT_EQ(unordered->Pipeline()[0], "options(deterministic=false)");
  auto plain = make()->MakeIterator();
  CollectFrom(*plain, 3);
  EXPECT_THROW(unordered->MakeIterator()->Restore(plain->Save()), PipelineMismatchError);
  // deterministic=true changes nothing: transparent.
  EXPECT_EQ(WithOptions(make(), Deterministic(true))->Pipeline(), make()->Pipeline());
  // An unordered pipeline saves and restores its own states (exactly once is parallel map's).
  auto it = unordered->MakeIterator();
  std::vector<int64_t> seen = Ints(CollectFrom(*it, 7));
  auto resumed = unordered->MakeIterator();
  resumed->Restore(it->Save());
  std::vector<int64_t> rest = Ints(CollectFrom(*resumed));
  seen.insert(seen.end(), rest.begin(), rest.end());
  EXPECT_EQ(Sorted(seen), Sorted(full));
}

}  // namespace
}  // namespace inputpipe
