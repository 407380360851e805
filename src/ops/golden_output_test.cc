// Deterministic output pinned across versions: the first elements of every op whose order
// comes from a seed or from an interleaving algorithm (shuffle, global_shuffle, random,
// sample_from_datasets, interleave sequential and parallel), for fixed seeds, as literals.
//
// A state holds positions, not data: a checkpoint resumes exactly only if the new version
// produces the same order from the same seed. So these orders are part of the format. A change
// to any list below is a format change: make it on purpose, say so in docs/state_format.md
// ("Pinned orders"), and note that states saved before it resume into a different order.
// Never "fix" this test by pasting new values without that.
//
// To print the current values (only after such a documented change):
//
//   INPUTPIPE_PRINT_GOLDEN=1 ./build/cpp/inputpipe_tests --gtest_filter='GoldenOutputTest.*'
//
// (as Grain's cross-version determinism test, grain/_src/python/dataset/transformations/
// shuffle_test.py).
#include <gtest/gtest.h>

#include <cstdlib>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "ops/ops_test_util.h"

namespace inputpipe {
namespace {

constexpr int64_t kFirst = 20;

// x -> x*10, x*10+1, ..., x*10+x-1: inner datasets of different lengths.
DatasetPtr Tens(const Element& e) {
  const int64_t x = e.tensor().scalar<int64_t>();
  return Range(x * 10, x * 10 + x);
}

struct Golden {
  std::string name;
  std::function<DatasetPtr()> make;
  std::vector<int64_t> first;  // the first kFirst elements (all of them if fewer)
};

const std::vector<Golden>& Goldens() {
  static const auto* goldens = new std::vector<Golden>{
      {"shuffle",
       [] { return Shuffle(Range(0, 100), 10, 42); },
       {7, 6, 11, 9, 5, 3, 4, 14, 16, 13, 8, 20, 21, 22, 17, 1, 19, 26, 15, 25}},
      // Two epochs of a reshuffled buffer: the second epoch's order is pinned too.
      {"shuffle_two_epochs",
       [] { return Repeat(Shuffle(Range(0, 10), 4, 7), 2); },
       {3, 0, 4, 1, 5, 6, 9, 7, 8, 2, 1, 3, 0, 2, 7, 8, 9, 6, 5, 4}},
      {"global_shuffle",
       [] { return GlobalShuffle(Range(0, 100), 42); },
       {32, 63, 38, 62, 35, 97, 86, 57, 83, 48, 42, 79, 95, 13, 52, 59, 44, 1, 80, 40}},
      {"global_shuffle_two_epochs",
       [] { return Repeat(GlobalShuffle(Range(0, 10), 7), 2); },
       {0, 9, 8, 2, 1, 6, 5, 3, 7, 4, 5, 3, 9, 8, 7, 2, 6, 0, 4, 1}},
      {"random",
       [] { return RandomDataset(42); },
       {-4388923742644295385, 4837693063780481290,  -4314678005375894060, -7705349351207823146,
        -916125173980500773,  -8479103042781022951, 6084013254880952783,  -3577097432185229729,
        -6137974704352134766, -3497691088187810164, 2491136570202838693,  -624323698075160895,
        7351267218344375255,  -1766644548018097420, 5892211866991676364,  -2545783760783226919,
        -9104485017749759102, -6515983697785923047, -2675783726715721305, 4234424197697992239}},
      {"sample_from_datasets",
       [] {
         return SampleFromDatasets({Range(0, 100), Range(1000, 1100), Range(2000, 2100)},
                                   {0.5, 0.3, 0.2}, 42);
       },
       {1000, 0, 1001, 1, 2000, 2, 2001, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 2002, 1002, 2003}},
      {"interleave",
       [] { return Interleave(Range(1, 7), Tens, 3, 2); },
       {10, 20, 21, 30, 31, 40, 41, 32, 42, 43, 50, 51, 60, 61, 52, 53, 62, 63, 54, 64}},
      {"parallel_interleave",
       [] { return Interleave(Range(1, 7), Tens, 3, 2, /*num_parallel_calls=*/3); },
       {10, 20, 21, 30, 31, 40, 41, 32, 42, 43, 50, 51, 60, 61, 52, 53, 62, 63, 54, 64}},
  };
  return *goldens;
}

TEST(GoldenOutputTest, FirstElementsAreThoseOfTheFirstVersion) {
  const bool print = std::getenv("INPUTPIPE_PRINT_GOLDEN") != nullptr;
  for (const Golden& g : Goldens()) {
    SCOPED_TRACE(g.name);
    const std::vector<int64_t> got = testing::Ints(g.make(), kFirst);
    if (print) {
      std::cout << "      // " << g.name << "\n      {";
      for (size_t i = 0; i < got.size(); ++i) std::cout << (i ? ", " : "") << got[i];
      std::cout << "},\n";
      continue;
    }
    EXPECT_EQ(got, g.first) << "the order of '" << g.name << "' changed: a format change (see "
                            << "this file's banner)";
  }
}

// The parallel form pins the same order as the sequential one, at any thread count.
TEST(GoldenOutputTest, ParallelInterleaveHasTheSequentialOrderAtEveryThreadCount) {
  const std::vector<int64_t> sequential = testing::Ints(Interleave(Range(1, 7), Tens, 3, 2));
  for (int64_t threads : {int64_t{1}, int64_t{2}, int64_t{8}, kAutotune}) {
    EXPECT_EQ(testing::Ints(Interleave(Range(1, 7), Tens, 3, 2, threads)), sequential) << threads;
  }
}

}  // namespace
}  // namespace inputpipe
