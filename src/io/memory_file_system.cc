// The in-memory file system ("memory://"): files in a map by path, as an object store keeps
// them. A directory exists when CreateDirs made it or a file lies below it. Files share their
// bytes with the open handles (a rewrite is seen by a reader, as with POSIX O_TRUNC on the same
// inode); every access holds the store's one mutex.
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <set>

#include "inputpipe/file_system.h"
#include "util/mutex.h"

namespace inputpipe {

namespace {
[[noreturn]] void Fail(const std::string& what, const std::string& path, int error) {
  throw FileSystemError(what, path, std::strerror(error), error);
}

// "memory://d/" and "memory://d" are one directory.
std::string Key(std::string_view path) {
  std::string key(path);
  while (key.size() > 1 && key.back() == '/' && DirName(key) != key) key.pop_back();
  return key;
}

// The prefix of the entries below directory `key`.
std::string ChildPrefix(const std::string& key) { return key.back() == '/' ? key : key + "/"; }

struct Node {
  std::string data;
  int64_t mtime_ns = 0;
  uint64_t generation = 0;
};

struct Store {
  Mutex mu;
  std::map<std::string, std::shared_ptr<Node>> files GUARDED_BY(mu);
  std::set<std::string> dirs GUARDED_BY(mu);
  int64_t clock_ns GUARDED_BY(mu) = 0;
  uint64_t generations GUARDED_BY(mu) = 0;

  // A new modification: the mtime strictly after the last one, and a new generation.
  void Touch(Node& node) REQUIRES(mu) {
    node.mtime_ns = ++clock_ns;
    node.generation = ++generations;
  }
  bool IsDir(const std::string& key) REQUIRES(mu) {
    if (dirs.count(key) || DirName(key) == key) return true;
    const std::string prefix = ChildPrefix(key);
    auto it = files.lower_bound(prefix);
    if (it != files.end() && it->first.compare(0, prefix.size(), prefix) == 0) return true;
    auto d = dirs.lower_bound(prefix);
    return d != dirs.end() && d->compare(0, prefix.size(), prefix) == 0;
  }
  FileStat StatOf(const Node& node) REQUIRES(mu) {
    return {static_cast<int64_t>(node.data.size()), node.mtime_ns,
            "generation " + std::to_string(node.generation)};
  }
};

size_t CopyAt(const std::string& data, uint64_t offset, size_t n, char* dst) {
  if (offset >= data.size()) return 0;
  size_t k = std::min<uint64_t>(n, data.size() - offset);
  std::memcpy(dst, data.data() + offset, k);
  return k;
}

class MemorySequentialFile : public SequentialFile {
 public:
  MemorySequentialFile(std::shared_ptr<Store> store, std::shared_ptr<Node> node)
      : store_(std::move(store)), node_(std::move(node)) {}
  size_t Read(char* dst, size_t n) override {
    MutexLock lock(store_->mu);
    size_t k = CopyAt(node_->data, pos_, n, dst);
    pos_ += k;
    return k;
  }
  void Skip(uint64_t n) override { pos_ += n; }
  FileStat Stat() override {
    MutexLock lock(store_->mu);
    return store_->StatOf(*node_);
  }

 private:
  const std::shared_ptr<Store> store_;
  const std::shared_ptr<Node> node_;
  uint64_t pos_ = 0;
};

class MemoryRandomAccessFile : public RandomAccessFile {
 public:
  MemoryRandomAccessFile(std::shared_ptr<Store> store, std::shared_ptr<Node> node)
      : store_(std::move(store)), node_(std::move(node)) {}
  size_t Read(uint64_t offset, size_t n, char* dst) const override {
    MutexLock lock(store_->mu);
    return CopyAt(node_->data, offset, n, dst);
  }

 private:
  const std::shared_ptr<Store> store_;
  const std::shared_ptr<Node> node_;
};

class MemoryWritableFile : public WritableFile {
 public:
  MemoryWritableFile(std::shared_ptr<Store> store, std::shared_ptr<Node> node, std::string path)
      : store_(std::move(store)), node_(std::move(node)), path_(std::move(path)) {}
  void Append(std::string_view data) override {
    if (closed_) Fail("write", path_, EBADF);
    MutexLock lock(store_->mu);
    node_->data.append(data);
    store_->Touch(*node_);
  }
  void Sync() override {
    if (closed_) Fail("fsync", path_, EBADF);
  }
  void Close() override { closed_ = true; }

