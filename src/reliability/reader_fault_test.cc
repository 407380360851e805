// Read-side fault injection: every reader reading through FaultyFileSystem (registered as
// "faulty://"), with a fault at each read of a clean run in turn.
//
//   - EIO at read k: exactly one IOError naming the op, the file, the byte offset of that read
//     and the reason; the elements before it are the clean run's first ones, those after it (the
//     next file, or the next indexed record) a contiguous run of the clean ones: never a wrong one;
//   - read k ending early (0 bytes before the end): the same, an error naming the file and the
//     offset, never a silently shorter record (only the real end-of-file read may return 0);
//   - every read short (half of what it could): the clean run's elements exactly;
//   - list_files: EIO on each directory listing of a pattern: an IOError naming the pattern and
//     the directory;
//   - the row-index sidecar: ENOSPC / EIO on each call of its write (a warning naming the file
//     and the reason, the elements right, no temporary file left, never a torn sidecar, a later
//     run writes it and the next one loads it), a crash at every instant of that write (the
//     sidecar is whole or absent), and EIO, early ends and short reads on its read (rebuilt or
//     loaded, never wrong).
// Counts are printed ("[reliability] ...").
#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <iostream>
#include <map>

#include "inputpipe/file_system.h"
#include "inputpipe/readers.h"
#include "readers/readers_test_util.h"
#include "readers/tfrecord_format.h"
#include "reliability/faulty_file_system.h"
#include "testing/exactness.h"

namespace inputpipe {
namespace {

using reliability::FaultyFileSystem;
using testing::CanonicalText;
using testing::Gzip;
using testing::MessageHas;

constexpr char kScheme[] = "faulty";

using Files = std::vector<std::pair<std::string, std::string>>;  // path, bytes
using MakeFn = std::function<DatasetPtr(const std::vector<std::string>&)>;

struct ReaderCase {
  std::string name;
  std::string op;  // the op named in error messages
  Files files;     // relative paths under "<scheme>:///data/"
  MakeFn make;
};

std::vector<std::string> PathsOf(const Files& files, const std::string& scheme) {
  std::vector<std::string> paths;
  for (const auto& [name, bytes] : files) paths.push_back(scheme + ":///data/" + name);
  return paths;
}

// A fresh FaultyFileSystem holding `files`, registered under "faulty" until destroyed.
class FaultyStore {
 public:
  explicit FaultyStore(const Files& files) : fs_(std::make_shared<FaultyFileSystem>()) {
    for (const auto& [name, bytes] : files)
      fs_->AddFile(std::string(kScheme) + ":///data/" + name, bytes);
    RegisterFileSystem(kScheme, fs_);
  }
  ~FaultyStore() { UnregisterFileSystem(kScheme); }
  FaultyFileSystem& fs() { return *fs_; }

