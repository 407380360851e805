// RegisterRandomAccessSources: from_source over a Python object (len(source), source[i], and
// optionally source.get_batch(start, count)), and files of the file-system seam opened for
// ranged reads from Python (what the Parquet and Arrow readers of python/inputpipe/arrow.py
// read paths with a scheme through).
//
//   h = _core.from_source(source, name="parquet", params="columns=[a]", files=["a.parquet"],
//                         batch_size=0, drop_remainder=False, block_rows=1024,
//                         cache_bytes=256 << 20)
//   f = _core.open_random_access("memory://d/a.parquet"); f.size; f.read(offset, n) -> bytes
#include "inputpipe/source.h"

#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <cerrno>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bindings.h"
#include "inputpipe/file_system.h"

namespace inputpipe::python {

namespace {

using namespace nb::literals;

// A file of the seam, read at any offset; the GIL is released while it reads.
class PyRandomAccessFile {
 public:
  // A missing file is a FileNotFoundError (errno ENOENT, the path as its filename), whatever
  // the store; other failures the usual OSError.
  explicit PyRandomAccessFile(std::string path) : path_(std::move(path)) {
    try {
      GilRelease release;
      std::shared_ptr<FileSystem> fs = FileSystemForPath(path_);
      size_ = fs->Stat(path_).size;
      file_ = fs->NewRandomAccessFile(path_);
    } catch (const FileSystemError& e) {
      if (e.code() != ENOENT) throw;
      nb::object error = nb::handle(PyExc_FileNotFoundError)(ENOENT, e.what(), path_);
      PyErr_SetObject(PyExc_FileNotFoundError, error.ptr());
      throw nb::python_error();
    }
  }

  // Read straight into a new bytes object, not yet shared, so that the bytes of a Parquet row
  // group are written once (no zero-filled buffer, no copy into the bytes).
  nb::bytes Read(int64_t offset, int64_t n) const {
    if (offset < 0 || n < 0) throw InvalidArgumentError("read " + path_ + ": negative offset");
    const size_t want = static_cast<size_t>(std::max<int64_t>(0, std::min(n, size_ - offset)));
    PyObject* out = PyBytes_FromStringAndSize(nullptr, static_cast<Py_ssize_t>(want));
    if (out == nullptr) throw nb::python_error();
    nb::object owner = nb::steal(out);
    char* data = PyBytes_AS_STRING(out);
    size_t got = 0;
    {
      GilRelease release;
      while (got < want) {
        size_t r = file_->Read(static_cast<uint64_t>(offset) + got, want - got, data + got);
        if (r == 0) break;
        got += r;
      }
    }
    if (got < want) return nb::bytes(data, got);
    return nb::steal<nb::bytes>(owner.release());
  }

  int64_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int64_t size_ = 0;
  std::unique_ptr<RandomAccessFile> file_;
};

// read() of the source, its exception carried as a map function's is (CallWithElement): an
// inputpipe.DataLossError as the engine's own, so that ignore_errors skips the record; any
// other as a CarriedPythonError, which any thread may drop. REQUIRES: the GIL.
template <typename F>
nb::object Read(F&& read) {
  try {
    return read();
  } catch (nb::python_error& e) {
    if (!e.matches(DataLossErrorType())) throw CarriedPythonError(std::move(e));
    throw DataLossError(nb::cast<std::string>(nb::str(e.value())));
  }
}

}  // namespace

void RegisterRandomAccessSources(nb::module_& m) {
  m.def(
      "from_source",
      [](nb::object source, const std::string& name, const std::string& params,
         std::vector<std::string> files, int64_t batch_size, bool drop_remainder,
         int64_t block_rows, int64_t cache_bytes) {
        const std::string what = "from_source(fn=" + name + ")";
        PythonCallable holder(source);
        RandomAccessFunctions fns;
        fns.size = static_cast<int64_t>(nb::len(source));
        fns.get = [holder, what](int64_t index) {
          PythonSection section(what);
          return ElementFromPython(Read([&] { return holder.fn()[nb::int_(index)]; }),
                                   what.c_str());
        };
        if (nb::hasattr(source, "get_batch")) {
          fns.get_batch = [holder, what](int64_t start, int64_t count) {
            PythonSection section(what);
            return ElementFromPython(
                Read([&] { return nb::object(holder.fn().attr("get_batch")(start, count)); }),
                what.c_str());
          };
        }
        SourceOptions options{.name = name,
                              .params = params,
                              .files = std::move(files),
                              .batch_size = batch_size,
                              .drop_remainder = drop_remainder,
                              .block_rows = block_rows,
                              .cache_bytes = cache_bytes};
        DatasetPtr ds;
        {
          GilRelease release;  // identifying the files may call a Python file system
          ds = FromSource(std::move(fns), std::move(options));
        }
        return DatasetHandle{std::move(ds)};
      },
      "source"_a, "name"_a, "params"_a = "", "files"_a = std::vector<std::string>{},
      "batch_size"_a = 0, "drop_remainder"_a = false, "block_rows"_a = 0,
      "cache_bytes"_a = int64_t{256} << 20,
      "A random-access dataset over `source`: len(source) elements, element i = source[i]; "
      "with batch_size > 0, element j = source.get_batch(j * batch_size, count); with "
      "block_rows > 0 (unbatched), row i sliced out of source.get_batch(block start, "
      "block_rows), blocks cached up to cache_bytes. `files` enter the fingerprint by content.");

  nb::class_<PyRandomAccessFile>(m, "RandomAccessFile",
                                 "A file of the file-system seam, read at any offset.")
      .def_prop_ro("size", &PyRandomAccessFile::size)
      .def_prop_ro("path", &PyRandomAccessFile::path)
      .def("read", &PyRandomAccessFile::Read, "offset"_a, "n"_a,
           "Up to n bytes at `offset` (fewer only at the end of the file).");
  m.def(
      "open_random_access", [](const std::string& path) { return new PyRandomAccessFile(path); },
      "path"_a, nb::rv_policy::take_ownership,
      "Opens `path` through the file system of its scheme for reads at any offset.");
}

}  // namespace inputpipe::python
