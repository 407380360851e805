// CheckpointInputPipelineHook: the training thread captures states, a writer thread makes them
// durable. Lifecycle and file names in hook.h; the crash-safety argument in docs/hook.md.
//
// Lock order: one mutex (mu_) guards the queue, the pending error and the stats. The writer
// never holds it while touching the file system, so the training thread never waits on a disk.
//
// Lifecycle: one Phase (below) says how far the hook got; the transitions are written down in
// IsLegal and every change goes through SetPhase, which checks them.
#include "inputpipe/hook.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <deque>
#include <exception>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include "hook/checkpoint_file.h"
#include "inputpipe/errors.h"
#include "ops/elastic_shard.h"
#include "util/mutex.h"
#include "util/thread_annotations.h"

namespace inputpipe {

using hook_internal::CheckpointContents;

namespace {
double SteadySeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string JoinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) out += (out.empty() ? "'" : ", '") + name + "'";
  return "[" + out + "]";
}

// How far the hook got. Begin and RestoreForModelStep move it forward; AfterStep, Save and End
// need a running phase and leave it there (End does not end the hook: it stays usable).
enum class Phase {
  kCreated,           // constructed; the directory not touched yet
  kPrepared,          // directory made, stray temporaries removed; no restore decided (the
                      // attempts so far threw)
  kNothingRestored,   // a restore was looked for and found nothing: Begin does not look again
  kRestored,          // RestoreForModelStep restored the iterators; Begin not called yet
  kRunning,           // Begin saved the initial state; RestoreForModelStep may still restore
  kRunningRestored,   // Begin done, the iterators restored (by Begin or RestoreForModelStep)
};

const char* PhaseName(Phase phase) {
  switch (phase) {
    case Phase::kCreated: return "created";
    case Phase::kPrepared: return "prepared";
    case Phase::kNothingRestored: return "nothing-restored";
    case Phase::kRestored: return "restored";
    case Phase::kRunning: return "running";
    case Phase::kRunningRestored: return "running-restored";
  }
  return "?";
}

// Every legal transition, in one place (from -> to: made by):
//   kCreated         -> kPrepared         Prepare: the first thing Begin / RestoreForModelStep do
//   kPrepared        -> kRestored         a checkpoint restored (Begin, RestoreForModelStep)
//   kPrepared        -> kNothingRestored  no checkpoint to restore
//   kNothingRestored -> kRestored         RestoreForModelStep, to another model step
//   kNothingRestored -> kRunning          Begin, having saved the initial state
//   kRestored        -> kRunningRestored  Begin
//   kRunning         -> kRunningRestored  RestoreForModelStep after Begin (iterators still fresh)
// A call that throws keeps the transitions it made before the throw: a Begin whose restore
// failed (corrupt files, another pipeline) leaves kPrepared, and a later Begin tries again.
bool IsLegal(Phase from, Phase to) {
  switch (from) {
    case Phase::kCreated: return to == Phase::kPrepared;
    case Phase::kPrepared: return to == Phase::kNothingRestored || to == Phase::kRestored;
    case Phase::kNothingRestored: return to == Phase::kRestored || to == Phase::kRunning;
    case Phase::kRestored: return to == Phase::kRunningRestored;
    case Phase::kRunning: return to == Phase::kRunningRestored;
    case Phase::kRunningRestored: return false;
  }
  return false;
}

bool IsRunning(Phase phase) { return phase == Phase::kRunning || phase == Phase::kRunningRestored; }
bool IsRestored(Phase phase) {
  return phase == Phase::kRestored || phase == Phase::kRunningRestored;
}

// The checkpoint files of `prefix` in `dir`, oldest first (by name only).
std::vector<InputCheckpointInfo> ListCheckpointFiles(FileSystem& fs, const std::string& dir,
                                                     const std::string& prefix) {
  std::vector<InputCheckpointInfo> out;
  if (!fs.FileExists(dir)) return out;
  for (const auto& name : fs.ListDir(dir)) {
    if (auto step = hook_internal::ParseCheckpointFileName(prefix, name)) {
      out.push_back({*step, JoinPath(dir, name)});
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.step < b.step; });
  return out;
}

// ---- Many ranks (docs/distributed.md, "Checkpoint layout").

// ".rank-<r>-of-<W>": the tail of a rank's own file names when ranks write one file each.
std::string RankSuffix(int64_t rank, int64_t num_ranks) {
  return ".rank-" + std::to_string(rank) + "-of-" + std::to_string(num_ranks);
}

// The (rank, W) of a ".rank-<r>-of-<W>" tail; nullopt for anything else.
std::optional<std::pair<int64_t, int64_t>> ParseRankSuffix(std::string_view tail) {
  constexpr std::string_view kHead = ".rank-", kOf = "-of-";
  if (tail.substr(0, kHead.size()) != kHead) return std::nullopt;
  tail.remove_prefix(kHead.size());
  size_t of = tail.find(kOf);
  if (of == std::string_view::npos) return std::nullopt;
  auto number = [](std::string_view digits) -> std::optional<int64_t> {
    if (digits.empty() || digits.size() > 9 || (digits.size() > 1 && digits[0] == '0')) {
      return std::nullopt;
    }
    int64_t v = 0;
    for (char c : digits) {
      if (c < '0' || c > '9') return std::nullopt;
      v = v * 10 + (c - '0');
    }
    return v;
  };
  auto rank = number(tail.substr(0, of)), ranks = number(tail.substr(of + kOf.size()));
  if (!rank || !ranks || *ranks < 1 || *rank >= *ranks) return std::nullopt;
  return std::make_pair(*rank, *ranks);
}

// A step that can be restored: one file (of one process, or of every rank, written by rank 0),
// or the files each of W ranks wrote alone (`rank_paths`, in rank order).
struct Candidate {
  int64_t step = 0;
  std::string path;                     // the file, or rank 0's
  std::vector<std::string> rank_paths;  // the ranks' own files; empty for one file
};

