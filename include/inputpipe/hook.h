// CheckpointInputPipelineHook: saves the input pipeline's position every N steps or N seconds,
// beside the model's checkpoints, crash-safely, without stalling the training loop.
//
//   auto train = Prefetch(Batch(GlobalShuffle(records, 7), 32));
//   auto it = train->MakeIterator();
//   CheckpointHookOptions options;
//   options.save_steps = 100;
//   CheckpointInputPipelineHook hook({{"train", it.get()}}, "/ckpt", options);
//   int64_t step = hook.Begin().value_or(0);   // restores the newest valid input checkpoint
//   while (auto batch = it->GetNext()) {
//     TrainOn(*batch);
//     hook.AfterStep(++step);                   // captures the state when a save is due
//   }
//   hook.End();                                  // final save; waits; reports any write error
//
// Epochs (docs/hook.md): one hook over dataset.repeat(), or a fresh iterator and hook per epoch
// with options.epoch = epoch, the loop starting at ResumeEpoch(dir).
//
// Files (docs/hook.md): `<dir>/input.ckpt-<step>` (or `input_<task_type>_<task_id>.ckpt-<step>`
// for one worker of several) and the index `<dir>/checkpoint_input`, so a model checkpoint
// manager can write `checkpoint` and `model.ckpt-*` in the same directory. Each file is written
// to a temporary name, fsynced, renamed into place, and the directory fsynced: a kill at any
// instant leaves the previous checkpoint loadable.
//
// Threads: the training thread only captures the states (Iterator::Save, microseconds); a
// background thread writes the files, applies retention and rewrites the index. A failed
// background write is thrown from the next AfterStep / End / Flush call, never lost.
//
// Thread-safety: a hook is used by the training thread only (the thread using its iterators).
#ifndef INPUTPIPE_HOOK_H_
#define INPUTPIPE_HOOK_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "inputpipe/dataset.h"
#include "inputpipe/file_system.h"
#include "inputpipe/state.h"

