// tf.train.Example parsing: the wire format (packed and unpacked lists, unknown fields,
// repeated keys), FixedLen / VarLen outputs, and errors naming the record and the feature.
// Values identical to TensorFlow's are checked in golden_test.cc.
#include <gtest/gtest.h>

#include <functional>

#include "inputpipe/readers.h"
#include "readers/example_parser.h"
#include "readers/readers_test_util.h"
#include "readers/tfrecord_format.h"
#include "testing/exactness.h"
#include "testing/expect_error.h"
#include "util/coding.h"

namespace inputpipe {
namespace {

using testing::MessageHas;
using Kind = RawFeature::Kind;

std::string Example(const std::vector<std::pair<std::string, RawFeature>>& features) {
  return EncodeExample(features);
}

std::vector<FeatureSpec> Spec() {
  return {FixedLenFeature("x", {2}, DType::kFloat32),
          FixedLenFeature("id", {}, DType::kInt64, Tensor::Scalar<int64_t>(-1)),
          VarLenFeature("tags", DType::kString)};
}

TEST(ExampleTest, ParsesFixedAndVarLenFeatures) {
  std::string a = EncodeFloatList({1.5f, 2.5f}), b = EncodeBytesList({"p", "q", "r"}),
              c = EncodeInt64List({42});
  Element e = ParseSingleExample(
      Example({{"x", {Kind::kFloat, a}}, {"tags", {Kind::kBytes, b}}, {"id", {Kind::kInt64, c}}}), Spec());
  ASSERT_TRUE(e.is_dict());
  EXPECT_EQ(e.keys(), (std::vector<std::string>{"id", "tags", "x"}));  // sorted
  EXPECT_EQ(e.at("x").tensor(), Tensor::FromVector<float>({1.5f, 2.5f}));
  EXPECT_EQ(e.at("id").tensor(), Tensor::Scalar<int64_t>(42));
  const Element& tags = e.at("tags");
  EXPECT_EQ(tags.at("indices").tensor(), Tensor::FromVector<int64_t>({0, 1, 2}, {3, 1}));
  EXPECT_EQ(tags.at("values").tensor(), Tensor::FromStrings({"p", "q", "r"}, {3}));
  EXPECT_EQ(tags.at("dense_shape").tensor(), Tensor::FromVector<int64_t>({3}));

  // Missing: the default, and an empty sparse tensor.
  Element d = ParseSingleExample(Example({{"x", {Kind::kFloat, a}}}), Spec());
  EXPECT_EQ(d.at("id").tensor(), Tensor::Scalar<int64_t>(-1));
  EXPECT_EQ(d.at("tags").at("values").tensor().num_elements(), 0);
  EXPECT_EQ(d.at("tags").at("dense_shape").tensor(), Tensor::FromVector<int64_t>({0}));
}

TEST(ExampleTest, AcceptsUnpackedListsUnknownFieldsAndRepeatedKeys) {
  // Int64List with unpacked values (wire type 0), one of them negative (10-byte varint).
  std::string ints;
  for (int64_t v : {5, -3}) {
    PutVarint64(&ints, (1 << 3) | 0);
    PutVarint64(&ints, static_cast<uint64_t>(v));
  }
  PutVarint64(&ints, (7 << 3) | 0);  // unknown field 7
  PutVarint64(&ints, 99);
  // FloatList with unpacked fixed32 values (wire type 5).
  std::string floats;
  for (float f : {0.25f, -8.0f}) {
    PutVarint64(&floats, (1 << 3) | 5);
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    PutFixed32(&floats, bits);
  }
  std::string ex = Example({{"id", {Kind::kInt64, EncodeInt64List({1})}},
                            {"x", {Kind::kFloat, floats}},
                            {"id", {Kind::kInt64, EncodeInt64List({7})}}});  // last one wins
  Element e = ParseSingleExample(ex, Spec());
  EXPECT_EQ(e.at("id").tensor(), Tensor::Scalar<int64_t>(7));
  EXPECT_EQ(e.at("x").tensor(), Tensor::FromVector<float>({0.25f, -8.0f}));
  Element v = ParseSingleExample(Example({{"ids", {Kind::kInt64, ints}}}),
                                 {VarLenFeature("ids", DType::kInt64)});
  EXPECT_EQ(v.at("ids").at("values").tensor(), Tensor::FromVector<int64_t>({5, -3}));
}

TEST(ExampleTest, BatchParsingBuildsTensorFlowsSparseLayout) {
  std::vector<std::string> records = {
      Example({{"x", {Kind::kFloat, EncodeFloatList({1, 2})}}, {"tags", {Kind::kBytes, EncodeBytesList({"a"})}}}),
      Example({{"x", {Kind::kFloat, EncodeFloatList({3, 4})}}, {"id", {Kind::kInt64, EncodeInt64List({9})}},
               {"tags", {Kind::kBytes, EncodeBytesList({"b", "c"})}}})};
  Element e = ParseExample(Tensor::FromStrings(records, {2}), Spec());
  EXPECT_EQ(e.at("x").tensor(), Tensor::FromVector<float>({1, 2, 3, 4}, {2, 2}));
  EXPECT_EQ(e.at("id").tensor(), Tensor::FromVector<int64_t>({-1, 9}));
  EXPECT_EQ(e.at("tags").at("indices").tensor(), Tensor::FromVector<int64_t>({0, 0, 1, 0, 1, 1}, {3, 2}));
  EXPECT_EQ(e.at("tags").at("dense_shape").tensor(), Tensor::FromVector<int64_t>({2, 2}));
}

TEST(ExampleTest, ErrorsNameTheRecordAndTheFeature) {
  auto error = [](const std::vector<std::string>& records) -> std::string {
    try {
      ParseExample(Tensor::FromStrings(records, {static_cast<int64_t>(records.size())}), Spec());
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  std::string good = Example({{"x", {Kind::kFloat, EncodeFloatList({1, 2})}}});
  EXPECT_TRUE(MessageHas(error({good, Example({})}), {"record 1", "'x'", "required"}));
  EXPECT_TRUE(MessageHas(error({Example({{"x", {Kind::kFloat, EncodeFloatList({1, 2, 3})}}})}),
                         {"record 0", "'x'", "expected 2 float32 values", "has 3"}));
  EXPECT_TRUE(MessageHas(error({Example({{"x", {Kind::kInt64, EncodeInt64List({1, 2})}}})}),
                         {"'x'", "data types don't match", "expected float", "has int64"}));
  EXPECT_TRUE(MessageHas(error({good, good.substr(0, good.size() - 3)}),
                         {"record 1", "not a valid tf.train.Example"}));
  EXPECT_THROW(ParseExample(Tensor::FromStrings({good}, {1}), {FixedLenFeature("a", {}, DType::kInt64),
                                                               VarLenFeature("a", DType::kInt64)}),
               InvalidArgumentError);
  EXPECT_THROW(FixedLenFeature("a", {2}, DType::kFloat64), InvalidArgumentError);
  EXPECT_THROW(FixedLenFeature("a", {-1}, DType::kInt64), InvalidArgumentError);
  EXPECT_THROW(FixedLenFeature("a", {3}, DType::kInt64, Tensor::FromVector<int64_t>({1, 2})),
               InvalidArgumentError);
  EXPECT_THROW(ParseSingleExampleFn(Spec())(Element(Tensor::Scalar<int64_t>(1))), InvalidArgumentError);
}

TEST(ExampleTest, ParsingInsideMapOverTFRecordsResumesExactly) {
  testing::TempDir dir;
  std::string bytes;
  for (int i = 0; i < 25; ++i) {
    AppendTFRecord(&bytes, Example({{"x", {Kind::kFloat, EncodeFloatList({float(i), 0.5f})}},
                                    {"id", {Kind::kInt64, EncodeInt64List({i})}},
                                    {"tags", {Kind::kBytes, EncodeBytesList(std::vector<std::string>(i % 3, "t"))}}}));
  }
  std::string path = dir.Write("ex.tfrecord", bytes);
  auto parsed = Map(TFRecordDataset({path}), ParseSingleExampleFn(Spec()), {.name = "parse"});
  auto all = testing::Collect(parsed);
  ASSERT_EQ(all.size(), 25u);
  EXPECT_EQ(all[24].at("id").tensor(), Tensor::Scalar<int64_t>(24));
  testing::ExpectExactResume(parsed);
  testing::ExpectExactResume(Map(Batch(TFRecordDataset({path}, {.index = true}), 4), ParseExampleFn(Spec()),
                                 {.name = "parse_batch"}));
}


// A record parse_single_example rejects inside a TFRecord pipeline: the error names the file,
// the record and its byte offset, as the reader's own errors do, and no line (nor "record 0").
TEST(ExampleTest, ParseErrorsInATFRecordPipelineNameTheFileRecordAndOffset) {
  testing::TempDir dir;
  std::string bytes;
  std::string good = Example({{"x", {Kind::kFloat, EncodeFloatList({1, 2})}}});
  AppendTFRecord(&bytes, good);
  AppendTFRecord(&bytes, good);
  const size_t third = bytes.size();
  AppendTFRecord(&bytes, Example({{"x", {Kind::kFloat, EncodeFloatList({1, 2, 3})}}}));
  AppendTFRecord(&bytes, good.substr(0, good.size() - 3));  // not an Example
  std::string path = dir.Write("bad.tfrecord", bytes);
  auto it = Map(TFRecordDataset({path}), ParseSingleExampleFn(Spec()), {.name = "parse"})
                ->MakeIterator();
  ASSERT_TRUE(it->GetNext());
  ASSERT_TRUE(it->GetNext());
  std::string message = testing::ExpectError<InvalidArgumentError>(
      [&] { it->GetNext(); }, {"parse_single_example", "feature 'x'", "expected 2 float32", path,
                               "record 2 (byte " + std::to_string(third) + ")"});
  EXPECT_EQ(message.find("record 0"), std::string::npos) << message;
  EXPECT_EQ(message.find("line"), std::string::npos) << message;
  message.clear();
  try {
    it->GetNext();
  } catch (const DataLossError& e) {
    message = e.what();
  }
  EXPECT_TRUE(MessageHas(message, {"not a valid tf.train.Example", path, "record 3"})) << message;
  EXPECT_EQ(message.find("line"), std::string::npos) << message;
  EXPECT_FALSE(it->GetNext());

  // Indexed (random-access) reader: the location comes from the index.
  auto indexed = Map(TFRecordDataset({path}, {.index = true}), ParseSingleExampleFn(Spec()),
                     {.name = "parse"})
                     ->MakeIterator();
  indexed->GetNext();
  indexed->GetNext();
  message.clear();
  try {
    indexed->GetNext();
  } catch (const InvalidArgumentError& e) {
    message = e.what();
  }
  EXPECT_TRUE(MessageHas(message, {"feature 'x'", path,
                                   "record 2 (byte " + std::to_string(third) + ")"}))
      << message;

  // The reader's own error: a corrupt CRC names the record and the offset, not a line.
  std::string corrupt = bytes;
  corrupt[third + 12] ^= 1;
  std::string corrupt_path = dir.Write("crc.tfrecord", corrupt);
  auto reader = TFRecordDataset({corrupt_path})->MakeIterator();
  reader->GetNext();
  reader->GetNext();
  message.clear();
  try {
    reader->GetNext();
  } catch (const DataLossError& e) {
    message = e.what();
  }
  EXPECT_TRUE(MessageHas(message, {corrupt_path, "record 2 (byte " + std::to_string(third) + ")",
                                   "CRC32C"}))
      << message;
  EXPECT_EQ(message.find("line"), std::string::npos) << message;
}

TEST(ExampleTest, FixedLenSequenceFeaturePadsAndChecksSteps) {
  const std::vector<FeatureSpec> spec = {
      FixedLenSequenceFeature("pts", {2}, DType::kFloat32, /*allow_missing=*/true),
      FixedLenSequenceFeature("w", {}, DType::kString, true, Tensor::String("pad"))};
  std::string one = Example({{"pts", {Kind::kFloat, EncodeFloatList({1, 2, 3, 4})}},
                             {"w", {Kind::kBytes, EncodeBytesList({"a"})}}});
  std::string none = Example({});
  Element single = ParseSingleExample(one, spec);
  EXPECT_EQ(single.at("pts").tensor(), Tensor::FromVector<float>({1, 2, 3, 4}, {2, 2}));
  EXPECT_EQ(single.at("w").tensor(), Tensor::FromStrings({"a"}, {1}));
  Element empty = ParseSingleExample(none, spec);
  EXPECT_EQ(empty.at("pts").tensor(), Tensor::FromVector<float>({}, {0, 2}));

  // A batch: [rows, longest, *shape], the shorter rows padded (0, or the default).
  Element batch = ParseExample(Tensor::FromStrings({none, one}, {2}), spec);
  EXPECT_EQ(batch.at("pts").tensor(),
            Tensor::FromVector<float>({0, 0, 0, 0, 1, 2, 3, 4}, {2, 2, 2}));
  EXPECT_EQ(batch.at("w").tensor(), Tensor::FromStrings({"pad", "a"}, {2, 1}));

  // Not a whole number of steps; missing without allow_missing; a non-scalar padding.
  auto error = [](const std::function<void()>& parse) -> std::string {
    try {
      parse();
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  std::string odd = Example({{"pts", {Kind::kFloat, EncodeFloatList({1, 2, 3})}}});
  EXPECT_TRUE(MessageHas(error([&] { ParseExample(Tensor::FromStrings({one, odd}, {2}), spec); }),
                         {"record 1 of the batch, feature 'pts'", "3 float32 values",
                          "not a whole number of steps of shape [2]"}));
  EXPECT_TRUE(MessageHas(error([&] {
                           ParseSingleExample(
                               none, {FixedLenSequenceFeature("pts", {2}, DType::kFloat32)});
                         }),
                         {"feature 'pts' (float32) is required but could not be found"}));
  EXPECT_THROW(FixedLenSequenceFeature("a", {}, DType::kInt64, true,
                                       Tensor::FromVector<int64_t>({1, 2})),
               InvalidArgumentError);
}

}  // namespace
}  // namespace inputpipe
