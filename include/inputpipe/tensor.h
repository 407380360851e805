// Tensor: an immutable, cheaply copyable n-dimensional array of one dtype.
//
//   Tensor t = Tensor::Allocate(DType::kFloat32, {2, 3});
//   float* p = t.mutable_data<float>();        // only while building: see below
//   p[0] = 1.5f; ...
//   Tensor s = Tensor::Scalar<int64_t>(7);
//   Tensor w = Tensor::FromStrings({"a", "bc"}, {2});
//
// Copies share the buffer (a shared_ptr), so passing tensors between ops never copies data.
// A tensor is built once, right after Allocate, and read-only from the moment it is handed on:
// mutable_data() on a tensor whose buffer is shared is a FailedPreconditionError.
// Small numeric tensors (at most kInlineBytes of data: every scalar) keep their bytes inside
// the Tensor object instead: no allocation, and a copy copies the bytes, so their buffer is
// never shared. Their data moves with the object: a pointer from raw_data() is valid only while
// that Tensor object lives unmoved (stable_view() gives one that outlives it).
// float16 and bfloat16 values are stored as their bits (uint16_t: IEEE binary16, and the upper
// half of a float32); the engine never does arithmetic on them. complex64/128 are
// std::complex<float/double> (real, imaginary), the layout numpy and DLPack use. Strings are
// byte strings (std::string), not necessarily UTF-8.
#ifndef INPUTPIPE_TENSOR_H_
#define INPUTPIPE_TENSOR_H_

#include <complex>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace inputpipe {

enum class DType : uint8_t {
  kBool = 1,
  kInt8 = 2,
  kInt16 = 3,
  kInt32 = 4,
  kInt64 = 5,
  kUInt8 = 6,
  kFloat16 = 7,
  kFloat32 = 8,
  kFloat64 = 9,
  kString = 10,
  // Added later: new codes only, so every existing code keeps its meaning.
  kUInt16 = 11,
  kUInt32 = 12,
  kUInt64 = 13,
  kComplex64 = 14,   // std::complex<float>: real, imaginary
  kComplex128 = 15,  // std::complex<double>
  kBFloat16 = 16,    // the upper 16 bits of a float32 (as float16: bits, no arithmetic)
};

// Bytes per element; 0 for kString.
size_t DTypeSize(DType dtype);
// "bool", "int8", ..., "float64", "string".
std::string_view DTypeName(DType dtype);
// The inverse of DTypeName; throws InvalidArgumentError listing the valid names.
DType DTypeFromName(std::string_view name);
// float16, bfloat16, float32, float64, complex64, complex128: the dtypes without exact
// equality of values (0.0 == -0.0 with different bytes, NaN != NaN) and that are not integers.
bool DTypeIsFloating(DType dtype);

template <typename T>
struct DTypeOf;
template <> struct DTypeOf<bool> { static constexpr DType value = DType::kBool; };
template <> struct DTypeOf<int8_t> { static constexpr DType value = DType::kInt8; };
template <> struct DTypeOf<int16_t> { static constexpr DType value = DType::kInt16; };
template <> struct DTypeOf<int32_t> { static constexpr DType value = DType::kInt32; };
template <> struct DTypeOf<int64_t> { static constexpr DType value = DType::kInt64; };
template <> struct DTypeOf<uint8_t> { static constexpr DType value = DType::kUInt8; };
template <> struct DTypeOf<uint16_t> { static constexpr DType value = DType::kUInt16; };
template <> struct DTypeOf<uint32_t> { static constexpr DType value = DType::kUInt32; };
template <> struct DTypeOf<uint64_t> { static constexpr DType value = DType::kUInt64; };
template <> struct DTypeOf<std::complex<float>> {
  static constexpr DType value = DType::kComplex64;
};
template <> struct DTypeOf<std::complex<double>> {
  static constexpr DType value = DType::kComplex128;
};
template <> struct DTypeOf<float> { static constexpr DType value = DType::kFloat32; };
template <> struct DTypeOf<double> { static constexpr DType value = DType::kFloat64; };

using Shape = std::vector<int64_t>;
// "[2, 3]"; "[]" for a scalar.
std::string ShapeString(const Shape& shape);
int64_t NumElements(const Shape& shape);

class Tensor {
 public:
  // Numeric tensors with at most this many bytes of data are stored inline.
  static constexpr size_t kInlineBytes = 16;

  // A float32 scalar 0: tensors always hold a valid value.
  Tensor();
  // Copies share a heap buffer and copy inline bytes. A moved-from tensor is a float32 scalar 0.
  Tensor(const Tensor& other);
  Tensor(Tensor&& other) noexcept;
  Tensor& operator=(const Tensor& other);
  Tensor& operator=(Tensor&& other) noexcept;
  ~Tensor() = default;

  // Uninitialised numeric storage, or empty strings for kString.
  static Tensor Allocate(DType dtype, Shape shape);
  template <typename T>
  static Tensor Scalar(T value) {
    Tensor t = Allocate(DTypeOf<T>::value, {});
    *t.mutable_data<T>() = value;
    return t;
  }
  template <typename T>
  static Tensor FromVector(const std::vector<T>& values, Shape shape);
  template <typename T>
  static Tensor FromVector(const std::vector<T>& values) {
    return FromVector(values, Shape{static_cast<int64_t>(values.size())});
  }
  static Tensor String(std::string value);
  static Tensor FromStrings(std::vector<std::string> values, Shape shape);
  // Wraps numeric bytes owned elsewhere (e.g. a numpy array): `owner` keeps them alive.
  // REQUIRES: `data` holds NumElements(shape) * DTypeSize(dtype) bytes and stays unchanged.
  static Tensor WrapExternal(DType dtype, Shape shape, const void* data,
                             std::shared_ptr<const void> owner);

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t rank() const { return static_cast<int64_t>(shape_.size()); }
  int64_t num_elements() const { return num_elements_; }
  bool is_string() const { return dtype_ == DType::kString; }
  // Bytes of numeric data (num_elements * DTypeSize), or the summed string lengths.
  size_t byte_size() const;

