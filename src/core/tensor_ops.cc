#include "core/tensor_ops.h"

#include <cstring>

#include "inputpipe/dataset.h"
#include "inputpipe/errors.h"

namespace inputpipe {

namespace {
int64_t RowElements(const Tensor& t) {
  int64_t n = 1;
  for (size_t i = 1; i < t.shape().size(); ++i) n *= t.shape()[i];
  return n;
}
void RequireRank1(const Tensor& t, const char* op) {
  if (t.rank() < 1) {
    throw InvalidArgumentError(std::string(op) + ": cannot slice a scalar " + t.DebugString());
  }
}
}  // namespace

Tensor SliceRange(const Tensor& t, int64_t begin, int64_t end) {
  RequireRank1(t, "slice");
  if (begin < 0 || end < begin || end > t.shape()[0]) {
    throw InvalidArgumentError("slice [" + std::to_string(begin) + ", " + std::to_string(end) +
                               ") out of range for shape " + ShapeString(t.shape()));
  }
  Shape shape = t.shape();
  shape[0] = end - begin;
  Tensor out = Tensor::Allocate(t.dtype(), shape);
  int64_t row = RowElements(t);
  if (t.is_string()) {
    auto& dst = out.mutable_strings();
    std::copy(t.strings().begin() + begin * row, t.strings().begin() + end * row, dst.begin());
  } else {
    size_t row_bytes = row * DTypeSize(t.dtype());
    std::memcpy(out.mutable_raw_data(), static_cast<const char*>(t.raw_data()) + begin * row_bytes,
                (end - begin) * row_bytes);
  }
  return out;
}

Tensor SliceFirstDim(const Tensor& t, int64_t index) {
  Tensor range = SliceRange(t, index, index + 1);
  Shape shape(t.shape().begin() + 1, t.shape().end());
  if (t.is_string()) return Tensor::FromStrings(range.strings(), shape);
  return Tensor::WrapExternal(t.dtype(), shape, range.raw_data(), range.storage_owner());
}

Tensor Stack(const std::vector<Tensor>& parts, const std::string& what) {
  if (parts.empty()) throw InvalidArgumentError(what + ": cannot stack zero tensors");
  const Tensor& first = parts[0];
  for (size_t i = 1; i < parts.size(); ++i) {
    if (parts[i].dtype() != first.dtype() || parts[i].shape() != first.shape()) {
      throw InvalidArgumentError(
          what + ": cannot batch elements of different dtypes or shapes: element 0 is " +
          std::string(DTypeName(first.dtype())) + ShapeString(first.shape()) + ", element " +
          std::to_string(i) + " is " + std::string(DTypeName(parts[i].dtype())) +
          ShapeString(parts[i].shape()) + " (use padded_batch for varying shapes)");
    }
  }
  Shape shape = first.shape();
  shape.insert(shape.begin(), static_cast<int64_t>(parts.size()));
  Tensor out = Tensor::Allocate(first.dtype(), shape);
  if (first.is_string()) {
    auto& dst = out.mutable_strings();
    size_t k = 0;
    for (const auto& p : parts) {
      for (const auto& s : p.strings()) dst[k++] = s;
    }
  } else {
    size_t bytes = first.byte_size();
    char* dst = static_cast<char*>(out.mutable_raw_data());
    for (size_t i = 0; i < parts.size(); ++i) std::memcpy(dst + i * bytes, parts[i].raw_data(), bytes);
  }
  return out;
}

Tensor ConcatFirstDim(const std::vector<Tensor>& parts, const std::string& what) {
  if (parts.empty()) throw InvalidArgumentError(what + ": cannot concatenate zero tensors");
  int64_t rows = 0;
  for (const auto& p : parts) {
    RequireRank1(p, what.c_str());
    if (p.dtype() != parts[0].dtype() ||
        !std::equal(p.shape().begin() + 1, p.shape().end(), parts[0].shape().begin() + 1,
                    parts[0].shape().end())) {
      throw InvalidArgumentError(what + ": cannot concatenate " + p.DebugString(0) + " with " +
                                 parts[0].DebugString(0));
    }
    rows += p.shape()[0];
  }
  Shape shape = parts[0].shape();
  shape[0] = rows;
  Tensor out = Tensor::Allocate(parts[0].dtype(), shape);
  if (out.is_string()) {
    auto& dst = out.mutable_strings();
    size_t k = 0;
    for (const auto& p : parts) {
      for (const auto& s : p.strings()) dst[k++] = s;
    }
  } else {
    char* dst = static_cast<char*>(out.mutable_raw_data());
    for (const auto& p : parts) {
      std::memcpy(dst, p.raw_data(), p.byte_size());
      dst += p.byte_size();
    }
  }
  return out;
}

Tensor ZeroScalar(DType dtype) {
  Tensor t = Tensor::Allocate(dtype, {});
  if (!t.is_string()) std::memset(t.mutable_raw_data(), 0, DTypeSize(dtype));
  return t;
}

Tensor PadTo(const Tensor& t, const Shape& shape, const Tensor& pad, const std::string& what) {
  if (shape.size() != t.shape().size()) {
    throw InvalidArgumentError(what + ": padded shape " + ShapeString(shape) +
                               " has a different rank than the element's shape " +
                               ShapeString(t.shape()));
  }
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] < t.shape()[d]) {
      throw InvalidArgumentError(what + ": element of shape " + ShapeString(t.shape()) +
                                 " does not fit in padded shape " + ShapeString(shape));
    }
  }
  if (pad.dtype() != t.dtype() || pad.num_elements() != 1) {
    throw InvalidArgumentError(what + ": padding value " + pad.DebugString() +
                               " must be a scalar of dtype " + std::string(DTypeName(t.dtype())));
  }
  Tensor out = Tensor::Allocate(t.dtype(), shape);
  const int64_t n = out.num_elements();
  const size_t item = DTypeSize(t.dtype());
  if (out.is_string()) {
    std::fill(out.mutable_strings().begin(), out.mutable_strings().end(), pad.strings()[0]);
  } else {
    char* dst = static_cast<char*>(out.mutable_raw_data());
    for (int64_t i = 0; i < n; ++i) std::memcpy(dst + i * item, pad.raw_data(), item);
  }
  // Copy source values: walk the source's multi-index and map it into the padded layout.
  const int64_t src_n = t.num_elements();
  const size_t rank = shape.size();
  std::vector<int64_t> index(rank, 0);
  for (int64_t src = 0; src < src_n; ++src) {
    int64_t dst_offset = 0;
    for (size_t d = 0; d < rank; ++d) dst_offset = dst_offset * shape[d] + index[d];
    if (out.is_string()) {
      out.mutable_strings()[dst_offset] = t.strings()[src];
    } else {
      std::memcpy(static_cast<char*>(out.mutable_raw_data()) + dst_offset * item,
                  static_cast<const char*>(t.raw_data()) + src * item, item);
    }
    for (size_t d = rank; d-- > 0;) {
      if (++index[d] < t.shape()[d]) break;
      index[d] = 0;
    }
  }
  return out;
}

