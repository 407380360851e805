// Block reads over ranged requests (inputpipe/remote_file.h): exact bytes whatever the block
// size and the skips, faults retried a bounded number of times and then reported with the path
// and the offset, short ranges never delivered; and a store whose writes publish a whole object
// at once, with no rename, under WriteFileAtomically and the checkpoint hook.
#include "inputpipe/remote_file.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <map>
#include <thread>
#include <vector>

#include "inputpipe/hook.h"
#include "inputpipe/ops.h"
#include "readers/readers_test_util.h"

namespace inputpipe {
namespace {

using testing::MessageHas;

// An object in memory served by ranges, with faults on chosen calls.
class FakeRanges : public RangeReader {
 public:
  explicit FakeRanges(std::string bytes) : bytes_(std::move(bytes)) {}
  std::string ReadRange(uint64_t offset, size_t n) override {
    const int call = calls_++;
    if (delay_ms_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_));
    if (call < fail_first_ || (fail_at_ >= 0 && offset == static_cast<uint64_t>(fail_at_))) {
      throw FileSystemError("read", "fake://b/k", "ConnectionResetError: reset by peer", code_);
    }
    std::string out = bytes_.substr(offset, n);
    if (call < short_first_) out.resize(out.size() / 2);
    return out;
  }
  std::atomic<int> calls_{0};
  int fail_first_ = 0, short_first_ = 0, code_ = 0, delay_ms_ = 0;
  int64_t fail_at_ = -1;

 private:
  const std::string bytes_;
};

std::string Bytes(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 13) % 26);
  return s;
}

FileStat StatOf(const std::string& bytes) { return {.size = static_cast<int64_t>(bytes.size())}; }

BlockReadOptions Small() {
  BlockReadOptions o;
  o.block_size = 100;
  o.read_ahead_blocks = 2;
  o.random_block_size = 64;
  o.cached_blocks = 3;
  o.initial_backoff_s = 0.001;
  return o;
}

std::string ReadAll(SequentialFile& f, size_t chunk) {
  std::string out, buf(chunk, '\0');
  while (size_t got = f.Read(buf.data(), chunk)) out.append(buf.data(), got);
  return out;
}

// A store with streams: each OpenStream(offset) serves bytes [offset, end) in pieces of 37, and
// the stream opened `break_open`-th (0-based) fails after `break_after` bytes.
class FakeStreams : public FakeRanges {
 public:
  explicit FakeStreams(std::string bytes) : FakeRanges(bytes), all_(std::move(bytes)) {}
  class Body : public RangeStream {
   public:
    Body(const std::string& all, uint64_t at, int64_t fail_after)
        : all_(all), at_(at), fail_after_(fail_after) {}
    std::string Read(size_t n) override {
      if (fail_after_ >= 0 && sent_ >= fail_after_) {
        throw FileSystemError("read", "fake://b/k", "ConnectionResetError: mid-body", 0);
      }
      std::string out = all_.substr(std::min<uint64_t>(at_, all_.size()), std::min<size_t>(n, 37));
      at_ += out.size();
      sent_ += static_cast<int64_t>(out.size());
      return out;
    }

   private:
    const std::string& all_;
    uint64_t at_;
    int64_t sent_ = 0;
    const int64_t fail_after_;
  };
  std::unique_ptr<RangeStream> OpenStream(uint64_t offset) override {
    const int open = opens_++;
    opened_at_.push_back(offset);
    return std::make_unique<Body>(all_, offset, open == break_open_ ? break_after_ : -1);
  }
  std::atomic<int> opens_{0};
  std::vector<uint64_t> opened_at_;  // written by the fetcher only; read after it is done
  int break_open_ = -1;
  int64_t break_after_ = -1;

 private:
  const std::string all_;
};

TEST(RemoteFileTest, SequentialReadsTakeTheirBlocksFromOneStream) {
  const std::string bytes = Bytes(1234);
  auto ranges = std::make_shared<FakeStreams>(bytes);
  auto f = NewReadAheadFile(ranges, "fake://b/k", StatOf(bytes), Small());
  EXPECT_EQ(ReadAll(*f, 50), bytes);
  EXPECT_EQ(ranges->opens_.load(), 1);
  EXPECT_EQ(ranges->calls_.load(), 0);  // no ranged request
}