// Every candidate in `dir`, oldest first. A step whose ranks' own files are incomplete is left
// out, with the missing ranks in `incomplete` ("step 40: rank 1 of 2 missing") and its rank
// count and step in `incomplete_ranks` and `incomplete_steps`.
std::vector<Candidate> ListCandidates(FileSystem& fs, const std::string& dir,
                                      const std::string& prefix,
                                      std::vector<std::string>* incomplete,
                                      std::vector<int64_t>* incomplete_ranks = nullptr,
                                      std::vector<int64_t>* incomplete_steps = nullptr) {
  std::vector<Candidate> out;
  if (!fs.FileExists(dir)) return out;
  const std::string head = prefix + ".ckpt-";
  // (step, W) -> rank -> name
  std::map<std::pair<int64_t, int64_t>, std::map<int64_t, std::string>> per_rank;
  for (const auto& name : fs.ListDir(dir)) {
    if (auto step = hook_internal::ParseCheckpointFileName(prefix, name)) {
      out.push_back({*step, JoinPath(dir, name), {}});
      continue;
    }
    if (name.compare(0, head.size(), head) != 0) continue;
    size_t dot = name.find('.', head.size());
    if (dot == std::string::npos) continue;
    auto step = hook_internal::ParseCheckpointFileName(prefix, name.substr(0, dot));
    auto rank = ParseRankSuffix(std::string_view(name).substr(dot));
    if (step && rank) per_rank[{*step, rank->second}][rank->first] = name;
  }
  for (const auto& [key, files] : per_rank) {
    const auto [step, ranks] = key;
    if (static_cast<int64_t>(files.size()) == ranks) {
      Candidate c{step, JoinPath(dir, files.begin()->second), {}};
      for (const auto& [rank, name] : files) c.rank_paths.push_back(JoinPath(dir, name));
      out.push_back(std::move(c));
      continue;
    }
    std::string missing;
    for (int64_t r = 0; r < ranks; ++r) {
      if (!files.count(r)) missing += (missing.empty() ? "" : ", ") + std::to_string(r);
    }
    if (incomplete != nullptr) {
      incomplete->push_back("step " + std::to_string(step) + ": the file of rank(s) " + missing +
                            " of " + std::to_string(ranks) + " is missing");
    }
    if (incomplete_ranks != nullptr) incomplete_ranks->push_back(ranks);
    if (incomplete_steps != nullptr) incomplete_steps->push_back(step);
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.step < b.step; });
  return out;
}

// The file of `info`, decoded; throws DataLossError (or IOError) when it is corrupt.
CheckpointContents ReadCheckpoint(FileSystem& fs, const InputCheckpointInfo& info) {
  CheckpointContents contents =
      hook_internal::DecodeCheckpointFile(fs.ReadFile(info.path), info.path);
  if (contents.step != info.step) {
    throw DataLossError("corrupt input checkpoint " + info.path + ": it holds step " +
                        std::to_string(contents.step));
  }
  return contents;
}

// A candidate's contents: one file, or every rank's own file gathered (contents.ranks).
CheckpointContents ReadCandidate(FileSystem& fs, const Candidate& c) {
  if (c.rank_paths.empty()) return ReadCheckpoint(fs, {c.step, c.path});
  std::vector<CheckpointContents> ranks;
  for (const std::string& path : c.rank_paths) ranks.push_back(ReadCheckpoint(fs, {c.step, path}));
  CheckpointContents contents;
  hook_internal::SetRanks(std::move(ranks), c.path, &contents);
  return contents;
}
}  // namespace

class CheckpointInputPipelineHook::Impl {
 public:
  Impl(std::vector<std::pair<std::string, Iterator*>> iterators, std::string dir,
       CheckpointHookOptions options)
      : iterators_(std::move(iterators)), dir_(std::move(dir)), options_(std::move(options)) {
    Validate();
    fs_ = options_.file_system != nullptr ? options_.file_system : &DefaultFileSystem();
    prefix_ = hook_internal::CheckpointPrefix(options_.task_type, options_.task_id);
    if (options_.num_ranks > 1 && !options_.gather) {
      suffix_ = RankSuffix(options_.rank, options_.num_ranks);
    }
    if (!options_.clock) options_.clock = SteadySeconds;
  }

  ~Impl() {
    {
      MutexLock lock(mu_);
      stopping_ = true;
    }
    work_cv_.SignalAll();
    if (writer_.joinable()) writer_.join();
    // The writer has exited: error_ is no longer shared.
    std::exception_ptr error = TakePendingError();
    if (error) {
      try {
        std::rethrow_exception(error);
      } catch (const std::exception& e) {
        std::cerr << "inputpipe: error: an input checkpoint save failed and was never reported "
                     "(call end() or flush()): "
                  << e.what() << std::endl;
      }
    }
  }

  // Any phase; from a running one it only returns the restored step.
  std::optional<int64_t> Begin(int64_t global_step) {
    if (IsRunning(phase_)) return stats().restored_step;
    CheckStep(global_step, "begin");
    if (phase_ == Phase::kCreated) Prepare();
    if (phase_ == Phase::kPrepared) {
      if (!Restore(std::nullopt, global_step)) SetPhase(Phase::kNothingRestored);
    }
    if (phase_ == Phase::kRestored) {
      SetPhase(Phase::kRunningRestored);
      if (epoch_start_step_) {  // this epoch starts fresh where an earlier one ended
        Capture(*epoch_start_step_);
        epoch_start_step_.reset();
      }
      last_step_seen_ = last_save_step_;
    } else {
      Capture(global_step);  // kNothingRestored: the initial state
      SetPhase(Phase::kRunning);
      last_step_seen_ = global_step;
    }
    return stats().restored_step;
  }

  // Any phase but a restored one (the iterators are no longer fresh).
  std::optional<int64_t> RestoreForModelStep(int64_t model_step) {
    CheckStep(model_step, "restore_for_model_step");
    if (IsRestored(phase_)) {
      throw FailedPreconditionError(
          std::string("CheckpointInputPipelineHook.restore_for_model_step (phase '") +
          PhaseName(phase_) + "'): the iterators were already restored (to step " +
          std::to_string(stats().restored_step.value_or(-1)) + "); restore needs fresh iterators");
    }
    if (phase_ == Phase::kCreated) Prepare();
    Flush();
    std::optional<int64_t> step = Restore(model_step);
    // Begin must not then restore a newer checkpoint than the model's step.
    if (!step && phase_ == Phase::kPrepared) SetPhase(Phase::kNothingRestored);
    if (!step && model_step > 0) {
      std::string steps;
      for (const auto& info : List())
        steps += (steps.empty() ? "" : ", ") + std::to_string(info.step);
      throw FailedPreconditionError(
          "CheckpointInputPipelineHook: no valid input checkpoint at or before model step " +
          std::to_string(model_step) + " in " + dir_ +
          " (input checkpoints at steps: " + (steps.empty() ? "none" : steps) +
          "); restoring the model there would make the model and its input pipeline disagree");
    }
    if (IsRunning(phase_) && step) last_step_seen_ = *step;
    return step;
  }

  // An earlier write's failure (taken before this step's capture, so never this step's own)
  // is raised after this step is captured: raised first, it skipped the capture, so a caller
  // who handles the error and goes on lost this step's save (and End's, which saw the step
  // before); with ranks, this rank also skipped the collective.
  void AfterStep(int64_t global_step) {
    RequireRunning("after_step");
    CheckStep(global_step, "after_step");
    CheckNotBackwards(global_step, "after_step");
    std::exception_ptr earlier = TakePendingError();
    last_step_seen_ = global_step;
    bool due = options_.save_steps ? global_step - last_save_step_ >= *options_.save_steps
                                   : options_.clock() - last_save_time_ >= *options_.save_secs;
    if (options_.log_stats_steps > 0 && global_step % options_.log_stats_steps == 0) LogStats();
    if (due) CaptureThenRaise(global_step, earlier);
    if (earlier) std::rethrow_exception(earlier);
  }

  void Save(int64_t global_step) {
    RequireRunning("save");
    CheckStep(global_step, "save");
    CheckNotBackwards(global_step, "save");
    std::exception_ptr earlier = TakePendingError();
    last_step_seen_ = global_step;
    CaptureThenRaise(global_step, earlier);
  }

