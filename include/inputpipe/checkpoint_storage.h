// The file-system seam under checkpoint storage, and the one crash-safe way to write a file.
//
// Every byte of an input checkpoint goes through a FileSystem, so that tests can replace the
// real one (PosixFileSystem) with one that injects ENOSPC / EIO or simulates a crash that drops
// whatever was not fsynced:
//
//   FileSystem& fs = DefaultFileSystem();
//   WriteFileAtomically(fs, "/ckpt/input.ckpt-100", bytes);
//   // After return the file holds `bytes` durably. A crash at any instant before that leaves
//   // the previous file (or no file) at that path, never a torn one.
//
// Errors are IOError naming the operation, the path and the system's reason
// ("fsync /ckpt/input.ckpt-100.tmp: No space left on device").
//
// Thread-safety: PosixFileSystem is stateless and safe to use from any thread. Replacements
// must be safe to call from the hook's background writer thread and the training thread.
#ifndef INPUTPIPE_CHECKPOINT_STORAGE_H_
#define INPUTPIPE_CHECKPOINT_STORAGE_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace inputpipe {

// A file being written. Data is durable only after Sync() returns.
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  virtual void Append(std::string_view data) = 0;
  // fsync: the data appended so far is on stable storage (not yet the file's name; see SyncDir).
  virtual void Sync() = 0;
  virtual void Close() = 0;
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;
  // Creates `path` (truncating an existing file) for writing.
  virtual std::unique_ptr<WritableFile> NewWritableFile(const std::string& path) = 0;
  // The whole contents of `path`. IOError if it cannot be read (missing, permissions).
  virtual std::string ReadFile(const std::string& path) = 0;
  virtual bool FileExists(const std::string& path) = 0;
  // Names (not paths) of the entries of `dir`, in no particular order, without "." and "..".
  virtual std::vector<std::string> ListDir(const std::string& dir) = 0;
  // Atomically replaces `to` by `from` (POSIX rename). Durable only after SyncDir(dir of `to`).
  virtual void RenameFile(const std::string& from, const std::string& to) = 0;
  virtual void DeleteFile(const std::string& path) = 0;
  // mkdir -p; each directory it creates is made durable in its parent.
  virtual void CreateDirs(const std::string& dir) = 0;
  // fsync of a directory: makes the creations, renames and deletions in it durable.
  virtual void SyncDir(const std::string& dir) = 0;
};

// The real file system (POSIX open / write / fsync / rename). Never null; not owned.
FileSystem& DefaultFileSystem();

// "dir/name" (no doubled slash).
std::string JoinPath(std::string_view dir, std::string_view name);
// The directory part of `path` ("." when it has none).
std::string DirName(std::string_view path);

// Suffix of the temporary file WriteFileAtomically writes beside `path`.
inline constexpr std::string_view kTempSuffix = ".tmp";

// Writes `contents` to `path` crash-safely: path + kTempSuffix, fsync, close, rename over
// `path`, fsync the directory. Throws IOError (after removing the temporary file when it can);
// on error the previous contents of `path`, if any, are intact.
void WriteFileAtomically(FileSystem& fs, const std::string& path, std::string_view contents);

}  // namespace inputpipe

#endif  // INPUTPIPE_CHECKPOINT_STORAGE_H_
