// The ops that restore by re-reading their input from an anchor (shuffle, window,
// group_by_window) with an input that raises: an error the consumer skipped is skipped again by
// the replay, so a state saved after it restores to the live stream; an error the live run did
// not raise still fails the restore; the state stays small.
#include "ops/input_errors.h"

#include <gtest/gtest.h>

#include <array>
#include <functional>
#include <memory>
#include <set>

#include "core/op_skeleton.h"
#include "inputpipe/readers.h"
#include "ops/ops_test_util.h"

namespace inputpipe {
namespace {

using testing::Collect;
using testing::ExpectError;
using testing::Materialize;

// Which elements of the input raise: `bad` always (a corrupt record, a map fn that raises on
// it), `transient` once (an EIO), -1 for none.
struct Faults {
  std::set<int64_t> bad;
  int64_t transient = -1;
};

// Range(0, n) through a map whose fn raises where `faults` says: the element is dropped, as a
// reader drops a bad record.
DatasetPtr Faulty(int64_t n, std::shared_ptr<Faults> faults) {
  MapFn fn = [faults](const Element& e) {
    const int64_t v = e.tensor().scalar<int64_t>();
    if (faults->bad.count(v)) throw DataLossError("faulty: bad record " + std::to_string(v));
    if (v == faults->transient) {
      faults->transient = -1;
      throw IOError("faulty: transient read error at " + std::to_string(v));
    }
    return e;
  };
  return Map(Range(0, n), fn, {.name = "faulty"});
}

using Op = std::function<DatasetPtr(DatasetPtr)>;

// One GetNext: the element (materialised), or std::nullopt at the end; a DataLossError or
// IOError is skipped, as a training loop that catches it does (counted in *errors).
std::optional<Element> NextSkipping(Iterator& it, int* errors) {
  for (int tries = 0; tries < 100000; ++tries) {
    try {
      std::optional<Element> e = it.GetNext();
      if (!e) return std::nullopt;
      return Materialize(*e);
    } catch (const DataLossError&) {
      ++*errors;
    } catch (const IOError&) {
      ++*errors;
    }
  }
  ADD_FAILURE() << "100000 errors in a row";
  return std::nullopt;
}

std::vector<Element> DrainSkipping(Iterator& it, int* errors) {
  std::vector<Element> out;
  while (std::optional<Element> e = NextSkipping(it, errors)) out.push_back(std::move(*e));
  return out;
}

// Asserts that op over an input raising at `bad` behaves as op over that input with the bad
// elements removed (ignore_errors below it; unless !as_if_removed: batch drops the elements of
// the batch an error interrupted), and that a state saved after any GetNext call, one that
// raised included, restores to the rest of that stream.
void ExpectErrorsSkippedOnReplay(const Op& op, int64_t n, std::set<int64_t> bad,
                                 bool as_if_removed = true) {
  auto faults = std::make_shared<Faults>();
  faults->bad = bad;
  std::vector<Element> reference = Collect(op(IgnoreErrors(Faulty(n, faults))));
  const DatasetPtr ds = op(Faulty(n, faults));
  const std::string name = ds->Signature();
  int live_errors = 0;
  {
    std::unique_ptr<Iterator> it = ds->MakeIterator();
    std::vector<Element> live = DrainSkipping(*it, &live_errors);
    if (as_if_removed) {
      ASSERT_TRUE(live == reference) << name;
    } else {
      reference = live;
    }
    ASSERT_GT(live_errors, 0) << name;
  }
  const int64_t calls = static_cast<int64_t>(reference.size()) + live_errors + 1;
  for (int64_t k = 0; k <= calls; ++k) {
    std::unique_ptr<Iterator> it = ds->MakeIterator();
    std::vector<Element> before;
    bool ended = false;
    for (int64_t i = 0; i < k && !ended; ++i) {
      try {
        std::optional<Element> e = it->GetNext();
        if (e) {
          before.push_back(Materialize(*e));
        } else {
          ended = true;
        }
      } catch (const DataLossError&) {
      }
    }
    const std::string state = it->Save();
    std::unique_ptr<Iterator> restored = ds->MakeIterator();
    try {
      restored->Restore(state);
    } catch (const std::exception& e) {
      FAIL() << name << ": saved after " << k << " calls: restore failed: " << e.what();
    }
    int errors = 0;
    std::vector<Element> after = DrainSkipping(*restored, &errors);
    before.insert(before.end(), after.begin(), after.end());
    ASSERT_TRUE(before == reference) << name << ": saved after " << k << " calls";
    // The saving iterator is undisturbed.
    std::vector<Element> rest = DrainSkipping(*it, &errors);
    EXPECT_EQ(rest.size(), after.size()) << name << ": saved after " << k << " calls";
  }
}

// The state saved after `calls` GetNext calls (errors skipped).
std::string SavedAfter(const DatasetPtr& ds, int64_t calls) {
  std::unique_ptr<Iterator> it = ds->MakeIterator();
  int errors = 0;
  for (int64_t i = 0; i < calls; ++i) NextSkipping(*it, &errors);
  return it->Save();
}

std::string At(int64_t v) { return std::to_string(v) + " "; }

Op ShuffleOp(int64_t buffer, int64_t seed) {
  return [=](DatasetPtr in) { return Shuffle(in, buffer, seed, false); };
}

TEST(InputErrorsTest, ShuffleSkipsOnReplayTheErrorsTheConsumerSkipped) {
  ExpectErrorsSkippedOnReplay(ShuffleOp(8, 1), 80, {5});
  Op batched = [](DatasetPtr in) { return Batch(Shuffle(in, 8, 1, false), 2); };
  ExpectErrorsSkippedOnReplay(batched, 80, {5, 30, 31}, /*as_if_removed=*/false);
  // Errors in the initial fill, in a row, at the anchors (every 32 steps) and at the end.
  ExpectErrorsSkippedOnReplay(ShuffleOp(8, 1), 150, {0, 3, 4, 40, 41, 42, 72, 108, 149});
  ExpectErrorsSkippedOnReplay(ShuffleOp(1, 7), 30, {0, 1, 9, 29});
  ExpectErrorsSkippedOnReplay(ShuffleOp(64, 3), 300, {7, 100, 250, 251});
}

TEST(InputErrorsTest, WindowSkipsOnReplayTheErrorsTheConsumerSkipped) {
  for (const std::array<int64_t, 3>& params :
       std::vector<std::array<int64_t, 3>>{{3, 2, 1}, {4, 3, 2}, {2, 5, 1}, {3, 3, 1}, {1, 1, 1}}) {
    // Plain locals: clang 14 cannot capture structured bindings in a lambda.
    const int64_t size = params[0], shift = params[1], stride = params[2];
    for (bool drop : {false, true}) {
      Op op = [=](DatasetPtr in) { return Window(in, size, shift, stride, drop); };
      ExpectErrorsSkippedOnReplay(op, 40, {0, 3, 4, 12, 17, 39});
    }
  }
}

TEST(InputErrorsTest, GroupByWindowSkipsOnReplayTheErrorsTheConsumerSkipped) {
  KeyFn mod3 = [](const Element& e) { return e.tensor().scalar<int64_t>() % 3; };
  ReduceFn batch = [](int64_t, DatasetPtr window) { return Batch(window, 2); };
  Op op = [=](DatasetPtr in) { return GroupByWindow(in, mod3, batch, 4, {.name = "mod3"}); };
  ExpectErrorsSkippedOnReplay(op, 60, {0, 2, 3, 9, 10, 30, 59});
}

// An error the live run did not raise fails the restore (a transient EIO in the replay), with
// its type and the op named; so does one the live run raised that the replay does not meet.
TEST(InputErrorsTest, AReplayThatDivergesFailsTheRestore) {
  auto faults = std::make_shared<Faults>();
  faults->bad = {5};
  struct Case {
    DatasetPtr ds;
    int64_t calls;  // a save after them re-reads the input through its element 5
    std::string op;
    // Values that raise on replay (a transient error, a new bad record) and the positions the
    // messages name: the op's read count (window's counts from the state's window start).
    int64_t transient, transient_at, missed_at, new_bad, new_bad_at;
  };
  std::vector<Case> cases = {
      {Batch(Shuffle(Faulty(80, faults), 8, 1, false), 2), 3, "shuffle(buffer_size=8", 2, 2, 5, 3,
       3},
      // The first window holds 0-4 and 6-10; the state's window starts at 3.
      {Window(Faulty(80, faults), 10, 3, 1, false), 1, "window(size=10", 3, 0, 2, 4, 1},
      {GroupByWindow(
           Faulty(80, faults), [](const Element&) { return int64_t{0}; },
           [](int64_t, DatasetPtr window) { return window; }, 20, {.name = "zero"}),
       1, "group_by_window(fn=zero", 2, 2, 5, 3, 3},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.op);
    const std::string state = SavedAfter(c.ds, c.calls);
    {
      faults->transient = c.transient;
      std::unique_ptr<Iterator> it = c.ds->MakeIterator();
      ExpectError<IOError>(
          [&] { it->Restore(state); },
          {c.op, "replay diverged at input element " + At(c.transient_at), "transient read error"});
      faults->transient = -1;
    }
    {
      faults->bad = {};  // the bad record now reads fine: the input changed
      std::unique_ptr<Iterator> it = c.ds->MakeIterator();
      ExpectError<DataLossError>(
          [&] { it->Restore(state); },
          {c.op, "replay diverged at input element " + At(c.missed_at), "did not happen"});
      faults->bad = {5};
    }
    {
      faults->bad = {5, c.new_bad};  // a new bad record inside the replay
      std::unique_ptr<Iterator> it = c.ds->MakeIterator();
      ExpectError<DataLossError>([&] { it->Restore(state); },
                                 {c.op, "replay diverged at input element " + At(c.new_bad_at),
                                  "bad record " + std::to_string(c.new_bad)});
      faults->bad = {5};
    }
    std::unique_ptr<Iterator> it = c.ds->MakeIterator();
    it->Restore(state);  // the input as in the live run: restores
  }
}

// An input that raises FailedPreconditionError once, before reading element `at`, and takes
// nothing from its input: as an interrupted wait does.
class InterruptOnceIterator;
class InterruptOnceDataset
    : public OpDataset<InterruptOnceDataset, InterruptOnceIterator, SequentialUnaryDataset> {
 public:
  InterruptOnceDataset(DatasetPtr input, std::shared_ptr<int64_t> at)
      : OpDataset(std::move(input)), at(std::move(at)) {}
  std::string op_name() const override { return "interrupt_once"; }
  std::string params() const override { return ""; }
  const std::shared_ptr<int64_t> at;
};
class InterruptOnceIterator : public UnaryIterator<InterruptOnceDataset> {
 public:
  using UnaryIterator::UnaryIterator;

