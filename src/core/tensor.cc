#include "inputpipe/tensor.h"

#include <cstdlib>
#include <cstring>
#include <sstream>

#include "inputpipe/errors.h"

namespace inputpipe {

namespace {
struct DTypeInfo {
  DType dtype;
  std::string_view name;
  size_t size;
};
constexpr DTypeInfo kDTypes[] = {
    {DType::kBool, "bool", 1},       {DType::kInt8, "int8", 1},
    {DType::kInt16, "int16", 2},     {DType::kInt32, "int32", 4},
    {DType::kInt64, "int64", 8},     {DType::kUInt8, "uint8", 1},
    {DType::kFloat16, "float16", 2}, {DType::kFloat32, "float32", 4},
    {DType::kFloat64, "float64", 8}, {DType::kString, "string", 0},
    {DType::kUInt16, "uint16", 2},   {DType::kUInt32, "uint32", 4},
    {DType::kUInt64, "uint64", 8},   {DType::kComplex64, "complex64", 8},
    {DType::kComplex128, "complex128", 16}, {DType::kBFloat16, "bfloat16", 2},
};

const DTypeInfo& Info(DType dtype) {
  for (const auto& info : kDTypes) {
    if (info.dtype == dtype) return info;
  }
  throw InvalidArgumentError("unknown dtype code " + std::to_string(static_cast<int>(dtype)));
}

// 64-byte aligned storage: what SIMD loops and numpy prefer. One allocation holds both the
// buffer and the shared_ptr's control block.
struct alignas(64) AlignedBlock {
  unsigned char bytes[64];
};
std::shared_ptr<void> AllocateAligned(size_t bytes) {
  size_t blocks = (bytes + 63) / 64;
  return std::make_shared_for_overwrite<AlignedBlock[]>(blocks == 0 ? 1 : blocks);
}
}  // namespace

size_t DTypeSize(DType dtype) {
  switch (dtype) {  // on every tensor's path: no table scan
    case DType::kBool: case DType::kInt8: case DType::kUInt8: return 1;
    case DType::kInt16: case DType::kUInt16: case DType::kFloat16: case DType::kBFloat16:
      return 2;
    case DType::kInt32: case DType::kUInt32: case DType::kFloat32: return 4;
    case DType::kInt64: case DType::kUInt64: case DType::kFloat64: case DType::kComplex64:
      return 8;
    case DType::kComplex128: return 16;
    case DType::kString: return 0;
  }
  return Info(dtype).size;  // throws for an unknown code
}
std::string_view DTypeName(DType dtype) { return Info(dtype).name; }

bool DTypeIsFloating(DType dtype) {
  switch (dtype) {
    case DType::kFloat16: case DType::kBFloat16: case DType::kFloat32: case DType::kFloat64:
    case DType::kComplex64: case DType::kComplex128:
      return true;
    default:
      return false;
  }
}

DType DTypeFromName(std::string_view name) {
  std::string valid;
  for (const auto& info : kDTypes) {
    if (info.name == name) return info.dtype;
    valid += (valid.empty() ? "" : ", ") + std::string(info.name);
  }
  throw InvalidArgumentError("unknown dtype '" + std::string(name) + "'; valid dtypes: " + valid);
}

std::string ShapeString(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

int64_t NumElements(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) throw InvalidArgumentError("negative dimension in shape " + ShapeString(shape));
    n *= d;
  }
  return n;
}

// No allocation: default-constructed tensors are everywhere (Element(), containers).
Tensor::Tensor() { ResetToZero(); }

Tensor Tensor::Allocate(DType dtype, Shape shape) {
  Tensor t;
  t.dtype_ = dtype;
  t.num_elements_ = NumElements(shape);
  t.shape_ = std::move(shape);
  if (dtype == DType::kString) {
    t.owner_ = std::make_shared<std::vector<std::string>>(t.num_elements_);
    t.data_ = nullptr;
    return t;
  }
  const size_t bytes = t.num_elements_ * DTypeSize(dtype);
  if (bytes > kInlineBytes) {
    std::shared_ptr<void> storage = AllocateAligned(bytes);
    t.data_ = storage.get();
    t.owner_ = std::move(storage);
  }  // else: the zeroed inline buffer ResetToZero left
  return t;
}

Tensor Tensor::String(std::string value) {
  Tensor t = Allocate(DType::kString, {});
  t.mutable_strings()[0] = std::move(value);
  return t;
}

Tensor Tensor::FromStrings(std::vector<std::string> values, Shape shape) {
  if (static_cast<int64_t>(values.size()) != NumElements(shape)) {
    throw InvalidArgumentError("FromStrings: " + std::to_string(values.size()) +
                               " strings do not fill shape " + ShapeString(shape));
  }
  Tensor t;
  t.dtype_ = DType::kString;
  t.num_elements_ = static_cast<int64_t>(values.size());
  t.shape_ = std::move(shape);
  t.owner_ = std::make_shared<std::vector<std::string>>(std::move(values));
  t.data_ = nullptr;
  return t;
}

Tensor Tensor::WrapExternal(DType dtype, Shape shape, const void* data,
                            std::shared_ptr<const void> owner) {
  if (dtype == DType::kString) throw InvalidArgumentError("WrapExternal: strings cannot be wrapped");
  Tensor t;
  t.dtype_ = dtype;
  t.num_elements_ = NumElements(shape);
  t.shape_ = std::move(shape);
  t.data_ = data;
  t.owner_ = std::move(owner);
  return t;
}

size_t Tensor::byte_size() const {
  if (!is_string()) return num_elements_ * DTypeSize(dtype_);
  size_t total = 0;
  for (const auto& s : strings()) total += s.size();
  return total;
}

