// HashBytes is the content identity behind from_tensor_slices' fingerprint and unique()'s
// seen set: equal bytes must hash equal, and the small differences that distinguish real data
// sets (one flipped bit, a moved word, an appended zero) must not.
#include "core/tensor_ops.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "inputpipe/errors.h"

namespace inputpipe {
namespace {

std::vector<unsigned char> Bytes(size_t size) {
  std::vector<unsigned char> bytes(size);
  for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<unsigned char>(i * 131 + 7);
  return bytes;
}

TEST(HashBytesTest, EqualBytesHashEqual) {
  for (size_t size : {0, 1, 7, 8, 31, 32, 33, 100, 4096}) {
    std::vector<unsigned char> a = Bytes(size), b = Bytes(size);
    EXPECT_EQ(HashBytes(a.data(), a.size()), HashBytes(b.data(), b.size())) << size;
    EXPECT_EQ(HashBytes(a.data(), a.size(), 42), HashBytes(b.data(), b.size(), 42)) << size;
  }
}

TEST(HashBytesTest, EverySingleBitFlipChangesTheHash) {
  for (size_t size : {1, 5, 8, 13, 32, 40, 67, 129}) {
    std::vector<unsigned char> bytes = Bytes(size);
    uint64_t original = HashBytes(bytes.data(), bytes.size());
    std::set<uint64_t> seen = {original};
    for (size_t bit = 0; bit < size * 8; ++bit) {
      bytes[bit / 8] ^= static_cast<unsigned char>(1 << (bit % 8));
      seen.insert(HashBytes(bytes.data(), bytes.size()));
      bytes[bit / 8] ^= static_cast<unsigned char>(1 << (bit % 8));
    }
    EXPECT_EQ(seen.size(), size * 8 + 1) << "a bit flip collided at size " << size;
  }
}

TEST(HashBytesTest, LengthOrderAndSeedMatter) {
  std::vector<unsigned char> bytes = Bytes(64);
  std::set<uint64_t> seen;
  // Zero padding: "x" and "x\0", "x\0\0", ... are different contents.
  std::vector<unsigned char> zeros(40, 0);
  for (size_t n = 0; n <= zeros.size(); ++n) seen.insert(HashBytes(zeros.data(), n));
  EXPECT_EQ(seen.size(), zeros.size() + 1);
  // Words swapped within and across lanes.
  uint64_t original = HashBytes(bytes.data(), bytes.size());
  for (size_t a = 0; a < 8; ++a) {
    for (size_t b = a + 1; b < 8; ++b) {
      std::vector<unsigned char> swapped = bytes;
      std::swap_ranges(swapped.begin() + 8 * a, swapped.begin() + 8 * a + 8,
                       swapped.begin() + 8 * b);
      EXPECT_NE(HashBytes(swapped.data(), swapped.size()), original) << a << " <-> " << b;
    }
  }
  EXPECT_NE(HashBytes(bytes.data(), bytes.size(), 1), original);
  EXPECT_NE(HashBytes(bytes.data(), bytes.size(), 1), HashBytes(bytes.data(), bytes.size(), 2));
}

TEST(HashElementTest, SameDataSameHashDifferentDataDifferentHash) {
  Element a(Tensor::FromVector<float>({1, 2, 3, 4}, {2, 2}));
  Element same(Tensor::FromVector<float>({1, 2, 3, 4}, {2, 2}));
  Element reshaped(Tensor::FromVector<float>({1, 2, 3, 4}, {4}));
  Element changed(Tensor::FromVector<float>({1, 2, 3, 5}, {2, 2}));
  Element other_dtype(Tensor::FromVector<int32_t>({1, 2, 3, 4}, {2, 2}));
  EXPECT_EQ(HashElement(a), HashElement(same));
  EXPECT_NE(HashElement(a), HashElement(reshaped));
  EXPECT_NE(HashElement(a), HashElement(changed));
  EXPECT_NE(HashElement(a), HashElement(other_dtype));
}

// range / counter check their dtype with CheckIntegerOutputType and then make values with
// IntegerScalarAs: over every dtype code, the check accepts exactly the dtypes made, and each
// value comes out in the asked dtype.
TEST(IntegerOutputTypeTest, CheckAcceptsExactlyTheDTypesMade) {
  int accepted = 0;
  for (int code = 1; code <= static_cast<int>(DType::kBFloat16); ++code) {
    const DType dtype = static_cast<DType>(code);
    bool checked = true;
    try {
      CheckIntegerOutputType(dtype, "test");
    } catch (const InvalidArgumentError&) {
      checked = false;
    }
    bool made = true;
    try {
      EXPECT_EQ(IntegerScalarAs(7, dtype).dtype(), dtype) << DTypeName(dtype);
    } catch (const InvalidArgumentError&) {
      made = false;
    }
    EXPECT_EQ(checked, made) << DTypeName(dtype);
    accepted += checked ? 1 : 0;
  }
  EXPECT_EQ(accepted, 10);  // 8 integer dtypes, float32, float64
}

}  // namespace
}  // namespace inputpipe
