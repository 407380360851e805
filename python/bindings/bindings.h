// Declarations shared by the binding files of the extension module inputpipe._core.
//
// One .cc per area, each exposing one Register*() function that module.cc calls:
//   module.cc    NB_MODULE(_core): calls every Register*() below, in this order
//   errors.cc    RegisterErrors: C++ exception types -> Python exception types (table below)
//   elements.cc  Element <-> Python conversion (numpy's C API), Python callables as C++
//                functions, RegisterShutdown: PythonSection's atexit handler
//   datasets.cc  RegisterDatasets: DatasetHandle, Iterator, the core sources (from_generator
//                too) and transformations, inspect_state, decode_checkpoint_file (for
//                `inputpipe inspect`)
//   reorder.cc   RegisterReorder: the reordering / parallel ops (shuffle, prefetch, ...)
//   readers.cc   RegisterReaders (file readers), hook.cc RegisterHook (checkpoint hook)
//   file_system.cc  RegisterFileSystems: file systems written in Python, by scheme
//   gil_handoff.cc  the GIL hand-off: the consumer and engine threads calling Python take turns
//   result_buffer.cc  RegisterResultBuffers: _ResultBuffer, C++ memory that worker processes'
//                results are received into, so that their tensors point into it
// The Register*() of reorder.cc, readers.cc, hook.cc and file_system.cc are weak: module.cc calls
// them only when their file is linked in.
//
// How a C++ dataset crosses into Python: a `_core.DatasetHandle` holds the DatasetPtr; the Python
// class inputpipe.Dataset (python/inputpipe/dataset.py) wraps one handle as `self._handle`. A
// binding that builds a dataset returns a DatasetHandle; the Python side wraps it with
// `inputpipe.Dataset._from_handle(handle)`. A binding that takes a dataset accepts either and
// calls UnwrapDataset.
//
//   DatasetHandle MakeReader(const std::string& path) { return {TextLineDataset(path)}; }
//   m.def("text_line", &MakeReader);            // Python: Dataset._from_handle(_core.text_line(p))
//
// Exceptions (errors.cc), C++ -> Python:
//   InvalidArgumentError -> ValueError          IOError -> OSError
//   DataLossError -> inputpipe.DataLossError (a ValueError)
//   PipelineMismatchError -> inputpipe.PipelineMismatchError (a ValueError)
//   ExternalStateError -> inputpipe.ExternalStateError (a RuntimeError)
//   FailedPreconditionError -> RuntimeError     UnimplementedError -> NotImplementedError
//   any other inputpipe::Error -> RuntimeError; a Python exception raised by a user callable
//   (nb::python_error) keeps its original type.
//
// GIL rules: C++ iterates with the GIL released (PyIterator); Python callables take it back
// (PythonSection), so they may run on engine worker threads (prefetch, parallel map) without
// deadlock. Nothing may wait for an engine lock while holding the GIL. Engine threads enter
// Python only through a PythonSection: at interpreter exit (atexit) the module waits for the
// sections in flight and refuses new ones, so no worker takes the GIL while Python finalises.
// Bindings release the GIL with GilRelease, never nb::gil_scoped_release: a daemon thread coming
// back from C++ after that atexit handler must not take the GIL again (see GilRelease).
#ifndef INPUTPIPE_PYTHON_BINDINGS_BINDINGS_H_
#define INPUTPIPE_PYTHON_BINDINGS_BINDINGS_H_

#include <nanobind/nanobind.h>

#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "inputpipe/dataset.h"
#include "inputpipe/element.h"
#include "inputpipe/interrupt.h"
#include "inputpipe/ops.h"
#include "inputpipe/state.h"
#include "inputpipe/thread_context.h"

