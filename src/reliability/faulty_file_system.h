// FaultyFileSystem: an in-memory FileSystem for the reliability tests that (1) injects an error
// (ENOSPC, EIO, ...) into any one mutating operation, (2) can turn any one fsync into a no-op (to
// prove the code needs it), (3) tells what a crash at this instant could leave on disk, and
// (4) on the read side, fails any one read with an error, ends any one read early (as if the file
// were shorter), or makes every read short.
//
//   FaultyFileSystem fs;
//   fs.CreateDirs("/ckpt");
//   fs.FailAt(fs.event_count() + 3, ENOSPC);     // the 4th mutating call from now fails
//   ... WriteFileAtomically(fs, "/ckpt/f", bytes) ...
//   for (auto& image : fs.CrashImages()) { ... load from *image ... }
//
// The readers reach it through the registry (paths "faulty:///data/a.csv"):
//   auto fs = std::make_shared<FaultyFileSystem>();
//   RegisterFileSystem("faulty", fs);
//   fs->AddFile("faulty:///data/a.csv", bytes);
//   fs->FailReadAt(fs->read_count() + 2, EIO);   // the 3rd read from now fails
//   ... CsvDataset({"faulty:///data/a.csv"}, ...) ...
//   fs->reads()[k]                               // which file, offset and size read k asked
//
// Reads are the Read calls of sequential and random-access files and the ListDir calls; they
// are counted apart from the mutating events, so read faults do not shift FailAt's indices.
//
// The crash model (stricter than ext4's ordered journal, as POSIX allows):
//   - file data is durable only once fsynced (Sync); un-fsynced data is either all lost or all
//     kept (both images are produced);
//   - a creation, rename or deletion is durable only once its directory is fsynced (SyncDir);
//     until then ANY subset of the pending directory operations (in their order) may have
//     reached the disk, e.g. a deletion without the rename that preceded it.
// CrashImages() enumerates those possibilities (2^pending directory ops x {data lost, kept}).
// CreateDirs is durable at once (its contract says it syncs what it creates).
//
// Thread-safe: one mutex around everything (the hook writes from its background thread).
#ifndef INPUTPIPE_RELIABILITY_FAULTY_FILE_SYSTEM_H_
#define INPUTPIPE_RELIABILITY_FAULTY_FILE_SYSTEM_H_

#include <cerrno>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "inputpipe/errors.h"
#include "inputpipe/file_system.h"

namespace inputpipe::reliability {

class FaultyFileSystem : public FileSystem {
 public:
  // The mutating operations, each one event.
  enum class Op { kOpen, kAppend, kSync, kClose, kRename, kSyncDir, kDelete };
  static const char* OpName(Op op) {
    static const char* names[] = {"open",   "write",           "fsync", "close",
                                  "rename", "fsync directory", "unlink"};
    return names[static_cast<int>(op)];
  }
  struct Event {
    Op op;
    std::string path;
    bool failed = false;   // the injected fault
    bool skipped = false;  // a fsync turned into a no-op
  };

  // A read, as asked (the offset is the file position for a sequential file; 0 for ListDir).
  enum class ReadKind { kSequential, kRandomAccess, kListDir };
  struct ReadEvent {
    ReadKind kind;
    std::string path;
    uint64_t offset = 0;
    size_t size = 0;
  };

  FaultyFileSystem() = default;

  // ---- Read faults ----------------------------------------------------------------------
  // The read with this index (read_count() at the time of the call + n) throws IOError
  // (FileSystemError, code `error`).
  void FailReadAt(int64_t read_index, int error) {
    std::lock_guard<std::mutex> lock(mu_);
    fail_read_at_ = read_index;
    fail_read_error_ = error;
  }
  // The file read with this index returns 0 bytes: the end of the file, too early.
  void EndReadAt(int64_t read_index) {
    std::lock_guard<std::mutex> lock(mu_);
    end_read_at_ = read_index;
  }
  // While on, every file read returns at most half of what it could (at least one byte).
  void SetShortReads(bool on) {
    std::lock_guard<std::mutex> lock(mu_);
    short_reads_ = on;
  }
  int64_t read_count() const {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<int64_t>(reads_.size());
  }
  std::vector<ReadEvent> reads() const {
    std::lock_guard<std::mutex> lock(mu_);
    return reads_;
  }
  // Creates (or replaces) a file, durably and without events (test setup).
  void AddFile(const std::string& path, std::string data) {
    std::lock_guard<std::mutex> lock(mu_);
    for (std::string d = DirName(path); !d.empty() && d != "." && d != "/"; d = DirName(d)) {
      dirs_.insert(d);
      if (DirName(d) == d) break;
    }
    auto inode = std::make_shared<Inode>(Inode{data, data, ++clock_});
    live_[path] = inode;
    durable_[path] = inode;
  }

