// The GIL hand-off: a Python thread coming back from C++ with its result (the consumer's next())
// takes the GIL before an engine thread starts its next Python call.
//
// Why. CPython's GIL is not fair to a thread that waits for it. The waiter sleeps in a timed
// wait of the switch interval (5 ms) and asks the holder to drop the GIL only when a whole
// interval passed without a switch; a holder that releases the GIL and takes it back at once
// wakes the waiter, which finds it taken again and starts a fresh interval. An engine thread
// calling a Python function element after element (prefetch's producer over a Python map, a
// parallel map's worker) does exactly that: between two calls it holds no GIL for a few
// microseconds. The consumer coming back from next() with an element that was ready waited
// until the producer stopped by itself (its buffer full): producer and consumer ran in turn,
// never together, so a prefetch after a Python map overlapped nothing and paid the hand-offs.
//
// What is done here. A Python thread taking the GIL back after C++ (GilRelease's destructor)
// counts itself as returning while it waits (ReturningToPython); an engine thread about to take
// the GIL for a call (a PythonSection that does not hold it yet) first lets the returning
// threads in (LetReturningThreadsIn), and a run of calls under one acquisition (the parallel
// map's grouped calls, PythonCallGroup) hands the GIL over between two calls. A consumer then
// waits for the GIL at most the rest of the call in progress. Threads the engine cannot see
// (the consumer coming back from a training step that released the GIL) get a pause: an engine
// thread that held the GIL for a slice (2 ms) leaves it free for 50 us between two calls.
// Waits are bounded: a returning thread that cannot take the GIL (another Python thread holds
// it) delays an engine thread no longer than CPython's own switch interval would. Cost when no
// thread is waiting: an atomic load and two clock reads per Python call, and the pauses (2.5%
// of an engine thread's GIL time).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "bindings.h"

