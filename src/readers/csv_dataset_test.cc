// CsvDataset: tf.data's semantics (the differential cases are in golden_test.cc), exact
// resumption across quoted multi-line records and compressed files, random access, and bad
// rows named by file, line and column.
#include <gtest/gtest.h>

#include "inputpipe/readers.h"
#include "readers/csv_parser.h"
#include "readers/readers_test_util.h"

namespace inputpipe {
namespace {

using namespace testing;  // NOLINT: test helpers

std::vector<CsvColumn> IntStringFloat() {
  return {CsvColumn::Required(DType::kInt64), CsvColumn::Default(Tensor::String("none")),
          CsvColumn::Default(Tensor::Scalar(0.5f))};
}

std::string NastyCsv(int rows) {
  std::string s = "id,name,value\r\n";
  for (int i = 0; i < rows; ++i) {
    s += std::to_string(i) + ",";
    switch (i % 4) {
      case 0: s += "\"quoted, with \"\"escapes\"\"\n and a newline\""; break;
      case 1: s += ""; break;
      case 2: s += "plain"; break;
      case 3: s += "\"\""; break;
    }
    s += "," + (i % 3 == 0 ? std::string() : std::to_string(i) + ".25");
    s += i % 2 ? "\r\n" : "\n";
  }
  return s;
}

std::string StringAt(const Element& row, size_t i) { return row[i].tensor().strings()[0]; }

TEST(CsvTest, ParsesTypesDefaultsAndQuotes) {
  TempDir dir;
  std::string path = dir.Write("a.csv", NastyCsv(8));
  auto rows = Collect(CsvDataset({path}, IntStringFloat(), {.header = true}));
  ASSERT_EQ(rows.size(), 8u);
  EXPECT_EQ(rows[0][0].tensor(), Tensor::Scalar<int64_t>(0));
  EXPECT_EQ(StringAt(rows[0], 1), "quoted, with \"escapes\"\n and a newline");
  EXPECT_EQ(rows[0][2].tensor(), Tensor::Scalar(0.5f));  // empty -> default
  EXPECT_EQ(StringAt(rows[1], 1), "none");
  EXPECT_EQ(rows[1][2].tensor(), Tensor::Scalar(1.25f));
  EXPECT_EQ(StringAt(rows[2], 1), "plain");
  EXPECT_EQ(StringAt(rows[3], 1), "none");  // "" is an empty field
  EXPECT_EQ(rows[7][0].tensor(), Tensor::Scalar<int64_t>(7));
  EXPECT_EQ(rows[0].StructureString(), "(int64[], string[], float32[])");
}

TEST(CsvTest, ResumesExactlyMidFile) {
  TempDir dir;
  std::string a = dir.Write("a.csv", NastyCsv(30));
  std::string b = dir.Write("b.csv", NastyCsv(5));
  for (int64_t buffer_size : {0, 5, 64}) {
    ExpectExactResume(CsvDataset({a, b}, IntStringFloat(), {.header = true},
                                 {.buffer_size = buffer_size}));
  }
  // GZIP: the saved offset is in the decompressed stream; restore decompresses up to it.
  std::string gz = dir.Write("a.csv.gz", testing::Gzip(testing::ReadFile(a)));
  std::string b_gz = dir.Write("b.csv.gz", testing::Gzip(testing::ReadFile(b)));
  auto gz_ds = CsvDataset({gz, b_gz}, IntStringFloat(), {.header = true},
                          {.compression_type = "GZIP", .buffer_size = 7});
  EXPECT_EQ(Collect(gz_ds), Collect(CsvDataset({a, b}, IntStringFloat(), {.header = true})));
  ExpectExactResume(gz_ds);
}

TEST(CsvTest, IndexMakesItRandomAccess) {
  TempDir dir;
  std::string a = dir.Write("a.csv", NastyCsv(13));
  std::string b = dir.Write("b.csv", NastyCsv(4));
  auto streaming = Collect(CsvDataset({a, b}, IntStringFloat(), {.header = true}));
  auto ds = CsvDataset({a, b}, IntStringFloat(), {.header = true}, {.index = true});
  ASSERT_EQ(ds->Cardinality(), 17);
  for (int64_t i = 0; i < 17; ++i) EXPECT_EQ(ds->Get(16 - i), streaming[16 - i]);
  ExpectExactResume(ds);
}

TEST(CsvTest, BadRowsNameFileLineAndColumnAndOnlyThatRowIsSkipped) {
  TempDir dir;
  // Line numbers count the physical lines of multi-line quoted fields.
  std::string path = dir.Write("bad.csv",
                               "id,name,value\n"      // line 1
                               "1,\"two\nlines\",1\n"  // lines 2-3
                               "2,x,notanumber\n"      // line 4
                               "3,y\n"                 // line 5: too few fields
                               "4,y,1,extra\n"         // line 6: too many
                               ",z,2\n"                // line 7: required field missing
                               "5,a\"b,3\n"            // line 8: quote in unquoted field
                               "6,ok,4\n");            // line 9
  auto ds = CsvDataset({path}, IntStringFloat(), {.header = true});
  auto it = ds->MakeIterator();
  EXPECT_EQ(it->GetNext()->operator[](0), Element(Tensor::Scalar<int64_t>(1)));
  const std::vector<std::vector<std::string>> expected = {
      {"line 4", "field 2", "not a valid float32", "notanumber"},
      {"line 5", "expected 3 fields", "has 2"},
      {"line 6", "expected 3 fields", "has more"},
      {"line 7", "field 0", "required but missing"},
      {"line 8", "unquoted field cannot contain a quote"}};
  for (const auto& fragments : expected) {
    try {
      it->GetNext();
      ADD_FAILURE() << "expected an error with " << fragments[0];
    } catch (const DataLossError& e) {
      std::vector<std::string> all = fragments;
      all.push_back("csv");
      all.push_back(path);
      EXPECT_TRUE(MessageHas(e.what(), all));
    }
  }
  EXPECT_EQ(it->GetNext()->operator[](0), Element(Tensor::Scalar<int64_t>(6)));
  EXPECT_FALSE(it->GetNext().has_value());

  auto skipping = IgnoreErrors(ds)->MakeIterator();
  EXPECT_EQ(testing::CollectFrom(*skipping).size(), 2u);
  EXPECT_EQ(IgnoredErrorCount(*skipping), 5);
}

TEST(CsvTest, UnterminatedQuoteAndOverlongRecordsEndTheFile) {
  TempDir dir;
  std::string open = dir.Write("open.csv", "1,a\n2,\"never closed\n3,b\n");
  std::string next = dir.Write("next.csv", "9,z\n");
  std::vector<CsvColumn> cols = {CsvColumn::Required(DType::kInt64), CsvColumn::Required(DType::kString)};
  auto it = CsvDataset({open, next}, cols)->MakeIterator();
  it->GetNext();
  ExpectError<DataLossError>([&] { it->GetNext(); }, {open, "line 2", "unterminated quote"});
  EXPECT_EQ(it->GetNext()->operator[](0), Element(Tensor::Scalar<int64_t>(9)));

  std::string longrow = dir.Write("long.csv", "1," + std::string(5000, 'x') + "\n2,y\n");
  auto it2 = CsvDataset({longrow, next}, cols, {}, {.max_record_bytes = 1000})->MakeIterator();
  ExpectError<DataLossError>([&] { it2->GetNext(); },
                             {longrow, "line 1", "longer than the limit of 1000"});
  EXPECT_EQ(it2->GetNext()->operator[](0), Element(Tensor::Scalar<int64_t>(9)));
}

TEST(CsvTest, SelectExcludeAndOptionsAreValidated) {
  TempDir dir;
  std::string path = dir.Write("a.csv", "a,1,b,2\n");
  auto strings = [](int n) {
    return std::vector<CsvColumn>(n, CsvColumn::Required(DType::kString));
  };
  auto row = Collect(CsvDataset({path}, strings(2), {.select_cols = {1, 3}}))[0];
  EXPECT_EQ(StringAt(row, 0), "1");
  EXPECT_EQ(StringAt(row, 1), "2");
  row = Collect(CsvDataset({path}, strings(3), {.exclude_cols = {2}}))[0];
  EXPECT_EQ(StringAt(row, 2), "2");
  EXPECT_THROW(CsvDataset({path}, strings(2), {.select_cols = {1, 3}, .exclude_cols = {0}}),
               InvalidArgumentError);
  EXPECT_THROW(CsvDataset({path}, strings(2), {.select_cols = {3, 1}}), InvalidArgumentError);
  EXPECT_THROW(CsvDataset({path}, strings(3), {.select_cols = {1, 3}}), InvalidArgumentError);
  EXPECT_THROW(CsvDataset({path}, {}), InvalidArgumentError);
  EXPECT_THROW(CsvDataset({path}, {CsvColumn::Required(DType::kBool)}), InvalidArgumentError);
  EXPECT_THROW(CsvDataset({path}, {CsvColumn{DType::kInt64, Tensor::Scalar(1.0f)}}),
               InvalidArgumentError);
  EXPECT_THROW(CsvDataset({path}, strings(4), {.field_delim = '\n'}), InvalidArgumentError);
  // Different options are different pipelines.
  auto it = CsvDataset({path}, strings(4))->MakeIterator();
  std::string state = it->Save();
  EXPECT_THROW(CsvDataset({path}, strings(4), {.na_value = "NA"})->MakeIterator()->Restore(state),
               PipelineMismatchError);
}

TEST(CsvTest, FusedBatchesEqualBatchOfTheReader) {
  TempDir dir;
  std::string a = dir.Write("a.csv", NastyCsv(23));
  std::string b = dir.Write("b.csv", NastyCsv(6));
  std::string bad = dir.Write("bad.csv", "id,name,value\n1,a,1\nx,b,2\n3,c,3\n4,d\n5,e,5\n");
  for (int64_t n : {1, 4, 7, 100}) {
    for (bool drop : {false, true}) {
      for (const auto& files : std::vector<std::vector<std::string>>{{a, b}, {a, bad, b}}) {
        auto fused = CsvDataset(files, IntStringFloat(), {.header = true},
                                {.buffer_size = 9, .batch_size = n, .drop_remainder = drop});
        auto unfused = Batch(CsvDataset(files, IntStringFloat(), {.header = true}), n, drop);
        // Errors included: the batch being built is dropped, as Batch drops it.
        EXPECT_EQ(testing::RunToText(fused), testing::RunToText(unfused)) << n << " " << drop;
      }
    }
  }
  ExpectExactResume(CsvDataset({a, b}, IntStringFloat(), {.header = true},
                               {.buffer_size = 9, .batch_size = 4}));
  auto indexed = CsvDataset({a, b}, IntStringFloat(), {.header = true},
                            {.index = true, .batch_size = 4, .drop_remainder = true});
  EXPECT_EQ(indexed->Cardinality(), 29 / 4);
  EXPECT_EQ(indexed->Get(6), Collect(Batch(CsvDataset({a, b}, IntStringFloat(), {.header = true}), 4))[6]);
  ExpectExactResume(indexed);
  EXPECT_THROW(CsvDataset({a}, IntStringFloat(), {}, {.batch_size = -1}), InvalidArgumentError);
  // Readers without their own batch stack records like Batch does.
  auto lines = TextLineDataset({a}, {.batch_size = 5});
  EXPECT_EQ(Collect(lines), Collect(Batch(TextLineDataset({a}), 5)));
}

TEST(CsvParserTest, NeedsMoreUntilTheRecordIsComplete) {
  CsvRecord record;
  size_t consumed = 0;
  const std::string data = "a,\"b\nc\",d\r\nnext";
  for (size_t cut = 1; cut < 11; ++cut) {
    EXPECT_EQ(ParseCsvRecord(std::string_view(data).substr(0, cut), false, {}, &record, &consumed),
              CsvStatus::kNeedMore)
        << cut;
  }
  ASSERT_EQ(ParseCsvRecord(data, false, {}, &record, &consumed), CsvStatus::kRecord);
  EXPECT_EQ(consumed, 11u);
  ASSERT_EQ(record.fields.size(), 3u);
  EXPECT_EQ(record.fields[1], "b\nc");
  EXPECT_EQ(record.line_breaks, 2);
  ASSERT_EQ(ParseCsvRecord("x", true, {}, &record, &consumed), CsvStatus::kRecord);
  EXPECT_EQ(record.fields.size(), 1u);
  ASSERT_EQ(ParseCsvRecord("x,", true, {}, &record, &consumed), CsvStatus::kRecord);
  EXPECT_EQ(record.fields.size(), 2u);
}

}  // namespace
}  // namespace inputpipe