 protected:
  std::optional<Element> GetNextInternal() override {
    if (read_ == *dataset().at) {
      *dataset().at = -1;
      throw FailedPreconditionError("interrupted");
    }
    ++read_;
    return input_->GetNext();
  }
  void SaveInternal(StateWriter& w) override {
    w.WriteInt("read", read_);
    SaveInput(w);
  }
  void RestoreInternal(StateReader& r) override {
    read_ = r.ReadInt("read");
    RestoreInput(r);
  }

 private:
  int64_t read_ = 0;
};

// An error that is not a data error is listed too, as one that may not happen again: the replay
// skips it where it happens (a user function's FailedPreconditionError for the element 3, which
// map drops) and passes over it where it does not (an interrupt, which took nothing).
TEST(InputErrorsTest, OtherErrorsAreListedAsMayNotRecur) {
  for (bool interrupt : {false, true}) {
    SCOPED_TRACE(interrupt ? "interrupt" : "function");
    auto interrupt_at = std::make_shared<int64_t>(interrupt ? 3 : -1);
    MapFn fn = [interrupt](const Element& e) {
      const int64_t v = e.tensor().scalar<int64_t>();
      if (v == 3 && !interrupt) throw FailedPreconditionError("not ready");
      if (v == 6) throw DataLossError("bad record 6");
      return e;
    };
    DatasetPtr in = Map(Range(0, 40), fn, {.name = "fn"});
    DatasetPtr ds = Shuffle(std::make_shared<InterruptOnceDataset>(in, interrupt_at), 8, 1, false);
    std::unique_ptr<Iterator> it = ds->MakeIterator();
    EXPECT_THROW(it->GetNext(), FailedPreconditionError);  // 0 1 2 read
    // Without the interrupt, 3 was dropped: 4 5 read, then 6 raises; with it, 3 4 read.
    EXPECT_THROW(it->GetNext(), DataLossError);
    ASSERT_TRUE(it->GetNext());
    StateNode node = it->SaveNode();
    bool listed = false;
    for (const auto& [key, bytes] : node.blobs) {
      if (key != "input_errors") continue;
      listed = true;
      // Two errors: (gap 3 << 1) | other, then (gap 2 or 3 << 1) | data.
      EXPECT_EQ(bytes, std::string(interrupt ? "\x02\x07\x06" : "\x02\x07\x04", 3));
    }
    EXPECT_TRUE(listed);
    std::unique_ptr<Iterator> restored = ds->MakeIterator();
    restored->RestoreNode(node);
    int errors = 0;
    std::vector<Element> rest = DrainSkipping(*restored, &errors);
    EXPECT_EQ(errors, 0);
    EXPECT_TRUE(rest == DrainSkipping(*it, &errors));
    EXPECT_EQ(rest.size(), interrupt ? 40u - 1 - 1 : 40u - 2 - 1);
  }
}

// The state lists the errors as varint gaps: small whatever the positions, and a save whose
// span has no error lists none (its bytes are those of a state without errors).
TEST(InputErrorsTest, TheListStaysSmallAndIsDroppedWithItsAnchor) {
  auto faults = std::make_shared<Faults>();
  faults->bad = {5, 6, 7};
  DatasetPtr ds = Shuffle(Faulty(100000, faults), 8, 1, false);
  StateNode early = [&] {
    std::unique_ptr<Iterator> it = ds->MakeIterator();
    int errors = 0;
    for (int i = 0; i < 10; ++i) NextSkipping(*it, &errors);
    EXPECT_EQ(errors, 3);
    return it->SaveNode();
  }();
  bool listed = false;
  for (const auto& [key, bytes] : early.blobs) {
    if (key == "input_errors") {
      listed = true;
      EXPECT_EQ(bytes, std::string("\x03\x0a\x00\x00", 4));  // 3 data errors: at 5, 5, 5
    }
  }
  EXPECT_TRUE(listed);
  std::unique_ptr<Iterator> it = ds->MakeIterator();
  int errors = 0;
  for (int i = 0; i < 200; ++i) NextSkipping(*it, &errors);
  StateNode later = it->SaveNode();  // the anchor has moved past the errors
  for (const auto& [key, bytes] : later.blobs) EXPECT_NE(key, "input_errors");
}

// Past kMaxInputErrors errors inside the replay span, the state says it lost some and its
// restore is a DataLossError that says why, never a silently different stream.
TEST(InputErrorsTest, TooManyErrorsInTheSpanMakeAStateThatSaysSo) {
  auto faults = std::make_shared<Faults>();
  for (int64_t v = 10; v < 10 + InputErrorLog::kMaxInputErrors + 5; ++v) faults->bad.insert(v);
  DatasetPtr ds = Shuffle(Faulty(InputErrorLog::kMaxInputErrors + 100, faults), 8, 1, false);
  const std::string state = SavedAfter(ds, 5);
  std::unique_ptr<Iterator> it = ds->MakeIterator();
  ExpectError<DataLossError>([&] { it->Restore(state); },
                             {"shuffle(buffer_size=8", "cannot be replayed", "older checkpoint"});
}

TEST(InputErrorsTest, CorruptListsAreDataLoss) {
  auto faults = std::make_shared<Faults>();
  faults->bad = {5};
  DatasetPtr ds = Shuffle(Faulty(100, faults), 8, 1, false);
  std::unique_ptr<Iterator> it = ds->MakeIterator();
  int errors = 0;
  for (int i = 0; i < 3; ++i) NextSkipping(*it, &errors);
  StateNode node = it->SaveNode();
  for (const std::string& bad : {std::string("\x02\x0a", 2), std::string("\x01\x7f", 2),
                                 std::string("\x00", 1), std::string("\x01\x0a\x00", 3)}) {
    StateNode corrupt = node;
    for (auto& [key, bytes] : corrupt.blobs) {
      if (key == "input_errors") bytes = bad;
    }
    std::unique_ptr<Iterator> fresh = ds->MakeIterator();
    ExpectError<DataLossError>([&] { fresh->RestoreNode(corrupt); },
                               {"corrupt state", "shuffle(buffer_size=8", "input_errors"});
  }
}

// window(2, shift=5): the elements between windows are skipped by the next call, so an error
// among them neither takes the window just made nor shifts the next one.
TEST(InputErrorsTest, WindowErrorBetweenWindowsKeepsTheWindows) {
  auto faults = std::make_shared<Faults>();
  faults->bad = {3};
  DatasetPtr ds = Window(Faulty(12, faults), 2, 5, 1, false);
  std::unique_ptr<Iterator> it = ds->MakeIterator();
  int errors = 0;
  std::vector<Element> out = DrainSkipping(*it, &errors);
  EXPECT_EQ(errors, 1);
  // The input without 3: 0 1 2 4 5 6 7 8 9 10 11 -> windows at 0, 5, 10 of that list.
  EXPECT_TRUE(out == Collect(Window(IgnoreErrors(Faulty(12, faults)), 2, 5, 1, false)));
  ASSERT_EQ(out.size(), 3u);
}


// A user function's error (not a data error) raised after the last element read before a save
// is not re-read by the restore; the first live read after it skips it where it happens again.
// Else an op above that re-reads its current element on restore (flat_map over window or
// shuffle, interleave) would fail the restore with it, and the consumer would meet it twice.
TEST(InputErrorsTest, OtherErrorsAfterTheLastReadAreSkippedByTheNextLiveRead) {
  MapFn fn = [](const Element& e) {
    const int64_t v = e.tensor().scalar<int64_t>();
    if (v == 5 || v == 6 || v == 11) throw FailedPreconditionError("user fn: " + std::to_string(v));
    return e;
  };
  auto faulty = [&] { return Map(Range(0, 16), fn, {.name = "user_fn"}); };
  DatasetFn window_members = [](const Element& w) { return w.dataset(); };
  DatasetFn three = [](const Element& e) {
    const int64_t v = e.tensor().scalar<int64_t>();
    return Range(v * 10, v * 10 + 3);
  };
  const std::vector<std::pair<std::string, DatasetPtr>> pipelines = {
      {"window.flat_map", FlatMap(Window(faulty(), 3, 2, 1, false), window_members)},
      {"shuffle.flat_map", FlatMap(Shuffle(faulty(), 3, 1, false), three)},
      {"shuffle.interleave", Interleave(Shuffle(faulty(), 3, 1, false), three, 2)},
      {"shuffle", Shuffle(faulty(), 4, 2, false)},
      {"window", FlatMap(Window(faulty(), 2, 3, 1, false), window_members)},
  };
  auto next_skipping = [](Iterator& it, int* errors) -> std::optional<Element> {
    while (true) {
      try {
        std::optional<Element> e = it.GetNext();
        return e ? std::optional<Element>(Materialize(*e)) : std::nullopt;
      } catch (const FailedPreconditionError&) {
        ++*errors;
      }
    }
  };
  for (const auto& [name, ds] : pipelines) {
    int live_errors = 0;
    std::vector<Element> live;
    {
      std::unique_ptr<Iterator> it = ds->MakeIterator();
      while (std::optional<Element> e = next_skipping(*it, &live_errors)) live.push_back(*e);
    }
    ASSERT_EQ(live_errors, 3) << name;
    for (int64_t k = 0; k <= static_cast<int64_t>(live.size()) + live_errors; ++k) {
      std::unique_ptr<Iterator> it = ds->MakeIterator();
      std::vector<Element> got;
      int errors = 0;
      for (int64_t i = 0; i < k; ++i) {
        try {
          std::optional<Element> e = it->GetNext();
          if (!e) break;
          got.push_back(Materialize(*e));
        } catch (const FailedPreconditionError&) {
          ++errors;
        }
      }
      std::unique_ptr<Iterator> restored = ds->MakeIterator();
      try {
        restored->Restore(it->Save());
      } catch (const std::exception& e) {
        FAIL() << name << ": saved after " << k << " calls: restore failed: " << e.what();
      }
      while (std::optional<Element> e = next_skipping(*restored, &errors)) got.push_back(*e);
      EXPECT_TRUE(got == live) << name << ": saved after " << k << " calls";
      EXPECT_EQ(errors, live_errors) << name << ": saved after " << k << " calls";
    }
  }
}

}  // namespace
}  // namespace inputpipe
