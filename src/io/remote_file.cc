// Block reads over a RangeReader (inputpipe/remote_file.h).
//
// The read-ahead file, in steps:
//   1. The first Read starts a fetcher thread, detached: it shares the queue (Shared) with the
//      file by shared_ptr, so the file's destructor only sets `stop` and never joins.
//   2. The fetcher requests block after block from `fetch_at` while fewer than
//      read_ahead_blocks are queued, each with ReadRangeWithRetries, the lock released meanwhile.
//   3. Read copies from the front block, pops it once consumed, and wakes the fetcher.
//   4. Skip drops what lies before the new position; past the queue (and the block in flight)
//      it moves `fetch_at` and bumps `generation`, so a block requested for the old position is
//      dropped when it arrives instead of being delivered at the wrong offset.
//   5. Where the store has streams (RangeReader::OpenStream), a block is read from the one open
//      streaming GET instead of a request of its own; the stream is reopened at the block's
//      offset after a Skip moved fetch_at, or for the retry of a failed or short attempt.
//   6. A failed request stops the fetcher; its error is thrown by the Read that reaches the
//      block, not before: bytes before it are still delivered, nothing after it is.
#include "inputpipe/remote_file.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <exception>
#include <list>
#include <thread>
#include <unordered_map>

#include "util/mutex.h"

namespace inputpipe {

namespace {
// Errors a retry cannot fix: the object is missing, is a directory, or may not be read.
bool Retryable(int code) {
  switch (code) {
    case ENOENT:
    case ENOTDIR:
    case EISDIR:
    case EACCES:
    case EPERM:
    case EINVAL:
    case ENOSYS:
      return false;
    default:
      return true;
  }
}

// "bytes 300..399": the range of the request, first and last byte.
std::string Where(uint64_t offset, size_t n) {
  return "bytes " + std::to_string(offset) + ".." + std::to_string(offset + n - 1);
}

// Bytes [offset, offset + n) by attempt() (n clipped to `size`), with the retries of the header.
template <typename Attempt>
std::string WithRetries(const std::string& path, int64_t size, uint64_t offset, size_t n,
                        const BlockReadOptions& options, Attempt&& read_once) {
  if (size < 0 || offset >= static_cast<uint64_t>(size)) return {};
  n = std::min<uint64_t>(n, static_cast<uint64_t>(size) - offset);
  double backoff_s = options.initial_backoff_s;
  for (int attempt = 1;; ++attempt) {
    std::string reason;
    int code = EIO;
    try {
      std::string got = read_once();
      if (got.size() == n) return got;
      // Short: the body was cut, or the object shrank since its Stat. Either way these are not
      // the bytes asked for, and a reader must not parse them as if they were.
      reason = "the store returned " + std::to_string(got.size()) + " of " + std::to_string(n) +
               " bytes";
    } catch (const FileSystemError& e) {
      if (!Retryable(e.code())) {
        throw FileSystemError("read", path, Where(offset, n) + ": " + e.reason(), e.code());
      }
      reason = e.reason();
      code = e.code() != 0 ? e.code() : EIO;
    } catch (const IOError& e) {
      reason = e.what();
    }
    if (attempt >= std::max(1, options.max_attempts)) {
      throw FileSystemError("read", path,
                            Where(offset, n) + ", after " + std::to_string(attempt) +
                                (attempt == 1 ? " attempt: " : " attempts: ") + reason,
                            code);
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(backoff_s));
    backoff_s = std::min(backoff_s * 2, 2.0);
  }
}

struct Block {
  uint64_t offset = 0;
  std::string bytes;
  uint64_t end() const { return offset + bytes.size(); }
};

// What the read-ahead file and its fetcher thread share.
struct Shared {
  Shared(std::shared_ptr<RangeReader> r, std::string p, int64_t s, BlockReadOptions o)
      : ranges(std::move(r)), path(std::move(p)), size(static_cast<uint64_t>(s)), options(o) {}

  const std::shared_ptr<RangeReader> ranges;
  const std::string path;
  const uint64_t size;
  const BlockReadOptions options;

