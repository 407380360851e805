// CheckpointInputPipelineHook: argument errors, file names, lifecycle, exact resumption, the
// index, retention, fallback past corrupt files, background-write failures, model-step
// matching, and a model checkpoint manager sharing the directory.
#include "inputpipe/hook.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "hook/checkpoint_file.h"
#include "hook/hook_test_util.h"
#include "inputpipe/ops.h"

namespace inputpipe {
namespace {

using hook_testing::FailingFileSystem;
using hook_testing::ScratchDir;

DatasetPtr Pipeline() { return Batch(Range(0, 400), 4); }

// The first value of each batch: identifies a batch of Pipeline().
int64_t NextBatch(Iterator& it) {
  std::optional<Element> batch = it.GetNext();
  EXPECT_TRUE(batch.has_value());
  return batch ? batch->tensor().data<int64_t>()[0] : -1;
}

CheckpointHookOptions EverySteps(int64_t n) {
  CheckpointHookOptions options;
  options.save_steps = n;
  return options;
}

std::vector<std::string> SortedNames(const std::string& dir) {
  std::vector<std::string> names = DefaultFileSystem().ListDir(dir);
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<int64_t> Steps(const CheckpointInputPipelineHook& hook) {
  std::vector<int64_t> steps;
  for (const auto& info : hook.ListCheckpoints()) steps.push_back(info.step);
  return steps;
}

// Runs `steps` training steps (one batch each) from a fresh hook in `dir`; returns the batches.
std::vector<int64_t> Train(const std::string& dir, int64_t steps, CheckpointHookOptions options) {
  auto it = Pipeline()->MakeIterator();
  CheckpointInputPipelineHook hook({{"train", it.get()}}, dir, std::move(options));
  int64_t step = hook.Begin().value_or(0);
  std::vector<int64_t> seen;
  while (step < steps) {
    seen.push_back(NextBatch(*it));
    hook.AfterStep(++step);
  }
  hook.End();
  return seen;
}

std::string ErrorOf(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

TEST(HookTest, ArgumentErrorsSayWhatIsWrong) {
  auto it = Pipeline()->MakeIterator();
  auto make = [&](CheckpointHookOptions options) {
    CheckpointInputPipelineHook hook({{"train", it.get()}}, "/tmp/x", std::move(options));
  };
  CheckpointHookOptions neither;
  EXPECT_THROW(make(neither), InvalidArgumentError);
  EXPECT_NE(ErrorOf([&] { make(neither); }).find("got neither"), std::string::npos);
  CheckpointHookOptions both = EverySteps(10);
  both.save_secs = 5;
  EXPECT_NE(ErrorOf([&] { make(both); }).find("got both"), std::string::npos);
  EXPECT_NE(ErrorOf([&] { make(EverySteps(0)); }).find("save_steps must be positive"),
            std::string::npos);
  CheckpointHookOptions secs;
  secs.save_secs = -1;
  EXPECT_NE(ErrorOf([&] { make(secs); }).find("save_secs must be positive"), std::string::npos);
  CheckpointHookOptions keep = EverySteps(1);
  keep.max_to_keep = 0;
  EXPECT_NE(ErrorOf([&] { make(keep); }).find("max_to_keep"), std::string::npos);
  CheckpointHookOptions bad_task = EverySteps(1);
  bad_task.task_type = "work/er";
  EXPECT_NE(ErrorOf([&] { make(bad_task); }).find("task_type"), std::string::npos);
  EXPECT_THROW(CheckpointInputPipelineHook({{"train", it.get()}}, "", EverySteps(1)),
               InvalidArgumentError);
  EXPECT_THROW(CheckpointInputPipelineHook({}, "/tmp/x", EverySteps(1)), InvalidArgumentError);
  EXPECT_THROW(
      CheckpointInputPipelineHook({{"a", it.get()}, {"a", it.get()}}, "/tmp/x", EverySteps(1)),
      InvalidArgumentError);
  EXPECT_THROW(CheckpointInputPipelineHook({{"a", nullptr}}, "/tmp/x", EverySteps(1)),
               InvalidArgumentError);
  CheckpointInputPipelineHook hook({{"train", it.get()}}, "/tmp/x", EverySteps(1));
  EXPECT_THROW(hook.AfterStep(1), FailedPreconditionError);  // before begin()
  EXPECT_NE(ErrorOf([&] { hook.AfterStep(1); }).find("before begin() (phase 'created')"),
            std::string::npos);
}

TEST(HookTest, SavesInitialStateThenEveryNStepsThenAtEnd) {
  ScratchDir dir;
  auto it = Pipeline()->MakeIterator();
  CheckpointInputPipelineHook hook({{"train", it.get()}}, dir.path(), EverySteps(10));
  EXPECT_EQ(hook.Begin(), std::nullopt);  // nothing to restore: saves the initial state
  for (int64_t step = 1; step <= 25; ++step) {
    NextBatch(*it);
    hook.AfterStep(step);
  }
  hook.End();
  EXPECT_EQ(Steps(hook), (std::vector<int64_t>{0, 10, 20, 25}));
  EXPECT_EQ(SortedNames(dir.path()),
            (std::vector<std::string>{"checkpoint_input", "input.ckpt-0", "input.ckpt-10",
                                      "input.ckpt-20", "input.ckpt-25"}));
  EXPECT_EQ(LatestInputCheckpoint(dir.path()), dir / "input.ckpt-25");
  CheckpointHookStats stats = hook.stats();
  EXPECT_EQ(stats.saves_captured, 4);
  EXPECT_EQ(stats.saves_committed, 4);
  EXPECT_EQ(stats.last_committed_step, 25);
  EXPECT_GT(stats.last_checkpoint_bytes, 0);
  EXPECT_LT(stats.last_checkpoint_bytes, 512);  // a position, never the data
  EXPECT_GE(stats.total_capture_seconds, stats.max_capture_seconds);
}

TEST(HookTest, RefusesAStepLowerThanOneSeenButTakesTheSameStepAgain) {
  ScratchDir dir;
  auto it = Pipeline()->MakeIterator();
  CheckpointInputPipelineHook hook({{"train", it.get()}}, dir.path(), EverySteps(2));
  hook.Begin();
  hook.AfterStep(4);
  hook.AfterStep(4);  // two batches in one optimizer step
  std::string error = ErrorOf([&] { hook.AfterStep(3); });
  EXPECT_NE(error.find("after_step: the global step went back from 4 to 3"), std::string::npos)
      << error;
  EXPECT_NE(error.find("restore_for_model_step(3)"), std::string::npos) << error;
  EXPECT_THROW(hook.Save(1), InvalidArgumentError);
  EXPECT_THROW(hook.End(2), InvalidArgumentError);
  hook.End();
  EXPECT_EQ(Steps(hook), (std::vector<int64_t>{0, 4}));  // nothing was saved at a lower step
}

TEST(HookTest, LogsTheStatsSummaryEveryNSteps) {
  ScratchDir dir;
  auto it = Pipeline()->MakeIterator();
  CheckpointHookOptions options = EverySteps(100);
  options.log_stats_steps = 3;
  std::vector<std::string> lines;
  options.on_stats = [&](const std::string& line) { lines.push_back(line); };
  CheckpointInputPipelineHook hook({{"train", it.get()}}, dir.path(), options);
  hook.Begin();
  for (int64_t step = 1; step <= 10; ++step) {
    NextBatch(*it);
    hook.AfterStep(step);
  }
  hook.End();
  ASSERT_EQ(lines.size(), 3u);  // steps 3, 6 and 9
  EXPECT_EQ(lines[0].rfind("train: input-bound: ", 0), 0u) << lines[0];
  EXPECT_NE(lines[0].find("; 3 elements"), std::string::npos) << lines[0];
  EXPECT_NE(lines[2].find("; 9 elements"), std::string::npos) << lines[2];
  EXPECT_NE(lines[2].find(" waiting on "), std::string::npos) << lines[2];

  options.log_stats_steps = -1;
  EXPECT_NE(ErrorOf([&] {
              CheckpointInputPipelineHook({{"train", it.get()}}, dir.path(), options);
            }).find("log_stats_steps must be >= 0"),
            std::string::npos);
}

TEST(HookTest, RestartResumesExactly) {
  ScratchDir dir;
  std::vector<int64_t> uninterrupted;
  auto reference = Pipeline()->MakeIterator();
  for (int i = 0; i < 60; ++i) uninterrupted.push_back(NextBatch(*reference));

  std::vector<int64_t> first = Train(dir.path(), 23, EverySteps(5));  // ends with a save at 23
  auto it = Pipeline()->MakeIterator();
  CheckpointInputPipelineHook hook({{"train", it.get()}}, dir.path(), EverySteps(5));
  ASSERT_EQ(hook.Begin(), 23);
  EXPECT_EQ(hook.stats().restored_step, 23);
  std::vector<int64_t> all = first;
  for (int64_t step = 24; step <= 60; ++step) {
    all.push_back(NextBatch(*it));
    hook.AfterStep(step);
  }
  EXPECT_EQ(all, uninterrupted);
  hook.End();
}

TEST(HookTest, SavesSeveralIteratorsTogether) {
  ScratchDir dir;
  auto train = Pipeline()->MakeIterator();
  auto aux = Range(1000, 2000)->MakeIterator();
  {
    CheckpointInputPipelineHook hook({{"train", train.get()}, {"aux", aux.get()}}, dir.path(),
                                     EverySteps(3));
    hook.Begin();
    for (int64_t step = 1; step <= 7; ++step) {
      NextBatch(*train);
      aux->GetNext();
      aux->GetNext();
      hook.AfterStep(step);
    }
    hook.End();
  }
  auto train2 = Pipeline()->MakeIterator();
  auto aux2 = Range(1000, 2000)->MakeIterator();
  CheckpointInputPipelineHook hook({{"aux", aux2.get()}, {"train", train2.get()}}, dir.path(),
                                   EverySteps(3));
  EXPECT_EQ(hook.Begin(), 7);
  EXPECT_EQ(NextBatch(*train2), 28);
  EXPECT_EQ(aux2->GetNext()->tensor().scalar<int64_t>(), 1014);

  // Another set of names is a mismatch, not something to restore silently.
  auto lone = Pipeline()->MakeIterator();
  CheckpointInputPipelineHook other({{"train", lone.get()}}, dir.path(), EverySteps(3));
  std::string error = ErrorOf([&] { other.Begin(); });
  EXPECT_NE(error.find("'aux'"), std::string::npos) << error;
  EXPECT_THROW(other.RestoreForModelStep(7), PipelineMismatchError);
}

TEST(HookTest, MultiWorkerFileNames) {
  ScratchDir dir;
  CheckpointHookOptions options = EverySteps(2);
  options.task_type = "worker";
  options.task_id = 1;
  auto it = Pipeline()->MakeIterator();
  CheckpointInputPipelineHook hook({{"train", it.get()}}, dir.path(), options);
  EXPECT_EQ(hook.prefix(), "input_worker_1");
  EXPECT_EQ(hook.index_path(), dir / "checkpoint_input_worker_1");
  hook.Begin();
  NextBatch(*it);
  NextBatch(*it);
  hook.AfterStep(2);
  hook.End();
  EXPECT_EQ(SortedNames(dir.path()),
            (std::vector<std::string>{"checkpoint_input_worker_1", "input_worker_1.ckpt-0",
                                      "input_worker_1.ckpt-2"}));
  EXPECT_EQ(LatestInputCheckpoint(dir.path(), "input_worker_1"), dir / "input_worker_1.ckpt-2");
}

TEST(HookTest, ModelCheckpointManagerInTheSameDirectory) {
  ScratchDir dir;
  const std::vector<std::string> model_files = {"checkpoint", "model.ckpt-10.index",
                                                "model.ckpt-10.data-00000-of-00001",
                                                "model.ckpt-20", "ckpt-3"};
  for (const auto& name : model_files) std::ofstream(dir / name) << "model bytes of " << name;
  CheckpointHookOptions options = EverySteps(10);
  options.max_to_keep = 1;
  Train(dir.path(), 30, options);
  std::vector<std::string> expected = model_files;
  expected.push_back("checkpoint_input");
  expected.push_back("input.ckpt-30");
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(SortedNames(dir.path()), expected);
  EXPECT_EQ(DefaultFileSystem().ReadFile(dir / "checkpoint"), "model bytes of checkpoint");
}

TEST(HookTest, RetentionKeepsTheNewestAndIsRebuiltAfterRestart) {
  ScratchDir dir;
  CheckpointHookOptions keep_all = EverySteps(1);
  keep_all.max_to_keep = std::nullopt;
  Train(dir.path(), 6, keep_all);  // input.ckpt-0 ... input.ckpt-6
  auto it = Pipeline()->MakeIterator();
  CheckpointHookOptions keep3 = EverySteps(1);
  keep3.max_to_keep = 3;
  CheckpointInputPipelineHook hook({{"train", it.get()}}, dir.path(), keep3);
  EXPECT_EQ(Steps(hook), (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6}));
  ASSERT_EQ(hook.Begin(), 6);
  NextBatch(*it);
  hook.AfterStep(7);
  hook.Flush();
  // The files from before the restart count: only the three newest remain.
  EXPECT_EQ(Steps(hook), (std::vector<int64_t>{5, 6, 7}));
  auto index = hook_internal::DecodeIndexFile(DefaultFileSystem().ReadFile(hook.index_path()), "i");
  EXPECT_EQ(index.latest, "input.ckpt-7");
  EXPECT_EQ(index.all, (std::vector<std::string>{"input.ckpt-5", "input.ckpt-6", "input.ckpt-7"}));
}

TEST(HookTest, CorruptNewestFallsBackToThePreviousGoodOne) {
  for (const char* damage : {"truncate", "flip", "empty"}) {
    SCOPED_TRACE(damage);
    ScratchDir dir;
    Train(dir.path(), 20, EverySteps(10));  // 0, 10, 20
    std::string newest = dir / "input.ckpt-20";
    std::string bytes = DefaultFileSystem().ReadFile(newest);
    if (std::string(damage) == "truncate") bytes.resize(bytes.size() / 2);
    if (std::string(damage) == "flip") bytes[bytes.size() / 2] ^= 0x10;
    if (std::string(damage) == "empty") bytes.clear();
    std::ofstream(newest, std::ios::binary | std::ios::trunc) << bytes;

    std::vector<std::string> warnings;
    CheckpointHookOptions options = EverySteps(10);
    options.on_warning = [&](const std::string& w) { warnings.push_back(w); };
    auto it = Pipeline()->MakeIterator();
    CheckpointInputPipelineHook hook({{"train", it.get()}}, dir.path(), options);
    EXPECT_EQ(hook.Begin(), 10);
    EXPECT_EQ(NextBatch(*it), 40);  // batch 10 of [0, 4, 8, ...]
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_NE(warnings[0].find(newest), std::string::npos) << warnings[0];
  }
}

TEST(HookTest, NoValidCheckpointAtAllIsDataLoss) {
  ScratchDir dir;
  std::ofstream(dir / "input.ckpt-5") << "not a checkpoint";
  auto it = Pipeline()->MakeIterator();
  CheckpointHookOptions options = EverySteps(1);
  options.on_warning = [](const std::string&) {};
  CheckpointInputPipelineHook hook({{"train", it.get()}}, dir.path(), options);
  EXPECT_THROW(hook.Begin(), DataLossError);
}

TEST(HookTest, AnotherPipelineIsAMismatchNotAFallback) {
  ScratchDir dir;
  Train(dir.path(), 10, EverySteps(5));
  auto it = Batch(Range(0, 400), 8)->MakeIterator();
  CheckpointInputPipelineHook hook({{"train", it.get()}}, dir.path(), EverySteps(5));
  std::string error = ErrorOf([&] { hook.Begin(); });
  EXPECT_NE(error.find("input.ckpt-10"), std::string::npos) << error;
  EXPECT_NE(error.find("batch_size=8"), std::string::npos) << error;
  EXPECT_FALSE(it->started());
}

TEST(HookTest, RestoreForModelStepPicksMatchingElseNewestBefore) {
  ScratchDir dir;
  CheckpointHookOptions keep_all = EverySteps(10);
  keep_all.max_to_keep = std::nullopt;
  Train(dir.path(), 30, keep_all);  // 0, 10, 20, 30
  struct Case {
    int64_t model_step, restored, next_batch;
  };
  for (Case c : {Case{20, 20, 80}, Case{25, 20, 80}, Case{30, 30, 120}, Case{99, 30, 120},
                 Case{9, 0, 0}, Case{0, 0, 0}}) {
    auto it = Pipeline()->MakeIterator();
    CheckpointInputPipelineHook hook({{"train", it.get()}}, dir.path(), keep_all);
    EXPECT_EQ(hook.RestoreForModelStep(c.model_step), c.restored) << c.model_step;
    EXPECT_EQ(hook.Begin(), c.restored);  // Begin does not restore a second time
    EXPECT_EQ(NextBatch(*it), c.next_batch) << c.model_step;
  }
}

TEST(HookTest, AfterRestoringAnEarlierStepTheAbandonedCheckpointsGo) {
  ScratchDir dir;
  CheckpointHookOptions keep_all = EverySteps(10);
  keep_all.max_to_keep = std::nullopt;
  Train(dir.path(), 30, keep_all);  // 0, 10, 20, 30
  auto it = Pipeline()->MakeIterator();
  CheckpointInputPipelineHook hook({{"train", it.get()}}, dir.path(), EverySteps(5));
  ASSERT_EQ(hook.RestoreForModelStep(12), 10);
  hook.Begin();
  for (int64_t step = 11; step <= 15; ++step) {
    NextBatch(*it);
    hook.AfterStep(step);
  }
  hook.Flush();
  EXPECT_EQ(Steps(hook), (std::vector<int64_t>{0, 10, 15}));
  EXPECT_EQ(LatestInputCheckpoint(dir.path()), dir / "input.ckpt-15");
}

TEST(HookTest, ModelAtStepZeroIgnoresNewerInputCheckpoints) {
  ScratchDir dir;
  CheckpointHookOptions keep2 = EverySteps(10);
  keep2.max_to_keep = 2;
  Train(dir.path(), 30, keep2);  // 20, 30 remain
  auto it = Pipeline()->MakeIterator();
  CheckpointInputPipelineHook hook({{"train", it.get()}}, dir.path(), keep2);
  EXPECT_EQ(hook.RestoreForModelStep(0), std::nullopt);
  EXPECT_EQ(hook.Begin(0), std::nullopt);  // saves the start; does not restore step 30
  EXPECT_EQ(NextBatch(*it), 0);
  hook.Flush();
  EXPECT_EQ(Steps(hook), (std::vector<int64_t>{0}));  // 20 and 30 were an abandoned run
}

TEST(HookTest, RestoreForModelStepWithoutAnyCheckpointBeforeIt) {
  ScratchDir dir;
  auto it = Pipeline()->MakeIterator();
  CheckpointInputPipelineHook hook({{"train", it.get()}}, dir.path(), EverySteps(5));
  EXPECT_EQ(hook.RestoreForModelStep(0), std::nullopt);
  auto it2 = Pipeline()->MakeIterator();
  CheckpointInputPipelineHook hook2({{"train", it2.get()}}, dir.path(), EverySteps(5));
  std::string error = ErrorOf([&] { hook2.RestoreForModelStep(40); });
  EXPECT_NE(error.find("model step 40"), std::string::npos) << error;
}

TEST(HookTest, BackgroundWriteFailureReachesTheTrainingThread) {
  for (auto op : {FailingFileSystem::Op::kAppend, FailingFileSystem::Op::kSync,
                  FailingFileSystem::Op::kRename, FailingFileSystem::Op::kSyncDir}) {
    ScratchDir dir;
    FailingFileSystem fs;
    CheckpointHookOptions options = EverySteps(2);
    options.file_system = &fs;
    auto it = Pipeline()->MakeIterator();
    CheckpointInputPipelineHook hook({{"train", it.get()}}, dir.path(), options);
    hook.Begin();
    hook.Flush();
    fs.fail = op;
    NextBatch(*it);
    hook.AfterStep(1);
    NextBatch(*it);
    hook.AfterStep(2);  // captured; the write fails in the background
    // Once the writer has failed, the very next step raises it, naming the step and the cause.
    // A guard against hanging if the write never failed, not a timing assertion.
    for (int i = 0; i < 60000 && hook.stats().saves_failed == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ASSERT_EQ(hook.stats().saves_failed, 1);
    NextBatch(*it);
    std::string error = ErrorOf([&] { hook.AfterStep(3); });
    EXPECT_NE(error.find("step 2"), std::string::npos) << error;
    EXPECT_TRUE(error.find("Input/output error") != std::string::npos ||
                error.find("No space left") != std::string::npos)
        << error;
    EXPECT_NO_THROW(hook.AfterStep(3)) << "raised once; the hook goes on";
    fs.fail = FailingFileSystem::Op::kNone;
    // The previous checkpoint still loads.
    auto fresh = Pipeline()->MakeIterator();
    CheckpointInputPipelineHook reader({{"train", fresh.get()}}, dir.path(), EverySteps(2));
    std::optional<int64_t> restored = reader.Begin();
    ASSERT_TRUE(restored.has_value());
    // A failed directory fsync comes after the rename: the file may be there, and is whole.
    if (op != FailingFileSystem::Op::kSyncDir) EXPECT_EQ(*restored, 0);
  }
}

// The step whose after_step raises an earlier write's failure is still captured: a caller who
// handles the error and goes on loses no save (it was skipped, and End saved nothing after).
// A hook over a FailingFileSystem, begun, whose save at step 1 is captured and then fails its
// rename in the background.
struct HookWhoseFirstSaveFails {
  explicit HookWhoseFirstSaveFails(int64_t save_steps)
      : options(WithFileSystem(EverySteps(save_steps), &fs)),
        it(Pipeline()->MakeIterator()),
        hook({{"train", it.get()}}, dir.path(), options) {
    hook.Begin();
    hook.Flush();
    fs.fail = FailingFileSystem::Op::kRename;
    NextBatch(*it);
    hook.AfterStep(1);
  }
  static CheckpointHookOptions WithFileSystem(CheckpointHookOptions options, FileSystem* fs) {
    options.file_system = fs;
    return options;
  }

  ScratchDir dir;
  FailingFileSystem fs;
  CheckpointHookOptions options;
  std::unique_ptr<Iterator> it;
  CheckpointInputPipelineHook hook;
};

TEST(HookTest, TheStepThatRaisesAnEarlierFailureIsStillCaptured) {
  HookWhoseFirstSaveFails setup(1);
  FailingFileSystem& fs = setup.fs;
  Iterator* it = setup.it.get();
  CheckpointInputPipelineHook& hook = setup.hook;
  for (int i = 0; i < 60000 && hook.stats().saves_failed == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_EQ(hook.stats().saves_failed, 1);
  fs.fail = FailingFileSystem::Op::kNone;  // the cause is gone
  NextBatch(*it);
  std::string error = ErrorOf([&] { hook.AfterStep(2); });
  EXPECT_NE(error.find("step 1"), std::string::npos) << error;
  EXPECT_EQ(hook.stats().last_captured_step, 2);
  hook.End();
  EXPECT_EQ(hook.stats().last_committed_step, 2);
}

TEST(HookTest, BackgroundWriteFailureIsRaisedByEnd) {
  HookWhoseFirstSaveFails setup(100);
  CheckpointInputPipelineHook& hook = setup.hook;
  EXPECT_THROW(hook.End(), IOError);
  EXPECT_EQ(hook.stats().saves_failed, 1);
  EXPECT_EQ(hook.stats().last_committed_step, 0);
}

TEST(HookTest, SaveSecsUsesTheClock) {
  ScratchDir dir;
  double now = 100;
  CheckpointHookOptions options;
  options.save_secs = 30;
  options.max_to_keep = std::nullopt;
  options.clock = [&] { return now; };
  auto it = Pipeline()->MakeIterator();
  CheckpointInputPipelineHook hook({{"train", it.get()}}, dir.path(), options);
  hook.Begin();  // saves at 0, t=100
  for (int64_t step = 1; step <= 10; ++step) {
    NextBatch(*it);
    now += 7;  // t = 107, 114, 121, 128, 135 (save at 5), 142, ... 163, 170 (save at 10)
    hook.AfterStep(step);
  }
  hook.Flush();
  EXPECT_EQ(Steps(hook), (std::vector<int64_t>{0, 5, 10}));
}

TEST(HookTest, ExternalStatePolicy) {
  auto stateful = [] {
    return Map(Range(0, 100), [](const Element& e) { return e; },
               {.name = "tick", .stateful = true});
  };
  {
    ScratchDir dir;
    auto it = stateful()->MakeIterator();
    CheckpointInputPipelineHook hook({{"train", it.get()}}, dir.path(), EverySteps(1));
    std::string error = ErrorOf([&] { hook.Begin(); });
    EXPECT_NE(error.find("map(fn=tick)"), std::string::npos) << error;
  }
  {
    ScratchDir dir;
    std::vector<std::string> warnings;
    CheckpointHookOptions options = EverySteps(1);
    options.external_state_policy = ExternalStatePolicy::kWarn;
    options.on_warning = [&](const std::string& w) { warnings.push_back(w); };
    auto it = stateful()->MakeIterator();
    CheckpointInputPipelineHook hook({{"train", it.get()}}, dir.path(), options);
    hook.Begin();
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_NE(warnings[0].find("map(fn=tick)"), std::string::npos) << warnings[0];
    hook.End();
  }
}

TEST(HookTest, StrayTemporaryFilesAreIgnoredAndRemoved) {
  ScratchDir dir;
  Train(dir.path(), 10, EverySteps(10));
  std::ofstream(dir / "input.ckpt-15.tmp") << "torn";
  std::ofstream(dir / "checkpoint_input.tmp") << "torn";
  std::ofstream(dir / "model.ckpt-15.tmp") << "not ours";
  auto it = Pipeline()->MakeIterator();
  CheckpointInputPipelineHook hook({{"train", it.get()}}, dir.path(), EverySteps(10));
  EXPECT_EQ(hook.Begin(), 10);
  auto names = SortedNames(dir.path());
  EXPECT_EQ(std::count(names.begin(), names.end(), "input.ckpt-15.tmp"), 0);
  EXPECT_EQ(std::count(names.begin(), names.end(), "checkpoint_input.tmp"), 0);
  EXPECT_EQ(std::count(names.begin(), names.end(), "model.ckpt-15.tmp"), 1);
}

TEST(HookTest, RestoreNeedsFreshIterators) {
  ScratchDir dir;
  Train(dir.path(), 10, EverySteps(10));
  auto it = Pipeline()->MakeIterator();
  NextBatch(*it);
  CheckpointInputPipelineHook hook({{"train", it.get()}}, dir.path(), EverySteps(10));
  EXPECT_THROW(hook.Begin(), FailedPreconditionError);
}

TEST(HookTest, CaptureFunctionForFrameworksThatReadAhead) {
  ScratchDir dir;
  auto it = Pipeline()->MakeIterator();
  // The framework has read 2 batches more than it trained on: the states come from when each
  // batch was read, not from the iterator now.
  std::vector<std::string> state_after;  // state_after[n]: after n batches read
  state_after.push_back(it->Save());
  CheckpointHookOptions options = EverySteps(4);
  int64_t trained = 0;
  options.capture = [&](ExternalStatePolicy, std::vector<std::string>*) {
    return std::vector<std::pair<std::string, std::string>>{{"train", state_after[trained]}};
  };
  CheckpointInputPipelineHook hook({{"train", it.get()}}, dir.path(), options);
  hook.Begin();
  for (int i = 0; i < 2; ++i) {
    NextBatch(*it);
    state_after.push_back(it->Save());
  }
  for (int64_t step = 1; step <= 4; ++step) {
    NextBatch(*it);  // read ahead
    state_after.push_back(it->Save());
    trained = step;
    hook.AfterStep(step);
  }
  hook.End();
  auto fresh = Pipeline()->MakeIterator();
  CheckpointInputPipelineHook reader({{"train", fresh.get()}}, dir.path(), EverySteps(4));
  EXPECT_EQ(reader.Begin(), 4);
  EXPECT_EQ(NextBatch(*fresh), 16);  // the 5th batch: the first not trained on

  CheckpointHookOptions wrong = EverySteps(1);
  wrong.capture = [](ExternalStatePolicy, std::vector<std::string>*) {
    return std::vector<std::pair<std::string, std::string>>{{"other", ""}};
  };
  ScratchDir dir2;
  auto it2 = Pipeline()->MakeIterator();
  CheckpointInputPipelineHook bad({{"train", it2.get()}}, dir2.path(), wrong);
  EXPECT_NE(ErrorOf([&] { bad.Begin(); }).find("'other'"), std::string::npos);
}

TEST(HookTest, EndWithoutNewStepsDoesNotRewrite) {
  ScratchDir dir;
  auto it = Pipeline()->MakeIterator();
  CheckpointInputPipelineHook hook({{"train", it.get()}}, dir.path(), EverySteps(2));
  hook.Begin();
  NextBatch(*it);
  NextBatch(*it);
  hook.AfterStep(2);
  hook.End();
  EXPECT_EQ(hook.stats().saves_captured, 2);  // 0 and 2; End at 2 adds nothing
}

// The hook compares each saved pipeline with its iterator's directly (no restore attempted to
// obtain the message): the message is Iterator::Restore's, prefixed with the file and name.
TEST(HookTest, MismatchMessageIsTheOneRestoreGives) {
  ScratchDir dir;
  Train(dir.path(), 10, EverySteps(5));
  std::string path = dir / "input.ckpt-10";
  InputCheckpointContents contents =
      DecodeInputCheckpoint(DefaultFileSystem().ReadFile(path), path);
  ASSERT_EQ(contents.states.size(), 1u);
  auto probe = Batch(Range(0, 400), 8)->MakeIterator();
  std::string restore_error = ErrorOf([&] { probe->Restore(contents.states[0].second); });
  ASSERT_NE(restore_error.find("different pipeline"), std::string::npos) << restore_error;

  auto it = Batch(Range(0, 400), 8)->MakeIterator();
  CheckpointInputPipelineHook hook({{"train", it.get()}}, dir.path(), EverySteps(5));
  EXPECT_THROW(hook.Begin(), PipelineMismatchError);
  EXPECT_EQ(ErrorOf([&] { hook.Begin(); }),
            "input checkpoint " + path + ", iterator 'train': " + restore_error);
  EXPECT_FALSE(it->started());
}

// Each phase allows its calls only; the errors name the phase the hook is in.
TEST(HookTest, LifecycleErrorsNameThePhase) {
  ScratchDir dir;
  Train(dir.path(), 10, EverySteps(10));  // 0, 10

  // A failed restore leaves the hook prepared; a later Begin tries again.
  auto wrong = Batch(Range(0, 400), 8)->MakeIterator();
  CheckpointInputPipelineHook mismatched({{"train", wrong.get()}}, dir.path(), EverySteps(10));
  EXPECT_THROW(mismatched.Begin(), PipelineMismatchError);
  EXPECT_NE(ErrorOf([&] { mismatched.Save(1); }).find("phase 'prepared'"), std::string::npos);
  EXPECT_THROW(mismatched.Begin(), PipelineMismatchError);

  auto it = Pipeline()->MakeIterator();
  CheckpointInputPipelineHook hook({{"train", it.get()}}, dir.path(), EverySteps(10));
  EXPECT_EQ(hook.RestoreForModelStep(10), 10);
  std::string again = ErrorOf([&] { hook.RestoreForModelStep(10); });
  EXPECT_NE(again.find("phase 'restored'"), std::string::npos) << again;
  EXPECT_NE(again.find("already restored (to step 10)"), std::string::npos) << again;
  EXPECT_NE(ErrorOf([&] { hook.End(); }).find("before begin() (phase 'restored')"),
            std::string::npos);
  EXPECT_EQ(hook.Begin(), 10);
  EXPECT_NE(ErrorOf([&] { hook.RestoreForModelStep(10); }).find("phase 'running-restored'"),
            std::string::npos);
  EXPECT_EQ(NextBatch(*it), 40);
  hook.AfterStep(11);

  // Nothing to restore at model step 0: Begin then saves the start instead of looking again.
  ScratchDir empty;
  auto fresh = Pipeline()->MakeIterator();
  CheckpointInputPipelineHook first({{"train", fresh.get()}}, empty.path(), EverySteps(10));
  EXPECT_EQ(first.RestoreForModelStep(0), std::nullopt);
  EXPECT_NE(ErrorOf([&] { first.AfterStep(1); }).find("phase 'nothing-restored'"),
            std::string::npos);
  EXPECT_EQ(first.Begin(), std::nullopt);
  // Running, nothing restored: the iterators are still fresh, so a restore is still allowed.
  EXPECT_EQ(first.RestoreForModelStep(0), 0);
  EXPECT_EQ(first.Begin(), 0);
  EXPECT_EQ(NextBatch(*fresh), 0);
  first.End(1);
  EXPECT_EQ(Steps(first), (std::vector<int64_t>{0, 1}));
}


// The real file system, with every file creation held at a gate until it opens: the writer
// thread is then stuck on its first checkpoint while the training thread keeps capturing.
class GatedFileSystem : public FileSystem {
 public:
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  // Waits until the writer is blocked at the gate.
  void WaitForWaiter() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return waiting_ > 0; });
  }
  std::unique_ptr<WritableFile> NewWritableFile(const std::string& path) override {
    {
      std::unique_lock<std::mutex> lock(mu_);
      ++waiting_;
      cv_.notify_all();
      cv_.wait(lock, [&] { return open_; });
      --waiting_;
    }
    return base().NewWritableFile(path);
  }
  std::string ReadFile(const std::string& path) override { return base().ReadFile(path); }
  bool FileExists(const std::string& path) override { return base().FileExists(path); }
  std::vector<std::string> ListDir(const std::string& dir) override { return base().ListDir(dir); }
  void RenameFile(const std::string& from, const std::string& to) override {
    base().RenameFile(from, to);
  }
  void DeleteFile(const std::string& path) override { base().DeleteFile(path); }
  void CreateDirs(const std::string& dir) override { base().CreateDirs(dir); }
  void SyncDir(const std::string& dir) override { base().SyncDir(dir); }

 private:
  static FileSystem& base() { return DefaultFileSystem(); }
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
  int waiting_ = 0;
};

// Saves captured faster than the disk writes them: a queued save that max_to_keep newer ones
// follow is dropped unwritten (retention would delete it at once), so the queue, the memory
// and end()'s wait stay bounded; the newest save, end()'s, is always written.
TEST(HookTest, SavesFasterThanTheDiskDropSupersededOnesAndKeepTheNewest) {
  ScratchDir dir;
  GatedFileSystem gated;
  auto it = Pipeline()->MakeIterator();
  CheckpointHookOptions options = EverySteps(1);
  options.max_to_keep = 2;
  options.file_system = &gated;
  CheckpointInputPipelineHook hook({{"train", it.get()}}, dir.path(), options);
  EXPECT_EQ(hook.Begin(), std::nullopt);  // step 0: the writer takes it and waits at the gate
  gated.WaitForWaiter();
  for (int64_t step = 1; step <= 90; ++step) {
    NextBatch(*it);
    hook.AfterStep(step);
  }
  CheckpointHookStats stats = hook.stats();
  EXPECT_EQ(stats.saves_captured, 91);
  EXPECT_EQ(stats.max_queued_saves, 2);  // 89 and 90 wait; 1 ... 88 were superseded
  EXPECT_EQ(stats.saves_dropped, 88);
  EXPECT_EQ(stats.saves_committed, 0);
  gated.Open();
  NextBatch(*it);
  hook.End(91);  // asked for step 91: written whatever is queued
  stats = hook.stats();
  EXPECT_EQ(stats.saves_captured, 92);
  EXPECT_EQ(stats.saves_committed + stats.saves_dropped, 92);
  EXPECT_LE(stats.saves_committed, 4);  // 0, then at most 89, 90, 91
  EXPECT_LE(stats.max_queued_saves, 2);
  EXPECT_EQ(stats.last_committed_step, 91);
  EXPECT_EQ(Steps(hook), (std::vector<int64_t>{90, 91}));  // what writing them all would leave
  EXPECT_EQ(LatestInputCheckpoint(dir.path()), dir / "input.ckpt-91");
  // The newest checkpoint resumes exactly.
  auto resumed = Pipeline()->MakeIterator();
  CheckpointInputPipelineHook again({{"train", resumed.get()}}, dir.path(), EverySteps(1));
  EXPECT_EQ(again.Begin(), 91);
  EXPECT_EQ(NextBatch(*resumed), 91 * 4);
}

// Keeping every checkpoint, none may be dropped: a capture waits for room in a bounded queue.
TEST(HookTest, SavesFasterThanTheDiskKeepingAllWaitOnABoundedQueue) {
  ScratchDir dir;
  GatedFileSystem gated;
  auto it = Pipeline()->MakeIterator();
  CheckpointHookOptions options = EverySteps(1);
  options.max_to_keep = std::nullopt;
  options.file_system = &gated;
  CheckpointInputPipelineHook hook({{"train", it.get()}}, dir.path(), options);
  hook.Begin();
  gated.WaitForWaiter();
  std::thread training([&] {
    for (int64_t step = 1; step <= 40; ++step) {
      NextBatch(*it);
      hook.AfterStep(step);
    }
  });
  // The training thread fills the queue (16 saves behind step 0) and waits there.
  while (hook.stats().saves_captured < 17) std::this_thread::yield();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(hook.stats().saves_captured, 17);
  EXPECT_EQ(hook.stats().max_queued_saves, 16);
  gated.Open();
  training.join();
  hook.End();
  CheckpointHookStats stats = hook.stats();
  EXPECT_EQ(stats.saves_captured, 41);
  EXPECT_EQ(stats.saves_committed, 41);
  EXPECT_EQ(stats.saves_dropped, 0);
  EXPECT_EQ(stats.max_queued_saves, 16);
  EXPECT_EQ(Steps(hook).size(), 41u);
}

// ---- Epochs (docs/hook.md, "Epochs") ---------------------------------------------------------

// One epoch: 10 batches of 4, in an order of its own (a shuffle seeded by the epoch).
DatasetPtr EpochPipeline(int64_t epoch) { return Batch(Shuffle(Range(0, 40), 8, 100 + epoch), 4); }

CheckpointHookOptions EpochOptions(int64_t save_steps, std::optional<int64_t> epoch) {
  CheckpointHookOptions options = EverySteps(save_steps);
  options.epoch = epoch;
  options.on_warning = [](const std::string& warning) { ADD_FAILURE() << warning; };
  return options;
}

// The loop a user writes: a fresh iterator and hook per epoch, starting at ResumeEpoch. Returns
// (step, first value of the batch) for every step trained; stops ("crashes", without End)
// after step `crash_after` when given, or after that step's End when `crash_after_end`.
std::vector<std::pair<int64_t, int64_t>> EpochLoop(const std::string& dir, int64_t epochs,
                                                   int64_t save_steps,
                                                   std::optional<int64_t> crash_after,
                                                   bool crash_after_end = false) {
  std::vector<std::pair<int64_t, int64_t>> trained;
  int64_t step = 0;
  for (int64_t epoch = ResumeEpoch(dir); epoch < epochs; ++epoch) {
    auto it = EpochPipeline(epoch)->MakeIterator();
    CheckpointInputPipelineHook hook({{"train", it.get()}}, dir, EpochOptions(save_steps, epoch));
    step = hook.Begin(step).value_or(step);
    while (std::optional<Element> batch = it->GetNext()) {
      trained.emplace_back(++step, batch->tensor().data<int64_t>()[0]);
      hook.AfterStep(step);
      if (crash_after == step && !crash_after_end) return trained;  // no End: a crash
    }
    hook.End();
    if (crash_after == step && crash_after_end) return trained;
  }
  return trained;
}

// The broken pattern: a fresh iterator per epoch, one hook directory, no epoch. The second
// epoch's Begin would restore the first epoch's exhausted state and train zero batches; it is
// refused, saying what to do. Also when End's step is the step of the last periodic save (End
// then rewrites that checkpoint to record that the data had ended).
TEST(HookEpochTest, FreshIteratorPerEpochWithoutEpochIsRefusedSayingWhatToDo) {
  for (int64_t save_steps : {3, 5}) {
    ScratchDir dir;
    {
      auto it = Pipeline()->MakeIterator();
      CheckpointInputPipelineHook hook({{"train", it.get()}}, dir.path(), EverySteps(save_steps));
      hook.Begin();
      int64_t step = 0;
      for (int i = 0; i < 100; ++i) {
        NextBatch(*it);
        hook.AfterStep(++step);
      }
      EXPECT_EQ(it->GetNext(), std::nullopt);
      hook.End();
    }
    auto it = Pipeline()->MakeIterator();
    CheckpointInputPipelineHook hook({{"train", it.get()}}, dir.path(), EverySteps(save_steps));
    std::string error = ErrorOf([&] { hook.Begin(); });
    EXPECT_THROW(hook.Begin(), FailedPreconditionError);
    for (const char* what : {"input.ckpt-100 (step 100)", "end of its data", "deliver no element",
                             "dataset.repeat()", "epoch=", "inputpipe.resume_epoch("}) {
      EXPECT_NE(error.find(what), std::string::npos) << save_steps << ": " << what << "\n"
                                                     << error;
    }
    EXPECT_FALSE(it->started());  // nothing restored
    EXPECT_EQ(NextBatch(*it), 0);
  }
}

// A checkpoint of the last batch, saved before the iterator reported its end (a crash between
// the last AfterStep and End), restores (the end was not seen); the End that follows rewrites
// it as ended, and a later restart is then refused.
TEST(HookEpochTest, EndRecordsTheEndOfTheDataAtTheSameStep) {
  ScratchDir dir;
  {
    auto it = Pipeline()->MakeIterator();
    CheckpointInputPipelineHook hook({{"train", it.get()}}, dir.path(), EverySteps(100));
    hook.Begin();
    for (int64_t step = 1; step <= 100; ++step) {
      NextBatch(*it);
      hook.AfterStep(step);
    }
    hook.Flush();  // the crash: no End
  }
  auto it = Pipeline()->MakeIterator();
  CheckpointInputPipelineHook hook({{"train", it.get()}}, dir.path(), EverySteps(100));
  EXPECT_EQ(hook.Begin(), 100);
  EXPECT_EQ(it->GetNext(), std::nullopt);
  hook.End();
  EXPECT_EQ(hook.stats().saves_captured, 1);  // step 100 again, now as ended
  auto again = Pipeline()->MakeIterator();
  CheckpointInputPipelineHook refused({{"train", again.get()}}, dir.path(), EverySteps(100));
  EXPECT_THROW(refused.Begin(), FailedPreconditionError);
}

// The first pattern that works: one hook over repeat(); a crash in the second pass resumes
// exactly, and the files are the version-1 files earlier builds wrote (nothing has ended).
TEST(HookEpochTest, OneHookOverRepeatResumesExactly) {
  auto repeated = [] { return Repeat(EpochPipeline(0), 3); };
  std::vector<int64_t> uninterrupted;
  auto reference = repeated()->MakeIterator();
  while (auto batch = reference->GetNext()) {
    uninterrupted.push_back(batch->tensor().data<int64_t>()[0]);
  }
  ASSERT_EQ(uninterrupted.size(), 30u);

  ScratchDir dir;
  std::vector<int64_t> all;
  {
    auto it = repeated()->MakeIterator();
    CheckpointInputPipelineHook hook({{"train", it.get()}}, dir.path(), EverySteps(4));
    hook.Begin();
    for (int64_t step = 1; step <= 14; ++step) {  // crash after step 14: last save at 12
      all.push_back(NextBatch(*it));
      hook.AfterStep(step);
    }
  }
  std::string bytes = DefaultFileSystem().ReadFile(dir / "input.ckpt-12");
  EXPECT_EQ(bytes[4], 1);  // checkpoint format version 1
  all.resize(12);
  auto it = repeated()->MakeIterator();
  CheckpointInputPipelineHook hook({{"train", it.get()}}, dir.path(), EverySteps(4));
  int64_t step = hook.Begin().value_or(0);
  EXPECT_EQ(step, 12);
  while (auto batch = it->GetNext()) {
    all.push_back(batch->tensor().data<int64_t>()[0]);
    hook.AfterStep(++step);
  }
  hook.End();
  EXPECT_EQ(all, uninterrupted);
}

// The second pattern that works: an epoch-aware loop. A crash anywhere (mid-epoch, on the last
// batch before End, right after End) resumes exactly: the restarted run retrains only the steps
// after the last save, with the same batches, and the whole run equals an uninterrupted one.
TEST(HookEpochTest, EpochAwareLoopResumesExactlyAfterACrash) {
  std::vector<std::pair<int64_t, int64_t>> uninterrupted;
  {
    ScratchDir dir;
    uninterrupted = EpochLoop(dir.path(), 3, 3, std::nullopt);
  }
  ASSERT_EQ(uninterrupted.size(), 30u);
  EXPECT_EQ(uninterrupted.back().first, 30);
  struct Crash {
    int64_t after;
    bool after_end;
  };
  for (Crash crash : std::vector<Crash>{{14, false}, {15, false}, {20, false}, {20, true},
                                        {10, true}, {21, false}, {30, false}}) {
    SCOPED_TRACE(std::to_string(crash.after) + (crash.after_end ? " after End" : ""));
    ScratchDir dir;
    std::vector<std::pair<int64_t, int64_t>> first =
        EpochLoop(dir.path(), 3, 3, crash.after, crash.after_end);
    std::vector<std::pair<int64_t, int64_t>> second = EpochLoop(dir.path(), 3, 3, std::nullopt);
    // The restart resumes at the last save at or before the crash, and from there on is the
    // uninterrupted run.
    int64_t resumed = second.empty() ? 30 : second.front().first - 1;
    EXPECT_LE(resumed, crash.after);
    EXPECT_GT(resumed, crash.after - 3);
    std::vector<std::pair<int64_t, int64_t>> run(first.begin(), first.begin() + resumed);
    run.insert(run.end(), second.begin(), second.end());
    EXPECT_EQ(run, uninterrupted);
    // Replayed steps delivered the same batches.
    for (size_t i = resumed; i < first.size(); ++i) EXPECT_EQ(first[i], uninterrupted[i]);
  }
}

TEST(HookEpochTest, ResumeEpochAndNewestCheckpoint) {
  ScratchDir dir;
  EXPECT_EQ(ResumeEpoch(dir.path()), 0);
  EXPECT_EQ(NewestInputCheckpoint(dir.path()), std::nullopt);
  EpochLoop(dir.path(), 2, 4, 6);  // crash in epoch 0 after step 6: last save at 4
  EXPECT_EQ(ResumeEpoch(dir.path()), 0);
  std::optional<InputCheckpointStatus> newest = NewestInputCheckpoint(dir.path());
  ASSERT_TRUE(newest.has_value());
  EXPECT_EQ(newest->step, 4);
  EXPECT_EQ(newest->epoch, 0);
  EXPECT_FALSE(newest->at_end);
  ScratchDir done;
  EpochLoop(done.path(), 1, 4, 10, /*crash_after_end=*/true);  // epoch 0 ended at step 10
  EXPECT_EQ(ResumeEpoch(done.path()), 1);
  EXPECT_EQ(ResumeEpoch(done.path(), "input", 9), 0);  // a model restored to step 9: epoch 0
  newest = NewestInputCheckpoint(done.path());
  ASSERT_TRUE(newest.has_value());
  EXPECT_TRUE(newest->at_end);
  EXPECT_EQ(newest->path, done / "input.ckpt-10");
  // A corrupt newest file is skipped, as the hook skips it.
  std::ofstream(done / "input.ckpt-11") << "garbage";
  EXPECT_EQ(ResumeEpoch(done.path()), 1);
  // Checkpoints of a hook without epochs: an epoch-aware loop cannot use them.
  ScratchDir plain;
  Train(plain.path(), 5, EverySteps(5));
  EXPECT_THROW(ResumeEpoch(plain.path()), FailedPreconditionError);
}

// A checkpoint is never restored into another epoch's iterators: a later epoch's is refused
// (naming the epoch to resume), an earlier epoch's end starts this epoch fresh at its step,
// one saved without an epoch is refused.
TEST(HookEpochTest, AnotherEpochsCheckpointIsNeverRestored) {
  ScratchDir dir;
  EpochLoop(dir.path(), 2, 4, 15);  // epoch 1 (from step 10), crash after 15: last save at 14
  {
    auto it = EpochPipeline(0)->MakeIterator();
    CheckpointInputPipelineHook hook({{"train", it.get()}}, dir.path(), EpochOptions(4, 0));
    std::string error = ErrorOf([&] { hook.Begin(); });
    EXPECT_NE(error.find("(epoch 0): input checkpoint "), std::string::npos) << error;
    EXPECT_NE(error.find("is of epoch 1: epoch 0 finished before it"), std::string::npos) << error;
    EXPECT_NE(error.find("resume_epoch"), std::string::npos) << error;
    EXPECT_THROW(hook.Begin(), FailedPreconditionError);
    EXPECT_FALSE(it->started());
  }
  {
    // Epoch 2 after an unfinished epoch 1: starts fresh at step 14, with a warning.
    auto it = EpochPipeline(2)->MakeIterator();
    CheckpointHookOptions options = EpochOptions(4, 2);
    std::vector<std::string> warnings;
    options.on_warning = [&](const std::string& w) { warnings.push_back(w); };
    CheckpointInputPipelineHook hook({{"train", it.get()}}, dir.path(), options);
    EXPECT_EQ(hook.Begin(), 14);
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_NE(warnings[0].find("left unfinished"), std::string::npos) << warnings[0];
    auto reference = EpochPipeline(2)->MakeIterator();
    EXPECT_EQ(NextBatch(*it), NextBatch(*reference));  // the start of epoch 2
    hook.End();
    EXPECT_EQ(ResumeEpoch(dir.path()), 2);
  }
  {
    // Without epochs, the checkpoint of an epoch-aware hook restores (it is not at its end).
    auto it = EpochPipeline(2)->MakeIterator();
    CheckpointInputPipelineHook hook({{"train", it.get()}}, dir.path(), EverySteps(4));
    EXPECT_EQ(hook.Begin(), 14);
  }
  ScratchDir plain;
  Train(plain.path(), 5, EverySteps(5));
  auto it = Pipeline()->MakeIterator();
  CheckpointInputPipelineHook hook({{"train", it.get()}}, plain.path(), EpochOptions(5, 0));
  std::string error = ErrorOf([&] { hook.Begin(); });
  EXPECT_NE(error.find("saved by a hook without an epoch"), std::string::npos) << error;
  CheckpointHookOptions negative = EpochOptions(5, -1);
  EXPECT_THROW(CheckpointInputPipelineHook({{"train", it.get()}}, plain.path(), negative),
               InvalidArgumentError);
}

// With a model: RestoreForModelStep applies the same rules; the epoch to resume is the one of
// the checkpoint at or before the model's step.
TEST(HookEpochTest, RestoreForModelStepWithEpochs) {
  ScratchDir dir;
  EpochLoop(dir.path(), 3, 4, 25);  // epoch 2 at the crash; saves at ..., 20 (end of 1), 24
  int64_t model_step = 22;          // the model was saved less often
  int64_t epoch = ResumeEpoch(dir.path(), "input", model_step);
  EXPECT_EQ(epoch, 2);
  auto it = EpochPipeline(epoch)->MakeIterator();
  CheckpointInputPipelineHook hook({{"train", it.get()}}, dir.path(), EpochOptions(4, epoch));
  EXPECT_EQ(hook.RestoreForModelStep(model_step), 20);  // epoch 2's start, saved at 20
  EXPECT_EQ(hook.Begin(model_step), 20);
  auto reference = EpochPipeline(2)->MakeIterator();
  EXPECT_EQ(NextBatch(*it), NextBatch(*reference));
}

}  // namespace
}  // namespace inputpipe
