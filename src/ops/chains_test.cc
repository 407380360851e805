// Long pipelines mixing random-access and streaming ops, nested datasets and structured
// elements: the output is what the ops compose to, and every breakpoint resumes exactly with
// a state of positions only (under 1 KiB).
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "ops/ops_test_util.h"

namespace inputpipe {
namespace {

using namespace testing;  // NOLINT: test helpers

TEST(ChainsTest, RangeMapFilterBatchRepeatTake) {
  auto ds = Take(Repeat(Batch(Filter(Map(Range(0, 20), SquareFn, {.name = "square"}), IsEven,
                                     {.name = "even"}),
                              3),
                        3),
                 8);
  // Even squares below 400: 0, 4, 16, ..., 324 (10 of them) -> 4 batches per epoch.
  auto rows = Rows(ds);
  ASSERT_EQ(rows.size(), 8u);
  EXPECT_EQ(rows[0], (std::vector<int64_t>{0, 4, 16}));
  EXPECT_EQ(rows[3], (std::vector<int64_t>{324}));
  EXPECT_EQ(rows[4], rows[0]);
  EXPECT_EQ(ds->Cardinality(), kUnknownCardinality);
  ExpectExactResume(ds, {.extra_breakpoints = {3, 4, 7, 8}});
}

TEST(ChainsTest, WindowThenFlatMapGivesSlidingBatches) {
  // The tf.data idiom for sliding windows as tensors: window(...).flat_map(lambda w: w.batch(n)).
  auto ds = FlatMap(Window(Range(0, 20), 5, 2, 1, true),
                    [](const Element& w) { return Batch(w.dataset(), 5); }, {.name = "batch5"});
  auto rows = Rows(ds);
  ASSERT_EQ(rows.size(), 8u);
  EXPECT_EQ(rows[1], (std::vector<int64_t>{2, 3, 4, 5, 6}));
  EXPECT_EQ(rows[7], (std::vector<int64_t>{14, 15, 16, 17, 18}));
  ExpectExactResume(ds);
  // Un-batched windows flattened back: each element of each window, in order.
  ExpectExactResume(FlatMap(Window(Filter(Range(0, 40), IsEven, {.name = "even"}), 3, 2, 2),
                            [](const Element& w) { return w.dataset(); }, {.name = "identity"}));
}

TEST(ChainsTest, DictWithStringColumnThroughPaddedBatchAndUnbatch) {
  std::vector<std::string> texts;
  std::vector<int64_t> ids;
  for (int i = 0; i < 25; ++i) {
    texts.push_back(std::string(i % 6, 'a' + i % 26));
    ids.push_back(1000 + i);
  }
  auto rows = FromTensorSlices(
      Element::Dict({{"id", I64s(ids)}, {"text", Tensor::FromStrings(texts, {25})}}));
  // Split each text into characters: a variable-length string vector per row.
  auto tokens =
      Map(rows,
          [](const Element& e) {
            const std::string& text = e.at("text").tensor().strings()[0];
            std::vector<std::string> chars;
            for (char c : text) chars.emplace_back(1, c);
            int64_t n = static_cast<int64_t>(chars.size());
            return Element::Dict({{"id", e.at("id")}, {"chars", Tensor::FromStrings(chars, {n})}});
          },
          {.name = "chars"});
  auto padded = PaddedBatch(
      Filter(tokens,
             [](const Element& e) { return e.at("id").tensor().scalar<int64_t>() % 7 != 3; },
             {.name = "drop7"}),
      4, {{}, {-1}}, {I64(-1), Tensor::String("<pad>")});
  auto ds = Unbatch(padded);
  auto out = Collect(ds);
  ASSERT_EQ(out.size(), 22u);  // ids 1004, 1011, 1018 dropped
  // Row 1002 ("cc") is batched with 1000..1003, the longest of which is "ddd".
  EXPECT_EQ(out[2].at("id").tensor().scalar<int64_t>(), 1002);
  EXPECT_EQ(out[2].at("chars").tensor(), Tensor::FromStrings({"c", "c", "<pad>"}, {3}));
  // Row 1006 (empty text) is batched with 1005 ("fffff"): all padding.
  EXPECT_EQ(out[5].at("id").tensor().scalar<int64_t>(), 1006);
  EXPECT_EQ(out[5].at("chars").tensor(),
            Tensor::FromStrings(std::vector<std::string>(5, "<pad>"), {5}));
  ExpectExactResume(ds);
  ExpectExactResume(padded);
}

TEST(ChainsTest, ZipEnumerateConcatenateSkipShard) {
  auto left = Enumerate(Zip({Range(0, 10), Map(Range(100, 120), SquareFn, {.name = "square"})}));
  auto right =
      Enumerate(Zip({Filter(Range(10, 30), IsEven, {.name = "even"}), Range(200, 205)}), 10);
  auto ds = Shard(Skip(Concatenate(left, right), 3), 2, 1);
  auto out = Collect(ds);
  // 10 + 5 elements, skip 3 -> 12, odd positions -> 6: indices 4, 6, 8, 10, 12, 14.
  ASSERT_EQ(out.size(), 6u);
  EXPECT_EQ(out[0][0].tensor().scalar<int64_t>(), 4);
  EXPECT_EQ(out[0][1], Element::Tuple({I64(4), I64(104 * 104)}));
  EXPECT_EQ(out[5], Element::Tuple({I64(14), Element::Tuple({I64(18), I64(204)})}));
  EXPECT_FALSE(ds->IsRandomAccess());
  ExpectExactResume(ds);
  // The same shape of pipeline over random-access inputs is random-access end to end.
  auto ra = Shard(Skip(Concatenate(Enumerate(Zip({Range(0, 10), Range(100, 110)})),
                                   Enumerate(Zip({Range(10, 15), Range(200, 205)}), 10)),
                       3),
                  2, 1);
  ASSERT_TRUE(ra->IsRandomAccess());
  ASSERT_EQ(ra->Cardinality(), 6);
  EXPECT_EQ(ra->Get(5), Element::Tuple({I64(14), Element::Tuple({I64(14), I64(204)})}));
  ExpectGetMatchesIteration(ra);
  ExpectExactResume(ra);
}

TEST(ChainsTest, FlatMapOverRepeat) {
  // Each x of range(1, 4), twice, expands to x elements counting from 10x.
  auto ds = FlatMap(Repeat(Range(1, 4), 2),
                    [](const Element& e) {
                      int64_t x = e.tensor().scalar<int64_t>();
                      return Take(Counter(10 * x), x);
                    },
                    {.name = "count_from_10x"});
  EXPECT_EQ(Ints(ds), (std::vector<int64_t>{10, 20, 21, 30, 31, 32, 10, 20, 21, 30, 31, 32}));
  ExpectExactResume(ds, {.extra_breakpoints = {3, 4, 6, 7}});
  // And the other way round: repeat over flat_map, forever.
  ExpectExactResume(Repeat(FlatMap(Range(0, 4),
                                   [](const Element& e) {
                                     return Repeat(FromTensors(e), e.tensor().scalar<int64_t>());
                                   },
                                   {.name = "x_times"})),
                    {.max_elements = 40});
}

TEST(ChainsTest, NestedStreamingOps) {
  // Unbatch inside flat_map inside repeat, fed by a window: every op re-reads its input.
  auto ds = Take(
      Repeat(
          FlatMap(Window(Unbatch(Batch(Filter(Range(0, 30), IsEven, {.name = "even"}), 4)), 3, 2),
                  [](const Element& w) { return Unbatch(Batch(w.dataset(), 2)); },
                  {.name = "rebatch"}),
          -1),
      70);
  EXPECT_EQ(Collect(ds).size(), 70u);
  ExpectExactResume(ds, {.extra_breakpoints = {20, 21, 22, 23, 24}});
  ExpectExactResume(Zip({Unbatch(Batch(Range(0, 17), 3)), Window(Range(0, 40), 2, 3)}));
}


// ---- Iterator::Stats over chains: exact counts per op, in Pipeline() order.

const OpStats& Op(const IteratorStats& stats, const std::string& name) {
  for (const OpStats& op : stats.ops) {
    if (op.name == name) return op;
  }
  ADD_FAILURE() << "no op " << name << " in the stats";
  static const OpStats none;
  return none;
}

Element Sleepy(const Element& e) {
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  return e;
}

TEST(ChainsStatsTest, CountsAreExactPerOpInPipelineOrder) {
  auto ds = Batch(Map(Filter(Range(0, 100), IsEven, {.name = "even"}), SquareFn,
                      {.name = "square"}),
                  10);
  auto it = ds->MakeIterator();
  while (it->GetNext()) {
  }
  IteratorStats stats = it->Stats();
  std::vector<std::string> names;
  std::vector<std::string> pipeline = ds->Pipeline();
  ASSERT_EQ(stats.ops.size(), pipeline.size());
  for (size_t i = 0; i < pipeline.size(); ++i) {
    EXPECT_EQ(std::string(2 * stats.ops[i].depth, ' ') + stats.ops[i].name, pipeline[i]);
  }
  EXPECT_EQ(Op(stats, "range(start=0, stop=100, step=1)").elements, 100);
  EXPECT_EQ(Op(stats, "filter(predicate=even)").elements, 50);  // the op before: 2x
  EXPECT_EQ(Op(stats, "map(fn=square)").elements, 50);
  EXPECT_EQ(stats.ops[0].elements, 5);
  EXPECT_EQ(stats.elements, 5);
  // Fewer calls than the warm-up: every call timed, and times add up along the chain.
  for (const OpStats& op : stats.ops) {
    EXPECT_GE(op.wait_seconds, op.seconds) << op.name;
    EXPECT_GT(op.wait_seconds, 0) << op.name;
  }
  EXPECT_EQ(stats.next_seconds, stats.ops[0].wait_seconds);
  EXPECT_LE(stats.input_bound, 1.0);
}

// Ops read by index for the op above them (a global shuffle takes its input's elements by
// position) run no iterator: they say so rather than look idle.
TEST(ChainsStatsTest, OpsReadByIndexSayTheyRanNoIterator) {
  auto ds = Batch(GlobalShuffle(Map(Range(0, 20), SquareFn, {.name = "square"}), 7), 4);
  auto it = ds->MakeIterator();
  while (it->GetNext()) {
  }
  IteratorStats stats = it->Stats();
  EXPECT_TRUE(Op(stats, "batch(batch_size=4, drop_remainder=false)").iterated);
  EXPECT_EQ(Op(stats, "batch(batch_size=4, drop_remainder=false)").elements, 5);
  EXPECT_FALSE(Op(stats, "map(fn=square)").iterated);
  EXPECT_EQ(Op(stats, "map(fn=square)").elements, 0);
  EXPECT_FALSE(Op(stats, "range(start=0, stop=20, step=1)").iterated);
  // Iterated, every op says so.
  auto chain = Batch(Map(Range(0, 20), SquareFn, {.name = "square"}), 4)->MakeIterator();
  chain->GetNext();
  for (const OpStats& op : chain->Stats().ops) EXPECT_TRUE(op.iterated) << op.name;
}

// An iterator a restore makes (concatenate's second input, where the state was) counts for its
// op as one made by the first GetNext does.
TEST(ChainsStatsTest, IteratorsARestoreMakesCountForTheirOps) {
  auto ds = Concatenate(Map(Range(0, 3), SquareFn, {.name = "first"}),
                        Map(Range(0, 10), SquareFn, {.name = "second"}));
  auto it = ds->MakeIterator();
  for (int i = 0; i < 4; ++i) it->GetNext();
  auto restored = ds->MakeIterator();
  restored->Restore(it->Save());
  while (restored->GetNext()) {
  }
  IteratorStats stats = restored->Stats();
  EXPECT_TRUE(Op(stats, "map(fn=second)").iterated);
  EXPECT_EQ(Op(stats, "map(fn=second)").elements, 9);
  EXPECT_EQ(Op(stats, "range(start=0, stop=10, step=1)").elements, 9);
  EXPECT_EQ(Op(stats, "map(fn=first)").elements, 0);
}

TEST(ChainsStatsTest, RepeatAddsEveryEpochToTheSameOps) {
  auto it = Repeat(Map(Range(0, 5), SquareFn, {.name = "square"}), 3)->MakeIterator();
  while (it->GetNext()) {
  }
  IteratorStats stats = it->Stats();
  ASSERT_EQ(stats.ops.size(), 3u);
  EXPECT_EQ(stats.ops[0].elements, 15);
  EXPECT_EQ(stats.ops[1].elements, 15);  // three iterators of map, one after the other
  EXPECT_EQ(stats.ops[2].elements, 15);
}

TEST(ChainsStatsTest, TheSummaryNamesTheSlowOp) {
  // Sequential: the sleep is map(fn=sleepy)'s own time, not batch's nor the fast map's.
  auto ds = Batch(Map(Map(Range(0, 12), Sleepy, {.name = "sleepy"}), SquareFn, {.name = "square"}),
                  4);
  auto it = ds->MakeIterator();
  while (it->GetNext()) {
  }
  IteratorStats stats = it->Stats();
  EXPECT_GE(Op(stats, "map(fn=sleepy)").seconds, 0.02);
  EXPECT_NE(stats.summary.find("waiting on map(fn=sleepy) ("), std::string::npos) << stats.summary;
  EXPECT_NE(stats.summary.find("; 3 elements"), std::string::npos) << stats.summary;

  // Threaded: the function runs on the workers, the consumer waits in prefetch; still named.
  auto threaded = Prefetch(Map(Range(0, 12), Sleepy, {.name = "sleepy"}, 2), 4);
  auto pit = threaded->MakeIterator();
  while (pit->GetNext()) {
  }
  stats = pit->Stats();
  const OpStats& map = Op(stats, "map(fn=sleepy)");
  EXPECT_EQ(map.threads, 2);
  EXPECT_GE(map.seconds, 0.02);
  EXPECT_EQ(map.buffer_capacity, 32);  // its window
  EXPECT_EQ(stats.ops[0].buffer_capacity, 4);
  EXPECT_LE(stats.ops[0].buffer_average, 4.0);
  EXPECT_EQ(stats.ops[0].buffer_current, 0);  // drained
  EXPECT_LT(stats.ops[0].seconds, map.seconds);  // its waits for the map are not its own time
  EXPECT_NE(stats.summary.find("waiting on map(fn=sleepy) ("), std::string::npos) << stats.summary;
}

TEST(ChainsStatsTest, ShuffleReportsItsBufferAndInnerDatasetsAreNotOps) {
  auto ds = FlatMap(Shuffle(Range(0, 40), 8, 3),
                    [](const Element& e) { return Range(0, e.tensor().scalar<int64_t>() % 3); },
                    {.name = "small"});
  auto it = ds->MakeIterator();
  int64_t n = 0;
  while (it->GetNext()) ++n;
  IteratorStats stats = it->Stats();
  ASSERT_EQ(stats.ops.size(), 3u);  // flat_map, shuffle, range: not the inner ranges
  EXPECT_EQ(stats.ops[0].elements, n);
  EXPECT_EQ(stats.ops[1].elements, 40);
  EXPECT_EQ(stats.ops[1].buffer_capacity, 8);
  EXPECT_EQ(stats.ops[1].buffer_current, 0);
  EXPECT_GT(stats.ops[1].buffer_average, 4.0);  // full but for the drain
  EXPECT_EQ(stats.ops[2].elements, 40);
}

TEST(ChainsStatsTest, StatsAreNotState) {
  auto ds = Batch(Filter(Range(0, 50), IsEven, {.name = "even"}), 4);
  auto a = ds->MakeIterator();
  auto b = ds->MakeIterator();
  for (int i = 0; i < 3; ++i) {
    a->GetNext();
    b->GetNext();
  }
  a->Stats();
  EXPECT_EQ(a->Save(), b->Save());
  auto restored = ds->MakeIterator();
  restored->Restore(a->Save());
  EXPECT_EQ(restored->Stats().ops[0].elements, 0);  // counted from the restore on
  restored->GetNext();
  EXPECT_EQ(restored->Stats().ops[0].elements, 1);
}

}  // namespace
}  // namespace inputpipe