  Mutex mu;
  CondVar cv;  // the fetcher waits for room or a new position, the reader for a block
  std::deque<Block> blocks GUARDED_BY(mu);
  uint64_t fetch_at GUARDED_BY(mu) = 0;     // offset of the next block to request
  uint64_t generation GUARDED_BY(mu) = 0;   // bumped by a Skip that moves fetch_at
  std::exception_ptr error GUARDED_BY(mu);  // of the block at fetch_at
  bool stop GUARDED_BY(mu) = false;
};

// The fetcher's open stream, if the store has streams: where its body is now, so that a block
// that starts elsewhere (after a Skip) reopens it there. Used by the fetcher thread only.
struct Stream {
  std::unique_ptr<RangeStream> body;
  uint64_t at = 0;
  bool unsupported = false;  // OpenStream gave nullptr: ranged requests from then on
};

// One attempt at the block [at, at + n) through the stream, opened (again) at `at` where it is
// not there. A failed or short attempt drops the stream: the retry reopens it at `at`, so the
// bytes delivered are those of [at, at + n) whatever the broken body had sent.
std::string ReadFromStream(RangeReader& ranges, Stream& stream, uint64_t at, size_t n) {
  if (stream.body == nullptr || stream.at != at) {
    stream.body.reset();  // the old body first: one connection at a time
    stream.body = ranges.OpenStream(at);
    stream.at = at;
    if (stream.body == nullptr) {
      stream.unsupported = true;
      return ranges.ReadRange(at, n);
    }
  }
  std::string out;
  try {
    out = ReadUpTo(*stream.body, n);  // short where the body ended early: retried by the caller
  } catch (...) {
    stream.body.reset();
    throw;
  }
  stream.at = at + out.size();
  if (out.size() < n) stream.body.reset();
  return out;
}

void Fetch(const std::shared_ptr<Shared>& s) EXCLUDES(s->mu) {
  Stream stream;  // destroyed on this thread, without the lock
  MutexLock lock(s->mu);
  while (!s->stop) {
    if (s->error || s->fetch_at >= s->size ||
        s->blocks.size() >= static_cast<size_t>(s->options.read_ahead_blocks)) {
      s->cv.Wait(s->mu);
      continue;
    }
    const uint64_t at = s->fetch_at;
    const uint64_t generation = s->generation;
    const size_t n = std::min<uint64_t>(s->options.block_size, s->size - at);
    std::string bytes;
    std::exception_ptr error;
    {
      MutexUnlock unlock(s->mu);
      try {
        bytes = WithRetries(s->path, s->size, at, n, s->options, [&] {
          if (stream.unsupported) return s->ranges->ReadRange(at, n);
          return ReadFromStream(*s->ranges, stream, at, n);
        });
      } catch (...) {
        error = std::current_exception();
      }
    }
    if (generation != s->generation) continue;  // a Skip moved on meanwhile
    if (error) {
      s->error = error;
    } else {
      s->blocks.push_back({at, std::move(bytes)});
      s->fetch_at = at + n;
    }
    s->cv.SignalAll();
  }
}

class ReadAheadFile : public SequentialFile {
 public:
  ReadAheadFile(std::shared_ptr<RangeReader> ranges, std::string path, FileStat stat,
                const BlockReadOptions& options)
      : stat_(stat),
        shared_(std::make_shared<Shared>(std::move(ranges), std::move(path), stat.size, options)) {}

  ~ReadAheadFile() override {
    MutexLock lock(shared_->mu);
    shared_->stop = true;
    shared_->cv.SignalAll();
  }

  size_t Read(char* dst, size_t n) override {
    if (n == 0 || pos_ >= shared_->size) return 0;
    Shared& s = *shared_;
    MutexLock lock(s.mu);
    if (!started_) {
      started_ = true;
      std::thread([shared = shared_] { Fetch(shared); }).detach();
    }
    while (true) {
      if (!s.blocks.empty()) {
        const Block& front = s.blocks.front();
        const size_t k = std::min<uint64_t>(n, front.end() - pos_);
        std::memcpy(dst, front.bytes.data() + (pos_ - front.offset), k);
        pos_ += k;
        if (pos_ >= front.end()) {
          s.blocks.pop_front();
          s.cv.SignalAll();
        }
        return k;
      }
      if (s.error) std::rethrow_exception(s.error);
      s.cv.Wait(s.mu);
    }
  }

