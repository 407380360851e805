// Fault injection and crash simulation under the hook's checkpoint storage.
//
// Through FaultyFileSystem (faulty_file_system.h), for a hook saving a shuffled, batched,
// prefetched pipeline:
//   - ENOSPC and EIO on every mutating call of a save (each open, write, fsync, close, rename,
//     directory fsync, unlink): the save reports the error, the previous checkpoint still loads
//     and resumes exactly, and the next save succeeds;
//   - a crash at every instant of every save, in every way the crash model allows: the restored
//     position is never older than the last save reported done, and always resumes exactly;
//   - each fsync of a save turned into a no-op: some crash then loses a save reported done, so
//     the checks above fail without it (every fsync is needed).
// Counts are printed ("[reliability] ...").
#include <gtest/gtest.h>

#include <cerrno>
#include <iostream>

#include "hook/checkpoint_file.h"
#include "inputpipe/hook.h"
#include "inputpipe/ops.h"
#include "reliability/faulty_file_system.h"

namespace inputpipe {
namespace {

using reliability::FaultyFileSystem;

constexpr char kDir[] = "/ckpt";
constexpr int64_t kStepsPerSave = 10;
constexpr int64_t kCheckElements = 4;

DatasetPtr TrainPipeline() {
  return Prefetch(Batch(Shuffle(Range(0, 5000), 64, /*seed=*/5), 4), 3);
}

// The first value of every batch of an uninterrupted run: what step s of training reads.
const std::vector<int64_t>& Expected() {
  static const std::vector<int64_t> expected = [] {
    std::vector<int64_t> out;
    auto it = TrainPipeline()->MakeIterator();
    while (auto batch = it->GetNext()) out.push_back(batch->tensor().data<int64_t>()[0]);
    return out;
  }();
  return expected;
}

CheckpointHookOptions Options(FileSystem* fs, int64_t max_to_keep, std::vector<std::string>* warnings) {
  CheckpointHookOptions options;
  options.save_steps = 1'000'000;  // saves are explicit (hook.Save) in these tests
  options.max_to_keep = max_to_keep;
  options.file_system = fs;
  options.on_warning = [warnings](const std::string& w) { warnings->push_back(w); };
  return options;
}

// What restoring from `fs` gives: empty when it restores a step >= min_step (or nothing, when
// min_step < 0) and resumes exactly there, and, when `exact_step` is set, the index names that
// step; otherwise what is wrong.
std::string CheckRestore(FileSystem& fs, int64_t min_step, std::optional<int64_t> exact_step = {}) {
  std::vector<std::string> warnings;
  try {
    auto it = TrainPipeline()->MakeIterator();
    std::optional<int64_t> step;
    {
      CheckpointInputPipelineHook hook({{"train", it.get()}}, kDir, Options(&fs, 2, &warnings));
      step = hook.Begin();
      // Begin saved the initial state when nothing was restored; the destructor writes it.
    }
    int64_t from = step.value_or(0);
    if (!step && min_step >= 0) {
      return "nothing restored, a save at step " + std::to_string(min_step) + " was reported done";
    }
    if (step && *step < min_step) {
      return "restored step " + std::to_string(*step) + " < step " + std::to_string(min_step) +
             " reported done";
    }
    if (exact_step && step != exact_step) {
      return "restored step " + std::to_string(from) + ", expected " + std::to_string(*exact_step);
    }
    for (int64_t i = 0; i < kCheckElements; ++i) {
      auto batch = it->GetNext();
      if (!batch || batch->tensor().data<int64_t>()[0] != Expected()[from + i]) {
        return "restored at step " + std::to_string(from) + " but element " + std::to_string(i) +
               " differs: not an exact resume";
      }
    }
    if (exact_step) {
      auto latest = LatestInputCheckpoint(kDir, "input", &fs);
      std::string want = JoinPath(kDir, hook_internal::CheckpointFileName("input", *exact_step));
      if (latest != want) return "the index names " + latest.value_or("nothing") + ", not " + want;
    }
  } catch (const std::exception& e) {
    return std::string("restore threw: ") + e.what();
  }
  return "";
}

// A training run on `fs` saving at steps 0, 10, 20, ... with a Flush after each save, which is
// when a save is reported done. `before_save(i)` runs before save i (i = 0 is Begin's).
struct TrainingRun {
  FaultyFileSystem fs;
  std::vector<std::string> warnings;
  std::unique_ptr<Iterator> it = TrainPipeline()->MakeIterator();
  std::unique_ptr<CheckpointInputPipelineHook> hook;
  int64_t step = 0;
  int64_t committed = -1;  // the last step reported done

