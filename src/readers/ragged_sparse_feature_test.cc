// RaggedFeature and SparseFeature: tf.io's layouts (a vector, or a ragged value for a batch; a
// SparseTensor dict sorted by position), and errors naming the feature and the record, with
// the file and byte offset inside a TFRecord pipeline.
#include <gtest/gtest.h>

#include "inputpipe/ragged.h"
#include "inputpipe/readers.h"
#include "readers/example_parser.h"
#include "readers/readers_test_util.h"
#include "readers/tfrecord_format.h"
#include "testing/exactness.h"
#include "testing/expect_error.h"

namespace inputpipe {
namespace {

using testing::MessageHas;
using Kind = RawFeature::Kind;

Tensor I64s(std::vector<int64_t> v) { return Tensor::FromVector<int64_t>(v); }
Tensor Matrix(std::vector<int64_t> v, int64_t cols) {
  return Tensor::FromVector<int64_t>(v, {static_cast<int64_t>(v.size()) / cols, cols});
}

// An Example with int64 "ix", "iy" and float "v" features.
std::string SparseRecord(std::vector<int64_t> ix, std::vector<int64_t> iy, std::vector<float> v) {
  return EncodeExample({{"ix", {Kind::kInt64, EncodeInt64List(ix)}},
                        {"iy", {Kind::kInt64, EncodeInt64List(iy)}},
                        {"v", {Kind::kFloat, EncodeFloatList(v)}}});
}

TEST(RaggedFeatureTest, IsAVectorForOneExampleAndRaggedForABatch) {
  std::vector<FeatureSpec> spec = {RaggedFeature("r", DType::kInt64, "tok")};
  std::string a = EncodeExample({{"tok", {Kind::kInt64, EncodeInt64List({5, 6, 7})}}});
  std::string none = EncodeExample({});
  EXPECT_EQ(ParseSingleExample(a, spec).at("r").tensor(), I64s({5, 6, 7}));
  EXPECT_EQ(ParseSingleExample(none, spec).at("r").tensor(), I64s({}));
  std::string b = EncodeExample({{"tok", {Kind::kInt64, EncodeInt64List({8})}}});
  Element batch = ParseExample(Tensor::FromStrings({a, none, b}, {3}), spec);
  const Element& r = batch.at("r");
  ASSERT_TRUE(IsRagged(r));
  EXPECT_EQ(RaggedValues(r), I64s({5, 6, 7, 8}));
  EXPECT_EQ(RaggedRowSplits(r), I64s({0, 3, 3, 4}));
  // The key itself when no value_key is given; strings too.
  std::string s = EncodeExample({{"w", {Kind::kBytes, EncodeBytesList({"x", "yz"})}}});
  Element words = ParseSingleExample(s, {RaggedFeature("w", DType::kString)});
  EXPECT_EQ(words.at("w").tensor(), Tensor::FromStrings({"x", "yz"}, {2}));
}

// An Example of int64 features.
std::string Ints(std::vector<std::pair<std::string, std::vector<int64_t>>> features) {
  std::vector<std::pair<std::string, RawFeature>> raw;
  std::vector<std::string> lists;  // EncodeExample keeps views
  lists.reserve(features.size());
  for (auto& [key, v] : features) lists.push_back(EncodeInt64List(v));
  for (size_t i = 0; i < features.size(); ++i) {
    raw.push_back({features[i].first, {Kind::kInt64, lists[i]}});
  }
  return EncodeExample(raw);
}

// The rows of a ragged value as nested lists of its int64 values, to compare whole.
std::string Rows(const Element& e) {
  if (e.is_tensor()) return e.tensor().DebugString();
  const Tensor& splits = RaggedRowSplits(e);
  std::string out = "[";
  for (int64_t i = 0; i + 1 < splits.num_elements(); ++i) {
    const Element& values = e.children()[1];
    const int64_t begin = RowSplitAt(splits, i), end = RowSplitAt(splits, i + 1);
    std::string row;
    if (values.is_tensor()) {
      row = "[";
      for (int64_t k = begin; k < end; ++k) {
        row += (k > begin ? " " : "") + std::to_string(values.tensor().data<int64_t>()[k]);
      }
      row += "]";
    } else {
      // The rows [begin, end) of the inner ragged value.
      std::vector<int64_t> inner;
      const Tensor& s = RaggedRowSplits(values);
      for (int64_t k = begin; k <= end; ++k) inner.push_back(RowSplitAt(s, k) - RowSplitAt(s, begin));
      std::vector<int64_t> flat;
      const Element& leaf = values.children()[1];
      for (int64_t k = RowSplitAt(s, begin); k < RowSplitAt(s, end); ++k) {
        flat.push_back(leaf.tensor().data<int64_t>()[k]);
      }
      row = Rows(MakeRagged(Tensor::FromVector(flat), Tensor::FromVector(inner)));
    }
    out += (i > 0 ? " " : "") + row;
  }
  return out + "]";
}

TEST(RaggedFeatureTest, PartitionsSplitTheValuesIntoMoreRaggedDimensions) {
  using P = RaggedPartition;
  // Six values in rows [[1 2] [] [3 4 5] [6]], as each kind of partition spells it.
  const std::string record = Ints({{"v", {1, 2, 3, 4, 5, 6}},
                                   {"splits", {0, 2, 2, 5, 6}},
                                   {"lengths", {2, 0, 3, 1}},
                                   {"starts", {0, 2, 2, 5}},
                                   {"limits", {2, 2, 5, 6}},
                                   {"ids", {0, 0, 2, 2, 2, 3}}});
  for (const P& p : {P::RowSplits("splits"), P::RowLengths("lengths"), P::RowStarts("starts"),
                     P::RowLimits("limits"), P::ValueRowIds("ids")}) {
    Element one = ParseSingleExample(record, {RaggedFeature("r", DType::kInt64, "v", {p})});
    EXPECT_EQ(Rows(one.at("r")), "[[1 2] [] [3 4 5] [6]]") << RaggedPartitionString(p);
  }
  Element uniform = ParseSingleExample(
      record, {RaggedFeature("r", DType::kInt64, "v", {P::UniformRowLength(3)})});
  EXPECT_EQ(Rows(uniform.at("r")), "[[1 2 3] [4 5 6]]");

  // Two partitions (outermost first) and a batch: one more ragged dimension, the records' rows
  // one after the other.
  std::vector<FeatureSpec> two = {
      RaggedFeature("r", DType::kInt64, "v", {P::RowLengths("outer"), P::RowLengths("lengths")})};
  const std::string a = Ints({{"v", {1, 2, 3, 4, 5, 6}}, {"lengths", {2, 0, 3, 1}},
                              {"outer", {1, 3}}});
  const std::string b = Ints({{"v", {7}}, {"lengths", {1}}, {"outer", {1}}});
  const std::string empty = Ints({});
  EXPECT_EQ(Rows(ParseSingleExample(a, two).at("r")), "[[[1 2]] [[] [3 4 5] [6]]]");
  Element batch = ParseExample(Tensor::FromStrings({a, empty, b}, {3}), two);
  EXPECT_EQ(RaggedRank(batch.at("r")), 3);
  EXPECT_EQ(RaggedRowSplits(batch.at("r")), I64s({0, 2, 2, 3}));
  EXPECT_EQ(RaggedRowSplits(batch.at("r").children()[1]), I64s({0, 1, 4, 5}));
  EXPECT_EQ(RaggedRowSplits(batch.at("r").children()[1].children()[1]), I64s({0, 2, 2, 5, 6, 7}));

  // A batch of no record has every ragged dimension too.
  Element none = ParseExample(Tensor::FromStrings({}, {0}), two);
  EXPECT_EQ(RaggedRank(none.at("r")), 3);
  EXPECT_EQ(RaggedRowSplits(none.at("r")), I64s({0}));

  // int32 row splits, at every ragged dimension.
  Element narrow = ParseExample(
      Tensor::FromStrings({a, b}, {2}),
      {RaggedFeature("r", DType::kInt64, "v", {P::RowLengths("lengths")}, DType::kInt32)});
  EXPECT_EQ(RaggedRowSplits(narrow.at("r")), Tensor::FromVector<int32_t>({0, 4, 5}));
  EXPECT_EQ(RaggedRowSplits(narrow.at("r").children()[1]),
            Tensor::FromVector<int32_t>({0, 2, 2, 5, 6, 7}));
}

TEST(RaggedFeatureTest, PartitionsThatDoNotFitTheValuesNameTheFeatureAndPartition) {
  using P = RaggedPartition;
  auto error = [](const std::string& record, const P& p) -> std::string {
    try {
      ParseExample(Tensor::FromStrings({Ints({}), record}, {2}),
                   {RaggedFeature("r", DType::kInt64, "v", {p})});
    } catch (const InvalidArgumentError& e) {
      return e.what();
    }
    return "no error";
  };
  const std::string three = Ints({{"v", {1, 2, 3}}, {"k", {0, 2, 1, 3}}, {"n", {1, -1, 3}},
                                  {"short", {1}}, {"ids", {0, 2, 1}}});
  EXPECT_TRUE(MessageHas(error(three, P::RowLengths("short")),
                         {"record 1", "feature 'r'", "RowLengths('short')", "[0, 1)",
                          "3 values"}));
  EXPECT_TRUE(MessageHas(error(three, P::RowLengths("n")), {"row length -1 is negative"}));
  EXPECT_TRUE(MessageHas(error(three, P::RowSplits("k")), {"RowSplits('k')", "decrease at 2"}));
  EXPECT_TRUE(MessageHas(error(three, P::ValueRowIds("ids")), {"ValueRowIds('ids')",
                                                               "never decrease"}));
  EXPECT_TRUE(MessageHas(error(three, P::ValueRowIds("short")), {"1 row ids for 3 values"}));
  EXPECT_TRUE(MessageHas(error(three, P::UniformRowLength(2)),
                         {"UniformRowLength(2)", "3 values are not a whole number of rows of 2"}));
  // A missing partition feature has no rows: right for a record of no values only.
  EXPECT_TRUE(MessageHas(error(three, P::RowLengths("absent")), {"RowLengths('absent')"}));
  EXPECT_TRUE(MessageHas(error(Ints({{"v", {1}}, {"ids", {1 << 23}}}), P::ValueRowIds("ids")),
                         {"row ids must be in [0, 2^23)", "8388608"}));
  // Records each within the bound still cannot make a batch of rows by the hundred million.
  const std::string most = Ints({{"v", {1}}, {"ids", {(1 << 23) - 1}}});
  try {
    ParseExample(Tensor::FromStrings({most, most, most}, {3}),
                 {RaggedFeature("r", DType::kInt64, "v", {P::ValueRowIds("ids")})});
    ADD_FAILURE() << "no error";
  } catch (const InvalidArgumentError& e) {
    EXPECT_TRUE(MessageHas(e.what(), {"record 2", "ValueRowIds('ids')", "more than 2^24 rows"}));
  }
  EXPECT_THROW(RaggedFeature("r", DType::kInt64, "v", {P::UniformRowLength(0)}),
               InvalidArgumentError);
  EXPECT_THROW(RaggedFeature("r", DType::kInt64, "v", {P::RowLengths("")}), InvalidArgumentError);
  EXPECT_THROW(RaggedFeature("r", DType::kInt64, "v", {}, DType::kFloat32), InvalidArgumentError);
}

TEST(SparseFeatureTest, PlacesValuesAtTheirIndicesSorted) {
  std::vector<FeatureSpec> spec = {SparseFeature("sp", {"ix", "iy"}, "v", DType::kFloat32, {3, 4})};
  Element one = ParseSingleExample(SparseRecord({2, 0, 0}, {1, 3, 1}, {1.f, 2.f, 3.f}), spec);
  const Element& sp = one.at("sp");
  EXPECT_EQ(sp.at("indices").tensor(), Matrix({0, 1, 0, 3, 2, 1}, 2));  // sorted by position
  EXPECT_EQ(sp.at("values").tensor(), Tensor::FromVector<float>({3.f, 2.f, 1.f}));
  EXPECT_EQ(sp.at("dense_shape").tensor(), I64s({3, 4}));
  // already_sorted keeps the record's order; a batch adds the row.
  std::vector<FeatureSpec> sorted = {
      SparseFeature("sp", {"ix"}, "v", DType::kFloat32, {5}, /*already_sorted=*/true)};
  Element batch = ParseExample(
      Tensor::FromStrings({SparseRecord({4, 1}, {}, {1.f, 2.f}), SparseRecord({}, {}, {})}, {2}),
      sorted);
  EXPECT_EQ(batch.at("sp").at("indices").tensor(), Matrix({0, 4, 0, 1}, 2));
  EXPECT_EQ(batch.at("sp").at("dense_shape").tensor(), I64s({2, 5}));
}

TEST(SparseFeatureTest, ErrorsNameTheFeatureTheRecordAndTheFileOffset) {
  std::vector<FeatureSpec> spec = {SparseFeature("sp", {"ix"}, "v", DType::kFloat32, {3})};
  auto error = [&](const std::vector<std::string>& records) -> std::string {
    try {
      ParseExample(Tensor::FromStrings(records, {static_cast<int64_t>(records.size())}), spec);
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  std::string good = SparseRecord({0}, {}, {1.f});
  EXPECT_TRUE(MessageHas(error({good, SparseRecord({3}, {}, {1.f})}),
                         {"record 1", "feature 'sp'", "index 3", "'ix'", "out of range [0, 3)"}));
  EXPECT_TRUE(MessageHas(error({SparseRecord({0, 1}, {}, {1.f})}),
                         {"record 0", "feature 'sp'", "'ix' has 2 indices", "'v' has 1 values"}));
  EXPECT_TRUE(MessageHas(error({EncodeExample({{"ix", {Kind::kFloat, EncodeFloatList({1})}}})}),
                         {"feature 'sp'", "index_key 'ix'", "expected int64"}));
  EXPECT_THROW(SparseFeature("sp", {"ix"}, "v", DType::kFloat32, {3, 2}), InvalidArgumentError);
  EXPECT_THROW(SparseFeature("sp", {"ix"}, "v", DType::kFloat32, {0}), InvalidArgumentError);

  // Inside a TFRecord pipeline the error also names the file, the record and its byte offset.
  testing::TempDir dir;
  std::string bytes;
  AppendTFRecord(&bytes, good);
  const size_t second = bytes.size();
  AppendTFRecord(&bytes, SparseRecord({7}, {}, {1.f}));
  std::string path = dir.Write("sparse.tfrecord", bytes);
  auto it = Map(TFRecordDataset({path}), ParseSingleExampleFn(spec), {.name = "parse"})
                ->MakeIterator();
  ASSERT_TRUE(it->GetNext());
  testing::ExpectError<InvalidArgumentError>(
      [&] { it->GetNext(); },
      {"feature 'sp'", "index 7", path, "record 1 (byte " + std::to_string(second) + ")"});
}

TEST(RaggedFeatureTest, ParsingABatchInsideAPipelineResumesExactly) {
  testing::TempDir dir;
  std::string bytes;
  for (int i = 0; i < 13; ++i) {
    std::string tokens = EncodeInt64List(std::vector<int64_t>(i % 4, i));
    AppendTFRecord(&bytes, EncodeExample({{"tok", {Kind::kInt64, tokens}},
                                          {"ix", {Kind::kInt64, EncodeInt64List({i % 3})}},
                                          {"len", {Kind::kInt64, EncodeInt64List({i % 4})}},
                                          {"v", {Kind::kFloat, EncodeFloatList({float(i)})}}}));
  }
  std::string path = dir.Write("r.tfrecord", bytes);
  std::vector<FeatureSpec> spec = {
      RaggedFeature("r", DType::kInt64, "tok"),
      RaggedFeature("nested", DType::kInt64, "tok", {RaggedPartition::RowLengths("len")},
                    DType::kInt32),
      SparseFeature("sp", {"ix"}, "v", DType::kFloat32, {3})};
  testing::ExpectExactResume(Map(Batch(TFRecordDataset({path}), 4), ParseExampleFn(spec),
                                 {.name = "parse_batch"}));
}

}  // namespace
}  // namespace inputpipe
