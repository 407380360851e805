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

// rerandomize_each_iteration: each epoch under repeat draws another stream (epoch 0 the stream
// without it), and a save anywhere, also at and across an epoch boundary, restores into a fresh
// process's pipeline and continues with the later epochs' streams.
TEST(RandomTest, RerandomizeEachIterationDrawsAnotherStreamPerEpochAndResumes) {
  auto make = [](bool rerandomize) { return Repeat(Take(RandomDataset(5, rerandomize), 10), 3); };
  std::vector<int64_t> full = Ints(Collect(make(true)));
  ASSERT_EQ(full.size(), 30u);
  std::vector<int64_t> e0(full.begin(), full.begin() + 10),
      e1(full.begin() + 10, full.begin() + 20), e2(full.begin() + 20, full.end());
  EXPECT_NE(e0, e1);
  EXPECT_NE(e1, e2);
  EXPECT_EQ(e0, Ints(Collect(RandomDataset(5), 10)));
  std::vector<int64_t> same = Ints(Collect(make(false)));
  EXPECT_EQ(std::vector<int64_t>(same.begin(), same.begin() + 10),
            std::vector<int64_t>(same.begin() + 10, same.begin() + 20));
  // Two iterators of one dataset: the second is the next iteration.
  DatasetPtr once = Take(RandomDataset(5, true), 10);
  EXPECT_EQ(Ints(Collect(once)), e0);
  EXPECT_EQ(Ints(Collect(once)), e1);
  EXPECT_FALSE(RandomDataset(5, true)->IsRandomAccess());
  reorder_test::ExpectRestoresAt([&] { return make(true); }, full,
                                 {0, 1, 9, 10, 11, 19, 20, 29, 30});
  // The argument is part of the fingerprint only when set: states of the default restore as
  // before, and one of the other kind is refused.
  EXPECT_EQ(RandomDataset(5)->Signature(), "random(seed=5)");
  auto plain = make(false)->MakeIterator();
  CollectFrom(*plain, 3);
  EXPECT_THROW(make(true)->MakeIterator()->Restore(plain->Save()), PipelineMismatchError);
}

}  // namespace
}  // namespace inputpipe