  void Skip(uint64_t n) override {
    pos_ = std::min<uint64_t>(shared_->size, pos_ + n);
    Shared& s = *shared_;
    MutexLock lock(s.mu);
    while (!s.blocks.empty() && s.blocks.front().end() <= pos_) s.blocks.pop_front();
    if (!s.blocks.empty()) return;  // pos_ is inside the front block
    // The block in flight (or next requested) starts at fetch_at: it serves pos_ only if it
    // covers it; else start over from pos_.
    const bool covered = s.fetch_at <= pos_ && pos_ < s.fetch_at + s.options.block_size;
    if (covered && !s.error) return;
    s.fetch_at = pos_;
    s.generation++;
    s.error = nullptr;
    s.cv.SignalAll();
  }

  FileStat Stat() override { return stat_; }

 private:
  const FileStat stat_;
  const std::shared_ptr<Shared> shared_;
  uint64_t pos_ = 0;
  bool started_ = false;
};

class BlockCacheFile : public RandomAccessFile {
 public:
  static constexpr size_t kMaxDirectRead = 64 << 20;

  BlockCacheFile(std::shared_ptr<RangeReader> ranges, std::string path, FileStat stat,
                 const BlockReadOptions& options)
      : ranges_(std::move(ranges)),
        path_(std::move(path)),
        stat_(std::move(stat)),
        size_(static_cast<uint64_t>(stat_.size)),
        options_(options) {}

  size_t Read(uint64_t offset, size_t n, char* dst) const override {
    if (n == 0 || offset >= size_) return 0;
    if (n >= 2 * options_.random_block_size) return ReadLarge(offset, n, dst);
    const uint64_t index = offset / options_.random_block_size;
    std::shared_ptr<const std::string> block = Lookup(index);
    if (block == nullptr) {
      // Fetched without the lock: two threads missing the same block both fetch it, which
      // costs a request but never blocks one reader behind another's slow one.
      const uint64_t start = index * options_.random_block_size;
      block = std::make_shared<const std::string>(ReadRangeWithRetries(
          *ranges_, path_, size_, start, options_.random_block_size, options_));
      Insert(index, block);
    }
    const size_t in_block = offset - index * options_.random_block_size;
    const size_t k = std::min<size_t>(n, block->size() - in_block);
    std::memcpy(dst, block->data() + in_block, k);
    return k;
  }

 private:
  using Lru = std::list<std::pair<uint64_t, std::shared_ptr<const std::string>>>;

  // A read of several blocks at once is what a reader asks for when it knows the span it needs
  // (pyarrow's coalesced read of a Parquet row group's column chunks): one request for all of
  // it, past the cache, instead of one per block; the cache stays for the small scattered reads
  // (a footer, an index lookup) it is for. Bounded per call (the caller reads on), so that one
  // read does not hold a copy of a whole large file. One that starts where the previous large
  // read ended (a scan, row group after row group) starts a scan: a read-ahead file from there,
  // whose fetcher streams (one GET for the rest of the file where the store has streams) and
  // fetches the next blocks while the reader decodes; the large reads that follow on are served
  // from it. A large read elsewhere is a request of its own again; the scan waits for its
  // offset to come back.
  size_t ReadLarge(uint64_t offset, size_t n, char* dst) const EXCLUDES(scan_mu_) {
    {
      MutexLock lock(scan_mu_);
      if (scan_ == nullptr || offset != scan_at_) {
        if (offset == last_end_) {
          scan_ = NewReadAheadFile(ranges_, path_, stat_, options_);
          scan_->Skip(offset);
          scan_at_ = offset;
        }
      }
      if (scan_ != nullptr && offset == scan_at_) return ReadScan(n, dst);
    }
    const size_t k = std::min(n, std::max(kMaxDirectRead, 2 * options_.random_block_size));
    std::string got = ReadRangeWithRetries(*ranges_, path_, size_, offset, k, options_);
    std::memcpy(dst, got.data(), got.size());
    MutexLock lock(scan_mu_);
    last_end_ = offset + got.size();
    return got.size();
  }

