// RegisterFileSystems: a file system written in Python, registered under a scheme of the C++
// registry (include/inputpipe/file_system.h), so that every reader, list_files, TFRecordWriter
// and the hook reach it by path:
//
//   class DictFS:                                  # what the wrapper calls; see the docstring
//       def open(self, path, mode): return io.BytesIO(self.files[path])      # "rb" / "wb"
//       def stat(self, path): return {"size": len(self.files[path])}
//       def list(self, path): return [names of the entries of directory `path`]
//   inputpipe.register_file_system("pyfs", DictFS())
//   inputpipe.TextLineDataset("pyfs://data/a.txt")
//
// Each call takes the GIL (PythonSection), so engine threads may read through it. Python
// exceptions become FileSystemErrors (IOError -> OSError) with the exception's type and message
// as the reason and an OSError's errno as the code, so a FileNotFoundError is a missing file;
// a BaseException that is no Exception (KeyboardInterrupt, SystemExit) keeps its type.
// RandomAccessFile::Read (seek + read on one file object) is serialised by a threading.Lock,
// whose wait releases the GIL: no engine lock is ever waited for with the GIL held.
//
// A store with a round trip per request (inputpipe.remote's fsspec stores) adds
// read_range(path, offset, n) -> bytes: its files are then read through inputpipe/remote_file.h,
// in large blocks fetched ahead on a C++ thread (random access: a cache of aligned blocks), each
// request retried with backoff, so that the GIL and the latency are paid per block, not per
// record. With open_stream(path, offset) -> an object with readinto(buffer) or read(n), and
// close(), sequential reads take their blocks from one streaming GET, reopened after an error or
// a seek; where that object also has socket_body() (a plain HTTP body of known length), C++
// reads the body from its socket without the GIL. open_range(path, offset, n) -> such an
// object for bytes [offset, offset + n) (or None) serves ranged reads the same way. The block
// sizes and retries come from the object's optional attributes
// (read_block_size, read_ahead_blocks, random_block_size, cached_blocks, max_attempts,
// initial_backoff_s). glob(pattern) -> paths answers list_files in one listing; a true
// atomic_writes says that a file written is published whole at close (one PUT), so checkpoints
// and sidecars are written without the temporary file and rename a store may not have.
#include "inputpipe/file_system.h"

#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

#include "bindings.h"
#include "inputpipe/remote_file.h"

namespace inputpipe::python {

namespace {
using namespace nb::literals;

// The errno of a Python exception: an OSError's errno, else 0.
int ErrnoOf(const nb::python_error& e) {
  if (!e.matches(PyExc_OSError)) return 0;
  nb::object value = nb::getattr(e.value(), "errno", nb::none());
  if (PyLong_Check(value.ptr())) return static_cast<int>(PyLong_AsLong(value.ptr()));
  if (e.matches(PyExc_FileNotFoundError)) return ENOENT;
  if (e.matches(PyExc_PermissionError)) return EACCES;
  if (e.matches(PyExc_NotADirectoryError)) return ENOTDIR;
  if (e.matches(PyExc_IsADirectoryError)) return EISDIR;
  return EIO;
}

// Runs fn (which must return C++ values only) holding the GIL; a Python exception or a result of
// the wrong type becomes a FileSystemError for `what` on `path`.
template <typename Fn>
auto CallPython(const std::string& what, const std::string& path, Fn&& fn) -> decltype(fn()) {
  PythonSection section("file system: " + what + " " + path);
  try {
    return fn();
  } catch (nb::python_error& e) {
    // KeyboardInterrupt, SystemExit: not a failure of the store, and not to be skipped as a bad
    // file by ignore_errors: they reach the caller as they are, as from a map function.
    if (!e.matches(PyExc_Exception)) throw;
    std::string reason = nb::type_name(e.type()).c_str();
    std::string message = nb::str(e.value()).c_str();
    if (!message.empty()) reason += ": " + message;
    throw FileSystemError(what, path, reason, ErrnoOf(e));
  } catch (const std::bad_cast&) {
    throw FileSystemError(what, path, "the Python file system returned a value of the wrong type",
                          EIO);
  }
}

// `obj` as bytes (bytes, bytearray, memoryview, ...). REQUIRES: the GIL.
nb::bytes AsBytes(const nb::handle& obj) {
  if (PyBytes_Check(obj.ptr())) return nb::borrow<nb::bytes>(obj);
  PyObject* b = PyBytes_FromObject(obj.ptr());
  if (b == nullptr) throw nb::python_error();
  return nb::steal<nb::bytes>(b);
}

// A Python object held by C++ (any thread): released with the GIL, closed first when it is a
// file.
class PyRef {
 public:
  explicit PyRef(nb::object obj) : ref_(std::move(obj)) {}
  const nb::object& get() const { return ref_.fn(); }

