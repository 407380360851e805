// The file systems by scheme, and DefaultFileSystem, which routes each call by its path.
//
// Readers resolve their file system once, when the dataset is built, and hold it by
// shared_ptr: a later RegisterFileSystem or UnregisterFileSystem does not pull a store from
// under an open file.
#include <algorithm>
#include <cctype>
#include <map>

#include "inputpipe/file_system.h"
#include "io/posix_file_system.h"
#include "util/mutex.h"

namespace inputpipe {

namespace {
constexpr char kPosixScheme[] = "file";

bool ValidScheme(std::string_view s) {
  if (s.empty() || !std::isalpha(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.';
  });
}

class Registry {
 public:
  Registry() : posix_(NewPosixFileSystem()) {
    by_scheme_[kPosixScheme] = posix_;
    by_scheme_["memory"] = NewMemoryFileSystem();
  }

  void Register(const std::string& scheme, std::shared_ptr<FileSystem> fs) {
    if (!ValidScheme(scheme)) {
      throw InvalidArgumentError("RegisterFileSystem: '" + scheme +
                                 "' is not a scheme (a letter, then letters, digits, '+', '-' "
                                 "or '.')");
    }
    if (scheme == kPosixScheme) {
      throw InvalidArgumentError(
          "RegisterFileSystem: 'file' is the POSIX file system and "
          "cannot be replaced");
    }
    if (fs == nullptr) throw InvalidArgumentError("RegisterFileSystem: null file system");
    // The one replaced is released after the lock: its destructor may wait (for the GIL, when
    // it is written in Python).
    std::shared_ptr<FileSystem> replaced = std::move(fs);
    MutexLock lock(mu_);
    std::swap(by_scheme_[scheme], replaced);
  }

  bool Unregister(const std::string& scheme) {
    if (scheme == kPosixScheme) {
      throw InvalidArgumentError("UnregisterFileSystem: 'file' cannot be removed");
    }
    std::shared_ptr<FileSystem> removed;  // released after the lock
    MutexLock lock(mu_);
    auto it = by_scheme_.find(scheme);
    if (it == by_scheme_.end()) return false;
    removed = std::move(it->second);
    by_scheme_.erase(it);
    return true;
  }

  std::shared_ptr<FileSystem> For(std::string_view path) {
    std::string_view scheme = PathScheme(path);
    if (scheme.empty()) return posix_;
    MutexLock lock(mu_);
    auto it = by_scheme_.find(std::string(scheme));
    if (it != by_scheme_.end()) return it->second;
    std::string known;
    for (const auto& [name, fs] : by_scheme_) known += (known.empty() ? "" : ", ") + name;
    throw InvalidArgumentError("no file system is registered for scheme '" + std::string(scheme) +
                               "' (path '" + std::string(path) + "'); registered: " + known);
  }

  std::vector<std::string> Schemes() {
    MutexLock lock(mu_);
    std::vector<std::string> out;
    for (const auto& [name, fs] : by_scheme_) out.push_back(name);
    return out;
  }

 private:
  const std::shared_ptr<FileSystem> posix_;
  Mutex mu_;
  std::map<std::string, std::shared_ptr<FileSystem>> by_scheme_ GUARDED_BY(mu_);
};

Registry& TheRegistry() {
  static Registry* registry = new Registry();  // never destroyed: usable at exit
  return *registry;
}

// Each call to the file system of its path.
class RoutingFileSystem : public FileSystem {
 public:
  std::unique_ptr<SequentialFile> NewSequentialFile(const std::string& path) override {
    return FileSystemForPath(path)->NewSequentialFile(path);
  }
  std::unique_ptr<RandomAccessFile> NewRandomAccessFile(const std::string& path) override {
    return FileSystemForPath(path)->NewRandomAccessFile(path);
  }
  FileStat Stat(const std::string& path) override { return FileSystemForPath(path)->Stat(path); }
  std::string ReadFile(const std::string& path) override {
    return FileSystemForPath(path)->ReadFile(path);
  }
  std::vector<std::string> GetMatchingPaths(const std::string& pattern) override {
    return FileSystemForPath(pattern)->GetMatchingPaths(pattern);
  }
  bool FileExists(const std::string& path) override {
    return FileSystemForPath(path)->FileExists(path);
  }
  std::vector<std::string> ListDir(const std::string& dir) override {
    return FileSystemForPath(dir)->ListDir(dir);
  }
  void RenameFile(const std::string& from, const std::string& to) override {
    std::shared_ptr<FileSystem> fs = FileSystemForPath(to);
    if (FileSystemForPath(from) != fs) {
      throw InvalidArgumentError("rename " + from + " to " + to + ": not on one file system");
    }
    fs->RenameFile(from, to);
  }
  void DeleteFile(const std::string& path) override { FileSystemForPath(path)->DeleteFile(path); }
  void CreateDirs(const std::string& dir) override { FileSystemForPath(dir)->CreateDirs(dir); }
  void SyncDir(const std::string& dir) override { FileSystemForPath(dir)->SyncDir(dir); }
  std::unique_ptr<WritableFile> NewWritableFile(const std::string& path) override {
    return FileSystemForPath(path)->NewWritableFile(path);
  }
  bool HasAtomicWholeFileWrites(const std::string& path) override {
    return FileSystemForPath(path)->HasAtomicWholeFileWrites(path);
  }
};
}  // namespace

std::string_view PathScheme(std::string_view path) {
  size_t end = path.find("://");
  if (end == std::string_view::npos || !ValidScheme(path.substr(0, end))) return {};
  return path.substr(0, end);
}

void RegisterFileSystem(const std::string& scheme, std::shared_ptr<FileSystem> fs) {
  TheRegistry().Register(scheme, std::move(fs));
}

bool UnregisterFileSystem(const std::string& scheme) { return TheRegistry().Unregister(scheme); }

std::shared_ptr<FileSystem> FileSystemForPath(std::string_view path) {
  return TheRegistry().For(path);
}

std::vector<std::string> RegisteredFileSystems() { return TheRegistry().Schemes(); }

FileSystem& DefaultFileSystem() {
  static RoutingFileSystem* fs = new RoutingFileSystem();  // never destroyed: usable at exit
  return *fs;
}

}  // namespace inputpipe
