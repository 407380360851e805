// prefetch(buffer_size): same stream as its input; saves report the consumer's position,
// never wait for the producer, never hold buffered elements.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "ops/reorder_test_util.h"

namespace inputpipe {
namespace {

using reorder_test::Ints;
using reorder_test::Seq;
using reorder_test::SlowSquare;
using testing::Collect;
using testing::ExpectExactResume;

TEST(PrefetchTest, PassesTheInputThrough) {
  for (int64_t size : std::vector<int64_t>{0, 1, 3, 64, kAutotune}) {
    auto ds = Prefetch(Seq(100), size);
    EXPECT_EQ(Ints(Collect(ds)), reorder_test::Iota(100)) << size;
    EXPECT_EQ(ds->Cardinality(), 100);
  }
  EXPECT_TRUE(Prefetch(Range(0, 5), 2)->IsRandomAccess());
  EXPECT_EQ(Prefetch(Range(0, 5), 2)->Get(3).tensor().scalar<int64_t>(), 3);
  EXPECT_THROW(Prefetch(Range(0, 5), -3), InvalidArgumentError);
}

TEST(PrefetchTest, ResumesExactly) {
  for (int64_t size : std::vector<int64_t>{0, 1, 2, 16, kAutotune}) {
    SCOPED_TRACE(size);
    ExpectExactResume(Prefetch(Seq(40), size));
    ExpectExactResume(Prefetch(Map(Seq(40), SlowSquare(30), {.name = "square"}), size));
    ExpectExactResume(Prefetch(Prefetch(Map(Seq(40), SlowSquare(30), {.name = "sq"}, 3), size), 2));
  }
}

// AUTOTUNE: a buffer that was full and still ran dry (a slow stretch of input) grows; one a
// slow producer never fills stays; the buffered bytes stay under the bound (64 MiB) whatever
// the size. The output is the input's either way.
TEST(PrefetchTest, AutotuneGrowsWhenAFullBufferRunsDryAndBoundsTheBytes) {
  // Runs of 40 quick elements, each run followed by one taking 40 ms; the consumer takes one
  // per millisecond, so it drains a full buffer of 16 during each slow one and waits.
  auto bursty = Map(Seq(124), [](const Element& e) {
    if (e.tensor().scalar<int64_t>() % 41 == 40) {
      std::this_thread::sleep_for(std::chrono::milliseconds(40));
    }
    return e;
  }, {.name = "bursty"});
  auto it = Prefetch(bursty, kAutotune)->MakeIterator();
  for (int64_t i = 0; i < 124; ++i) {
    auto element = it->GetNext();
    ASSERT_TRUE(element);
    EXPECT_EQ(element->tensor().scalar<int64_t>(), i);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_FALSE(it->GetNext());
  EXPECT_GE(it->Stats().ops[0].buffer_capacity, 32);

  // A producer slower than its consumer throughout: the buffer never fills, and stays at 16.
  auto slow = Prefetch(Map(Seq(30), SlowSquare(2000), {.name = "slow"}), kAutotune);
  auto slow_it = slow->MakeIterator();
  while (slow_it->GetNext()) {
  }
  EXPECT_EQ(slow_it->Stats().ops[0].buffer_capacity, 16);

  // Elements of 32 MiB from a quick producer: two reach the bound, so no third is read ahead.
  constexpr int64_t kElements = 1 << 22;  // int64s
  auto big = Map(Seq(10), [](const Element& e) {
    Tensor t = Tensor::Allocate(DType::kInt64, {kElements});
    static_cast<int64_t*>(t.mutable_raw_data())[0] = e.tensor().scalar<int64_t>();
    return Element(std::move(t));
  }, {.name = "big"});
  auto big_it = Prefetch(big, kAutotune)->MakeIterator();
  int64_t most = 0;
  for (int64_t i = 0; i < 10; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the producer runs ahead
    most = std::max(most, big_it->Stats().ops[0].buffer_current);
    auto element = big_it->GetNext();
    ASSERT_TRUE(element);
    EXPECT_EQ(static_cast<const int64_t*>(element->tensor().raw_data())[0], i);
  }
  EXPECT_GE(most, 1);
  EXPECT_LE(most, 2);
}

TEST(PrefetchTest, StateDoesNotDependOnBufferSize) {
  auto it = Prefetch(Seq(50), 1)->MakeIterator();
  testing::CollectFrom(*it, 20);
  std::string state = it->Save();
  auto restored = Prefetch(Seq(50), 30)->MakeIterator();
  restored->Restore(state);
  EXPECT_EQ(Ints(testing::CollectFrom(*restored)), reorder_test::Iota(30, 20));
  // Small whatever was buffered: the state names a position.
  auto big = Prefetch(Seq(100000), 50000)->MakeIterator();
  big->GetNext();
  EXPECT_LT(big->Save().size(), 200u);
}

TEST(PrefetchTest, SaveNeverWaitsForTheProducer) {
  auto release = std::make_shared<std::atomic<bool>>(false);
  auto slow = Map(Range(0, 10),
                  [release](const Element& e) {
                    while (e.tensor().scalar<int64_t>() >= 4 && !release->load())
                      std::this_thread::yield();
                    return e;
                  },
                  {.name = "gate"});
  auto ds = Prefetch(slow, 8);
  auto it = ds->MakeIterator();
  EXPECT_EQ(Ints(testing::CollectFrom(*it, 2)), (std::vector<int64_t>{0, 1}));
  std::string state = it->Save();  // the producer may be blocked reading element 4
  release->store(true);
  auto restored = ds->MakeIterator();
  restored->Restore(state);
  EXPECT_EQ(Ints(testing::CollectFrom(*restored)), reorder_test::Iota(8, 2));
}

TEST(PrefetchTest, ErrorsReachTheConsumerInOrder) {
  auto ds = Prefetch(Map(Range(0, 8),
                         [](const Element& e) {
                           if (e.tensor().scalar<int64_t>() == 3)
                             throw InvalidArgumentError("bad 3");
                           return e;
                         },
                         {.name = "check"}),
                     4);
  auto it = ds->MakeIterator();
  EXPECT_EQ(Ints(testing::CollectFrom(*it, 3)), (std::vector<int64_t>{0, 1, 2}));
  EXPECT_THROW(it->GetNext(), InvalidArgumentError);
  EXPECT_EQ(Ints(testing::CollectFrom(*it)), (std::vector<int64_t>{4, 5, 6, 7}));
}

TEST(PrefetchTest, StressSavesWhileTheProducerIsBusy) {
  std::vector<int64_t> squares;
  for (int64_t i = 0; i < 2000; ++i) squares.push_back(i * i);
  reorder_test::StressSaves(Prefetch(Map(Seq(2000), SlowSquare(15), {.name = "square"}), 8),
                            squares, true, 100, 3);
}

// Stats on a monitoring thread while the training thread takes elements, saves, restores and
// resets (a reset swaps in a fresh tree): TSan checks that the two never race.
TEST(PrefetchTest, StatsMayBeReadOnAnotherThreadAcrossSavesRestoresAndResets) {
  auto ds = Prefetch(Map(Seq(200), SlowSquare(5), {.name = "square"}), 4);
  auto it = ds->MakeIterator();
  std::atomic<bool> done{false};
  std::atomic<int64_t> reads{0};
  std::thread monitor([&] {
    while (!done.load()) {
      IteratorStats stats = it->Stats();
      EXPECT_EQ(stats.ops.size(), 3u);  // prefetch, map, the source
      reads.fetch_add(1);
    }
  });
  for (int round = 0; round < 20; ++round) {
    it->GetNext();
    std::string state = it->Save();
    it->Reset();
    EXPECT_EQ(it->Stats().ops[0].elements, 0);  // a fresh tree counts afresh
    it->Restore(state);
    EXPECT_EQ(it->GetNext()->tensor().scalar<int64_t>(), 1);
    it->Reset();
  }
  done.store(true);
  monitor.join();
  EXPECT_GT(reads.load(), 0);
}

TEST(PrefetchTest, DestroysCleanlyWhileProducing) {
  for (int i = 0; i < 20; ++i) {
    auto it = Prefetch(Map(Range(0, 1000), SlowSquare(50), {}), 4)->MakeIterator();
    it->GetNext();
  }
}

// The producer encodes the input's state as it buffers each element, so that a save, on the
// training thread, copies those bytes instead of copying and encoding the input's tree (out of
// that thread's caches by then): the save's tree holds the pointer the producer made.
TEST(PrefetchTest, SavesSpliceInTheStateTheProducerEncodedAhead) {
  auto ds = Prefetch(Shuffle(Map(Seq(200), SlowSquare(1), {.name = "sq"}), 16, 7), 3);
  auto it = ds->MakeIterator();
  StateNode before = it->SaveNode(/*for_bytes=*/true);  // no thread yet: the input's own tree
  ASSERT_EQ(before.children.size(), 1u);
  EXPECT_EQ(before.children[0].encoded, nullptr);
  EXPECT_EQ(before.children[0].op, "shuffle");

  testing::CollectFrom(*it, 5);
  StateNode for_bytes = it->SaveNode(/*for_bytes=*/true);
  ASSERT_EQ(for_bytes.children.size(), 1u);
  const StateNode& input = for_bytes.children[0];
  ASSERT_NE(input.encoded, nullptr) << "the input's state was not encoded ahead";
  EXPECT_EQ(input.name, "input");
  EXPECT_TRUE(input.op.empty() && input.ints.empty() && input.children.empty());
  // Encoded once, by the producer: a second save hands over the same bytes.
  EXPECT_EQ(it->SaveNode(/*for_bytes=*/true).children[0].encoded.get(), input.encoded.get());

  // The same bytes as the tree an op reading its input's state gets, and the same state.
  StateNode tree = it->SaveNode();
  ASSERT_EQ(tree.children.size(), 1u);
  EXPECT_EQ(tree.children[0].encoded, nullptr);
  EXPECT_EQ(tree.children[0].op, "shuffle");
  EXPECT_EQ(input.encoded->bytes, EncodeStateNode(tree.children[0]).bytes);
  const std::string state = it->Save();
  EXPECT_EQ(state, EncodeState(ds->Pipeline(), tree));
  auto restored = ds->MakeIterator();
  restored->Restore(state);
  EXPECT_EQ(Ints(testing::CollectFrom(*restored)), Ints(testing::CollectFrom(*it)));
}

TEST(PrefetchTest, ExternalStateBelowIsReportedThroughTheEncodedState) {
  auto ds = Prefetch(Map(Seq(50), SlowSquare(1), {.name = "draw", .stateful = true}), 4);
  auto it = ds->MakeIterator();
  testing::CollectFrom(*it, 3);
  ASSERT_NE(it->SaveNode(/*for_bytes=*/true).children[0].encoded, nullptr);
  try {
    it->Save();
    ADD_FAILURE() << "saved a stateful map's pipeline under kFail";
  } catch (const ExternalStateError& e) {
    EXPECT_NE(std::string(e.what()).find("draw"), std::string::npos) << e.what();
  }
  std::vector<std::string> warnings;
  const std::string state = it->Save(ExternalStatePolicy::kWarn, &warnings);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("draw"), std::string::npos) << warnings[0];
  EXPECT_EQ(state, EncodeState(ds->Pipeline(), it->SaveNode()));
}

}  // namespace
}  // namespace inputpipe
