// PosixFileSystem and WriteFileAtomically: where the bytes of a checkpoint reach the disk.
//
// The crash-safety argument (docs/hook.md): a checkpoint's name only ever points at bytes that
// were fsynced before the rename gave them that name, and the rename is made durable by the
// directory fsync before the save is reported done. A crash before the rename leaves at most a
// stray "*.tmp" file, which readers ignore and the next save overwrites.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "inputpipe/checkpoint_storage.h"
#include "inputpipe/errors.h"

namespace inputpipe {

namespace {
[[noreturn]] void ThrowErrno(std::string_view what, const std::string& path, int error) {
  throw IOError(std::string(what) + " " + path + ": " + std::strerror(error));
}

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

class PosixFileSystem : public FileSystem {
 public:
  std::unique_ptr<WritableFile> NewWritableFile(const std::string& path) override {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) ThrowErrno("open", path, errno);
    return std::make_unique<PosixWritableFile>(path, fd);
  }

  std::string ReadFile(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) ThrowErrno("open", path, errno);
    std::string contents;
    char buffer[1 << 16];
    while (true) {
      ssize_t n = ::read(fd, buffer, sizeof(buffer));
      if (n < 0) {
        if (errno == EINTR) continue;
        int error = errno;
        ::close(fd);
        ThrowErrno("read", path, error);
      }
      if (n == 0) break;
      contents.append(buffer, static_cast<size_t>(n));
    }
    ::close(fd);
    return contents;
  }

  bool FileExists(const std::string& path) override {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0;
  }

  std::vector<std::string> ListDir(const std::string& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) ThrowErrno("opendir", dir, errno);
    std::vector<std::string> names;
    while (struct dirent* entry = ::readdir(d)) {
      std::string name = entry->d_name;
      if (name != "." && name != "..") names.push_back(std::move(name));
    }
    ::closedir(d);
    return names;
  }

  void RenameFile(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) ThrowErrno("rename " + from + " to", to, errno);
  }

  void DeleteFile(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) ThrowErrno("unlink", path, errno);
  }

  void CreateDirs(const std::string& dir) override {
    struct stat st;
    if (dir.empty() || ::stat(dir.c_str(), &st) == 0) {
      if (!dir.empty() && !S_ISDIR(st.st_mode)) {
        throw IOError("mkdir " + dir + ": exists and is not a directory");
      }
      return;
    }
    std::string parent = DirName(dir);
    if (parent != dir) CreateDirs(parent);
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) ThrowErrno("mkdir", dir, errno);
    SyncDir(parent);
  }

  void SyncDir(const std::string& dir) override {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) ThrowErrno("open directory", dir, errno);
    if (::fsync(fd) != 0) {
      int error = errno;
      ::close(fd);
      ThrowErrno("fsync directory", dir, error);
    }
    ::close(fd);
  }
};
}  // namespace

FileSystem& DefaultFileSystem() {
  static PosixFileSystem* fs = new PosixFileSystem();  // never destroyed: usable at exit
  return *fs;
}

std::string JoinPath(std::string_view dir, std::string_view name) {
  if (dir.empty()) return std::string(name);
  std::string path(dir);
  if (path.back() != '/') path += '/';
  path += name;
  return path;
}

std::string DirName(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  size_t slash = path.rfind('/');
  if (slash == std::string_view::npos) return ".";
  if (slash == 0) return "/";
  return std::string(path.substr(0, slash));
}

void WriteFileAtomically(FileSystem& fs, const std::string& path, std::string_view contents) {
  const std::string temp = path + std::string(kTempSuffix);
  try {
    std::unique_ptr<WritableFile> file = fs.NewWritableFile(temp);
    file->Append(contents);
    file->Sync();
    file->Close();
    fs.RenameFile(temp, path);
  } catch (const IOError&) {
    try {
      if (fs.FileExists(temp)) fs.DeleteFile(temp);
    } catch (const IOError&) {
      // The original error is the one worth reporting; a stray temp file is harmless.
    }
    throw;
  }
  fs.SyncDir(DirName(path));
}

}  // namespace inputpipe
