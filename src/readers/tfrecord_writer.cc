// TFRecordWriter: frames records as TensorFlow does (tfrecord_format.h), optionally through
// zlib's deflate (GZIP or ZLIB), into a file written with plain write(2) calls.
#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <iostream>

#include "inputpipe/readers.h"
#include "readers/input_stream.h"
#include "readers/tfrecord_format.h"

namespace inputpipe {

namespace {
constexpr size_t kFlushBytes = 1 << 20;
}  // namespace

class TFRecordWriter::Impl {
 public:
  Impl(const std::string& path, Compression compression) : path_(path), compression_(compression) {
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) Fail("cannot create");
    if (compression_ != Compression::kNone) {
      std::memset(&z_, 0, sizeof(z_));
      int window_bits = compression_ == Compression::kGzip ? 16 + MAX_WBITS : MAX_WBITS;
      if (deflateInit2(&z_, Z_DEFAULT_COMPRESSION, Z_DEFLATED, window_bits, 8,
                       Z_DEFAULT_STRATEGY) != Z_OK) {
        ::close(fd_);
        throw IOError("TFRecordWriter: cannot initialise zlib for '" + path_ + "'");
      }
    }
  }
  ~Impl() {
    if (fd_ >= 0) {
      try {
        Close();
      } catch (const Error& e) {
        std::cerr << "inputpipe: warning: " << e.what() << std::endl;
      }
    }
  }

  void Write(std::string_view record) {
    if (fd_ < 0) throw FailedPreconditionError("TFRecordWriter: '" + path_ + "' is closed");
    AppendTFRecord(&pending_, record);
    if (pending_.size() >= kFlushBytes) Drain(Z_NO_FLUSH);
  }
  void Flush() {
    if (fd_ < 0) return;
    Drain(compression_ == Compression::kNone ? Z_NO_FLUSH : Z_SYNC_FLUSH);
  }
  void Close() {
    if (fd_ < 0) return;
    Drain(Z_FINISH);
    if (compression_ != Compression::kNone) deflateEnd(&z_);
    int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) Fail("cannot close");
  }

 private:
  // Writes pending_ (compressed when asked) to the file.
  void Drain(int flush) {
    if (compression_ == Compression::kNone) {
      WriteAll(pending_.data(), pending_.size());
      pending_.clear();
      return;
    }
    z_.next_in = reinterpret_cast<Bytef*>(pending_.data());
    z_.avail_in = static_cast<uInt>(pending_.size());
    char out[64 << 10];
    int r;
    do {
      z_.next_out = reinterpret_cast<Bytef*>(out);
      z_.avail_out = sizeof(out);
      r = deflate(&z_, flush);
      if (r == Z_STREAM_ERROR) throw IOError("TFRecordWriter: zlib error writing '" + path_ + "'");
      WriteAll(out, sizeof(out) - z_.avail_out);
    } while (z_.avail_out == 0 || (flush == Z_FINISH && r != Z_STREAM_END));
    pending_.clear();
  }
  void WriteAll(const char* p, size_t n) {
    while (n > 0) {
      ssize_t w = ::write(fd_, p, n);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) Fail("cannot write");
      p += w;
      n -= static_cast<size_t>(w);
    }
  }
  [[noreturn]] void Fail(const std::string& what) {
    throw IOError("TFRecordWriter: " + what + " '" + path_ + "': " + std::strerror(errno));
  }

  std::string path_;
  Compression compression_;
  int fd_ = -1;
  z_stream z_;
  std::string pending_;
};

TFRecordWriter::TFRecordWriter(const std::string& path, const std::string& compression_type)
    : impl_(std::make_unique<Impl>(path, ParseCompression(compression_type, "TFRecordWriter"))) {}
TFRecordWriter::~TFRecordWriter() = default;
void TFRecordWriter::Write(std::string_view record) { impl_->Write(record); }
void TFRecordWriter::Flush() { impl_->Flush(); }
void TFRecordWriter::Close() { impl_->Close(); }

}  // namespace inputpipe