 private:
  const std::shared_ptr<Store> store_;
  const std::shared_ptr<Node> node_;
  const std::string path_;
  bool closed_ = false;
};

class MemoryFileSystem : public FileSystem {
 public:
  std::unique_ptr<SequentialFile> NewSequentialFile(const std::string& path) override {
    return std::make_unique<MemorySequentialFile>(store_, Find("open", path));
  }
  std::unique_ptr<RandomAccessFile> NewRandomAccessFile(const std::string& path) override {
    return std::make_unique<MemoryRandomAccessFile>(store_, Find("open", path));
  }
  FileStat Stat(const std::string& path) override {
    MutexLock lock(store_->mu);
    const std::string key = Key(path);
    auto it = store_->files.find(key);
    if (it != store_->files.end()) return store_->StatOf(*it->second);
    if (store_->IsDir(key)) return {};
    Fail("stat", path, ENOENT);
  }
  std::unique_ptr<WritableFile> NewWritableFile(const std::string& path) override {
    MutexLock lock(store_->mu);
    const std::string key = Key(path);
    std::shared_ptr<Node>& node = store_->files[key];
    if (node == nullptr) {
      if (store_->IsDir(key)) {
        store_->files.erase(key);
        Fail("open", path, EISDIR);
      }
      node = std::make_shared<Node>();
    }
    node->data.clear();  // O_TRUNC: the same file, emptied
    store_->Touch(*node);
    return std::make_unique<MemoryWritableFile>(store_, node, path);
  }
  bool FileExists(const std::string& path) override {
    MutexLock lock(store_->mu);
    const std::string key = Key(path);
    return store_->files.count(key) > 0 || store_->IsDir(key);
  }
  std::vector<std::string> ListDir(const std::string& dir) override {
    MutexLock lock(store_->mu);
    const std::string key = Key(dir);
    if (store_->files.count(key)) Fail("list directory", dir, ENOTDIR);
    if (!store_->IsDir(key)) Fail("list directory", dir, ENOENT);
    const std::string prefix = ChildPrefix(key);
    std::set<std::string> names;
    auto add = [&](const std::string& path) {
      std::string rest = path.substr(prefix.size());
      names.insert(rest.substr(0, rest.find('/')));
    };
    for (auto it = store_->files.lower_bound(prefix);
         it != store_->files.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
      add(it->first);
    }
    for (auto it = store_->dirs.lower_bound(prefix);
         it != store_->dirs.end() && it->compare(0, prefix.size(), prefix) == 0; ++it) {
      if (*it != key) add(*it);
    }
    names.erase("");
    return {names.begin(), names.end()};
  }
  void RenameFile(const std::string& from, const std::string& to) override {
    MutexLock lock(store_->mu);
    auto it = store_->files.find(Key(from));
    if (it == store_->files.end()) Fail("rename " + from + " to", to, ENOENT);
    if (store_->IsDir(Key(to))) Fail("rename " + from + " to", to, EISDIR);
    std::shared_ptr<Node> node = it->second;
    store_->files.erase(it);
    store_->files[Key(to)] = std::move(node);
  }
  void DeleteFile(const std::string& path) override {
    MutexLock lock(store_->mu);
    if (!store_->files.erase(Key(path))) Fail("delete", path, ENOENT);
  }
  void CreateDirs(const std::string& dir) override {
    MutexLock lock(store_->mu);
    std::vector<std::string> made;
    for (std::string d = Key(dir); DirName(d) != d && d != "."; d = DirName(d)) {
      if (store_->files.count(d)) {
        throw FileSystemError("mkdir", d, "exists and is not a directory", ENOTDIR);
      }
      made.push_back(d);
    }
    store_->dirs.insert(made.begin(), made.end());
  }
  void SyncDir(const std::string& dir) override {}

 private:
  std::shared_ptr<Node> Find(const std::string& what, const std::string& path) {
    MutexLock lock(store_->mu);
    const std::string key = Key(path);
    auto it = store_->files.find(key);
    if (it != store_->files.end()) return it->second;
    Fail(store_->IsDir(key) ? "read" : what, path, store_->IsDir(key) ? EISDIR : ENOENT);
  }

  const std::shared_ptr<Store> store_ = std::make_shared<Store>();
};
}  // namespace

std::shared_ptr<FileSystem> NewMemoryFileSystem() { return std::make_shared<MemoryFileSystem>(); }

}  // namespace inputpipe