Element StackElements(const std::vector<Element>& elements, const std::string& what) {
  if (elements.empty()) throw InvalidArgumentError(what + ": cannot batch zero elements");
  const Element& first = elements[0];
  std::vector<std::vector<Element>> leaves;
  for (size_t i = 0; i < elements.size(); ++i) {
    if (!elements[i].SameStructure(first)) {
      throw InvalidArgumentError(what + ": element " + std::to_string(i) + " has structure " +
                                 elements[i].StructureString() + ", element 0 has " +
                                 first.StructureString());
    }
    leaves.push_back(elements[i].FlattenLeaves());
  }
  std::vector<Element> stacked;
  for (size_t leaf = 0; leaf < leaves[0].size(); ++leaf) {
    std::vector<Tensor> parts;
    parts.reserve(elements.size());
    for (auto& l : leaves) parts.push_back(l[leaf].tensor());
    stacked.emplace_back(Stack(parts, what));
  }
  return first.PackLeaves(stacked);
}

Element SliceElement(const Element& element, int64_t index) {
  return element.MapTensors([index](const Tensor& t) { return SliceFirstDim(t, index); });
}

int64_t FirstDimOf(const Element& element, const std::string& what) {
  int64_t dim = -1;
  for (const auto& leaf : element.FlattenLeaves()) {
    const Tensor& t = leaf.tensor();
    if (t.rank() < 1) {
      throw InvalidArgumentError(what + ": cannot slice a scalar component " + t.DebugString());
    }
    if (dim >= 0 && t.shape()[0] != dim) {
      throw InvalidArgumentError(what + ": components have different first dimensions (" +
                                 std::to_string(dim) + " and " + std::to_string(t.shape()[0]) +
                                 ") in " + element.StructureString());
    }
    dim = t.shape()[0];
  }
  if (dim < 0) throw InvalidArgumentError(what + ": element has no tensors");
  return dim;
}

