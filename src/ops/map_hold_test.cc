// map's two hooks for functions that run elsewhere (the Python bindings' worker processes):
// FunctionOptions::hold_for_iterator (each map iterator holds what it returns from its first
// call until it is destroyed; a parallel map releases it before joining its threads, so that
// releasing it can end calls in flight) and CurrentMapPosition() (the
// element's position while the function runs).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "inputpipe/ops.h"
#include "inputpipe/thread_context.h"
#include "ops/reorder_test_util.h"

namespace inputpipe {
namespace {

using testing::CollectFrom;

// Counts the holds taken and the ones still alive.
struct HoldCounter {
  std::atomic<int> taken{0};
  std::atomic<int> alive{0};

  FunctionOptions Options() {
    FunctionOptions options{.name = "held"};
    options.hold_for_iterator = [this]() -> std::shared_ptr<void> {
      ++taken;
      ++alive;
      return std::shared_ptr<void>(nullptr, [this](void*) { --alive; });
    };
    return options;
  }
};

Element Identity(const Element& e) { return e; }

struct CancelledForTest {};

TEST(MapHoldTest, EachIteratorHoldsFromItsFirstCallUntilDestroyed) {
  for (int64_t threads : {0, 1, 3}) {
    SCOPED_TRACE(threads);
    HoldCounter holds;
    auto ds = Map(Range(0, 20), Identity, holds.Options(), threads);
    {
      auto a = ds->MakeIterator();
      EXPECT_EQ(holds.taken, 0);  // nothing before the first call
      CollectFrom(*a, 3);
      EXPECT_EQ(holds.taken, 1);
      auto b = ds->MakeIterator();
      CollectFrom(*b, 20);  // to the end: still held until destroyed
      EXPECT_EQ(holds.taken, 2);
      EXPECT_EQ(holds.alive, 2);
      b.reset();
      EXPECT_EQ(holds.alive, 1);
    }
    EXPECT_EQ(holds.alive, 0);
    EXPECT_EQ(holds.taken, 2);
  }
}

TEST(MapHoldTest, TheHoldIsNotPartOfTheState) {
  HoldCounter holds;
  auto held = Map(Range(0, 20), Identity, holds.Options(), 2)->MakeIterator();
  auto plain = Map(Range(0, 20), Identity, {.name = "held"}, 2)->MakeIterator();
  CollectFrom(*held, 5);
  CollectFrom(*plain, 5);
  EXPECT_EQ(held->Save(), plain->Save());
}

TEST(MapHoldTest, CurrentMapPositionNamesTheElementWhileTheFunctionRuns) {
  EXPECT_EQ(CurrentMapPosition(), -1);
  for (int64_t threads : {0, 4}) {
    SCOPED_TRACE(threads);
    std::mutex mu;
    std::set<std::pair<int64_t, int64_t>> seen;  // (element, position)
    auto ds = Map(
        Range(100, 130),
        [&](const Element& e) {
          std::lock_guard<std::mutex> lock(mu);
          seen.emplace(e.tensor().scalar<int64_t>(), CurrentMapPosition());
          return e;
        },
        {.name = "record"}, threads);
    CollectFrom(*ds->MakeIterator(), 30);
    ASSERT_EQ(seen.size(), 30u);
    for (const auto& [element, position] : seen) EXPECT_EQ(position, element - 100);
  }
  EXPECT_EQ(CurrentMapPosition(), -1);
}

// A function that runs elsewhere ends its calls in flight when the last hold goes (the worker
// processes are stopped): the parallel map must release the hold before it joins its threads,
// or a call that never returns would make the iterator's destruction wait for it forever.
TEST(MapHoldTest, AParallelMapReleasesItsHoldBeforeJoiningCallsInFlight) {
  for (bool grouped : {false, true}) {  // grouped: a thread takes a run of calls (Python's GIL)
    SCOPED_TRACE(grouped);
    std::mutex mu;
    std::condition_variable cv;
    bool released = false;
    int in_flight = 0;
    std::atomic<int> ended_by_release{0};
    std::atomic<int> called_after_release{0};
    FunctionOptions options{.name = "held"};
    options.hold_for_iterator = [&]() -> std::shared_ptr<void> {
      return std::shared_ptr<void>(nullptr, [&](void*) {
        std::lock_guard<std::mutex> lock(mu);
        released = true;
        cv.notify_all();
      });
    };
    if (grouped) options.run_calls = [](const std::function<void()>& calls) { calls(); };
    auto stuck_after_first = [&](const Element& e) {
      if (CurrentMapPosition() == 0) return e;
      std::unique_lock<std::mutex> lock(mu);
      // A call that sees the release must see its thread told to stop (the threads are stopped
      // before the hold goes), as the bindings' worker-process call checks before it would start
      // the processes again. A call that passed the map's own check just before the stop can
      // still begin after the release: the check and the call are not one step.
      if (released && !EngineThreadStopping()) ++called_after_release;
      ++in_flight;
      cv.notify_all();
      // Stands for a call that never returns; bounded so that a failure does not hang the test.
      if (cv.wait_for(lock, std::chrono::seconds(5), [&] { return released; })) {
        ++ended_by_release;
      }
      return e;
    };
    auto it = Map(Range(0, 20), stuck_after_first, options, 2)->MakeIterator();
    CollectFrom(*it, 1);
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return in_flight > 0; });
    }
    auto start = std::chrono::steady_clock::now();
    it.reset();
    EXPECT_GT(ended_by_release.load(), 0);
    EXPECT_EQ(called_after_release.load(), 0);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(4));
  }
}

