// cache: later passes read the cache, not the input; exact restores in the first pass and in
// later ones, into the same dataset and into a rebuilt one (a new process: no memory cache);
// the file cache is committed only at the end of a pass, reused by a rebuilt pipeline, refused
// for another pipeline, and checked for corruption.
#include <gtest/gtest.h>

#include <atomic>

#include "inputpipe/file_system.h"
#include "ops/ops_test_util.h"
#include "testing/scratch_dir.h"

namespace inputpipe {
namespace {

using namespace testing;  // NOLINT: test helpers

// range(n) through a map that counts its calls: how often the input was read.
DatasetPtr Counted(int64_t n, std::atomic<int>* calls) {
  return Map(Range(0, n),
             [calls](const Element& e) {
               ++*calls;
               return e;
             },
             {.name = "counted"});
}

std::vector<int64_t> Epochs(int64_t n, int epochs) {
  std::vector<int64_t> out;
  for (int e = 0; e < epochs; ++e) {
    for (int64_t i = 0; i < n; ++i) out.push_back(i);
  }
  return out;
}

class ScopedMemoryStore {
 public:
  ScopedMemoryStore() : fs_(NewMemoryFileSystem()) { RegisterFileSystem("cachetest", fs_); }
  ~ScopedMemoryStore() { UnregisterFileSystem("cachetest"); }
  FileSystem& fs() { return *fs_; }

