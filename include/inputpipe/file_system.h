// The file-system seam: every byte inputpipe reads or writes (data files, row-index sidecars,
// TFRecord output, input checkpoints) goes through a FileSystem, picked by the path's scheme,
// as LevelDB's Env is the one door to the operating system. Tests replace it with one that
// injects faults (src/reliability/faulty_file_system.h); new stores register themselves.
//
//   // Reading, whatever the store ("a.csv" and "file:///d/a.csv" are POSIX):
//   std::shared_ptr<FileSystem> fs = FileSystemForPath("memory://d/a.csv");
//   WriteFileAtomically(*fs, "memory://d/a.csv", "x,y\n1,2\n");
//   std::string all = fs->ReadFile("memory://d/a.csv");
//   std::unique_ptr<RandomAccessFile> f = fs->NewRandomAccessFile("memory://d/a.csv");
//   char buf[4];
//   size_t got = f->Read(/*offset=*/4, /*n=*/4, buf);  // "1,2\n"; thread-safe, like pread
//   std::vector<std::string> csvs = fs->GetMatchingPaths("memory://d/*.csv");
//
//   // A new store: the readers, list_files and the hook find it by scheme.
//   class MyStore : public FileSystem { ... };
//   RegisterFileSystem("mystore", std::make_shared<MyStore>());
//   DatasetPtr ds = TextLineDataset({"mystore://bucket/a.txt"});
//
// Paths are passed to a FileSystem whole, scheme included ("memory://d/a.csv"); PosixFileSystem
// strips "file://". No scheme means POSIX. A scheme is matched exactly, as registered (lower case
// by convention: "FILE://a" is not "file://a"); "foo://x" with no "foo" registered is an
// InvalidArgumentError listing the registered schemes, never a relative POSIX path.
//
// Errors: every operation throws FileSystemError (an IOError) naming the operation, the path and
// the store's reason ("fsync /ckpt/input.ckpt-100.tmp: No space left on device"); the readers
// wrap it with the op and the byte offset ("csv: cannot read 'a.csv' at byte 4096: ...").
//
// Thread-safety: a FileSystem is called from any thread (reader threads, the hook's background
// writer) and must be safe for concurrent calls. A SequentialFile or WritableFile is used by one
// thread at a time; RandomAccessFile::Read is safe from several threads at once.
#ifndef INPUTPIPE_FILE_SYSTEM_H_
#define INPUTPIPE_FILE_SYSTEM_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "inputpipe/errors.h"

namespace inputpipe {

// The error of a FileSystem operation: what() is "<operation> <path>: <reason>".
class FileSystemError : public IOError {
 public:
  // `code`: the errno when there is one (ENOENT for a missing file, from any store), else 0.
  FileSystemError(std::string operation, std::string path, std::string reason, int code = 0);
  const std::string& operation() const { return operation_; }
  const std::string& path() const { return path_; }
  const std::string& reason() const { return reason_; }
  int code() const { return code_; }

 private:
  std::string operation_, path_, reason_;
  int code_;
};
// The store's reason of an IOError: FileSystemError::reason(), else the whole message.
std::string IOErrorReason(const IOError& e);

// What Stat tells about a file.
struct FileStat {
  int64_t size = 0;
  // Modification time (ns since the epoch); the readers' fingerprint is (size, mtime_ns).
  int64_t mtime_ns = 0;
  // A content identity when the store has one (an object store's ETag or generation); empty
  // for POSIX, whose (size, mtime_ns) is the identity.
  std::string identity;
};

// A file read from the start, forward. One thread at a time.
class SequentialFile {
 public:
  virtual ~SequentialFile() = default;
  // Reads up to n bytes into dst and returns how many: fewer than n is allowed (callers loop,
  // as with read(2)); 0 means the end of the file.
  virtual size_t Read(char* dst, size_t n) = 0;
  // Skips n bytes forward (to or past the end is allowed: Read then returns 0).
  virtual void Skip(uint64_t n) = 0;
  // The file as opened (for POSIX, fstat of the open descriptor, so it describes the bytes
  // being read even if the path is replaced meanwhile).
  virtual FileStat Stat() = 0;
};

// A file read at any offset (pread). Read is safe from several threads at once.
class RandomAccessFile {
 public:
  virtual ~RandomAccessFile() = default;
  // Reads up to n bytes at `offset` into dst and returns how many: fewer than n is allowed
  // (callers loop); 0 means `offset` is at or past the end.
  virtual size_t Read(uint64_t offset, size_t n, char* dst) const = 0;
};

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

  // ---- Reading. A store that is only written to (a checkpoint sink) may keep the defaults,
  // which throw FileSystemError "not supported".
  virtual std::unique_ptr<SequentialFile> NewSequentialFile(const std::string& path);
  virtual std::unique_ptr<RandomAccessFile> NewRandomAccessFile(const std::string& path);
  // FileSystemError with code ENOENT when `path` does not exist.
  virtual FileStat Stat(const std::string& path);
  // The whole contents of `path` (by default through NewSequentialFile). IOError if it cannot
  // be read (missing, permissions).
  virtual std::string ReadFile(const std::string& path);
  // The paths matching a glob pattern (*, ?, [...] in any component; a leading '.' is matched
  // only explicitly, as glob(3)), scheme kept; empty when none. The default walks ListDir with
  // fnmatch (MatchPaths below); POSIX uses glob(3), and an object store can answer with one
  // prefix listing instead of a walk, which is why this is a method.
  virtual std::vector<std::string> GetMatchingPaths(const std::string& pattern);