  // Numeric data. REQUIRES: !is_string().
  const void* raw_data() const { return data_; }
  template <typename T>
  const T* data() const {
    return static_cast<const T*>(data_);
  }
  void* mutable_raw_data();
  template <typename T>
  T* mutable_data() {
    return static_cast<T*>(mutable_raw_data());
  }
  // The single value of a scalar or one-element tensor. REQUIRES: T matches dtype.
  template <typename T>
  T scalar() const;

  // String data, row-major. REQUIRES: is_string().
  const std::vector<std::string>& strings() const {
    return *static_cast<const std::vector<std::string>*>(owner_.get());
  }
  std::vector<std::string>& mutable_strings();

  // Whether the numeric bytes live inside this object (see the top of this file).
  bool is_inline() const { return data_ == inline_; }
  // Keeps a heap buffer alive: raw_data() stays valid while the returned pointer lives, whatever
  // happens to this Tensor object. Null for string tensors and for inline tensors, whose bytes
  // die or move with the object: use stable_view() for a view that must outlive it.
  std::shared_ptr<const void> storage_owner() const { return is_string() ? nullptr : owner_; }
  // The numeric data at an address that `owner` keeps valid independently of this Tensor object,
  // for zero-copy views (numpy arrays, WrapExternal): the heap buffer itself, shared, or for an
  // inline tensor a heap copy of its bytes. REQUIRES: !is_string().
  struct StableView {
    const void* data;
    std::shared_ptr<const void> owner;
  };
  StableView stable_view() const;
  // Whether the numeric bytes are a heap buffer Allocate made that no other Tensor shares (what
  // mutable_raw_data() allows): the holder may hand the buffer on, e.g. as a writeable numpy
  // array viewing it, and no one else can see writes to it. False for inline, string and
  // WrapExternal tensors.
  bool owns_unshared_buffer() const {
    return !is_string() && !is_inline() && owner_ != nullptr && owner_.use_count() == 1 &&
           data_ == owner_.get();
  }

  // Same dtype, same shape, same bytes.
  bool operator==(const Tensor& other) const;
  bool operator!=(const Tensor& other) const { return !(*this == other); }
  // "int64[2, 3]{1, 2, 3, ...}": short, for errors and test failures.
  std::string DebugString(int max_values = 8) const;

 private:
  DType dtype_ = DType::kFloat32;
  Shape shape_;
  int64_t num_elements_ = 1;
  // Numeric: inline_, the heap buffer owner_ holds, or external bytes owner_ keeps alive.
  // nullptr for strings.
  const void* data_ = nullptr;
  // Numeric: the heap buffer's owner (null when inline). kString: the std::vector<std::string>.
  std::shared_ptr<const void> owner_;
  // 8-aligned: enough for every dtype, and no padding added to Tensor or Element.
  alignas(8) unsigned char inline_[kInlineBytes];

  // Points data_ at `other`'s data: this object's own copy of it when `other` is inline.
  void TakeDataOf(const Tensor& other) {
    if (other.is_inline()) {
      std::memcpy(inline_, other.inline_, kInlineBytes);
      data_ = inline_;
    } else {
      data_ = other.data_;
    }
  }
  // Makes this a float32 scalar 0 (default-constructed and moved-from tensors).
  void ResetToZero() noexcept;
};

inline Tensor::Tensor(const Tensor& other)
    : dtype_(other.dtype_),
      shape_(other.shape_),
      num_elements_(other.num_elements_),
      owner_(other.owner_) {
  TakeDataOf(other);
}

inline Tensor::Tensor(Tensor&& other) noexcept
    : dtype_(other.dtype_),
      shape_(std::move(other.shape_)),
      num_elements_(other.num_elements_),
      owner_(std::move(other.owner_)) {
  TakeDataOf(other);
  other.ResetToZero();
}

inline Tensor& Tensor::operator=(const Tensor& other) {
  if (this != &other) {
    dtype_ = other.dtype_;
    shape_ = other.shape_;
    num_elements_ = other.num_elements_;
    owner_ = other.owner_;
    TakeDataOf(other);
  }
  return *this;
}

inline Tensor& Tensor::operator=(Tensor&& other) noexcept {
  if (this != &other) {
    dtype_ = other.dtype_;
    shape_ = std::move(other.shape_);
    num_elements_ = other.num_elements_;
    owner_ = std::move(other.owner_);
    TakeDataOf(other);
    other.ResetToZero();
  }
  return *this;
}

inline void Tensor::ResetToZero() noexcept {
  dtype_ = DType::kFloat32;
  shape_.clear();
  num_elements_ = 1;
  owner_.reset();
  std::memset(inline_, 0, kInlineBytes);
  data_ = inline_;
}

template <typename T>
Tensor Tensor::FromVector(const std::vector<T>& values, Shape shape) {
  Tensor t = Allocate(DTypeOf<T>::value, std::move(shape));
  T* out = t.mutable_data<T>();
  for (size_t i = 0; i < values.size() && static_cast<int64_t>(i) < t.num_elements(); ++i) {
    out[i] = values[i];
  }
  return t;
}

}  // namespace inputpipe

#endif  // INPUTPIPE_TENSOR_H_
