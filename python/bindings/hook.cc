// RegisterHook: `_core.CheckpointHook` (the C++ CheckpointInputPipelineHook driving
// `_core.Iterator`s) and `_core.latest_input_checkpoint`. python/inputpipe/hook.py builds the
// public API on top.
//
// GIL: every hook call that saves or restores holds the mutexes of its iterators (the rule of
// PyIterator), locked in address order so two hooks sharing an iterator cannot deadlock (see
// WithIteratorsLocked in bindings.h). begin, restore_for_model_step and end release the GIL;
// after_step and save, a capture of microseconds, keep it unless an iterator is busy or the
// hook keeps every checkpoint (a capture may then wait for the writer). Python
// callbacks (warnings, the clock, a generator's get_state / set_state) take the GIL back while
// they run.
#include "inputpipe/hook.h"

#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <algorithm>

#include "bindings.h"
#include "inputpipe/errors.h"

namespace inputpipe::python {

namespace {

using namespace nb::literals;

class PyHook {
 public:
  PyHook(const std::vector<std::string>& names, nb::list iterators, std::string checkpoint_dir,
         std::optional<int64_t> save_steps, std::optional<double> save_secs,
         const std::string& external_state_policy, std::optional<int64_t> max_to_keep,
         std::string task_type, int64_t task_id, nb::object warn, nb::object clock,
         nb::object capture, bool allow_changes, std::optional<int64_t> epoch, int64_t rank,
         int64_t num_ranks, nb::object gather) {
    if (names.size() != iterators.size()) {
      throw InvalidArgumentError("CheckpointHook: as many names as iterators are needed");
    }
    std::vector<std::pair<std::string, Iterator*>> pairs;
    for (size_t i = 0; i < names.size(); ++i) {
      nb::handle obj = iterators[i];
      if (!nb::isinstance<PyIterator>(obj)) {
        throw nb::type_error(("CheckpointInputPipelineHook: iterator '" + names[i] +
                              "' must be an inputpipe.Iterator (iter(dataset)), got " +
                              nb::cast<std::string>(nb::str(obj.type().attr("__name__"))))
                                 .c_str());
      }
      PyIterator* it = nb::cast<PyIterator*>(obj);
      locking_order_.push_back(it);
      pairs.emplace_back(names[i], &it->iterator());
    }
    refs_ = iterators;
    std::sort(locking_order_.begin(), locking_order_.end());
    locking_order_.erase(std::unique(locking_order_.begin(), locking_order_.end()),
                         locking_order_.end());

    CheckpointHookOptions options;
    options.save_steps = save_steps;
    options.save_secs = save_secs;
    options.external_state_policy = ParseExternalStatePolicy(external_state_policy);
    options.max_to_keep = max_to_keep;
    keeps_all_ = !max_to_keep;
    options.task_type = std::move(task_type);
    options.task_id = task_id;
    options.allow_changes = allow_changes;
    options.epoch = epoch;
    if (!warn.is_none()) {
      options.on_warning = [warn = PythonCallable(std::move(warn))](const std::string& message) {
        PythonSection section("hook: on_warning");
        warn.fn()(message);
      };
    }
    if (!clock.is_none()) {
      options.clock = [clock = PythonCallable(std::move(clock))]() {
        PythonSection section("hook: clock");
        return nb::cast<double>(clock.fn()());
      };
    }
    if (!capture.is_none()) {
      // capture(policy) -> {name: bytes}, in the order of `names`.
      options.capture = [capture = PythonCallable(std::move(capture)), names](
                            ExternalStatePolicy policy, std::vector<std::string>*) {
        PythonSection section("hook: capture");
        nb::dict states =
            nb::cast<nb::dict>(capture.fn()(std::string(ExternalStatePolicyName(policy))));
        std::vector<std::pair<std::string, std::string>> out;
        for (const std::string& name : names) {
          if (!states.contains(name.c_str())) continue;  // the hook reports the missing name
          nb::bytes bytes = nb::cast<nb::bytes>(states[name.c_str()]);
          out.emplace_back(name, std::string(bytes.c_str(), bytes.size()));
        }
        return out;
      };
    }
    options.rank = rank;
    options.num_ranks = num_ranks;
    if (!gather.is_none()) {
      // gather(bytes, to_all) -> [bytes] per rank (on rank 0, or on all when to_all), else [].
      options.gather = [gather = PythonCallable(std::move(gather))](const std::string& bytes,
                                                                   bool all) {
        PythonSection section("hook: gather");
        nb::object got = gather.fn()(nb::bytes(bytes.data(), bytes.size()), all);
        std::vector<std::string> out;
        for (nb::handle item : got) {
          nb::bytes b = nb::cast<nb::bytes>(item);
          out.emplace_back(b.c_str(), b.size());
        }
        return out;
      };
    }
    hook_ = std::make_unique<CheckpointInputPipelineHook>(
        std::move(pairs), std::move(checkpoint_dir), std::move(options));
  }

  ~PyHook() {
    // The writer thread may be fsyncing: wait for it without blocking other Python threads.
    if (PyGILState_Check()) {
      GilRelease release;
      hook_.reset();
    } else {
      hook_.reset();
    }
  }

