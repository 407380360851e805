#include "util/coding.h"

namespace inputpipe {

void PutFixed32(std::string* dst, uint32_t value) {
  for (int i = 0; i < 4; ++i) dst->push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

void PutFixed64(std::string* dst, uint64_t value) {
  for (int i = 0; i < 8; ++i) dst->push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

void PutVarint64(std::string* dst, uint64_t value) {
  while (value >= 0x80) {
    dst->push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  dst->push_back(static_cast<char>(value));
}

void PutZigZag64(std::string* dst, int64_t value) {
  PutVarint64(dst, (static_cast<uint64_t>(value) << 1) ^ static_cast<uint64_t>(value >> 63));
}

void PutLengthPrefixed(std::string* dst, std::string_view value) {
  PutVarint64(dst, value.size());
  dst->append(value);
}

uint32_t DecodeFixed32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return uint32_t{u[0]} | (uint32_t{u[1]} << 8) | (uint32_t{u[2]} << 16) | (uint32_t{u[3]} << 24);
}

uint64_t DecodeFixed64(const char* p) {
  return uint64_t{DecodeFixed32(p)} | (uint64_t{DecodeFixed32(p + 4)} << 32);
}

bool ByteReader::GetFixed32(uint32_t* value) {
  if (remaining() < 4) return false;
  *value = DecodeFixed32(bytes_.data() + offset_);
  offset_ += 4;
  return true;
}

bool ByteReader::GetVarint64(uint64_t* value) {
  uint64_t result = 0;
  for (int shift = 0; shift <= 63 && offset_ < bytes_.size(); shift += 7) {
    uint64_t byte = static_cast<unsigned char>(bytes_[offset_++]);
    result |= (byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      *value = result;
      return true;
    }
  }
  return false;
}

bool ByteReader::GetZigZag64(int64_t* value) {
  uint64_t raw;
  if (!GetVarint64(&raw)) return false;
  *value = static_cast<int64_t>((raw >> 1) ^ (~(raw & 1) + 1));
  return true;
}

bool ByteReader::GetBytes(size_t n, std::string_view* value) {
  if (remaining() < n) return false;
  *value = bytes_.substr(offset_, n);
  offset_ += n;
  return true;
}

bool ByteReader::GetLengthPrefixed(std::string_view* value) {
  uint64_t n;
  size_t start = offset_;
  if (!GetVarint64(&n) || n > remaining()) {
    offset_ = start;
    return false;
  }
  return GetBytes(static_cast<size_t>(n), value);
}

}  // namespace inputpipe