// Reads all of `bytes` through `ranges`, whose first stream breaks at byte 350, inside the block
// at 300: exactly the bytes, and a second stream opened at that block.
template <typename Streams>
void ExpectTheBrokenStreamReopenedAtItsBlock(const std::string& bytes,
                                             const std::shared_ptr<Streams>& ranges) {
  auto f = NewReadAheadFile(ranges, "fake://b/k", StatOf(bytes), Small());
  EXPECT_EQ(ReadAll(*f, 50), bytes);
  f.reset();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the fetcher has ended
  ASSERT_EQ(ranges->opens_.load(), 2);
  EXPECT_EQ(ranges->opened_at_[1], 300u);
}

TEST(RemoteFileTest, AStreamBrokenMidBlockReopensAtThatBlock) {
  const std::string bytes = Bytes(1234);
  auto ranges = std::make_shared<FakeStreams>(bytes);
  ranges->break_open_ = 0;
  ranges->break_after_ = 350;  // inside the block at 300
  ExpectTheBrokenStreamReopenedAtItsBlock(bytes, ranges);
}

TEST(RemoteFileTest, ASkipPastTheBufferReopensTheStreamThere) {
  const std::string bytes = Bytes(1234);
  auto ranges = std::make_shared<FakeStreams>(bytes);
  auto f = NewReadAheadFile(ranges, "fake://b/k", StatOf(bytes), Small());
  std::string head(10, '\0');
  ASSERT_EQ(f->Read(head.data(), 10), 10u);
  f->Skip(890);  // to 900, past the 2 blocks read ahead and the one in flight
  EXPECT_EQ(ReadAll(*f, 64), bytes.substr(900));
  EXPECT_EQ(head, bytes.substr(0, 10));
}

// The read end of a socket pair, with `bytes` written into the other end and that end closed
// (a body of `bytes`, then the peer gone); both ends closed when it goes.
struct SocketBody {
  explicit SocketBody(const std::string& bytes, bool close_peer = true) {
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    EXPECT_EQ(::send(fds[1], bytes.data(), bytes.size(), 0), static_cast<ssize_t>(bytes.size()));
    if (close_peer) ClosePeer();
  }
  ~SocketBody() {
    ::close(fds[0]);
    ClosePeer();
  }
  void ClosePeer() {
    if (fds[1] >= 0) ::close(fds[1]);
    fds[1] = -1;
  }
  int fds[2] = {-1, -1};
};

TEST(SocketBodyTest, ReadsTheHeadThenTheSocketAndStopsAtTheLength) {
  const std::string bytes = Bytes(5000);
  // 100 body bytes already read by the HTTP client, the rest on the socket, then bytes past
  // the body (a next response) that are not the body's.
  SocketBody socket(bytes.substr(100) + "HTTP/1.1 200 OK\r\n");
  auto body = NewSocketBodyStream(socket.fds[0], bytes.substr(0, 100), bytes.size(), 5,
                                  "s3://b/k", "GET s3://b/k from byte 0: HTTP 206");
  std::string got = body->Read(60);  // inside the head
  got += body->Read(1000);           // the head's end, then the socket
  while (true) {
    std::string more = body->Read(777);
    if (more.empty()) break;
    got += more;
  }
  EXPECT_EQ(got, bytes);
}

TEST(SocketBodyTest, ABodyCutShortOrSilentIsARetryableErrorNamingTheRequest) {
  const std::string what = "GET s3://b/k from byte 300: HTTP 206";
  SocketBody cut(Bytes(400));
  auto body = NewSocketBodyStream(cut.fds[0], "", 1000, 5, "s3://b/k", what);
  try {
    body->Read(1000);
    FAIL() << "a body of 400 of 1000 bytes was read whole";
  } catch (const FileSystemError& e) {
    EXPECT_TRUE(MessageHas(e.reason(), {what, "closed", "after 400 of 1000 body bytes"}));
    EXPECT_EQ(e.code(), EIO);
    EXPECT_EQ(e.path(), "s3://b/k");
  }
  SocketBody silent(Bytes(10), /*close_peer=*/false);
  auto waits = NewSocketBodyStream(silent.fds[0], "", 1000, 0.02, "s3://b/k", what);
  try {
    waits->Read(1000);
    FAIL() << "a silent peer was not timed out";
  } catch (const FileSystemError& e) {
    EXPECT_TRUE(MessageHas(e.reason(), {what, "no data for 20 ms", "after 10 of 1000"}));
    EXPECT_EQ(e.code(), ETIMEDOUT);
  }
}

