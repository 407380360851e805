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

#include <chrono>
#include <condition_variable>
#include <pthread.h>

#include <csignal>
#include <mutex>
#include <optional>
#include <thread>

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

// How long an owed KeyboardInterrupt waits for the next next() before it is raised anyway.
constexpr auto kOwedInterruptGrace = std::chrono::milliseconds(500);

// The owed KeyboardInterrupt (OweInterruptIfPending) and the thread that raises it if no
// next() comes within the grace. Never destroyed: the thread may outlive the interpreter.
struct Owed {
  std::mutex mu;
  std::condition_variable cv;
  bool owed = false;  // guarded by mu
  std::chrono::steady_clock::time_point due;
  pthread_t main_thread{};  // where OweInterruptIfPending ran
  bool started = false;
};
Owed& TheOwed() {
  static Owed* owed = new Owed();
  return *owed;
}

void RaiseWhenDue(Owed& o) {
  std::unique_lock<std::mutex> lock(o.mu);
  for (;;) {
    if (!o.owed) {
      o.cv.wait(lock);
      continue;
    }
    if (o.cv.wait_until(lock, o.due) == std::cv_status::timeout && o.owed &&
        std::chrono::steady_clock::now() >= o.due) {
      o.owed = false;
      // A real SIGINT to the main thread, as if it came now: it also ends a sleep or a blocking
      // call there (EINTR), where setting Python's flag alone would wait for it to return.
      pthread_kill(o.main_thread, SIGINT);
    }
  }
}

}  // namespace

void OweInterruptIfPending() {
  if (sigint_deferred || !PyOS_InterruptOccurred()) return;  // clears the SIGINT flag when set
  nb::object signal = nb::module_::import_("signal");
  if (!signal.attr("getsignal")(SIGINT).is(signal.attr("default_int_handler"))) {
    PyErr_SetInterrupt();  // the user's handler runs as next() returns, as before
    return;
  }
  Owed& o = TheOwed();
  std::lock_guard<std::mutex> lock(o.mu);
  o.owed = true;
  o.due = std::chrono::steady_clock::now() + kOwedInterruptGrace;
  o.main_thread = pthread_self();
  if (!o.started) {
    o.started = true;
    std::thread([&o] { RaiseWhenDue(o); }).detach();
  }
  o.cv.notify_all();
}

void CancelOwedInterrupt() {
  Owed& o = TheOwed();
  std::lock_guard<std::mutex> lock(o.mu);
  o.owed = false;
}

void RaiseOwedInterrupt() {
  Owed& o = TheOwed();
  {
    std::lock_guard<std::mutex> lock(o.mu);
    if (!o.owed) return;
    o.owed = false;
  }
  nb::object signal = nb::module_::import_("signal");
  if (!signal.attr("getsignal")(SIGINT).is(signal.attr("default_int_handler"))) {
    // The program changed SIGINT's handler since: the SIGINT is its now (ignored under
    // SIG_IGN, the handler run as this call returns), as if it came now.
    PyErr_SetInterruptEx(SIGINT);
    return;
  }
  PyErr_SetNone(PyExc_KeyboardInterrupt);
  throw nb::python_error();
}

InterruptCheck PythonInterruptCheck() {
  // Off the main thread no signal handler runs: install nothing, take no GIL.
  static const unsigned long main_thread = nb::cast<unsigned long>(
      nb::module_::import_("threading").attr("main_thread")().attr("ident"));
  if (PyThread_get_thread_ident() != main_thread) return {};
  sigint_deferred = false;
  return &CheckForSigint;
}

}  // namespace inputpipe::python