namespace inputpipe::python {

namespace nb = nanobind;

// ---- Registration (one per binding file) -------------------------------------------------
void RegisterErrors(nb::module_& m);
// Registers the atexit handler that closes Python to engine threads (see PythonSection).
void RegisterShutdown(nb::module_& m);
void RegisterDatasets(nb::module_& m);
void RegisterResultBuffers(nb::module_& m);
// The storage of the _ResultBuffer behind a numpy array's `base` (it, or a memoryview of it)
// when [data, data + bytes) lies inside it; null otherwise. REQUIRES: the GIL.
std::shared_ptr<const void> ResultBufferStorage(PyObject* base, const void* data, size_t bytes);
// with_options / pipeline_options (options.cc).
void RegisterOptions(nb::module_& m);
// Weak: null until reorder.cc / readers.cc / hook.cc define them.
[[gnu::weak]] void RegisterReorder(nb::module_& m);
[[gnu::weak]] void RegisterReaders(nb::module_& m);
[[gnu::weak]] void RegisterHook(nb::module_& m);
[[gnu::weak]] void RegisterFileSystems(nb::module_& m);
// source.cc: from_source over a Python object, seam files opened for ranged reads.
[[gnu::weak]] void RegisterRandomAccessSources(nb::module_& m);

// The Python type of inputpipe.ExternalStateWarning (a UserWarning), set by RegisterErrors.
PyObject* ExternalStateWarningType();
// The Python type of inputpipe.DataLossError (a ValueError), set by RegisterErrors.
PyObject* DataLossErrorType();

// ---- Datasets -----------------------------------------------------------------------------
// What Python holds of a C++ dataset: `_core.DatasetHandle`.
struct DatasetHandle {
  DatasetPtr dataset;
};
// The datasets of several handles (Zip, SampleFromDatasets, ...).
inline std::vector<DatasetPtr> DatasetsOf(const std::vector<DatasetHandle>& handles) {
  std::vector<DatasetPtr> out;
  out.reserve(handles.size());
  for (const DatasetHandle& h : handles) out.push_back(h.dataset);
  return out;
}
// An inputpipe.Dataset (the Python class) wrapping `dataset`. REQUIRES: the GIL.
nb::object WrapDataset(DatasetPtr dataset);
// The dataset of an inputpipe.Dataset or a _core.DatasetHandle; TypeError (nb::type_error)
// naming `what` and the type otherwise. REQUIRES: the GIL.
DatasetPtr UnwrapDataset(nb::handle obj, const char* what = "dataset");

// ---- Elements -----------------------------------------------------------------------------
// Numpy out: a tensor becomes a numpy array (a copy: users may write to it), a scalar becomes
// a numpy scalar (np.int64, ...), a scalar string `bytes`, a string array a numpy object array
// of bytes; tuples and dicts keep their structure; a nested dataset becomes an
// inputpipe.Dataset. REQUIRES: the GIL.
// A ragged element (inputpipe/ragged.h) becomes an inputpipe.RaggedArray, and one comes back.
nb::object ElementToPython(const Element& element);
// The same for an element the caller gives up (an iterator's output): a tensor whose buffer no
// one else holds becomes a writeable numpy array viewing that buffer (its base a capsule that
// keeps it alive), not a copy. Shared buffers (a from_tensors constant, a cache) are copied.
nb::object ElementToPythonHandingOver(Element element);
// Python in: a tuple -> tuple element, a dict -> dict element (keys must be str; sorted, as
// tf.nest does), an inputpipe.Dataset -> dataset element, anything else through
// numpy.asarray: bool, int8/16/32/64, uint8/16/32/64, float16/32/64, complex64/128 and
// ml_dtypes' bfloat16 keep their dtype (so a Python int is int64 and a float float64);
// str / bytes / numpy unicode, bytes or object arrays of
// str / bytes -> string (str encoded as UTF-8). Other dtypes are a ValueError naming `what`.
// With zero_copy, a numeric array no one else can change (read-only, or one numpy made for
// this call) is referenced, not copied: for datasets built once over large arrays (memory-mapped
// .npy files); not for per-element results, whose release would need the GIL on worker threads.
// REQUIRES: the GIL.
Element ElementFromPython(nb::handle obj, const char* what = "element", bool zero_copy = false);

// numpy, imported once (never released: it lives as long as the interpreter).
const nb::object& Numpy();

// ---- The GIL -------------------------------------------------------------------------------
// nb::gil_scoped_release for code a Python thread may still be running when the interpreter
// exits (a daemon thread inside next()): CPython 3.11 ends a thread that takes the GIL back
// after finalisation began with pthread_exit, whose unwinding through a noexcept destructor
// (gil_scoped_release's) calls std::terminate. Once the atexit handler has closed Python
// (PythonSection), the destructor parks the thread for good instead, as Python 3.14 itself
// does: the process exits around it. REQUIRES: the GIL, on construction.
class GilRelease {
 public:
  GilRelease();
  ~GilRelease();
  GilRelease(const GilRelease&) = delete;
  GilRelease& operator=(const GilRelease&) = delete;

