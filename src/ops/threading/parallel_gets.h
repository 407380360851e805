// ParallelGets: the elements of a random-access dataset at a run of positions, computed by
// index on worker threads, in order, up to a window ahead of the consumer. For the ops that read
// their input by index rather than through an iterator (distribute's rows), whose input's own
// parallel map then makes no iterator and so runs no threads of its own.
//
//   ParallelGets gets(*ds.unbatched, iteration, threads, window,
//                     [](int64_t position) { return position < n ? position * 2 : -1; });
//   ParallelGets::Taken rows = gets.Take(position, count);   // position: the consumer's next
//   if (rows.error) std::rethrow_exception(rows.error);      // the first failed row, in order
//
// Positions are the consumer's (0, 1, 2, ...); index_of maps each to the dataset's index, or to
// -1 past the end. The threads compute positions in order, at most `window` beyond the last one
// taken. Nothing here is state: an element is a function of its index, so a save is the
// consumer's position, whatever was computed ahead, and a restore (a Take at another position)
// drops what was computed and starts there. An interrupt of the consumer's wait leaves with
// nothing taken: the next Take of the same positions finds them computed or in flight.
#ifndef INPUTPIPE_OPS_THREADING_PARALLEL_GETS_H_
#define INPUTPIPE_OPS_THREADING_PARALLEL_GETS_H_

#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <vector>

#include "inputpipe/dataset.h"
#include "ops/threading/worker_threads.h"
#include "util/mutex.h"

namespace inputpipe {

class ParallelGets {
 public:
  // The threads worth spreading ds's Get over: the most of any parallel map in it (capped by
  // the options in force), 1 when there is none.
  static int64_t ThreadsFor(const Dataset& ds);

  // REQUIRES: `ds` outlives this object; threads >= 1; window >= 1. `counters`: the owning
  // iterator's stats_counters() (may be null), whose `seconds` the Gets' time goes to.
  ParallelGets(const Dataset& ds, int64_t iteration, int64_t threads, int64_t window,
               std::function<int64_t(int64_t position)> index_of,
               stats_internal::OpCounters* counters);
  ~ParallelGets();  // stops and joins the threads; calls in flight are abandoned
  ParallelGets(const ParallelGets&) = delete;
  ParallelGets& operator=(const ParallelGets&) = delete;

  struct Taken {
    std::vector<Element> elements;  // one per position, in order, when none failed
    std::exception_ptr error;       // the first failed position's error (elements then empty)
  };
  // The elements at [position, position + count). REQUIRES: every one of them has an index.
  Taken Take(int64_t position, int64_t count) EXCLUDES(mu_);

 private:
  struct Result {
    Element element;
    std::exception_ptr error;
  };
  void Work() EXCLUDES(mu_);
  // Every position of [position, position + count) has its result.
  bool Ready(int64_t position, int64_t count) const REQUIRES(mu_);

  const Dataset& ds_;
  const int64_t iteration_;
  const int64_t threads_count_;
  const int64_t window_;
  const std::function<int64_t(int64_t)> index_of_;
  stats_internal::OpCounters* const counters_;

  Mutex mu_;
  CondVar work_cv_, consumer_cv_;
  int64_t taken_ GUARDED_BY(mu_) = 0;  // the consumer's next position
  int64_t want_ GUARDED_BY(mu_) = 0;   // the end of the current Take: computed whatever the window
  int64_t next_ GUARDED_BY(mu_) = 0;   // the next position a thread computes
  int64_t end_ GUARDED_BY(mu_) = -1;   // the first position with no index, once seen
  // Bumped by a Take elsewhere than `taken_`: a result computed for an older one is dropped.
  int64_t generation_ GUARDED_BY(mu_) = 0;
  std::map<int64_t, Result> results_ GUARDED_BY(mu_);
  WorkerThreads threads_{mu_, {&work_cv_, &consumer_cv_}};  // last: joined first
};

}  // namespace inputpipe

#endif  // INPUTPIPE_OPS_THREADING_PARALLEL_GETS_H_