 private:
  std::shared_ptr<FileSystem> fs_;
};

TEST(CacheTest, LaterPassesReadTheCache) {
  std::atomic<int> calls = 0;
  DatasetPtr ds = Repeat(Cache(Counted(10, &calls)), 3);
  EXPECT_EQ(Ints(ds), Epochs(10, 3));
  EXPECT_EQ(calls, 10);
  EXPECT_EQ(Ints(ds), Epochs(10, 3));  // a later iterator too
  EXPECT_EQ(calls, 10);
}

TEST(CacheTest, AnUnfinishedPassCachesNothing) {
  std::atomic<int> calls = 0;
  DatasetPtr ds = Cache(Counted(10, &calls));
  Ints(Take(ds, 4));
  EXPECT_EQ(Ints(ds), Epochs(10, 1));
  EXPECT_EQ(calls, 14);
  EXPECT_EQ(Ints(ds), Epochs(10, 1));
  EXPECT_EQ(calls, 14);
}

TEST(CacheTest, OfTwoPassesWritingTheFirstToEndCommits) {
  ScopedMemoryStore store;
  for (const std::string path : {"", "cachetest://c"}) {
    std::atomic<int> calls = 0;
    DatasetPtr ds = Cache(Counted(10, &calls), path);
    auto first = ds->MakeIterator();
    for (int i = 0; i < 3; ++i) first->GetNext();
    EXPECT_EQ(Ints(ds), Epochs(10, 1));  // a second pass, begun later, ends first: it commits
    EXPECT_EQ(calls, 13);
    std::vector<int64_t> rest;
    while (auto e = first->GetNext()) rest.push_back(e->tensor().scalar<int64_t>());
    EXPECT_EQ(rest, (std::vector<int64_t>{3, 4, 5, 6, 7, 8, 9}));  // its pass is unchanged
    EXPECT_EQ(Ints(ds), Epochs(10, 1));
    EXPECT_EQ(calls, 20) << path;  // the later pass read the cache
    if (!path.empty()) EXPECT_EQ(store.fs().ListDir("cachetest://").size(), 1u);
  }
}

TEST(CacheTest, ResumesExactlyInMemory) {
  ExpectExactResume(Repeat(Cache(Range(0, 10)), 3));
  ExpectExactResume(Cache(Filter(Range(0, 30), IsEven)));
}

// Saves after `steps` elements of `make()`'s pipeline and restores into a rebuilt one (a fresh
// store: what a new process has), comparing the rest.
void ExpectResumeInRebuiltPipeline(const std::function<DatasetPtr()>& make, int steps) {
  std::vector<Element> expected = Collect(make());
  auto it = make()->MakeIterator();
  for (int i = 0; i < steps; ++i) ASSERT_TRUE(it->GetNext());
  std::string state = it->Save();
  auto restored = make()->MakeIterator();
  restored->Restore(state);
  std::vector<Element> rest = CollectFrom(*restored);
  ASSERT_EQ(rest.size(), expected.size() - steps) << "after " << steps;
  for (size_t i = 0; i < rest.size(); ++i) {
    ASSERT_TRUE(rest[i] == expected[steps + i]) << "after " << steps << ", element " << i;
  }
}

TEST(CacheTest, ResumesExactlyInARebuiltPipeline) {
  // Mid-way through the first pass (the input is restored), in the second and third passes (the
  // memory cache is gone: the input is read again up to the position).
  for (int steps : {0, 3, 10, 13, 25, 30}) {
    ExpectResumeInRebuiltPipeline([] { return Repeat(Cache(Range(0, 10)), 3); }, steps);
  }
}

TEST(CacheTest, AFileIsCommittedOnlyAtTheEndOfAPass) {
  ScopedMemoryStore store;
  const std::string path = "cachetest://dir/cache";
  std::atomic<int> calls = 0;
  {
    DatasetPtr ds = Cache(Counted(10, &calls), path);
    auto it = ds->MakeIterator();
    for (int i = 0; i < 5; ++i) it->GetNext();
    EXPECT_FALSE(store.fs().FileExists(path));  // half-written: under a temporary name
    EXPECT_EQ(store.fs().ListDir("cachetest://dir").size(), 1u);
  }
  // The dropped iterator's temporary file is gone.
  EXPECT_TRUE(store.fs().ListDir("cachetest://dir").empty());
  EXPECT_EQ(Ints(Cache(Counted(10, &calls), path)), Epochs(10, 1));
  EXPECT_TRUE(store.fs().FileExists(path));
  EXPECT_EQ(store.fs().ListDir("cachetest://dir").size(), 1u);
  calls = 0;
  // A rebuilt pipeline (another process) reads the file, not the input.
  EXPECT_EQ(Ints(Repeat(Cache(Counted(10, &calls), path), 2)), Epochs(10, 2));
  EXPECT_EQ(calls, 0);
}

TEST(CacheTest, ResumesExactlyFromAFile) {
  ScopedMemoryStore store;
  const std::string path = "cachetest://c";
  for (int steps : {0, 4, 10, 17, 20}) {
    // The first run of each leaves the file; later ones restore with the file there.
    ExpectResumeInRebuiltPipeline([&] { return Repeat(Cache(Range(0, 10), path), 2); }, steps);
  }
  ExpectExactResume(Repeat(Cache(Range(0, 10), path), 2));
}

TEST(CacheTest, AFileOfAnotherPipelineIsRefused) {
  ScopedMemoryStore store;
  Ints(Cache(Range(0, 10), "cachetest://c"));
  ExpectError<FailedPreconditionError>([] { Ints(Cache(Range(0, 11), "cachetest://c")); },
                                       {"cache", "cachetest://c", "another pipeline"});
}

TEST(CacheTest, ACorruptFileIsDataLoss) {
  ScopedMemoryStore store;
  Ints(Cache(Range(0, 10), "cachetest://c"));
  std::string bytes = store.fs().ReadFile("cachetest://c");
  for (size_t at : {size_t{0}, size_t{3}, bytes.size() - 20, bytes.size() - 2}) {
    std::string bad = bytes;
    bad[at] ^= 0x40;
    WriteFileAtomically(store.fs(), "cachetest://c", bad);
    EXPECT_THROW(Ints(Cache(Range(0, 10), "cachetest://c")), Error) << "byte " << at;
  }
  WriteFileAtomically(store.fs(), "cachetest://c", bytes.substr(0, 10));
  EXPECT_THROW(Ints(Cache(Range(0, 10), "cachetest://c")), DataLossError);
}

// A store error names the op and its filename, and a directory given as the filename says so.
TEST(CacheTest, AFileErrorNamesTheCacheAndItsFilename) {
  ScratchDir scratch;
  const std::string& dir = scratch.path();
  ExpectError<IOError>([&] { Ints(Cache(Range(0, 3), dir)); },
                       {"cache(filename='" + dir + "'): ", "Is a directory",
                        "not a directory for it: such as '" + dir + "/cache'"});
  const std::string unwritable = "/proc/inputpipe_no_such_dir/c";
  ExpectError<IOError>([&] { Ints(Cache(Range(0, 3), unwritable)); },
                       {"cache(filename='" + unwritable + "'): ", "/proc/inputpipe_no_such_dir"});
}

}  // namespace
}  // namespace inputpipe