 private:
  PyThreadState* state_;
};

// ---- Python callables ---------------------------------------------------------------------
// A Python exception raised in a call the engine made (a map function, a predicate): what the
// engine carries to the consumer, who raises it again with its type and traceback (errors.cc).
// Unlike nb::python_error it may be dropped on any thread at any time, the interpreter exiting
// included: its last copy takes the GIL only while Python is open to engine threads, and
// leaks the exception once it is closing (a thread taking the GIL during finalisation is ended
// with pthread_exit, whose unwinding through python_error's noexcept destructor is
// std::terminate).
class CarriedPythonError : public std::exception {
 public:
  explicit CarriedPythonError(nb::python_error&& error);  // REQUIRES: the GIL
  const char* what() const noexcept override { return message_->c_str(); }
  // Sets it as the current Python exception; may be called again. REQUIRES: the GIL.
  void Restore() const;

 private:
  std::shared_ptr<const nb::python_error> error_;
  std::shared_ptr<const std::string> message_;  // formatted with the GIL, when raised
};

// The one way engine code (any thread) enters Python: holds the GIL for its lifetime. Throws
// FailedPreconditionError naming `what` once the interpreter is shutting down, instead of
// waiting for a GIL that finalisation may never hand back.
class PythonSection {
 public:
  explicit PythonSection(const std::string& what);
  ~PythonSection();
  PythonSection(const PythonSection&) = delete;
  PythonSection& operator=(const PythonSection&) = delete;

 private:
  PyGILState_STATE gil_;
};

// A run of calls of Python functions under one acquisition of the GIL (a parallel map's grouped
// calls, FunctionOptions::run_calls): a PythonSection whose calls' own sections hand the GIL to
// a Python thread coming back from C++ between two calls (gil_handoff.cc).
class PythonCallGroup {
 public:
  explicit PythonCallGroup(const std::string& what);
  ~PythonCallGroup();
  PythonCallGroup(const PythonCallGroup&) = delete;
  PythonCallGroup& operator=(const PythonCallGroup&) = delete;

 private:
  PythonSection section_;
  int previous_depth_;
};

// While it lives, this thread's Python sections do not count as GIL time towards the pauses
// that let invisible waiters in (gil_handoff.cc): its calls spend their time waiting with the
// GIL released (for worker processes' results), where a waiter takes it anyway, and a pause
// after every 2 ms of such waiting spun 50 us for nothing (about one per element).
class CallsWaitWithoutGil {
 public:
  CallsWaitWithoutGil();
  ~CallsWaitWithoutGil();
  CallsWaitWithoutGil(const CallsWaitWithoutGil&) = delete;
  CallsWaitWithoutGil& operator=(const CallsWaitWithoutGil&) = delete;

 private:
  bool previous_;
};

// ---- The GIL hand-off (gil_handoff.cc) ----------------------------------------------------
// A Python thread coming back from C++ takes the GIL before an engine thread's next Python call:
// without it, CPython's switch interval let a producer calling Python element after element
// starve the consumer (see gil_handoff.cc). Used by GilRelease and PythonSection only.
//
// While it lives, the calling thread counts as one waiting to take the GIL back (GilRelease's
// destructor, around PyEval_RestoreThread).
class ReturningToPython {
 public:
  ReturningToPython();
  ~ReturningToPython();
  ReturningToPython(const ReturningToPython&) = delete;
  ReturningToPython& operator=(const ReturningToPython&) = delete;
};
// Waits (at most a switch interval) until a thread counted as returning got the GIL, or none
// is left. REQUIRES: the caller does not hold the GIL.
void LetReturningThreadsIn();
// PythonSection's constructor, before and after it takes the GIL, and its destructor, after it
// released it.
void PythonSectionOpening();
void PythonSectionOpened();
void PythonSectionClosed();

// A Python callable owned by C++ std::functions that may be copied and destroyed on any thread:
// the reference is released with the GIL held (and leaked if the interpreter is finalising).
class PythonCallable {
 public:
  explicit PythonCallable(nb::object fn);
  // fn(*element) for a tuple element, fn(element) otherwise (tf.data's convention).
  // REQUIRES: the GIL.
  nb::object CallWithElement(const Element& element) const;
  // The same with `last` as one more argument: fn(*element, last).
  nb::object CallWithElement(const Element& element, nb::handle last) const;
  const nb::object& fn() const { return *fn_; }

