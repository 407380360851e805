// Tensor storage: small numeric tensors live inside the Tensor object (no allocation per
// scalar), bigger ones in one shared heap block. Copies, moves and assignments must keep every
// tensor's data pointing at memory it owns or shares, never at another object's inline bytes;
// zero-copy views (stable_view) must outlive the tensor. Elements share their children.
#include "inputpipe/tensor.h"

#include <gtest/gtest.h>

#include <complex>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor_ops.h"
#include "inputpipe/element.h"
#include "inputpipe/errors.h"

namespace inputpipe {
namespace {

// True if p lies inside the Tensor object t itself.
bool PointsInto(const void* p, const Tensor& t) {
  auto begin = reinterpret_cast<uintptr_t>(&t);
  auto at = reinterpret_cast<uintptr_t>(p);
  return at >= begin && at < begin + sizeof(Tensor);
}

TEST(TensorTest, ScalarsAndUpToSixteenBytesAreInline) {
  Tensor scalar = Tensor::Scalar<double>(2.5);
  EXPECT_TRUE(scalar.is_inline());
  EXPECT_TRUE(PointsInto(scalar.raw_data(), scalar));
  EXPECT_EQ(scalar.scalar<double>(), 2.5);
  EXPECT_EQ(scalar.storage_owner(), nullptr);

  Tensor four = Tensor::FromVector<float>({1, 2, 3, 4});  // 16 bytes: the limit
  EXPECT_TRUE(four.is_inline());
  Tensor five = Tensor::FromVector<float>({1, 2, 3, 4, 5});  // 20 bytes: heap
  EXPECT_FALSE(five.is_inline());
  EXPECT_FALSE(PointsInto(five.raw_data(), five));
  EXPECT_NE(five.storage_owner(), nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(five.raw_data()) % 64, 0u);  // 64-byte aligned

  Tensor zero;  // the default: a float32 scalar 0
  EXPECT_TRUE(zero.is_inline());
  EXPECT_EQ(zero.dtype(), DType::kFloat32);
  EXPECT_EQ(zero.scalar<float>(), 0.0f);

  EXPECT_FALSE(Tensor::String("abc").is_inline());
  EXPECT_FALSE(Tensor::Allocate(DType::kString, {}).is_inline());
}

TEST(TensorTest, CopiesOfInlineTensorsCopyTheBytes) {
  Tensor a = Tensor::FromVector<int32_t>({7, 8, 9});
  Tensor b = a;
  EXPECT_TRUE(b.is_inline());
  EXPECT_TRUE(PointsInto(b.raw_data(), b));
  EXPECT_NE(a.raw_data(), b.raw_data());
  EXPECT_EQ(a, b);
  EXPECT_EQ(b.shape(), Shape{3});
  // Not shared, so each copy may be changed on its own.
  b.mutable_data<int32_t>()[0] = 70;
  EXPECT_EQ(a.data<int32_t>()[0], 7);
  EXPECT_EQ(b.data<int32_t>()[0], 70);
  EXPECT_NE(a, b);
}

TEST(TensorTest, CopiesOfHeapTensorsShareTheBuffer) {
  Tensor a = Tensor::FromVector<int64_t>({1, 2, 3, 4});  // 32 bytes
  Tensor b = a;
  EXPECT_EQ(a.raw_data(), b.raw_data());
  EXPECT_THROW(b.mutable_raw_data(), FailedPreconditionError);
  Tensor c = Tensor::FromStrings({"x", "y"}, {2});
  Tensor d = c;
  EXPECT_EQ(&c.strings(), &d.strings());
  EXPECT_THROW(d.mutable_strings(), FailedPreconditionError);
  EXPECT_EQ(c.storage_owner(), nullptr);  // strings have no numeric storage
}

TEST(TensorTest, WrappedMemoryIsNeverWritableEvenWhenItsOnlyReference) {
  // The bindings wrap a caller's read-only numpy array (or a read-only memory map): a tensor
  // holding the only reference must still refuse to write into it.
  auto bytes = std::make_shared<std::vector<int64_t>>(std::vector<int64_t>{1, 2, 3, 4});
  Tensor wrapped = Tensor::WrapExternal(DType::kInt64, {4}, bytes->data(), bytes);
  bytes.reset();
  EXPECT_EQ(wrapped.data<int64_t>()[3], 4);
  EXPECT_THROW(wrapped.mutable_raw_data(), FailedPreconditionError);
  Tensor own = Tensor::FromVector<int64_t>({1, 2, 3, 4});
  EXPECT_NO_THROW(own.mutable_raw_data());  // Allocate's buffer, one reference: writable
}

TEST(TensorTest, MovesRepointInlineDataAndLeaveAZeroScalar) {
  Tensor a = Tensor::Scalar<int64_t>(42);
  Tensor b = std::move(a);
  EXPECT_EQ(b.scalar<int64_t>(), 42);
  EXPECT_TRUE(PointsInto(b.raw_data(), b));
  EXPECT_EQ(a.dtype(), DType::kFloat32);  // NOLINT(bugprone-use-after-move): documented state
  EXPECT_EQ(a.scalar<float>(), 0.0f);
  EXPECT_TRUE(PointsInto(a.raw_data(), a));

  Tensor heap = Tensor::FromVector<double>({1, 2, 3});
  const void* buffer = heap.raw_data();
  Tensor moved = std::move(heap);
  EXPECT_EQ(moved.raw_data(), buffer);  // the buffer itself moves, not a copy of it
  EXPECT_EQ(heap.scalar<float>(), 0.0f);  // NOLINT(bugprone-use-after-move)

  Tensor s = Tensor::String("hello");
  Tensor t = std::move(s);
  EXPECT_EQ(t.strings()[0], "hello");
  EXPECT_EQ(s.dtype(), DType::kFloat32);  // NOLINT(bugprone-use-after-move)
}

TEST(TensorTest, AssignmentsBetweenInlineHeapAndStringTensors) {
  Tensor small = Tensor::Scalar<int32_t>(5);
  Tensor big = Tensor::FromVector<int32_t>({1, 2, 3, 4, 5, 6});
  Tensor str = Tensor::String("s");

  Tensor x = big;
  x = small;  // heap -> inline: data now in x itself
  EXPECT_TRUE(PointsInto(x.raw_data(), x));
  EXPECT_EQ(x.scalar<int32_t>(), 5);
  EXPECT_EQ(big.num_elements(), 6);

  x = big;  // inline -> heap: shares big's buffer
  EXPECT_EQ(x.raw_data(), big.raw_data());
  EXPECT_EQ(x, big);

  x = str;
  EXPECT_TRUE(x.is_string());
  EXPECT_EQ(x.strings()[0], "s");

  x = std::move(small);
  EXPECT_EQ(x.scalar<int32_t>(), 5);
  EXPECT_TRUE(PointsInto(x.raw_data(), x));

  Tensor& alias = x;
  x = alias;             // self-assignment keeps the value
  x = std::move(alias);  // NOLINT: self-move too
  EXPECT_EQ(x.scalar<int32_t>(), 5);
  EXPECT_TRUE(PointsInto(x.raw_data(), x));
}

TEST(TensorTest, ContainersThatReallocateKeepInlineValues) {
  std::vector<Tensor> tensors;
  for (int64_t i = 0; i < 1000; ++i) tensors.push_back(Tensor::Scalar<int64_t>(i));  // regrows
  std::vector<Tensor> copied = tensors;
  for (int64_t i = 0; i < 1000; ++i) {
    ASSERT_EQ(tensors[i].scalar<int64_t>(), i);
    ASSERT_TRUE(PointsInto(tensors[i].raw_data(), tensors[i]));
    ASSERT_EQ(copied[i].scalar<int64_t>(), i);
    ASSERT_TRUE(PointsInto(copied[i].raw_data(), copied[i]));
  }
}

TEST(TensorTest, EqualityComparesDtypeShapeAndBytesWhereverTheyLive) {
  const float values[] = {1, 2, 3};
  auto owner = std::make_shared<std::vector<float>>(values, values + 3);
  Tensor external = Tensor::WrapExternal(DType::kFloat32, {3}, owner->data(), owner);
  Tensor inline_copy = Tensor::FromVector<float>({1, 2, 3});
  EXPECT_FALSE(external.is_inline());
  EXPECT_TRUE(inline_copy.is_inline());
  EXPECT_EQ(external, inline_copy);
  EXPECT_NE(inline_copy, Tensor::FromVector<float>({1, 2, 4}));
  EXPECT_NE(inline_copy, Tensor::FromVector<int32_t>({1, 2, 3}));
  EXPECT_NE(inline_copy, Tensor::FromVector<float>({1, 2, 3}, {3, 1}));
}

TEST(TensorTest, StableViewOutlivesTheTensor) {
  // What a zero-copy numpy array would hold: the view must stay readable after the tensor (and
  // every copy of it) is gone. Under ASan a view into the dead tensor is a reported error.
  Tensor::StableView small_view, big_view;
  {
    Tensor small = Tensor::Scalar<int64_t>(-3);
    small_view = small.stable_view();
    EXPECT_FALSE(PointsInto(small_view.data, small));
    Tensor big = Tensor::FromVector<int64_t>({10, 20, 30, 40});
    big_view = big.stable_view();
    EXPECT_EQ(big_view.data, big.raw_data());  // a heap buffer is shared, not copied
  }
  EXPECT_EQ(*static_cast<const int64_t*>(small_view.data), -3);
  EXPECT_EQ(static_cast<const int64_t*>(big_view.data)[3], 40);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(small_view.data) % 64, 0u);
  EXPECT_THROW(Tensor::String("x").stable_view(), FailedPreconditionError);
}

TEST(TensorTest, SliceFirstDimGivesRowsThatOwnTheirBytes) {
  // Rows of 12 bytes come out inline; the source may die first.
  Tensor row;
  {
    Tensor matrix = Tensor::FromVector<float>({1, 2, 3, 4, 5, 6, 7, 8, 9}, {3, 3});
    row = SliceFirstDim(matrix, 1);
  }
  EXPECT_EQ(row, Tensor::FromVector<float>({4, 5, 6}));
  EXPECT_TRUE(PointsInto(row.raw_data(), row));
  Tensor wide = Tensor::FromVector<int64_t>({1, 2, 3, 4, 5, 6, 7, 8}, {2, 4});
  EXPECT_EQ(SliceFirstDim(wide, 1), Tensor::FromVector<int64_t>({5, 6, 7, 8}));
  EXPECT_EQ(SliceFirstDim(Tensor::FromStrings({"a", "b"}, {2}), 1), Tensor::String("b"));
  EXPECT_THROW(SliceFirstDim(wide, 2), InvalidArgumentError);
  EXPECT_THROW(SliceFirstDim(wide, -1), InvalidArgumentError);
  EXPECT_THROW(SliceFirstDim(Tensor::Scalar<int64_t>(1), 0), InvalidArgumentError);
}

// The dtypes added after the first ten: names round trip, sizes are numpy's, and the codes of
// the first ten are unchanged (states and fingerprints name dtypes; codes never leave memory,
// but a changed code would change every DTypeName lookup).
TEST(TensorDTypeTest, WideUnsignedComplexAndBFloat16HaveNamesSizesAndCodes) {
  struct Case {
    DType dtype;
    const char* name;
    size_t size;
    int code;
    bool floating;
  };
  const Case cases[] = {
      {DType::kUInt8, "uint8", 1, 6, false},
      {DType::kFloat16, "float16", 2, 7, true},
      {DType::kString, "string", 0, 10, false},
      {DType::kUInt16, "uint16", 2, 11, false},
      {DType::kUInt32, "uint32", 4, 12, false},
      {DType::kUInt64, "uint64", 8, 13, false},
      {DType::kComplex64, "complex64", 8, 14, true},
      {DType::kComplex128, "complex128", 16, 15, true},
      {DType::kBFloat16, "bfloat16", 2, 16, true},
      {DType::kInt64, "int64", 8, 5, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(DTypeName(c.dtype), c.name);
    EXPECT_EQ(DTypeFromName(c.name), c.dtype);
    EXPECT_EQ(DTypeSize(c.dtype), c.size);
    EXPECT_EQ(static_cast<int>(c.dtype), c.code);
    EXPECT_EQ(DTypeIsFloating(c.dtype), c.floating);
  }
  try {
    DTypeFromName("uint128");
    FAIL() << "no error";
  } catch (const InvalidArgumentError& e) {
    EXPECT_NE(std::string(e.what()).find("bfloat16"), std::string::npos) << e.what();
  }
}

TEST(TensorDTypeTest, NewDTypesHoldExactValuesThroughSliceStackConcatAndPad) {
  const uint64_t big = 0xFFFFFFFFFFFFFFFFull;  // not representable as int64 or double
  Tensor u64 = Tensor::FromVector<uint64_t>({big, 1, big - 1, 0}, {2, 2});
  EXPECT_EQ(u64.dtype(), DType::kUInt64);
  EXPECT_EQ(SliceFirstDim(u64, 0).data<uint64_t>()[0], big);
  EXPECT_EQ(Tensor::Scalar<uint64_t>(big).scalar<uint64_t>(), big);
  EXPECT_EQ(Tensor::Scalar<uint16_t>(65535).scalar<uint16_t>(), 65535);
  EXPECT_EQ(Tensor::Scalar<uint32_t>(4294967295u).dtype(), DType::kUInt32);
  EXPECT_EQ(Stack({SliceFirstDim(u64, 0), SliceFirstDim(u64, 1)}, "batch"), u64);

  using c64 = std::complex<float>;
  Tensor c = Tensor::FromVector<c64>({{1.5f, -2}, {0, 3}, {-0.0f, 1e30f}});
  EXPECT_EQ(c.byte_size(), 24u);
  EXPECT_EQ(SliceFirstDim(c, 2).scalar<c64>(), c64(-0.0f, 1e30f));
  EXPECT_EQ(ConcatFirstDim({SliceRange(c, 0, 1), SliceRange(c, 1, 3)}, "unbatch"), c);
  EXPECT_EQ(c.DebugString(), "complex64[3]{(1.5,-2), (0,3), (-0,1e+30)}");
  Tensor pad = Tensor::Scalar<std::complex<double>>({7, -7});
  Tensor padded = PadTo(Tensor::FromVector<std::complex<double>>({{1, 2}}), {3}, pad, "pad");
  EXPECT_EQ(padded, Tensor::FromVector<std::complex<double>>({{1, 2}, {7, -7}, {7, -7}}));
  EXPECT_EQ(ZeroScalar(DType::kComplex128).scalar<std::complex<double>>(),
            std::complex<double>(0, 0));

  // bfloat16: bits, copied as they are; shown as the float they stand for.
  Tensor b = Tensor::Allocate(DType::kBFloat16, {3});
  const uint16_t bits[] = {0x3FC0, 0xC000, 0x7FC1};  // 1.5, -2, a NaN with a payload
  std::memcpy(b.mutable_raw_data(), bits, sizeof(bits));
  EXPECT_EQ(b.DebugString().substr(0, 21), "bfloat16[3]{1.5, -2, ");
  Tensor row = SliceFirstDim(Stack({b, b}, "batch"), 1);
  EXPECT_EQ(row, b);
  EXPECT_EQ(std::memcmp(row.raw_data(), bits, sizeof(bits)), 0);
  EXPECT_THROW(PadTo(b, {4}, Tensor::Scalar<uint16_t>(0), "padded_batch"), InvalidArgumentError);
}

TEST(ElementTest, CopiesShareChildrenAndCompareEqual) {
  Element row = Element::Tuple({Tensor::Scalar<float>(1.5f), Tensor::Scalar<int64_t>(2),
                                Element::Dict({{"s", Tensor::String("x")}})});
  Element copy = row;
  EXPECT_EQ(&copy.children(), &row.children());  // shared, not copied
  EXPECT_EQ(copy, row);
  EXPECT_TRUE(copy.SameStructure(row));
  EXPECT_EQ(copy[0].tensor().scalar<float>(), 1.5f);
  EXPECT_EQ(copy[2].at("s").tensor().strings()[0], "x");
  EXPECT_EQ(copy[2].keys(), std::vector<std::string>{"s"});

  Element rebuilt = Element::Tuple({Tensor::Scalar<float>(1.5f), Tensor::Scalar<int64_t>(2),
                                    Element::Dict({{"s", Tensor::String("x")}})});
  EXPECT_EQ(rebuilt, row);
  Element other = Element::Tuple({Tensor::Scalar<float>(1.5f), Tensor::Scalar<int64_t>(3),
                                  Element::Dict({{"s", Tensor::String("x")}})});
  EXPECT_NE(other, row);
  EXPECT_TRUE(other.SameStructure(row));
  EXPECT_FALSE(Element::Tuple({Tensor::Scalar<float>(1)}).SameStructure(row));
  EXPECT_FALSE(Element::Dict({{"t", Tensor::String("x")}}).SameStructure(row[2]));

  Element leaf = Tensor::Scalar<int32_t>(4);
  EXPECT_TRUE(leaf.children().empty());
  EXPECT_TRUE(leaf.keys().empty());
  EXPECT_EQ(leaf.size(), 0u);
}

TEST(StackElementsTest, StacksMixedLeavesInElementOrder) {
  std::vector<Element> rows;
  for (int64_t i = 0; i < 5; ++i) {
    rows.push_back(Element::Tuple(
        {Tensor::Scalar<float>(i * 0.5f), Tensor::String("r" + std::to_string(i)),
         Element::Dict({{"v", Tensor::FromVector<int64_t>({i, -i, i * i})},  // 24 bytes: heap
                        {"b", Tensor::Scalar<bool>(i % 2 == 1)}})}));
  }
  Element batch = StackElements(rows, "batch");
  EXPECT_EQ(batch[0].tensor(), Tensor::FromVector<float>({0, 0.5f, 1, 1.5f, 2}));
  EXPECT_EQ(batch[1].tensor(), Tensor::FromStrings({"r0", "r1", "r2", "r3", "r4"}, {5}));
  EXPECT_EQ(batch[2].at("v").tensor(),
            Tensor::FromVector<int64_t>({0, 0, 0, 1, -1, 1, 2, -2, 4, 3, -3, 9, 4, -4, 16}, {5, 3}));
  EXPECT_EQ(batch[2].at("b").tensor().shape(), Shape{5});
  EXPECT_EQ(batch[2].at("b").tensor().data<bool>()[3], true);
}

void ExpectStackError(const std::vector<Element>& rows, const std::string& message) {
  try {
    StackElements(rows, "batch");
    FAIL() << "expected an error containing: " << message;
  } catch (const InvalidArgumentError& e) {
    EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
  }
}

TEST(StackElementsTest, MismatchesAreReportedForTheFirstDifferingLeaf) {
  // A string leaf before a numeric one: the error names the first leaf that differs, whichever
  // way the numeric leaves are copied.
  ExpectStackError({Element::Tuple({Tensor::String("a"), Tensor::Scalar<float>(1)}),
                    Element::Tuple({Tensor::FromStrings({"b", "c"}, {2}), Tensor::Scalar<float>(2)})},
                   "element 0 is string[], element 1 is string[2]");
  ExpectStackError({Element::Tuple({Tensor::Scalar<int32_t>(1), Tensor::Scalar<float>(1)}),
                    Element::Tuple({Tensor::Scalar<int32_t>(2), Tensor::Scalar<double>(2)})},
                   "element 0 is float32[], element 1 is float64[]");
  std::vector<Element> rows = {
      Element::Tuple({Tensor::Scalar<int32_t>(1)}),
      Element::Tuple({Tensor::Scalar<int32_t>(1), Tensor::Scalar<int32_t>(1)})};
  EXPECT_THROW(StackElements(rows, "batch"), InvalidArgumentError);
}

}  // namespace
}  // namespace inputpipe