  // Up to n bytes of the scan, blocking for its fetcher; a failure drops the scan (its error,
  // which names the range, goes to the caller; a retry starts over).
  size_t ReadScan(size_t n, char* dst) const REQUIRES(scan_mu_) {
    n = std::min<uint64_t>(n, std::max(kMaxDirectRead, 2 * options_.random_block_size));
    size_t k = 0;
    try {
      while (k < n) {
        const size_t r = scan_->Read(dst + k, n - k);
        if (r == 0) break;
        k += r;
      }
    } catch (...) {
      scan_.reset();
      throw;
    }
    scan_at_ += k;
    last_end_ = scan_at_;
    return k;
  }

  std::shared_ptr<const std::string> Lookup(uint64_t index) const EXCLUDES(mu_) {
    MutexLock lock(mu_);
    auto it = where_.find(index);
    if (it == where_.end()) return nullptr;
    lru_.splice(lru_.begin(), lru_, it->second);
    return it->second->second;
  }
  void Insert(uint64_t index, std::shared_ptr<const std::string> block) const EXCLUDES(mu_) {
    MutexLock lock(mu_);
    if (where_.count(index)) return;
    lru_.emplace_front(index, std::move(block));
    where_[index] = lru_.begin();
    while (lru_.size() > options_.cached_blocks) {
      where_.erase(lru_.back().first);
      lru_.pop_back();
    }
  }

  const std::shared_ptr<RangeReader> ranges_;
  const std::string path_;
  const FileStat stat_;
  const uint64_t size_;
  const BlockReadOptions options_;
  // Large reads; held while a scan reads (it blocks for the scan's fetcher, never for the GIL).
  mutable Mutex scan_mu_;
  mutable std::unique_ptr<SequentialFile> scan_ GUARDED_BY(scan_mu_);
  mutable uint64_t scan_at_ GUARDED_BY(scan_mu_) = 0;   // the scan's position
  // Where the last large read ended; none yet: a file's first large read is no scan.
  mutable uint64_t last_end_ GUARDED_BY(scan_mu_) = UINT64_MAX;
  mutable Mutex mu_;                                     // the block cache
  mutable Lru lru_ GUARDED_BY(mu_);                // most recently used first
  mutable std::unordered_map<uint64_t, Lru::iterator> where_ GUARDED_BY(mu_);
};
}  // namespace

std::string ReadUpTo(RangeStream& stream, size_t n) {
  std::string out;
  while (out.size() < n) {
    std::string got = stream.Read(n - out.size());
    if (got.empty()) break;
    if (out.empty() && got.size() >= n) {
      out = std::move(got);
    } else {
      out += got;
    }
  }
  if (out.size() > n) out.resize(n);  // a store that gave more than asked
  return out;
}

std::string ReadRangeWithRetries(RangeReader& ranges, const std::string& path, int64_t size,
                                 uint64_t offset, size_t n, const BlockReadOptions& options) {
  if (size < 0 || offset >= static_cast<uint64_t>(size)) return {};
  n = std::min<uint64_t>(n, static_cast<uint64_t>(size) - offset);  // before the lambda uses it
  return WithRetries(path, size, offset, n, options, [&] { return ranges.ReadRange(offset, n); });
}

std::unique_ptr<SequentialFile> NewReadAheadFile(std::shared_ptr<RangeReader> ranges,
                                                 std::string path, FileStat stat,
                                                 const BlockReadOptions& options) {
  return std::make_unique<ReadAheadFile>(std::move(ranges), std::move(path), std::move(stat),
                                         options);
}

std::unique_ptr<RandomAccessFile> NewBlockCacheFile(std::shared_ptr<RangeReader> ranges,
                                                    std::string path, FileStat stat,
                                                    const BlockReadOptions& options) {
  return std::make_unique<BlockCacheFile>(std::move(ranges), std::move(path), std::move(stat),
                                          options);
}

}  // namespace inputpipe
