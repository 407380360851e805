// What the calling thread is working for: the engine's worker threads (prefetch's producer,
// parallel map's dispatcher and workers, parallel interleave's workers) are marked, and carry
// the iterators they serve, so that code running on them (a map function) can tell.
//
//   // The Python bindings: an iterator's next() from its own map function is an error, not a
//   // deadlock (the function runs for that very next(), which holds the iterator's lock).
//   if (IsServing(id_)) throw InvalidArgumentError("... already executing ...");
//   ServingScope serving(id_);        // this thread, and the threads started meanwhile,
//   return iterator_->GetNext();      // serve iterator id_
//
// A ServingScope marks the calling thread for its lifetime. A worker thread started while its
// starter serves some iterators serves them too, for its whole life: a thread is started by the
// first GetNext (or Restore) of the iterator that owns it, and serves that iterator only.
// Ids are opaque to the engine (the bindings number their iterators); 0 is never an id.
#ifndef INPUTPIPE_THREAD_CONTEXT_H_
#define INPUTPIPE_THREAD_CONTEXT_H_

#include <cstdint>

namespace inputpipe {

// True on a thread the engine started (a WorkerThreads thread), false on the user's threads.
bool OnEngineThread();

// True on an engine thread whose iterator is stopping its threads (being destroyed): code that
// waits there for something outside the engine (a map function waiting for a worker process)
// should look at it now and then and give up, so that the iterator's destruction can join the
// thread. The engine's own waits on that thread do the same (they throw).
bool EngineThreadStopping();

// True if the calling thread serves iterator `id`: it is inside a ServingScope for `id`, or an
// engine thread started while its starter was.
bool IsServing(uint64_t id);

class ServingScope {
 public:
  explicit ServingScope(uint64_t id);
  ~ServingScope();
  ServingScope(const ServingScope&) = delete;
  ServingScope& operator=(const ServingScope&) = delete;
};

}  // namespace inputpipe

#endif  // INPUTPIPE_THREAD_CONTEXT_H_