// A store whose streams are socket bodies: each OpenStream(offset) is a socket holding bytes
// [offset, end), but the `cut_open`-th, whose peer goes after `cut_after` bytes.
class SocketStreams : public FakeRanges {
 public:
  explicit SocketStreams(std::string bytes) : FakeRanges(bytes), all_(std::move(bytes)) {}
  std::unique_ptr<RangeStream> OpenStream(uint64_t offset) override {
    const int open = opens_++;
    opened_at_.push_back(offset);
    std::string rest = all_.substr(offset);
    const uint64_t length = rest.size();
    if (open == cut_open_) rest.resize(cut_after_);
    class Owned : public RangeStream {
     public:
      Owned(const std::string& bytes, uint64_t length)
          : socket_(bytes.substr(std::min<size_t>(16, bytes.size()))),
            body_(NewSocketBodyStream(socket_.fds[0], bytes.substr(0, 16), length, 5, "fake://b/k",
                                      "GET fake://b/k")) {}
      std::string Read(size_t n) override { return body_->Read(n); }

     private:
      SocketBody socket_;
      std::unique_ptr<RangeStream> body_;
    };
    return std::make_unique<Owned>(rest, length);
  }
  std::atomic<int> opens_{0};
  std::vector<uint64_t> opened_at_;  // written by the fetcher only; read after it is done
  int cut_open_ = -1;
  size_t cut_after_ = 0;

 private:
  const std::string all_;
};

TEST(SocketBodyTest, ABodyCutMidBlockIsRetriedFromThatBlockWithTheExactBytes) {
  const std::string bytes = Bytes(1234);
  auto ranges = std::make_shared<SocketStreams>(bytes);
  ranges->cut_open_ = 0;
  ranges->cut_after_ = 350;  // inside the block at 300
  ExpectTheBrokenStreamReopenedAtItsBlock(bytes, ranges);
  EXPECT_EQ(ranges->calls_.load(), 0);  // no ranged request
}

TEST(RemoteFileTest, ReadAheadDeliversExactlyTheBytes) {
  const std::string bytes = Bytes(1234);
  for (size_t chunk : {1, 7, 100, 333, 5000}) {
    auto ranges = std::make_shared<FakeRanges>(bytes);
    auto f = NewReadAheadFile(ranges, "fake://b/k", StatOf(bytes), Small());
    EXPECT_EQ(ReadAll(*f, chunk), bytes) << chunk;
    EXPECT_EQ(ranges->calls_.load(), 13);  // ceil(1234 / 100) requests, whatever the chunk
  }
}

TEST(RemoteFileTest, SkipsInsideAndPastTheQueue) {
  const std::string bytes = Bytes(2000);
  auto f =
      NewReadAheadFile(std::make_shared<FakeRanges>(bytes), "fake://b/k", StatOf(bytes), Small());
  char buf[50];
  std::string got;
  ASSERT_EQ(f->Read(buf, 10), 10u);
  got.append(buf, 10);
  f->Skip(30);  // inside the first block
  ASSERT_EQ(f->Read(buf, 5), 5u);
  EXPECT_EQ(std::string(buf, 5), bytes.substr(40, 5));
  f->Skip(1000);  // far past what is queued
  ASSERT_EQ(f->Read(buf, 50), 50u);
  EXPECT_EQ(std::string(buf, 50), bytes.substr(1045, 50));
  f->Skip(5000);  // past the end
  EXPECT_EQ(f->Read(buf, 50), 0u);
}