  explicit TrainingRun(int64_t max_to_keep) {
    fs.CreateDirs(kDir);
    hook = std::make_unique<CheckpointInputPipelineHook>(
        std::vector<std::pair<std::string, Iterator*>>{{"train", it.get()}}, kDir,
        Options(&fs, max_to_keep, &warnings));
  }
  // Returns the error the save reported, or "" when it was reported done.
  std::string SaveNext() {
    try {
      if (step == 0 && committed < 0) {
        hook->Begin(0);
      } else {
        for (int64_t i = 0; i < kStepsPerSave; ++i) {
          auto batch = it->GetNext();
          EXPECT_EQ(batch->tensor().data<int64_t>()[0], Expected()[step]);
          ++step;
        }
        hook->Save(step);
      }
      hook->Flush();
    } catch (const IOError& e) {
      return e.what();
    }
    committed = step;
    return "";
  }
};

// A crash at every instant of each save, in every way allowed (the crash images before each
// file-system call, and after the save): the restored step is >= the last one reported done.
struct CrashAudit {
  int64_t images = 0;
  std::vector<std::string> violations;

  // Checks the crash images of every instant of `action` (one save) and of just after it.
  void During(TrainingRun& run, const std::function<std::string()>& action, bool expect_ok = true) {
    struct Taken {
      int64_t min_step;                // the last step reported done when the image was taken
      std::optional<int64_t> exact;    // the step it must restore (after a save reported done)
      std::unique_ptr<FaultyFileSystem> image;
    };
    std::vector<Taken> taken;
    const int64_t before = run.committed;
    run.fs.OnEvent([&](const FaultyFileSystem::Event&, FaultyFileSystem& self) {
      for (auto& image : self.CrashImagesLocked()) taken.push_back({before, {}, std::move(image)});
    });
    std::string error = action();
    run.fs.OnEvent(nullptr);
    if (expect_ok) EXPECT_EQ(error, "");
    std::optional<int64_t> exact;
    if (error.empty()) exact = run.committed;
    for (auto& image : run.fs.CrashImages()) taken.push_back({run.committed, exact, std::move(image)});
    for (auto& t : taken) {
      ++images;
      std::string problem = CheckRestore(*t.image, t.min_step, t.exact);
      if (!problem.empty()) violations.push_back(problem);
    }
  }
};

int64_t g_faults = 0;
int64_t g_crash_images = 0;
int64_t g_fsyncs_proved = 0;

// ENOSPC and EIO on each mutating call of a save (the third, so that retention deletes too).
TEST(ReliabilityFaultTest, EveryFaultOfASaveIsReportedAndThePreviousCheckpointLoads) {
  for (int64_t max_to_keep : {1, 2}) {
    // A dry run: the calls of the third save.
    int64_t first, last;
    std::vector<FaultyFileSystem::Event> events;
    {
      TrainingRun run(max_to_keep);
      for (int i = 0; i < 3; ++i) ASSERT_EQ(run.SaveNext(), "");
      first = run.fs.event_count();
      ASSERT_EQ(run.SaveNext(), "");
      last = run.fs.event_count();
      events = run.fs.events();
    }
    ASSERT_GE(last - first, 10) << "a save: open, write, fsync, close, rename, fsync dir, x2";
    for (int64_t k = first; k < last; ++k) {
      for (int error : {ENOSPC, EIO}) {
        SCOPED_TRACE(std::string("fault: ") + FaultyFileSystem::OpName(events[k].op) + " " +
                     events[k].path + ": " + std::strerror(error) +
                     ", max_to_keep=" + std::to_string(max_to_keep));
        TrainingRun run(max_to_keep);
        for (int i = 0; i < 3; ++i) ASSERT_EQ(run.SaveNext(), "");
        int64_t previous = run.committed;
        ASSERT_EQ(run.fs.event_count(), first);
        run.fs.FailAt(k, error);
        CrashAudit audit;
        audit.During(run, [&] { return run.SaveNext(); }, /*expect_ok=*/false);
        ASSERT_EQ(run.fs.faults_injected(), 1);
        ++g_faults;
        // The save reported the error, with the system's reason and the step.
        EXPECT_EQ(run.committed, previous) << "a failed save was reported done";
        CheckpointHookStats stats = run.hook->stats();
        EXPECT_EQ(stats.saves_failed, 1);
        EXPECT_EQ(stats.last_committed_step, previous);
        // The previous checkpoint still loads (without a crash, and after any crash).
        EXPECT_EQ(CheckRestore(run.fs, previous), "");
        if (max_to_keep == 2) {
          auto it = TrainPipeline()->MakeIterator();
          std::vector<std::string> warnings;
          CheckpointInputPipelineHook hook({{"train", it.get()}}, kDir, Options(&run.fs, 2, &warnings));
          EXPECT_EQ(hook.RestoreForModelStep(previous), previous);
          EXPECT_EQ(it->GetNext()->tensor().data<int64_t>()[0], Expected()[previous]);
        }
        EXPECT_EQ(audit.violations, std::vector<std::string>{});
        g_crash_images += audit.images;
        // The fault was transient: the next save succeeds and is durable.
        CrashAudit next;
        next.During(run, [&] { return run.SaveNext(); });
        EXPECT_EQ(next.violations, std::vector<std::string>{});
        g_crash_images += next.images;
      }
    }
  }
  std::cout << "[reliability] faults injected (ENOSPC/EIO on each call of a save): " << g_faults
            << std::endl;
}

// Without faults: a crash at any instant of six saves loses nothing reported done.
TEST(ReliabilityFaultTest, CrashAtEveryInstantLosesNothingReportedDone) {
  for (int64_t max_to_keep : {1, 2, 3}) {
    TrainingRun run(max_to_keep);
    CrashAudit audit;
    for (int i = 0; i < 6; ++i) audit.During(run, [&] { return run.SaveNext(); });
    EXPECT_EQ(audit.violations, std::vector<std::string>{});
    EXPECT_GT(audit.images, 50);
    g_crash_images += audit.images;
  }
  std::cout << "[reliability] crash images checked so far: " << g_crash_images << std::endl;
}

// Each fsync of a save made a no-op: some crash then loses a save reported done, caught by the
// same audit. So removing any one fsync from the code makes the tests above fail.
TEST(ReliabilityFaultTest, RemovingAnyOneFsyncLosesASave) {
  int64_t first, last;
  std::vector<FaultyFileSystem::Event> events;
  {
    TrainingRun run(1);
    for (int i = 0; i < 3; ++i) ASSERT_EQ(run.SaveNext(), "");
    first = run.fs.event_count();
    ASSERT_EQ(run.SaveNext(), "");
    last = run.fs.event_count();
    events = run.fs.events();
  }
  int64_t fsyncs = 0;
  for (int64_t k = first; k < last; ++k) {
    FaultyFileSystem::Op op = events[k].op;
    if (op != FaultyFileSystem::Op::kSync && op != FaultyFileSystem::Op::kSyncDir) continue;
    ++fsyncs;
    TrainingRun run(1);
    for (int i = 0; i < 3; ++i) ASSERT_EQ(run.SaveNext(), "");
    run.fs.SkipSyncAt(k);
    CrashAudit audit;
    audit.During(run, [&] { return run.SaveNext(); });
    EXPECT_FALSE(audit.violations.empty())
        << "removing '" << FaultyFileSystem::OpName(op) << " " << events[k].path
        << "' loses nothing: the crash audit cannot see that fsync";
    if (!audit.violations.empty()) {
      ++g_fsyncs_proved;
      std::cout << "[reliability] without " << FaultyFileSystem::OpName(op) << " " << events[k].path
                << ": " << audit.violations.front() << std::endl;
    }
  }
  EXPECT_EQ(fsyncs, 4) << "a save fsyncs the checkpoint, its directory, the index, its directory";
  std::cout << "[reliability] fsyncs proved necessary: " << g_fsyncs_proved << " of " << fsyncs
            << std::endl;
}

}  // namespace
}  // namespace inputpipe
