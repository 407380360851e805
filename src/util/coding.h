// Little-endian fixed-width and varint encoding, and a bounds-checked reader over bytes.
// The byte layouts are written down in docs/state_format.md.
#ifndef INPUTPIPE_UTIL_CODING_H_
#define INPUTPIPE_UTIL_CODING_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace inputpipe {

void PutFixed32(std::string* dst, uint32_t value);
void PutFixed64(std::string* dst, uint64_t value);
void PutVarint64(std::string* dst, uint64_t value);
// Signed values as zigzag varints: small magnitudes stay one byte.
void PutZigZag64(std::string* dst, int64_t value);
void PutLengthPrefixed(std::string* dst, std::string_view value);
uint32_t DecodeFixed32(const char* p);
uint64_t DecodeFixed64(const char* p);

// Reads from a byte range; every Get returns false instead of reading past the end or
// accepting an over-long varint, so a decoder can report "truncated at byte N".
class ByteReader {
 public:
  explicit ByteReader(std::string_view bytes) : bytes_(bytes) {}
  bool GetFixed32(uint32_t* value);
  bool GetVarint64(uint64_t* value);
  bool GetZigZag64(int64_t* value);
  bool GetLengthPrefixed(std::string_view* value);
  bool GetBytes(size_t n, std::string_view* value);
  size_t offset() const { return offset_; }
  size_t remaining() const { return bytes_.size() - offset_; }

 private:
  std::string_view bytes_;
  size_t offset_ = 0;
};

}  // namespace inputpipe

#endif  // INPUTPIPE_UTIL_CODING_H_