 private:
  PythonCallable ref_;  // its deleter takes the GIL
};

// Closes a file object, best effort (a close error has no one to go to here). Runs from
// destructors, also while an exception is on its way to Python (an iterator dropped as next()
// raises): the pending exception is set aside for the call, not replaced or lost.
void CloseQuietly(const PyRef& file) {
  try {
    PythonSection section("file system: close");
    nb::error_scope pending;
    try {
      file.get().attr("close")();
    } catch (nb::python_error& e) {
      e.discard_as_unraisable("inputpipe file system: close");
    }
  } catch (const Error&) {
    // Python is shutting down.
  }
}

// A size below zero is the store's bug, not an empty file: refused like a value of the wrong type.
FileStat StatFromPython(const nb::handle& st) {
  FileStat out;
  if (PyLong_Check(st.ptr())) {
    out.size = nb::cast<int64_t>(st);
  } else {
    nb::dict d = nb::cast<nb::dict>(st);
    out.size = nb::cast<int64_t>(d["size"]);
    if (d.contains("mtime_ns")) out.mtime_ns = nb::cast<int64_t>(d["mtime_ns"]);
    if (d.contains("identity")) out.identity = nb::cast<std::string>(nb::str(d["identity"]));
  }
  if (out.size < 0) throw std::bad_cast();
  return out;
}

class PySequentialFile : public SequentialFile {
 public:
  PySequentialFile(std::string path, nb::object file, FileStat stat)
      : path_(std::move(path)), file_(std::move(file)), stat_(std::move(stat)) {}
  ~PySequentialFile() override { CloseQuietly(file_); }

  size_t Read(char* dst, size_t n) override {
    return CallPython("read", path_, [&] {
      nb::bytes got = AsBytes(file_.get().attr("read")(n));
      if (got.size() > n) throw std::bad_cast();
      std::memcpy(dst, got.c_str(), got.size());
      return got.size();
    });
  }
  void Skip(uint64_t n) override {
    CallPython("seek", path_, [&] { file_.get().attr("seek")(n, 1); });
  }
  FileStat Stat() override { return stat_; }

 private:
  const std::string path_;
  const PyRef file_;
  const FileStat stat_;
};

class PyRandomAccessFile : public RandomAccessFile {
 public:
  PyRandomAccessFile(std::string path, nb::object file, nb::object lock)
      : path_(std::move(path)), file_(std::move(file)), lock_(std::move(lock)) {}
  ~PyRandomAccessFile() override { CloseQuietly(file_); }

  size_t Read(uint64_t offset, size_t n, char* dst) const override {
    return CallPython("read", path_, [&] {
      nb::object locked = lock_.get();
      locked.attr("acquire")();  // waits with the GIL released
      struct Release {
        nb::object& lock;
        ~Release() {
          try {
            lock.attr("release")();
          } catch (nb::python_error& e) {
            e.discard_as_unraisable("inputpipe file system: lock release");
          }
        }
      } release{locked};
      file_.get().attr("seek")(offset);
      nb::bytes got = AsBytes(file_.get().attr("read")(n));
      if (got.size() > n) throw std::bad_cast();
      std::memcpy(dst, got.c_str(), got.size());
      return got.size();
    });
  }

