#include "core/tensor_ops.h"

#include <algorithm>
#include <cstring>

#include "inputpipe/dataset.h"
#include "inputpipe/errors.h"
#include "inputpipe/ragged.h"

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

namespace {
// Rows [begin, end) of t copied into a new tensor of `shape` (which holds that many rows).
Tensor CopyRows(const Tensor& t, int64_t begin, int64_t end, Shape shape) {
  RequireRank1(t, "slice");
  if (begin < 0 || end < begin || end > t.shape()[0]) {
    throw InvalidArgumentError("slice [" + std::to_string(begin) + ", " + std::to_string(end) +
                               ") out of range for shape " + ShapeString(t.shape()));
  }
  // One allocation, none for a result small enough to be inline.
  Tensor out = Tensor::Allocate(t.dtype(), std::move(shape));
  const int64_t row = RowElements(t);
  if (t.is_string()) {
    std::copy(t.strings().begin() + begin * row, t.strings().begin() + end * row,
              out.mutable_strings().begin());
  } else if (size_t bytes = out.byte_size(); bytes > 0) {
    size_t row_bytes = row * DTypeSize(t.dtype());
    std::memcpy(out.mutable_raw_data(), static_cast<const char*>(t.raw_data()) + begin * row_bytes,
                bytes);
  }
  return out;
}

// [n, shape...]: the shape of n stacked tensors of `shape`.
Shape WithLeadingDim(int64_t n, const Shape& shape) {
  Shape out;
  out.reserve(shape.size() + 1);
  out.push_back(n);
  out.insert(out.end(), shape.begin(), shape.end());
  return out;
}
}  // namespace

Tensor SliceRange(const Tensor& t, int64_t begin, int64_t end) {
  Shape shape = t.shape();
  if (!shape.empty()) shape[0] = end - begin;
  return CopyRows(t, begin, end, std::move(shape));
}

Tensor SliceFirstDim(const Tensor& t, int64_t index) {
  Shape row_shape = t.rank() >= 1 ? Shape(t.shape().begin() + 1, t.shape().end()) : Shape{};
  return CopyRows(t, index, index + 1, std::move(row_shape));
}

namespace {
// Copies n parts of `bytes` bytes each into dst, back to back. A known size lets the compiler
// turn each copy into a single load and store (batches of scalars copy 4 or 8 bytes per part).
template <size_t kBytes, typename PartAt>
void CopyParts(char* dst, size_t n, const PartAt& part) {
  for (size_t i = 0; i < n; ++i) std::memcpy(dst + i * kBytes, part(i).raw_data(), kBytes);
}

// Stack over parts given by index (part(i) -> const Tensor&), so callers need not copy tensors
// into a vector first.
template <typename PartAt>
Tensor StackParts(size_t n, const PartAt& part, const std::string& what) {
  if (n == 0) throw InvalidArgumentError(what + ": cannot stack zero tensors");
  const Tensor& first = part(0);
  for (size_t i = 1; i < n; ++i) {
    const Tensor& p = part(i);
    if (p.dtype() != first.dtype() || p.shape() != first.shape()) {
      throw InvalidArgumentError(
          what + ": cannot batch elements of different dtypes or shapes: element 0 is " +
          std::string(DTypeName(first.dtype())) + ShapeString(first.shape()) + ", element " +
          std::to_string(i) + " is " + std::string(DTypeName(p.dtype())) +
          ShapeString(p.shape()) + " (use padded_batch for varying shapes)");
    }
  }
  Tensor out =
      Tensor::Allocate(first.dtype(), WithLeadingDim(static_cast<int64_t>(n), first.shape()));
  if (first.is_string()) {
    auto& dst = out.mutable_strings();
    size_t k = 0;
    for (size_t i = 0; i < n; ++i) {
      for (const auto& s : part(i).strings()) dst[k++] = s;
    }
    return out;
  }
  const size_t bytes = first.byte_size();
  if (bytes == 0) return out;
  char* dst = static_cast<char*>(out.mutable_raw_data());
  switch (bytes) {
    case 1: CopyParts<1>(dst, n, part); break;
    case 2: CopyParts<2>(dst, n, part); break;
    case 4: CopyParts<4>(dst, n, part); break;
    case 8: CopyParts<8>(dst, n, part); break;
    default:
      for (size_t i = 0; i < n; ++i) std::memcpy(dst + i * bytes, part(i).raw_data(), bytes);
  }
  return out;
}

// Appends pointers to e's leaves (tensors and datasets), depth-first, as FlattenLeaves orders
// them, without copying them.
void AppendLeaves(const Element& e, std::vector<const Element*>* out) {
  if (e.is_tuple() || e.is_dict()) {
    for (const auto& child : e.children()) AppendLeaves(child, out);
  } else {
    out->push_back(&e);
  }
}
}  // namespace

