// C++ exceptions of include/inputpipe/errors.h as the Python exceptions users expect (the table
// is in bindings.h). The project's own types are created here and exported from _core:
// DataLossError and PipelineMismatchError are ValueErrors, ExternalStateError a RuntimeError,
// ExternalStateWarning (issued by save under policy 'warn') a UserWarning.
#include "bindings.h"
#include "inputpipe/errors.h"

namespace inputpipe::python {

namespace {
// Created once at import and never released: they live as long as the interpreter.
PyObject* data_loss_error = nullptr;
PyObject* pipeline_mismatch_error = nullptr;
PyObject* external_state_error = nullptr;
PyObject* external_state_warning = nullptr;

PyObject* NewType(nb::module_& m, const char* name, const char* doc, PyObject* base) {
  std::string qualified = std::string("inputpipe.") + name;
  PyObject* type = PyErr_NewExceptionWithDoc(qualified.c_str(), doc, base, nullptr);
  if (!type) throw nb::python_error();
  m.attr(name) = nb::handle(type);
  return type;
}

void Translate(const std::exception_ptr& p, void*) {
  try {
    std::rethrow_exception(p);
  } catch (const InvalidArgumentError& e) {
    PyErr_SetString(PyExc_ValueError, e.what());
  } catch (const IOError& e) {
    PyErr_SetString(PyExc_OSError, e.what());
  } catch (const DataLossError& e) {
    PyErr_SetString(data_loss_error, e.what());
  } catch (const PipelineMismatchError& e) {
    PyErr_SetString(pipeline_mismatch_error, e.what());
  } catch (const ExternalStateError& e) {
    PyErr_SetString(external_state_error, e.what());
  } catch (const FailedPreconditionError& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
  } catch (const UnimplementedError& e) {
    PyErr_SetString(PyExc_NotImplementedError, e.what());
  } catch (const Error& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
  } catch (const CarriedPythonError& e) {
    e.Restore();  // the function's own exception, type and traceback
  }
  // Anything else (nb::python_error, std::bad_alloc, ...) propagates to
  // nanobind's own translators, which keep a Python exception's original type.
}
}  // namespace

PyObject* ExternalStateWarningType() { return external_state_warning; }
PyObject* DataLossErrorType() { return data_loss_error; }

void RegisterErrors(nb::module_& m) {
  data_loss_error = NewType(m, "DataLossError",
                            "Corrupt, truncated or unknown bytes: a saved state, a checkpoint "
                            "file, a data record.",
                            PyExc_ValueError);
  pipeline_mismatch_error = NewType(
      m, "PipelineMismatchError",
      "A saved state restored into another pipeline; the message names the first difference.",
      PyExc_ValueError);
  external_state_error =
      NewType(m, "ExternalStateError",
              "Saving a pipeline whose state cannot be captured (a stateful Python callable, a "
              "Python generator) under external_state_policy='fail'.",
              PyExc_RuntimeError);
  external_state_warning = NewType(
      m, "ExternalStateWarning",
      "Issued by Iterator.save(external_state_policy='warn'), naming each op whose state was "
      "not saved.",
      PyExc_UserWarning);
  nb::register_exception_translator(&Translate);
}

}  // namespace inputpipe::python
