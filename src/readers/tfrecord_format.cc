#include "readers/tfrecord_format.h"

#include "util/coding.h"
#include "util/crc32c.h"

namespace inputpipe {

void AppendTFRecord(std::string* out, std::string_view data) {
  std::string header;
  PutFixed64(&header, data.size());
  PutFixed32(&header, crc32c::Mask(crc32c::Value(header.data(), 8)));
  out->append(header);
  out->append(data);
  PutFixed32(out, crc32c::Mask(crc32c::Value(data.data(), data.size())));
}

bool ReadTFRecord(InputStream& in, int64_t max_record_bytes, const std::string& op,
                  RecordPosition& pos, std::string_view* data) {
  const uint64_t start = in.offset();
  // Records, not lines: the location names the record and its byte offset only.
  auto where = [&] { return RecordLocation(in, RecordPosition{pos.record, 0}, start); };
  auto fail = [&](const std::string& what, bool file_broken) {
    throw BadRecordError(op + ": " + where() + ": " + what, file_broken);
  };
  size_t got = in.Ensure(kTFRecordHeaderBytes);
  if (got == 0) return false;
  if (got < kTFRecordHeaderBytes) {
    in.Consume(got);
    fail("truncated record: the file ends " + std::to_string(got) +
             " bytes into the 12-byte header",
         true);
  }
  const char* p = in.data();
  const uint64_t length = DecodeFixed64(p);
  if (crc32c::Unmask(DecodeFixed32(p + 8)) != crc32c::Value(p, 8)) {
    fail("corrupt record: the CRC32C of the length field does not match", true);
  }
  if (length > static_cast<uint64_t>(max_record_bytes)) {
    fail("record length " + std::to_string(length) + " exceeds the limit of " +
             std::to_string(max_record_bytes) + " bytes (max_record_bytes)",
         true);
  }
  const size_t total = kTFRecordHeaderBytes + length + kTFRecordFooterBytes;
  got = in.Ensure(total);
  if (got < total) {
    in.Consume(got);
    fail("truncated record: expected " + std::to_string(length) + " data bytes and a 4-byte CRC, " +
             "the file ends after " + std::to_string(got - kTFRecordHeaderBytes),
         true);
  }
  p = in.data();
  const uint32_t expected = crc32c::Unmask(DecodeFixed32(p + kTFRecordHeaderBytes + length));
  in.Consume(total);
  if (crc32c::Value(p + kTFRecordHeaderBytes, length) != expected) {
    std::string message = op + ": " + where() +
                          ": corrupt record: the CRC32C of the data does not match";
    ++pos.record;  // the length was sound: the next record can still be read
    throw BadRecordError(message, false);
  }
  *data = std::string_view(p + kTFRecordHeaderBytes, length);
  ++pos.record;
  return true;
}

}  // namespace inputpipe
