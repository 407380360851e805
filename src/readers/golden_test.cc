// Differential tests against TensorFlow: the same files read (and Examples parsed) by
// TensorFlow 2.21, whose outputs tests/data/make_golden.py saved as golden files.
#include <gtest/gtest.h>

#include <sstream>

#include "inputpipe/readers.h"
#include "readers/readers_test_util.h"
#include "testing/exactness.h"

namespace inputpipe {
namespace {

using testing::CanonicalText;
using testing::ReadFile;
using testing::RunToText;
using testing::TestDataDir;

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(s);
  while (std::getline(in, item, sep)) out.push_back(item);
  if (!s.empty() && s.back() == sep) out.emplace_back();
  return out;
}

std::vector<int64_t> Ints(const std::string& s) {
  std::vector<int64_t> out;
  for (const auto& x : Split(s, ',')) {
    if (!x.empty()) out.push_back(std::stoll(x));
  }
  return out;
}

CsvColumn Column(const std::string& spec) {
  size_t colon = spec.find(':');
  DType dtype = DTypeFromName(spec.substr(0, colon));
  if (colon == std::string::npos) return CsvColumn::Required(dtype);
  std::string v = spec.substr(colon + 1);
  switch (dtype) {
    case DType::kInt32:
      return CsvColumn::Default(Tensor::Scalar<int32_t>(std::stoi(v)));
    case DType::kInt64:
      return CsvColumn::Default(Tensor::Scalar<int64_t>(std::stoll(v)));
    case DType::kFloat32:
      return CsvColumn::Default(Tensor::Scalar<float>(std::stof(v)));
    case DType::kFloat64:
      return CsvColumn::Default(Tensor::Scalar<double>(std::stod(v)));
    default:
      return CsvColumn::Default(Tensor::String(v));
  }
}

TEST(GoldenCsvTest, MatchesTensorFlowCsvDataset) {
  const std::string dir = TestDataDir() + "/csv/";
  std::istringstream cases(ReadFile(dir + "cases.txt"));
  std::string line;
  int checked = 0;
  while (std::getline(cases, line)) {
    std::vector<std::string> f = Split(line, ' ');
    ASSERT_EQ(f.size(), 10u) << line;
    auto value = [&](size_t i) { return f[i].substr(f[i].find('=') + 1); };
    std::vector<CsvColumn> columns;
    for (const auto& spec : Split(value(2), ',')) columns.push_back(Column(spec));
    CsvOptions csv;
    csv.header = value(3) == "1";
    csv.field_delim = static_cast<char>(std::stoi(value(4)));
    csv.use_quote_delim = value(5) == "1";
    csv.na_value = value(6);
    csv.select_cols = Ints(value(7));
    csv.exclude_cols = Ints(value(8));
    for (int64_t buffer_size : {0, 7}) {  // default and a tiny buffer: records span refills
      ReaderOptions options;
      options.compression_type = value(9);
      options.buffer_size = buffer_size;
      DatasetPtr ds = CsvDataset({dir + f[1]}, columns, csv, options);
      EXPECT_EQ(RunToText(ds), ReadFile(dir + f[0] + ".expected"))
          << "case " << f[0] << ", buffer_size " << buffer_size;
    }
    ++checked;
  }
  EXPECT_GE(checked, 13);
}

TEST(GoldenTextLineTest, MatchesTensorFlowTextLineDataset) {
  const std::string dir = TestDataDir() + "/text/";
  EXPECT_EQ(RunToText(TextLineDataset({dir + "lines.txt"})), ReadFile(dir + "lines.expected"));
  EXPECT_EQ(RunToText(TextLineDataset({dir + "lines.txt"}, {.buffer_size = 3})),
            ReadFile(dir + "lines.expected"));
}

TEST(GoldenTFRecordTest, ReadsFilesWrittenByTensorFlow) {
  const std::string dir = TestDataDir() + "/tfrecord/";
  const std::string expected = ReadFile(dir + "records.expected");
  EXPECT_EQ(RunToText(TFRecordDataset({dir + "examples.tfrecord"})), expected);
  EXPECT_EQ(RunToText(TFRecordDataset({dir + "examples.tfrecord.gz"}, {.compression_type = "GZIP"})),
            expected);
  EXPECT_EQ(RunToText(TFRecordDataset({dir + "examples.tfrecord.zlib"}, {.compression_type = "ZLIB"})),
            expected);
}

TEST(GoldenTFRecordTest, WriterProducesTheBytesTensorFlowWrites) {
  const std::string dir = TestDataDir() + "/tfrecord/";
  testing::TempDir tmp;
  std::vector<std::string> records;
  for (const Element& e : testing::Collect(TFRecordDataset({dir + "examples.tfrecord"}))) {
    records.push_back(e.tensor().strings()[0]);
  }
  {
    TFRecordWriter w(tmp.Path("copy.tfrecord"));
    for (const auto& r : records) w.Write(r);
  }
  EXPECT_EQ(ReadFile(tmp.Path("copy.tfrecord")), ReadFile(dir + "examples.tfrecord"));
}

std::vector<FeatureSpec> GoldenFeatures() {
  return {FixedLenFeature("label", {}, DType::kInt64, Tensor::Scalar<int64_t>(-1)),
          FixedLenFeature("floats", {3}, DType::kFloat32),
          FixedLenFeature("name", {}, DType::kString, Tensor::String("unknown")),
          VarLenFeature("tokens", DType::kString), VarLenFeature("ids", DType::kInt64)};
}

TEST(GoldenExampleTest, ParseSingleExampleMatchesTensorFlow) {
  const std::string dir = TestDataDir() + "/tfrecord/";
  DatasetPtr ds = Map(TFRecordDataset({dir + "examples.tfrecord"}),
                      ParseSingleExampleFn(GoldenFeatures()), {.name = "parse"});
  EXPECT_EQ(RunToText(ds), ReadFile(dir + "parse_single.expected"));
}

TEST(GoldenExampleTest, ParseExampleMatchesTensorFlow) {
  const std::string dir = TestDataDir() + "/tfrecord/";
  DatasetPtr ds = Map(Batch(TFRecordDataset({dir + "examples.tfrecord"}), 10),
                      ParseExampleFn(GoldenFeatures()), {.name = "parse"});
  EXPECT_EQ(RunToText(ds), ReadFile(dir + "parse_batch.expected"));
}

}  // namespace
}  // namespace inputpipe
