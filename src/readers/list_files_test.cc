// list_files and ignore_errors.
#include <gtest/gtest.h>

#include <set>

#include "inputpipe/readers.h"
#include "readers/readers_test_util.h"

namespace inputpipe {
namespace {

using namespace testing;  // NOLINT: test helpers

TEST(ListFilesTest, SortedWhenNotShuffledAndAPermutationWhenShuffled) {
  TempDir dir;
  for (const char* name : {"c.csv", "a.csv", "b.csv", "b.txt", "d.csv"}) dir.Write(name, "x");
  std::vector<std::string> sorted = {dir.Path("a.csv"), dir.Path("b.csv"), dir.Path("c.csv"),
                                     dir.Path("d.csv")};
  auto plain = ListFiles({dir.Path("*.csv")}, /*shuffle=*/false);
  EXPECT_EQ(Strings(Collect(plain)), sorted);
  EXPECT_TRUE(plain->IsRandomAccess());
  EXPECT_EQ(Strings(Collect(ListFiles({dir.Path("d.*"), dir.Path("a*")}, false))),
            (std::vector<std::string>{dir.Path("a.csv"), dir.Path("d.csv")}));

  auto seeded = ListFiles({dir.Path("*.csv")}, true, 42);
  auto order = Strings(Collect(seeded));
  EXPECT_EQ(std::multiset<std::string>(order.begin(), order.end()),
            std::multiset<std::string>(sorted.begin(), sorted.end()));
  EXPECT_EQ(Strings(Collect(ListFiles({dir.Path("*.csv")}, true, 42))), order);
  std::set<std::vector<std::string>> orders;
  for (int64_t seed = 0; seed < 20; ++seed) {
    orders.insert(Strings(Collect(ListFiles({dir.Path("*.csv")}, true, seed))));
  }
  EXPECT_GT(orders.size(), 5u);
  ExpectExactResume(seeded);
  // No seed: the dataset draws one, and states carry it, so a dataset built again (another
  // process, another seed) resumes the saved order.
  auto unseeded = ListFiles({dir.Path("*.csv")});
  EXPECT_FALSE(unseeded->IsRandomAccess());
  ExpectExactResume(unseeded);
  for (int attempt = 0; attempt < 10; ++attempt) {
    auto it = unseeded->MakeIterator();
    it->GetNext();
    auto rest = Strings(testing::CollectFrom(*it));
    auto again = ListFiles({dir.Path("*.csv")})->MakeIterator();
    auto saved = unseeded->MakeIterator();
    saved->GetNext();
    again->Restore(saved->Save());
    EXPECT_EQ(Strings(testing::CollectFrom(*again)), rest);
  }
  try {
    ListFiles({dir.Path("*.parquet")});
    FAIL();
  } catch (const InvalidArgumentError& e) {
    EXPECT_TRUE(testing::MessageHas(e.what(), {"no files matched", "*.parquet"}));
  }
}

TEST(IgnoreErrorsTest, SkipsBadRecordsCountsThemAndResumesExactly) {
  TempDir dir;
  std::string a = dir.Write("a.csv", "1,2\nx,3\n4,5\n6\n7,8\n");
  std::string missing = dir.Path("missing.csv");
  std::string b = dir.Write("b.csv", "9,10\n\"open\n");
  std::vector<CsvColumn> cols(2, CsvColumn::Required(DType::kInt64));
  auto ds = IgnoreErrors(CsvDataset({a, missing, b}, cols));
  auto it = ds->MakeIterator();
  std::vector<int64_t> firsts;
  while (auto e = it->GetNext()) firsts.push_back((*e)[0].tensor().scalar<int64_t>());
  EXPECT_EQ(firsts, (std::vector<int64_t>{1, 4, 7, 9}));
  EXPECT_EQ(IgnoredErrorCount(*it), 4);  // x, short row, missing file, unterminated quote
  ExpectExactResume(ds);

  auto partial = ds->MakeIterator();
  partial->GetNext();
  partial->GetNext();  // skips "x,3"
  std::string state = partial->Save();
  auto restored = ds->MakeIterator();
  restored->Restore(state);
  EXPECT_EQ(IgnoredErrorCount(*restored), 1);
  EXPECT_EQ(ds->Cardinality(), kUnknownCardinality);
  EXPECT_THROW(IgnoreErrors(nullptr), InvalidArgumentError);
}

}  // namespace
}  // namespace inputpipe
