// The byte sources behind InputStream: a SequentialFile of any FileSystem or bytes in memory
// (raw), and zlib's inflate over one of them (GZIP, ZLIB). Concatenated gzip members are read as
// one stream, as gzip(1) and TensorFlow do.
#include "readers/input_stream.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>

#include "inputpipe/errors.h"

namespace inputpipe {

namespace {
constexpr size_t kCompressedChunk = 256 << 10;

std::string Quote(const std::string& s) { return "'" + s + "'"; }

IOError StatError(const std::string& op, const std::string& path, const IOError& e) {
  return IOError(op + ": cannot stat " + Quote(path) + ": " + IOErrorReason(e));
}
}  // namespace

IOError OpenError(const std::string& op, const std::string& path, const IOError& e) {
  // A directory opens but cannot be read: POSIX reports it from "read".
  auto* fs_error = dynamic_cast<const FileSystemError*>(&e);
  const bool read = fs_error != nullptr && fs_error->operation() == "read";
  return IOError(op + (read ? ": cannot read " : ": cannot open ") + Quote(path) + ": " +
                 IOErrorReason(e));
}

Compression ParseCompression(std::string_view name, const std::string& op) {
  if (name.empty()) return Compression::kNone;
  if (name == "GZIP") return Compression::kGzip;
  if (name == "ZLIB") return Compression::kZlib;
  throw InvalidArgumentError(op + ": compression_type must be '', 'GZIP' or 'ZLIB', got '" +
                             std::string(name) + "'");
}

std::string_view CompressionName(Compression c) {
  switch (c) {
    case Compression::kGzip:
      return "GZIP";
    case Compression::kZlib:
      return "ZLIB";
    default:
      return "";
  }
}

FileStat StatFileFully(FileSystem& fs, const std::string& path, const std::string& op) {
  try {
    return fs.Stat(path);
  } catch (const IOError& e) {
    throw StatError(op, path, e);
  }
}

FileFingerprint StatFile(FileSystem& fs, const std::string& path, const std::string& op) {
  FileStat st = StatFileFully(fs, path, op);
  return {st.size, st.mtime_ns};
}

class InputStream::Source {
 public:
  virtual ~Source() = default;
  // Up to n uncompressed bytes into dst; 0 at the end of the stream.
  virtual size_t Read(char* dst, size_t n) = 0;
  // Positions the next Read at uncompressed `offset` if the source can seek (raw ones can).
  virtual bool Seek(uint64_t offset) = 0;
  // Back to the first byte.
  virtual void Rewind() = 0;
};

class InputStream::RawSource : public Source {
 public:
  // A file of `fs`; `op` names the reader in errors.
  RawSource(FileSystem& fs, std::string path, std::string op)
      : fs_(&fs), name_(std::move(path)), op_(std::move(op)) {
    Open();
    try {
      stat_ = file_->Stat();
    } catch (const IOError& e) {
      throw StatError(op_, name_, e);
    }
  }
  RawSource(std::string bytes, std::string name)
      : bytes_(std::move(bytes)), name_(std::move(name)) {}

  size_t Read(char* dst, size_t n) override {
    if (file_ == nullptr) {
      size_t k = std::min<uint64_t>(n, bytes_.size() - pos_);
      std::memcpy(dst, bytes_.data() + pos_, k);
      pos_ += k;
      return k;
    }
    size_t got;
    try {
      got = file_->Read(dst, n);
    } catch (const IOError& e) {
      throw ReadError(IOErrorReason(e));
    }
    // The end before the size the file had when opened: a read that came back empty too early,
    // or a file truncated under the reader. Either way the bytes after are missing, and a
    // record cut here must not pass for a whole one.
    if (got == 0 && pos_ < static_cast<uint64_t>(stat_.size)) {
      throw ReadError("the file ends there, before its size when opened (" +
                      std::to_string(stat_.size) + " bytes)");
    }
    pos_ += got;
    return got;
  }
  bool Seek(uint64_t offset) override {
    if (file_ == nullptr) {
      pos_ = std::min<uint64_t>(offset, bytes_.size());
      return true;
    }
    // Past the end, a skip would "succeed" and the stream end there silently.
    if (offset > static_cast<uint64_t>(stat_.size)) {
      throw DataLossError(op_ + ": cannot seek in " + Quote(name_) + " to byte " +
                          std::to_string(offset) + ": past the end of the file (" +
                          std::to_string(stat_.size) + " bytes)");
    }
    if (offset < pos_) Open();  // a sequential file goes forward only: start again
    try {
      file_->Skip(offset - pos_);
    } catch (const IOError& e) {
      throw IOError(op_ + ": cannot seek in " + Quote(name_) + " to byte " +
                    std::to_string(offset) + ": " + IOErrorReason(e));
    }
    pos_ = offset;
    return true;
  }
  void Rewind() override { Seek(0); }
  uint64_t position() const { return pos_; }
  const FileStat& stat() const { return stat_; }

 private:
  // "op: cannot read 'path' at byte N: reason", at the current position.
  IOError ReadError(const std::string& reason) const {
    return IOError(op_ + ": cannot read " + Quote(name_) + " at byte " + std::to_string(pos_) +
                   ": " + reason);
  }
  void Open() {
    try {
      file_ = fs_->NewSequentialFile(name_);
    } catch (const IOError& e) {
      throw OpenError(op_, name_, e);
    }
    pos_ = 0;
  }