 private:
  std::shared_ptr<FaultyFileSystem> fs_;
};

// What one run gave: the elements before the (first) error, the error, the elements after it.
struct Outcome {
  std::vector<std::string> before, after;
  int errors = 0;
  std::string error;
};

Outcome RunReader(const MakeFn& make, const std::vector<std::string>& paths) {
  Outcome out;
  std::unique_ptr<Iterator> it;
  try {
    it = make(paths)->MakeIterator();
  } catch (const IOError& e) {
    out.errors = 1;
    out.error = e.what();
    return out;
  } catch (const DataLossError& e) {
    out.errors = 1;
    out.error = e.what();
    return out;
  }
  for (int guard = 0; guard < 1'000'000; ++guard) {
    try {
      std::optional<Element> e = it->GetNext();
      if (!e) break;
      (out.errors == 0 ? out.before : out.after).push_back(CanonicalText(*e));
    } catch (const IOError& e) {
      if (out.errors++ == 0) out.error = e.what();
    } catch (const DataLossError& e) {
      if (out.errors++ == 0) out.error = e.what();
    }
  }
  return out;
}

// "" when `out` never shows a wrong element: `before` is the first elements of `expected`, and
// `after` a contiguous run of it that reaches its end (the next file, or the next indexed
// record, after the one that failed).
std::string CheckNoWrongElement(const Outcome& out, const std::vector<std::string>& expected) {
  if (out.before.size() > expected.size() ||
      !std::equal(out.before.begin(), out.before.end(), expected.begin())) {
    return "the elements before the error are not the clean run's first ones";
  }
  if (out.after.empty()) return "";
  if (out.after.size() > expected.size() - out.before.size()) return "too many elements";
  const size_t start = expected.size() - out.after.size();
  if (start < out.before.size() ||
      !std::equal(out.after.begin(), out.after.end(), expected.begin() + start)) {
    return "the elements after the error are not the clean run's last ones";
  }
  return "";
}

std::string Lines(int n, int seed) {
  std::string s;
  for (int i = 0; i < n; ++i) {
    s += "line " + std::to_string(seed) + "." + std::to_string(i) + " " +
         std::string((i * 37 + seed) % 90, 'a' + i % 26) + (i % 5 == 0 ? "\r\n" : "\n");
  }
  return s;
}

std::string Csv(int rows, int seed) {
  std::string s = "id,text,value\n";
  for (int i = 0; i < rows; ++i) {
    s += std::to_string(seed * 10000 + i) + ",\"text " + std::to_string(i) + "\n" +
         std::string(i % 70, 'x') + "\"," + std::to_string(i) + ".5\n";
  }
  return s;
}

std::string Records(int n, int seed) {
  std::string s;
  for (int i = 0; i < n; ++i) {
    AppendTFRecord(&s, std::to_string(seed) + ":" + std::string((i * 53 + seed) % 300, 'r'));
  }
  return s;
}

std::vector<CsvColumn> CsvColumns() {
  return {CsvColumn::Required(DType::kInt64), CsvColumn::Required(DType::kString),
          CsvColumn::Required(DType::kFloat64)};
}

std::vector<ReaderCase> Cases() {
  const ReaderOptions small{.buffer_size = 4096};
  return {
      {"TextLineDataset",
       "text_line",
       {{"a.txt", Lines(400, 1)}, {"b.txt", Lines(300, 2)}},
       [=](const auto& paths) { return TextLineDataset(paths, small); }},
      {"TextLineDataset GZIP",
       "text_line",
       {{"a.txt.gz", Gzip(Lines(3000, 3))}, {"b.txt.gz", Gzip(Lines(200, 4))}},
       [=](const auto& paths) {
         return TextLineDataset(paths, {.compression_type = "GZIP", .buffer_size = 4096});
       }},
      {"CsvDataset",
       "csv",
       {{"a.csv", Csv(300, 1)}, {"b.csv", Csv(200, 2)}},
       [=](const auto& paths) { return CsvDataset(paths, CsvColumns(), {.header = true}, small); }},
      {"CsvDataset indexed",
       "csv",
       {{"a.csv", Csv(300, 1)}, {"b.csv", Csv(200, 2)}},
       [=](const auto& paths) {
         return CsvDataset(paths, CsvColumns(), {.header = true},
                           {.buffer_size = 4096, .index = true});
       }},
      {"TFRecordDataset",
       "tfrecord",
       {{"a.tfrecord", Records(150, 1)}, {"b.tfrecord", Records(80, 2)}},
       [=](const auto& paths) { return TFRecordDataset(paths, small); }},
  };
}

// The same files on the in-memory store: what a run with no fault must give.
std::vector<std::string> Reference(const ReaderCase& c) {
  RegisterFileSystem("faultref", NewMemoryFileSystem());
  auto fs = FileSystemForPath("faultref://");
  for (const auto& [name, bytes] : c.files)
    WriteFileAtomically(*fs, "faultref:///data/" + name, bytes);
  Outcome out = RunReader(c.make, PathsOf(c.files, "faultref"));
  UnregisterFileSystem("faultref");
  EXPECT_EQ(out.errors, 0) << out.error;
  return out.before;
}

int64_t g_read_faults = 0;

TEST(ReaderFaultTest, EveryReadFaultIsReportedAndNoElementIsWrong) {
  for (const ReaderCase& c : Cases()) {
    SCOPED_TRACE(c.name);
    const std::vector<std::string> expected = Reference(c);
    ASSERT_GT(expected.size(), 100u);
    const std::vector<std::string> paths = PathsOf(c.files, kScheme);
    std::map<std::string, size_t> sizes;
    for (size_t f = 0; f < paths.size(); ++f) sizes[paths[f]] = c.files[f].second.size();

    std::vector<FaultyFileSystem::ReadEvent> reads;
    {
      FaultyStore store(c.files);
      Outcome clean = RunReader(c.make, paths);
      ASSERT_EQ(clean.errors, 0) << clean.error;
      ASSERT_EQ(clean.before, expected);
      reads = store.fs().reads();
    }
    ASSERT_GE(reads.size(), 4u);
    {
      FaultyStore store(c.files);
      store.fs().SetShortReads(true);
      Outcome out = RunReader(c.make, paths);
      EXPECT_EQ(out.errors, 0) << "short reads: " << out.error;
      EXPECT_EQ(out.before, expected) << "short reads changed the elements";
      EXPECT_GT(store.fs().read_count(), static_cast<int64_t>(reads.size()));
    }
    for (size_t k = 0; k < reads.size(); ++k) {
      const auto& read = reads[k];
      const std::string at = "at byte " + std::to_string(read.offset);
      for (bool end_early : {false, true}) {
        SCOPED_TRACE((end_early ? "early end of read " : "EIO on read ") + std::to_string(k) +
                     ": " + read.path + " " + at);
        FaultyStore store(c.files);
        if (end_early) {
          store.fs().EndReadAt(static_cast<int64_t>(k));
        } else {
          store.fs().FailReadAt(static_cast<int64_t>(k), EIO);
        }
        Outcome out = RunReader(c.make, paths);
        ASSERT_EQ(store.fs().faults_injected(), 1);
        ++g_read_faults;
        EXPECT_EQ(CheckNoWrongElement(out, expected), "");
        if (end_early && read.offset >= sizes[read.path]) {
          // The real end of the file: a read there returns 0 anyway.
          EXPECT_EQ(out.errors, 0) << out.error;
          EXPECT_EQ(out.before, expected);
          continue;
        }
        ASSERT_EQ(out.errors, 1);
        EXPECT_TRUE(MessageHas(out.error, {c.op + ": ", "'" + read.path + "'", "byte"}));
        if (!end_early) EXPECT_TRUE(MessageHas(out.error, {at, std::strerror(EIO)}));
        if (end_early && read.kind == FaultyFileSystem::ReadKind::kSequential) {
          EXPECT_TRUE(MessageHas(out.error, {at, "ends there"}));
        }
      }
    }
  }
  std::cout << "[reliability] reader faults: " << g_read_faults
            << " read faults injected (EIO and early ends, one per read of a clean run, 5 "
               "readers), and every read short for each"
            << std::endl;
}

TEST(ReaderFaultTest, ListFilesReportsAListingError) {
  const Files files = {{"x/part-0.csv", "1\n"},
                       {"x/part-1.csv", "2\n"},
                       {"y/part-0.csv", "3\n"},
                       {"y/other.txt", "4\n"}};
  const std::string pattern = "faulty:///data/*/part-*.csv";
  std::vector<FaultyFileSystem::ReadEvent> reads;
  {
    FaultyStore store(files);
    auto names = testing::Strings(testing::Collect(ListFiles({pattern}, false)));
    EXPECT_EQ(names, (std::vector<std::string>{"faulty:///data/x/part-0.csv",
                                               "faulty:///data/x/part-1.csv",
                                               "faulty:///data/y/part-0.csv"}));
    reads = store.fs().reads();
  }
  ASSERT_EQ(reads.size(), 3u);  // data, then x and y
  for (size_t k = 0; k < reads.size(); ++k) {
    SCOPED_TRACE("EIO on listing " + reads[k].path);
    FaultyStore store(files);
    store.fs().FailReadAt(static_cast<int64_t>(k), EIO);
    try {
      ListFiles({pattern}, false);
      ADD_FAILURE() << "no error";
    } catch (const IOError& e) {
      EXPECT_TRUE(MessageHas(e.what(), {"list_files", pattern, reads[k].path, std::strerror(EIO)}));
    }
  }
}

// TFRecordWriter writes through the seam: ENOSPC on its open, a write and its close is an
// IOError naming the writer, the file and the reason.
TEST(ReaderFaultTest, TFRecordWriterReportsWriteFaults) {
  int64_t first, last;
  {
    FaultyStore store({});
    store.fs().CreateDirs("faulty:///out");
    first = store.fs().event_count();
    TFRecordWriter writer("faulty:///out/a.tfrecord");
    writer.Write("x");
    writer.Close();
    last = store.fs().event_count();
  }
  ASSERT_EQ(last - first, 3) << "open, write, close";
  for (int64_t k = first; k < last; ++k) {
    SCOPED_TRACE("ENOSPC at event " + std::to_string(k));
    FaultyStore store({});
    store.fs().CreateDirs("faulty:///out");
    store.fs().FailAt(k, ENOSPC);
    try {
      TFRecordWriter writer("faulty:///out/a.tfrecord");
      writer.Write("x");
      writer.Close();
      ADD_FAILURE() << "no error";
    } catch (const IOError& e) {
      EXPECT_TRUE(MessageHas(e.what(), {"TFRecordWriter: cannot", "'faulty:///out/a.tfrecord'",
                                        std::strerror(ENOSPC)}));
    }
  }
}

// ---- The row-index sidecar ---------------------------------------------------------------------
const std::string kData = "faulty:///data/rows.csv";
const std::string kSidecar = kData + ".ipidx";

DatasetPtr IndexedCsv() {
  return CsvDataset({kData}, CsvColumns(), {.header = true},
                    {.buffer_size = 4096, .index = true, .index_sidecar = true});
}

std::vector<std::string> AllByGet(const DatasetPtr& ds) {
  std::vector<std::string> out;
  for (int64_t i = 0; i < ds->Cardinality(); ++i) out.push_back(CanonicalText(ds->Get(i)));
  return out;
}

int64_t SequentialReadsOf(const FaultyFileSystem& fs, const std::string& path) {
  int64_t n = 0;
  for (const auto& r : fs.reads())
    n += r.kind == FaultyFileSystem::ReadKind::kSequential && r.path == path;
  return n;
}

struct SidecarFixture {
  Files files{{"rows.csv", Csv(400, 5)}};
  std::vector<std::string> expected;
  std::string sidecar;                      // the sidecar a clean run writes
  int64_t write_first = 0, write_last = 0;  // its write's events