 private:
  const std::string path_;
  const PyRef file_;
  const PyRef lock_;  // a threading.Lock: seek + read as one step
};

class PyWritableFile : public WritableFile {
 public:
  PyWritableFile(std::string path, nb::object file)
      : path_(std::move(path)), file_(std::move(file)) {}
  ~PyWritableFile() override {
    if (!closed_) CloseQuietly(file_);
  }
  void Append(std::string_view data) override {
    CallPython("write", path_,
               [&] { file_.get().attr("write")(nb::bytes(data.data(), data.size())); });
  }
  void Sync() override {
    CallPython("fsync", path_, [&] { file_.get().attr("flush")(); });
  }
  void Close() override {
    closed_ = true;
    CallPython("close", path_, [&] { file_.get().attr("close")(); });
  }

 private:
  const std::string path_;
  const PyRef file_;
  bool closed_ = false;
};

// What Register learns once from the Python object's optional members.
struct PythonStoreTraits {
  bool read_range = false;     // has read_range(path, offset, n): block reads
  bool open_stream = false;    // has open_stream(path, offset): sequential reads stream
  bool open_range = false;     // has open_range(path, offset, n): ranged reads as bodies
  bool glob = false;           // has glob(pattern)
  bool atomic_writes = false;  // atomic_writes is true
  BlockReadOptions blocks;
};

// read_range(path, offset, n) of a Python store, for the block files of inputpipe/remote_file.h.
// open_stream(path, offset)'s object: read(n) -> up to n bytes (b"" at the end), close(); or
// readinto(buffer) -> the count of bytes it wrote into the buffer (short only at the end), which
// is preferred: the body is then read into one bytearray kept by the stream, with no bytes
// object made per block (for a body read with socket reads, half the client's CPU).
class PyRangeStream : public RangeStream {
 public:
  PyRangeStream(std::string path, PyRef body, bool readinto)
      : path_(std::move(path)), body_(std::move(body)), readinto_(readinto) {}
  ~PyRangeStream() override { CloseQuietly(body_); }
  std::string Read(size_t n) override {
    return CallPython("read", path_, [&] {
      if (!readinto_) {
        nb::bytes got = AsBytes(body_.get().attr("read")(n));
        return std::string(got.c_str(), got.size());
      }
      const auto want = static_cast<Py_ssize_t>(n);
      if (!buffer_ || PyByteArray_GET_SIZE(buffer_->get().ptr()) < want) {
        PyObject* b = PyByteArray_FromStringAndSize(nullptr, want);
        if (b == nullptr) throw nb::python_error();
        buffer_.emplace(nb::steal(b));
      }
      const nb::object& buffer = buffer_->get();
      nb::object target = buffer;
      if (PyByteArray_GET_SIZE(buffer.ptr()) > want) {  // a shorter read: a view of its start
        nb::object view = nb::steal(PyMemoryView_FromObject(buffer.ptr()));
        if (!view.is_valid()) throw nb::python_error();
        target = nb::steal(PySequence_GetSlice(view.ptr(), 0, want));
        if (!target.is_valid()) throw nb::python_error();
      }
      const size_t got = nb::cast<size_t>(body_.get().attr("readinto")(target));
      if (got > n) throw std::bad_cast();
      return std::string(PyByteArray_AS_STRING(buffer.ptr()), got);
    });
  }

 private:
  const std::string path_;
  const PyRef body_;
  const bool readinto_;
  std::optional<PyRef> buffer_;  // a bytearray, reused block after block (with the GIL)
};

// A body object (of open_stream or open_range) that also has socket_body() -> (fd, head,
// length, timeout_s, what), or None: a plain HTTP body of known length, whose headers Python
// read. The rest of the body is then read by C++ from that socket (NewSocketBodyStream),
// without the GIL; the Python object holds the socket open, and is closed after the C++ stream
// is gone.
class PySocketStream : public RangeStream {
 public:
  PySocketStream(PyRef body, std::unique_ptr<RangeStream> socket)
      : body_(std::move(body)), socket_(std::move(socket)) {}
  ~PySocketStream() override {
    socket_.reset();
    CloseQuietly(body_);
  }
  std::string Read(size_t n) override { return socket_->Read(n); }

