#include "core/op_stats.h"

#include <algorithm>
#include <cstdio>

namespace inputpipe {

namespace stats_internal {

constinit thread_local ThreadStats thread_stats [[gnu::tls_model("initial-exec")]];
Frame untimed;

std::shared_ptr<OpCounters> OpCounters::MakeTree(DatasetPtr dataset) {
  auto node = std::make_shared<OpCounters>();
  for (const auto& input : dataset->inputs()) node->inputs.push_back(MakeTree(input));
  node->dataset = std::move(dataset);
  return node;
}

std::shared_ptr<OpCounters> OpCounters::ForInput(const Dataset& input) {
  // The same dataset twice among the inputs (zip(a, a)): each iterator takes its own counters,
  // the first free one; a later iterator of it (repeat's next epoch) adds to the first.
  std::shared_ptr<OpCounters> first;
  for (const auto& node : inputs) {
    if (node->dataset.get() != &input) continue;
    if (!node->adopted.exchange(true, std::memory_order_relaxed)) return node;
    if (!first) first = node;
  }
  return first;
}

namespace {

double Seconds(const std::atomic<int64_t>& ns) {
  return static_cast<double>(ns.load(std::memory_order_relaxed)) * 1e-9;
}

// `node` and its inputs in Pipeline() order (core/dataset.cc's AppendPipeline).
void AppendOps(const OpCounters& node, int depth, bool root, std::vector<OpStats>* out) {
  if (!node.dataset->transparent()) {
    OpStats op;
    op.name = node.dataset->Signature();
    op.depth = depth;
    op.iterated = root || node.adopted.load(std::memory_order_relaxed);
    op.elements = node.elements.load(std::memory_order_relaxed);
    op.seconds = Seconds(node.own_ns) + Seconds(node.work_ns);
    op.wait_seconds = Seconds(node.total_ns);
    op.threads = node.threads.load(std::memory_order_relaxed);
    op.buffer_capacity = node.buffer_capacity.load(std::memory_order_relaxed);
    if (op.buffer_capacity > 0) {
      op.buffer_current = node.buffer_current.load(std::memory_order_relaxed);
      const int64_t samples = node.buffer_samples.load(std::memory_order_relaxed);
      if (samples > 0) {
        op.buffer_average = static_cast<double>(node.buffer_sum.load(std::memory_order_relaxed)) /
                            static_cast<double>(samples);
      }
    }
    out->push_back(std::move(op));
    ++depth;
  }
  for (const auto& input : node.inputs) AppendOps(*input, depth, /*root=*/false, out);
}

}  // namespace

}  // namespace stats_internal

using stats_internal::thread_stats;

OpWorkScope::OpWorkScope(stats_internal::OpCounters* counters) {
  if (counters == nullptr) return;
  stats_internal::ThreadStats& t = thread_stats;
  // Iterators the work makes (a map function's own pipeline) are made for an element.
  saved_current_ = t.current;
  t.current = counters;
  const int64_t weight = t.frame == nullptr ? stats_internal::SampleWeight(t.work_calls++)
                         : t.frame == &stats_internal::untimed ? 0
                                                                : t.frame->weight;
  if (weight == 0) return;
  counters_ = counters;
  frame_.weight = weight;
  saved_frame_ = t.frame;
  t.frame = &frame_;
  start_ = stats_internal::NowNanos();
}

OpWorkScope::~OpWorkScope() {
  if (saved_current_ != nullptr) thread_stats.current = *saved_current_;
  if (counters_ == nullptr) return;
  const int64_t elapsed = stats_internal::NowNanos() - start_;
  thread_stats.frame = saved_frame_;
  counters_->work_ns.fetch_add((elapsed - frame_.nested_ns) * frame_.weight,
                               std::memory_order_relaxed);
  if (saved_frame_ != nullptr) saved_frame_->nested_ns += elapsed;
}

void Iterator::ReportBufferFill(int64_t current, int64_t capacity) {
  if (!stats_) return;
  stats_->buffer_current.store(current, std::memory_order_relaxed);
  stats_->buffer_capacity.store(capacity, std::memory_order_relaxed);
}

void Iterator::ReportThreads(int64_t threads) {
  if (stats_) stats_->threads.store(threads, std::memory_order_relaxed);
}

IteratorStats Iterator::Stats() const {
  {
    std::lock_guard<std::mutex> lock(fresh_mu_);
    if (fresh_ != nullptr) return fresh_->Stats();
  }
  IteratorStats stats;
  if (stats_) {
    const stats_internal::OpCounters& root = *stats_;
    stats_internal::AppendOps(root, 0, /*root=*/true, &stats.ops);
    stats.elements = root.elements.load(std::memory_order_relaxed);
    stats.next_seconds = stats_internal::Seconds(root.total_ns);
    const int64_t first = root.first_call_ns.load(std::memory_order_relaxed);
    if (first >= 0) {
      stats.wall_seconds = static_cast<double>(stats_internal::NowNanos() - first) * 1e-9;
    }
    if (stats.wall_seconds > 0) {
      stats.input_bound = std::min(1.0, stats.next_seconds / stats.wall_seconds);
    }
  }
  stats.summary = StatsSummary(stats);
  return stats;
}

std::string StatsSummary(const IteratorStats& stats) {
  const OpStats* busiest = nullptr;
  double busiest_rate = 0;
  double total = 0;
  for (const OpStats& op : stats.ops) {
    const double per_thread = op.seconds / static_cast<double>(std::max<int64_t>(1, op.threads));
    total += per_thread;
    if (per_thread > busiest_rate) {
      busiest = &op;
      busiest_rate = per_thread;
    }
  }
  char head[96];
  std::snprintf(head, sizeof(head), "input-bound: %.0f%% of step time (%.3g s) ",
                100 * stats.input_bound, stats.wall_seconds);
  std::string line = head;
  if (busiest != nullptr) {
    char share[64];
    std::snprintf(share, sizeof(share), " (%.0f%% of the pipeline's time)",
                  100 * busiest_rate / total);
    line += "waiting on " + busiest->name + share;
  } else {
    line += "waiting, no op timed yet";
  }
  return line + "; " + std::to_string(stats.elements) + " elements";
}

}  // namespace inputpipe