  SidecarFixture() {
    FaultyStore store(files);
    write_first = store.fs().event_count();
    DatasetPtr ds = IndexedCsv();
    write_last = store.fs().event_count();
    expected = AllByGet(ds);
    sidecar = store.fs().Contents(kSidecar);
  }
};

TEST(ReaderFaultTest, SidecarWriteFaultsLeaveNoTornSidecar) {
  SidecarFixture fx;
  ASSERT_EQ(fx.expected.size(), 400u);
  ASSERT_GE(fx.write_last - fx.write_first, 6) << "open, write, fsync, close, rename, fsync dir";
  int64_t faults = 0, images = 0, torn = 0;
  for (int64_t k = fx.write_first; k < fx.write_last; ++k) {
    for (int error : {ENOSPC, EIO}) {
      SCOPED_TRACE("fault " + std::to_string(k) + ": " + std::strerror(error));
      FaultyStore store(fx.files);
      store.fs().FailAt(k, error);
      std::vector<std::unique_ptr<FaultyFileSystem>> crashes;
      store.fs().OnEvent([&](const FaultyFileSystem::Event&, FaultyFileSystem& self) {
        for (auto& image : self.CrashImagesLocked()) crashes.push_back(std::move(image));
      });
      ::testing::internal::CaptureStderr();
      DatasetPtr ds = IndexedCsv();
      const std::string warning = ::testing::internal::GetCapturedStderr();
      store.fs().OnEvent(nullptr);
      ASSERT_EQ(store.fs().faults_injected(), 1);
      ++faults;
      EXPECT_TRUE(MessageHas(warning, {"csv: cannot write the index file", kSidecar,
                                       std::strerror(error), "in memory only"}));
      EXPECT_EQ(AllByGet(ds), fx.expected);
      EXPECT_FALSE(store.fs().FileExists(kSidecar + ".tmp")) << "temporary file left";
      if (store.fs().FileExists(kSidecar)) {
        EXPECT_EQ(store.fs().Contents(kSidecar), fx.sidecar) << "torn sidecar";
      }
      for (auto& image : crashes) {
        ++images;
        if (image->FileExists(kSidecar) && image->Contents(kSidecar) != fx.sidecar) {
          ++torn;
          ADD_FAILURE() << "a crash left a torn sidecar";
        }
      }
      // A later run writes the sidecar; the one after loads it without scanning the file.
      EXPECT_EQ(AllByGet(IndexedCsv()), fx.expected);
      EXPECT_EQ(store.fs().Contents(kSidecar), fx.sidecar);
      const int64_t scans = SequentialReadsOf(store.fs(), kData);
      EXPECT_EQ(AllByGet(IndexedCsv()), fx.expected);
      EXPECT_EQ(SequentialReadsOf(store.fs(), kData), scans) << "the sidecar was not loaded";
    }
  }
  std::cout << "[reliability] sidecar write: " << faults << " faults injected, " << images
            << " crash images checked, " << torn << " with a torn sidecar" << std::endl;
}

TEST(ReaderFaultTest, SidecarReadFaultsRebuildOrLoadNeverWrong) {
  SidecarFixture fx;
  Files with_sidecar = fx.files;
  with_sidecar.push_back({"rows.csv.ipidx", fx.sidecar});
  std::vector<FaultyFileSystem::ReadEvent> reads;
  {
    FaultyStore store(with_sidecar);
    EXPECT_EQ(AllByGet(IndexedCsv()), fx.expected);
    EXPECT_EQ(SequentialReadsOf(store.fs(), kData), 0) << "the sidecar was not loaded";
    reads = store.fs().reads();
  }
  int64_t faults = 0;
  for (size_t k = 0; k < reads.size(); ++k) {
    if (reads[k].path != kSidecar) continue;
    for (bool end_early : {false, true}) {
      SCOPED_TRACE((end_early ? "early end of sidecar read " : "EIO on sidecar read ") +
                   std::to_string(k) + " at byte " + std::to_string(reads[k].offset));
      FaultyStore store(with_sidecar);
      if (end_early) {
        store.fs().EndReadAt(static_cast<int64_t>(k));
      } else {
        store.fs().FailReadAt(static_cast<int64_t>(k), EIO);
      }
      ::testing::internal::CaptureStderr();
      DatasetPtr ds = IndexedCsv();
      const std::string warning = ::testing::internal::GetCapturedStderr();
      ASSERT_EQ(store.fs().faults_injected(), 1);
      ++faults;
      if (!end_early) {
        EXPECT_TRUE(MessageHas(warning, {"csv: cannot read the index file", kSidecar,
                                         std::strerror(EIO), "rebuilding"}));
      }
      EXPECT_EQ(AllByGet(ds), fx.expected);
      EXPECT_EQ(store.fs().Contents(kSidecar), fx.sidecar);
    }
  }
  EXPECT_GE(faults, 2);
  FaultyStore store(with_sidecar);
  store.fs().SetShortReads(true);
  EXPECT_EQ(AllByGet(IndexedCsv()), fx.expected);
  EXPECT_EQ(SequentialReadsOf(store.fs(), kData), 0) << "short reads: the sidecar was not loaded";
}

}  // namespace
}  // namespace inputpipe