  void End(std::optional<int64_t> global_step) {
    RequireRunning("end");
    int64_t step = global_step.value_or(last_step_seen_);
    CheckStep(step, "end");
    CheckNotBackwards(step, "end");
    Capture(step, /*at_end=*/true);
    Flush();
  }

  void Flush() EXCLUDES(mu_) {
    MutexLock lock(mu_);
    if (!queue_.empty()) work_cv_.Signal();  // the writer may be between two polls
    while (!queue_.empty() || writing_) idle_cv_.Wait(mu_);
    RaisePendingErrorLocked();
  }

  // This hook's own files (a rank's own, when ranks write one file each).
  std::vector<InputCheckpointInfo> List() const {
    if (suffix_.empty()) return ListCheckpointFiles(*fs_, dir_, prefix_);
    std::vector<InputCheckpointInfo> out;
    std::vector<std::string> unused;
    for (const Candidate& c : ListCandidates(*fs_, dir_, prefix_, &unused)) {
      for (const std::string& path : c.rank_paths) {
        if (path.ends_with(suffix_)) out.push_back({c.step, path});
      }
    }
    if (!fs_->FileExists(dir_)) return out;
    // A rank's files of a step the other ranks have not written (yet) are its own too.
    for (const auto& name : fs_->ListDir(dir_)) {
      if (!name.ends_with(suffix_)) continue;
      std::string head = name.substr(0, name.size() - suffix_.size());
      auto step = hook_internal::ParseCheckpointFileName(prefix_, head);
      if (!step) continue;
      bool listed = false;
      for (const auto& info : out) listed = listed || info.step == *step;
      if (!listed) out.push_back({*step, JoinPath(dir_, name)});
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.step < b.step; });
    return out;
  }

  CheckpointHookStats stats() const EXCLUDES(mu_) {
    MutexLock lock(mu_);
    return stats_;
  }

  const std::string& prefix() const { return prefix_; }
  const std::string& dir() const { return dir_; }
  std::string index_path() const {
    return JoinPath(dir_, hook_internal::IndexFileName(prefix_) + suffix_);
  }

 private:
  // With max_to_keep = nullopt (keep every checkpoint), the most saves queued unwritten before
  // a capture waits for the writer: enough to absorb a burst, little memory (states are
  // positions), and end() waits for at most this many writes.
  static constexpr size_t kMaxQueuedSavesKeepingAll = 16;
  // How long a captured save may wait in the queue before the writer, which is not woken by a
  // capture (see Capture), takes it: the time a checkpoint takes to reach the disk grows by at
  // most this much, and an idle hook wakes its writer 20 times a second.
  static constexpr std::chrono::milliseconds kWriterPoll{50};

  struct PendingSave {
    int64_t step;
    std::string bytes;  // the file, or empty until the writer encodes `contents`
    std::optional<hook_internal::CheckpointContents> contents;
  };

  void Validate() {
    const char* who = "CheckpointInputPipelineHook: ";
    if (iterators_.empty()) throw InvalidArgumentError(std::string(who) + "no iterators given");
    std::set<std::string> names;
    std::set<const Iterator*> seen;
    for (const auto& [name, it] : iterators_) {
      if (name.empty()) throw InvalidArgumentError(std::string(who) + "an iterator name is empty");
      if (it == nullptr)
        throw InvalidArgumentError(std::string(who) + "iterator '" + name + "' is null");
      if (!names.insert(name).second) {
        throw InvalidArgumentError(std::string(who) + "iterator name '" + name + "' given twice");
      }
      if (!seen.insert(it).second) {
        throw InvalidArgumentError(std::string(who) + "iterator '" + name +
                                   "' is an iterator already given under another name");
      }
    }
    if (dir_.empty()) throw InvalidArgumentError(std::string(who) + "checkpoint_dir is empty");
    if (options_.save_steps && options_.save_secs) {
      throw InvalidArgumentError(std::string(who) +
                                 "exactly one of save_steps and save_secs must be given; got both");
    }
    if (!options_.save_steps && !options_.save_secs) {
      throw InvalidArgumentError(
          std::string(who) + "exactly one of save_steps and save_secs must be given; got neither");
    }
    if (options_.save_steps && *options_.save_steps <= 0) {
      throw InvalidArgumentError(std::string(who) + "save_steps must be positive; got " +
                                 std::to_string(*options_.save_steps));
    }
    if (options_.save_secs && !(*options_.save_secs > 0)) {
      throw InvalidArgumentError(std::string(who) + "save_secs must be positive; got " +
                                 std::to_string(*options_.save_secs));
    }
    if (options_.log_stats_steps < 0) {
      throw InvalidArgumentError(std::string(who) + "log_stats_steps must be >= 0 (0: never); got " +
                                 std::to_string(options_.log_stats_steps));
    }
    if (options_.max_to_keep && *options_.max_to_keep < 1) {
      throw InvalidArgumentError(std::string(who) +
                                 "max_to_keep must be at least 1 (or None to keep all); got " +
                                 std::to_string(*options_.max_to_keep));
    }
    if (options_.num_ranks < 1 || options_.rank < 0 || options_.rank >= options_.num_ranks) {
      throw InvalidArgumentError(std::string(who) +
                                 "rank must be in [0, num_ranks), num_ranks >= 1; got rank=" +
                                 std::to_string(options_.rank) +
                                 ", num_ranks=" + std::to_string(options_.num_ranks));
    }
    if (options_.num_ranks > 1 && options_.save_secs) {
      throw InvalidArgumentError(
          std::string(who) + "save_secs cannot be used with num_ranks=" +
          std::to_string(options_.num_ranks) + ": the ranks' clocks would choose different save "
          "steps (a save is a collective); use save_steps");
    }
    if (options_.epoch && (*options_.epoch < 0 || *options_.epoch == INT64_MAX)) {
      throw InvalidArgumentError(std::string(who) + "epoch must be >= 0; got " +
                                 std::to_string(*options_.epoch));
    }
    const std::string& type = options_.task_type;
    if (!type.empty()) {
      if (options_.task_id < 0) {
        throw InvalidArgumentError(std::string(who) + "task_id must be >= 0; got " +
                                   std::to_string(options_.task_id));
      }
      for (char c : type) {
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') {
          throw InvalidArgumentError(std::string(who) + "task_type '" + type +
                                     "' may only hold letters, digits, '_' and '-'");
        }
      }
    }
  }

  static void CheckStep(int64_t step, const char* call) {
    if (step < 0) {
      throw InvalidArgumentError(std::string("CheckpointInputPipelineHook.") + call +
                                 ": the global step must be >= 0; got " + std::to_string(step));
    }
  }

  // A save at a lower step than one already seen would be listed as older than the saves it
  // follows, so a restore would pick an earlier position and repeat data. The same step again is
  // fine (several batches per optimizer step, as with gradient accumulation).
  void CheckNotBackwards(int64_t step, const char* call) const {
    if (step >= last_step_seen_) return;
    throw InvalidArgumentError(
        std::string("CheckpointInputPipelineHook.") + call + ": the global step went back from " +
        std::to_string(last_step_seen_) + " to " + std::to_string(step) +
        "; steps must not decrease (a save at step " + std::to_string(step) +
        " would look older than the ones already taken, and a restore would repeat data). If the "
        "model itself was restored to an earlier step, start a new hook on fresh iterators and "
        "call restore_for_model_step(" + std::to_string(step) + ")");
  }

  void SetPhase(Phase to) {
    if (!IsLegal(phase_, to)) {  // a bug in this file, not a misuse of the hook
      throw FailedPreconditionError(std::string("CheckpointInputPipelineHook: internal error: no "
                                                "transition from phase '") +
                                    PhaseName(phase_) + "' to '" + PhaseName(to) + "'");
    }
    phase_ = to;
  }

  void RequireRunning(const char* call) const {
    if (!IsRunning(phase_)) {
      throw FailedPreconditionError(std::string("CheckpointInputPipelineHook.") + call +
                                    " called before begin() (phase '" + PhaseName(phase_) + "')");
    }
  }

  // One line per iterator, "<name>: <Iterator::Stats().summary>" (options_.log_stats_steps).
  void LogStats() {
    for (const auto& [name, it] : iterators_) {
      std::string line = name + ": " + it->Stats().summary;
      if (options_.on_stats) {
        options_.on_stats(line);
      } else {
        std::cerr << "inputpipe: " << line << std::endl;
      }
    }
  }

  void Warn(const std::string& message) {
    if (options_.on_warning) {
      options_.on_warning(message);
    } else {
      std::cerr << "inputpipe: warning: " << message << std::endl;
    }
  }

  // Once per hook (kCreated -> kPrepared), on the training thread, before the writer starts: the
  // directory exists, no temporary file of ours is left, and retention knows the checkpoints
  // already there.
  void Prepare() {
    fs_->CreateDirs(dir_);
    const std::string index_temp = hook_internal::IndexFileName(prefix_) + std::string(kTempSuffix);
    const std::string file_head = prefix_ + ".ckpt-";
    for (const auto& name : fs_->ListDir(dir_)) {
      bool ours_temp = name == index_temp || (name.size() > file_head.size() + kTempSuffix.size() &&
                                              name.compare(0, file_head.size(), file_head) == 0 &&
                                              name.ends_with(kTempSuffix));
      // Ranks share the directory: a rank removes only its own temporaries (rank 0 writes the
      // files of a process group), never a peer's being written.
      if (ours_temp && !suffix_.empty()) ours_temp = name.find(suffix_) != std::string::npos;
      if (ours_temp && suffix_.empty() && options_.num_ranks > 1) {
        ours_temp = options_.rank == 0 && name.find(".rank-") == std::string::npos;
      }
      if (ours_temp) fs_->DeleteFile(JoinPath(dir_, name));
    }
    for (const auto& info : List()) retained_.push_back(info.step);
    SetPhase(Phase::kPrepared);
  }

  // Restores the newest valid checkpoint with step <= max_step (any step when nullopt), moving
  // to the restored phase that follows the current one; nullopt (phase unchanged) when there is
  // no checkpoint to restore.
  // `initial_step`: Begin's step, where a fresh run's ranks each save their initial state.
  std::optional<int64_t> Restore(std::optional<int64_t> max_step,
                                 std::optional<int64_t> initial_step = std::nullopt)
      EXCLUDES(mu_) {
    std::vector<std::string> incomplete;
    std::vector<int64_t> incomplete_ranks;
    std::vector<int64_t> incomplete_steps;
    std::vector<Candidate> candidates = ListCandidates(*fs_, dir_, prefix_, &incomplete,
                                                       &incomplete_ranks, &incomplete_steps);
    std::vector<std::string> skipped;
    for (size_t i = 0; i < incomplete.size(); ++i) {
      Warn("skipping input checkpoint " + incomplete[i]);
      // The step Begin starts from, in this run's own layout, may be a peer's initial save in
      // progress (a rank that began first): like a temporary, not a failed checkpoint. A later
      // step cannot be: a peer passes it only after this rank's first step's collectives.
      const bool peer_initial = !suffix_.empty() && incomplete_ranks[i] == options_.num_ranks &&
                                initial_step && incomplete_steps[i] == *initial_step;
      if (!peer_initial) {
        skipped.push_back(incomplete[i]);
      }
    }
    for (auto c = candidates.rbegin(); c != candidates.rend(); ++c) {
      if (max_step && c->step > *max_step) continue;
      std::vector<DecodedState> decoded;  // contents.states decoded, in the same order
      CheckpointContents contents;
      try {
        contents = ReadCandidate(*fs_, *c);
        // Every rank's state decoded; this rank's computed from them (not a fallback when
        // refused: an older checkpoint of the same ranks would be refused too).
        std::vector<std::vector<DecodedState>> ranks;
        // A file of one process, on several ranks: a checkpoint of one rank.
        const std::vector<CheckpointContents> one = {contents};
        const auto& saved_ranks =
            contents.ranks.empty() && options_.num_ranks > 1 ? one : contents.ranks;
        for (const CheckpointContents& rank : saved_ranks) {
          ranks.emplace_back();
          for (const auto& [name, bytes] : rank.states) ranks.back().push_back(DecodeState(bytes));
        }
        if (!ranks.empty()) {
          decoded = ForThisRank(contents, ranks, c->path);
        } else {
          for (const auto& [name, bytes] : contents.states) decoded.push_back(DecodeState(bytes));
        }
      } catch (const FailedPreconditionError&) {  // a resize the pipeline forbids
        throw;
      } catch (const PipelineMismatchError&) {  // ranks of different pipelines
        throw;
      } catch (const Error& e) {  // DataLossError, or IOError reading the file
        Warn("skipping input checkpoint " + c->path + ": " + e.what() +
             "; falling back to the previous one");
        skipped.push_back(c->path);
        continue;
      }
      // Not a fallback when refused (another epoch, or the end of the data): an older
      // checkpoint would be a silent rewind, not a fix.
      if (!MatchEpoch(contents, c->path)) return StartEpoch(c->step);
      try {
        RestoreFrom(contents, decoded, c->path);
      } catch (const DataLossError& e) {
        // Checksums valid, but an op rejects what its state holds: as corrupt as a bad checksum
        // (RestoreFrom left every iterator fresh). A PipelineMismatchError is not caught: it
        // means another pipeline or changed data, which an older checkpoint does not fix.
        Warn("skipping input checkpoint " + c->path + " (step " + std::to_string(c->step) +
             "): " + e.what() + "; falling back to the previous one");
        skipped.push_back(c->path);
        continue;
      }
      last_save_step_ = contents.step;
      last_saved_ended_ = contents.ended;
      last_saved_ended_.resize(iterators_.size(), false);
      last_save_time_ = options_.clock();
      SetPhase(IsRunning(phase_) ? Phase::kRunningRestored : Phase::kRestored);
      MutexLock lock(mu_);
      stats_.restored_step = contents.step;
      stats_.last_captured_step = contents.step;
      stats_.last_committed_step = contents.step;
      return contents.step;
    }
    if (!skipped.empty()) {
      throw DataLossError("CheckpointInputPipelineHook: no valid input checkpoint in " + dir_ +
                          "; every candidate is corrupt or holds a state an op rejects: " +
                          JoinNames(skipped));
    }
    return std::nullopt;
  }

  // The decoded state of each of `contents.states` that this rank restores, from the states of
  // every rank (ranks[r][i]: rank r's state of iterator i): its own when the rank count is the
  // same, else what ReshardDecoded computes (docs/distributed.md). FailedPreconditionError naming
  // the op when a resize is impossible; PipelineMismatchError when the ranks' pipelines differ.
  std::vector<DecodedState> ForThisRank(const CheckpointContents& contents,
                                        std::vector<std::vector<DecodedState>>& ranks,
                                        const std::string& path) {
    const int64_t saved = static_cast<int64_t>(ranks.size());
    std::vector<DecodedState> out;
    for (size_t i = 0; i < contents.states.size(); ++i) {
      std::vector<DecodedState> peers;
      for (auto& rank : ranks) peers.push_back(std::move(rank[i]));
      DecodedState mine;
      mine.format_version = peers[0].format_version;
      mine.pipeline = peers[0].pipeline;
      try {
        mine.root = ReshardDecoded(peers, options_.rank, options_.num_ranks);
      } catch (const FailedPreconditionError& e) {
        throw FailedPreconditionError("input checkpoint " + path + " (saved by " +
                                      std::to_string(saved) + " ranks), iterator '" +
                                      contents.states[i].first + "', on rank " +
                                      std::to_string(options_.rank) + " of " +
                                      std::to_string(options_.num_ranks) + ": " + e.what());
      } catch (const PipelineMismatchError& e) {
        throw PipelineMismatchError("input checkpoint " + path + ", iterator '" +
                                    contents.states[i].first + "': " + e.what());
      }
      out.push_back(std::move(mine));
    }
    return out;
  }

  // At the first save of a process group, on every rank: the pipelines of all the ranks
  // (`all`: each rank's encoded file) must be the same. PipelineMismatchError naming the rank,
  // the iterator and the op.
  void CheckRanksAgree(const std::vector<std::string>& all) const {
    std::vector<CheckpointContents> ranks;
    for (size_t r = 0; r < all.size(); ++r) {
      ranks.push_back(hook_internal::DecodeCheckpointFile(all[r], "rank " + std::to_string(r)));
    }
    for (size_t r = 1; r < ranks.size(); ++r) {
      for (size_t i = 0; i < ranks[0].states.size() && i < ranks[r].states.size(); ++i) {
        const auto mine = DecodeState(ranks[0].states[i].second).pipeline;
        const auto theirs = DecodeState(ranks[r].states[i].second).pipeline;
        for (size_t k = 0; k < std::max(mine.size(), theirs.size()); ++k) {
          std::string a = k < mine.size() ? mine[k] : "(nothing)";
          std::string b = k < theirs.size() ? theirs[k] : "(nothing)";
          if (a == b) continue;
          auto trim = [](std::string x) { return x.erase(0, x.find_first_not_of(' ')); };
          throw PipelineMismatchError(
              "CheckpointInputPipelineHook: rank " + std::to_string(r) + " of " +
              std::to_string(all.size()) + " was built with another pipeline than rank 0: " +
              "iterator '" + ranks[0].states[i].first + "', op #" + std::to_string(k) +
              " is '" + trim(b) + "' on rank " + std::to_string(r) + ", '" + trim(a) +
              "' on rank 0 (every rank must build the same pipeline; the rank goes into " +
              "distribute() or shard(elastic=True), which leave it out of the fingerprint)");
        }
      }
    }
  }

  // Whether `contents` may be restored into this hook's iterators (docs/hook.md, "Epochs"):
  // true to restore it, false when it is of an earlier epoch and this epoch starts fresh.
  // Throws FailedPreconditionError when it must not be restored: without an epoch, a checkpoint
  // at the end of its data; with one, a checkpoint of a later epoch or of a hook without epochs.
  bool MatchEpoch(const CheckpointContents& contents, const std::string& path) {
    const std::string where =
        "input checkpoint " + path + " (step " + std::to_string(contents.step) + ")";
    if (!options_.epoch) {
      if (!contents.AtEnd()) return true;
      throw FailedPreconditionError(
          "CheckpointInputPipelineHook: " + where + " was saved after every iterator had " +
          "reached the end of its data: restoring it would deliver no element. If the run had " +
          "finished, there is nothing left to resume. To make another pass over the data, use " +
          "one iterator and hook over dataset.repeat(), or give each epoch's fresh iterator a " +
          "hook with epoch=<the epoch> and start the epoch loop at inputpipe.resume_epoch('" +
          dir_ + "') (C++: ResumeEpoch; docs/hook.md, \"Epochs\")");
    }
    const int64_t epoch = *options_.epoch;
    const std::string who = "CheckpointInputPipelineHook (epoch " + std::to_string(epoch) + "): ";
    if (!contents.epoch) {
      throw FailedPreconditionError(
          who + where + " was saved by a hook without an epoch, so the epoch it belongs to is " +
          "unknown: keep the hook without epoch= for this run, or start the epoch-aware loop " +
          "in another directory (docs/hook.md, \"Epochs\")");
    }
    const std::string saved = std::to_string(*contents.epoch);
    if (*contents.epoch == epoch) return true;
    if (*contents.epoch > epoch) {
      throw FailedPreconditionError(
          who + where + " is of epoch " + saved + ": epoch " + std::to_string(epoch) +
          " finished before it, and a checkpoint is never restored into another epoch's " +
          "iterators. Start the epoch loop at inputpipe.resume_epoch('" + dir_ + "') (C++: " +
          "ResumeEpoch; here epoch " + saved + (contents.AtEnd() ? " + 1" : "") +
          "; docs/hook.md, \"Epochs\")");
    }
    if (!contents.AtEnd()) {
      Warn(who + where + " is of epoch " + saved + " and was saved before its iterators " +
           "reached the end of their data (epoch " + saved + " was left unfinished, or its " +
           "end was never seen): epoch " + std::to_string(epoch) + " starts fresh at step " +
           std::to_string(contents.step) + ", and whatever epoch " + saved + " had left is " +
           "not delivered. To finish it first, start the epoch loop at " +
           "inputpipe.resume_epoch(dir) (docs/hook.md, \"Epochs\")");
    }
    return false;
  }

  // The newest checkpoint is of an earlier epoch: this epoch starts fresh at its step (the end
  // of that epoch is the start of this one). Nothing is restored; the start is saved there by
  // Begin (now, when Begin already ran), replacing the earlier epoch's file of the same step,
  // so that a restart finds this epoch. Returns the step, as a restore would.
  int64_t StartEpoch(int64_t step) {
    for (const auto& [name, it] : iterators_) {
      if (it->started()) {
        throw FailedPreconditionError(
            "CheckpointInputPipelineHook: iterator '" + name +
            "' has already produced elements; a new epoch needs fresh iterators");
      }
    }
    SetPhase(IsRunning(phase_) ? Phase::kRunningRestored : Phase::kRestored);
    {
      MutexLock lock(mu_);
      stats_.restored_step = step;
    }
    if (IsRunning(phase_)) {
      Capture(step);
    } else {
      epoch_start_step_ = step;
    }
    return step;
  }

  // Checks every iterator's state against its pipeline before restoring any, so that a
  // mismatch leaves all the iterators untouched. Each state is decoded once (by Restore) and
  // each iterator restored once, from the decoded tree. When an op rejects a state (or any
  // other error stops the restores), the iterators already restored are reset, so that all
  // are fresh again for the previous checkpoint or a later call (a failed Iterator::Restore
  // leaves its own iterator fresh).
  void RestoreFrom(const CheckpointContents& contents, const std::vector<DecodedState>& decoded,
                   const std::string& path) {
    std::vector<std::string> saved_names, names;
    for (const auto& [name, bytes] : contents.states) saved_names.push_back(name);
    for (const auto& [name, it] : iterators_) names.push_back(name);
    std::vector<std::string> sorted_saved = saved_names, sorted_names = names;
    std::sort(sorted_saved.begin(), sorted_saved.end());
    std::sort(sorted_names.begin(), sorted_names.end());
    if (sorted_saved != sorted_names) {
      throw PipelineMismatchError("input checkpoint " + path + " holds the iterators " +
                                  JoinNames(saved_names) + ", the hook was given " +
                                  JoinNames(names));
    }
    auto state_of = [&](const std::string& name) -> size_t {
      for (size_t i = 0; i < contents.states.size(); ++i) {
        if (contents.states[i].first == name) return i;
      }
      return 0;  // unreachable: the name sets are equal
    };
    std::vector<std::string> changes;  // what allow_changes let pass, warned once
    for (const auto& [name, it] : iterators_) {
      if (it->started()) {
        throw FailedPreconditionError(
            "CheckpointInputPipelineHook: iterator '" + name +
            "' has already produced elements; restore (begin / restore_for_model_step) needs "
            "fresh iterators");
      }
      // Every iterator is checked before any is restored (the differences are collected by
      // the restores below).
      try {
        CheckPipelineAllowing(decoded[state_of(name)].pipeline, it->dataset(),
                              {.allow_changes = options_.allow_changes});
      } catch (const PipelineMismatchError& e) {
        throw PipelineMismatchError("input checkpoint " + path + ", iterator '" + name +
                                    "': " + e.what());
      }
    }
    // Each restore is transactional (a failed one leaves its iterator fresh); the ones already
    // done are reset when a later iterator rejects its state.
    for (size_t i = 0; i < iterators_.size(); ++i) {
      const auto& [name, it] = iterators_[i];
      std::vector<std::string> its_changes;
      try {
        it->Restore(decoded[state_of(name)], {.allow_changes = options_.allow_changes},
                    &its_changes);
      } catch (const DataLossError& e) {
        for (size_t j = 0; j < i; ++j) iterators_[j].second->Reset();
        throw DataLossError("iterator '" + name + "': " + e.what());
      } catch (const PipelineMismatchError& e) {  // a change an op cannot follow (a seed)
        for (size_t j = 0; j < i; ++j) iterators_[j].second->Reset();
        throw PipelineMismatchError("input checkpoint " + path + ", iterator '" + name +
                                    "': " + e.what());
      } catch (...) {
        for (size_t j = 0; j < i; ++j) iterators_[j].second->Reset();
        throw;
      }
      for (std::string& change : its_changes) {
        changes.push_back("iterator '" + name + "': " + std::move(change));
      }
    }
    std::string warning;
    for (const auto& change : changes) warning += (warning.empty() ? "" : "; ") + change;
    if (!warning.empty()) Warn("input checkpoint " + path + " (allow_changes): " + warning);
  }

  // On the training thread: the only work a save costs it.
  // A process group writes one file for all the ranks (CheckpointHookOptions::gather).
  bool grouped() const { return options_.num_ranks > 1 && static_cast<bool>(options_.gather); }

  // `at_end`: End's save, which every rank makes (see the skip below).
  void Capture(int64_t step, bool at_end = false) EXCLUDES(mu_) {
    // Which iterators have ended: a capture function's states are older than the iterators'
    // positions, so then it is unknown (recorded as not ended).
    std::vector<bool> ended(iterators_.size(), false);
    if (!options_.capture) {
      for (size_t i = 0; i < iterators_.size(); ++i) ended[i] = iterators_[i].second->ended();
    }
    // Saved at this step already, unless an iterator has ended since (End after the last
    // periodic save): the file is then rewritten so that it says so. In a process group every
    // rank must make the same decision (a save is a collective), and ranks end apart: there,
    // only End (which every rank calls) saves at a step saved already.
    if (step == last_save_step_ && ended == last_saved_ended_ && !grouped()) return;
    if (step == last_save_step_ && grouped() && !at_end) return;
    double start = SteadySeconds();
    CheckpointContents contents;
    contents.step = step;
    contents.epoch = options_.epoch;
    contents.ended = ended;
    std::vector<std::string> warnings;
    if (options_.capture) {
      contents.states = options_.capture(options_.external_state_policy, &warnings);
      CheckCapturedNames(contents.states);
    } else {
      for (const auto& [name, it] : iterators_) {
        contents.states.emplace_back(name, it->Save(options_.external_state_policy, &warnings));
      }
    }
    for (const auto& warning : warnings) Warn(warning);
    // Without ranks the writer thread encodes the file (a few microseconds with the caches
    // cold, as they are after a training step): the training thread only captures.
    std::string bytes;
    std::optional<hook_internal::CheckpointContents> to_encode;
    if (grouped()) {
      bytes = hook_internal::EncodeCheckpointFile(contents, JoinPath(dir_, FileName(step)));
      // The one collective of a save step: every rank's file to rank 0 (to every rank at the
      // first save, so that every rank checks the pipelines and raises the same error).
      const bool first = !gathered_;
      std::vector<std::string> all = options_.gather(bytes, first);
      gathered_ = true;
      if (first || options_.rank == 0) {
        if (static_cast<int64_t>(all.size()) != options_.num_ranks) {
          throw FailedPreconditionError(
              "CheckpointInputPipelineHook: the gather returned " + std::to_string(all.size()) +
              " states, expected num_ranks=" + std::to_string(options_.num_ranks));
        }
      }
      if (first) CheckRanksAgree(all);
      if (options_.rank != 0) {  // rank 0 writes the step's file
        last_save_step_ = step;
        last_saved_ended_ = std::move(ended);
        last_save_time_ = options_.clock();
        MutexLock lock(mu_);
        stats_.saves_captured++;
        stats_.last_captured_step = step;
        return;
      }
      bytes = hook_internal::EncodeRanksFile(step, all);
    } else {
      to_encode = std::move(contents);
    }
    double seconds = SteadySeconds() - start;
    last_save_step_ = step;
    last_saved_ended_ = std::move(ended);
    last_save_time_ = options_.clock();
    {
      MutexLock lock(mu_);
      if (!writer_.joinable()) writer_ = std::thread([this] { WriterLoop(); });
      // Backpressure (docs/hook.md, "Saves faster than the disk"). With max_to_keep, a queued
      // save that max_to_keep newer ones follow would be deleted by retention as soon as those
      // are written: it is dropped unwritten, oldest first, so the queue never holds more than
      // max_to_keep saves and the newest one (End's) is always written. Keeping every
      // checkpoint, none may be dropped: the training thread waits for room instead.
      if (!options_.max_to_keep) {
        while (queue_.size() >= kMaxQueuedSavesKeepingAll) {
          work_cv_.Signal();  // waiting anyway: no poll interval on top
          idle_cv_.Wait(mu_);
        }
      }
      queue_.push_back({step, std::move(bytes), std::move(to_encode)});
      if (options_.max_to_keep) {
        while (static_cast<int64_t>(queue_.size()) > *options_.max_to_keep) {
          queue_.pop_front();
          stats_.saves_dropped++;
        }
      }
      stats_.max_queued_saves =
          std::max(stats_.max_queued_saves, static_cast<int64_t>(queue_.size()));
      stats_.saves_captured++;
      stats_.last_captured_step = step;
      stats_.last_capture_seconds = seconds;
      stats_.max_capture_seconds = std::max(stats_.max_capture_seconds, seconds);
      stats_.total_capture_seconds += seconds;
    }
    // No Signal: waking the sleeping writer costs the training thread 10-25 us on a virtual
    // machine (a futex wake sends an interrupt to the idle CPU), more than the capture itself.
    // The writer polls the queue every kWriterPoll instead; Flush and a full queue wake it.
  }

  void CheckCapturedNames(const std::vector<std::pair<std::string, std::string>>& states) const {
    bool same = states.size() == iterators_.size();
    for (size_t i = 0; same && i < states.size(); ++i)
      same = states[i].first == iterators_[i].first;
    if (!same) {
      std::vector<std::string> got;
      for (const auto& [name, bytes] : states) got.push_back(name);
      std::vector<std::string> want;
      for (const auto& [name, it] : iterators_) want.push_back(name);
      throw InvalidArgumentError(
          "CheckpointInputPipelineHook: the capture function returned states for " +
          JoinNames(got) + ", expected " + JoinNames(want));
    }
  }

  void RaisePendingError() EXCLUDES(mu_) {
    MutexLock lock(mu_);
    RaisePendingErrorLocked();
  }
  void RaisePendingErrorLocked() REQUIRES(mu_) {
    if (!error_) return;
    std::exception_ptr error = error_;
    error_ = nullptr;
    std::rethrow_exception(error);
  }
  std::exception_ptr TakePendingError() EXCLUDES(mu_) {
    MutexLock lock(mu_);
    std::exception_ptr error = error_;
    error_ = nullptr;
    return error;
  }
  // Capture(step), then `earlier` (a pending error taken before it) raised if there is one;
  // when the capture itself throws, `earlier` is pending again, for the next call.
  void CaptureThenRaise(int64_t step, std::exception_ptr earlier) EXCLUDES(mu_) {
    try {
      Capture(step);
    } catch (...) {
      MutexLock lock(mu_);
      if (!error_) error_ = earlier;
      throw;
    }
    if (earlier) std::rethrow_exception(earlier);
  }

  // The background thread. Drains the queue before exiting so no captured save is dropped.
  void WriterLoop() EXCLUDES(mu_) {
    MutexLock lock(mu_);
    while (true) {
      while (!stopping_ && queue_.empty()) {
        work_cv_.WaitUntil(mu_, std::chrono::steady_clock::now() + kWriterPoll);
      }
      if (queue_.empty()) break;  // stopping, nothing left
      PendingSave save = std::move(queue_.front());
      queue_.pop_front();
      writing_ = true;
      std::exception_ptr error;
      double seconds = 0;
      {
        MutexUnlock unlock(mu_);  // the file system is slow: the training thread never waits on it
        const double start = SteadySeconds();
        try {
          Commit(save);
        } catch (const IOError& e) {
          error = std::make_exception_ptr(IOError("saving input checkpoint at step " +
                                                  std::to_string(save.step) + " in " + dir_ +
                                                  " failed: " + e.what()));
        } catch (...) {
          error = std::current_exception();
        }
        seconds = SteadySeconds() - start;
      }
      writing_ = false;
      if (error) {
        stats_.saves_failed++;
        if (!error_) error_ = error;  // the first failure is the one to report
      } else {
        stats_.saves_committed++;
        stats_.last_committed_step = save.step;
        stats_.last_write_seconds = seconds;
        stats_.total_write_seconds += seconds;
        stats_.last_checkpoint_bytes = static_cast<int64_t>(save.bytes.size());
      }
      idle_cv_.SignalAll();
    }
  }

  // Writer thread only. At this run's first commit: the files of another layout (another rank
  // count, or one file per step against one per rank) at this step or later are from a run this
  // one restored before; left there, a step of theirs would tie with or beat this run's own
  // (ListCandidates takes the newest complete step). This rank deletes its own slot of them:
  // rank r the files of rank r of any other count, rank 0 (or the one writer) the single files
  // and those of ranks beyond this run's count, so every such stale step is gone. Later commits find none: ranks of one run
  // share their layout. Older steps of another layout stay, as fallbacks that restore.
  void DeleteOtherLayouts(int64_t from_step) {
    const std::string head = prefix_ + ".ckpt-";
    for (const std::string& name : fs_->ListDir(dir_)) {
      if (name.compare(0, head.size(), head) != 0) continue;
      const size_t dot = name.find('.', head.size());
      const std::string tail = dot == std::string::npos ? "" : name.substr(dot);
      auto step = hook_internal::ParseCheckpointFileName(prefix_, name.substr(0, dot));
      if (!step || *step < from_step || tail == suffix_) continue;
      bool doomed = false;
      if (tail.empty()) {
        doomed = options_.rank == 0;  // a single file, this run writing per-rank files
      } else if (auto rank = ParseRankSuffix(tail)) {
        // Rank 0 also takes the ranks this run does not have (rank 3 of an older 4).
        doomed = suffix_.empty() || rank->first == options_.rank ||
                 (options_.rank == 0 && rank->first >= options_.num_ranks);
      }
      if (doomed && fs_->FileExists(JoinPath(dir_, name))) fs_->DeleteFile(JoinPath(dir_, name));
    }
  }

  // "<prefix>.ckpt-<step>", plus this rank's suffix when ranks write one file each.
  std::string FileName(int64_t step) const {
    return hook_internal::CheckpointFileName(prefix_, step) + suffix_;
  }

  // Writer thread only (retained_ is its own once the writer runs).
  void Commit(PendingSave& save) {
    const std::string path = JoinPath(dir_, FileName(save.step));
    if (save.contents) save.bytes = hook_internal::EncodeCheckpointFile(*save.contents, path);
    WriteFileAtomically(*fs_, path, save.bytes);
    if (!other_layouts_deleted_) {
      DeleteOtherLayouts(save.step);
      other_layouts_deleted_ = true;
    }
    // The new checkpoint is durable. Newer ones are from a run abandoned by a restore to an
    // earlier step; then the oldest beyond max_to_keep. The newest (this one) always stays.
    std::vector<int64_t> doomed;
    std::vector<int64_t> kept;
    for (int64_t step : retained_) (step > save.step ? doomed : kept).push_back(step);
    kept.erase(std::remove(kept.begin(), kept.end(), save.step), kept.end());
    kept.push_back(save.step);
    std::sort(kept.begin(), kept.end());
    if (options_.max_to_keep && static_cast<int64_t>(kept.size()) > *options_.max_to_keep) {
      size_t excess = kept.size() - static_cast<size_t>(*options_.max_to_keep);
      doomed.insert(doomed.end(), kept.begin(), kept.begin() + excess);
      kept.erase(kept.begin(), kept.begin() + excess);
    }
    for (int64_t step : doomed) {
      std::string old = JoinPath(dir_, FileName(step));
      if (fs_->FileExists(old)) fs_->DeleteFile(old);
    }
    retained_ = kept;
    hook_internal::CheckpointIndex index;
    index.latest = FileName(save.step);
    for (int64_t step : kept) index.all.push_back(FileName(step));
    // The index write fsyncs the directory, which also makes the deletions durable.
    WriteFileAtomically(*fs_, index_path(), hook_internal::EncodeIndexFile(index));
  }

  const std::vector<std::pair<std::string, Iterator*>> iterators_;
  const std::string dir_;
  CheckpointHookOptions options_;
  FileSystem* fs_ = nullptr;
  std::string prefix_;
  std::string suffix_;  // RankSuffix when ranks write one file each, else ""
  bool other_layouts_deleted_ = false;  // writer thread only: DeleteOtherLayouts ran
  bool gathered_ = false;  // the first save of a process group (it compares the pipelines) done

  // Training thread only.
  Phase phase_ = Phase::kCreated;
  int64_t last_save_step_ = -1;
  std::vector<bool> last_saved_ended_;      // Iterator::ended of each iterator at that save
  std::optional<int64_t> epoch_start_step_;  // StartEpoch's step, for Begin to save there
  double last_save_time_ = 0;
  int64_t last_step_seen_ = 0;
  std::vector<int64_t> retained_;  // written by Prepare before the writer starts, then writer-only

  mutable Mutex mu_;
  CondVar work_cv_;  // queue_ gained an item, or stopping_
  CondVar idle_cv_;  // the writer finished an item
  std::deque<PendingSave> queue_ GUARDED_BY(mu_);  // captured, not yet being written
  bool writing_ GUARDED_BY(mu_) = false;
  bool stopping_ GUARDED_BY(mu_) = false;
  std::exception_ptr error_ GUARDED_BY(mu_);
  CheckpointHookStats stats_ GUARDED_BY(mu_);
  std::thread writer_;  // started by the first Capture (under mu_), joined by the destructor
};

