// unique: tf.data's example, exact resumption, and the state's size (8 bytes per distinct
// element).
#include <gtest/gtest.h>

#include <iostream>

#include "ops/ops_test_util.h"
#include "testing/expect_error.h"

namespace inputpipe {
namespace {

using namespace testing;  // NOLINT: test helpers

// 0, 0, 1, 1, 2, 2, ...: n / 2 distinct elements.
DatasetPtr Halves(int64_t n) {
  return Map(
      Range(0, n), [](const Element& e) { return I64(e.tensor().scalar<int64_t>() / 2); },
      {.name = "half"});
}

TEST(UniqueTest, MatchesTfDataExample) {
  // tf.data: [1, 37, 2, 37, 2, 1] -> [1, 37, 2]
  EXPECT_EQ(Ints(Unique(FromTensorSlices(I64s({1, 37, 2, 37, 2, 1})))),
            (std::vector<int64_t>{1, 37, 2}));
  auto strings = Collect(
      Unique(FromTensorSlices(Element(Tensor::FromStrings({"a", "b", "a", "c", "b"}, {5})))));
  ASSERT_EQ(strings.size(), 3u);
  EXPECT_EQ(strings[2].tensor().strings()[0], "c");
}

TEST(UniqueTest, ResumesExactly) {
  std::vector<int64_t> values;
  for (int i = 0; i < 200; ++i) values.push_back((i * 37) % 61);
  ExpectExactResume(Unique(FromTensorSlices(I64s(values))));
}

TEST(UniqueTest, StateIsEightBytesPerDistinctElement) {
  auto it = Unique(Halves(20000))->MakeIterator();
  CollectFrom(*it, 5000);
  std::string state = it->Save();
  std::cout << "unique: state of " << state.size() << " bytes after 5000 distinct elements\n";
  EXPECT_GE(state.size(), 5000u * 8);
  EXPECT_LT(state.size(), 5000u * 8 + 300);
  auto restored = Unique(Halves(20000))->MakeIterator();
  restored->Restore(state);
  EXPECT_EQ(restored->GetNext()->tensor().scalar<int64_t>(), 5000);
}


// tf.data's unique takes int32, int64 or string components; floats (no exact equality) and
// tuples / dicts are rejected, at creation where the input is random-access.
TEST(UniqueTest, RejectsFloatsAndStructures) {
  testing::ExpectError<InvalidArgumentError>(
      [] { Unique(FromTensorSlices(Element(Tensor::FromVector<float>({0.0f, -0.0f})))); },
      {"unique", "float32", "integer, bool or string"});
  testing::ExpectError<InvalidArgumentError>(
      [] { Unique(Zip({Range(0, 3), Range(0, 3)})); }, {"unique", "one integer"});
  Element doubles(Tensor::FromVector<double>({1.5, 1.5}));
  auto floats = Unique(
      Filter(FromTensorSlices(doubles), [](const Element&) { return true; }, {.name = "all"}));
  auto it = floats->MakeIterator();
  testing::ExpectError<InvalidArgumentError>([&] { it->GetNext(); }, {"unique", "float64"});
  // Integers of any width, bool, strings, and non-scalar tensors are fine.
  Element int32s(Tensor::FromVector<int32_t>({3, 3, 4}));
  EXPECT_EQ(Collect(Unique(FromTensorSlices(int32s))).size(), 2u);
  Element rows(Tensor::FromVector<int64_t>({1, 2, 1, 2}, {2, 2}));
  EXPECT_EQ(Collect(Unique(FromTensorSlices(rows))).size(), 1u);
  Element u64s(Tensor::FromVector<uint64_t>({~0ull, 1, ~0ull}));
  EXPECT_EQ(Collect(Unique(FromTensorSlices(u64s))).size(), 2u);
  // complex and bfloat16 are floats too.
  testing::ExpectError<InvalidArgumentError>(
      [] {
        Unique(FromTensorSlices(
            Element(Tensor::FromVector<std::complex<float>>({{0, 0}, {-0.0f, 0}}))));
      },
      {"unique", "complex64"});
  testing::ExpectError<InvalidArgumentError>(
      [] { Unique(FromTensorSlices(Element(Tensor::Allocate(DType::kBFloat16, {2})))); },
      {"unique", "bfloat16"});
}

}  // namespace
}  // namespace inputpipe