 private:
  const PyRef body_;
  std::unique_ptr<RangeStream> socket_;
};

// The stream of a body object of open_stream or open_range (None: nullptr): read from its
// socket by C++ where it has socket_body() and that gives one, else through read(n) or
// readinto. REQUIRES: the GIL.
std::unique_ptr<RangeStream> StreamOf(const std::string& path, nb::object body) {
  if (body.is_none()) return nullptr;
  if (nb::hasattr(body, "socket_body")) {
    nb::object socket = body.attr("socket_body")();
    if (!socket.is_none()) {
      auto [fd, head, length, timeout_s, what] =
          nb::cast<std::tuple<int, nb::bytes, uint64_t, double, std::string>>(socket);
      return std::make_unique<PySocketStream>(
          PyRef(std::move(body)), NewSocketBodyStream(fd, std::string(head.c_str(), head.size()),
                                                      length, timeout_s, path, std::move(what)));
    }
  }
  const bool readinto = nb::hasattr(body, "readinto");
  return std::make_unique<PyRangeStream>(path, PyRef(std::move(body)), readinto);
}

class PyRangeReader : public RangeReader {
 public:
  PyRangeReader(PyRef fs, std::string path, bool streams, bool ranges_as_streams)
      : fs_(std::move(fs)),
        path_(std::move(path)),
        streams_(streams),
        ranges_as_streams_(ranges_as_streams) {}
  // Through open_range where the store has it (a bounded GET whose body C++ may read from the
  // socket, without the GIL), else read_range.
  std::string ReadRange(uint64_t offset, size_t n) override {
    if (ranges_as_streams_) {
      std::unique_ptr<RangeStream> body = CallPython("read", path_, [&] {
        return StreamOf(path_, fs_.get().attr("open_range")(path_, offset, n));
      });
      if (body != nullptr) {
        std::string out = ReadUpTo(*body, n);
        body.reset();  // closed here, not later on whichever thread drops it
        return out;
      }
    }
    return CallPython("read", path_, [&] {
      nb::bytes got = AsBytes(fs_.get().attr("read_range")(path_, offset, n));
      return std::string(got.c_str(), got.size());
    });
  }
  std::unique_ptr<RangeStream> OpenStream(uint64_t offset) override {
    if (!streams_) return nullptr;
    return CallPython("read", path_, [&] {
      return StreamOf(path_, fs_.get().attr("open_stream")(path_, offset));  // none: ranges
    });
  }

 private:
  const PyRef fs_;
  const std::string path_;
  const bool streams_;
  const bool ranges_as_streams_;
};

// The C++ side of a Python file system. Optional methods it lacks: exists (stat instead),
// makedirs (nothing to do, as in an object store), rename and remove (FileSystemError ENOSYS).
class PythonFileSystem : public FileSystem {
 public:
  PythonFileSystem(nb::object fs, PythonStoreTraits traits) : fs_(std::move(fs)), traits_(traits) {}