TEST(RemoteFileTest, TransientFaultsAndShortRangesAreRetried) {
  const std::string bytes = Bytes(500);
  auto ranges = std::make_shared<FakeRanges>(bytes);
  ranges->fail_first_ = 2;
  auto f = NewReadAheadFile(ranges, "fake://b/k", StatOf(bytes), Small());
  EXPECT_EQ(ReadAll(*f, 64), bytes);

  auto cut = std::make_shared<FakeRanges>(bytes);
  cut->short_first_ = 3;  // a body cut mid-way, three times: never delivered as the bytes
  auto g = NewReadAheadFile(cut, "fake://b/k", StatOf(bytes), Small());
  EXPECT_EQ(ReadAll(*g, 64), bytes);
}

TEST(RemoteFileTest, APersistentFaultNamesTheObjectAndTheOffsetAfterBoundedAttempts) {
  const std::string bytes = Bytes(500);
  auto ranges = std::make_shared<FakeRanges>(bytes);
  ranges->fail_at_ = 300;
  auto f = NewReadAheadFile(ranges, "fake://b/k", StatOf(bytes), Small());
  std::string got, buf(64, '\0');
  try {
    while (size_t n = f->Read(buf.data(), buf.size())) got.append(buf.data(), n);
    FAIL() << "no error";
  } catch (const FileSystemError& e) {
    EXPECT_TRUE(MessageHas(
        e.what(), {"fake://b/k", "bytes 300..399", "after 4 attempts", "ConnectionResetError"}))
        << e.what();
  }
  EXPECT_EQ(got, bytes.substr(0, 300));  // what came before, and nothing after
  EXPECT_LE(ranges->calls_.load(), 3 + 4 + 2);
}

TEST(RemoteFileTest, AMissingObjectIsNotRetried) {
  const std::string bytes = Bytes(500);
  auto ranges = std::make_shared<FakeRanges>(bytes);
  ranges->fail_first_ = 100;
  ranges->code_ = ENOENT;
  try {
    ReadRangeWithRetries(*ranges, "fake://b/k", 500, 0, 100, Small());
    FAIL();
  } catch (const FileSystemError& e) {
    EXPECT_EQ(e.code(), ENOENT);
    EXPECT_TRUE(MessageHas(e.what(), {"fake://b/k", "bytes 0..99"})) << e.what();
  }
  EXPECT_EQ(ranges->calls_.load(), 1);
}

