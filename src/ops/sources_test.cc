// from_tensor_slices, from_tensors, counter: tf.data's documented examples, content-hash
// fingerprints, random access and exact resumption.
#include <gtest/gtest.h>

#include "inputpipe/element_spec.h"
#include "ops/ops_test_util.h"

namespace inputpipe {
namespace {

using namespace testing;  // NOLINT: test helpers

TEST(FromTensorSlicesTest, SlicesAlongTheFirstDimension) {
  EXPECT_EQ(Ints(FromTensorSlices(I64s({1, 2, 3}))), (std::vector<int64_t>{1, 2, 3}));
  // A 2-D tensor yields its rows.
  auto rows = FromTensorSlices(Tensor::FromVector<int64_t>({1, 2, 3, 4}, {2, 2}));
  EXPECT_EQ(Rows(rows), (std::vector<std::vector<int64_t>>{{1, 2}, {3, 4}}));
  // A tuple yields tuples: ([1, 2], [3, 4]) -> (1, 3), (2, 4).
  auto pairs = Collect(FromTensorSlices(Element::Tuple({I64s({1, 2}), I64s({3, 4})})));
  ASSERT_EQ(pairs.size(), 2u);
  EXPECT_EQ(pairs[1], Element::Tuple({I64(2), I64(4)}));
  // A dict, with a string column, yields dicts.
  auto ds = FromTensorSlices(
      Element::Dict({{"id", I64s({7, 8})}, {"name", Tensor::FromStrings({"ann", "bob"}, {2})}}));
  auto dicts = Collect(ds);
  ASSERT_EQ(dicts.size(), 2u);
  EXPECT_EQ(dicts[1].at("id").tensor().scalar<int64_t>(), 8);
  EXPECT_EQ(dicts[1].at("name").tensor().strings()[0], "bob");
  EXPECT_EQ(ds->Cardinality(), 2);
  EXPECT_TRUE(ds->IsRandomAccess());
  EXPECT_EQ(ds->Get(0).at("name").tensor().strings()[0], "ann");
  ExpectGetMatchesIteration(ds);
}

TEST(FromTensorSlicesTest, RejectsScalarsAndMismatchedLengths) {
  ExpectInvalidArgument([] { FromTensorSlices(I64(3)); }, {"from_tensor_slices", "scalar"});
  ExpectInvalidArgument(
      [] {
        FromTensorSlices(Element::Tuple({I64s({1, 2}), I64s({1, 2, 3})}));
      },
      {"from_tensor_slices", "2", "3"});
  ExpectInvalidArgument([] { FromTensorSlices(Element::FromDataset(Range(0, 3))); },
                        {"from_tensor_slices", "dataset"});
}

TEST(FromTensorSlicesTest, FingerprintIsAContentHashNotTheValues) {
  auto a = FromTensorSlices(Tensor::FromStrings({"secret-1", "secret-2"}, {2}));
  auto same = FromTensorSlices(Tensor::FromStrings({"secret-1", "secret-2"}, {2}));
  auto other = FromTensorSlices(Tensor::FromStrings({"secret-1", "secret-3"}, {2}));
  EXPECT_EQ(a->params().find("secret"), std::string::npos) << a->params();
  EXPECT_EQ(a->params(), same->params());
  EXPECT_NE(a->params(), other->params());
  auto it = a->MakeIterator();
  it->GetNext();
  std::string state = it->Save();
  EXPECT_EQ(state.find("secret"), std::string::npos);
  same->MakeIterator()->Restore(state);
  EXPECT_THROW(other->MakeIterator()->Restore(state), PipelineMismatchError);
}

TEST(FromTensorSlicesTest, ResumesExactly) {
  std::vector<std::string> names;
  std::vector<int64_t> ids;
  for (int i = 0; i < 40; ++i) {
    names.push_back("row" + std::to_string(i));
    ids.push_back(i * 3);
  }
  ExpectExactResume(FromTensorSlices(
      Element::Dict({{"id", I64s(ids)}, {"name", Tensor::FromStrings(names, {40})}})));
  // Big rows: the state is an index, whatever the data size.
  ExpectExactResume(FromTensorSlices(Tensor::Allocate(DType::kFloat32, {30, 10000})));
}

TEST(FromTensorsTest, YieldsTheWholeElementOnce) {
  auto ds = FromTensors(I64s({1, 2, 3}));
  EXPECT_EQ(Rows(ds), (std::vector<std::vector<int64_t>>{{1, 2, 3}}));
  EXPECT_EQ(ds->Cardinality(), 1);
  EXPECT_TRUE(ds->IsRandomAccess());
  auto pair = Collect(FromTensors(Element::Tuple({I64s({1, 2}), Tensor::String("A")})));
  ASSERT_EQ(pair.size(), 1u);
  EXPECT_EQ(pair[0][1].tensor().strings()[0], "A");
  EXPECT_EQ(FromTensors(Tensor::String("secret"))->params().find("secret"), std::string::npos);
  EXPECT_NE(FromTensors(I64(1))->params(), FromTensors(I64(2))->params());
}

TEST(FromTensorsTest, ResumesExactly) {
  ExpectExactResume(FromTensors(Element::Tuple({I64s({1, 2}), Tensor::String("A")})));
}

TEST(CounterTest, CountsForever) {
  EXPECT_EQ(Ints(Counter(), 5), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(Ints(Counter(2, 3), 3), (std::vector<int64_t>{2, 5, 8}));
  EXPECT_EQ(Ints(Counter(0, -1), 3), (std::vector<int64_t>{0, -1, -2}));
  EXPECT_EQ(Counter()->Cardinality(), kInfiniteCardinality);
  EXPECT_TRUE(Counter()->IsRandomAccess());
  EXPECT_EQ(Counter(10, 5)->Get(1000000).tensor().scalar<int64_t>(), 5000010);
  ExpectGetMatchesIteration(Counter(10, 5));
}

TEST(CounterTest, ResumesExactly) {
  ExpectExactResume(Counter(5, 2), {.max_elements = 100});
  ExpectExactResume(Counter(5, 2), {.max_elements = 100, .extra_breakpoints = {99}});
}

// output_type / dtype (tf.data's arguments): the int64 values converted, a static spec of that
// dtype, the identity changed only for a non-int64 dtype, exact resume; unproducible dtypes
// are refused naming the op and the argument.
TEST(RangeTest, OutputTypeConvertsTheValues) {
  auto ds = Range(0, 5, 2, DType::kInt32);
  std::vector<Element> all = Collect(ds);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[2].tensor().dtype(), DType::kInt32);
  EXPECT_EQ(all[2].tensor().scalar<int32_t>(), 4);
  EXPECT_EQ(Collect(Range(3, 0, -1, DType::kFloat64))[2].tensor().scalar<double>(), 1.0);
  EXPECT_EQ(Collect(Range(250, 265, 5, DType::kUInt8))[2].tensor().scalar<uint8_t>(), 4);
  EXPECT_EQ(ElementSpecOf(*ds).ToString(), ElementSpec::ForTensor(DType::kInt32, {}).ToString());
  EXPECT_EQ(Range(0, 5, 1, DType::kInt64)->Signature(), Range(0, 5)->Signature());
  EXPECT_NE(Range(0, 5, 1, DType::kInt32)->Signature(), Range(0, 5)->Signature());
  ExpectGetMatchesIteration(ds);
  ExpectExactResume(Range(0, 20, 1, DType::kFloat32));
  ExpectInvalidArgument([] { Range(0, 5, 1, DType::kString); }, {"range", "output_type", "string"});
  ExpectInvalidArgument([] { Range(0, 5, 1, DType::kBool); }, {"range", "output_type", "bool"});
}

TEST(CounterTest, DtypeConvertsTheValues) {
  auto ds = Counter(1, 3, DType::kInt16);
  EXPECT_EQ(ds->Get(2).tensor().dtype(), DType::kInt16);
  EXPECT_EQ(ds->Get(2).tensor().scalar<int16_t>(), 7);
  EXPECT_EQ(ElementSpecOf(*ds).ToString(), ElementSpec::ForTensor(DType::kInt16, {}).ToString());
  EXPECT_EQ(Counter(0, 1, DType::kInt64)->Signature(), Counter()->Signature());
  EXPECT_NE(Counter(0, 1, DType::kUInt32)->Signature(), Counter()->Signature());
  ExpectExactResume(Counter(5, 2, DType::kFloat64), {.max_elements = 50});
  ExpectInvalidArgument([] { Counter(0, 1, DType::kComplex64); }, {"counter", "dtype"});
}

}  // namespace
}  // namespace inputpipe
