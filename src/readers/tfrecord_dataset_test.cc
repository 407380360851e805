// TFRecord reading and writing: round trips in every compression, exact resumption (streaming
// and indexed), the sidecar index, and bad input named by file, record and byte offset.
#include <gtest/gtest.h>

#include <filesystem>

#include "inputpipe/readers.h"
#include "readers/readers_test_util.h"
#include "readers/tfrecord_format.h"
#include "util/coding.h"
#include "util/crc32c.h"

namespace inputpipe {
namespace {

using namespace testing;  // NOLINT: test helpers

std::vector<std::string> SampleRecords(int n, const std::string& tag) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(tag + std::to_string(i) + std::string(i * 7 % 50, 'x'));
  out.push_back("");  // an empty record is valid
  return out;
}

std::string Framed(const std::vector<std::string>& records) {
  std::string out;
  for (const auto& r : records) AppendTFRecord(&out, r);
  return out;
}

// The message of the error GetNext raises after `skip` good records.
template <typename E>
std::string ErrorAfter(const DatasetPtr& ds, int skip) {
  auto it = ds->MakeIterator();
  for (int i = 0; i < skip; ++i) EXPECT_TRUE(it->GetNext().has_value());
  try {
    it->GetNext();
  } catch (const E& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error after " << skip << " records";
  return "";
}

TEST(TFRecordTest, WriterAndReaderRoundTripInEveryCompression) {
  TempDir dir;
  const auto records = SampleRecords(40, "r");
  for (std::string compression : {"", "GZIP", "ZLIB"}) {
    std::string path = dir.Path("data" + compression);
    {
      TFRecordWriter w(path, compression);
      for (const auto& r : records) w.Write(r);
      w.Flush();
    }
    EXPECT_EQ(Strings(Collect(TFRecordDataset({path}, {.compression_type = compression}))), records)
        << compression;
  }
  EXPECT_EQ(testing::ReadFile(dir.Path("data")), Framed(records));
  EXPECT_THROW(TFRecordWriter(dir.Path("x"), "BZIP2"), InvalidArgumentError);
  EXPECT_THROW(TFRecordDataset({dir.Path("x")}, {.compression_type = "gzip"}), InvalidArgumentError);
  EXPECT_THROW(TFRecordWriter(dir.Path("no/such/dir/x")), IOError);
}

TEST(TFRecordTest, ReadsFilesInOrderAndLargeRecords) {
  TempDir dir;
  std::string big(3 << 20, 'b');
  std::string a = dir.Write("a", Framed({"a0", big, "a2"}));
  std::string b = dir.Write("b", Framed({}));
  std::string c = dir.Write("c", Framed({"c0"}));
  EXPECT_EQ(Strings(Collect(TFRecordDataset({a, b, c}, {.buffer_size = 100}))),
            (std::vector<std::string>{"a0", big, "a2", "c0"}));
  EXPECT_EQ(TFRecordDataset({a})->Cardinality(), kUnknownCardinality);
  EXPECT_FALSE(TFRecordDataset({a})->IsRandomAccess());
}

TEST(TFRecordTest, ResumesExactlyMidFile) {
  TempDir dir;
  std::vector<std::string> files;
  for (std::string compression : {"", "GZIP"}) {
    for (int f = 0; f < 3; ++f) {
      std::string path = dir.Path("part" + std::to_string(f) + compression);
      TFRecordWriter w(path, compression);
      for (const auto& r : SampleRecords(9, "f" + std::to_string(f) + "_")) w.Write(r);
    }
    std::vector<std::string> names;
    for (int f = 0; f < 3; ++f) names.push_back(dir.Path("part" + std::to_string(f) + compression));
    // A tiny buffer puts the saved offsets in the middle of refills.
    ExpectExactResume(TFRecordDataset(names, {.compression_type = compression, .buffer_size = 16}));
    ExpectExactResume(TFRecordDataset(names, {.compression_type = compression}));
  }
}

TEST(TFRecordTest, StateIsAPositionNotData) {
  TempDir dir;
  std::string path = dir.Write("a", Framed(SampleRecords(5, "long record ")));
  auto it = TFRecordDataset({path})->MakeIterator();
  it->GetNext();
  it->GetNext();
  DecodedState state = DecodeState(it->Save());
  std::string json = InspectState(it->Save());
  EXPECT_NE(json.find("\"offset\""), std::string::npos) << json;
  EXPECT_EQ(json.find("long record"), std::string::npos) << json;
  bool found_offset = false;
  const auto records = SampleRecords(5, "long record ");
  for (const auto& [key, value] : state.root.ints) {
    if (key == "offset") {
      found_offset = true;
      EXPECT_EQ(value, static_cast<int64_t>(Framed({records[0], records[1]}).size()));
    }
  }
  EXPECT_TRUE(found_offset);
}

TEST(TFRecordTest, RestoreAfterTheFileChangedNamesTheFile) {
  TempDir dir;
  std::string path = dir.Write("data.tfrecord", Framed(SampleRecords(5, "r")));
  auto ds = TFRecordDataset({path});
  auto it = ds->MakeIterator();
  it->GetNext();
  std::string state = it->Save();
  dir.Write("data.tfrecord", Framed(SampleRecords(6, "changed")));
  try {
    ds->MakeIterator()->Restore(state);
    FAIL() << "expected PipelineMismatchError";
  } catch (const PipelineMismatchError& e) {
    EXPECT_TRUE(MessageHas(e.what(), {"tfrecord", path, "changed"}));
  }
  std::filesystem::remove(path);
  try {
    ds->MakeIterator()->Restore(state);
    FAIL() << "expected IOError";
  } catch (const IOError& e) {
    EXPECT_TRUE(MessageHas(e.what(), {path}));
  }
}

TEST(TFRecordTest, BadDataCrcNamesRecordAndOffsetAndSkipsOnlyThatRecord) {
  TempDir dir;
  std::vector<std::string> records = {"zero", "one", "two"};
  std::string bytes = Framed(records);
  const size_t second = Framed({"zero"}).size();
  bytes[second + kTFRecordHeaderBytes + 1] ^= 0x20;  // "one" -> "oNe"
  std::string path = dir.Write("bad.tfrecord", bytes);
  auto ds = TFRecordDataset({path});
  EXPECT_TRUE(MessageHas(ErrorAfter<DataLossError>(ds, 1),
                         {"tfrecord", path, "record 1", "byte " + std::to_string(second),
                          "CRC32C of the data"}));
  auto it = ds->MakeIterator();
  EXPECT_EQ(it->GetNext()->tensor().strings()[0], "zero");
  EXPECT_THROW(it->GetNext(), DataLossError);
  EXPECT_EQ(it->GetNext()->tensor().strings()[0], "two");
  EXPECT_FALSE(it->GetNext().has_value());
}

TEST(TFRecordTest, CorruptLengthTruncationAndAbsurdLengthsAreErrors) {
  TempDir dir;
  std::string good = Framed({"aaaa", "bbbb"});
  std::string next = dir.Write("next", Framed({"next"}));

  std::string bad_len = good;
  bad_len[Framed({"aaaa"}).size()] ^= 1;
  std::string p1 = dir.Write("badlen", bad_len);
  EXPECT_TRUE(MessageHas(ErrorAfter<DataLossError>(TFRecordDataset({p1}), 1),
                         {p1, "record 1", "CRC32C of the length"}));
  // The rest of that file cannot be trusted: the reader goes on with the next file.
  auto it = IgnoreErrors(TFRecordDataset({p1, next}))->MakeIterator();
  EXPECT_EQ(Strings(testing::CollectFrom(*it)), (std::vector<std::string>{"aaaa", "next"}));
  EXPECT_EQ(IgnoredErrorCount(*it), 1);

  std::string p2 = dir.Write("truncated", good.substr(0, good.size() - 3));
  EXPECT_TRUE(MessageHas(ErrorAfter<DataLossError>(TFRecordDataset({p2}), 1),
                         {p2, "record 1", "truncated"}));
  std::string p3 = dir.Write("header", good.substr(0, Framed({"aaaa"}).size() + 5));
  EXPECT_TRUE(MessageHas(ErrorAfter<DataLossError>(TFRecordDataset({p3}), 1),
                         {p3, "truncated", "header"}));

  // A length field of 2^40 with a valid CRC: refused before allocating anything.
  std::string huge;
  PutFixed64(&huge, uint64_t{1} << 40);
  PutFixed32(&huge, crc32c::Mask(crc32c::Value(huge.data(), 8)));
  std::string p4 = dir.Write("huge", huge + "tail");
  EXPECT_TRUE(MessageHas(ErrorAfter<DataLossError>(TFRecordDataset({p4}), 0),
                         {p4, "record 0", "byte 0", "1099511627776", "max_record_bytes"}));
  std::string p5 = dir.Write("small", Framed({std::string(100, 'x')}));
  EXPECT_TRUE(MessageHas(ErrorAfter<DataLossError>(TFRecordDataset({p5}, {.max_record_bytes = 99}), 0),
                         {"exceeds the limit of 99"}));
  EXPECT_THROW(TFRecordDataset({p5}, {.max_record_bytes = 0}), InvalidArgumentError);
}

TEST(TFRecordTest, MissingFileAndEarlyGzipEndAreErrorsNamingTheFile) {
  TempDir dir;
  std::string missing = dir.Path("missing.tfrecord");
  EXPECT_TRUE(MessageHas(ErrorAfter<IOError>(TFRecordDataset({missing}), 0),
                         {"tfrecord", "cannot open", missing}));
  {
    TFRecordWriter w(dir.Path("full.gz"), "GZIP");
    for (const auto& r : SampleRecords(200, "gzipped record ")) w.Write(r);
  }
  std::string full = testing::ReadFile(dir.Path("full.gz"));
  std::string cut = dir.Write("cut.gz", full.substr(0, full.size() / 2));
  auto it = TFRecordDataset({cut}, {.compression_type = "GZIP"})->MakeIterator();
  try {
    while (it->GetNext()) {
    }
    FAIL() << "expected DataLossError";
  } catch (const DataLossError& e) {
    EXPECT_TRUE(MessageHas(e.what(), {cut, "ends early"}));
  }
  EXPECT_FALSE(it->GetNext().has_value());  // the broken file is left behind
  std::string garbage = dir.Write("garbage.gz", "this is not gzip data at all");
  EXPECT_TRUE(MessageHas(
      ErrorAfter<DataLossError>(TFRecordDataset({garbage}, {.compression_type = "GZIP"}), 0),
      {garbage, "corrupt GZIP data"}));
}

TEST(TFRecordTest, IndexMakesItRandomAccess) {
  TempDir dir;
  std::string a = dir.Write("a", Framed(SampleRecords(7, "a")));
  std::string b = dir.Write("b", Framed(SampleRecords(4, "b")));
  auto streaming = Collect(TFRecordDataset({a, b}));
  auto ds = TFRecordDataset({a, b}, {.index = true});
  ASSERT_TRUE(ds->IsRandomAccess());
  ASSERT_EQ(ds->Cardinality(), static_cast<int64_t>(streaming.size()));
  for (int64_t i = ds->Cardinality() - 1; i >= 0; --i) EXPECT_EQ(ds->Get(i), streaming[i]) << i;
  EXPECT_EQ(Collect(ds), streaming);
  EXPECT_THROW(ds->Get(ds->Cardinality()), InvalidArgumentError);
  ExpectExactResume(ds);
  // A random-access reader composes with the random-access ops.
  EXPECT_EQ(Batch(ds, 4)->Get(1), Collect(Batch(TFRecordDataset({a, b}), 4))[1]);
  EXPECT_THROW(TFRecordDataset({a}, {.compression_type = "GZIP", .index = true}), InvalidArgumentError);
  EXPECT_THROW(TFRecordDataset({a}, {.index_sidecar = true}), InvalidArgumentError);
}

TEST(TFRecordTest, IndexedRestoreChecksEveryFileFingerprint) {
  TempDir dir;
  std::string a = dir.Write("a", Framed(SampleRecords(3, "a")));
  std::string b = dir.Write("b", Framed(SampleRecords(3, "b")));
  auto it = TFRecordDataset({a, b}, {.index = true})->MakeIterator();
  it->GetNext();
  std::string state = it->Save();
  dir.Write("b", Framed(SampleRecords(4, "b")));
  try {
    TFRecordDataset({a, b}, {.index = true})->MakeIterator()->Restore(state);
    FAIL() << "expected PipelineMismatchError";
  } catch (const PipelineMismatchError& e) {
    // The fingerprint holds the files' content digest; allow_changes names the file.
    EXPECT_TRUE(MessageHas(e.what(), {"tfrecord(files=2 (content ", "changed"}));
  }
  std::vector<std::string> warnings;
  TFRecordDataset({a, b}, {.index = true})
      ->MakeIterator()
      ->Restore(state, {.allow_changes = true}, &warnings);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_TRUE(MessageHas(warnings[0], {b, "changed"}));
}

TEST(TFRecordTest, SidecarIndexIsWrittenReusedAndRebuiltWhenStale) {
  TempDir dir;
  std::string a = dir.Write("a.tfrecord", Framed(SampleRecords(6, "a")));
  const std::string sidecar = a + ".ipidx";
  auto first = TFRecordDataset({a}, {.index = true, .index_sidecar = true});
  ASSERT_TRUE(std::filesystem::exists(sidecar));
  EXPECT_EQ(first->Cardinality(), 7);
  // Reused, not rewritten.
  const auto written = std::filesystem::last_write_time(sidecar);
  const std::string sidecar_bytes = testing::ReadFile(sidecar);
  std::filesystem::remove(sidecar);
  dir.Write("a.tfrecord.ipidx", sidecar_bytes);
  const auto restored = std::filesystem::last_write_time(sidecar);
  auto second = TFRecordDataset({a}, {.index = true, .index_sidecar = true});
  EXPECT_EQ(std::filesystem::last_write_time(sidecar), restored);
  EXPECT_GE(restored, written);
  EXPECT_EQ(Collect(second), Collect(first));
  // Corrupt sidecar bytes are ignored (CRC) and the index rebuilt.
  std::string bytes = testing::ReadFile(sidecar);
  bytes[bytes.size() / 2] ^= 0x55;
  dir.Write("a.tfrecord.ipidx", bytes);
  EXPECT_EQ(Collect(TFRecordDataset({a}, {.index = true, .index_sidecar = true})), Collect(first));
  // After the data file changes, its fingerprint no longer matches: rebuilt.
  dir.Write("a.tfrecord", Framed(SampleRecords(9, "new")));
  auto third = TFRecordDataset({a}, {.index = true, .index_sidecar = true});
  EXPECT_EQ(third->Cardinality(), 10);
  EXPECT_EQ(Collect(third), Collect(TFRecordDataset({a})));
}

}  // namespace
}  // namespace inputpipe
