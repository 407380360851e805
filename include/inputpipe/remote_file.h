// Files of a store where every request costs a round trip (an object store, HTTP) and, when the
// store is written in Python, the GIL: sequential reads in large blocks fetched ahead on a
// background thread, random reads through a small cache of aligned blocks (large reads in
// sequence, as a Parquet scan makes: read ahead as a sequential file is), each request retried
// with backoff a bounded number of times. A store supplies one thing, ranged reads; these
// wrappers turn them into the SequentialFile and RandomAccessFile the readers use, so that the
// per-request cost is paid per megabytes, not per record.
//
//   class S3Ranges : public RangeReader {                  // thread-safe
//     std::string ReadRange(uint64_t offset, size_t n) override { ... GET with Range ... }
//   };
//   FileStat st = ...;                                      // the size is needed up front
//   auto ranges = std::make_shared<S3Ranges>(...);
//   std::unique_ptr<SequentialFile> seq = NewReadAheadFile(ranges, "s3://b/k", st, {});
//   std::unique_ptr<RandomAccessFile> ra = NewBlockCacheFile(ranges, "s3://b/k", st, {});
//
// What is delivered is exactly the object's bytes [0, stat.size) as they were at Stat: a range
// that comes back shorter than asked (a connection reset mid-body) is an error of that attempt,
// retried, never passed on as a short file. An error that retrying cannot fix (the errno of a
// missing object or a refused permission: ENOENT, ENOTDIR, EISDIR, EACCES, EPERM, EINVAL,
// ENOSYS) is thrown at once; any other is retried up to max_attempts times in all, with backoff
// doubling from initial_backoff_s, then thrown as a FileSystemError naming the path, the byte
// offset and the number of attempts: "read s3://b/k: bytes 8388608..16777215, after 4
// attempts: ConnectionResetError: ...".
//
// Thread-safety: a ReadAheadFile is used by one thread at a time (its own fetcher thread aside);
// a BlockCacheFile's Read is safe from several threads at once. The fetcher thread holds the
// RangeReader by shared_ptr and is never joined by the destructor (a file may be dropped on a
// thread holding the GIL that the fetcher waits for): it is told to stop and ends after at most
// the one request in flight.
#ifndef INPUTPIPE_REMOTE_FILE_H_
#define INPUTPIPE_REMOTE_FILE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "inputpipe/file_system.h"

namespace inputpipe {

// The body of one open-ended GET (Range: bytes=offset-), read progressively. Used by one thread.
class RangeStream {
 public:
  virtual ~RangeStream() = default;
  // Up to n next bytes of the body; empty at its end. Throws FileSystemError as ReadRange does.
  virtual std::string Read(size_t n) = 0;
};

// Ranged reads of one object. Safe for concurrent calls.
class RangeReader {
 public:
  virtual ~RangeReader() = default;
  // Bytes [offset, offset + n) of the object; fewer only where the object ends. Throws
  // FileSystemError (its code() says whether a retry can help; see above).
  virtual std::string ReadRange(uint64_t offset, size_t n) = 0;
  // A streaming read from `offset` to the end, or nullptr where the store has none (then the
  // sequential file makes one ranged request per block). Sequential files read through one
  // stream, so that a store that pays per request (moto reads the whole object for each GET) or
  // per round trip pays once per file, not once per block; they reopen it at the current
  // offset after an error or a seek outside what is buffered. Random-access files use it for a
  // scan only: large reads one after the other, each where the previous one ended.
  virtual std::unique_ptr<RangeStream> OpenStream(uint64_t offset) { return nullptr; }
};

// The next n bytes of `stream`, fewer only where its body ends first; what Read throws passes.
std::string ReadUpTo(RangeStream& stream, size_t n);

// The rest of an HTTP/1.1 response body on the connected socket `fd`, whose status and
// headers another client read (Python's http.client: it sent the request, checked the status
// and the range): first `head`, the body bytes that client had buffered past the headers, then
// recv() from `fd` until `length` body bytes in all, with no Python and no GIL; each wait for
// data is bounded by timeout_s. A body that ends early (the peer closed or reset), a recv error
// or a timeout throws a FileSystemError on `path` whose reason starts with `what` (the request
// as it may be shown: "GET s3://b/k from byte 0: HTTP 206", never a signed URL) and says how
// many of the bytes came; its code (ECONNRESET, ETIMEDOUT, EIO) is one a retry may fix.
// REQUIRES: `fd` stays open, and is read by no one else, until the stream is destroyed (the
// caller owns it). Used by one thread.
std::unique_ptr<RangeStream> NewSocketBodyStream(int fd, std::string head, uint64_t length,
                                                 double timeout_s, std::string path,
                                                 std::string what);

struct BlockReadOptions {
  // Sequential reads: bytes per request, and how many blocks are fetched ahead of the reader.
  size_t block_size = 8 << 20;
  int read_ahead_blocks = 2;
  // Random reads: bytes per request (aligned blocks) and how many blocks are kept (LRU). A
  // read of at least two blocks' bytes is one request of its own (up to 64 MiB), not cached;
  // the next such read where it ended starts a scan, read ahead as a sequential file is.
  size_t random_block_size = 1 << 20;
  size_t cached_blocks = 16;
  // Attempts per request in all (1: no retry), and the wait before the first retry.
  int max_attempts = 4;
  double initial_backoff_s = 0.05;
};

// A sequential file of bytes [0, stat.size) of `ranges`; the first Read starts the fetcher.
// REQUIRES: options' sizes and counts positive.
std::unique_ptr<SequentialFile> NewReadAheadFile(std::shared_ptr<RangeReader> ranges,
                                                 std::string path, FileStat stat,
                                                 const BlockReadOptions& options);
// A random-access file of bytes [0, stat.size) of `ranges`.
std::unique_ptr<RandomAccessFile> NewBlockCacheFile(std::shared_ptr<RangeReader> ranges,
                                                    std::string path, FileStat stat,
                                                    const BlockReadOptions& options);
// Bytes [offset, offset + n) of `ranges` (n clipped to `size`), with the retries above: what
// both files do per request, and what a store's ReadFile can use for a whole small object.
std::string ReadRangeWithRetries(RangeReader& ranges, const std::string& path, int64_t size,
                                 uint64_t offset, size_t n, const BlockReadOptions& options);

}  // namespace inputpipe

#endif  // INPUTPIPE_REMOTE_FILE_H_
