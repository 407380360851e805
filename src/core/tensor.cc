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
};

const DTypeInfo& Info(DType dtype) {
  for (const auto& info : kDTypes) {
    if (info.dtype == dtype) return info;
  }
  throw InvalidArgumentError("unknown dtype code " + std::to_string(static_cast<int>(dtype)));
}

// 64-byte aligned storage: what SIMD loops and numpy prefer.
std::shared_ptr<void> AllocateAligned(size_t bytes) {
  size_t rounded = (bytes + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
  if (p == nullptr) throw std::bad_alloc();
  return std::shared_ptr<void>(p, std::free);
}
}  // namespace

size_t DTypeSize(DType dtype) { return Info(dtype).size; }
std::string_view DTypeName(DType dtype) { return Info(dtype).name; }

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

namespace {
const float kZero = 0.0f;
}  // namespace

// No allocation: default-constructed tensors are everywhere (Element(), containers), and the
// shared zero is never written because mutable_raw_data() refuses a buffer it does not own.
Tensor::Tensor() : data_(&kZero) {}

Tensor Tensor::Allocate(DType dtype, Shape shape) {
  Tensor t;
  t.dtype_ = dtype;
  t.num_elements_ = NumElements(shape);
  t.shape_ = std::move(shape);
  if (dtype == DType::kString) {
    t.strings_ = std::make_shared<std::vector<std::string>>(t.num_elements_);
    t.owner_.reset();
    t.data_ = nullptr;
  } else {
    std::shared_ptr<void> storage = AllocateAligned(t.num_elements_ * DTypeSize(dtype));
    t.data_ = storage.get();
    t.owner_ = std::move(storage);
  }
  return t;
}

Tensor Tensor::String(std::string value) {
  Tensor t = Allocate(DType::kString, {});
  (*t.strings_)[0] = std::move(value);
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
  t.strings_ = std::make_shared<std::vector<std::string>>(std::move(values));
  t.owner_.reset();
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
  for (const auto& s : *strings_) total += s.size();
  return total;
}

void* Tensor::mutable_raw_data() {
  if (is_string()) throw FailedPreconditionError("mutable_raw_data on a string tensor");
  if (owner_ == nullptr || owner_.use_count() > 1) {
    throw FailedPreconditionError("mutable_raw_data on a tensor whose buffer is shared");
  }
  return const_cast<void*>(data_);
}

std::vector<std::string>& Tensor::mutable_strings() {
  if (!is_string()) throw FailedPreconditionError("mutable_strings on a numeric tensor");
  if (strings_.use_count() > 1) {
    throw FailedPreconditionError("mutable_strings on a tensor whose buffer is shared");
  }
  return *strings_;
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

bool Tensor::operator==(const Tensor& other) const {
  if (dtype_ != other.dtype_ || shape_ != other.shape_) return false;
  if (is_string()) return *strings_ == *other.strings_;
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
    case DType::kString:
      for (int64_t i = 0; i < n; ++i) out << (i ? ", " : "") << '"' << (*strings_)[i] << '"';
      break;
  }
  if (num_elements_ > n) out << ", ...";
  out << "}";
  return out.str();
}

}  // namespace inputpipe
