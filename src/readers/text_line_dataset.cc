// text_line(filenames): one string scalar per line (tf.data's TextLineDataset). Lines end at
// "\n"; like TensorFlow, every "\r" is dropped (so "\r\n" endings vanish, and a lone "\r" inside
// a line too). A last line without a newline is still a line.
// State: the file reader's (file, offset, record = line index, fingerprint); see file_reader.cc.
#include <cstring>
#include <string>

#include "inputpipe/readers.h"
#include "readers/file_reader.h"

namespace inputpipe {

namespace {
std::string WithoutCarriageReturns(const char* data, size_t len) {
  std::string line(data, len);
  if (std::memchr(data, '\r', len) != nullptr) std::erase(line, '\r');
  return line;
}

class TextLineFormat : public RecordFormat {
 public:
  explicit TextLineFormat(int64_t max_record_bytes) : max_record_bytes_(max_record_bytes) {}
  std::string op_name() const override { return "text_line"; }
  std::string params() const override { return ""; }

  bool ReadRecord(InputStream& in, RecordPosition& pos, Element* out) const override {
    if (in.Ensure(1) == 0) return false;
    const uint64_t start = in.offset();
    size_t scanned = 0;
    while (true) {
      const size_t avail = in.available();
      const char* data = in.data();
      const void* nl = std::memchr(data + scanned, '\n', avail - scanned);
      if (nl != nullptr) {
        size_t len = static_cast<const char*>(nl) - data;
        if (len > static_cast<size_t>(max_record_bytes_)) TooLong(in, pos, start);
        *out = Tensor::String(WithoutCarriageReturns(data, len));
        in.Consume(len + 1);
        break;
      }
      if (avail > static_cast<size_t>(max_record_bytes_)) TooLong(in, pos, start);
      scanned = avail;
      in.Ensure(avail + 1);
      if (in.available() == avail) {  // end of file: the last line has no newline
        if (avail > static_cast<size_t>(max_record_bytes_)) TooLong(in, pos, start);
        *out = Tensor::String(WithoutCarriageReturns(in.data(), avail));
        in.Consume(avail);
        break;
      }
    }
    ++pos.record;
    if (pos.line > 0) ++pos.line;
    return true;
  }

 private:
  // Over the cap: the rest of the file is not read, whatever the buffer size.
  [[noreturn]] void TooLong(InputStream& in, const RecordPosition& pos, uint64_t start) const {
    throw BadRecordError(op_name() + ": " + RecordLocation(in, pos, start) +
                             ": line longer than the limit of " + std::to_string(max_record_bytes_) +
                             " bytes (max_record_bytes)",
                         true);
  }

  const int64_t max_record_bytes_;
};
}  // namespace

DatasetPtr TextLineDataset(std::vector<std::string> filenames, ReaderOptions options) {
  return MakeFileReaderDataset(std::make_shared<TextLineFormat>(options.max_record_bytes),
                               std::move(filenames), options);
}

}  // namespace inputpipe