Tensor Stack(const std::vector<Tensor>& parts, const std::string& what) {
  return StackParts(
      parts.size(), [&](size_t i) -> const Tensor& { return parts[i]; }, what);
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

namespace {
// Where StackElements copies one numeric leaf's values to: the output tensor, built from
// element 0's leaf, and each element's leaf checked against it.
struct StackTarget {
  size_t leaf;
  const Tensor* first;
  size_t bytes;
  char* dst;
};

// Copies element i's numeric leaves into their outputs. False if one is not a tensor or differs
// from element 0's in dtype or shape (nothing is reported here: see StackElements).
bool CopyNumericLeaves(const Element* const* leaves, size_t i,
                       const std::vector<StackTarget>& targets) {
  for (const StackTarget& target : targets) {
    const Element& e = *leaves[target.leaf];
    if (!e.is_tensor()) return false;
    const Tensor& t = e.tensor();
    if (t.dtype() != target.first->dtype() || t.shape() != target.first->shape()) return false;
    char* dst = target.dst + i * target.bytes;
    switch (target.bytes) {  // a known size is one load and one store
      case 4: std::memcpy(dst, t.raw_data(), 4); break;
      case 8: std::memcpy(dst, t.raw_data(), 8); break;
      default: std::memcpy(dst, t.raw_data(), target.bytes);
    }
  }
  return true;
}

// Asks the CPU to fetch the tuple/dict node `ahead` elements on and the children of the one
// half as far on. Elements that come out of a shuffle buffer lie anywhere in memory, and this
// walk over them is otherwise one cache miss after another.
void PrefetchChildren(const std::vector<Element>& elements, size_t i) {
  constexpr size_t kNodeAhead = 8, kChildrenAhead = 4;
  if (i + kNodeAhead < elements.size()) {
    __builtin_prefetch(&elements[i + kNodeAhead].children());  // no load: an address
  }
  if (i + kChildrenAhead < elements.size()) {
    const std::vector<Element>& children = elements[i + kChildrenAhead].children();
    const char* begin = reinterpret_cast<const char*>(children.data());
    const size_t bytes = children.size() * sizeof(Element);
    for (size_t offset = 0; offset < bytes; offset += 64) __builtin_prefetch(begin + offset);
  }
}
}  // namespace

Element StackElements(const std::vector<Element>& elements, const std::string& what) {
  if (elements.empty()) throw InvalidArgumentError(what + ": cannot batch zero elements");
  const Element& first = elements[0];
  const size_t n = elements.size();
  // A ragged value's two parts would be stacked apart into something that is no ragged value;
  // element 0 stands for all (their structures must match).
  if (ContainsRagged(first)) {
    throw InvalidArgumentError(what + ": cannot stack ragged values " + first.StructureString() +
                               "; use ragged_batch on the elements before they are ragged");
  }
  // Every element's leaves, by pointer: element i's leaf l is leaves[i * per_element + l].
  std::vector<const Element*> leaves;
  AppendLeaves(first, &leaves);
  const size_t per_element = leaves.size();
  leaves.reserve(per_element * n);

  // The numeric leaves are copied in the same pass that checks each element's structure, while
  // the element is in cache; the other leaves (strings, datasets) are stacked leaf by leaf below.
  // Never resized: a small output's dst points into its Tensor object here (inline bytes).
  std::vector<Tensor> outputs(per_element);
  std::vector<StackTarget> targets;
  for (size_t leaf = 0; leaf < per_element; ++leaf) {
    const Element& e = *leaves[leaf];
    if (!e.is_tensor() || e.tensor().is_string()) continue;
    const Tensor& t = e.tensor();
    outputs[leaf] = Tensor::Allocate(t.dtype(), WithLeadingDim(static_cast<int64_t>(n), t.shape()));
    targets.push_back({leaf, &t, t.byte_size(), static_cast<char*>(outputs[leaf].mutable_raw_data())});
  }
  bool copied = CopyNumericLeaves(leaves.data(), 0, targets);
  for (size_t i = 1; i < n; ++i) {
    PrefetchChildren(elements, i);
    if (!elements[i].SameStructure(first)) {
      throw InvalidArgumentError(what + ": element " + std::to_string(i) + " has structure " +
                                 elements[i].StructureString() + ", element 0 has " +
                                 first.StructureString());
    }
    AppendLeaves(elements[i], &leaves);
    if (copied) copied = CopyNumericLeaves(&leaves[i * per_element], i, targets);
  }

  std::vector<bool> done(per_element, false);
  // A mismatch: every leaf is stacked by StackParts, leaf by leaf, which reports the first one.
  if (copied) {
    for (const StackTarget& target : targets) done[target.leaf] = true;
  }
  std::vector<Element> stacked;
  stacked.reserve(per_element);
  for (size_t leaf = 0; leaf < per_element; ++leaf) {
    if (done[leaf]) {
      stacked.emplace_back(std::move(outputs[leaf]));
      continue;
    }
    stacked.emplace_back(StackParts(
        n, [&](size_t i) -> const Tensor& { return leaves[i * per_element + leaf]->tensor(); },
        what));
  }
  return first.PackLeaves(stacked);
}

Element SliceElement(const Element& element, int64_t index) {
  return element.MapTensors([index](const Tensor& t) { return SliceFirstDim(t, index); });
}

int64_t FirstDimOf(const Element& element, const std::string& what) {
  if (ContainsRagged(element)) {
    throw InvalidArgumentError(what + ": cannot slice ragged values " + element.StructureString());
  }
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

namespace {
// The one list of the dtypes range / counter produce: calls make(T{}) with the C++ type of
// `dtype` and returns true, or returns false for a dtype not in the list.
template <typename Make>
bool WithIntegerOutputType(DType dtype, Make&& make) {
  switch (dtype) {
    case DType::kInt8: make(int8_t{}); return true;
    case DType::kInt16: make(int16_t{}); return true;
    case DType::kInt32: make(int32_t{}); return true;
    case DType::kInt64: make(int64_t{}); return true;
    case DType::kUInt8: make(uint8_t{}); return true;
    case DType::kUInt16: make(uint16_t{}); return true;
    case DType::kUInt32: make(uint32_t{}); return true;
    case DType::kUInt64: make(uint64_t{}); return true;
    case DType::kFloat32: make(float{}); return true;
    case DType::kFloat64: make(double{}); return true;
    default: return false;
  }
}
}  // namespace

Tensor IntegerScalarAs(int64_t value, DType dtype) {
  Tensor out;
  bool known = WithIntegerOutputType(dtype, [&](auto zero) {
    out = Tensor::Scalar<decltype(zero)>(static_cast<decltype(zero)>(value));
  });
  if (!known) {
    throw InvalidArgumentError("IntegerScalarAs: unsupported dtype " +
                               std::string(DTypeName(dtype)));
  }
  return out;
}

void CheckIntegerOutputType(DType dtype, const std::string& what) {
  if (!WithIntegerOutputType(dtype, [](auto) {})) {
    throw InvalidArgumentError(what + " must be an integer dtype, float32 or float64; got " +
                               std::string(DTypeName(dtype)));
  }
}

std::string DTypeParam(DType dtype, const std::string& key) {
  if (dtype == DType::kInt64) return "";
  return ", " + key + "=" + std::string(DTypeName(dtype));
}

// A walk, not FlattenLeaves: no allocation (prefetch counts every element it buffers).
size_t ElementBytes(const Element& element) {
  if (element.is_dataset()) return 0;
  if (!element.is_tensor()) {
    size_t bytes = 0;
    for (const Element& child : element.children()) bytes += ElementBytes(child);
    return bytes;
  }
  const Tensor& t = element.tensor();
  if (!t.is_string()) return t.byte_size();
  size_t bytes = 0;
  for (const std::string& str : t.strings()) bytes += str.size() + sizeof(std::string);
  return bytes;
}

}  // namespace inputpipe
