// TFRecordWriter: frames records as TensorFlow does (tfrecord_format.h), optionally through
// zlib's deflate (GZIP or ZLIB), into a WritableFile of the path's file system (no fsync: a
// TFRecord file is data, not a checkpoint; Close is where the last bytes are written).
#include <zlib.h>

#include <cstring>
#include <iostream>

#include "inputpipe/file_system.h"
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
    try {
      fs_ = FileSystemForPath(path);
      file_ = fs_->NewWritableFile(path);
    } catch (const Error& e) {
      Fail("cannot create", e);
    }
    if (compression_ != Compression::kNone) {
      std::memset(&z_, 0, sizeof(z_));
      int window_bits = compression_ == Compression::kGzip ? 16 + MAX_WBITS : MAX_WBITS;
      if (deflateInit2(&z_, Z_DEFAULT_COMPRESSION, Z_DEFLATED, window_bits, 8,
                       Z_DEFAULT_STRATEGY) != Z_OK) {
        file_.reset();
        throw IOError("TFRecordWriter: cannot initialise zlib for '" + path_ + "'");
      }
    }
  }
  ~Impl() {
    if (file_ != nullptr) {
      try {
        Close();
      } catch (const Error& e) {
        std::cerr << "inputpipe: warning: " << e.what() << std::endl;
      }
    }
  }

  void Write(std::string_view record) {
    if (file_ == nullptr) throw FailedPreconditionError("TFRecordWriter: '" + path_ + "' is closed");
    AppendTFRecord(&pending_, record);
    if (pending_.size() >= kFlushBytes) Drain(Z_NO_FLUSH);
  }
  void Flush() {
    if (file_ == nullptr) return;
    Drain(compression_ == Compression::kNone ? Z_NO_FLUSH : Z_SYNC_FLUSH);
  }
  void Close() {
    if (file_ == nullptr) return;
    Drain(Z_FINISH);
    if (compression_ != Compression::kNone) deflateEnd(&z_);
    std::unique_ptr<WritableFile> file = std::move(file_);
    try {
      file->Close();
    } catch (const Error& e) {
      Fail("cannot close", e);
    }
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
    if (n == 0) return;
    try {
      file_->Append(std::string_view(p, n));
    } catch (const Error& e) {
      Fail("cannot write", e);
    }
  }
  // An IOError naming the writer, the file and the store's reason; an unknown scheme stays an
  // InvalidArgumentError.
  [[noreturn]] void Fail(const std::string& what, const Error& e) {
    std::string message = "TFRecordWriter: " + what + " '" + path_ + "': ";
    if (auto* io = dynamic_cast<const IOError*>(&e)) throw IOError(message + IOErrorReason(*io));
    throw InvalidArgumentError(message + e.what());
  }

  std::string path_;
  Compression compression_;
  std::shared_ptr<FileSystem> fs_;
  std::unique_ptr<WritableFile> file_;  // null once closed
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