void* Tensor::mutable_raw_data() {
  if (is_string()) throw FailedPreconditionError("mutable_raw_data on a string tensor");
  if (is_inline()) return inline_;  // never shared: copies copy it
  if (owner_ == nullptr || owner_.use_count() > 1) {
    throw FailedPreconditionError("mutable_raw_data on a tensor whose buffer is shared");
  }
  // WrapExternal bytes (a caller's read-only numpy array, a memory-mapped file) are never
  // written, even when this tensor holds their only reference: only Allocate's buffers are.
  if (data_ != owner_.get()) {
    throw FailedPreconditionError("mutable_raw_data on a tensor that wraps memory it does not own");
  }
  return const_cast<void*>(data_);
}

std::vector<std::string>& Tensor::mutable_strings() {
  if (!is_string()) throw FailedPreconditionError("mutable_strings on a numeric tensor");
  if (owner_.use_count() > 1) {
    throw FailedPreconditionError("mutable_strings on a tensor whose buffer is shared");
  }
  // Created non-const by Allocate / FromStrings; owner_ only stores it as const void.
  return *static_cast<std::vector<std::string>*>(const_cast<void*>(owner_.get()));
}

Tensor::StableView Tensor::stable_view() const {
  if (is_string()) throw FailedPreconditionError("stable_view of a string tensor");
  if (!is_inline()) return {data_, owner_};
  std::shared_ptr<void> copy = AllocateAligned(kInlineBytes);
  std::memcpy(copy.get(), inline_, kInlineBytes);
  const void* data = copy.get();
  return {data, std::move(copy)};
}

template <typename T>
T Tensor::scalar() const {
  if (dtype_ != DTypeOf<T>::value) {
    throw InvalidArgumentError("scalar<" + std::string(DTypeName(DTypeOf<T>::value)) +
                               "> of a " + std::string(DTypeName(dtype_)) + " tensor");
  }
  if (num_elements_ != 1) {
    throw InvalidArgumentError("scalar() of a tensor of shape " + ShapeString(shape_));
  }
  return *data<T>();
}
template bool Tensor::scalar<bool>() const;
template int8_t Tensor::scalar<int8_t>() const;
template int16_t Tensor::scalar<int16_t>() const;
template int32_t Tensor::scalar<int32_t>() const;
template int64_t Tensor::scalar<int64_t>() const;
template uint8_t Tensor::scalar<uint8_t>() const;
template float Tensor::scalar<float>() const;
template double Tensor::scalar<double>() const;
template uint16_t Tensor::scalar<uint16_t>() const;
template uint32_t Tensor::scalar<uint32_t>() const;
template uint64_t Tensor::scalar<uint64_t>() const;
template std::complex<float> Tensor::scalar<std::complex<float>>() const;
template std::complex<double> Tensor::scalar<std::complex<double>>() const;

bool Tensor::operator==(const Tensor& other) const {
  if (dtype_ != other.dtype_ || shape_ != other.shape_) return false;
  if (is_string()) return strings() == other.strings();
  return std::memcmp(data_, other.data_, byte_size()) == 0;
}

namespace {
template <typename T>
void AppendValues(std::ostringstream& out, const void* data, int64_t n) {
  const T* values = static_cast<const T*>(data);
  for (int64_t i = 0; i < n; ++i) {
    if (i) out << ", ";
    if constexpr (sizeof(T) == 1) {
      out << static_cast<int>(values[i]);
    } else {
      out << values[i];
    }
  }
}
// bfloat16 is the upper half of a float32: shown as the float it stands for.
void AppendBFloat16(std::ostringstream& out, const void* data, int64_t n) {
  const uint16_t* bits = static_cast<const uint16_t*>(data);
  for (int64_t i = 0; i < n; ++i) {
    uint32_t wide = static_cast<uint32_t>(bits[i]) << 16;
    float value;
    std::memcpy(&value, &wide, sizeof(value));
    out << (i ? ", " : "") << value;
  }
}
}  // namespace

std::string Tensor::DebugString(int max_values) const {
  std::ostringstream out;
  out << DTypeName(dtype_) << ShapeString(shape_) << "{";
  int64_t n = std::min<int64_t>(num_elements_, max_values);
  switch (dtype_) {
    case DType::kBool: AppendValues<bool>(out, data_, n); break;
    case DType::kInt8: AppendValues<int8_t>(out, data_, n); break;
    case DType::kInt16: AppendValues<int16_t>(out, data_, n); break;
    case DType::kInt32: AppendValues<int32_t>(out, data_, n); break;
    case DType::kInt64: AppendValues<int64_t>(out, data_, n); break;
    case DType::kUInt8: AppendValues<uint8_t>(out, data_, n); break;
    case DType::kFloat16: AppendValues<uint16_t>(out, data_, n); break;
    case DType::kFloat32: AppendValues<float>(out, data_, n); break;
    case DType::kFloat64: AppendValues<double>(out, data_, n); break;
    case DType::kUInt16: AppendValues<uint16_t>(out, data_, n); break;
    case DType::kUInt32: AppendValues<uint32_t>(out, data_, n); break;
    case DType::kUInt64: AppendValues<uint64_t>(out, data_, n); break;
    case DType::kComplex64: AppendValues<std::complex<float>>(out, data_, n); break;
    case DType::kComplex128: AppendValues<std::complex<double>>(out, data_, n); break;
    case DType::kBFloat16: AppendBFloat16(out, data_, n); break;
    case DType::kString:
      for (int64_t i = 0; i < n; ++i) out << (i ? ", " : "") << '"' << strings()[i] << '"';
      break;
  }
  if (num_elements_ > n) out << ", ...";
  out << "}";
  return out.str();
}

}  // namespace inputpipe