namespace {
constexpr uint64_t kMulA = 0x9e3779b97f4a7c15ULL;  // odd constants with well-spread bits
constexpr uint64_t kMulB = 0xc2b2ae3d27d4eb4fULL;

uint64_t RotateLeft(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

uint64_t Avalanche(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

uint64_t LoadWord(const unsigned char* p) {
  uint64_t w;
  std::memcpy(&w, p, sizeof(w));
  return w;
}
}  // namespace

uint64_t HashBytes(const void* data, size_t size, uint64_t seed) {
  // A content identity for fingerprints and unique(), not cryptography. Four independent
  // multiply-rotate lanes over 8-byte words: several GB/s, so fingerprinting a 100 MB
  // from_tensor_slices array costs milliseconds (a byte-at-a-time hash cost 0.1 s).
  const unsigned char* p = static_cast<const unsigned char*>(data);
  uint64_t lane[4] = {seed ^ kMulA, seed + kMulB, RotateLeft(seed, 17) ^ kMulB, ~seed};
  size_t i = 0;
  for (; i + 32 <= size; i += 32) {
    for (int k = 0; k < 4; ++k) {
      lane[k] = RotateLeft(lane[k] + LoadWord(p + i + 8 * k) * kMulB, 31) * kMulA;
    }
  }
  uint64_t h = static_cast<uint64_t>(size) * kMulA;
  for (int k = 0; k < 4; ++k) h = (h ^ Avalanche(lane[k])) * kMulB + kMulA;
  for (; i + 8 <= size; i += 8) h = RotateLeft(h ^ (LoadWord(p + i) * kMulB), 27) * kMulA;
  if (i < size) {
    uint64_t tail = 0;
    std::memcpy(&tail, p + i, size - i);
    h = RotateLeft(h ^ (tail * kMulB), 27) * kMulA;
  }
  return Avalanche(h);
}

uint64_t HashElement(const Element& element) {
  std::string s = element.StructureString();
  uint64_t h = HashBytes(s.data(), s.size());
  for (const auto& leaf : element.FlattenLeaves()) {
    if (leaf.is_dataset()) {
      std::string sig = leaf.dataset()->Signature();
      h = HashBytes(sig.data(), sig.size(), h);
    } else if (leaf.tensor().is_string()) {
      for (const auto& str : leaf.tensor().strings()) {
        uint64_t len = str.size();
        h = HashBytes(&len, sizeof(len), h);
        h = HashBytes(str.data(), str.size(), h);
      }
    } else {
      h = HashBytes(leaf.tensor().raw_data(), leaf.tensor().byte_size(), h);
    }
  }
  return h;
}

std::string HexU64(uint64_t value) {
  static const char* digits = "0123456789abcdef";
  std::string s(16, '0');
  for (int i = 15; i >= 0; --i, value >>= 4) s[i] = digits[value & 15];
  return s;
}

}  // namespace inputpipe