CheckpointInputPipelineHook::CheckpointInputPipelineHook(
    std::vector<std::pair<std::string, Iterator*>> iterators, std::string checkpoint_dir,
    CheckpointHookOptions options)
    : impl_(std::make_unique<Impl>(std::move(iterators), std::move(checkpoint_dir),
                                   std::move(options))) {}
CheckpointInputPipelineHook::~CheckpointInputPipelineHook() = default;

std::optional<int64_t> CheckpointInputPipelineHook::Begin(int64_t global_step) {
  return impl_->Begin(global_step);
}
std::optional<int64_t> CheckpointInputPipelineHook::RestoreForModelStep(int64_t model_step) {
  return impl_->RestoreForModelStep(model_step);
}
void CheckpointInputPipelineHook::AfterStep(int64_t global_step) { impl_->AfterStep(global_step); }
void CheckpointInputPipelineHook::Save(int64_t global_step) { impl_->Save(global_step); }
void CheckpointInputPipelineHook::End(std::optional<int64_t> global_step) {
  impl_->End(global_step);
}
void CheckpointInputPipelineHook::Flush() { impl_->Flush(); }
std::vector<InputCheckpointInfo> CheckpointInputPipelineHook::ListCheckpoints() const {
  return impl_->List();
}
CheckpointHookStats CheckpointInputPipelineHook::stats() const { return impl_->stats(); }
const std::string& CheckpointInputPipelineHook::prefix() const { return impl_->prefix(); }
const std::string& CheckpointInputPipelineHook::checkpoint_dir() const { return impl_->dir(); }
std::string CheckpointInputPipelineHook::index_path() const { return impl_->index_path(); }