  // ---- Fault injection ------------------------------------------------------------------
  // The event with this index (event_count() at the time of the call + n) throws IOError with
  // `error`'s message; a failing write first writes half of its bytes (a short write).
  void FailAt(int64_t event_index, int error) {
    std::lock_guard<std::mutex> lock(mu_);
    fail_at_ = event_index;
    fail_error_ = error;
  }
  // The Sync or SyncDir call with this event index does nothing and reports success: the code
  // as if that fsync had been removed.
  void SkipSyncAt(int64_t event_index) {
    std::lock_guard<std::mutex> lock(mu_);
    skip_sync_at_ = event_index;
  }
  // Called (under the lock, on the calling thread) before every event with the crash images
  // possible just before it; what a test uses to check a crash at every instant.
  void OnEvent(std::function<void(const Event&, FaultyFileSystem& self)> fn) {
    std::lock_guard<std::mutex> lock(mu_);
    on_event_ = std::move(fn);
  }
  int64_t event_count() const {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<int64_t>(events_.size());
  }
  std::vector<Event> events() const {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  int64_t faults_injected() const {
    std::lock_guard<std::mutex> lock(mu_);
    return faults_injected_;
  }

  // ---- Crash simulation -----------------------------------------------------------------
  // Every distinct disk a crash now could leave (see the banner), each as a fresh file system
  // with everything durable. REQUIRES: no lock held by the caller (use CrashImagesLocked from
  // OnEvent callbacks).
  std::vector<std::unique_ptr<FaultyFileSystem>> CrashImages() const {
    std::lock_guard<std::mutex> lock(mu_);
    return CrashImagesLocked();
  }
  std::vector<std::unique_ptr<FaultyFileSystem>> CrashImagesLocked() const {
    std::vector<std::unique_ptr<FaultyFileSystem>> images;
    std::set<std::string> seen;
    const size_t n = pending_.size();
    const uint64_t subsets = n >= 16 ? (uint64_t{1} << 16) : (uint64_t{1} << n);
    for (uint64_t mask = 0; mask < subsets; ++mask) {
      std::map<std::string, std::shared_ptr<Inode>> entries = durable_;
      for (size_t i = 0; i < n && i < 16; ++i) {
        if (!(mask >> i & 1)) continue;
        const DirOp& op = pending_[i];
        if (op.kind == DirOp::kCreate) entries[op.path] = op.inode;
        if (op.kind == DirOp::kRename) {
          entries.erase(op.from);
          entries[op.path] = op.inode;
        }
        if (op.kind == DirOp::kDelete) entries.erase(op.path);
      }
      for (bool keep_data : {false, true}) {
        auto image = std::make_unique<FaultyFileSystem>();
        image->dirs_ = dirs_;
        std::string key;
        for (const auto& [path, inode] : entries) {
          const std::string& data = keep_data ? inode->data : inode->durable;
          auto copy = std::make_shared<Inode>(Inode{data, data});
          image->durable_[path] = copy;
          image->live_[path] = copy;
          key += path + '\0' + std::to_string(data.size()) + '\0' + data + '\0';
        }
        if (seen.insert(key).second) images.push_back(std::move(image));
      }
    }
    return images;
  }

  // The contents of file `path` as the running process sees them.
  std::string Contents(const std::string& path) {
    std::lock_guard<std::mutex> lock(mu_);
    return Find(path)->data;
  }
  // Replaces the contents of an existing file durably (for corruption tests).
  void Overwrite(const std::string& path, std::string data) {
    std::lock_guard<std::mutex> lock(mu_);
    auto inode = Find(path);
    inode->data = data;
    inode->durable = std::move(data);
    inode->mtime_ns = ++clock_;
  }

  // ---- FileSystem ---------------------------------------------------------------------
  std::unique_ptr<WritableFile> NewWritableFile(const std::string& path) override {
    std::lock_guard<std::mutex> lock(mu_);
    Begin(Op::kOpen, path);
    if (!dirs_.count(DirName(path))) Throw("open", path, ENOENT);
    auto it = live_.find(path);
    std::shared_ptr<Inode> inode;
    if (it != live_.end()) {
      inode = it->second;
      inode->data.clear();  // O_TRUNC: the truncation is not durable until fsync
      inode->mtime_ns = ++clock_;
    } else {
      inode = std::make_shared<Inode>();
      inode->mtime_ns = ++clock_;
      live_[path] = inode;
      pending_.push_back({DirOp::kCreate, path, "", inode});
    }
    return std::make_unique<File>(this, path, inode);
  }

  // ReadFile is the default one, through NewSequentialFile: read faults apply to it.
  std::unique_ptr<SequentialFile> NewSequentialFile(const std::string& path) override {
    std::lock_guard<std::mutex> lock(mu_);
    return std::make_unique<Reader>(this, path, FindForReading(path));
  }
  std::unique_ptr<RandomAccessFile> NewRandomAccessFile(const std::string& path) override {
    std::lock_guard<std::mutex> lock(mu_);
    return std::make_unique<Reader>(this, path, FindForReading(path));
  }
  FileStat Stat(const std::string& path) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (dirs_.count(path)) return {};
    auto it = live_.find(path);
    if (it == live_.end()) Throw("stat", path, ENOENT);
    return {static_cast<int64_t>(it->second->data.size()), it->second->mtime_ns, ""};
  }