  FileSystem* fs_ = nullptr;
  std::unique_ptr<SequentialFile> file_;  // null for bytes in memory
  std::string bytes_;
  std::string name_;
  std::string op_;
  FileStat stat_;
  uint64_t pos_ = 0;
};

class InputStream::ZlibSource : public Source {
 public:
  ZlibSource(std::unique_ptr<RawSource> raw, Compression compression, std::string name)
      : raw_(std::move(raw)), compression_(compression), name_(std::move(name)),
        in_(kCompressedChunk) {
    std::memset(&z_, 0, sizeof(z_));
    int window_bits = compression_ == Compression::kGzip ? 16 + MAX_WBITS : MAX_WBITS;
    if (inflateInit2(&z_, window_bits) != Z_OK) {
      throw IOError("cannot initialise zlib to read " + Quote(name_));
    }
  }
  ~ZlibSource() override { inflateEnd(&z_); }

  size_t Read(char* dst, size_t n) override {
    z_.next_out = reinterpret_cast<Bytef*>(dst);
    z_.avail_out = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
    const uInt requested = z_.avail_out;
    while (z_.avail_out == requested) {
      if (z_.avail_in == 0 && !Fill()) {
        // End of the compressed bytes: clean after a finished member (or an empty file).
        if (member_done_ || raw_->position() == 0) break;
        throw DataLossError(std::string(CompressionName(compression_)) + " stream of " +
                            Quote(name_) + " ends early: truncated after " +
                            std::to_string(raw_->position()) + " compressed bytes (" +
                            std::to_string(z_.total_out + produced_before_) +
                            " bytes decompressed)");
      }
      if (member_done_) {
        // More bytes after a finished member: the next member of a concatenated stream.
        produced_before_ += z_.total_out;
        inflateReset(&z_);
        member_done_ = false;
      }
      int r = inflate(&z_, Z_NO_FLUSH);
      if (r == Z_STREAM_END) {
        member_done_ = true;
      } else if (r != Z_OK && r != Z_BUF_ERROR) {
        throw DataLossError("corrupt " + std::string(CompressionName(compression_)) +
                            " data in " + Quote(name_) + " near compressed byte " +
                            std::to_string(raw_->position() - z_.avail_in) + ": " +
                            (z_.msg != nullptr ? z_.msg : "inflate error " + std::to_string(r)));
      }
    }
    return requested - z_.avail_out;
  }
  bool Seek(uint64_t) override { return false; }
  void Rewind() override {
    raw_->Rewind();
    inflateReset(&z_);
    z_.avail_in = 0;
    member_done_ = false;
    produced_before_ = 0;
  }

 private:
  bool Fill() {
    size_t got = raw_->Read(in_.data(), in_.size());
    z_.next_in = reinterpret_cast<Bytef*>(in_.data());
    z_.avail_in = static_cast<uInt>(got);
    return got > 0;
  }

  std::unique_ptr<RawSource> raw_;
  Compression compression_;
  std::string name_;
  std::vector<char> in_;
  z_stream z_;
  bool member_done_ = false;
  uint64_t produced_before_ = 0;
};

InputStream::InputStream(std::unique_ptr<Source> source, std::string name, size_t buffer_size)
    : source_(std::move(source)), name_(std::move(name)),
      chunk_(std::max<size_t>(buffer_size, 4096)) {}

InputStream::~InputStream() = default;

std::unique_ptr<InputStream> InputStream::OpenFile(FileSystem& fs, const std::string& path,
                                                   Compression compression, size_t buffer_size,
                                                   const std::string& op) {
  auto raw = std::make_unique<RawSource>(fs, path, op);
  const FileStat stat = raw->stat();
  const FileFingerprint fingerprint{stat.size, stat.mtime_ns};
  std::unique_ptr<Source> source;
  if (compression == Compression::kNone) {
    source = std::move(raw);
  } else {
    source = std::make_unique<ZlibSource>(std::move(raw), compression, path);
  }
  std::unique_ptr<InputStream> in(new InputStream(std::move(source), path, buffer_size));
  in->fingerprint_ = fingerprint;
  in->stat_ = stat;
  return in;
}

std::unique_ptr<InputStream> InputStream::FromBytes(std::string bytes, Compression compression,
                                                    std::string name, uint64_t base_offset) {
  size_t size = bytes.size();
  auto raw = std::make_unique<RawSource>(std::move(bytes), name);
  std::unique_ptr<Source> source;
  if (compression == Compression::kNone) {
    source = std::move(raw);
  } else {
    source = std::make_unique<ZlibSource>(std::move(raw), compression, name);
  }
  std::unique_ptr<InputStream> in(
      new InputStream(std::move(source), std::move(name), std::max<size_t>(size, 4096)));
  in->window_offset_ = base_offset;
  return in;
}

size_t InputStream::Ensure(size_t n) {
  if (end_ - begin_ >= n) return n;
  if (begin_ > 0) {
    std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
    window_offset_ += begin_;
    end_ -= begin_;
    begin_ = 0;
  }
  if (buffer_.size() < n || buffer_.size() < chunk_) {
    buffer_.resize(std::max({n, chunk_, 2 * buffer_.size()}));
  }
  while (end_ < n) {
    size_t got = source_->Read(buffer_.data() + end_, buffer_.size() - end_);
    if (got == 0) break;
    end_ += got;
  }
  return std::min(n, end_);
}

void InputStream::Seek(uint64_t target) {
  if (target >= window_offset_ && target <= window_offset_ + end_) {
    begin_ = target - window_offset_;
    return;
  }
  if (source_->Seek(target)) {
    window_offset_ = target;
    begin_ = end_ = 0;
    return;
  }
  if (target < offset()) {
    source_->Rewind();
    window_offset_ = 0;
    begin_ = end_ = 0;
  }
  while (offset() < target) {
    size_t avail = Ensure(1);
    if (avail == 0) {
      throw DataLossError(Quote(name_) + " ends at byte " + std::to_string(offset()) +
                          ", before the saved position " + std::to_string(target));
    }
    Consume(std::min<uint64_t>(available(), target - offset()));
  }
}

}  // namespace inputpipe
