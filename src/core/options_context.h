// The options in force for the iterators being made and run on this thread
// (inputpipe/options.h): set by the options op around every call into its input, copied by
// WorkerThreads into the threads it starts, read by the ops that take options when they make
// their iterator.
//
//   const Options& options = CurrentOptions();   // every field unset outside an options op
//   int64_t threads = CappedThreads(dataset.threads);
#ifndef INPUTPIPE_CORE_OPTIONS_CONTEXT_H_
#define INPUTPIPE_CORE_OPTIONS_CONTEXT_H_

#include <algorithm>
#include <memory>

#include "inputpipe/options.h"

namespace inputpipe {

// The calling thread's options (null: none).
const std::shared_ptr<const Options>& CurrentOptionsPtr();
const Options& CurrentOptions();

// Puts `options` in force on this thread for the scope's life.
class OptionsScope {
 public:
  explicit OptionsScope(std::shared_ptr<const Options> options);
  ~OptionsScope();
  OptionsScope(const OptionsScope&) = delete;
  OptionsScope& operator=(const OptionsScope&) = delete;

 private:
  std::shared_ptr<const Options> previous_;
};

// `threads` capped by private_threadpool_size.
inline int64_t CappedThreads(int64_t threads) {
  const std::optional<int64_t>& cap = CurrentOptions().private_threadpool_size;
  return cap ? std::min(threads, *cap) : threads;
}

}  // namespace inputpipe

#endif  // INPUTPIPE_CORE_OPTIONS_CONTEXT_H_