  bool FileExists(const std::string& path) override {
    std::lock_guard<std::mutex> lock(mu_);
    return live_.count(path) > 0 || dirs_.count(path) > 0;
  }

  std::vector<std::string> ListDir(const std::string& dir) override {
    std::lock_guard<std::mutex> lock(mu_);
    BeginRead(ReadKind::kListDir, dir, 0, 0, "opendir");
    if (live_.count(dir)) Throw("opendir", dir, ENOTDIR);
    if (!dirs_.count(dir)) Throw("opendir", dir, ENOENT);
    const size_t skip = dir.size() + (dir.back() == '/' ? 0 : 1);
    std::vector<std::string> names;
    for (const auto& [path, inode] : live_) {
      if (DirName(path) == dir) names.push_back(path.substr(skip));
    }
    for (const auto& sub : dirs_) {
      if (sub != dir && DirName(sub) == dir) names.push_back(sub.substr(skip));
    }
    return names;
  }

  void RenameFile(const std::string& from, const std::string& to) override {
    std::lock_guard<std::mutex> lock(mu_);
    Begin(Op::kRename, to);
    auto it = live_.find(from);
    if (it == live_.end()) Throw("rename " + from + " to", to, ENOENT);
    std::shared_ptr<Inode> inode = it->second;
    live_.erase(it);
    live_[to] = inode;
    pending_.push_back({DirOp::kRename, to, from, inode});
  }

  void DeleteFile(const std::string& path) override {
    std::lock_guard<std::mutex> lock(mu_);
    Begin(Op::kDelete, path);
    if (!live_.erase(path)) Throw("unlink", path, ENOENT);
    pending_.push_back({DirOp::kDelete, path, "", nullptr});
  }

  void CreateDirs(const std::string& dir) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (live_.count(dir)) throw IOError("mkdir " + dir + ": exists and is not a directory");
    for (std::string d = dir; !d.empty() && d != "/" && d != "."; d = DirName(d)) {
      dirs_.insert(d);
      if (DirName(d) == d) break;  // the root of a scheme ("faulty:///")
    }
  }