namespace inputpipe::python {

namespace {

// The longest an engine thread waits for the returning threads: CPython's default switch
// interval, what the returning thread would have waited for a forced switch anyway.
constexpr std::chrono::milliseconds kMaxHandOffWait{5};
// Any other thread waiting for the GIL (a consumer back from a training step that released it,
// in time.sleep, torch, numpy) is invisible to the engine, and CPython's own switch never lets
// it in while an engine thread releases and retakes the GIL call after call (each release wakes
// the waiter, which finds the GIL taken again and waits a fresh interval). So an engine
// thread that held the GIL for kSlice in all pauses kPause before taking it again, between two
// calls: time for a woken waiter to take it. Cost without a waiter: kPause / kSlice (2.5%).
// Grouped calls (which would otherwise keep the GIL up to CPython's 5 ms forced switch, or for
// good in a C call that keeps it) do the same between two calls.
constexpr std::chrono::microseconds kSlice{2000};
constexpr std::chrono::microseconds kPause{50};

struct HandOff {
  // Sequentially consistent: a returning thread counts itself in `admitted`, out of `returning`,
  // then reads `waiting`; an engine thread counts itself in `waiting`, then reads the other two
  // under `mu`. One of the two sees the other, so a notify is never missed.
  std::atomic<int64_t> returning{0};  // Python threads waiting for the GIL after C++
  std::atomic<int64_t> admitted{0};   // returning threads that got it, ever
  std::atomic<int64_t> waiting{0};    // engine threads in LetReturningThreadsIn
  std::mutex mu;
  std::condition_variable in;
};
// Never destroyed: threads may use it while the process runs its static destructors.
HandOff& TheHandOff() {
  static HandOff* hand_off = new HandOff();
  return *hand_off;
}

// PythonSections open on this thread, and the depth of the innermost PythonCallGroup's own
// section (0: none): a section opened at exactly that depth is one of the group's calls.
thread_local int section_depth = 0;
thread_local int call_group_depth = 0;
// An engine thread's GIL time since it last let other threads in: the time of its closed
// sections, plus, while its outermost section holds the GIL, the time since `held_since`.
thread_local std::chrono::steady_clock::duration held_total{};
thread_local std::chrono::steady_clock::time_point held_since;
// Set by CallsWaitWithoutGil: this thread's sections are not counted in held_total.
thread_local bool waits_without_gil = false;

// Gives a thread that waits for the GIL (just released by the caller) the time to wake up and
// take it: yields the processor until kPause passed.
void PauseForWaiters() {
  const auto until = std::chrono::steady_clock::now() + kPause;
  do {
    std::this_thread::yield();
  } while (std::chrono::steady_clock::now() < until);
}

}  // namespace

ReturningToPython::ReturningToPython() { TheHandOff().returning.fetch_add(1); }

ReturningToPython::~ReturningToPython() {
  HandOff& h = TheHandOff();
  h.admitted.fetch_add(1);
  h.returning.fetch_sub(1);
  if (h.waiting.load() > 0) {
    std::lock_guard<std::mutex> lock(h.mu);
    h.in.notify_all();
  }
}

void LetReturningThreadsIn() {
  HandOff& h = TheHandOff();
  if (h.returning.load() == 0) return;
  // Until one of the returning threads got the GIL (not all: with two Python threads calling
  // next() in turn there may always be one returning), or none is left.
  const int64_t admitted = h.admitted.load();
  h.waiting.fetch_add(1);
  {
    std::unique_lock<std::mutex> lock(h.mu);
    h.in.wait_for(lock, kMaxHandOffWait,
                  [&] { return h.admitted.load() != admitted || h.returning.load() == 0; });
  }
  h.waiting.fetch_sub(1);
}

void PythonSectionOpening() {
  if (!PyGILState_Check()) {  // a fresh acquisition
    if (TheHandOff().returning.load() > 0) {
      LetReturningThreadsIn();  // the returning threads go first
      held_total = {};
    } else if (held_total >= kSlice && OnEngineThread()) {
      PauseForWaiters();
      held_total = {};
    }
  } else if (call_group_depth > 0 && section_depth == call_group_depth) {
    // Between two calls of a group: nothing of Python is in use on this thread (the group's
    // section holds the GIL for C++ code that calls the functions), so the GIL can be handed
    // over here. The group's section is counted as in flight, so the interpreter cannot be
    // finalised meanwhile (ClosePython waits for it): taking the GIL back is safe.
    const auto now = std::chrono::steady_clock::now();
    const bool returning = TheHandOff().returning.load() > 0;
    if (returning || (!waits_without_gil && held_total + (now - held_since) >= kSlice)) {
      PyThreadState* state = PyEval_SaveThread();
      if (returning) {
        LetReturningThreadsIn();
      } else {
        PauseForWaiters();
      }
      PyEval_RestoreThread(state);
      held_total = {};
      held_since = std::chrono::steady_clock::now();
    }
  }
}

void PythonSectionOpened() {
  if (++section_depth == 1) held_since = std::chrono::steady_clock::now();
}

void PythonSectionClosed() {
  if (--section_depth == 0 && !waits_without_gil) {
    held_total += std::chrono::steady_clock::now() - held_since;
  }
}

CallsWaitWithoutGil::CallsWaitWithoutGil() : previous_(waits_without_gil) {
  waits_without_gil = true;
}

CallsWaitWithoutGil::~CallsWaitWithoutGil() { waits_without_gil = previous_; }

PythonCallGroup::PythonCallGroup(const std::string& what)
    : section_(what), previous_depth_(call_group_depth) {
  // Only a group that took the GIL itself (its section is the thread's outermost) may hand it
  // over: under an enclosing section, Python code of the caller may be in the middle of its work.
  call_group_depth = section_depth == 1 ? 1 : 0;
}

PythonCallGroup::~PythonCallGroup() { call_group_depth = previous_depth_; }

}  // namespace inputpipe::python
