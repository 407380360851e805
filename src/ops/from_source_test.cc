// from_source: elements by index from user functions, the fused batch equal to Batch's, exact
// resumption (and under a global shuffle), the files' identities in the fingerprint.
#include <gtest/gtest.h>

#include "inputpipe/source.h"
#include "ops/ops_test_util.h"
#include "readers/readers_test_util.h"

namespace inputpipe {
namespace {

using namespace testing;  // NOLINT: test helpers

// Element i: {"id": i, "sq": [i, i * i]}.
Element Row(int64_t i) { return Element::Dict({{"id", I64(i)}, {"sq", I64s({i, i * i})}}); }

RandomAccessFunctions Squares(int64_t size) {
  RandomAccessFunctions fns;
  fns.size = size;
  fns.get = Row;
  fns.get_batch = [](int64_t start, int64_t count) {
    std::vector<int64_t> ids, sq;
    for (int64_t i = start; i < start + count; ++i) {
      ids.push_back(i);
      sq.insert(sq.end(), {i, i * i});
    }
    return Element::Dict({{"id", Tensor::FromVector<int64_t>(ids, {count})},
                          {"sq", Tensor::FromVector<int64_t>(sq, {count, 2})}});
  };
  return fns;
}

TEST(FromSourceTest, ElementsAreGetByIndex) {
  DatasetPtr ds = FromSource(Squares(5), {.name = "squares"});
  EXPECT_TRUE(ds->IsRandomAccess());
  EXPECT_EQ(ds->Cardinality(), 5);
  std::vector<Element> got = Collect(ds);
  ASSERT_EQ(got.size(), 5u);
  EXPECT_EQ(got[3], Row(3));
  EXPECT_EQ(ds->Signature(), "from_source(fn=squares, size=5)");
  ExpectGetMatchesIteration(ds);
}

TEST(FromSourceTest, FusedBatchEqualsBatch) {
  for (bool drop : {false, true}) {
    DatasetPtr fused =
        FromSource(Squares(10), {.name = "squares", .batch_size = 4, .drop_remainder = drop});
    DatasetPtr batched = Batch(FromSource(Squares(10), {.name = "squares"}), 4, drop);
    EXPECT_EQ(fused->Cardinality(), batched->Cardinality());
    EXPECT_EQ(Collect(fused), Collect(batched));
  }
}

TEST(FromSourceTest, ResumesExactly) {
  ExpectExactResume(FromSource(Squares(40), {.name = "squares"}));
  ExpectExactResume(FromSource(Squares(41), {.name = "squares", .batch_size = 4}));
  ExpectExactResume(GlobalShuffle(FromSource(Squares(50), {.name = "squares"}), 7, false));
}

TEST(FromSourceTest, BlocksReadRowsThroughGetBatchOncePerBlock) {
  auto calls = std::make_shared<int>(0);
  RandomAccessFunctions fns = Squares(23);
  RandomAccessFunctions counted = fns;
  counted.get = [](int64_t) -> Element { throw InvalidArgumentError("get must not be called"); };
  counted.get_batch = [fns, calls](int64_t start, int64_t count) {
    ++*calls;
    return fns.get_batch(start, count);
  };
  DatasetPtr plain = FromSource(fns, {.name = "squares"});
  DatasetPtr blocked = FromSource(counted, {.name = "squares", .block_rows = 5});
  EXPECT_EQ(blocked->Signature(), plain->Signature());  // the same elements, the same state
  EXPECT_EQ(Collect(blocked), Collect(plain));
  EXPECT_EQ(*calls, 5);  // 23 rows in blocks of 5
  // A cache of one block: a global shuffle reads a block per miss, and is still exact.
  DatasetPtr small = FromSource(counted, {.name = "squares", .block_rows = 4, .cache_bytes = 1});
  EXPECT_EQ(Collect(GlobalShuffle(small, 3, false)), Collect(GlobalShuffle(plain, 3, false)));
  ExpectExactResume(GlobalShuffle(blocked, 9, false));
  ExpectInvalidArgument([&] { FromSource(counted, {.name = "s", .block_rows = -1}); },
                        {"from_source(fn=s)", "block_rows"});
}

TEST(FromSourceTest, ABlockThatFailsIsReadRowByRow) {
  RandomAccessFunctions fns = Squares(10);
  RandomAccessFunctions bad = fns;
  bad.get = [](int64_t i) {
    if (i == 6) throw DataLossError("row 6 is bad");
    return Row(i);
  };
  bad.get_batch = [fns](int64_t start, int64_t count) {
    if (start <= 6 && 6 < start + count) throw DataLossError("a block with row 6");
    return fns.get_batch(start, count);
  };
  auto it = FromSource(bad, {.name = "bad", .block_rows = 4})->MakeIterator();
  for (int64_t i = 0; i < 6; ++i) EXPECT_EQ(*it->GetNext(), Row(i));  // 4, 5: one by one
  ExpectError<DataLossError>([&] { it->GetNext(); }, {"row 6 is bad"});
}

TEST(FromSourceTest, FilesEnterTheFingerprint) {
  TempDir dir;
  std::string path = dir.Write("a.bin", "abc");
  DatasetPtr ds = FromSource(Squares(10), {.name = "squares", .files = {path}});
  auto it = ds->MakeIterator();
  it->GetNext();
  std::string state = it->Save();
  dir.Write("a.bin", "abd");
  DatasetPtr changed = FromSource(Squares(10), {.name = "squares", .files = {path}});
  EXPECT_NE(changed->Signature(), ds->Signature());
  EXPECT_THROW(changed->MakeIterator()->Restore(state), PipelineMismatchError);
}

TEST(FromSourceTest, RejectsBadArgumentsAndMissingFiles) {
  ExpectInvalidArgument([] { FromSource(Squares(3), {}); }, {"from_source", "name"});
  RandomAccessFunctions no_get = Squares(3);
  no_get.get = nullptr;
  ExpectInvalidArgument([&] { FromSource(no_get, {.name = "s"}); }, {"from_source(fn=s)", "get"});
  RandomAccessFunctions no_batch = Squares(3);
  no_batch.get_batch = nullptr;
  ExpectInvalidArgument([&] { FromSource(no_batch, {.name = "s", .batch_size = 2}); },
                        {"from_source(fn=s)", "get_batch"});
  ExpectError<IOError>(
      [] { FromSource(Squares(3), {.name = "s", .files = {"/nonexistent/x.parquet"}}); },
      {"from_source(fn=s)", "/nonexistent/x.parquet"});
}

}  // namespace
}  // namespace inputpipe