  void SyncDir(const std::string& dir) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (Begin(Op::kSyncDir, dir)) return;
    if (!dirs_.count(dir)) Throw("open directory", dir, ENOENT);
    std::vector<DirOp> rest;
    for (const DirOp& op : pending_) {
      if (DirName(op.path) != dir) {
        rest.push_back(op);
        continue;
      }
      if (op.kind == DirOp::kCreate) durable_[op.path] = op.inode;
      if (op.kind == DirOp::kRename) {
        durable_.erase(op.from);
        durable_[op.path] = op.inode;
      }
      if (op.kind == DirOp::kDelete) durable_.erase(op.path);
    }
    pending_ = std::move(rest);
  }

 private:
  struct Inode {
    std::string data;     // what reads see
    std::string durable;  // what survives a crash
    int64_t mtime_ns = 0;
  };
  struct DirOp {
    enum Kind { kCreate, kRename, kDelete } kind;
    std::string path;  // created / renamed-to / deleted path
    std::string from;  // rename source
    std::shared_ptr<Inode> inode;
  };

  class File : public WritableFile {
   public:
    File(FaultyFileSystem* fs, std::string path, std::shared_ptr<Inode> inode)
        : fs_(fs), path_(std::move(path)), inode_(std::move(inode)) {}
    void Append(std::string_view data) override {
      std::lock_guard<std::mutex> lock(fs_->mu_);
      if (fs_->fail_at_ == static_cast<int64_t>(fs_->events_.size())) {
        inode_->data.append(data.substr(0, data.size() / 2));  // a short write, then the error
      }
      fs_->Begin(Op::kAppend, path_);
      inode_->data.append(data);
      inode_->mtime_ns = ++fs_->clock_;
    }
    void Sync() override {
      std::lock_guard<std::mutex> lock(fs_->mu_);
      if (fs_->Begin(Op::kSync, path_)) return;
      inode_->durable = inode_->data;
    }
    void Close() override {
      std::lock_guard<std::mutex> lock(fs_->mu_);
      fs_->Begin(Op::kClose, path_);
    }

   private:
    FaultyFileSystem* fs_;
    const std::string path_;
    std::shared_ptr<Inode> inode_;
  };

  // A file open for reading, sequentially (its own position) or at any offset.
  class Reader : public SequentialFile, public RandomAccessFile {
   public:
    Reader(FaultyFileSystem* fs, std::string path, std::shared_ptr<Inode> inode)
        : fs_(fs), path_(std::move(path)), inode_(std::move(inode)) {}
    size_t Read(char* dst, size_t n) override {
      size_t got = ReadAt(ReadKind::kSequential, pos_, n, dst);
      pos_ += got;
      return got;
    }
    void Skip(uint64_t n) override { pos_ += n; }
    FileStat Stat() override {
      std::lock_guard<std::mutex> lock(fs_->mu_);
      return {static_cast<int64_t>(inode_->data.size()), inode_->mtime_ns, ""};
    }
    size_t Read(uint64_t offset, size_t n, char* dst) const override {
      return ReadAt(ReadKind::kRandomAccess, offset, n, dst);
    }

   private:
    size_t ReadAt(ReadKind kind, uint64_t offset, size_t n, char* dst) const {
      std::lock_guard<std::mutex> lock(fs_->mu_);
      if (fs_->BeginRead(kind, path_, offset, n, "read")) return 0;  // ended early
      const std::string& data = inode_->data;
      if (offset >= data.size()) return 0;
      size_t k = std::min<uint64_t>(n, data.size() - offset);
      if (fs_->short_reads_) k = std::max<size_t>(1, k / 2);
      std::memcpy(dst, data.data() + offset, k);
      return k;
    }

    FaultyFileSystem* fs_;
    const std::string path_;
    const std::shared_ptr<Inode> inode_;
    uint64_t pos_ = 0;
  };

  [[noreturn]] static void Throw(const std::string& what, const std::string& path, int error) {
    throw FileSystemError(what, path, std::strerror(error), error);
  }

  // Records the read, then throws the injected read fault if it is this one. Returns true when
  // this read is to end early.
  bool BeginRead(ReadKind kind, const std::string& path, uint64_t offset, size_t n,
                 const char* what) {
    const int64_t index = static_cast<int64_t>(reads_.size());
    reads_.push_back({kind, path, offset, n});
    if (index == fail_read_at_) {
      ++faults_injected_;
      Throw(what, path, fail_read_error_);
    }
    if (index == end_read_at_ && kind != ReadKind::kListDir) {
      ++faults_injected_;
      return true;
    }
    return false;
  }

  std::shared_ptr<Inode> FindForReading(const std::string& path) {
    if (dirs_.count(path)) Throw("read", path, EISDIR);
    auto it = live_.find(path);
    if (it == live_.end()) Throw("open", path, ENOENT);
    return it->second;
  }

  // Records the event, gives it to the OnEvent callback, then throws the injected fault if it
  // is this one. Returns true when this event is a fsync to skip.
  bool Begin(Op op, const std::string& path) {
    int64_t index = static_cast<int64_t>(events_.size());
    Event event{op, path};
    event.failed = index == fail_at_;
    event.skipped = index == skip_sync_at_ && (op == Op::kSync || op == Op::kSyncDir);
    events_.push_back(event);
    if (on_event_) on_event_(event, *this);
    if (event.failed) {
      ++faults_injected_;
      Throw(OpName(op), path, fail_error_);
    }
    return event.skipped;
  }

  std::shared_ptr<Inode> Find(const std::string& path) {
    auto it = live_.find(path);
    if (it == live_.end()) Throw("open", path, ENOENT);
    return it->second;
  }

  mutable std::mutex mu_;
  std::set<std::string> dirs_;
  std::map<std::string, std::shared_ptr<Inode>> live_;     // names as the running process sees them
  std::map<std::string, std::shared_ptr<Inode>> durable_;  // names as of the last SyncDir
  std::vector<DirOp> pending_;                             // directory ops not yet synced, in order
  std::vector<Event> events_;
  int64_t fail_at_ = -1;
  int fail_error_ = EIO;
  int64_t skip_sync_at_ = -1;
  int64_t faults_injected_ = 0;
  std::vector<ReadEvent> reads_;
  int64_t fail_read_at_ = -1;
  int fail_read_error_ = EIO;
  int64_t end_read_at_ = -1;
  bool short_reads_ = false;
  int64_t clock_ = 0;  // mtime of the next modification
  std::function<void(const Event&, FaultyFileSystem&)> on_event_;
};

}  // namespace inputpipe::reliability

#endif  // INPUTPIPE_RELIABILITY_FAULTY_FILE_SYSTEM_H_
