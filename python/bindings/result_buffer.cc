// _core._ResultBuffer: memory owned by C++ that Python receives a worker process's result
// arrays into (inputpipe._processes), so that the tensor made from such an array points into
// it instead of copying it, and the last tensor frees it on whatever engine thread it dies,
// without the GIL (a numpy array's own memory would need the GIL to release).
//
//   buf = _ResultBuffer.allocate(n)       # n bytes on the heap, 64-byte aligned, not zeroed
//   sock.recv_into(buf)                   # the buffer protocol, writeable
//   m = _ResultBuffer.map(memfd, total)   # a memfd mapped (shared, prefaulted); fd not closed
//   part = m.slice(offset, size)          # a view sharing the mapping
//   np.ndarray(shape, dtype, buffer=part) # what the unpickler does with out-of-band buffers
//
// TensorFromPython (elements.cc) wraps such an array without copying: ResultBufferStorage
// finds the buffer behind the array (its base, or the memoryview its base is).
#include <nanobind/nanobind.h>

#include <sys/mman.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "bindings.h"

namespace inputpipe::python {

namespace {

struct ResultBuffer {
  // Keeps the bytes alive. For a heap buffer its get() is the data itself (a tensor wrapping it
  // whole may hand it on as the numpy array's memory, as for any buffer only it holds); for a
  // mapping it is the mapping's record, so that a tensor never takes a slice for its own.
  std::shared_ptr<const void> storage;
  char* data = nullptr;
  size_t size = 0;
};

struct Mapping {
  Mapping(void* address, size_t size) : address(address), size(size) {}
  Mapping(const Mapping&) = delete;  // one owner unmaps, once
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() { munmap(address, size); }
  void* address;
  size_t size;
};

constexpr size_t kAlign = 64;
constexpr char kSliceTag = 0;  // what a slice's storage.get() points to

ResultBuffer Allocate(size_t size) {
  const size_t rounded = (size + kAlign - 1) / kAlign * kAlign;
  void* data = std::aligned_alloc(kAlign, rounded == 0 ? kAlign : rounded);
  if (data == nullptr) throw std::bad_alloc();
  return ResultBuffer{std::shared_ptr<const void>(data, [](const void* p) {
                        std::free(const_cast<void*>(p));
                      }),
                      static_cast<char*>(data), size};
}

ResultBuffer Map(int fd, size_t size) {
  if (size == 0) return Allocate(0);
  // Prefaulted: one call maps every page, where reading a fresh mapping would fault on each.
  void* address = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
  if (address == MAP_FAILED) {
    const int error = errno;
    throw nb::builtin_exception(nb::exception_type::runtime_error,
                                ("_ResultBuffer.map: mmap of " + std::to_string(size) +
                                 " bytes failed: " + std::strerror(error))
                                    .c_str());
  }
  auto mapping = std::make_shared<const Mapping>(address, size);
  return ResultBuffer{mapping, static_cast<char*>(address), size};
}

ResultBuffer Slice(const ResultBuffer& buffer, size_t offset, size_t size) {
  if (offset > buffer.size || size > buffer.size - offset) {
    throw nb::value_error(("_ResultBuffer.slice: [" + std::to_string(offset) + ", +" +
                           std::to_string(size) + ") is outside its " +
                           std::to_string(buffer.size) + " bytes")
                              .c_str());
  }
  // Sharing the storage, but never as a whole buffer: a slice at offset 0 of a heap buffer
  // would otherwise look like a tensor's own memory (the aliasing constructor: the same
  // ownership, another get()).
  std::shared_ptr<const void> storage(buffer.storage, &kSliceTag);
  return ResultBuffer{std::move(storage), buffer.data + offset, size};
}

nb::handle result_buffer_type;

int GetBuffer(PyObject* self, Py_buffer* view, int flags) {
  ResultBuffer* buffer = nb::inst_ptr<ResultBuffer>(self);
  return PyBuffer_FillInfo(view, self, buffer->data, static_cast<Py_ssize_t>(buffer->size),
                           /*readonly=*/0, flags);
}

PyType_Slot kSlots[] = {{Py_bf_getbuffer, reinterpret_cast<void*>(GetBuffer)}, {0, nullptr}};

}  // namespace

std::shared_ptr<const void> ResultBufferStorage(PyObject* base, const void* data, size_t bytes) {
  if (base == nullptr || !result_buffer_type.is_valid()) return nullptr;
  if (PyMemoryView_Check(base)) base = PyMemoryView_GET_BUFFER(base)->obj;  // READONLY_BUFFER
  if (base == nullptr || Py_TYPE(base) != reinterpret_cast<PyTypeObject*>(
                                              result_buffer_type.ptr())) {
    return nullptr;
  }
  const ResultBuffer* buffer = nb::inst_ptr<ResultBuffer>(base);
  const char* begin = static_cast<const char*>(data);
  if (begin < buffer->data || bytes > buffer->size ||
      begin - buffer->data > static_cast<ptrdiff_t>(buffer->size - bytes)) {
    return nullptr;  // not inside it: copied as any other array
  }
  return buffer->storage;
}

void RegisterResultBuffers(nb::module_& m) {
  using namespace nb::literals;
  nb::class_<ResultBuffer> cls(m, "_ResultBuffer", nb::type_slots(kSlots));
  cls.def_static("allocate", &Allocate, "size"_a)
      .def_static("map", &Map, "fd"_a, "size"_a)
      .def("slice", &Slice, "offset"_a, "size"_a)
      .def("__len__", [](const ResultBuffer& b) { return b.size; });
  result_buffer_type = cls;
}

}  // namespace inputpipe::python
