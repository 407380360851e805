// The seam: paths with schemes, the registry, the in-memory file system, glob matching over
// ListDir (checked against glob(3)), and every reader, list_files, TFRecordWriter and the hook
// working on a store other than POSIX.
#include "inputpipe/file_system.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <thread>

#include "hook/hook_test_util.h"
#include "inputpipe/hook.h"
#include "inputpipe/ops.h"
#include "inputpipe/readers.h"
#include "readers/readers_test_util.h"
#include "testing/exactness.h"

namespace inputpipe {
namespace {

using hook_testing::ScratchDir;
using testing::Collect;
using testing::ExpectExactResume;
using testing::MessageHas;
using testing::Strings;

// A fresh in-memory store under `scheme` for the test's duration.
class ScopedMemoryFileSystem {
 public:
  explicit ScopedMemoryFileSystem(std::string scheme)
      : scheme_(std::move(scheme)), fs_(NewMemoryFileSystem()) {
    RegisterFileSystem(scheme_, fs_);
  }
  ~ScopedMemoryFileSystem() { UnregisterFileSystem(scheme_); }
  FileSystem& fs() { return *fs_; }
  std::string Write(const std::string& path, std::string_view contents) {
    WriteFileAtomically(*fs_, path, contents);
    return path;
  }

 private:
  const std::string scheme_;
  const std::shared_ptr<FileSystem> fs_;
};

int ErrorCode(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const FileSystemError& e) {
    return e.code();
  }
  return 0;
}

TEST(FileSystemTest, SchemesAndDirNames) {
  EXPECT_EQ(PathScheme("s3://b/k"), "s3");
  EXPECT_EQ(PathScheme("gs+x.y-z://b"), "gs+x.y-z");
  EXPECT_EQ(PathScheme("/a/b"), "");
  EXPECT_EQ(PathScheme("a/b://c"), "");  // not a scheme: '/' before "://"
  EXPECT_EQ(PathScheme("1x://c"), "");
  EXPECT_EQ(DirName("memory://d/e/f"), "memory://d/e");
  EXPECT_EQ(DirName("memory://f"), "memory://");
  EXPECT_EQ(DirName("memory://"), "memory://");
  EXPECT_EQ(DirName("file:///a"), "file:///");
  EXPECT_EQ(DirName("file:///"), "file:///");
  EXPECT_EQ(JoinPath("memory://", "f"), "memory://f");
  EXPECT_EQ(DirName("c"), ".");
}

TEST(FileSystemTest, RegistryByScheme) {
  EXPECT_EQ(FileSystemForPath("/tmp/x"), FileSystemForPath("file:///tmp/x"));
  EXPECT_NE(FileSystemForPath("memory://x"), FileSystemForPath("/tmp/x"));
  try {
    FileSystemForPath("nosuch://bucket/key");
    FAIL();
  } catch (const InvalidArgumentError& e) {
    EXPECT_TRUE(MessageHas(e.what(), {"scheme 'nosuch'", "nosuch://bucket/key", "file", "memory"}));
  }
  EXPECT_THROW(RegisterFileSystem("file", NewMemoryFileSystem()), InvalidArgumentError);
  EXPECT_THROW(RegisterFileSystem("not a scheme", NewMemoryFileSystem()), InvalidArgumentError);
  EXPECT_THROW(RegisterFileSystem("x", nullptr), InvalidArgumentError);
  {
    ScopedMemoryFileSystem mem("regtest");
    auto schemes = RegisteredFileSystems();
    EXPECT_NE(std::find(schemes.begin(), schemes.end(), "regtest"), schemes.end());
    EXPECT_EQ(FileSystemForPath("regtest://a").get(), &mem.fs());
  }
  EXPECT_THROW(FileSystemForPath("regtest://a"), InvalidArgumentError);
  EXPECT_FALSE(UnregisterFileSystem("regtest"));
}

TEST(FileSystemTest, PosixThroughFileUrlsAndDefault) {
  ScratchDir dir;
  const std::string url = "file://" + (dir / "a.txt");
  WriteFileAtomically(DefaultFileSystem(), url, "hello\n");
  EXPECT_EQ(DefaultFileSystem().ReadFile(dir / "a.txt"), "hello\n");
  FileStat st = FileSystemForPath(url)->Stat(url);
  EXPECT_EQ(st.size, 6);
  EXPECT_GT(st.mtime_ns, 0);
  EXPECT_EQ(st.identity, "");
  EXPECT_EQ(FileSystemForPath(url)->GetMatchingPaths("file://" + (dir / "*.txt")),
            std::vector<std::string>{url});
  EXPECT_EQ(ErrorCode([&] { DefaultFileSystem().Stat(dir / "missing"); }), ENOENT);
  EXPECT_EQ(ErrorCode([&] { DefaultFileSystem().ListDir(dir / "a.txt"); }), ENOTDIR);
  EXPECT_EQ(Strings(Collect(TextLineDataset({url}))), std::vector<std::string>{"hello"});
}

TEST(FileSystemTest, MemoryFileSystemBasics) {
  ScopedMemoryFileSystem mem("memtest");
  FileSystem& fs = mem.fs();
  EXPECT_FALSE(fs.FileExists("memtest://d"));
  mem.Write("memtest://d/e/f", "0123456789");
  EXPECT_TRUE(fs.FileExists("memtest://d"));  // implicit in the file's name
  EXPECT_TRUE(fs.FileExists("memtest://d/e/"));
  EXPECT_EQ(fs.ReadFile("memtest://d/e/f"), "0123456789");
  EXPECT_EQ(fs.ListDir("memtest://d"), std::vector<std::string>{"e"});
  EXPECT_EQ(fs.ListDir("memtest://"), std::vector<std::string>{"d"});
  fs.CreateDirs("memtest://d/empty");
  auto names = fs.ListDir("memtest://d");
  EXPECT_EQ(names, (std::vector<std::string>{"e", "empty"}));
  EXPECT_EQ(ErrorCode([&] { fs.ListDir("memtest://d/e/f"); }), ENOTDIR);
  EXPECT_EQ(ErrorCode([&] { fs.ListDir("memtest://nope"); }), ENOENT);
  EXPECT_EQ(ErrorCode([&] { fs.NewSequentialFile("memtest://nope"); }), ENOENT);
  EXPECT_EQ(ErrorCode([&] { fs.NewSequentialFile("memtest://d"); }), EISDIR);
  EXPECT_EQ(ErrorCode([&] { fs.CreateDirs("memtest://d/e/f/g"); }), ENOTDIR);

  FileStat first = fs.Stat("memtest://d/e/f");
  EXPECT_EQ(first.size, 10);
  mem.Write("memtest://d/e/f", "9876543210");  // same size, new content
  FileStat second = fs.Stat("memtest://d/e/f");
  EXPECT_EQ(second.size, 10);
  EXPECT_GT(second.mtime_ns, first.mtime_ns);
  EXPECT_NE(second.identity, first.identity);

  auto file = fs.NewRandomAccessFile("memtest://d/e/f");
  char buf[8];
  EXPECT_EQ(file->Read(8, 8, buf), 2u);
  EXPECT_EQ(std::string(buf, 2), "10");
  EXPECT_EQ(file->Read(10, 8, buf), 0u);
  auto seq = fs.NewSequentialFile("memtest://d/e/f");
  seq->Skip(7);
  EXPECT_EQ(seq->Read(buf, 8), 3u);
  EXPECT_EQ(std::string(buf, 3), "210");

  fs.RenameFile("memtest://d/e/f", "memtest://d/g");
  EXPECT_FALSE(fs.FileExists("memtest://d/e/f"));
  EXPECT_EQ(fs.ReadFile("memtest://d/g"), "9876543210");
  fs.DeleteFile("memtest://d/g");
  EXPECT_EQ(ErrorCode([&] { fs.DeleteFile("memtest://d/g"); }), ENOENT);
}

// The ListDir + fnmatch walk gives what glob(3) gives, on a real directory tree.
TEST(FileSystemTest, MatchPathsAgreesWithGlob) {
  ScratchDir dir;
  FileSystem& fs = DefaultFileSystem();
  for (const char* name : {"a/x1.csv", "a/x2.csv", "a/.hidden.csv", "a/y.txt", "b/x3.csv",
                           "b/sub/x4.csv", "c.csv", "[lit].csv"}) {
    fs.CreateDirs(DirName(dir / name));
    WriteFileAtomically(fs, dir / name, "1\n");
  }
  for (const char* pattern :
       {"*/x?.csv", "a/*", "a/.h*", "*/*/*.csv", "*.csv", "a/x[12].csv", "a/x[!1].csv", "nothing/*",
        "c.csv", "missing.csv", "a/*/x", "c.csv/*", "\\[lit\\].csv", "*/sub"}) {
    SCOPED_TRACE(pattern);
    std::vector<std::string> by_glob = fs.GetMatchingPaths(dir / pattern);
    std::sort(by_glob.begin(), by_glob.end());
    EXPECT_EQ(MatchPaths(fs, dir / pattern), by_glob);
  }
  // Where glob(3) differs: it also matches "." and ".."; ListDir has no such entries.
  EXPECT_EQ(MatchPaths(fs, dir / "a/.*"), std::vector<std::string>{dir / "a/.hidden.csv"});
}

TEST(FileSystemTest, RandomAccessReadsFromManyThreads) {
  ScopedMemoryFileSystem mem("memtest");
  ScratchDir dir;
  std::string data;
  for (int i = 0; i < 100000; ++i) data += static_cast<char>('a' + i % 26);
  for (const std::string& path : {mem.Write("memtest://f", data), dir / "f"}) {
    WriteFileAtomically(DefaultFileSystem(), path, data);
    auto file = DefaultFileSystem().NewRandomAccessFile(path);
    std::vector<std::thread> threads;
    std::atomic<int> wrong{0};
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        char buf[100];
        for (int i = 0; i < 500; ++i) {
          uint64_t offset = (t * 7919 + i * 104729) % (data.size() - 100);
          size_t got = file->Read(offset, 100, buf);
          if (std::string_view(buf, got) != std::string_view(data).substr(offset, 100)) ++wrong;
        }
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(wrong, 0) << path;
  }
}

std::vector<CsvColumn> TwoInts() {
  return {CsvColumn::Required(DType::kInt64), CsvColumn::Required(DType::kInt64)};
}

// Every reader, list_files and TFRecordWriter on "memory://", with exact resumption and the
// index with its sidecar.
TEST(FileSystemTest, ReadersOnTheMemoryFileSystem) {
  ScopedMemoryFileSystem mem("memtest");
  std::string csv = "a,b\n";
  std::string text;
  for (int i = 0; i < 500; ++i) {
    csv += std::to_string(i) + "," + std::to_string(2 * i) + "\n";
    text += "line " + std::to_string(i) + "\n";
  }
  mem.Write("memtest://d/rows.csv", csv);
  mem.Write("memtest://d/lines.txt", text);
  {
    TFRecordWriter writer("memtest://d/recs.tfrecord", "GZIP");
    for (int i = 0; i < 300; ++i) writer.Write("record " + std::to_string(i));
  }
  auto rows = Collect(CsvDataset({"memtest://d/rows.csv"}, TwoInts(), {.header = true}));
  ASSERT_EQ(rows.size(), 500u);
  EXPECT_EQ(rows[499][1].tensor(), Tensor::Scalar<int64_t>(998));
  auto lines = Strings(Collect(TextLineDataset({"memtest://d/lines.txt"})));
  ASSERT_EQ(lines.size(), 500u);
  EXPECT_EQ(lines[7], "line 7");
  auto records = Strings(
      Collect(TFRecordDataset({"memtest://d/recs.tfrecord"}, {.compression_type = "GZIP"})));
  ASSERT_EQ(records.size(), 300u);
  EXPECT_EQ(records[299], "record 299");
  ExpectExactResume(TextLineDataset({"memtest://d/lines.txt"}, {.buffer_size = 64}));

  auto names = Strings(Collect(ListFiles({"memtest://d/*.csv", "memtest://*/l*"}, false)));
  EXPECT_EQ(names, (std::vector<std::string>{"memtest://d/lines.txt", "memtest://d/rows.csv"}));

  ReaderOptions indexed{.index = true, .index_sidecar = true};
  auto ds = CsvDataset({"memtest://d/rows.csv"}, TwoInts(), {.header = true}, indexed);
  EXPECT_EQ(ds->Cardinality(), 500);
  EXPECT_EQ(ds->Get(250)[0].tensor(), Tensor::Scalar<int64_t>(250));
  EXPECT_TRUE(mem.fs().FileExists("memtest://d/rows.csv.ipidx"));
  EXPECT_FALSE(mem.fs().FileExists("memtest://d/rows.csv.ipidx.tmp"));
  auto again = CsvDataset({"memtest://d/rows.csv"}, TwoInts(), {.header = true}, indexed);
  EXPECT_EQ(again->Get(499)[1].tensor(), Tensor::Scalar<int64_t>(998));

  try {
    TextLineDataset({"nosuch://d/lines.txt"});
    FAIL();
  } catch (const InvalidArgumentError& e) {
    EXPECT_TRUE(MessageHas(e.what(), {"text_line", "scheme 'nosuch'"}));
  }
}

// The hook with no file system in its options picks the checkpoint directory's scheme.
TEST(FileSystemTest, HookWritesToTheDirectorysScheme) {
  ScopedMemoryFileSystem mem("memtest");
  const std::string dir = "memtest://ckpt";
  auto ds = Range(0, 100);
  auto it = ds->MakeIterator();
  {
    CheckpointHookOptions options;
    options.save_steps = 1'000'000;
    CheckpointInputPipelineHook hook({{"train", it.get()}}, dir, options);
    hook.Begin();
    for (int i = 0; i < 7; ++i) it->GetNext();
    hook.Save(7);
    hook.End();
  }
  EXPECT_TRUE(mem.fs().FileExists(dir + "/checkpoint_input"));
  ASSERT_TRUE(LatestInputCheckpoint(dir).has_value());
  auto restored = ds->MakeIterator();
  CheckpointHookOptions options;
  options.save_steps = 1'000'000;
  CheckpointInputPipelineHook hook({{"train", restored.get()}}, dir, options);
  EXPECT_EQ(hook.Begin(), 7);
  EXPECT_EQ(restored->GetNext()->tensor(), Tensor::Scalar<int64_t>(7));
}

}  // namespace
}  // namespace inputpipe