namespace inputpipe {

struct CheckpointHookOptions {
  // Exactly one of the two: save when this many steps / seconds have passed since the last save.
  std::optional<int64_t> save_steps;
  std::optional<double> save_secs;
  ExternalStatePolicy external_state_policy = ExternalStatePolicy::kFail;
  // Restore a checkpoint whose pipelines differ in parameters, functions or file identities but
  // not in op structure, with one warning (on_warning) listing the differences: as
  // RestoreOptions::allow_changes (state.h). Default: strict.
  bool allow_changes = false;
  // For a loop that makes a fresh iterator (and hook) per epoch (docs/hook.md, "Epochs"): the
  // epoch this hook's iterators go through, >= 0, recorded in every checkpoint. Begin and
  // RestoreForModelStep then restore only a checkpoint of this epoch; after one of an earlier
  // epoch (normally its end) this epoch starts fresh at that checkpoint's step; one of a later
  // epoch, or one saved without an epoch, is a FailedPreconditionError. ResumeEpoch (below)
  // says which epoch a restarted loop starts at. nullopt: any checkpoint is restored, as for
  // one iterator over dataset.repeat(), except one at the end of its data (every iterator had
  // ended: restoring it would deliver nothing), which is a FailedPreconditionError saying so.
  std::optional<int64_t> epoch;
  // Checkpoints kept (the newest ones); nullopt keeps them all.
  std::optional<int64_t> max_to_keep = 5;
  // For one worker of several: files become input_<task_type>_<task_id>.ckpt-<step>.
  std::string task_type;
  int64_t task_id = 0;
  // Many ranks (docs/distributed.md): this process is rank `rank` of `num_ranks`, each with its
  // own hook over its own iterators, all in one checkpoint_dir (a shared file system). With
  // num_ranks > 1 only save_steps is allowed (every rank must agree on the save steps without
  // talking), and:
  // - `gather` set (a process group): at each save every rank calls it with its encoded
  //   state; it returns every rank's, in rank order, on rank 0 (on every rank when `all`), and
  //   nothing elsewhere: one small collective per save step, none on other steps. Rank 0 writes
  //   ONE file per step holding all the states; at the first save (`all`) every rank compares
  //   the ranks' pipelines (PipelineMismatchError naming the rank and the op).
  // - `gather` null: each rank writes its own files (`<prefix>.ckpt-<step>.rank-<r>-of-<W>`); a
  //   step is restored only when the files of all W ranks are there and decode.
  // Begin / RestoreForModelStep on W' ranks restore a step saved by W ranks: with W' = W each
  // rank its own state; else the state ReshardStates (ops.h) computes for it.
  int64_t rank = 0;
  int64_t num_ranks = 1;
  std::function<std::vector<std::string>(const std::string& bytes, bool all)> gather;
  // Where files are written; nullptr = DefaultFileSystem(). Not owned; must outlive the hook.
  FileSystem* file_system = nullptr;
  // Receives warnings (corrupt checkpoint skipped, external state under 'warn'), always on the
  // training thread; nullptr = print to stderr.
  std::function<void(const std::string&)> on_warning;
  // Every log_stats_steps steps (0: never), AfterStep hands on_stats one line per iterator,
  // "<name>: " then its Iterator::Stats().summary ("input-bound: 62% of step time waiting on
  // map(fn=decode) ..."), on the training thread; on_stats nullptr = print to stderr.
  int64_t log_stats_steps = 0;
  std::function<void(const std::string&)> on_stats;
  // Seconds on a monotonic clock, for save_secs; nullptr = std::chrono::steady_clock.
  std::function<double()> clock;
  // Where a save takes the states from; nullptr = each iterator's Save(policy, warnings) now.
  // For frameworks that read batches ahead of training (Keras, Lightning): returns (name, state
  // bytes) for every iterator as of the last batch actually trained on, e.g. states captured
  // when each batch was read. Called on the training thread.
  std::function<std::vector<std::pair<std::string, std::string>>(
      ExternalStatePolicy policy, std::vector<std::string>* warnings)>
      capture;
};

struct CheckpointHookStats {
  int64_t saves_captured = 0;   // states captured on the training thread
  int64_t saves_committed = 0;  // checkpoint files made durable by the background thread
  int64_t saves_failed = 0;     // background writes that failed (each raised once)
  // Saves dropped unwritten because max_to_keep newer ones were queued behind them (retention
  // would have deleted them at once; docs/hook.md, "Saves faster than the disk").
  int64_t saves_dropped = 0;
  // The most saves ever queued unwritten at once: at most max_to_keep (16 when keeping all).
  int64_t max_queued_saves = 0;
  int64_t last_captured_step = -1;
  int64_t last_committed_step = -1;
  std::optional<int64_t> restored_step;
  // Time the training thread spent per save (capturing and encoding the states).
  double last_capture_seconds = 0;
  double max_capture_seconds = 0;
  double total_capture_seconds = 0;
  // Time the background thread spent per checkpoint (write, fsync, rename, retention, index).
  double last_write_seconds = 0;
  double total_write_seconds = 0;
  int64_t last_checkpoint_bytes = 0;
};

struct InputCheckpointInfo {
  int64_t step = 0;
  std::string path;
};

class CheckpointInputPipelineHook {
 public:
  // `iterators`: (name, iterator) pairs saved together at each save; names unique and non-empty.
  // The iterators are not owned and must outlive the hook. Throws InvalidArgumentError when the
  // options are inconsistent (neither or both of save_steps / save_secs, a non-positive value,
  // max_to_keep < 1, an empty checkpoint_dir, ...), naming the problem.
  CheckpointInputPipelineHook(std::vector<std::pair<std::string, Iterator*>> iterators,
                              std::string checkpoint_dir, CheckpointHookOptions options);
  // Writes the saves still queued and stops the writer; errors are printed, not thrown (call
  // End() or Flush() to see them).
  ~CheckpointInputPipelineHook();
  CheckpointInputPipelineHook(const CheckpointInputPipelineHook&) = delete;
  CheckpointInputPipelineHook& operator=(const CheckpointInputPipelineHook&) = delete;

  // The first step: creates the directory, removes temporary files a crash left, then restores
  // the newest valid input checkpoint (skipping, with a warning naming the file, corrupt ones and
  // ones whose state an op rejects: a DataLossError of the restore) and returns its step; with
  // none, saves the initial state at `global_step` and returns nullopt.
  // If RestoreForModelStep already restored, returns that step. Later calls return the same.
  // Throws DataLossError when checkpoints exist but none is valid, PipelineMismatchError when
  // the newest valid one was saved by another pipeline or another set of iterator names (not a
  // fallback: docs/hook.md). A restore that throws leaves every iterator fresh.
  // REQUIRES: iterators fresh (no GetNext yet) if a checkpoint may be restored.
  std::optional<int64_t> Begin(int64_t global_step = 0);

  // Restores the checkpoint saved at `model_step`, else the newest one before it, so that model
  // and data agree after the model was restored to `model_step`; returns the step restored.
  // Returns nullopt when model_step is 0 and there is no checkpoint at step 0; throws
  // FailedPreconditionError when model_step > 0 and no valid checkpoint is at or before it.
  // Checkpoints after the restored step belong to an abandoned run: they are deleted when the
  // next checkpoint is committed. REQUIRES: iterators fresh.
  std::optional<int64_t> RestoreForModelStep(int64_t model_step);