  // Restores and the final save wait for the writer or read files: without the GIL.
  std::optional<int64_t> Begin(int64_t step) {
    return WithIteratorsLocked(locking_order_, [&] { return hook_->Begin(step); });
  }
  std::optional<int64_t> RestoreForModelStep(int64_t step) {
    return WithIteratorsLocked(locking_order_, [&] { return hook_->RestoreForModelStep(step); });
  }
  // A capture: microseconds, brief locks only, no file I/O. Keeping every checkpoint, a capture
  // may wait for room in the writer's queue (docs/hook.md), and the writer may need the GIL (a
  // Python file system): then without the GIL.
  void AfterStep(int64_t step) {
    if (keeps_all_) {
      WithIteratorsLocked(locking_order_, [&] { hook_->AfterStep(step); });
    } else {
      WithIteratorsLockedKeepingGil(locking_order_, [&] { hook_->AfterStep(step); });
    }
  }
  void Save(int64_t step) {
    if (keeps_all_) {
      WithIteratorsLocked(locking_order_, [&] { hook_->Save(step); });
    } else {
      WithIteratorsLockedKeepingGil(locking_order_, [&] { hook_->Save(step); });
    }
  }
  void End(std::optional<int64_t> step) {
    WithIteratorsLocked(locking_order_, [&] { hook_->End(step); });
  }
  void Flush() {
    GilRelease release;
    hook_->Flush();
  }

  std::vector<std::pair<int64_t, std::string>> Checkpoints() const {
    std::vector<std::pair<int64_t, std::string>> out;
    for (const auto& info : hook_->ListCheckpoints()) out.emplace_back(info.step, info.path);
    return out;
  }

  nb::dict Stats() const {
    CheckpointHookStats s = hook_->stats();
    nb::dict d;
    d["saves_captured"] = s.saves_captured;
    d["saves_committed"] = s.saves_committed;
    d["saves_failed"] = s.saves_failed;
    d["saves_dropped"] = s.saves_dropped;
    d["max_queued_saves"] = s.max_queued_saves;
    d["last_captured_step"] = s.last_captured_step;
    d["last_committed_step"] = s.last_committed_step;
    d["restored_step"] = s.restored_step ? nb::cast(*s.restored_step) : nb::none();
    d["last_capture_seconds"] = s.last_capture_seconds;
    d["max_capture_seconds"] = s.max_capture_seconds;
    d["total_capture_seconds"] = s.total_capture_seconds;
    d["last_write_seconds"] = s.last_write_seconds;
    d["total_write_seconds"] = s.total_write_seconds;
    d["last_checkpoint_bytes"] = s.last_checkpoint_bytes;
    return d;
  }

  const CheckpointInputPipelineHook& hook() const { return *hook_; }

 private:
  std::vector<PyIterator*> locking_order_;  // distinct, by address (WithIteratorsLocked)
  bool keeps_all_ = false;                  // max_to_keep is None
  nb::list refs_;  // keeps the Python iterators alive as long as the hook
  std::unique_ptr<CheckpointInputPipelineHook> hook_;
};

}  // namespace

void RegisterHook(nb::module_& m) {
  nb::class_<PyHook>(
      m, "CheckpointHook",
      "The C++ CheckpointInputPipelineHook; use inputpipe.CheckpointInputPipelineHook.")
      .def(nb::init<const std::vector<std::string>&, nb::list, std::string, std::optional<int64_t>,
                    std::optional<double>, const std::string&, std::optional<int64_t>, std::string,
                    int64_t, nb::object, nb::object, nb::object, bool, std::optional<int64_t>,
                    int64_t, int64_t, nb::object>(),
           "names"_a, "iterators"_a, "checkpoint_dir"_a, "save_steps"_a.none(),
           "save_secs"_a.none(), "external_state_policy"_a, "max_to_keep"_a.none(), "task_type"_a,
           "task_id"_a, "warn"_a.none(), "clock"_a.none(), "capture"_a.none(),
           "allow_changes"_a = false, "epoch"_a.none() = nb::none(), "rank"_a = 0,
           "num_ranks"_a = 1, "gather"_a.none() = nb::none())
      .def("begin", &PyHook::Begin, "global_step"_a)
      .def("restore_for_model_step", &PyHook::RestoreForModelStep, "model_step"_a)
      .def("after_step", &PyHook::AfterStep, "global_step"_a)
      .def("save", &PyHook::Save, "global_step"_a)
      .def("end", &PyHook::End, "global_step"_a.none())
      .def("flush", &PyHook::Flush)
      .def("checkpoints", &PyHook::Checkpoints)
      .def("stats", &PyHook::Stats)
      .def_prop_ro("prefix", [](const PyHook& h) { return h.hook().prefix(); })
      .def_prop_ro("checkpoint_dir", [](const PyHook& h) { return h.hook().checkpoint_dir(); })
      .def_prop_ro("index_path", [](const PyHook& h) { return h.hook().index_path(); });

  m.def(
      "latest_input_checkpoint",
      [](const std::string& dir, const std::string& prefix) {
        return LatestInputCheckpoint(dir, prefix);
      },
      "checkpoint_dir"_a, "prefix"_a = "input");
  m.def(
      "resume_epoch",
      [](const std::string& dir, const std::string& prefix, std::optional<int64_t> max_step) {
        return ResumeEpoch(dir, prefix, max_step);
      },
      "checkpoint_dir"_a, "prefix"_a = "input", "max_step"_a.none() = nb::none());
}

}  // namespace inputpipe::python