  // ---- Names.
  virtual bool FileExists(const std::string& path) = 0;
  // Names (not paths) of the entries of `dir`, in no particular order, without "." and "..".
  // FileSystemError with code ENOENT (missing) or ENOTDIR (a file).
  virtual std::vector<std::string> ListDir(const std::string& dir) = 0;
  // Atomically replaces `to` by `from` (POSIX rename). Durable only after SyncDir(dir of `to`).
  virtual void RenameFile(const std::string& from, const std::string& to) = 0;
  virtual void DeleteFile(const std::string& path) = 0;
  // mkdir -p; each directory it creates is made durable in its parent.
  virtual void CreateDirs(const std::string& dir) = 0;
  // fsync of a directory: makes the creations, renames and deletions in it durable.
  virtual void SyncDir(const std::string& dir) = 0;

  // ---- Writing. Creates `path` (truncating an existing file) for writing.
  virtual std::unique_ptr<WritableFile> NewWritableFile(const std::string& path) = 0;

  // True when a WritableFile of `path` publishes its bytes there all at once, at Close (an
  // object store's single PUT): until Close returns, and forever if the writer dies first,
  // readers see the previous object or none, never a part. Such a store has no rename, and
  // needs none: WriteFileAtomically writes `path` directly. False by default (POSIX: a file
  // is visible, partly written, as soon as it is created).
  virtual bool HasAtomicWholeFileWrites(const std::string& /*path*/) { return false; }
};

// ---- The registry by scheme ----------------------------------------------------------------
// Registered at start: "file" (POSIX, also for paths without a scheme) and "memory" (an
// in-memory store, process-wide; see NewMemoryFileSystem). Safe from any thread.

// "s3" for "s3://b/k"; "" when the path has no scheme (a scheme is a letter, then letters,
// digits, '+', '-' or '.', then "://").
std::string_view PathScheme(std::string_view path);
// Makes `fs` the file system of `scheme`, replacing any previous one (readers already built keep
// the one they resolved). InvalidArgumentError for a malformed scheme, for "file" (POSIX stays
// the default) or a null fs.
void RegisterFileSystem(const std::string& scheme, std::shared_ptr<FileSystem> fs);
// Removes the file system of `scheme`; false when none was registered. "file" cannot be removed.
bool UnregisterFileSystem(const std::string& scheme);
// The file system of `path`'s scheme. InvalidArgumentError naming the scheme, the path and the
// registered schemes when none is registered.
std::shared_ptr<FileSystem> FileSystemForPath(std::string_view path);
// Registered schemes, sorted.
std::vector<std::string> RegisteredFileSystems();

// A file system whose every call goes to FileSystemForPath(path) (for a rename, both paths must
// have the same scheme). What the hook uses when its options name no file system. Never null;
// not owned.
FileSystem& DefaultFileSystem();

// A fresh in-memory file system (what "memory://" is registered to): files and directories in a
// map, directories implicit in file names as in an object store, mtime a strictly increasing
// clock, Stat's identity a generation number. Sync and SyncDir do nothing.
std::shared_ptr<FileSystem> NewMemoryFileSystem();

// ---- Helpers on top of any FileSystem ------------------------------------------------------

// "dir/name" (no doubled slash).
std::string JoinPath(std::string_view dir, std::string_view name);
// The directory part of `path`: "." when it has none, "/" for a file at the root; with a scheme
// the scheme is kept ("memory://d" for "memory://d/f", "memory://" for "memory://f").
std::string DirName(std::string_view path);
// The default GetMatchingPaths: ListDir on each directory a wildcard component needs, fnmatch
// (FNM_PERIOD) on its names; directories that are missing or not directories match nothing,
// other errors are thrown. Sorted.
std::vector<std::string> MatchPaths(FileSystem& fs, const std::string& pattern);

// Suffix of the temporary file WriteFileAtomically writes beside `path`.
inline constexpr std::string_view kTempSuffix = ".tmp";

// Writes `contents` to `path` crash-safely: path + kTempSuffix, fsync, close, rename over
// `path`, fsync the directory; on a store with HasAtomicWholeFileWrites(path), one write of
// `path` itself (an object store's single PUT), no temporary and no rename. After return the
// file holds `contents` durably; a crash at any instant before leaves the previous file (or
// none) at `path`, never a torn one. Throws IOError (after removing the temporary file when it
// can); on error the previous contents of `path`, if any, are intact.
void WriteFileAtomically(FileSystem& fs, const std::string& path, std::string_view contents);

}  // namespace inputpipe

#endif  // INPUTPIPE_FILE_SYSTEM_H_
