// CRC32C (Castagnoli), as used by TFRecord files and inputpipe's state and checkpoint files.
// Uses the SSE4.2 crc32 instruction when the CPU has it, a table otherwise; both agree with
// the standard check value Value("123456789") == 0xE3069283.
#ifndef INPUTPIPE_UTIL_CRC32C_H_
#define INPUTPIPE_UTIL_CRC32C_H_

#include <cstddef>
#include <cstdint>

namespace inputpipe::crc32c {

// CRC of data[0, n), continuing from the CRC `init` of earlier bytes.
uint32_t Extend(uint32_t init, const void* data, size_t n);
inline uint32_t Value(const void* data, size_t n) { return Extend(0, data, n); }
// The table implementation alone, so tests can compare it with the hardware one.
uint32_t ExtendPortable(uint32_t init, const void* data, size_t n);

// Storing the CRC of data that contains CRCs is weak; TFRecord and LevelDB store it masked.
inline uint32_t Mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }
inline uint32_t Unmask(uint32_t masked) {
  uint32_t rot = masked - 0xa282ead8u;
  return (rot >> 17) | (rot << 15);
}

}  // namespace inputpipe::crc32c

#endif  // INPUTPIPE_UTIL_CRC32C_H_
