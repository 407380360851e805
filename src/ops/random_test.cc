// random(seed): reproducible int64 stream, random-access, seed and counter as state.
#include <gtest/gtest.h>

#include <set>

#include "ops/reorder_test_util.h"

namespace inputpipe {
namespace {

using reorder_test::Ints;
using testing::Collect;
using testing::CollectFrom;

TEST(RandomTest, ReproducibleDistinctAndRandomAccess) {
  auto a = RandomDataset(5), b = RandomDataset(5), c = RandomDataset(6);
  std::vector<int64_t> first = Ints(Collect(a, 1000));
  EXPECT_EQ(first, Ints(Collect(b, 1000)));
  EXPECT_EQ(first, Ints(Collect(a, 1000)));  // every iteration the same stream
  EXPECT_NE(first, Ints(Collect(c, 1000)));
  EXPECT_EQ(std::set<int64_t>(first.begin(), first.end()).size(), 1000u);
  EXPECT_EQ(a->Cardinality(), kInfiniteCardinality);
  EXPECT_TRUE(a->IsRandomAccess());
  EXPECT_EQ(a->Get(123).tensor().scalar<int64_t>(), first[123]);
  // Roughly half the values are negative, half of the low bits are set: all 64 bits random.
  int negative = 0, odd = 0;
  for (int64_t v : first) {
    negative += v < 0;
    odd += v & 1;
  }
  EXPECT_GT(negative, 400);
  EXPECT_LT(negative, 600);
  EXPECT_GT(odd, 400);
  EXPECT_LT(odd, 600);
}

TEST(RandomTest, ResumesExactly) {
  testing::ExactnessOptions options;
  options.max_elements = 300;
  testing::ExpectExactResume(RandomDataset(9), options);
  testing::ExpectExactResume(RandomDataset(), options);
}

TEST(RandomTest, UnseededSeedTravelsInTheState) {
  auto first = RandomDataset(), second = RandomDataset();
  EXPECT_EQ(first->Pipeline(), second->Pipeline());
  auto it = first->MakeIterator();
  CollectFrom(*it, 10);
  auto restored = second->MakeIterator();
  restored->Restore(it->Save());
  EXPECT_EQ(Ints(CollectFrom(*restored, 50)), Ints(CollectFrom(*it, 50)));
}

}  // namespace
}  // namespace inputpipe
