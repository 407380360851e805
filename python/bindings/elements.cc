// Element <-> Python (numpy) conversion and Python callables wrapped as C++ functions.
// The dtype rules are in bindings.h. Tensors are copied both ways: numpy arrays handed to
// users are theirs to write to, and arrays passed in may change after the call. The one
// exception is an element handed over (ElementToPythonHandingOver: what an iterator returns):
// a buffer no one else holds becomes the numpy array's own memory, viewed, not copied, since
// writes to it can reach no one. Arrays are made with numpy's C API: a Python-level np.empty
// per element would cost more than the engine's own work per element.
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <utility>

#include "bindings.h"
#include "inputpipe/errors.h"
#include "inputpipe/ragged.h"

// numpy's C API, used in this file only (its function table is static here; import_array()
// runs in RegisterShutdown, at module import).
#define NPY_NO_DEPRECATED_API NPY_1_19_API_VERSION
#include <numpy/arrayobject.h>

namespace inputpipe::python {

namespace {

using namespace nb::literals;

// str(obj) / repr(obj) / type(obj).__name__ as UTF-8, for error messages.
std::string PyText(PyObject* text) {
  if (!text) throw nb::python_error();
  nb::object owned = nb::steal(text);
  const char* utf8 = PyUnicode_AsUTF8(text);
  if (!utf8) throw nb::python_error();
  return utf8;
}
std::string Str(nb::handle obj) { return PyText(PyObject_Str(obj.ptr())); }
std::string Repr(nb::handle obj) { return PyText(PyObject_Repr(obj.ptr())); }
std::string TypeName(nb::handle obj) { return Py_TYPE(obj.ptr())->tp_name; }


// numpy's type number for `dtype`: the canonical one (NPY_INT64 is "long" on Linux, so arrays
// print without "dtype=int64", as users expect). bfloat16 has none of its own: see
// BFloat16Descr.
int NumpyTypeNum(DType dtype) {
  switch (dtype) {
    case DType::kBool: return NPY_BOOL;
    case DType::kInt8: return NPY_INT8;
    case DType::kInt16: return NPY_INT16;
    case DType::kInt32: return NPY_INT32;
    case DType::kInt64: return NPY_INT64;
    case DType::kUInt8: return NPY_UINT8;
    case DType::kUInt16: return NPY_UINT16;
    case DType::kUInt32: return NPY_UINT32;
    case DType::kUInt64: return NPY_UINT64;
    case DType::kFloat16: return NPY_FLOAT16;
    case DType::kFloat32: return NPY_FLOAT32;
    case DType::kFloat64: return NPY_FLOAT64;
    case DType::kComplex64: return NPY_COMPLEX64;
    case DType::kComplex128: return NPY_COMPLEX128;
    case DType::kString: return NPY_OBJECT;
    case DType::kBFloat16: break;
  }
  throw InvalidArgumentError("no numpy dtype for " + std::string(DTypeName(dtype)));
}

// numpy's bfloat16 dtype, from ml_dtypes (the package JAX uses): imported the first time a
// bfloat16 tensor crosses into Python, so inputpipe needs it only where bfloat16 is used.
// Returns a new reference. REQUIRES: the GIL.
PyArray_Descr* BFloat16Descr() {
  // Never released: a static nb::object would be released after the interpreter is gone.
  static nb::object* dtype = nullptr;
  if (dtype == nullptr) {
    nb::object ml_dtypes;
    try {
      ml_dtypes = nb::module_::import_("ml_dtypes");
    } catch (nb::python_error&) {
      throw FailedPreconditionError(
          "a bfloat16 tensor needs the ml_dtypes package in Python (numpy has no bfloat16): "
          "pip install ml_dtypes");
    }
    nb::object numpy = nb::module_::import_("numpy");
    dtype = new nb::object(numpy.attr("dtype")(ml_dtypes.attr("bfloat16")));
  }
  Py_INCREF(dtype->ptr());
  return reinterpret_cast<PyArray_Descr*>(dtype->ptr());
}

// A new reference to numpy's dtype for `dtype`.
PyArray_Descr* NumpyDescr(DType dtype) {
  if (dtype == DType::kBFloat16) return BFloat16Descr();
  return PyArray_DescrFromType(NumpyTypeNum(dtype));
}

nb::object NewArray(const Tensor& t, PyArray_Descr* descr) {  // steals `descr`
  std::vector<npy_intp> dims(t.shape().begin(), t.shape().end());
  PyObject* array = PyArray_NewFromDescr(&PyArray_Type, descr, static_cast<int>(dims.size()),
                                         dims.data(), nullptr, nullptr, 0, nullptr);
  if (!array) throw nb::python_error();
  return nb::steal(array);
}

// The capsule that owns a handed-over buffer: the base object of the numpy array viewing it.
constexpr const char* kBufferCapsule = "inputpipe.buffer";
void ReleaseBuffer(PyObject* capsule) {
  delete static_cast<std::shared_ptr<const void>*>(PyCapsule_GetPointer(capsule, kBufferCapsule));
}

// A writeable numpy array over `t`'s buffer, which it keeps alive through a capsule.
// REQUIRES: t.owns_unshared_buffer(), and the caller drops its tensor right after.
nb::object ViewArray(const Tensor& t) {
  std::vector<npy_intp> dims(t.shape().begin(), t.shape().end());
  PyObject* array = PyArray_NewFromDescr(
      &PyArray_Type, NumpyDescr(t.dtype()), static_cast<int>(dims.size()), dims.data(), nullptr,
      const_cast<void*>(t.raw_data()), NPY_ARRAY_CARRAY, nullptr);
  if (!array) throw nb::python_error();
  nb::object owned = nb::steal(array);
  auto* holder = new std::shared_ptr<const void>(t.storage_owner());
  PyObject* capsule = PyCapsule_New(holder, kBufferCapsule, ReleaseBuffer);
  if (!capsule) {
    delete holder;
    throw nb::python_error();
  }
  // Steals the capsule, even on failure.
  if (PyArray_SetBaseObject(reinterpret_cast<PyArrayObject*>(array), capsule) != 0) {
    throw nb::python_error();
  }
  return owned;
}

nb::object TensorToPython(const Tensor& t, bool hand_over) {
  if (t.is_string()) {
    const std::vector<std::string>& strings = t.strings();
    if (t.rank() == 0) return nb::bytes(strings[0].data(), strings[0].size());
    nb::object array = NewArray(t, PyArray_DescrFromType(NPY_OBJECT));
    PyObject** items =
        static_cast<PyObject**>(PyArray_DATA(reinterpret_cast<PyArrayObject*>(array.ptr())));
    for (size_t i = 0; i < strings.size(); ++i) {
      PyObject* item = PyBytes_FromStringAndSize(strings[i].data(), strings[i].size());
      if (!item) throw nb::python_error();
      Py_XDECREF(items[i]);  // numpy fills a new object array with None (or NULL)
      items[i] = item;
    }
    return array;
  }
  if (t.rank() == 0) {
    // A scalar is a numpy scalar (np.int64(3)), as tf.data's as_numpy_iterator gives.
    PyArray_Descr* descr = NumpyDescr(t.dtype());
    PyObject* scalar = PyArray_Scalar(const_cast<void*>(t.raw_data()), descr, nullptr);
    Py_DECREF(descr);
    if (!scalar) throw nb::python_error();
    return nb::steal(scalar);
  }
  if (hand_over && t.owns_unshared_buffer()) return ViewArray(t);
  nb::object array = NewArray(t, NumpyDescr(t.dtype()));
  if (size_t bytes = t.byte_size(); bytes > 0) {
    std::memcpy(PyArray_DATA(reinterpret_cast<PyArrayObject*>(array.ptr())), t.raw_data(), bytes);
  }
  return array;
}

std::string BytesOf(nb::handle item, const char* what) {
  if (PyBytes_Check(item.ptr())) {
    return std::string(PyBytes_AS_STRING(item.ptr()), PyBytes_GET_SIZE(item.ptr()));
  }
  if (PyUnicode_Check(item.ptr())) {
    Py_ssize_t size = 0;
    const char* data = PyUnicode_AsUTF8AndSize(item.ptr(), &size);
    if (!data) throw nb::python_error();
    return std::string(data, size);
  }
  throw InvalidArgumentError(std::string(what) + ": a string tensor holds str or bytes, not " +
                             TypeName(item));
}

DType NumericDType(char kind, int64_t itemsize, PyObject* array, const char* what) {
  if (kind == 'b') return DType::kBool;
  if (kind == 'i') {
    switch (itemsize) {
      case 1: return DType::kInt8;
      case 2: return DType::kInt16;
      case 4: return DType::kInt32;
      case 8: return DType::kInt64;
    }
  }
  if (kind == 'u') {
    switch (itemsize) {
      case 1: return DType::kUInt8;
      case 2: return DType::kUInt16;
      case 4: return DType::kUInt32;
      case 8: return DType::kUInt64;
    }
  }
  if (kind == 'f') {
    switch (itemsize) {
      case 2: return DType::kFloat16;
      case 4: return DType::kFloat32;
      case 8: return DType::kFloat64;
    }
  }
  if (kind == 'c') {
    switch (itemsize) {
      case 8: return DType::kComplex64;
      case 16: return DType::kComplex128;
    }
  }
  std::string name = Str(nb::handle(array).attr("dtype"));
  // ml_dtypes' bfloat16 (kind 'V'): known by its name, so that ml_dtypes is never imported here.
  if (itemsize == 2 && name == "bfloat16") return DType::kBFloat16;
  throw InvalidArgumentError(
      std::string(what) + ": unsupported dtype " + name +
      " (supported: bool, int8, int16, int32, int64, uint8, uint16, uint32, uint64, float16, "
      "bfloat16, float32, float64, complex64, complex128, string)");
}

void ReleaseWithGil(nb::object* fn);

// Keeps a numpy array alive for a tensor that points into it; the last reference may drop on
// any thread.
std::shared_ptr<const void> HoldArray(nb::object array) {
  return std::shared_ptr<const void>(new nb::object(std::move(array)), [](const void* p) {
    ReleaseWithGil(const_cast<nb::object*>(static_cast<const nb::object*>(p)));
  });
}

Tensor TensorFromPython(nb::handle obj, const char* what, bool zero_copy) {
  if (PyBytes_Check(obj.ptr()) || PyUnicode_Check(obj.ptr())) {
    return Tensor::String(BytesOf(obj, what));
  }
  if (obj.is_none()) throw InvalidArgumentError(std::string(what) + ": None is not a tensor");
  // numpy.asarray(obj): C-contiguous and aligned.
  PyObject* raw = PyArray_FromAny(obj.ptr(), nullptr, 0, 0,
                                  NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED, nullptr);
  if (!raw) {
    // numpy's ValueError ("setting an array element with a sequence ... inhomogeneous shape")
    // names neither the op nor the value: lists of different lengths, say.
    nb::python_error error;
    if (!error.matches(PyExc_ValueError)) throw error;
    throw InvalidArgumentError(std::string(what) + ": cannot make a tensor of this " +
                               Py_TYPE(obj.ptr())->tp_name + " (numpy: " +
                               nb::str(error.value()).c_str() +
                               "); rows of different lengths are no tensor: pad them");
  }
  nb::object owner = nb::steal(raw);
  PyArrayObject* array = reinterpret_cast<PyArrayObject*>(raw);
  if (!PyArray_Check(obj.ptr()) &&
      (PyArray_DESCR(array)->kind == 'S' || PyArray_DESCR(array)->kind == 'U')) {
    // Python strings (a list of bytes): numpy's fixed-width 'S' / 'U' dtypes drop trailing NULs
    // (b"ab\0" -> b"ab"), so they are converted again as objects, byte-exact. A numpy 'S' array
    // given as such keeps numpy's meaning (its trailing NULs are padding).
    raw = PyArray_FromAny(obj.ptr(), PyArray_DescrFromType(NPY_OBJECT), 0, 0,  // steals it
                          NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED, nullptr);
    if (!raw) throw nb::python_error();
    owner = nb::steal(raw);
    array = reinterpret_cast<PyArrayObject*>(raw);
  }
  if (!PyArray_ISNOTSWAPPED(array)) {
    // A non-native byte order ('>i4' here) is converted, never read as if it were native.
    PyArray_Descr* native = PyArray_DescrNewByteorder(PyArray_DESCR(array), NPY_NATIVE);
    if (!native) throw nb::python_error();
    raw = PyArray_FromAny(owner.ptr(), native, 0, 0,  // steals `native`
                          NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED | NPY_ARRAY_FORCECAST,
                          nullptr);
    if (!raw) throw nb::python_error();
    owner = nb::steal(raw);
    array = reinterpret_cast<PyArrayObject*>(raw);
  }
  Shape shape(PyArray_DIMS(array), PyArray_DIMS(array) + PyArray_NDIM(array));
  char kind = PyArray_DESCR(array)->kind;
  if (kind == 'U' || kind == 'S' || kind == 'O') {
    std::vector<std::string> strings;
    strings.reserve(NumElements(shape));
    nb::object flat = nb::steal(PyArray_Ravel(array, NPY_CORDER));
    if (!flat.is_valid()) throw nb::python_error();
    for (nb::handle item : flat.attr("tolist")()) strings.push_back(BytesOf(item, what));
    return Tensor::FromStrings(std::move(strings), std::move(shape));
  }
  DType dt = NumericDType(kind, PyArray_ITEMSIZE(array), raw, what);
  // Zero-copy where no one else can change the bytes: an array numpy just made for us (from a
  // list, or a converted copy), or a read-only one (np.load(mmap_mode='r'), a view with
  // writeable=False: taken as the caller's promise not to change it). A writeable array of the
  // caller's is copied, so later writes to it cannot change the dataset (tf.data's semantics).
  bool private_copy = raw != obj.ptr() && PyArray_CHKFLAGS(array, NPY_ARRAY_OWNDATA);
  if (zero_copy && (private_copy || !PyArray_ISWRITEABLE(array))) {
    return Tensor::WrapExternal(dt, std::move(shape), PyArray_DATA(array),
                                HoldArray(std::move(owner)));
  }
  // A worker process's result, received into C++ memory (result_buffer.cc): pointed into, and
  // released without the GIL.
  if (PyArray_IS_C_CONTIGUOUS(array) && PyArray_ISALIGNED(array)) {
    if (std::shared_ptr<const void> storage = ResultBufferStorage(
            PyArray_BASE(array), PyArray_DATA(array), static_cast<size_t>(PyArray_NBYTES(array)))) {
      return Tensor::WrapExternal(dt, std::move(shape), PyArray_DATA(array), std::move(storage));
    }
  }
  Tensor t = Tensor::Allocate(dt, std::move(shape));
  if (size_t bytes = t.byte_size(); bytes > 0) {
    if (static_cast<size_t>(PyArray_NBYTES(array)) != bytes) {
      throw InvalidArgumentError(std::string(what) + ": numpy array has " +
                                 std::to_string(PyArray_NBYTES(array)) + " bytes, expected " +
                                 std::to_string(bytes));
    }
    std::memcpy(t.mutable_raw_data(), PyArray_DATA(array), bytes);
  }
  return t;
}

bool IsDataset(nb::handle obj) {
  return nb::isinstance<DatasetHandle>(obj) || nb::hasattr(obj, "_handle");
}

// ---- Shutdown -------------------------------------------------------------------------------
// Engine threads in (or waiting to enter) a PythonSection, Python threads taking the GIL back
// (GilRelease), and whether Python is closed to them. Never destroyed: threads may still use it
// while the process runs its static destructors, after the interpreter is gone. (The bindings
// see only the public headers, so they use std::mutex without the engine's checked annotations.)
struct Shutdown {
  // Sequentially consistent: a caller counts itself in, then reads `closed`; ClosePython sets
  // `closed`, then reads the count. One of the two sees the other.
  std::atomic<bool> closed{false};
  std::atomic<int64_t> in_flight{0};
  std::mutex mu;  // orders the last leaver's notify after ClosePython's check
  std::condition_variable done;
  std::thread::id finalizing;  // the thread that ran ClosePython; guarded by mu
};
Shutdown& TheShutdown() {
  static Shutdown* shutdown = new Shutdown();
  return *shutdown;
}

void LeavePython() {
  Shutdown& s = TheShutdown();
  if (s.in_flight.fetch_sub(1) == 1 && s.closed.load()) {
    std::lock_guard<std::mutex> lock(s.mu);
    s.done.notify_all();
  }
}
// Counts the caller in, as one about to take the GIL; false (not counted) once Python is closed.
bool EnterPython() {
  Shutdown& s = TheShutdown();
  s.in_flight.fetch_add(1);  // before the check: ClosePython waits for every counted caller
  if (!s.closed.load()) return true;
  LeavePython();
  return false;
}
// Python is closed and the caller is not the thread finalising it (which may still run Python:
// the garbage collector, atexit handlers registered before this module's).
bool ClosedToThisThread() {
  Shutdown& s = TheShutdown();
  if (!s.closed.load()) return false;
  std::lock_guard<std::mutex> lock(s.mu);
  return s.finalizing != std::this_thread::get_id();
}

// A thread that must never run again: it sleeps until the process exits.
[[noreturn]] void ParkForever() {
  for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
}

// atexit: runs before finalisation, while worker threads can still take the GIL (CPython runs
// atexit handlers after joining the non-daemon threads, before it starts finalising). Closes
// Python to engine threads and to Python threads coming back from C++, then lets the ones
// already waiting for the GIL finish (bounded: a callable that never returns must not hang the
// exit).
// The first half of ClosePython, without the wait: from now on engine threads cannot enter
// Python and Python threads coming back from C++ park (GilRelease). inputpipe._processes calls
// it at exit before it stops its worker processes, so that a consumer whose call fails because
// of that stop (a daemon thread inside next()) parks rather than raising at exit.
void CloseToThreads() {
  Shutdown& s = TheShutdown();
  {
    std::lock_guard<std::mutex> lock(s.mu);
    s.finalizing = std::this_thread::get_id();
  }
  s.closed.store(true);
}

void ClosePython() {
  Shutdown& s = TheShutdown();
  CancelOwedInterrupt();
  CloseToThreads();
  nb::gil_scoped_release release;
  std::unique_lock<std::mutex> lock(s.mu);
  s.done.wait_for(lock, std::chrono::seconds(10), [&] { return s.in_flight.load() == 0; });
}

// Deletes a Python reference held by C++ code, from any thread.
void ReleaseWithGil(nb::object* fn) {
  try {
    PythonSection section("releasing a Python callable");
    delete fn;
  } catch (const FailedPreconditionError&) {
    // Leaked: Python is shutting down and can no longer take the reference back.
  }
}

// Deletes a carried Python exception, from any thread (CarriedPythonError).
void ReleaseErrorWithGil(const nb::python_error* error) {
  try {
    PythonSection section("releasing a Python exception");
    delete error;
  } catch (const FailedPreconditionError&) {
    // Leaked: Python is shutting down and can no longer take the references back.
  }
}

}  // namespace

namespace {
// inputpipe.ragged.RaggedArray, imported at its first use (never released, as BFloat16Descr's).
const nb::object& RaggedArrayType() {
  static nb::object* type = nullptr;
  if (type == nullptr) {
    type = new nb::object(nb::module_::import_("inputpipe.ragged").attr("RaggedArray"));
  }
  return *type;
}

// hand_over: no one but the caller holds the element's nodes, which it drops after the call.
nb::object ToPython(const Element& element, bool hand_over) {
  hand_over = hand_over && !element.shares_node();
  switch (element.kind()) {
    case Element::Kind::kTensor:
      return TensorToPython(element.tensor(), hand_over);
    case Element::Kind::kTuple: {
      nb::list items;
      for (const Element& child : element.children()) items.append(ToPython(child, hand_over));
      return nb::tuple(items);
    }
    case Element::Kind::kDict: {
      if (IsRagged(element)) {
        return RaggedArrayType().attr("_from_parts")(ToPython(element.children()[1], hand_over),
                                                     ToPython(element.children()[0], hand_over));
      }
      nb::dict out;
      for (size_t i = 0; i < element.size(); ++i) {
        out[nb::str(element.keys()[i].c_str())] = ToPython(element.children()[i], hand_over);
      }
      return out;
    }
    case Element::Kind::kDataset:
      return WrapDataset(element.dataset());
  }
  throw InvalidArgumentError("unknown element kind");
}
}  // namespace

nb::object ElementToPython(const Element& element) { return ToPython(element, false); }

nb::object ElementToPythonHandingOver(Element element) { return ToPython(element, true); }

Element ElementFromPython(nb::handle obj, const char* what, bool zero_copy) {
  if (PyTuple_Check(obj.ptr())) {
    std::vector<Element> items;
    for (nb::handle item : nb::borrow<nb::tuple>(obj)) {
      items.push_back(ElementFromPython(item, what, zero_copy));
    }
    return Element::Tuple(std::move(items));
  }
  if (PyDict_Check(obj.ptr())) {
    std::vector<std::pair<std::string, Element>> items;
    for (auto [key, value] : nb::borrow<nb::dict>(obj)) {
      if (!PyUnicode_Check(key.ptr())) {
        throw InvalidArgumentError(std::string(what) + ": dict keys must be str, got " +
                                   Repr(key));
      }
      items.emplace_back(nb::cast<std::string>(key), ElementFromPython(value, what, zero_copy));
    }
    std::sort(items.begin(), items.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    return Element::Dict(std::move(items));
  }
  if (IsDataset(obj)) return Element::FromDataset(UnwrapDataset(obj, what));
  if (Py_TYPE(obj.ptr()) == reinterpret_cast<PyTypeObject*>(RaggedArrayType().ptr())) {
    // The values: an array, or a RaggedArray (ragged_rank 2 and more).
    return MakeRagged(ElementFromPython(obj.attr("values"), what, zero_copy),
                      TensorFromPython(obj.attr("row_splits"), what, zero_copy));
  }
  return Element(TensorFromPython(obj, what, zero_copy));
}

DatasetPtr UnwrapDataset(nb::handle obj, const char* what) {
  if (nb::isinstance<DatasetHandle>(obj)) return nb::cast<DatasetHandle&>(obj).dataset;
  if (nb::hasattr(obj, "_handle")) {
    nb::object handle = obj.attr("_handle");
    if (nb::isinstance<DatasetHandle>(handle)) return nb::cast<DatasetHandle&>(handle).dataset;
  }
  throw nb::type_error((std::string(what) + ": expected an inputpipe.Dataset, got " +
                        TypeName(obj))
                           .c_str());
}

nb::object WrapDataset(DatasetPtr dataset) {
  nb::object cls = nb::module_::import_("inputpipe.dataset").attr("Dataset");
  return cls.attr("_from_handle")(DatasetHandle{std::move(dataset)});
}

// ---- Python callables ---------------------------------------------------------------------

const nb::object& Numpy() {
  // Never released: a static nb::object would be released after the interpreter is gone.
  static nb::object* numpy = new nb::object(nb::module_::import_("numpy"));
  return *numpy;
}

PythonSection::PythonSection(const std::string& what) {
  // Counted before the GIL is taken: ClosePython waits for every counted section.
  if (!EnterPython()) {
    throw FailedPreconditionError(what + ": the Python interpreter is shutting down");
  }
  PythonSectionOpening();  // other threads waiting for the GIL first (gil_handoff.cc)
  gil_ = PyGILState_Ensure();
  PythonSectionOpened();
}

PythonSection::~PythonSection() {
  PyGILState_Release(gil_);
  PythonSectionClosed();
  LeavePython();
}

GilRelease::GilRelease() : state_(PyEval_SaveThread()) {}

GilRelease::~GilRelease() {
  if (EnterPython()) {
    {
      ReturningToPython returning;  // engine threads let this thread take the GIL first
      PyEval_RestoreThread(state_);
    }
    LeavePython();
  } else if (ClosedToThisThread()) {
    // Taking the GIL now could end this thread with pthread_exit (finalisation may have begun),
    // unwinding through this noexcept destructor: std::terminate. The process is exiting.
    ParkForever();
  } else {
    PyEval_RestoreThread(state_);  // the finalising thread: it holds the interpreter
  }
}

void RegisterShutdown(nb::module_& m) {
  if (_import_array() < 0) throw nb::python_error();  // numpy's C API for this file
  nb::module_::import_("atexit").attr("register")(nb::cpp_function(&ClosePython));
  m.def("_close_to_threads", &CloseToThreads);
}

PythonCallable::PythonCallable(nb::object fn)
    : fn_(new nb::object(std::move(fn)), &ReleaseWithGil) {}

CarriedPythonError::CarriedPythonError(nb::python_error&& error)
    : error_(new nb::python_error(std::move(error)), &ReleaseErrorWithGil),
      message_(std::make_shared<const std::string>(error_->what())) {}

void CarriedPythonError::Restore() const {
  nb::python_error copy(*error_);  // restore() consumes its error: this one stays for a repeat
  copy.restore();
}

nb::object PythonCallable::CallWithElement(const Element& element) const {
  nb::object arg = ElementToPython(element);
  try {
    if (element.is_tuple()) return (*fn_)(*nb::borrow<nb::tuple>(arg));
    return (*fn_)(arg);
  } catch (nb::python_error& e) {
    // A function raising inputpipe.DataLossError reports a bad record, as a reader does: the
    // engine's own type, so that ignore_errors skips it and a replay expects it again.
    if (!e.matches(DataLossErrorType())) throw CarriedPythonError(std::move(e));
    throw DataLossError(nb::cast<std::string>(nb::str(e.value())));
  }
}

nb::object PythonCallable::CallWithElement(const Element& element, nb::handle last) const {
  nb::object arg = ElementToPython(element);
  try {
    if (element.is_tuple()) return (*fn_)(*nb::borrow<nb::tuple>(arg), last);
    return (*fn_)(arg, last);
  } catch (nb::python_error& e) {
    throw CarriedPythonError(std::move(e));
  }
}

std::string CallableName(nb::handle fn) {
  // Module and qualname; lambdas and functools.partial with a digest of their code and bound
  // values, which tells apart callables that share a qualname (_fingerprint.py).
  return nb::cast<std::string>(
      nb::module_::import_("inputpipe._fingerprint").attr("callable_name")(fn));
}

FunctionOptions CallableOptions(nb::handle fn, bool stateful,
                                const std::optional<std::string>& name) {
  if (!PyCallable_Check(fn.ptr())) {
    throw nb::type_error(
        ("expected a callable, got " + TypeName(fn))
            .c_str());
  }
  FunctionOptions options{.name = name ? *name : CallableName(fn),
                          .stateful = stateful,
                          .run_calls = [](const std::function<void()>& calls) {
                            PythonCallGroup group("calling a Python function");
                            calls();
                          }};
  // A function run by worker processes (inputpipe._processes) holds its pool through each
  // iterator that calls it: hold() returns a lease, released when the iterator is destroyed.
  if (nb::hasattr(fn, "_inputpipe_hold_for_iterator")) {
    options.run_calls = [](const std::function<void()>& calls) {
      PythonCallGroup group("calling a Python function");
      CallsWaitWithoutGil waiting;  // its calls wait for the workers with the GIL released
      calls();
    };
    PythonCallable hold(nb::borrow(fn.attr("_inputpipe_hold_for_iterator")));
    options.hold_for_iterator = [hold]() -> std::shared_ptr<void> {
      PythonSection section("starting worker processes");
      return std::make_shared<PythonCallable>(hold.fn()());
    };
    // Its workers read map's input themselves: the parent only moves past each element.
    options.computes_input = nb::hasattr(fn, "_inputpipe_computes_input") &&
                             nb::cast<bool>(fn.attr("_inputpipe_computes_input"));
  }
  return options;
}

MapFn MakeMapFn(nb::object fn, std::string op) {
  return [callable = PythonCallable(std::move(fn)), op = std::move(op)](const Element& e) {
    PythonSection section(op);
    nb::object result = callable.CallWithElement(e);
    return ElementFromPython(result, op.c_str());
  };
}

RandomMapFn MakeRandomMapFn(nb::object fn, std::string op) {
  nb::object element_rng;
  {
    PythonSection section(op);
    element_rng = nb::module_::import_("inputpipe._random").attr("element_rng");
  }
  return [callable = PythonCallable(std::move(fn)), make_rng = PythonCallable(element_rng),
          op = std::move(op)](const Element& e, ElementRng& rng) {
    PythonSection section(op);
    nb::object generator = make_rng.fn()(rng.seed(), rng.position());
    nb::object result = callable.CallWithElement(e, generator);
    return ElementFromPython(result, op.c_str());
  };
}

PredicateFn MakePredicateFn(nb::object fn, std::string op) {
  return [callable = PythonCallable(std::move(fn)), op = std::move(op)](const Element& e) {
    PythonSection section(op);
    nb::object result = callable.CallWithElement(e);
    if (PyBool_Check(result.ptr())) return result.ptr() == Py_True;
    if (PyArray_IsScalar(result.ptr(), Bool)) return PyObject_IsTrue(result.ptr()) == 1;
    nb::object array = Numpy().attr("asarray")(result);
    if (nb::cast<std::string>(array.attr("dtype").attr("kind")) != "b" ||
        nb::cast<int64_t>(array.attr("ndim")) != 0) {
      throw InvalidArgumentError(op + ": the predicate must return a scalar bool, got " +
                                 Repr(result));
    }
    return nb::cast<bool>(array.attr("item")());
  };
}

DatasetFn MakeDatasetFn(nb::object fn, std::string op) {
  return [callable = PythonCallable(std::move(fn)), op = std::move(op)](const Element& e) {
    PythonSection section(op);
    nb::object result = callable.CallWithElement(e);
    return UnwrapDataset(result, (op + ": the function's result").c_str());
  };
}

}  // namespace inputpipe::python
