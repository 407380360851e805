// PosixFileSystem: the one place where inputpipe calls the operating system's file API (open,
// read, pread, write, fsync, rename, unlink, opendir, stat, glob). Paths with "file://" and paths
// without a scheme come here; the prefix is stripped.
//
// The crash-safety argument of the checkpoints (docs/hook.md) rests on two calls made here: a
// WritableFile's Sync is fsync(2) of its descriptor, and SyncDir is fsync(2) of the directory,
// which is what makes a rename durable.
#include "io/posix_file_system.h"

#include <dirent.h>
#include <fcntl.h>
#include <glob.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace inputpipe {

namespace {
constexpr std::string_view kFilePrefix = "file://";

[[noreturn]] void ThrowErrno(std::string what, const std::string& path, int error) {
  throw FileSystemError(std::move(what), path, std::strerror(error), error);
}

// The local path of "file:///a" or "/a".
std::string Local(const std::string& path) {
  if (path.compare(0, kFilePrefix.size(), kFilePrefix) == 0) return path.substr(kFilePrefix.size());
  return path;
}

FileStat ToFileStat(const struct stat& st) {
  return {static_cast<int64_t>(st.st_size),
          static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec, ""};
}

class PosixSequentialFile : public SequentialFile {
 public:
  PosixSequentialFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixSequentialFile() override { ::close(fd_); }

  size_t Read(char* dst, size_t n) override {
    while (true) {
      ssize_t got = ::read(fd_, dst, n);
      if (got >= 0) return static_cast<size_t>(got);
      if (errno != EINTR) ThrowErrno("read", path_, errno);
    }
  }
  void Skip(uint64_t n) override {
    if (::lseek(fd_, static_cast<off_t>(n), SEEK_CUR) < 0) ThrowErrno("seek", path_, errno);
  }
  FileStat Stat() override {
    struct stat st;
    if (::fstat(fd_, &st) != 0) ThrowErrno("stat", path_, errno);
    return ToFileStat(st);
  }

 private:
  const std::string path_;
  const int fd_;
};

class PosixRandomAccessFile : public RandomAccessFile {
 public:
  PosixRandomAccessFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixRandomAccessFile() override { ::close(fd_); }

  size_t Read(uint64_t offset, size_t n, char* dst) const override {
    while (true) {
      ssize_t got = ::pread(fd_, dst, n, static_cast<off_t>(offset));
      if (got >= 0) return static_cast<size_t>(got);
      if (errno != EINTR) ThrowErrno("read", path_, errno);
    }
  }

 private:
  const std::string path_;
  const int fd_;
};

class PosixWritableFile : public WritableFile {
 public:
  PosixWritableFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) ::close(fd_);
  }

  void Append(std::string_view data) override {
    while (!data.empty()) {
      ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        ThrowErrno("write", path_, errno);
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
  }
  void Sync() override {
    if (::fsync(fd_) != 0) ThrowErrno("fsync", path_, errno);
  }
  void Close() override {
    int fd = fd_;
    fd_ = -1;
    if (fd >= 0 && ::close(fd) != 0) ThrowErrno("close", path_, errno);
  }

 private:
  const std::string path_;
  int fd_;
};

// A read-only descriptor of a regular file (a directory opens, but reading it is EISDIR).
int OpenForReading(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) ThrowErrno("open", path, errno);
  struct stat st;
  if (::fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
    int error = S_ISDIR(st.st_mode) ? EISDIR : errno;
    ::close(fd);
    ThrowErrno("read", path, error);
  }
  return fd;
}

class PosixFileSystem : public FileSystem {
 public:
  std::unique_ptr<SequentialFile> NewSequentialFile(const std::string& path) override {
    std::string p = Local(path);
    int fd = OpenForReading(p);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    return std::make_unique<PosixSequentialFile>(p, fd);
  }

  std::unique_ptr<RandomAccessFile> NewRandomAccessFile(const std::string& path) override {
    std::string p = Local(path);
    return std::make_unique<PosixRandomAccessFile>(p, OpenForReading(p));
  }

  FileStat Stat(const std::string& path) override {
    std::string p = Local(path);
    struct stat st;
    if (::stat(p.c_str(), &st) != 0) ThrowErrno("stat", p, errno);
    return ToFileStat(st);
  }

  // glob(3) itself, so that list_files matches exactly as the shell and tf.data do.
  std::vector<std::string> GetMatchingPaths(const std::string& pattern) override {
    const bool prefixed = Local(pattern).size() != pattern.size();
    glob_t g;
    int rc = ::glob(Local(pattern).c_str(), 0, nullptr, &g);
    if (rc == GLOB_NOMATCH) return {};
    if (rc != 0) {
      ::globfree(&g);
      throw FileSystemError("glob", pattern, rc == GLOB_NOSPACE ? "out of memory" : "read error",
                            rc == GLOB_NOSPACE ? ENOMEM : EIO);
    }
    std::vector<std::string> paths;
    for (size_t i = 0; i < g.gl_pathc; ++i) {
      paths.push_back((prefixed ? std::string(kFilePrefix) : "") + g.gl_pathv[i]);
    }
    ::globfree(&g);
    return paths;
  }

  std::unique_ptr<WritableFile> NewWritableFile(const std::string& path) override {
    std::string p = Local(path);
    int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) ThrowErrno("open", p, errno);
    return std::make_unique<PosixWritableFile>(p, fd);
  }

  bool FileExists(const std::string& path) override {
    struct stat st;
    return ::stat(Local(path).c_str(), &st) == 0;
  }

  std::vector<std::string> ListDir(const std::string& dir) override {
    std::string p = Local(dir);
    DIR* d = ::opendir(p.c_str());
    if (d == nullptr) ThrowErrno("opendir", p, errno);
    std::vector<std::string> names;
    while (struct dirent* entry = ::readdir(d)) {
      std::string name = entry->d_name;
      if (name != "." && name != "..") names.push_back(std::move(name));
    }
    ::closedir(d);
    return names;
  }

  void RenameFile(const std::string& from, const std::string& to) override {
    std::string f = Local(from), t = Local(to);
    if (::rename(f.c_str(), t.c_str()) != 0) ThrowErrno("rename " + f + " to", t, errno);
  }

  void DeleteFile(const std::string& path) override {
    std::string p = Local(path);
    if (::unlink(p.c_str()) != 0) ThrowErrno("unlink", p, errno);
  }

  void CreateDirs(const std::string& dir) override { CreateLocalDirs(Local(dir)); }

  void SyncDir(const std::string& dir) override {
    std::string p = Local(dir);
    int fd = ::open(p.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) ThrowErrno("open directory", p, errno);
    if (::fsync(fd) != 0) {
      int error = errno;
      ::close(fd);
      ThrowErrno("fsync directory", p, error);
    }
    ::close(fd);
  }

 private:
  void CreateLocalDirs(const std::string& dir) {
    struct stat st;
    if (dir.empty() || ::stat(dir.c_str(), &st) == 0) {
      if (!dir.empty() && !S_ISDIR(st.st_mode)) {
        throw FileSystemError("mkdir", dir, "exists and is not a directory", ENOTDIR);
      }
      return;
    }
    std::string parent = DirName(dir);
    if (parent != dir) CreateLocalDirs(parent);
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) ThrowErrno("mkdir", dir, errno);
    SyncDir(parent);
  }
};
}  // namespace

std::shared_ptr<FileSystem> NewPosixFileSystem() { return std::make_shared<PosixFileSystem>(); }

}  // namespace inputpipe