  // After training step `global_step` (the number of steps done): throws a pending background
  // error, then captures the states if a save is due. REQUIRES: Begin() was called.
  void AfterStep(int64_t global_step);
  // Captures the states at `global_step` now, whether due or not (no-op if already saved there).
  void Save(int64_t global_step);
  // Saves the final state (at the last step seen, or `global_step`), waits for the writer and
  // throws any pending error. The hook stays usable.
  void End(std::optional<int64_t> global_step = std::nullopt);
  // Waits until every captured save is durable (or failed); throws a pending error.
  void Flush();

  // Valid-looking checkpoint files of this hook's prefix in the directory, oldest first (by
  // name only: contents are checked when restoring).
  std::vector<InputCheckpointInfo> ListCheckpoints() const;
  CheckpointHookStats stats() const;
  // "input" or "input_<task_type>_<task_id>".
  const std::string& prefix() const;
  const std::string& checkpoint_dir() const;
  // <dir>/checkpoint_<prefix>.
  std::string index_path() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// The contents of one input checkpoint file (`<prefix>.ckpt-<step>`, docs/hook.md).
struct InputCheckpointContents {
  int64_t step = 0;
  // (iterator name, Iterator::Save() bytes), in the order the hook was given the iterators.
  std::vector<std::pair<std::string, std::string>> states;
  // The hook's CheckpointHookOptions::epoch, when it had one.
  std::optional<int64_t> epoch;
  // Parallel to `states`: whether that iterator had returned the end of its sequence when its
  // state was captured (Iterator::ended). Empty when none had (and for files written before
  // the field existed, or by a capture function, which cannot tell).
  std::vector<bool> ended;
  // A checkpoint of several ranks (CheckpointHookOptions::num_ranks): every rank's contents, in
  // rank order; then `states` are rank 0's, `epoch` its epoch and `ended` true for an iterator
  // only where it had ended on every rank. Empty for a file of one process.
  std::vector<InputCheckpointContents> ranks;

  // Every iterator had ended: restoring this checkpoint delivers nothing.
  bool AtEnd() const {
    if (ended.empty() || ended.size() != states.size()) return false;
    for (bool e : ended) {
      if (!e) return false;
    }
    return true;
  }
};

// Decodes the bytes of an input checkpoint file, for tools (`inputpipe inspect`); each state
// can then be restored or shown with InspectState. Throws DataLossError naming `path` and what
// is wrong (magic, version, length, checksum).
InputCheckpointContents DecodeInputCheckpoint(std::string_view bytes, const std::string& path);

// What the newest valid input checkpoint says about where a restarted loop is.
struct InputCheckpointStatus {
  int64_t step = 0;
  std::string path;
  std::optional<int64_t> epoch;  // CheckpointHookOptions::epoch of the hook that saved it
  bool at_end = false;           // every iterator had ended when it was saved
};

// The newest input checkpoint of `prefix` in `checkpoint_dir` (at or before `max_step` when
// given) whose file decodes, by the directory listing as the hook restores (corrupt files are
// skipped silently here; the hook warns when it skips them); nullopt when there is none.
std::optional<InputCheckpointStatus> NewestInputCheckpoint(
    const std::string& checkpoint_dir, const std::string& prefix = "input",
    std::optional<int64_t> max_step = std::nullopt, FileSystem* file_system = nullptr);

// The epoch an epoch-aware loop (CheckpointHookOptions::epoch) resumes at: 0 without a
// checkpoint; else the newest checkpoint's epoch, plus one when it was saved at the end of that
// epoch's data. `max_step`: the model's restored step (as RestoreForModelStep). Throws
// FailedPreconditionError when that checkpoint was saved by a hook without an epoch.
int64_t ResumeEpoch(const std::string& checkpoint_dir, const std::string& prefix = "input",
                    std::optional<int64_t> max_step = std::nullopt,
                    FileSystem* file_system = nullptr);

// The newest checkpoint named by the index file of `prefix` in `checkpoint_dir`, or nullopt
// when there is no index. Throws DataLossError when the index is corrupt.
std::optional<std::string> LatestInputCheckpoint(const std::string& checkpoint_dir,
                                                 const std::string& prefix = "input",
                                                 FileSystem* file_system = nullptr);

}  // namespace inputpipe

#endif  // INPUTPIPE_HOOK_H_
