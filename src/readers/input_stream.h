// A buffered, forward-reading byte stream over a file of any FileSystem (raw, GZIP or ZLIB) or
// over bytes in memory, with the uncompressed offset of every position. The readers parse in
// place in its window: Ensure(n) makes n bytes contiguous at data() (growing the buffer only for
// records longer than it), Consume(n) moves past them.
//
//   auto fs = FileSystemForPath("a.csv.gz");
//   auto in = InputStream::OpenFile(*fs, "a.csv.gz", Compression::kGzip, 1 << 20, "csv");
//   while (in->Ensure(1) > 0) { ... parse in->data()[0, in->available()) ...; in->Consume(k); }
//
// Errors are thrown: IOError (cannot open or read, naming the op, the file and the byte offset;
// a file that ends before the size it had when opened is one too, never a silently shorter
// stream), DataLossError (corrupt or truncated compressed stream, naming the file and the
// offsets). Short reads of the file system are retried.
#ifndef INPUTPIPE_READERS_INPUT_STREAM_H_
#define INPUTPIPE_READERS_INPUT_STREAM_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "inputpipe/file_system.h"

namespace inputpipe {

enum class Compression : uint8_t { kNone, kGzip, kZlib };
// "" / "GZIP" / "ZLIB"; anything else is an InvalidArgumentError naming `op` and the value.
Compression ParseCompression(std::string_view name, const std::string& op);
std::string_view CompressionName(Compression c);

// What identifies a file's contents cheaply: its size and modification time.
struct FileFingerprint {
  int64_t size = 0;
  int64_t mtime_ns = 0;
  bool operator==(const FileFingerprint&) const = default;
};
// IOError naming `op` and the file when it cannot be stat'ed.
FileFingerprint StatFile(FileSystem& fs, const std::string& path, const std::string& op);
// The same, with all the store says (its content identity too).
FileStat StatFileFully(FileSystem& fs, const std::string& path, const std::string& op);

// The reader's IOError for `path` that `fs` could not open: "op: cannot open 'path': reason"
// ("cannot read" for a directory).
IOError OpenError(const std::string& op, const std::string& path, const IOError& e);

class InputStream {
 public:
  // Opens `path` of `fs` (which must outlive the stream); IOError naming `op` and the file if
  // it cannot.
  static std::unique_ptr<InputStream> OpenFile(FileSystem& fs, const std::string& path,
                                               Compression compression, size_t buffer_size,
                                               const std::string& op);
  // Bytes already in memory; `name` and `base_offset` are used in error messages and
  // offset(), as if the bytes had been read from that file at that offset.
  static std::unique_ptr<InputStream> FromBytes(std::string bytes, Compression compression,
                                                std::string name, uint64_t base_offset = 0);
  ~InputStream();

  // Makes at least n bytes available at data() unless the stream ends first; returns the
  // number available (< n only at the end).
  size_t Ensure(size_t n);
  const char* data() const { return buffer_.data() + begin_; }
  size_t available() const { return end_ - begin_; }
  // REQUIRES: n <= available().
  void Consume(size_t n) { begin_ += n; }
  // Uncompressed offset of data()[0].
  uint64_t offset() const { return window_offset_ + begin_; }
  // Moves to uncompressed `offset`: a seek for raw files, a re-decompression from the start
  // (skipping) for compressed ones. DataLossError if the stream ends before it.
  void Seek(uint64_t offset);

  const std::string& name() const { return name_; }
  // Fingerprint of the open file (SequentialFile::Stat at open); zero for in-memory bytes.
  const FileFingerprint& fingerprint() const { return fingerprint_; }
  // All of that Stat (the store's content identity too); zero for in-memory bytes.
  const FileStat& stat() const { return stat_; }

 private:
  class Source;
  class RawSource;
  class ZlibSource;
  InputStream(std::unique_ptr<Source> source, std::string name, size_t buffer_size);

  std::unique_ptr<Source> source_;
  std::string name_;
  FileFingerprint fingerprint_;
  FileStat stat_;
  std::vector<char> buffer_;
  size_t begin_ = 0, end_ = 0;
  uint64_t window_offset_ = 0;  // uncompressed offset of buffer_[0]
  size_t chunk_;                // bytes requested from the source at a time
};

}  // namespace inputpipe

#endif  // INPUTPIPE_READERS_INPUT_STREAM_H_
