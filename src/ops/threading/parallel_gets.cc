#include "ops/threading/parallel_gets.h"

#include <algorithm>
#include <string>
#include <utility>

#include "core/interrupt.h"
#include "core/op_stats.h"
#include "core/options_context.h"
#include "ops/iteration_access.h"
#include "ops/map_dataset.h"

namespace inputpipe {

int64_t ParallelGets::ThreadsFor(const Dataset& ds) {
  int64_t threads = 1;
  if (const auto* map = dynamic_cast<const MapDatasetBase*>(&ds)) {
    threads = std::max<int64_t>(1, CappedThreads(map->threads_for_get()));
  }
  for (const DatasetPtr& input : ds.inputs()) threads = std::max(threads, ThreadsFor(*input));
  return threads;
}

ParallelGets::ParallelGets(const Dataset& ds, int64_t iteration, int64_t threads,
                           int64_t window, std::function<int64_t(int64_t)> index_of,
                           stats_internal::OpCounters* counters)
    : ds_(ds),
      iteration_(iteration),
      threads_count_(threads),
      window_(window),
      index_of_(std::move(index_of)),
      counters_(counters) {}

ParallelGets::~ParallelGets() = default;  // threads_, the last member, stops and joins first

ParallelGets::Taken ParallelGets::Take(int64_t position, int64_t count) {
  {
    MutexLock lock(mu_);
    if (position != taken_) {  // a restore, or the first Take: start over there
      ++generation_;
      results_.clear();
      taken_ = next_ = position;
      end_ = -1;
    }
    want_ = position + count;
  }
  // Started once the position is set: their first element is the one asked for.
  if (!threads_.started()) threads_.Start(threads_count_, [this] { Work(); });
  work_cv_.SignalAll();
  Taken taken;
  {
    // An interrupt leaves before anything is taken: the results stay for the next Take.
    InterruptibleWait wait;
    MutexLock lock(mu_);
    while (!Ready(position, count) && !threads_.stopping()) {
      if (end_ >= 0 && end_ < position + count) {
        throw InvalidArgumentError("ParallelGets: position " + std::to_string(end_) +
                                   " has no index, but Take asked for [" +
                                   std::to_string(position) + ", " +
                                   std::to_string(position + count) + ")");
      }
      wait.Wait(consumer_cv_, mu_);
    }
    threads_.RethrowIfFailed();
    if (threads_.stopping()) throw FailedPreconditionError("ParallelGets: stopped");
    auto it = results_.find(position);
    for (int64_t p = position; p < position + count; ++p) {
      Result& result = it->second;
      if (result.error && !taken.error) taken.error = std::move(result.error);
      if (!taken.error) taken.elements.push_back(std::move(result.element));
      it = results_.erase(it);
    }
    if (taken.error) taken.elements.clear();
    taken_ = position + count;
  }
  work_cv_.SignalAll();  // the window moved
  return taken;
}

bool ParallelGets::Ready(int64_t position, int64_t count) const {
  auto it = results_.lower_bound(position);
  for (int64_t p = position; p < position + count; ++p, ++it) {
    if (it == results_.end() || it->first != p) return false;
  }
  return true;
}

void ParallelGets::Work() {
  MutexLock lock(mu_);
  while (!threads_.stopping()) {
    const int64_t limit = std::max(taken_ + window_, want_);
    if ((end_ >= 0 && next_ >= end_) || next_ >= limit) {
      work_cv_.Wait(mu_);
      continue;
    }
    const int64_t position = next_++;
    const int64_t generation = generation_;
    int64_t index;
    Result result;
    {
      MutexUnlock unlock(mu_);
      index = index_of_(position);
      if (index >= 0) {
        try {
          OpWorkScope work(counters_);  // the rows' time: the owning op's own
          result.element = GetInIteration(ds_, index, iteration_);
        } catch (const OwnerStopping&) {
          return;  // this object is being destroyed: what was asked is no one's now
        } catch (...) {
          result.error = std::current_exception();
        }
      }
    }
    if (generation != generation_) continue;  // computed for a position given up since
    if (index < 0) {
      if (end_ < 0 || position < end_) end_ = position;
    } else {
      results_.emplace(position, std::move(result));
    }
    consumer_cv_.SignalAll();
  }
}

}  // namespace inputpipe
