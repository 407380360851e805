// What every FileSystem shares: its error type, the defaults of the optional methods, path
// helpers that keep a scheme, glob matching over ListDir, and WriteFileAtomically.
//
// WriteFileAtomically's crash-safety argument (docs/hook.md): a file's name only ever points at
// bytes that were fsynced before the rename gave them that name, and the rename is made durable
// by the directory fsync before the call returns. A crash before the rename leaves at most a
// stray "*.tmp" file, which readers ignore and the next write overwrites. An object store has
// no rename but publishes a whole object at once (HasAtomicWholeFileWrites): the one write of
// the name is the commit there.
#include "inputpipe/file_system.h"

#include <fnmatch.h>

#include <algorithm>
#include <cerrno>

namespace inputpipe {

namespace {
[[noreturn]] void NotSupported(const std::string& what, const std::string& path) {
  throw FileSystemError(what, path, "not supported by the file system of this path", ENOSYS);
}

// DirName of a path without a scheme.
std::string LocalDirName(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  size_t slash = path.rfind('/');
  if (slash == std::string_view::npos) return ".";
  if (slash == 0) return "/";
  return std::string(path.substr(0, slash));
}

bool HasWildcard(std::string_view component) {
  return component.find_first_of("*?[") != std::string_view::npos;
}

// A literal component as a name: glob's backslash escapes removed.
std::string Unescape(std::string_view component) {
  std::string out;
  for (size_t i = 0; i < component.size(); ++i) {
    if (component[i] == '\\' && i + 1 < component.size()) ++i;
    out += component[i];
  }
  return out;
}

std::string Child(const std::string& dir, std::string_view name) {
  return dir.empty() ? std::string(name) : JoinPath(dir, name);
}
}  // namespace

FileSystemError::FileSystemError(std::string operation, std::string path, std::string reason,
                                 int code)
    : IOError(operation + " " + path + ": " + reason),
      operation_(std::move(operation)),
      path_(std::move(path)),
      reason_(std::move(reason)),
      code_(code) {}

std::string IOErrorReason(const IOError& e) {
  if (auto* fs_error = dynamic_cast<const FileSystemError*>(&e)) return fs_error->reason();
  return e.what();
}

std::unique_ptr<SequentialFile> FileSystem::NewSequentialFile(const std::string& path) {
  NotSupported("open", path);
}
std::unique_ptr<RandomAccessFile> FileSystem::NewRandomAccessFile(const std::string& path) {
  NotSupported("open", path);
}
FileStat FileSystem::Stat(const std::string& path) { NotSupported("stat", path); }

std::string FileSystem::ReadFile(const std::string& path) {
  std::unique_ptr<SequentialFile> file = NewSequentialFile(path);
  constexpr size_t kChunk = 1 << 16;
  std::string contents;
  size_t size = 0;
  while (true) {
    contents.resize(size + kChunk);
    size_t got = file->Read(contents.data() + size, kChunk);
    if (got == 0) break;
    size += got;
  }
  contents.resize(size);
  return contents;
}

std::vector<std::string> FileSystem::GetMatchingPaths(const std::string& pattern) {
  return MatchPaths(*this, pattern);
}

std::string JoinPath(std::string_view dir, std::string_view name) {
  if (dir.empty()) return std::string(name);
  std::string path(dir);
  if (path.back() != '/') path += '/';
  path += name;
  return path;
}

std::string DirName(std::string_view path) {
  std::string_view scheme = PathScheme(path);
  if (scheme.empty()) return LocalDirName(path);
  const size_t prefix_size = scheme.size() + 3;  // "scheme://"
  std::string prefix(path.substr(0, prefix_size));
  std::string_view rest = path.substr(prefix_size);
  if (rest.empty()) return prefix;
  std::string dir = LocalDirName(rest);
  return dir == "." ? prefix : prefix + dir;
}

std::vector<std::string> MatchPaths(FileSystem& fs, const std::string& pattern) {
  std::string_view rest = pattern;
  std::string base(rest.substr(0, PathScheme(rest).empty() ? 0 : PathScheme(rest).size() + 3));
  rest.remove_prefix(base.size());
  if (!rest.empty() && rest.front() == '/') base += '/';
  std::vector<std::string_view> components;
  while (!rest.empty()) {
    size_t slash = rest.find('/');
    std::string_view c = rest.substr(0, slash);
    if (!c.empty()) components.push_back(c);
    rest.remove_prefix(slash == std::string_view::npos ? rest.size() : slash + 1);
  }
  if (std::none_of(components.begin(), components.end(), HasWildcard)) {
    if (fs.FileExists(Unescape(pattern))) return {Unescape(pattern)};
    return {};
  }
  std::vector<std::string> candidates{base};
  for (std::string_view component : components) {
    std::vector<std::string> next;
    const std::string glob(component);
    for (const std::string& dir : candidates) {
      if (!HasWildcard(component)) {
        next.push_back(Child(dir, Unescape(component)));
        continue;
      }
      std::vector<std::string> names;
      try {
        names = fs.ListDir(dir.empty() ? "." : dir);
      } catch (const FileSystemError& e) {
        if (e.code() == ENOENT || e.code() == ENOTDIR) continue;  // as glob(3): no match
        throw;
      }
      for (const std::string& name : names) {
        if (::fnmatch(glob.c_str(), name.c_str(), FNM_PERIOD) == 0)
          next.push_back(Child(dir, name));
      }
    }
    candidates = std::move(next);
  }
  if (!HasWildcard(components.back())) {
    std::erase_if(candidates, [&](const std::string& path) { return !fs.FileExists(path); });
  }
  std::sort(candidates.begin(), candidates.end());
  return candidates;
}

void WriteFileAtomically(FileSystem& fs, const std::string& path, std::string_view contents) {
  if (fs.HasAtomicWholeFileWrites(path)) {
    // The store publishes the object at Close or not at all: a writer that dies before leaves
    // the previous object (or none), which is what the rename buys elsewhere.
    std::unique_ptr<WritableFile> file = fs.NewWritableFile(path);
    file->Append(contents);
    file->Close();
    return;
  }
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