 private:
  std::shared_ptr<nb::object> fn_;
};
// The fingerprint name of a callable: "module.qualname" ("train.parse", a function of the main
// script named by the script's module); lambdas get a digest of their source
// ("mod.<lambda>#1a2b3c4d"), since they all share one qualname (_fingerprint.py).
std::string CallableName(nb::handle fn);
// `name`: the user's name=, which replaces the callable's name in the fingerprint when given.
FunctionOptions CallableOptions(nb::handle fn, bool stateful,
                                const std::optional<std::string>& name = std::nullopt);
// C++ callables around a Python one; each takes the GIL while it runs. Results are converted
// with ElementFromPython / a bool / UnwrapDataset, errors naming `op`.
MapFn MakeMapFn(nb::object fn, std::string op);
// fn(*element, rng) with rng the numpy.random.Generator of the call's ElementRng's (seed,
// position): inputpipe._random.element_rng.
RandomMapFn MakeRandomMapFn(nb::object fn, std::string op);
PredicateFn MakePredicateFn(nb::object fn, std::string op);
DatasetFn MakeDatasetFn(nb::object fn, std::string op);

// ---- Iterators ----------------------------------------------------------------------------
// `_core.Iterator`: one C++ iterator driven from Python. GetNext, Save and Restore run with the
// GIL released and under a mutex (Python threads may share an iterator); the destructor
// releases the GIL while the iterator's worker threads stop.
//
// Re-entrance: next(), save() or restore() called by the iterator's own map function or
// generator (on the thread of the next() that runs it, or on one of the iterator's worker
// threads) would wait for itself forever; it is a ValueError, as a generator's "generator
// already executing". The thread-local mark is inputpipe/thread_context.h's ServingScope, set
// while the mutex is held (WithIteratorsLocked) and inherited by the worker threads started
// meanwhile. Another Python thread sharing the iterator just waits for the mutex.
//
// Destruction: the last reference may drop on any thread, an engine worker thread included (the
// garbage collector running inside a map function, on a parallel map's worker); that thread
// cannot join itself, so there the C++ iterator goes to a reaper thread, which destroys it.
class PyIterator {
 public:
  explicit PyIterator(DatasetPtr dataset);
  ~PyIterator();
  PyIterator(const PyIterator&) = delete;
  PyIterator& operator=(const PyIterator&) = delete;

  // The next element as Python, or raises StopIteration.
  nb::object Next();
  // ValueError if the calling thread is working for this iterator (re-entrance, above) and
  // would wait for itself; `what` names the call: "inputpipe.Iterator.save()".
  void CheckNotExecuting(const char* what) const;
  // Iterator::Save under the named policy (none: the pipeline's Options, else 'fail'); 'warn'
  // issues an ExternalStateWarning per op.
  nb::bytes Save(const std::optional<std::string>& external_state_policy);
  // What this iterator measured (dataset.py's Iterator stats): a dict.
  nb::dict Stats() const;
  // Iterator::Restore; allow_changes: under RestoreOptions::allow_changes, its warning issued
  // as a UserWarning.
  void Restore(const nb::bytes& state, bool allow_changes);
  // The C++ iterator, for other bindings (the hook). Use it under WithIteratorsLocked or
  // WithIteratorsLockedKeepingGil (below).
  Iterator& iterator() { return *iterator_; }
  std::mutex& mutex() { return mutex_; }
  const DatasetPtr& dataset() const { return dataset_; }
  // A number no other PyIterator of this process has: the ServingScope id.
  uint64_t id() const { return id_; }

