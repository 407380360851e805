// Files are identified by what they hold: a state restores over the same bytes under another
// directory, a relative or absolute path, or a new mtime, and refuses a file whose bytes changed,
// naming it and saying what differs. States of older versions (size + mtime) still restore. One
// test pins the documented limit of the sampled digest of a large file.
#include "readers/file_identity.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>

#include "inputpipe/ops.h"
#include "inputpipe/readers.h"
#include "inputpipe/state.h"
#include "readers/readers_test_util.h"
#include "readers/tfrecord_format.h"

namespace inputpipe {
namespace {

using namespace testing;  // NOLINT: test helpers
namespace fs = std::filesystem;

std::string Lines(int n, const std::string& tag) {
  std::string out;
  for (int i = 0; i < n; ++i) out += tag + std::to_string(i) + std::string(i % 7, '.') + "\n";
  return out;
}

std::string Records(int n, const std::string& tag) {
  std::string out;
  for (int i = 0; i < n; ++i)
    AppendTFRecord(&out, tag + std::to_string(i) + std::string(i % 9, 'r'));
  return out;
}

std::string Rows(int n) {
  std::string out = "id,name\n";
  for (int i = 0; i < n; ++i)
    out += std::to_string(i) + ",name" + std::to_string(i * 7 % 10) + "\n";
  return out;
}

std::vector<CsvColumn> IntString() {
  return {CsvColumn::Required(DType::kInt64), CsvColumn::Default(Tensor::String(""))};
}

// Copies every file of `from` into `to`, each with a modification time 7 s after the
// original's: the same bytes, another place, another mtime.
void CopyFiles(const TempDir& from, const TempDir& to) {
  for (const auto& entry : fs::directory_iterator(from.path())) {
    const fs::path target = fs::path(to.path()) / entry.path().filename();
    fs::copy_file(entry.path(), target);
    fs::last_write_time(target, fs::last_write_time(entry.path()) + std::chrono::seconds(7));
  }
}

// Flips one byte at `offset`, keeping the size; `replacement` must keep the file parseable.
void Overwrite(const std::string& path, size_t offset, char replacement) {
  std::string bytes = testing::ReadFile(path);
  ASSERT_LT(offset, bytes.size());
  ASSERT_NE(bytes[offset], replacement);
  bytes[offset] = replacement;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

using MakeIn = std::function<DatasetPtr(const std::string& dir)>;

// Saves make(from) after each of `steps` elements, restores every state into a fresh make(to)
// and checks that the rest is the rest of an uninterrupted run.
void ExpectRestoresFromTheCopy(const MakeIn& make, const TempDir& from, const TempDir& to,
                               const std::vector<int64_t>& steps) {
  const std::vector<Element> all = Collect(make(from.path()));
  ASSERT_GT(all.size(), 0u);
  for (int64_t step : steps) {
    SCOPED_TRACE("saved after " + std::to_string(step) + " elements");
    auto it = make(from.path())->MakeIterator();
    for (int64_t i = 0; i < step; ++i) ASSERT_TRUE(it->GetNext().has_value());
    const std::string state = it->Save();
    auto restored = make(to.path())->MakeIterator();
    restored->Restore(state);
    EXPECT_EQ(CollectFrom(*restored), std::vector<Element>(all.begin() + step, all.end()));
  }
}

// The message of the PipelineMismatchError a restore of `state` into `ds` raises.
std::string RefusalOf(const DatasetPtr& ds, const std::string& state) {
  try {
    ds->MakeIterator()->Restore(state);
  } catch (const PipelineMismatchError& e) {
    return e.what();
  }
  ADD_FAILURE() << "the restore was accepted";
  return "";
}

std::string SavedAfter(const DatasetPtr& ds, int64_t steps) {
  auto it = ds->MakeIterator();
  for (int64_t i = 0; i < steps; ++i) EXPECT_TRUE(it->GetNext().has_value());
  return it->Save();
}

// `cp f x && mv x f`: the same bytes, a new mtime.
TEST(FileIdentityTest, SameBytesUnderANewMtimeRestore) {
  TempDir dir;
  const std::string a = dir.Write("a.txt", Lines(30, "a"));
  const std::string b = dir.Write("b.csv", Rows(20));
  auto streaming = [&] { return TextLineDataset({a}); };
  auto indexed = [&] { return CsvDataset({b}, IntString(), {.header = true}, {.index = true}); };
  const std::string text_state = SavedAfter(streaming(), 4);
  const std::string csv_state = SavedAfter(indexed(), 4);
  for (const std::string& f : {a, b}) {
    fs::copy_file(f, dir.Path("x"));
    fs::last_write_time(dir.Path("x"), fs::last_write_time(f) + std::chrono::seconds(3));
    fs::rename(dir.Path("x"), f);
  }
  auto text = streaming()->MakeIterator();
  text->Restore(text_state);
  EXPECT_EQ(text->GetNext()->tensor().strings()[0], "a4....");
  auto csv = indexed()->MakeIterator();
  csv->Restore(csv_state);
  EXPECT_EQ((*csv->GetNext())[0].tensor().scalar<int64_t>(), 4);
}

TEST(FileIdentityTest, StreamingReadersRestoreFromACopyInAnotherDirectory) {
  TempDir from, to;
  from.Write("a.txt", Lines(25, "a"));
  from.Write("b.txt", Lines(30, "b"));
  from.Write("a.tfrecord", Records(12, "a"));
  from.Write("b.tfrecord.gz", Gzip(Records(15, "b")));
  from.Write("a.csv", Rows(18));
  from.Write("b.csv", Rows(21));
  CopyFiles(from, to);
  auto in = [](const std::string& dir, const char* name) { return dir + "/" + name; };
  ExpectRestoresFromTheCopy(
      [&](const std::string& d) {
        return TextLineDataset({in(d, "a.txt"), in(d, "b.txt")});
      },
      from, to, {0, 3, 25, 40, 55});
  ExpectRestoresFromTheCopy(
      [&](const std::string& d) { return TFRecordDataset({in(d, "a.tfrecord")}); }, from, to,
      {0, 5, 12});
  ExpectRestoresFromTheCopy(
      [&](const std::string& d) {
        return TFRecordDataset({in(d, "b.tfrecord.gz")}, {.compression_type = "GZIP"});
      },
      from, to, {0, 7});
  ExpectRestoresFromTheCopy(
      [&](const std::string& d) {
        return CsvDataset({in(d, "a.csv"), in(d, "b.csv")}, IntString(), {.header = true});
      },
      from, to, {0, 10, 18, 30});
  // Under a shuffle the reader restores at the shuffle's anchor, maybe before it opened a file.
  ExpectRestoresFromTheCopy(
      [&](const std::string& d) {
        return Shuffle(TextLineDataset({in(d, "a.txt"), in(d, "b.txt")}), 8, 5);
      },
      from, to, {0, 1, 20, 50});
  // list_files over the moved directory: its names change with the root, their identity does
  // not (the relative names), and the readers it feeds identify their files by content.
  ExpectRestoresFromTheCopy(
      [&](const std::string& d) {
        return Interleave(
            ListFiles({d + "/*.txt"}, /*shuffle=*/true, 3),
            [](const Element& f) { return TextLineDataset({f.tensor().strings()[0]}); }, 2, 3, 0,
            true, {.name = "read_lines"});
      },
      from, to, {0, 4, 33});
}

TEST(FileIdentityTest, IndexedCsvUnderGlobalShuffleRestoresFromACopy) {
  TempDir from, to;
  from.Write("a.csv", Rows(40));
  from.Write("b.csv", Rows(33));
  CopyFiles(from, to);
  ExpectRestoresFromTheCopy(
      [](const std::string& d) {
        return Repeat(GlobalShuffle(CsvDataset({d + "/a.csv", d + "/b.csv"}, IntString(),
                                               {.header = true}, {.index = true}),
                                    11),
                      2);
      },
      from, to, {0, 1, 40, 73, 100});
  // A changed file is refused there too, though no reader iterator restores under it.
  const std::string b = to.path() + "/b.csv";
  Overwrite(b, 20, testing::ReadFile(b)[20] == '9' ? '8' : '9');
  auto shuffled = [](const std::string& d) {
    return GlobalShuffle(
        CsvDataset({d + "/a.csv", d + "/b.csv"}, IntString(), {.header = true}, {.index = true}),
        11);
  };
  EXPECT_TRUE(MessageHas(RefusalOf(shuffled(to.path()), SavedAfter(shuffled(from.path()), 5)),
                         {"csv(files=2 (content "}));
  ExpectRestoresFromTheCopy(
      [](const std::string& d) {
        return CsvDataset({d + "/a.csv"}, IntString(), {.header = true},
                          {.index = true, .batch_size = 4});
      },
      from, to, {0, 3});
}

// Restores `cwd` when it goes out of scope.
class WorkingDirectory {
 public:
  explicit WorkingDirectory(const std::string& dir) : saved_(fs::current_path()) {
    fs::current_path(dir);
  }
  ~WorkingDirectory() { fs::current_path(saved_); }

 private:
  fs::path saved_;
};

TEST(FileIdentityTest, RelativeAndAbsolutePathsAreOneFile) {
  TempDir dir;
  const std::string absolute = dir.Write("a.txt", Lines(20, "a"));
  dir.Write("b.txt", Lines(5, "b"));
  WorkingDirectory cwd(dir.path());
  const std::string relative_state = SavedAfter(TextLineDataset({"a.txt"}), 6);
  auto it = TextLineDataset({absolute})->MakeIterator();
  it->Restore(relative_state);
  EXPECT_EQ(it->GetNext()->tensor().strings()[0], "a6......");
  const std::string absolute_state = SavedAfter(TextLineDataset({absolute}), 7);
  it = TextLineDataset({"./a.txt"})->MakeIterator();
  it->Restore(absolute_state);
  EXPECT_EQ(it->GetNext()->tensor().strings()[0], "a7");
  // list_files: "*.txt" from the directory, the absolute pattern elsewhere.
  const std::string listed = SavedAfter(ListFiles({"*.txt"}, false), 1);
  auto names = ListFiles({dir.path() + "/*.txt"}, false)->MakeIterator();
  names->Restore(listed);
  EXPECT_EQ(names->GetNext()->tensor().strings()[0], dir.path() + "/b.txt");
}

TEST(FileIdentityTest, AChangedByteIsRefusedNamingTheFileAndWhatDiffers) {
  TempDir dir;
  const std::string a = dir.Write("a.txt", Lines(40, "a"));
  const std::string b = dir.Write("b.txt", Lines(40, "b"));
  auto make = [&] { return TextLineDataset({a, b}); };
  const std::string state = SavedAfter(make(), 5);  // reading a.txt

  Overwrite(b, testing::ReadFile(b).size() / 2, '#');  // not open yet
  std::string message = RefusalOf(make(), state);
  EXPECT_TRUE(MessageHas(message, {"text_line", "'" + b + "' (file 2 of 2", "the same size",
                                   "other bytes", "changed since the state was saved"}));
  EXPECT_EQ(message.find(a), std::string::npos) << message;

  dir.Write("b.txt", Lines(40, "b"));
  auto back = make()->MakeIterator();
  back->Restore(state);                                // the same bytes again: accepted
  Overwrite(a, testing::ReadFile(a).size() / 2, '#');  // the open file
  EXPECT_TRUE(MessageHas(RefusalOf(make(), state), {"'" + a + "' (file 1 of 2", "the same size"}));

  // allow_changes restores past it, with the change in the warning.
  std::vector<std::string> warnings;
  auto allowed = make()->MakeIterator();
  allowed->Restore(state, {.allow_changes = true}, &warnings);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_TRUE(MessageHas(warnings[0], {a, "other bytes"}));
  EXPECT_EQ(allowed->GetNext()->tensor().strings()[0], "a5.....");

  // Indexed: the files' content digest is in the fingerprint (a global shuffle reads by index,
  // with no reader iterator to check them); the reader's own check names the file.
  const std::string c = dir.Write("c.csv", Rows(30));
  auto indexed = [&] { return CsvDataset({c}, IntString(), {.header = true}, {.index = true}); };
  const std::string csv_state = SavedAfter(indexed(), 2);
  const size_t middle = testing::ReadFile(c).size() / 2;
  Overwrite(c, middle, testing::ReadFile(c)[middle] == '9' ? '8' : '9');
  EXPECT_TRUE(MessageHas(RefusalOf(indexed(), csv_state), {"csv(files=1 (content "}));
  warnings.clear();
  indexed()->MakeIterator()->Restore(csv_state, {.allow_changes = true}, &warnings);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_TRUE(MessageHas(warnings[0], {"csv: file '" + c + "' (file 1 of 1: the same size"}));
}

TEST(FileIdentityTest, AFileWhoseSizeChangedIsRefused) {
  TempDir dir;
  const std::string a = dir.Write("a.tfrecord", Records(10, "a"));
  auto streaming = [&] { return TFRecordDataset({a}); };
  auto indexed = [&] { return TFRecordDataset({a}, {.index = true}); };
  const std::string streaming_state = SavedAfter(streaming(), 3);
  const std::string indexed_state = SavedAfter(indexed(), 3);
  const int64_t size = static_cast<int64_t>(fs::file_size(a));
  dir.Write("a.tfrecord", Records(11, "a"));  // appended to
  const std::string now =
      std::to_string(fs::file_size(a)) + " bytes, " + std::to_string(size) + " when saved";
  EXPECT_TRUE(MessageHas(RefusalOf(streaming(), streaming_state), {"tfrecord: file '" + a, now}));
  EXPECT_TRUE(MessageHas(RefusalOf(indexed(), indexed_state), {"(content ", "changed"}));
  std::vector<std::string> warnings;
  indexed()->MakeIterator()->Restore(indexed_state, {.allow_changes = true}, &warnings);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_TRUE(MessageHas(warnings[0], {"'" + a + "' (file 1 of 1", now}));
}

TEST(FileIdentityTest, AnotherFileUnderListFilesIsRefused) {
  TempDir from, to;
  for (const char* name : {"a.txt", "b.txt", "c.txt"}) from.Write(name, "x\n");
  for (const char* name : {"a.txt", "b.txt", "d.txt"}) to.Write(name, "x\n");
  const std::string state = SavedAfter(ListFiles({from.path() + "/*.txt"}, false), 1);
  EXPECT_TRUE(MessageHas(RefusalOf(ListFiles({to.path() + "/*.txt"}, false), state),
                         {"list_files", "not those of the saved state"}));
}

// The documented limit: a file larger than kWholeFileDigestBytes is known by sampled blocks,
// so a same-size change between them is not seen; one inside a sampled block is.
TEST(FileIdentityTest, LimitAChangeBetweenTheSampledBlocksOfALargeFileIsNotSeen) {
  TempDir dir;
  std::string big;
  while (big.size() < 4 * static_cast<size_t>(kWholeFileDigestBytes)) big += "0123456789abcdef\n";
  const std::string a = dir.Write("big.txt", big);
  auto make = [&] { return TextLineDataset({a}); };
  const std::string state = SavedAfter(make(), 3);
  // Between the first block [0, 64 KiB) and the second, at about 4 MiB / 9.
  const size_t unsampled = 3 * kDigestBlockBytes;
  Overwrite(a, unsampled, big[unsampled] == 'x' ? 'y' : 'x');
  auto it = make()->MakeIterator();
  it->Restore(state);  // not seen: the limit
  EXPECT_EQ(it->GetNext()->tensor().strings()[0], "0123456789abcdef");
  Overwrite(a, 20, big[20] == 'x' ? 'y' : 'x');  // inside the first block
  EXPECT_TRUE(MessageHas(RefusalOf(make(), state), {"big.txt", "the same size"}));
}

// A file system that counts the random-access opens (what a digest reads through) and has no
// content identity of its own.
class CountingFileSystem : public FileSystem {
 public:
  std::unique_ptr<SequentialFile> NewSequentialFile(const std::string& p) override {
    class File : public SequentialFile {
     public:
      File(std::unique_ptr<SequentialFile> base, CountingFileSystem* fs)
          : base_(std::move(base)), fs_(fs) {}
      size_t Read(char* dst, size_t n) override { return base_->Read(dst, n); }
      void Skip(uint64_t n) override { base_->Skip(n); }
      FileStat Stat() override { return fs_->Adjusted(base_->Stat()); }

     private:
      std::unique_ptr<SequentialFile> base_;
      CountingFileSystem* fs_;
    };
    return std::make_unique<File>(base_->NewSequentialFile(p), this);
  }
  std::unique_ptr<RandomAccessFile> NewRandomAccessFile(const std::string& p) override {
    ++random_opens;
    return base_->NewRandomAccessFile(p);
  }
  FileStat Stat(const std::string& p) override { return Adjusted(base_->Stat(p)); }
  // The memory store's generation replaced: none, or a fake ETag equal for equal sizes.
  FileStat Adjusted(FileStat st) const {
    st.identity = with_identity ? "etag-" + std::to_string(st.size) : "";
    return st;
  }
  bool FileExists(const std::string& p) override { return base_->FileExists(p); }
  std::vector<std::string> ListDir(const std::string& d) override { return base_->ListDir(d); }
  void RenameFile(const std::string& f, const std::string& t) override { base_->RenameFile(f, t); }
  void DeleteFile(const std::string& p) override { base_->DeleteFile(p); }
  void CreateDirs(const std::string& d) override { base_->CreateDirs(d); }
  void SyncDir(const std::string& d) override { base_->SyncDir(d); }
  std::unique_ptr<WritableFile> NewWritableFile(const std::string& p) override {
    return base_->NewWritableFile(p);
  }

  std::atomic<int> random_opens{0};
  bool with_identity = false;

 private:
  std::shared_ptr<FileSystem> base_ = NewMemoryFileSystem();
};

TEST(FileIdentityTest, DigestIsComputedOncePerFileOrTakenFromTheStore) {
  auto store = std::make_shared<CountingFileSystem>();
  RegisterFileSystem("counting", store);
  const std::string a = "counting://d/a.txt";
  WriteFileAtomically(*store, a, Lines(50, "a"));
  auto ds = TextLineDataset({a});
  for (int round = 0; round < 3; ++round) {
    auto it = ds->MakeIterator();
    it->GetNext();
    auto restored = ds->MakeIterator();
    restored->Restore(it->Save());
    CollectFrom(*restored);
  }
  EXPECT_EQ(store->random_opens.load(), 1);  // read once, then cached
  // A store with a content identity (an ETag) is not read at all; the identity is the digest.
  store->with_identity = true;
  WriteFileAtomically(*store, "counting://d/b.txt", Lines(50, "b"));
  const std::string state = SavedAfter(TextLineDataset({"counting://d/b.txt"}), 2);
  EXPECT_EQ(store->random_opens.load(), 1);
  WriteFileAtomically(*store, "counting://d/b.txt", Lines(50, "c"));  // same size and "etag"
  auto it = TextLineDataset({"counting://d/b.txt"})->MakeIterator();
  it->Restore(state);  // the store said it is the same content
  EXPECT_EQ(it->GetNext()->tensor().strings()[0], "c2..");
  UnregisterFileSystem("counting");
}

TEST(FileIdentityTest, EntriesOfOlderVersionsAreReadAsToday) {
  EXPECT_EQ(CanonicalReaderEntry("csv(files=['a.csv', '/x/b.csv'], header=true)"),
            "csv(files=2, header=true)");
  EXPECT_EQ(CanonicalReaderEntry("    text_line(files=['/tmp/d/a.txt'])"),
            "    text_line(files=1)");
  EXPECT_EQ(CanonicalReaderEntry("tfrecord(files=300 files from '/d/a' to '/d/z' (hash "
                                 "0123456789abcdef), compression_type=GZIP, indexed=true)"),
            "tfrecord(files=300, compression_type=GZIP, indexed=true)");
  EXPECT_EQ(CanonicalReaderEntry("  list_files(patterns=['/d/*.csv', 'e/*'], files=7 (hash "
                                 "0123456789abcdef), shuffle=true, seed=3)"),
            "  list_files(patterns=2, files=7, shuffle=true, seed=3)");
  for (const char* today : {"csv(files=2, header=true)", "text_line(files=1)",
                            "list_files(patterns=1, files=3, shuffle=false)", "map(fn=f)",
                            "csv(files=[", "tfrecord(files=3 files from 'a"}) {
    EXPECT_EQ(CanonicalReaderEntry(today), today);
  }
}

// States written by the version that identified files by path, size and mtime
// (tests/data/readers_old_states/make_old_states.py): they restore over the same bytes at another
// path when the mtime is the one they saved, and are refused otherwise, saying that allow_changes
// restores past it.
TEST(FileIdentityTest, StatesOfOlderVersionsRestoreComparedTheOldWay) {
  const std::string fixtures = TestDataDir() + "/readers_old_states";
  constexpr int64_t kSavedMtimeNs = 1'600'000'000'123'456'789LL;  // make_old_states.py's
  auto set_mtime = [](const std::string& path, int64_t ns) {
    const timespec t{static_cast<time_t>(ns / 1'000'000'000),
                     static_cast<long>(ns % 1'000'000'000)};
    const timespec both[2] = {t, t};
    ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), both, 0), 0);
  };
  TempDir dir;
  const std::string lines = dir.Write("lines.txt", testing::ReadFile(fixtures + "/lines.txt"));
  const std::string rows = dir.Write("rows.csv", testing::ReadFile(fixtures + "/rows.csv"));
  auto state = [&](const char* name) { return testing::ReadFile(fixtures + "/" + name); };
  auto text = [&] { return TextLineDataset({lines}); };
  auto shuffled = [&] { return Shuffle(TextLineDataset({lines}), 8, 3); };
  auto csv = [&] {
    return CsvDataset(
        {rows},
        {CsvColumn::Default(Tensor::Scalar<int32_t>(0)), CsvColumn::Default(Tensor::String(""))},
        {.header = true}, {.index = true});
  };
  for (const std::string& f : {lines, rows}) set_mtime(f, kSavedMtimeNs);
  auto it = text()->MakeIterator();
  it->Restore(state("text_line-5.state"));
  EXPECT_EQ(it->GetNext()->tensor().strings()[0], "line 005");
  auto reference = shuffled()->MakeIterator();
  for (int i = 0; i < 5; ++i) reference->GetNext();
  it = shuffled()->MakeIterator();
  it->Restore(state("text_line_shuffle-5.state"));
  EXPECT_EQ(CollectFrom(*it), CollectFrom(*reference));
  it = csv()->MakeIterator();
  it->Restore(state("csv_indexed-3.state"));
  EXPECT_EQ((*it->GetNext())[0].tensor().scalar<int32_t>(), 3);

  // Another mtime: the old identity cannot tell a copy from an edit.
  for (const std::string& f : {lines, rows}) set_mtime(f, kSavedMtimeNs + 1'000'000'000);
  for (auto [name, ds] :
       {std::pair{"text_line-5.state", text()}, std::pair{"text_line_shuffle-5.state", shuffled()},
        std::pair{"csv_indexed-3.state", csv()}}) {
    SCOPED_TRACE(name);
    EXPECT_TRUE(MessageHas(RefusalOf(ds, state(name)), {"changed since the state was saved",
                                                        "older version", "allow_changes"}));
  }
  std::vector<std::string> warnings;
  it = text()->MakeIterator();
  it->Restore(state("text_line-5.state"), {.allow_changes = true}, &warnings);
  EXPECT_EQ(warnings.size(), 1u);
  EXPECT_EQ(it->GetNext()->tensor().strings()[0], "line 005");
}

}  // namespace
}  // namespace inputpipe