  std::unique_ptr<SequentialFile> NewSequentialFile(const std::string& path) override {
    FileStat st = Stat(path);
    if (traits_.read_range) {
      return NewReadAheadFile(
          std::make_shared<PyRangeReader>(fs_, path, traits_.open_stream, traits_.open_range),
          path, std::move(st), traits_.blocks);
    }
    nb::object file = Open(path, "rb");
    return std::make_unique<PySequentialFile>(path, std::move(file), std::move(st));
  }
  std::unique_ptr<RandomAccessFile> NewRandomAccessFile(const std::string& path) override {
    if (traits_.read_range) {
      return NewBlockCacheFile(
          std::make_shared<PyRangeReader>(fs_, path, traits_.open_stream, traits_.open_range),
          path, Stat(path), traits_.blocks);
    }
    nb::object file = Open(path, "rb");
    nb::object lock = CallPython(
        "open", path, [&] { return nb::object(nb::module_::import_("threading").attr("Lock")()); });
    return std::make_unique<PyRandomAccessFile>(path, std::move(file), std::move(lock));
  }
  std::unique_ptr<WritableFile> NewWritableFile(const std::string& path) override {
    return std::make_unique<PyWritableFile>(path, Open(path, "wb"));
  }
  bool HasAtomicWholeFileWrites(const std::string& path) override { return traits_.atomic_writes; }
  std::string ReadFile(const std::string& path) override {
    if (!traits_.read_range) return FileSystem::ReadFile(path);
    // A whole small file (a checkpoint, an index sidecar): one request, retried, no thread.
    const FileStat st = Stat(path);
    PyRangeReader ranges(fs_, path, false, traits_.open_range);
    return ReadRangeWithRetries(ranges, path, st.size, 0, static_cast<size_t>(st.size),
                                traits_.blocks);
  }
  std::vector<std::string> GetMatchingPaths(const std::string& pattern) override {
    if (!traits_.glob) return FileSystem::GetMatchingPaths(pattern);
    std::vector<std::string> paths = CallPython("list files", pattern, [&] {
      nb::object listed = fs_.get().attr("glob")(pattern);
      if (PyUnicode_Check(listed.ptr()) || PyBytes_Check(listed.ptr())) throw std::bad_cast();
      std::vector<std::string> out;
      for (nb::handle p : listed) out.push_back(nb::cast<std::string>(p));
      return out;
    });
    std::sort(paths.begin(), paths.end());
    return paths;
  }
  FileStat Stat(const std::string& path) override {
    return CallPython("stat", path, [&] { return StatFromPython(fs_.get().attr("stat")(path)); });
  }
  std::vector<std::string> ListDir(const std::string& dir) override {
    return CallPython("list directory", dir, [&] {
      nb::object listed = fs_.get().attr("list")(dir);
      // A str is iterable too, but as characters: a store returning one name is a bug.
      if (PyUnicode_Check(listed.ptr()) || PyBytes_Check(listed.ptr())) throw std::bad_cast();
      std::vector<std::string> names;
      for (nb::handle name : listed) names.push_back(nb::cast<std::string>(name));
      return names;
    });
  }
  bool FileExists(const std::string& path) override {
    if (Has("exists")) {
      return CallPython("stat", path,
                        [&] { return nb::cast<bool>(fs_.get().attr("exists")(path)); });
    }
    try {
      Stat(path);
      return true;
    } catch (const FileSystemError& e) {
      if (e.code() == ENOENT || e.code() == ENOTDIR) return false;
      throw;
    }
  }
  void RenameFile(const std::string& from, const std::string& to) override {
    Optional("rename", "rename " + from + " to", to, [&] { fs_.get().attr("rename")(from, to); });
  }
  void DeleteFile(const std::string& path) override {
    Optional("remove", "delete", path, [&] { fs_.get().attr("remove")(path); });
  }
  void CreateDirs(const std::string& dir) override {
    if (Has("makedirs")) CallPython("mkdir", dir, [&] { fs_.get().attr("makedirs")(dir); });
  }
  void SyncDir(const std::string& dir) override {}

 private:
  // A holder of a new reference, so that it is released with the GIL on any thread.
  nb::object Open(const std::string& path, const char* mode) {
    return CallPython("open", path, [&] { return nb::object(fs_.get().attr("open")(path, mode)); });
  }
  bool Has(const char* method) {
    return CallPython(method, "", [&] { return nb::hasattr(fs_.get(), method); });
  }
  template <typename Fn>
  void Optional(const char* method, const std::string& what, const std::string& path, Fn&& fn) {
    if (!Has(method)) {
      throw FileSystemError(what, path,
                            std::string("the Python file system has no ") + method + "()", ENOSYS);
    }
    CallPython(what, path, fn);
  }