// An op with threads above the map (prefetch, a parallel map) joins its thread when destroyed,
// and that thread waits inside the map's GetNext for a call that never returns: the wait must
// give up when its own thread's iterator stops (OwnerStopping), so that the join ends, the
// map's iterator is destroyed and its hold's release ends the call.
TEST(MapHoldTest, AThreadedOpAboveStopsWaitingInsideTheMapBeforeTheMapIsDestroyed) {
  for (const char* above : {"prefetch", "parallel map", "batch, prefetch"}) {
    SCOPED_TRACE(above);
    std::mutex mu;
    std::condition_variable cv;
    bool released = false;
    int in_flight = 0;
    std::atomic<int> ended_by_release{0};
    FunctionOptions options{.name = "held"};
    options.hold_for_iterator = [&]() -> std::shared_ptr<void> {
      return std::shared_ptr<void>(nullptr, [&](void*) {
        std::lock_guard<std::mutex> lock(mu);
        released = true;
        cv.notify_all();
      });
    };
    auto stuck_after_first = [&](const Element& e) {
      if (CurrentMapPosition() == 0) return e;
      std::unique_lock<std::mutex> lock(mu);
      ++in_flight;
      cv.notify_all();
      // Bounded so that a failure does not hang the test.
      if (cv.wait_for(lock, std::chrono::seconds(5), [&] { return released; })) {
        ++ended_by_release;
      }
      return e;
    };
    DatasetPtr ds = Map(Range(0, 20), stuck_after_first, options, 2);
    const std::string kind = above;
    if (kind == "prefetch") ds = Prefetch(ds, 2);
    if (kind == "parallel map") ds = Map(ds, Identity, {.name = "above"}, 2);
    if (kind == "batch, prefetch") ds = Prefetch(Batch(ds, 1), 2);
    auto it = ds->MakeIterator();
    CollectFrom(*it, 1);
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return in_flight > 0; });
    }
    auto start = std::chrono::steady_clock::now();
    it.reset();
    EXPECT_GT(ended_by_release.load(), 0);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(4));
  }
}

// A sequential map's function running on the thread of a prefetch above it (the Python
// bindings' worker-process call, waiting for its worker) sees EngineThreadStopping() once that
// prefetch is being destroyed, and gives up.
TEST(MapHoldTest, AFunctionOnAPrefetchsThreadSeesItStopping) {
  EXPECT_FALSE(EngineThreadStopping());  // not an engine thread
  std::atomic<bool> started{false};
  std::atomic<bool> saw_stopping{false};
  auto waits = [&](const Element& e) {
    if (e.tensor().scalar<int64_t>() == 0) return e;
    started = true;
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!EngineThreadStopping() && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    saw_stopping = EngineThreadStopping();
    throw CancelledForTest();
  };
  auto it = Prefetch(Map(Range(0, 20), waits, {.name = "waits"}), 2)->MakeIterator();
  CollectFrom(*it, 1);
  while (!started) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  it.reset();
  EXPECT_TRUE(saw_stopping.load());
}

}  // namespace
}  // namespace inputpipe
