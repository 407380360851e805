// Interrupting a waiting GetNext or a Restore (include/inputpipe/interrupt.h, core/interrupt.h):
// the check is honoured where nothing taken in the current call would be lost (the top-level
// wait, a wait under ops that took nothing yet) and only there; an interrupted GetNext loses
// nothing, and a save right after it is exact.
#include "inputpipe/interrupt.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

#include "ops/ops_test_util.h"
#include "ops/reorder_test_util.h"

namespace inputpipe {
namespace {

using reorder_test::Ints;
using reorder_test::Iota;
using testing::CollectFrom;
using testing::ValuesOf;

// Every value of `elements` (scalars, batches, zipped pairs of scalars), in order.
std::vector<int64_t> Flat(const std::vector<Element>& elements) {
  std::vector<int64_t> out;
  for (const Element& e : elements) {
    if (e.is_tuple()) {
      for (const Element& part : e.children()) out.push_back(part.tensor().scalar<int64_t>());
    } else {
      for (int64_t v : ValuesOf(e.tensor())) out.push_back(v);
    }
  }
  return out;
}

struct Interrupted {};

// Elements >= `from` wait until the gate opens (or a safety timeout, so that a test of a wait
// that is wrongly not interrupted fails instead of hanging).
struct Gate {
  explicit Gate(int64_t from) : from(from) {}
  MapFn Fn() {
    return [this](const Element& e) {
      auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      while (e.tensor().scalar<int64_t>() >= from && !open.load() &&
             std::chrono::steady_clock::now() < give_up) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      return e;
    };
  }
  const int64_t from;
  std::atomic<bool> open{false};
};

// A check that counts its calls and interrupts while `armed`.
struct Check {
  InterruptCheck Fn() {
    return [this] {
      ++calls;
      if (armed.load()) throw Interrupted();
    };
  }
  std::atomic<int> calls{0};
  std::atomic<bool> armed{true};
};

// Opens `gate` after `delay` (for the waits that must not be interrupted).
std::thread OpenLater(Gate& gate, std::chrono::milliseconds delay) {
  return std::thread([&gate, delay] {
    std::this_thread::sleep_for(delay);
    gate.open = true;
  });
}

TEST(InterruptTest, TopLevelWaitsAreInterruptedAndLoseNothing) {
  struct Case {
    const char* name;
    DatasetPtr (*make)(MapFn fn);
  };
  const Case cases[] = {
      {"parallel_map",
       [](MapFn fn) { return Map(Range(0, 10), std::move(fn), {.name = "gate"}, 2); }},
      {"prefetch",
       [](MapFn fn) { return Prefetch(Map(Range(0, 10), std::move(fn), {.name = "gate"}), 1); }},
      {"parallel_interleave",
       [](MapFn fn) {
         auto inner = Map(Range(0, 10), std::move(fn), {.name = "gate"});
         return Interleave(
             Range(0, 1), [inner](const Element&) { return inner; }, 1, 1, 2);
       }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Gate gate(3);
    DatasetPtr ds = c.make(gate.Fn());
    auto it = ds->MakeIterator();
    EXPECT_EQ(Ints(CollectFrom(*it, 3)), Iota(3));
    Check check;
    {
      ScopedInterruptCheck interrupt(check.Fn());
      EXPECT_THROW(it->GetNext(), Interrupted);
      EXPECT_THROW(it->GetNext(), Interrupted);  // still waiting for the same element
    }
    EXPECT_FALSE(gate.open.load());  // interrupted, not timed out
    // A save between the interrupt and the next call is exact.
    std::string state = it->Save();
    gate.open = true;
    EXPECT_EQ(Ints(CollectFrom(*it)), Iota(7, 3));
    auto restored = ds->MakeIterator();
    restored->Restore(state);
    EXPECT_EQ(Ints(CollectFrom(*restored)), Iota(7, 3));
  }
}

TEST(InterruptTest, BatchIsInterruptedOnlyBeforeItsFirstElement) {
  Gate gate(4);
  auto ds = Batch(Prefetch(Map(Range(0, 10), gate.Fn(), {.name = "gate"}, 2), 1), 2);
  auto it = ds->MakeIterator();
  EXPECT_EQ(Flat(CollectFrom(*it, 2)), Iota(4));
  Check check;
  ScopedInterruptCheck interrupt(check.Fn());
  // Waiting for the batch's first element: interrupted, and the batch is whole afterwards.
  EXPECT_THROW(it->GetNext(), Interrupted);
  check.armed = false;
  std::thread opener = OpenLater(gate, std::chrono::milliseconds(100));
  std::optional<Element> batch = it->GetNext();
  opener.join();
  ASSERT_TRUE(batch);
  EXPECT_EQ(ValuesOf(batch->tensor()), (std::vector<int64_t>{4, 5}));
  EXPECT_EQ(Flat(CollectFrom(*it)), Iota(4, 6));
}

TEST(InterruptTest, ALargeBatchsGatherIsInterruptedAndKeepsWhatItGathered) {
  // batch(10**7) gathers for seconds on the consumer's thread, with no wait to interrupt: a
  // batch of 4096 elements or more polls the check as it gathers, leaves on an interrupt with
  // what it took kept, saves where the batch began, and the next call finishes that batch.
  constexpr int64_t kBatch = 10000;
  auto ds = Batch(Range(0, 25000), kBatch);
  auto it = ds->MakeIterator();
  EXPECT_EQ(Flat(CollectFrom(*it, 1)), Iota(kBatch));
  Check check;
  std::string state;
  {
    ScopedInterruptCheck interrupt(check.Fn());
    EXPECT_THROW(it->GetNext(), Interrupted);
    EXPECT_EQ(check.calls.load(), 1);
    state = it->Save();
    check.armed = false;
    std::optional<Element> batch = it->GetNext();
    ASSERT_TRUE(batch);
    EXPECT_EQ(ValuesOf(batch->tensor()), Iota(kBatch, kBatch));
  }
  EXPECT_EQ(Flat(CollectFrom(*it)), Iota(5000, 2 * kBatch));
  auto restored = ds->MakeIterator();
  restored->Restore(state);
  EXPECT_EQ(Flat(CollectFrom(*restored)), Iota(15000, kBatch));
  // Small batches never look at the check: their gathering is short.
  Check small;
  ScopedInterruptCheck interrupt(small.Fn());
  EXPECT_EQ(Flat(CollectFrom(*Batch(Range(0, 20000), 4095)->MakeIterator())), Iota(20000));
  EXPECT_EQ(small.calls.load(), 0);
}

TEST(InterruptTest, AResumedLargeBatchKeepsWhatItGatheredWhileItsInputWaits) {
  Gate gate(1023);  // elements from 1023 on (the first the resumed call reads) wait for it
  auto ds = Batch(Prefetch(Map(Range(0, 20000), gate.Fn(), {.name = "gate"}), 64), 5000);
  auto it = ds->MakeIterator();
  Check check;
  ScopedInterruptCheck interrupt(check.Fn());
  EXPECT_THROW(it->GetNext(), Interrupted);  // the batch's own poll: 1023 elements kept
  std::thread opener = OpenLater(gate, std::chrono::milliseconds(200));
  // Resumed: the prefetch's wait for element 1023 is not interrupted (that would drop what
  // the batch holds); the batch's own poll, once the elements come again, is.
  EXPECT_THROW(it->GetNext(), Interrupted);
  opener.join();
  check.armed = false;
  std::optional<Element> batch = it->GetNext();
  ASSERT_TRUE(batch);
  EXPECT_EQ(ValuesOf(batch->tensor()), Iota(5000));
  EXPECT_EQ(Flat(CollectFrom(*it)), Iota(15000, 5000));
}

TEST(InterruptTest, WaitsAfterAnElementWasTakenAreNotInterrupted) {
  struct Case {
    const char* name;
    DatasetPtr (*make)(MapFn fn);
    size_t before;                  // elements taken before the attempt
    std::vector<int64_t> expected;  // the element of the attempt, flattened
  };
  const Case cases[] = {
      // batch took element 4; its wait for 5 must not drop it.
      {"batch",
       [](MapFn fn) { return Batch(Prefetch(Map(Range(0, 10), fn, {.name = "g"}), 1), 2); },
       2,
       {4, 5}},
      // zip took 5 from its first input; the wait on its second must not drop it.
      {"zip",
       [](MapFn fn) {
         return Zip({Range(0, 10), Prefetch(Map(Range(0, 10), fn, {.name = "g"}, 2), 1)});
       },
       5,
       {5, 5}},
      // filter took (and rejected) 4; the wait that follows is not interrupted either.
      {"filter",
       [](MapFn fn) {
         return Filter(Map(Range(0, 10), fn, {.name = "g"}, 2),
                       [](const Element& e) { return e.tensor().scalar<int64_t>() != 4; });
       },
       4,
       {5}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Gate gate(5);
    auto it = c.make(gate.Fn())->MakeIterator();
    EXPECT_EQ(CollectFrom(*it, c.before).size(), c.before);
    Check check;
    std::thread opener = OpenLater(gate, std::chrono::milliseconds(200));
    std::optional<Element> next;
    {
      ScopedInterruptCheck interrupt(check.Fn());
      EXPECT_NO_THROW(next = it->GetNext());
    }
    opener.join();
    EXPECT_EQ(check.calls.load(), 0);
    ASSERT_TRUE(next);
    EXPECT_EQ(Flat({*next}), c.expected);
  }
}

TEST(InterruptTest, InterleaveWaitsForANewSlotsFirstElementAreInterrupted) {
  // The outer element that opened the slot is kept in the slot: the wait that follows may be
  // interrupted, and nothing is lost.
  Gate gate(0);
  auto inner = Prefetch(Map(Range(0, 3), gate.Fn(), {.name = "gate"}), 1);
  auto ds = Interleave(
      Range(0, 2), [inner](const Element&) { return inner; }, 1);
  auto it = ds->MakeIterator();
  Check check;
  {
    ScopedInterruptCheck interrupt(check.Fn());
    EXPECT_THROW(it->GetNext(), Interrupted);
  }
  gate.open = true;
  EXPECT_EQ(Ints(CollectFrom(*it)), (std::vector<int64_t>{0, 1, 2, 0, 1, 2}));
}

TEST(InterruptTest, RestoreIsInterrupted) {
  // A restore replaying a buffer through a slow map: the check is polled and its exception
  // fails the restore promptly.
  auto slow = [](const Element& e) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return e;
  };
  for (int64_t threads : {0, 2}) {
    SCOPED_TRACE(threads);
    auto ds = Shuffle(Map(Range(0, 50), slow, {.name = "slow"}, threads), 40, 7);
    auto it = ds->MakeIterator();
    CollectFrom(*it, 5);
    std::string state = it->Save();
    Check check;
    auto fresh = ds->MakeIterator();
    {
      ScopedInterruptCheck interrupt(check.Fn());
      EXPECT_THROW(fresh->Restore(state), Interrupted);
    }
    EXPECT_GE(check.calls.load(), 1);
    // Without a check the same restore succeeds.
    auto again = ds->MakeIterator();
    again->Restore(state);
    EXPECT_EQ(CollectFrom(*again).size(), 45u);
  }
}

TEST(InterruptTest, NoCheckNoCallsAndAnEmptyCheckInstallsNothing) {
  Gate gate(2);
  auto it = Map(Range(0, 4), gate.Fn(), {.name = "gate"}, 2)->MakeIterator();
  ScopedInterruptCheck empty{InterruptCheck()};
  std::thread opener = OpenLater(gate, std::chrono::milliseconds(100));
  EXPECT_EQ(Ints(CollectFrom(*it)), Iota(4));
  opener.join();
}

}  // namespace
}  // namespace inputpipe
