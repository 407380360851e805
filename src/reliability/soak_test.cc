// Soak: N elements through shuffle + parallel map + prefetch, with the hook
// saving every 10 ms to a real directory, while the consumer checks every element exactly once.
// Reports and bounds peak RSS; counts threads (/proc/self/task) and file descriptors
// (/proc/self/fd) during and after the run: after the iterators and hook are gone both are back
// to where they started (no thread or fd leak).
//
// N is 200,000 by default (CI), 10,000,000 with INPUTPIPE_LONG=1, or INPUTPIPE_SOAK_ELEMENTS.
// Halfway, the state is kept; after the run it is restored into a fresh iterator whose output,
// joined with what was consumed before the save, must cover every element exactly once.
#include <dirent.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>

#include "inputpipe/hook.h"
#include "inputpipe/ops.h"
#include "testing/scratch_dir.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define INPUTPIPE_SOAK_SANITIZED 1
#else
#define INPUTPIPE_SOAK_SANITIZED 0
#endif

namespace inputpipe {
namespace {

int64_t SoakElements() {
  if (const char* n = std::getenv("INPUTPIPE_SOAK_ELEMENTS")) return std::stoll(n);
  if (const char* long_run = std::getenv("INPUTPIPE_LONG"); long_run && std::string(long_run) == "1") {
    return 10'000'000;
  }
  return 200'000;
}

int64_t CountEntries(const char* dir) {
  int64_t n = 0;
  DIR* d = ::opendir(dir);
  if (d == nullptr) return -1;
  while (struct dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(d);
  return n - (std::string(dir) == "/proc/self/fd" ? 1 : 0);  // the opendir's own fd
}

// A field of /proc/self/status in kB ("VmRSS", "VmHWM").
int64_t StatusKb(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stoll(line.substr(field.size() + 1));
  }
  return -1;
}

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

DatasetPtr SoakPipeline(int64_t n) {
  auto plus_one = [](const Element& e) {
    return Element(Tensor::Scalar<int64_t>(e.tensor().scalar<int64_t>() + 1));
  };
  return Prefetch(Map(Shuffle(Range(0, n), 1024, /*seed=*/17), plus_one, {"plus_one"}, 4), 16);
}

TEST(ReliabilitySoakTest, ShuffleParallelMapPrefetchWithSavesEvery10ms) {
  const int64_t n = SoakElements();
  testing::ScratchDir scratch;
  const std::string& dir = scratch.path();
  const int64_t threads_before = CountEntries("/proc/self/task");
  const int64_t fds_before = CountEntries("/proc/self/fd");
  const int64_t rss_before = StatusKb("VmRSS");

  std::vector<uint8_t> seen(n, 0);
  std::vector<uint8_t> seen_at_half;
  std::string state_at_half;
  int64_t max_threads = 0, max_fds = 0, duplicates = 0, out_of_range = 0, consumed = 0;
  int64_t rss_at_quarter = 0;
  CheckpointHookStats stats;
  double start = Now();
  {
    auto it = SoakPipeline(n)->MakeIterator();
    CheckpointHookOptions options;
    options.save_secs = 0.010;
    options.max_to_keep = 3;
    CheckpointInputPipelineHook hook({{"soak", it.get()}}, dir, options);
    hook.Begin();
    int64_t step = 0;
    while (auto e = it->GetNext()) {
      int64_t v = e->tensor().scalar<int64_t>() - 1;
      if (v < 0 || v >= n) {
        ++out_of_range;
      } else if (seen[v]++) {
        ++duplicates;
      }
      ++consumed;
      hook.AfterStep(++step);
      if (step == n / 2) {
        state_at_half = it->Save();
        seen_at_half = seen;
      }
      if (step == n / 4) rss_at_quarter = StatusKb("VmRSS");
      if (step % 4096 == 0) {
        max_threads = std::max(max_threads, CountEntries("/proc/self/task"));
        max_fds = std::max(max_fds, CountEntries("/proc/self/fd"));
      }
    }
    hook.End();
    stats = hook.stats();
  }
  const double seconds = Now() - start;
  const int64_t rss_end = StatusKb("VmRSS");
  const int64_t peak = StatusKb("VmHWM");

  EXPECT_EQ(consumed, n);
  EXPECT_EQ(duplicates, 0);
  EXPECT_EQ(out_of_range, 0);
  int64_t missing = 0;
  for (uint8_t s : seen) missing += s == 0;
  EXPECT_EQ(missing, 0);

  // The halfway state, restored in a fresh iterator: the rest completes every element once.
  int64_t resumed = 0, resumed_duplicates = 0;
  {
    auto it = SoakPipeline(n)->MakeIterator();
    it->Restore(state_at_half);
    while (auto e = it->GetNext()) {
      int64_t v = e->tensor().scalar<int64_t>() - 1;
      ASSERT_TRUE(v >= 0 && v < n);
      if (seen_at_half[v]++) ++resumed_duplicates;
      ++resumed;
    }
  }
  EXPECT_EQ(resumed_duplicates, 0);
  EXPECT_EQ(resumed, n - n / 2);

  // No leak: the threads and fds are back to where they started.
  const int64_t threads_after = CountEntries("/proc/self/task");
  const int64_t fds_after = CountEntries("/proc/self/fd");
  EXPECT_EQ(threads_after, threads_before);
  EXPECT_EQ(fds_after, fds_before);
  // Bounded during the run: the 4 map workers, the prefetch thread, the hook's writer, a few
  // more; and a handful of fds (a checkpoint being written).
  EXPECT_LE(max_threads, threads_before + 12);
  EXPECT_LE(max_fds, fds_before + 8);
  EXPECT_GT(stats.saves_committed, 0);
  EXPECT_EQ(stats.saves_failed, 0);
  // Memory: after the first quarter the resident set does not keep growing (states are
  // positions, not data). Not asserted under sanitizers, whose quarantine and shadow grow it.
  if (!INPUTPIPE_SOAK_SANITIZED) {
    EXPECT_LE(rss_end - rss_at_quarter, 64 * 1024) << "RSS grew by more than 64 MiB";
    EXPECT_LE(peak - rss_before, 512 * 1024) << "peak RSS more than 512 MiB above the start";
  }
  std::cout << "[reliability] soak: " << n << " elements (records checked: " << n + resumed
            << ", duplicates " << duplicates << ", missing " << missing << ") in " << seconds
            << " s; saves captured " << stats.saves_captured << ", committed "
            << stats.saves_committed << ", max capture " << stats.max_capture_seconds * 1e6
            << " us; RSS start " << rss_before / 1024 << " MiB, at 1/4 " << rss_at_quarter / 1024
            << " MiB, end " << rss_end / 1024 << " MiB, peak " << peak / 1024
            << " MiB; threads " << threads_before << " -> max " << max_threads << " -> "
            << threads_after << "; fds " << fds_before << " -> max " << max_fds << " -> "
            << fds_after << std::endl;
}

}  // namespace
}  // namespace inputpipe
