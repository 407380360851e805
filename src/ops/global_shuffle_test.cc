// global_shuffle: a permutation per epoch, reproducible from the seed, different per epoch,
// statistically uniform; exact resumption with a seed that survives a restore.
#include <gtest/gtest.h>

#include <cmath>

#include "ops/reorder_test_util.h"
#include "testing/expect_error.h"

namespace inputpipe {
namespace {

using reorder_test::Ints;
using reorder_test::Iota;
using reorder_test::Sorted;
using testing::Collect;
using testing::CollectFrom;
using testing::ExpectExactResume;

TEST(GlobalShuffleTest, EachEpochIsAPermutation) {
  for (int64_t n : {0, 1, 2, 3, 10, 17, 1000, 4097}) {
    auto ds = GlobalShuffle(Range(0, n), 42);
    for (int epoch = 0; epoch < 3; ++epoch) {
      EXPECT_EQ(Sorted(Ints(Collect(ds))), Iota(n)) << n;
    }
    EXPECT_EQ(ds->Cardinality(), n);
  }
}

TEST(GlobalShuffleTest, ReproducibleFromTheSeedAndDifferentPerEpoch) {
  auto a = GlobalShuffle(Range(0, 500), 7);
  auto b = GlobalShuffle(Range(0, 500), 7);
  std::vector<std::vector<int64_t>> epochs;
  for (int epoch = 0; epoch < 4; ++epoch) {
    std::vector<int64_t> from_a = Ints(Collect(a));
    EXPECT_EQ(from_a, Ints(Collect(b))) << "epoch " << epoch;
    EXPECT_NE(from_a, Iota(500));
    for (const auto& earlier : epochs) EXPECT_NE(from_a, earlier) << "epoch " << epoch;
    epochs.push_back(from_a);
  }
  EXPECT_NE(Ints(Collect(GlobalShuffle(Range(0, 500), 8))), epochs[0]);
  // Without reshuffling, every iteration is the same permutation, and Get agrees with it.
  auto fixed = GlobalShuffle(Range(0, 100), 7, /*reshuffle_each_iteration=*/false);
  std::vector<int64_t> first = Ints(Collect(fixed));
  EXPECT_EQ(Ints(Collect(fixed)), first);
  for (int64_t i = 0; i < 100; ++i) EXPECT_EQ(fixed->Get(i).tensor().scalar<int64_t>(), first[i]);
  EXPECT_TRUE(fixed->IsRandomAccess());
}

TEST(GlobalShuffleTest, NeedsARandomAccessInputAndSaysWhichOpIsNot) {
  testing::ExpectError<InvalidArgumentError>(
      [] {
        GlobalShuffle(Map(reorder_test::Seq(10), reorder_test::SlowSquare(0), {.name = "sq"}), 1);
      },
      {"sequential_range(n=10) is not random-access"});
  EXPECT_NO_THROW(GlobalShuffle(Map(Range(0, 10), reorder_test::SlowSquare(0)), 1));
}

TEST(GlobalShuffleTest, ResumesExactly) {
  ExpectExactResume(GlobalShuffle(Range(0, 300), 5, false));
  ExpectExactResume(GlobalShuffle(Range(0, 300), std::nullopt, false));
  ExpectExactResume(
      Batch(GlobalShuffle(Map(Range(0, 90), reorder_test::SlowSquare(0)), 3, false), 4));
}

TEST(GlobalShuffleTest, RandomSeedTravelsInTheState) {
  // Two datasets built the same way without a seed (as in two processes) pick different seeds
  // but have the same fingerprint; a state of one restores into the other.
  auto first = GlobalShuffle(Range(0, 200));
  auto second = GlobalShuffle(Range(0, 200));
  EXPECT_EQ(first->Pipeline(), second->Pipeline());
  EXPECT_NE(Ints(Collect(first)), Ints(Collect(second)));
  auto it = first->MakeIterator();
  CollectFrom(*it, 37);
  std::string state = it->Save();
  auto restored = second->MakeIterator();
  restored->Restore(state);
  EXPECT_EQ(Ints(CollectFrom(*restored)), Ints(CollectFrom(*it)));
}

TEST(GlobalShuffleTest, ReshuffledEpochsResumeInAFreshProcess) {
  auto original = GlobalShuffle(Range(0, 100), 11);
  std::vector<int64_t> epoch0 = Ints(Collect(original));
  auto it = original->MakeIterator();  // epoch 1
  std::vector<int64_t> head = Ints(CollectFrom(*it, 30));
  std::string state = it->Save();
  std::vector<int64_t> tail = Ints(CollectFrom(*it));
  std::vector<int64_t> epoch2 = Ints(Collect(original));

  auto fresh = GlobalShuffle(Range(0, 100), 11);  // a new process builds the same pipeline
  auto restored = fresh->MakeIterator();
  restored->Restore(state);
  EXPECT_EQ(Ints(CollectFrom(*restored)), tail);
  EXPECT_EQ(Ints(Collect(fresh)), epoch2);  // the next iteration continues the epoch sequence
  EXPECT_NE(epoch0, epoch2);
}

TEST(GlobalShuffleTest, RepeatReshufflesEachEpochAndResumesInAFreshProcess) {
  auto make = [] { return Repeat(GlobalShuffle(Range(0, 20), 5), 3); };
  std::vector<int64_t> full = Ints(Collect(make()));
  ASSERT_EQ(full.size(), 60u);
  std::vector<std::vector<int64_t>> epochs;
  for (int e = 0; e < 3; ++e) {
    epochs.emplace_back(full.begin() + 20 * e, full.begin() + 20 * (e + 1));
    EXPECT_EQ(Sorted(epochs.back()), Iota(20));
  }
  EXPECT_NE(epochs[0], epochs[1]);
  EXPECT_NE(epochs[1], epochs[2]);
  for (int64_t k : {0, 1, 7, 19, 20, 21, 33, 40, 59, 60}) {
    auto it = make()->MakeIterator();
    CollectFrom(*it, k);
    auto restored = make()->MakeIterator();  // a new process builds the pipeline again
    restored->Restore(it->Save());
    EXPECT_EQ(Ints(CollectFrom(*restored)), std::vector<int64_t>(full.begin() + k, full.end()))
        << k;
  }
}

// Chi-square test of uniformity: over many seeds, how often element e lands at position p.
// For a uniform permutation each cell of the n x n table expects seeds/n; the statistic has
// (n-1)^2 degrees of freedom. Critical value at p = 0.001 from the Wilson-Hilferty
// approximation of the chi-square quantile.
double ChiSquareCritical(double dof, double z = 3.090232) {  // z = Phi^-1(0.999)
  double a = 2.0 / (9.0 * dof);
  return dof * std::pow(1.0 - a + z * std::sqrt(a), 3);
}

TEST(GlobalShuffleTest, PositionsAreUniformOverSeeds) {
  for (int64_t n : {4, 10, 13}) {
    const int64_t seeds = 20000;
    std::vector<std::vector<int64_t>> counts(n, std::vector<int64_t>(n, 0));
    for (int64_t seed = 0; seed < seeds; ++seed) {
      std::vector<int64_t> order = Ints(Collect(GlobalShuffle(Range(0, n), seed)));
      for (int64_t p = 0; p < n; ++p) ++counts[order[p]][p];
    }
    double expected = static_cast<double>(seeds) / n, chi2 = 0;
    for (const auto& row : counts) {
      for (int64_t c : row) chi2 += (c - expected) * (c - expected) / expected;
    }
    double dof = static_cast<double>((n - 1) * (n - 1));
    double critical = ChiSquareCritical(dof);
    std::cout << "global_shuffle uniformity n=" << n << ": chi2=" << chi2 << " (dof " << dof
              << ", critical " << critical << " at p=0.001)\n";
    EXPECT_LT(chi2, critical) << "n=" << n;
  }
  // The epochs of one seed are uniform too.
  const int64_t n = 10, epochs = 20000;
  std::vector<std::vector<int64_t>> counts(n, std::vector<int64_t>(n, 0));
  auto ds = GlobalShuffle(Range(0, n), 3);
  for (int64_t e = 0; e < epochs; ++e) {
    std::vector<int64_t> order = Ints(Collect(ds));
    for (int64_t p = 0; p < n; ++p) ++counts[order[p]][p];
  }
  double expected = static_cast<double>(epochs) / n, chi2 = 0;
  for (const auto& row : counts) {
    for (int64_t c : row) chi2 += (c - expected) * (c - expected) / expected;
  }
  EXPECT_LT(chi2, ChiSquareCritical(81)) << chi2;
}

TEST(GlobalShuffleTest, StateIsEpochPositionAndSeed) {
  auto it = GlobalShuffle(Range(0, 1000000), 1)->MakeIterator();
  CollectFrom(*it, 500);
  EXPECT_LT(it->Save().size(), 200u);
}

}  // namespace
}  // namespace inputpipe