TEST(RemoteFileTest, BlockCacheServesRandomReadsFromAlignedBlocks) {
  const std::string bytes = Bytes(1000);
  auto ranges = std::make_shared<FakeRanges>(bytes);
  auto f = NewBlockCacheFile(ranges, "fake://b/k", StatOf(bytes), Small());
  char buf[200];
  for (uint64_t offset : {130, 10, 135, 999, 640, 0}) {
    size_t got = f->Read(offset, 20, buf);
    const size_t expected = std::min<uint64_t>({20, 1000 - offset, 64 - offset % 64});
    ASSERT_EQ(got, expected) << offset;
    EXPECT_EQ(std::string(buf, got), bytes.substr(offset, got)) << offset;
  }
  EXPECT_EQ(f->Read(1000, 20, buf), 0u);
  // Blocks 2, 0, 15, 10 fetched, 135 served from block 2; with 3 blocks kept, fetching 10
  // evicted 0 (the least recently used), so 0 is fetched again.
  EXPECT_EQ(ranges->calls_.load(), 5);
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      char b[16];
      for (int i = 0; i < 200; ++i) {
        uint64_t offset = (i * 37 + t * 101) % 990;
        size_t got = f->Read(offset, 10, b);
        if (got == 0 || std::string(b, got) != bytes.substr(offset, got)) wrong++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(RemoteFileTest, ALargeRandomReadIsOneRequestPastTheCache) {
  // pyarrow reads the column chunks of a Parquet row group in one call: that is one ranged
  // request, not one per aligned block.
  const std::string bytes = Bytes(1000);
  auto ranges = std::make_shared<FakeRanges>(bytes);
  auto f = NewBlockCacheFile(ranges, "fake://b/k", StatOf(bytes), Small());
  char buf[1000];
  ASSERT_EQ(f->Read(100, 500, buf), 500u);
  EXPECT_EQ(std::string(buf, 500), bytes.substr(100, 500));
  EXPECT_EQ(ranges->calls_.load(), 1);
  ASSERT_EQ(f->Read(900, 300, buf), 100u);  // clipped at the end, still one request
  EXPECT_EQ(std::string(buf, 100), bytes.substr(900));
  EXPECT_EQ(ranges->calls_.load(), 2);
  // Not cached: a small read there is a block request of its own.
  ASSERT_EQ(f->Read(130, 20, buf), 20u);
  EXPECT_EQ(ranges->calls_.load(), 3);
  // Retried, then named by its range, as a block request is.
  ranges->fail_at_ = 200;
  try {
    f->Read(200, 300, buf);
    FAIL() << "no error";
  } catch (const FileSystemError& e) {
    EXPECT_TRUE(MessageHas(e.what(), {"fake://b/k", "bytes 200..499", "after 4 attempts"}))
        << e.what();
  }
}

TEST(RemoteFileTest, LargeReadsInSequenceAreServedByOneStreamFetchedAhead) {
  // Row group after row group: the second large read, where the first ended, starts a scan
  // (a read-ahead file, one stream for the rest of the file); the next reads come from it.
  const std::string bytes = Bytes(1000);
  auto ranges = std::make_shared<FakeStreams>(bytes);
  auto f = NewBlockCacheFile(ranges, "fake://b/k", StatOf(bytes), Small());
  char buf[1000];
  std::string got;
  for (uint64_t offset = 0; offset < 1000;) {  // reads of 130 bytes, from wherever they got to
    const size_t k = f->Read(offset, 130, buf);
    ASSERT_GT(k, 0u);
    got.append(buf, k);
    offset += k;
  }
  EXPECT_EQ(got, bytes);
  EXPECT_EQ(ranges->calls_.load(), 1);  // the first read, a request of its own
  EXPECT_EQ(ranges->opens_.load(), 1);  // then one stream from byte 130
  // A read elsewhere is exact, and one request: no read-ahead for a jump.
  ASSERT_EQ(f->Read(100, 130, buf), 130u);
  EXPECT_EQ(std::string(buf, 130), bytes.substr(100, 130));
  EXPECT_EQ(ranges->calls_.load(), 2);
  // Where that one ended, a scan again, from there.
  ASSERT_EQ(f->Read(230, 130, buf), 130u);
  EXPECT_EQ(std::string(buf, 130), bytes.substr(230, 130));
  f.reset();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the fetchers have ended
  ASSERT_EQ(ranges->opens_.load(), 2);
  EXPECT_EQ(ranges->opened_at_[0], 130u);
  EXPECT_EQ(ranges->opened_at_[1], 230u);
}

TEST(RemoteFileTest, DroppingAFileWithARequestInFlightDoesNotWait) {
  const std::string bytes = Bytes(1000);
  auto ranges = std::make_shared<FakeRanges>(bytes);
  ranges->delay_ms_ = 300;
  auto start = std::chrono::steady_clock::now();
  {
    auto f = NewReadAheadFile(ranges, "fake://b/k", StatOf(bytes), Small());
    char buf[10];
    EXPECT_EQ(f->Read(buf, 10), 10u);  // waits for the first block; the second is in flight
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(550));
  std::this_thread::sleep_for(std::chrono::milliseconds(400));  // the fetcher ends on its own
}

// An object store in memory: no rename, and a file written appears whole at Close or never.
class ObjectStore : public FileSystem {
 public:
  class Writer : public WritableFile {
   public:
    Writer(ObjectStore* store, std::string path) : store_(store), path_(std::move(path)) {}
    void Append(std::string_view data) override {
      if (store_->fail_appends_) throw FileSystemError("write", path_, "connection lost", EIO);
      data_ += data;
    }
    void Sync() override {}
    void Close() override { store_->objects_[path_] = data_; }

   private:
    ObjectStore* store_;
    std::string path_, data_;
  };
  std::unique_ptr<SequentialFile> NewSequentialFile(const std::string& path) override {
    return memory_->NewSequentialFile(Publish(path));
  }
  FileStat Stat(const std::string& path) override { return memory_->Stat(Publish(path)); }
  bool FileExists(const std::string& path) override {
    if (objects_.count(path)) return true;
    for (const auto& [name, bytes] : objects_) {
      if (name.starts_with(path + "/")) return true;
    }
    return false;
  }
  std::vector<std::string> ListDir(const std::string& dir) override {
    std::vector<std::string> names;
    for (const auto& [name, bytes] : objects_) {
      if (name.starts_with(dir + "/")) names.push_back(name.substr(dir.size() + 1));
    }
    return names;
  }
  void RenameFile(const std::string& from, const std::string& to) override {
    throw FileSystemError("rename " + from + " to", to, "an object store has no rename", ENOSYS);
  }
  void DeleteFile(const std::string& path) override { objects_.erase(path); }
  void CreateDirs(const std::string& dir) override {}
  void SyncDir(const std::string& dir) override {}
  std::unique_ptr<WritableFile> NewWritableFile(const std::string& path) override {
    return std::make_unique<Writer>(this, path);
  }
  bool HasAtomicWholeFileWrites(const std::string& path) override { return true; }

  std::map<std::string, std::string> objects_;
  bool fail_appends_ = false;

 private:
  // The object, copied into a memory store for reading (paths "memory://objects/<path>").
  std::string Publish(const std::string& path) {
    auto it = objects_.find(path);
    if (it == objects_.end()) throw FileSystemError("open", path, "no such object", ENOENT);
    std::string copy = "objects/" + path.substr(path.find("://") + 3);
    WriteFileAtomically(*memory_, copy, it->second);
    return copy;
  }
  std::shared_ptr<FileSystem> memory_ = NewMemoryFileSystem();
};

TEST(RemoteFileTest, WriteFileAtomicallyOnAStoreWithoutRenameIsOneWrite) {
  ObjectStore store;
  WriteFileAtomically(store, "obj://b/k", "first");
  EXPECT_EQ(store.objects_.at("obj://b/k"), "first");
  EXPECT_EQ(store.objects_.size(), 1u);  // no temporary object
  store.fail_appends_ = true;
  EXPECT_THROW(WriteFileAtomically(store, "obj://b/k", "second"), IOError);
  EXPECT_EQ(store.objects_.at("obj://b/k"), "first");  // the failed write published nothing
}

TEST(RemoteFileTest, HookCheckpointsOnAStoreWithoutRename) {
  auto store = std::make_shared<ObjectStore>();
  auto ds = Range(0, 100);
  auto it = ds->MakeIterator();
  CheckpointHookOptions options;
  options.save_steps = 1'000'000;
  options.max_to_keep = 2;
  options.file_system = store.get();
  {
    CheckpointInputPipelineHook hook({{"train", it.get()}}, "obj://run/ckpt", options);
    hook.Begin();
    for (int step = 1; step <= 4; ++step) {
      it->GetNext();
      hook.Save(step);
      hook.Flush();
    }
    hook.End();
  }
  std::vector<std::string> names;
  for (const auto& [name, bytes] : store->objects_) names.push_back(name);
  // Retention deleted steps 1 and 2 (and End saved nothing new: step 4 was saved already).
  EXPECT_EQ(names, (std::vector<std::string>{"obj://run/ckpt/checkpoint_input",
                                             "obj://run/ckpt/input.ckpt-3",
                                             "obj://run/ckpt/input.ckpt-4"}));
  // The newest object corrupt: the reader falls back to the one before.
  store->objects_["obj://run/ckpt/input.ckpt-4"][7] ^= 1;
  auto restored = ds->MakeIterator();
  CheckpointInputPipelineHook hook({{"train", restored.get()}}, "obj://run/ckpt", options);
  EXPECT_EQ(hook.Begin(), 3);
  EXPECT_EQ(restored->GetNext()->tensor(), Tensor::Scalar<int64_t>(3));
}

}  // namespace
}  // namespace inputpipe
