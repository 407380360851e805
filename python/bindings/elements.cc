// Element <-> Python (numpy) conversion and Python callables wrapped as C++ functions.
// The dtype rules are in bindings.h. Tensors are copied both ways: numpy arrays handed to
// users are theirs to write to, and arrays passed in may change after the call.
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <utility>

#include "bindings.h"
#include "inputpipe/errors.h"

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


// numpy's dtype object for `dtype`, created once per dtype (numpy's canonical int64 is "l"
// on Linux: arrays print without "dtype=int64", as users expect).
const nb::object& NumpyDType(DType dtype) {
  static nb::object* dtypes[16] = {};
  nb::object*& slot = dtypes[static_cast<int>(dtype)];
  if (!slot) slot = new nb::object(Numpy().attr("dtype")(std::string(DTypeName(dtype))));
  return *slot;
}

nb::object TensorToPython(const Tensor& t) {
  if (t.is_string()) {
    const std::vector<std::string>& strings = t.strings();
    if (t.rank() == 0) return nb::bytes(strings[0].data(), strings[0].size());
    nb::list items;
    for (const std::string& s : strings) items.append(nb::bytes(s.data(), s.size()));
    nb::object array = Numpy().attr("empty")(nb::cast(t.shape()), "dtype"_a = "object");
    // Assigning through a flat view: np.array(list_of_bytes) would guess a fixed-width dtype.
    nb::object all = nb::steal(PySlice_New(nullptr, nullptr, nullptr));
    if (!strings.empty()) array.attr("reshape")(-1).attr("__setitem__")(all, items);
    return array;
  }
  nb::object out = Numpy().attr("empty")(nb::cast(t.shape()), NumpyDType(t.dtype()));
  size_t bytes = t.byte_size();
  if (bytes > 0) {
    Py_buffer view;
    if (PyObject_GetBuffer(out.ptr(), &view, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE) != 0) {
      throw nb::python_error();
    }
    std::memcpy(view.buf, t.raw_data(), bytes);
    PyBuffer_Release(&view);
  }
  // A scalar is a numpy scalar (np.int64(3)), as tf.data's as_numpy_iterator gives.
  if (t.rank() == 0) return out.attr("__getitem__")(nb::tuple());
  return out;
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

Shape ShapeOf(nb::handle array) {
  Shape shape;
  for (nb::handle d : nb::borrow<nb::tuple>(array.attr("shape"))) {
    shape.push_back(nb::cast<int64_t>(d));
  }
  return shape;
}

DType NumericDType(char kind, int64_t itemsize, nb::handle array, const char* what) {
  if (kind == 'b') return DType::kBool;
  if (kind == 'i') {
    switch (itemsize) {
      case 1: return DType::kInt8;
      case 2: return DType::kInt16;
      case 4: return DType::kInt32;
      case 8: return DType::kInt64;
    }
  }
  if (kind == 'u' && itemsize == 1) return DType::kUInt8;
  if (kind == 'f') {
    switch (itemsize) {
      case 2: return DType::kFloat16;
      case 4: return DType::kFloat32;
      case 8: return DType::kFloat64;
    }
  }
  throw InvalidArgumentError(
      std::string(what) + ": unsupported dtype " +
      Str(array.attr("dtype")) +
      " (supported: bool, int8, int16, int32, int64, uint8, float16, float32, float64, string)");
}

Tensor TensorFromPython(nb::handle obj, const char* what) {
  if (PyBytes_Check(obj.ptr()) || PyUnicode_Check(obj.ptr())) {
    return Tensor::String(BytesOf(obj, what));
  }
  nb::object array = Numpy().attr("asarray")(obj);
  nb::object dtype = array.attr("dtype");
  std::string kind = nb::cast<std::string>(dtype.attr("kind"));
  Shape shape = ShapeOf(array);
  if (kind == "U" || kind == "S" || kind == "O") {
    std::vector<std::string> strings;
    strings.reserve(NumElements(shape));
    for (nb::handle item : array.attr("ravel")().attr("tolist")()) {
      strings.push_back(BytesOf(item, what));
    }
    return Tensor::FromStrings(std::move(strings), std::move(shape));
  }
  DType dt = NumericDType(kind[0], nb::cast<int64_t>(dtype.attr("itemsize")), array, what);
  nb::object contiguous = Numpy().attr("ascontiguousarray")(array);
  Py_buffer view;
  if (PyObject_GetBuffer(contiguous.ptr(), &view, PyBUF_C_CONTIGUOUS) != 0) {
    throw nb::python_error();
  }
  Tensor t = Tensor::Allocate(dt, std::move(shape));
  size_t bytes = t.byte_size();
  if (static_cast<size_t>(view.len) != bytes) {
    PyBuffer_Release(&view);
    throw InvalidArgumentError(std::string(what) + ": numpy buffer has " +
                               std::to_string(view.len) + " bytes, expected " +
                               std::to_string(bytes));
  }
  if (bytes > 0) std::memcpy(t.mutable_raw_data(), view.buf, bytes);
  PyBuffer_Release(&view);
  return t;
}

bool IsDataset(nb::handle obj) {
  return nb::isinstance<DatasetHandle>(obj) || nb::hasattr(obj, "_handle");
}

// ---- Shutdown -------------------------------------------------------------------------------
// Engine threads in (or waiting to enter) a PythonSection, and whether Python is closed to them.
std::atomic<bool> python_closed{false};
std::mutex sections_mutex;
std::condition_variable sections_done;
int64_t sections_in_flight = 0;  // GUARDED_BY(sections_mutex)

// atexit: runs before finalisation, while worker threads can still take the GIL. Closes Python
// to engine threads, then lets the ones already waiting for the GIL finish (bounded: a callable
// that never returns must not hang the exit).
void ClosePython() {
  python_closed = true;
  nb::gil_scoped_release release;
  std::unique_lock<std::mutex> lock(sections_mutex);
  sections_done.wait_for(lock, std::chrono::seconds(10), [] { return sections_in_flight == 0; });
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

}  // namespace

nb::object ElementToPython(const Element& element) {
  switch (element.kind()) {
    case Element::Kind::kTensor:
      return TensorToPython(element.tensor());
    case Element::Kind::kTuple: {
      nb::list items;
      for (const Element& child : element.children()) items.append(ElementToPython(child));
      return nb::tuple(items);
    }
    case Element::Kind::kDict: {
      nb::dict out;
      for (size_t i = 0; i < element.size(); ++i) {
        out[nb::str(element.keys()[i].c_str())] = ElementToPython(element.children()[i]);
      }
      return out;
    }
    case Element::Kind::kDataset:
      return WrapDataset(element.dataset());
  }
  throw InvalidArgumentError("unknown element kind");
}

Element ElementFromPython(nb::handle obj, const char* what) {
  if (PyTuple_Check(obj.ptr())) {
    std::vector<Element> items;
    for (nb::handle item : nb::borrow<nb::tuple>(obj)) {
      items.push_back(ElementFromPython(item, what));
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
      items.emplace_back(nb::cast<std::string>(key), ElementFromPython(value, what));
    }
    std::sort(items.begin(), items.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    return Element::Dict(std::move(items));
  }
  if (IsDataset(obj)) return Element::FromDataset(UnwrapDataset(obj, what));
  return Element(TensorFromPython(obj, what));
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
  {
    std::lock_guard<std::mutex> lock(sections_mutex);
    ++sections_in_flight;  // before the check: ClosePython waits for every counted section
  }
  if (python_closed) {
    std::lock_guard<std::mutex> lock(sections_mutex);
    if (--sections_in_flight == 0) sections_done.notify_all();
    throw FailedPreconditionError(what + ": the Python interpreter is shutting down");
  }
  gil_ = PyGILState_Ensure();
}

PythonSection::~PythonSection() {
  PyGILState_Release(gil_);
  std::lock_guard<std::mutex> lock(sections_mutex);
  if (--sections_in_flight == 0) sections_done.notify_all();
}

void RegisterShutdown(nb::module_& m) {
  nb::module_::import_("atexit").attr("register")(nb::cpp_function(&ClosePython));
}

PythonCallable::PythonCallable(nb::object fn)
    : fn_(new nb::object(std::move(fn)), &ReleaseWithGil) {}

nb::object PythonCallable::CallWithElement(const Element& element) const {
  nb::object arg = ElementToPython(element);
  if (element.is_tuple()) return (*fn_)(*nb::borrow<nb::tuple>(arg));
  return (*fn_)(arg);
}

std::string CallableName(nb::handle fn) {
  auto attr = [](nb::handle obj, const char* name) -> std::string {
    if (!nb::hasattr(obj, name)) return "";
    nb::object value = obj.attr(name);
    return nb::isinstance<nb::str>(value) ? nb::cast<std::string>(value) : "";
  };
  std::string module = attr(fn, "__module__");
  std::string qualname = attr(fn, "__qualname__");
  if (qualname.empty()) {  // a callable object, a functools.partial: name its type
    module = attr(fn.type(), "__module__");
    qualname = attr(fn.type(), "__qualname__");
  }
  return module.empty() ? qualname : module + "." + qualname;
}

FunctionOptions CallableOptions(nb::handle fn, bool stateful) {
  if (!PyCallable_Check(fn.ptr())) {
    throw nb::type_error(
        ("expected a callable, got " + TypeName(fn))
            .c_str());
  }
  return FunctionOptions{.name = CallableName(fn), .stateful = stateful};
}

MapFn MakeMapFn(nb::object fn, std::string op) {
  return [callable = PythonCallable(std::move(fn)), op = std::move(op)](const Element& e) {
    PythonSection section(op);
    nb::object result = callable.CallWithElement(e);
    return ElementFromPython(result, op.c_str());
  };
}

PredicateFn MakePredicateFn(nb::object fn, std::string op) {
  return [callable = PythonCallable(std::move(fn)), op = std::move(op)](const Element& e) {
    PythonSection section(op);
    nb::object result = callable.CallWithElement(e);
    if (PyBool_Check(result.ptr())) return result.ptr() == Py_True;
    nb::object array = Numpy().attr("asarray")(result);
    if (nb::cast<std::string>(array.attr("dtype").attr("kind")) != "b" ||
        nb::cast<int64_t>(array.attr("size")) != 1) {
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