  const PyRef fs_;
  const PythonStoreTraits traits_;
};

// The optional attribute `name` of `fs` as T, else `fallback`; a TypeError naming the scheme
// for a value of the wrong type or not positive.
template <typename T>
T PositiveAttr(const nb::object& fs, const char* name, T fallback, const std::string& scheme) {
  nb::object value = nb::getattr(fs, name, nb::none());
  if (value.is_none()) return fallback;
  T out;
  if (!nb::try_cast<T>(value, out) || !(out > 0)) {
    throw nb::type_error(("register_file_system: " + std::string(name) + " of the file system " +
                          "for '" + scheme + "' must be a positive number")
                             .c_str());
  }
  return out;
}

void Register(const std::string& scheme, nb::object fs) {
  for (const char* method : {"open", "stat", "list"}) {
    if (!nb::hasattr(fs, method)) {
      throw nb::type_error(("register_file_system: the file system for '" + scheme + "' has no " +
                            method + "() method")
                               .c_str());
    }
  }
  PythonStoreTraits traits;
  traits.read_range = nb::hasattr(fs, "read_range");
  traits.open_stream = traits.read_range && nb::hasattr(fs, "open_stream");
  traits.open_range = traits.read_range && nb::hasattr(fs, "open_range");
  traits.glob = nb::hasattr(fs, "glob");
  nb::object atomic = nb::getattr(fs, "atomic_writes", nb::none());
  const int truth = PyObject_IsTrue(atomic.ptr());
  if (truth < 0) throw nb::python_error();
  traits.atomic_writes = truth == 1;
  BlockReadOptions& b = traits.blocks;
  b.block_size = PositiveAttr<size_t>(fs, "read_block_size", b.block_size, scheme);
  b.read_ahead_blocks = PositiveAttr<int>(fs, "read_ahead_blocks", b.read_ahead_blocks, scheme);
  b.random_block_size = PositiveAttr<size_t>(fs, "random_block_size", b.random_block_size, scheme);
  b.cached_blocks = PositiveAttr<size_t>(fs, "cached_blocks", b.cached_blocks, scheme);
  b.max_attempts = PositiveAttr<int>(fs, "max_attempts", b.max_attempts, scheme);
  b.initial_backoff_s = PositiveAttr<double>(fs, "initial_backoff_s", b.initial_backoff_s, scheme);
  RegisterFileSystem(scheme, std::make_shared<PythonFileSystem>(std::move(fs), traits));
}
}  // namespace

void RegisterFileSystems(nb::module_& m) {
  m.def("register_file_system", &Register, "scheme"_a, "fs"_a,
        "Makes `fs` the file system of paths '<scheme>://...' for every reader, list_files, "
        "TFRecordWriter and the checkpoint hook. `fs` has open(path, mode) -> a binary file "
        "(mode 'rb': read(n), seek(offset[, whence]); 'wb': write(b), flush(), close()), "
        "stat(path) -> the size or {'size', 'mtime_ns', 'identity'}, list(path) -> entry "
        "names; optionally exists, makedirs, rename, remove; read_range(path, offset, n) -> bytes "
        "(then files are read in large blocks, ahead, on a C++ thread, with retries), "
        "open_stream(path, offset) -> an object with read(n) and close() (sequential reads "
        "then stream; with socket_body() -> (fd, head, length, timeout_s, what) C++ reads the "
        "body from that socket), open_range(path, offset, n) -> such an object or None (ranged "
        "reads then go through it), "
        "glob(pattern) -> paths, atomic_writes = True (a file written is published whole at "
        "close: no temporary file and rename). Raise FileNotFoundError for a missing path, "
        "PermissionError for a refused one. Paths are passed whole, scheme included.");
  m.def(
      "unregister_file_system",
      [](const std::string& scheme) { return UnregisterFileSystem(scheme); }, "scheme"_a,
      "Removes the file system of `scheme`; False when there was none. Datasets already built "
      "keep theirs.");
  m.def("registered_file_systems", &RegisteredFileSystems, "The registered schemes, sorted.");
  m.def(
      "write_file",
      [](const std::string& path, nb::bytes data) {
        std::string contents(data.c_str(), data.size());
        GilRelease release;
        WriteFileAtomically(DefaultFileSystem(), path, contents);
      },
      "path"_a, "data"_a,
      "Writes `data` to `path` through the file system of its scheme (e.g. 'memory://'), "
      "crash-safely: a temporary file, fsync, rename.");
  m.def(
      "read_file",
      [](const std::string& path) {
        std::string contents;
        {
          GilRelease release;
          contents = DefaultFileSystem().ReadFile(path);
        }
        return nb::bytes(contents.data(), contents.size());
      },
      "path"_a, "The contents of `path`, through the file system of its scheme.");
}

}  // namespace inputpipe::python