 private:
  const uint64_t id_;
  DatasetPtr dataset_;
  std::unique_ptr<Iterator> iterator_;
  std::mutex mutex_;
  // The pipeline's external_state_policy option, read once (a save must stay cheap).
  ExternalStatePolicy default_policy_ = ExternalStatePolicy::kFail;
  // Stats(): updated under the GIL, after each call returns. Wait: time inside the engine's
  // GetNext / Save, as the calling thread saw it; wall: since the first next().
  int64_t elements_ = 0;
  int64_t bytes_ = 0;
  int64_t next_ns_ = 0;
  int64_t saves_ = 0;
  int64_t save_ns_ = 0;
  int64_t first_next_ns_ = -1;  // steady clock, -1 before the first next()
  // Next() encodes the state ahead (Iterator::EncodeAhead) after a GetNext at least this long:
  // the encoding then costs at most a few percent of it.
  static constexpr int64_t kEncodeAheadAfterNs = 1'000'000;
};

// The interrupt check of next() and restore() (interrupt.cc): on the main thread, raises
// KeyboardInterrupt for a SIGINT that arrives while the engine waits (Python's default handler
// only; other handlers run when the call returns, as before); empty elsewhere. Install it with
// ScopedInterruptCheck. REQUIRES: the GIL.
InterruptCheck PythonInterruptCheck();
// A SIGINT that came after the engine last looked, once next() has its element: Python would
// raise KeyboardInterrupt as next() returns, dropping the element. So next() returns it, and
// the KeyboardInterrupt is owed: RaiseOwedInterrupt raises it at the start of the next call,
// or it is raised wherever the program is after kOwedInterruptGrace if none comes. Main
// thread, default handler only. REQUIRES: the GIL.
void OweInterruptIfPending();
void RaiseOwedInterrupt();
// At exit (ClosePython): an owed KeyboardInterrupt no longer ends the process (rc 130) after the
// program finished on its own.
void CancelOwedInterrupt();

// ---- Iterator locks -----------------------------------------------------------------------
// fn() with the calling thread (and the worker threads started meanwhile) marked as serving
// `iterators`: what CheckNotExecuting looks for.
template <typename F>
auto ServingIterators(std::span<PyIterator* const> iterators, F&& fn) {
  if (iterators.size() == 1) {  // next(), save(), restore(): no allocation
    ServingScope serving(iterators[0]->id());
    return fn();
  }
  std::vector<std::unique_ptr<ServingScope>> serving;
  serving.reserve(iterators.size());
  for (PyIterator* it : iterators) serving.push_back(std::make_unique<ServingScope>(it->id()));
  return fn();
}

// What CheckNotExecuting names for a locked use other than PyIterator's methods' (which check
// first, naming themselves): the hook's.
inline constexpr char kLockedUse[] = "inputpipe.CheckpointInputPipelineHook";

// `iterators`: distinct, sorted by address, the one locking order, so that two callers sharing
// iterators (two hooks, a hook and Iterator.save) cannot deadlock.
//
// Runs fn() with the GIL released and the mutex of every iterator held; returns its result.
// REQUIRES: the GIL.
template <typename F>
auto WithIteratorsLocked(std::span<PyIterator* const> iterators, F&& fn) {
  for (PyIterator* it : iterators) it->CheckNotExecuting(kLockedUse);
  GilRelease release;
  std::vector<std::unique_lock<std::mutex>> locks;
  locks.reserve(iterators.size());
  for (PyIterator* it : iterators) locks.emplace_back(it->mutex());
  return ServingIterators(iterators, std::forward<F>(fn));
}

// As WithIteratorsLocked, but keeping the GIL when every mutex is free: for a save (Save
// takes microseconds and only brief locks: prefetch, parallel map and interleave never hold a
// lock while they call Python), where releasing the GIL would mean winning it back from busy
// Python map threads afterwards, up to a switch interval (5 ms) per save. A mutex held by
// another thread's next(), which may be calling Python, is waited for with the GIL released:
// the one wait that could deadlock with it held. fn may take a bool: whether it runs with the
// GIL held (a save then writes straight into the bytes object it returns). REQUIRES: the GIL.
template <typename F>
auto WithIteratorsLockedKeepingGil(std::span<PyIterator* const> iterators, F&& fn) {
  auto call = [&fn](bool gil_held) {
    if constexpr (std::is_invocable_v<F&, bool>) {
      return fn(gil_held);
    } else {
      return fn();
    }
  };
  for (PyIterator* it : iterators) it->CheckNotExecuting(kLockedUse);
  {
    std::vector<std::unique_lock<std::mutex>> locks;
    locks.reserve(iterators.size());
    bool all_free = true;
    for (PyIterator* it : iterators) {
      locks.emplace_back(it->mutex(), std::try_to_lock);
      if (!locks.back().owns_lock()) {
        all_free = false;
        break;
      }
    }
    if (all_free) return ServingIterators(iterators, [&] { return call(true); });
  }  // the locks taken so far are released before waiting for all of them
  return WithIteratorsLocked(iterators, [&] { return call(false); });
}

}  // namespace inputpipe::python

#endif  // INPUTPIPE_PYTHON_BINDINGS_BINDINGS_H_
