// What the per-op statistics (Iterator::Stats) cost on the hot path: the throughput of
// range -> map(a C++ function) -> batch(64), and of range -> batch(64), whose per-element work is
// a few tens of nanoseconds, so that a clock read per element would show.
//
// Build it against a library build and run it, then do the same against a build of the commit
// before the statistics, back to back (the machine is shared: compare runs made together):
//
//   g++ -O2 -std=c++20 -Iinclude bench/micro_stats.cc build/cpp/libinputpipe.a -lz -lpthread \
//       -o /tmp/micro_stats && /tmp/micro_stats
//
// Prints one line per pipeline: the median of 7 runs, in million elements per second.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "inputpipe/ops.h"

using namespace inputpipe;

namespace {

Element AddOne(const Element& e) { return Tensor::Scalar<int64_t>(e.tensor().scalar<int64_t>() + 1); }

double MillionsPerSecond(const DatasetPtr& ds, int64_t elements) {
  auto it = ds->MakeIterator();
  const auto start = std::chrono::steady_clock::now();
  int64_t batches = 0;
  while (it->GetNext()) ++batches;
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (batches == 0) std::abort();
  return static_cast<double>(elements) / seconds * 1e-6;
}

void Report(const char* name, const DatasetPtr& ds, int64_t elements) {
  std::vector<double> runs;
  for (int i = 0; i < 7; ++i) runs.push_back(MillionsPerSecond(ds, elements));
  std::sort(runs.begin(), runs.end());
  std::printf("%-32s %6.2f M elements/s (min %.2f, max %.2f)\n", name, runs[3], runs[0], runs[6]);
}

}  // namespace

int main() {
  constexpr int64_t kElements = 2'000'000;
  Report("range -> map(add_one) -> batch(64)",
         Batch(Map(Range(0, kElements), AddOne, {.name = "add_one"}), 64), kElements);
  Report("range -> batch(64)", Batch(Range(0, kElements), 64), kElements);
  return 0;
}