InputCheckpointContents DecodeInputCheckpoint(std::string_view bytes, const std::string& path) {
  return hook_internal::DecodeCheckpointFile(bytes, path);
}

std::optional<InputCheckpointStatus> NewestInputCheckpoint(const std::string& checkpoint_dir,
                                                           const std::string& prefix,
                                                           std::optional<int64_t> max_step,
                                                           FileSystem* file_system) {
  FileSystem& fs = file_system != nullptr ? *file_system : DefaultFileSystem();
  std::vector<Candidate> candidates = ListCandidates(fs, checkpoint_dir, prefix, nullptr);
  for (auto c = candidates.rbegin(); c != candidates.rend(); ++c) {
    if (max_step && c->step > *max_step) continue;
    CheckpointContents contents;
    try {
      contents = ReadCandidate(fs, *c);
    } catch (const Error&) {  // corrupt or unreadable: the hook skips it too (with a warning)
      continue;
    }
    return InputCheckpointStatus{c->step, c->path, contents.epoch, contents.AtEnd()};
  }
  return std::nullopt;
}

int64_t ResumeEpoch(const std::string& checkpoint_dir, const std::string& prefix,
                    std::optional<int64_t> max_step, FileSystem* file_system) {
  std::optional<InputCheckpointStatus> newest =
      NewestInputCheckpoint(checkpoint_dir, prefix, max_step, file_system);
  if (!newest) return 0;
  if (!newest->epoch) {
    throw FailedPreconditionError(
        "resume_epoch: input checkpoint " + newest->path + " (step " +
        std::to_string(newest->step) + ") was saved by a hook without an epoch; an epoch-aware " +
        "loop needs checkpoints saved with epoch= (docs/hook.md, \"Epochs\")");
  }
  return *newest->epoch + (newest->at_end ? 1 : 0);
}

std::optional<std::string> LatestInputCheckpoint(const std::string& checkpoint_dir,
                                                 const std::string& prefix,
                                                 FileSystem* file_system) {
  FileSystem& fs = file_system != nullptr ? *file_system : DefaultFileSystem();
  std::string path = JoinPath(checkpoint_dir, hook_internal::IndexFileName(prefix));
  if (!fs.FileExists(path)) return std::nullopt;
  hook_internal::CheckpointIndex index = hook_internal::DecodeIndexFile(fs.ReadFile(path), path);
  if (index.latest.empty()) return std::nullopt;
  return JoinPath(checkpoint_dir, index.latest);
}

}  // namespace inputpipe
