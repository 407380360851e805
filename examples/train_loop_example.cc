// A C++ training loop with CheckpointInputPipelineHook: train, "crash" mid-run, restart from the
// checkpoint directory, and check that the batches seen across the crash equal an uninterrupted
// run.
//
//   cmake -S . -B build -DINPUTPIPE_BUILD_EXAMPLES=ON && cmake --build build
//   ./build/train_loop_example [checkpoint_dir]     # default: a fresh directory under /tmp
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "inputpipe/hook.h"
#include "inputpipe/ops.h"

using namespace inputpipe;

constexpr int64_t kTotalSteps = 120;

// Rebuilt from code at every start; only the iterator's position is checkpointed.
DatasetPtr MakePipeline() {
  DatasetPtr ds = GlobalShuffle(Range(0, 4000), /*seed=*/42);
  ds = Map(
      ds,
      [](const Element& e) {
        return Element(Tensor::Scalar<double>(e.tensor().scalar<int64_t>() * 0.001));
      },
      {.name = "to_feature"}, /*num_parallel_calls=*/2);
  return Prefetch(Batch(ds, 16, /*drop_remainder=*/true), 4);
}

// Runs the loop from whatever `dir` holds until `stop_at` steps (a crash when < kTotalSteps:
// the hook is dropped without End(), as a killed process would). Returns the first value of
// each batch trained on.
std::vector<double> Train(const std::string& dir, int64_t stop_at) {
  DatasetPtr ds = MakePipeline();
  std::unique_ptr<Iterator> it = ds->MakeIterator();
  CheckpointHookOptions options;
  options.save_steps = 25;
  options.max_to_keep = 3;
  CheckpointInputPipelineHook hook({{"train", it.get()}}, dir, options);
  std::optional<int64_t> restored = hook.Begin();
  int64_t step = restored.value_or(0);
  std::printf(restored ? "resumed from step %lld\n" : "started at step %lld\n",
              static_cast<long long>(step));
  std::vector<double> seen;
  while (step < stop_at) {
    std::optional<Element> batch = it->GetNext();
    if (!batch) break;
    seen.push_back(batch->tensor().data<double>()[0]);  // "train" on it
    hook.AfterStep(++step);
  }
  if (stop_at >= kTotalSteps) {
    hook.End();
    CheckpointHookStats stats = hook.stats();
    std::printf("%lld saves, %.1f us each on the training thread (max %.1f us), %lld bytes each\n",
                static_cast<long long>(stats.saves_captured),
                1e6 * stats.total_capture_seconds / static_cast<double>(stats.saves_captured),
                1e6 * stats.max_capture_seconds,
                static_cast<long long>(stats.last_checkpoint_bytes));
  } else {
    hook.Flush();  // a real crash may lose the saves still queued; here the run is repeatable
    std::printf("crashed at step %lld\n", static_cast<long long>(step));
  }
  return seen;
}

int main(int argc, char** argv) {
  std::string base;
  if (argc > 1) {
    base = argv[1];
  } else {
    std::string pattern = (std::filesystem::temp_directory_path() / "train_loop_XXXXXX").string();
    base = ::mkdtemp(pattern.data());
  }
  std::vector<double> reference = Train(base + "/reference", kTotalSteps);

  const std::string dir = base + "/run";
  std::vector<double> before = Train(dir, 63);  // last save at step 50: steps 51..63 are redone
  std::vector<double> after = Train(dir, kTotalSteps);
  std::vector<double> timeline(before.begin(), before.begin() + 50);
  timeline.insert(timeline.end(), after.begin(), after.end());

  if (argc <= 1) std::filesystem::remove_all(base);
  if (timeline != reference) {
    std::printf("MISMATCH: the batches across the crash differ from the uninterrupted run\n");
    return 1;
  }
  std::printf("OK: %zu batches across the crash equal the uninterrupted run\n", timeline.size());
  return 0;
}
