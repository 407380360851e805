// map(fn, seed): fn(element, ElementRng) with a counter-based stream keyed by (seed, position).
// The draws are a pure function of the element's position in map's input: the same on replay,
// with any thread count, and after a restore in another iterator; a map without a seed saves
// the bytes it saved before seeds existed.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

#include "ops/ops_test_util.h"
#include "ops/reorder_test_util.h"

namespace inputpipe {
namespace {

using testing::Collect;
using testing::CollectFrom;
using testing::ExpectExactResume;
using testing::I64;
using testing::Ints;

// x -> x * 10^6 + a draw in [0, 10^6): the element and its random numbers in one int64.
Element Augment(const Element& e, ElementRng& rng) {
  rng();  // a draw discarded: the stream goes on past it
  return I64(e.tensor().scalar<int64_t>() * 1000000 + rng.Uniform(1000000));
}

std::vector<int64_t> Expected(int64_t n, int64_t seed) {
  std::vector<int64_t> out;
  for (int64_t i = 0; i < n; ++i) {
    ElementRng rng(seed, i);
    out.push_back(Augment(I64(i), rng).tensor().scalar<int64_t>());
  }
  return out;
}

DatasetPtr Seeded(int64_t n, int64_t seed, int64_t threads = 0, bool deterministic = true) {
  return Map(Range(0, n), Augment, seed, {.name = "augment"}, threads, deterministic);
}

TEST(ElementRngTest, IsAPureFunctionOfSeedAndPosition) {
  ElementRng a(7, 3), b(7, 3), other_position(7, 4), other_seed(8, 3);
  std::vector<uint64_t> draws;
  for (int i = 0; i < 4; ++i) {
    uint64_t x = a();
    EXPECT_EQ(x, b());
    EXPECT_NE(x, other_position());
    EXPECT_NE(x, other_seed());
    draws.push_back(x);
  }
  EXPECT_EQ(std::set<uint64_t>(draws.begin(), draws.end()).size(), 4u);  // a stream, not a value
  EXPECT_EQ(a.seed(), 7);
  EXPECT_EQ(a.position(), 3);
}

TEST(ElementRngTest, DrawsArePinnedAcrossVersions) {
  // A change of these values changes every seeded map's output: a conscious format change.
  ElementRng rng(42, 5);
  EXPECT_EQ(rng(), 0xd9f48f412170b09fULL);
  EXPECT_EQ(rng.Uniform(1000), 405);
  EXPECT_DOUBLE_EQ(rng.UniformDouble(), 0.85042044413171525);
}

TEST(ElementRngTest, UniformStaysInRangeAndRejectsAnEmptyRange) {
  ElementRng rng(1, 0);
  std::vector<int> counts(10);
  for (int i = 0; i < 10000; ++i) {
    int64_t v = rng.Uniform(10);
    ASSERT_GE(v, 0);
    ASSERT_LT(v, 10);
    ++counts[v];
    double d = rng.UniformDouble();
    ASSERT_GE(d, 0.0);
    ASSERT_LT(d, 1.0);
  }
  for (int c : counts) EXPECT_GT(c, 800);  // roughly uniform
  testing::ExpectInvalidArgument([&] { rng.Uniform(0); }, {"ElementRng", "n must be > 0"});
}

TEST(RandomMapTest, CallsFnWithTheRngOfSeedAndPosition) {
  EXPECT_EQ(Ints(Seeded(50, 7)), Expected(50, 7));
  EXPECT_EQ(Ints(Seeded(50, 7)), Ints(Seeded(50, 7)));
  EXPECT_NE(Ints(Seeded(50, 7)), Ints(Seeded(50, 8)));
  // Get(i) draws what the i-th element of an iteration draws.
  testing::ExpectGetMatchesIteration(Seeded(50, 7));
}

TEST(RandomMapTest, SameDrawsAtEveryThreadCount) {
  for (int64_t threads : {1, 2, 4, 8}) {
    EXPECT_EQ(Ints(Seeded(300, 7, threads)), Expected(300, 7)) << threads << " threads";
    // Completion order: each element still draws its own numbers.
    EXPECT_EQ(reorder_test::Sorted(Ints(Seeded(300, 7, threads, false))), Expected(300, 7))
        << threads << " threads, deterministic=false";
  }
}

TEST(RandomMapTest, ResumesExactlyIncludingTheDraws) {
  ExpectExactResume(Seeded(40, 7));
  for (int64_t threads : {1, 2, 4}) ExpectExactResume(Seeded(120, 7, threads));
  ExpectExactResume(Batch(Seeded(60, 3, 2), 4));
  for (int64_t k : {0, 1, 2, 7, 50, 119, 120}) {
    reorder_test::ExpectExactlyOnceAcrossSave(Seeded(120, 7, 4, false), Expected(120, 7), k);
  }
}

TEST(RandomMapTest, StateRestoresAcrossThreadCounts) {
  // Saved at every k by one thread count, restored into another: the same continuation.
  std::vector<int64_t> all = Expected(60, 5);
  for (int64_t saver : {0, 1, 4}) {
    for (int64_t restorer : {0, 2, 4}) {
      for (int64_t k = 0; k <= 60; k += 7) {
        auto it = Seeded(60, 5, saver)->MakeIterator();
        for (int64_t i = 0; i < k; ++i) ASSERT_TRUE(it->GetNext());
        std::string state = it->Save();
        auto restored = Seeded(60, 5, restorer)->MakeIterator();
        restored->Restore(state);
        EXPECT_EQ(reorder_test::Ints(CollectFrom(*restored)),
                  std::vector<int64_t>(all.begin() + k, all.end()))
            << "saved by " << saver << " threads at " << k << ", restored into " << restorer;
      }
    }
  }
}

TEST(RandomMapTest, SeedIsPartOfTheFingerprint) {
  EXPECT_EQ(Seeded(10, 7)->Pipeline(), std::vector<std::string>({"map(fn=augment, seed=7)",
                                                                 "  range(start=0, stop=10, "
                                                                 "step=1)"}));
  // A deterministic parallel map is map, seed included.
  EXPECT_EQ(Seeded(10, 7, 4)->Pipeline(), Seeded(10, 7)->Pipeline());
  auto it = Seeded(10, 7)->MakeIterator();
  it->GetNext();
  std::string state = it->Save();
  testing::ExpectError<PipelineMismatchError>(
      [&] { Seeded(10, 8)->MakeIterator()->Restore(state); }, {"seed=7", "seed=8"});
  // Past the change: the saved position, the new seed's draws.
  std::vector<std::string> warnings;
  auto changed = Seeded(10, 8)->MakeIterator();
  changed->Restore(state, RestoreOptions{.allow_changes = true}, &warnings);
  std::vector<int64_t> expected = Expected(10, 8);
  EXPECT_EQ(reorder_test::Ints(CollectFrom(*changed)),
            std::vector<int64_t>(expected.begin() + 1, expected.end()));
  EXPECT_EQ(warnings.size(), 1u);
}

TEST(RandomMapTest, PositionCountsAcrossRepeatWhenMapIsAfterIt) {
  // After repeat: one stream, new draws each epoch. Before repeat: each repetition is a new
  // iterator of map, so the same draws each epoch.
  std::vector<int64_t> after = Ints(Map(Repeat(Range(0, 5), 2), Augment, 7, {.name = "a"}));
  std::vector<int64_t> before = Ints(Repeat(Seeded(5, 7), 2));
  ASSERT_EQ(after.size(), 10u);
  ASSERT_EQ(before.size(), 10u);
  EXPECT_EQ(std::vector<int64_t>(before.begin(), before.begin() + 5),
            std::vector<int64_t>(before.begin() + 5, before.end()));
  EXPECT_NE(std::vector<int64_t>(after.begin(), after.begin() + 5),
            std::vector<int64_t>(after.begin() + 5, after.end()));
  ExpectExactResume(Map(Repeat(Range(0, 5), 3), Augment, 7, {.name = "a"}));
  ExpectExactResume(Repeat(Seeded(5, 7, 2), 3));
}

// Range(0, n) whose elements in `bad` raise (and are dropped, as a reader drops a bad record):
// a DataLossError, or with `plain` an exception that is no inputpipe::Error (what a Python
// exception is to the engine).
DatasetPtr Faulty(int64_t n, std::set<int64_t> bad, bool plain = false) {
  return Map(Range(0, n),
             [bad, plain](const Element& e) {
               if (bad.count(e.tensor().scalar<int64_t>())) {
                 if (plain) throw std::runtime_error("bad record");
                 throw DataLossError("bad record");
               }
               return e;
             },
             {.name = "faulty"});
}

// The elements, with -1 for each error, skipping the errors.
std::vector<int64_t> SkippingErrors(Iterator& it) {
  std::vector<int64_t> out;
  while (true) {
    try {
      std::optional<Element> e = it.GetNext();
      if (!e) return out;
      out.push_back(e->tensor().scalar<int64_t>());
    } catch (const std::exception&) {
      out.push_back(-1);
    }
  }
}

TEST(RandomMapTest, AnInputErrorTakesAPositionInSequentialAndParallelMap) {
  std::vector<int64_t> expected = Expected(20, 7);
  expected[3] = expected[11] = -1;
  for (bool plain : {false, true})
  for (int64_t threads : {0, 1, 3}) {
    SCOPED_TRACE(plain ? "a plain exception" : "a DataLossError");
    auto ds = Map(Faulty(20, {3, 11}, plain), Augment, 7, {.name = "augment"}, threads);
    auto it = ds->MakeIterator();
    EXPECT_EQ(SkippingErrors(*it), expected) << threads << " threads";
    // Saved after an error by one, restored into the other.
    for (int64_t restorer : {0, 3}) {
      auto saver = ds->MakeIterator();
      std::vector<int64_t> head;
      for (int i = 0; i < 5; ++i) {
        try {
          head.push_back(saver->GetNext()->tensor().scalar<int64_t>());
        } catch (const std::exception&) {
          head.push_back(-1);
        }
      }
      auto restored = Map(Faulty(20, {3, 11}, plain), Augment, 7, {.name = "augment"}, restorer)
                          ->MakeIterator();
      restored->Restore(saver->Save());
      std::vector<int64_t> rest = SkippingErrors(*restored);
      head.insert(head.end(), rest.begin(), rest.end());
      EXPECT_EQ(head, expected) << "saved by " << threads << ", restored into " << restorer;
    }
  }
}

TEST(RandomMapTest, TheStateHasThePositionOnlyWhenSeeded) {
  auto it = Seeded(10, 7, 2)->MakeIterator();
  for (int i = 0; i < 4; ++i) it->GetNext();
  DecodedState decoded = DecodeState(it->Save());
  ASSERT_EQ(decoded.root.ints.size(), 1u);
  EXPECT_EQ(decoded.root.ints[0], std::make_pair(std::string("position"), int64_t{4}));

  auto plain = Map(Range(0, 10), testing::SquareFn, {.name = "sq"}, 2)->MakeIterator();
  for (int i = 0; i < 4; ++i) plain->GetNext();
  EXPECT_TRUE(DecodeState(plain->Save()).root.ints.empty());
}

TEST(RandomMapTest, ACorruptPositionIsDataLoss) {
  auto it = Seeded(10, 7)->MakeIterator();
  it->GetNext();
  DecodedState decoded = DecodeState(it->Save());
  decoded.root.ints[0].second = -3;
  std::string corrupt = EncodeState(decoded.pipeline, decoded.root);
  testing::ExpectError<DataLossError>([&] { Seeded(10, 7)->MakeIterator()->Restore(corrupt); },
                                      {"map(fn=augment, seed=7)", "position -3"});
}

// A state of tests/data/states/v1 (state_compat_test.cc): beside the source tree or above the
// working directory.
std::string Fixture(const std::string& name) {
  std::filesystem::path path = std::filesystem::path("tests/data/states/v1") / name;
  std::filesystem::path dir = std::filesystem::current_path();
  for (int i = 0; i < 6 && !std::filesystem::exists(dir / path); ++i) dir = dir.parent_path();
  path = dir / path;
  std::ifstream f(path, std::ios::binary);
  EXPECT_TRUE(f.good()) << "cannot read " << path;
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST(RandomMapTest, AMapWithoutSeedSavesTheBytesOfTheFirstVersion) {
  // The cases "map" and "parallel_map" of state_compat_test.cc, saved at the same steps.
  auto map = Map(Range(0, 40), testing::SquareFn, {.name = "square"})->MakeIterator();
  for (int i = 0; i < 5; ++i) map->GetNext();
  EXPECT_EQ(map->Save(), Fixture("map-5.state"));
  // That version named a deterministic parallel map "parallel_map"; today it is "map", with the
  // same node: the input's state and nothing else.
  auto parallel = Map(Range(0, 60), testing::SquareFn, {.name = "sq"}, 3)->MakeIterator();
  for (int i = 0; i < 2; ++i) parallel->GetNext();
  StateNode today = DecodeState(parallel->Save()).root;
  StateNode old = DecodeState(Fixture("parallel_map-2.state")).root;
  EXPECT_TRUE(today.ints.empty());
  EXPECT_TRUE(today.blobs.empty());
  EXPECT_EQ(today.ints, old.ints);
  ASSERT_EQ(today.children.size(), 1u);
  ASSERT_EQ(old.children.size(), 1u);
  EXPECT_EQ(today.children[0].ints, old.children[0].ints);
  auto sequential = Map(Range(0, 60), testing::SquareFn, {.name = "sq"})->MakeIterator();
  for (int i = 0; i < 2; ++i) sequential->GetNext();
  EXPECT_EQ(parallel->Save(), sequential->Save());
}

}  // namespace
}  // namespace inputpipe
