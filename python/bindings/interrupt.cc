// Ctrl-C in a waiting next() or restore(): the interrupt check the Python iterators install
// (include/inputpipe/interrupt.h).
//
// Python runs signal handlers on the main thread only, between bytecodes; a next() waiting in
// the engine with the GIL released runs none, so a KeyboardInterrupt used to wait for the element
// (forever, if it blocked). The check, called every kInterruptPollInterval while the engine
// waits where an interrupt loses nothing, takes the GIL and looks for a pending SIGINT only
// (PyOS_InterruptOccurred): under Python's default handler it raises KeyboardInterrupt right
// there, and next() leaves with nothing lost.
//
// Not run inside the engine: any other handler. A handler may call into this very iterator
// (save it on SIGINT or SIGTERM) and the iterator's lock is held by this next(): so other
// signals, and SIGINT under a handler of the user's, stay pending and run when next() returns,
// as before (the SIGINT flag is set again for that).
#include "inputpipe/interrupt.h"

#include <csignal>
#include <optional>

#include "bindings.h"

namespace inputpipe::python {

namespace {
// A SIGINT seen during this thread's current next() that its own handler will run later.
thread_local bool sigint_deferred = false;

void CheckForSigint() {
  if (sigint_deferred) return;
  // The engine calls this with the GIL released (WithIteratorsLocked) and no engine lock held.
  std::optional<PythonSection> python;
  try {
    python.emplace("interrupt check");
  } catch (const FailedPreconditionError&) {
    return;  // the interpreter is shutting down
  }
  if (!PyOS_InterruptOccurred()) return;  // clears the SIGINT flag when set
  nb::object handler = nb::module_::import_("signal").attr("getsignal")(SIGINT);
  if (handler.is(nb::module_::import_("signal").attr("default_int_handler"))) {
    PyErr_SetNone(PyExc_KeyboardInterrupt);
    throw nb::python_error();
  }
  sigint_deferred = true;
  PyErr_SetInterrupt();  // the user's handler runs once next() is back in Python
}
}  // namespace

InterruptCheck PythonInterruptCheck() {
  // Off the main thread no signal handler runs: install nothing, take no GIL.
  static const unsigned long main_thread = nb::cast<unsigned long>(
      nb::module_::import_("threading").attr("main_thread")().attr("ident"));
  if (PyThread_get_thread_ident() != main_thread) return {};
  sigint_deferred = false;
  return &CheckForSigint;
}

}  // namespace inputpipe::python
