// The TFRecord framing, as TensorFlow writes it:
//   uint64 length (little-endian) | uint32 masked CRC32C(length bytes) | data | uint32 masked CRC32C(data)
// Shared by the reader, the writer and the fuzz target.
#ifndef INPUTPIPE_READERS_TFRECORD_FORMAT_H_
#define INPUTPIPE_READERS_TFRECORD_FORMAT_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "readers/file_reader.h"
#include "readers/input_stream.h"

namespace inputpipe {

inline constexpr size_t kTFRecordHeaderBytes = 12;  // length + its CRC
inline constexpr size_t kTFRecordFooterBytes = 4;   // CRC of the data

// Appends one framed record to *out.
void AppendTFRecord(std::string* out, std::string_view data);

// Reads the record at in's position into *data (valid until the next operation on `in`) and
// advances `pos`; false when no bytes are left. Throws BadRecordError naming `op`, the file,
// the record and its byte offset: a bad length CRC, a length over max_record_bytes or a
// truncation (file_broken), a bad data CRC (the stream is left after the record).
bool ReadTFRecord(InputStream& in, int64_t max_record_bytes, const std::string& op,
                  RecordPosition& pos, std::string_view* data);

}  // namespace inputpipe

#endif  // INPUTPIPE_READERS_TFRECORD_FORMAT_H_
