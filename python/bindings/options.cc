// RegisterOptions: with_options and pipeline_options (inputpipe/options.h), the engine side of
// inputpipe.Options (python/inputpipe/options.py checks the names and types first).
//
//   h = _core.with_options(h, deterministic=False, private_threadpool_size=4,
//                          max_intra_op_parallelism=None, autotune_enabled=None,
//                          external_state_policy="warn")
//   _core.pipeline_options(h)   # {"deterministic": False, "private_threadpool_size": 4, ...}
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>

#include "bindings.h"
#include "inputpipe/options.h"

namespace inputpipe::python {

using namespace nb::literals;

void RegisterOptions(nb::module_& m) {
  m.def(
      "with_options",
      [](const DatasetHandle& h, std::optional<bool> deterministic,
         std::optional<int64_t> private_threadpool_size,
         std::optional<int64_t> max_intra_op_parallelism, std::optional<bool> autotune_enabled,
         std::optional<std::string> external_state_policy) {
        Options options;
        options.deterministic = deterministic;
        options.private_threadpool_size = private_threadpool_size;
        options.max_intra_op_parallelism = max_intra_op_parallelism;
        options.autotune_enabled = autotune_enabled;
        if (external_state_policy) {
          options.external_state_policy = ParseExternalStatePolicy(*external_state_policy);
        }
        return DatasetHandle{WithOptions(h.dataset, std::move(options))};
      },
      "input"_a, "deterministic"_a.none(), "private_threadpool_size"_a.none(),
      "max_intra_op_parallelism"_a.none(), "autotune_enabled"_a.none(),
      "external_state_policy"_a.none());
  m.def(
      "pipeline_options",
      [](const DatasetHandle& h) {
        Options options = PipelineOptions(*h.dataset);
        nb::dict out;
        if (options.deterministic) out["deterministic"] = *options.deterministic;
        if (options.private_threadpool_size) {
          out["private_threadpool_size"] = *options.private_threadpool_size;
        }
        if (options.max_intra_op_parallelism) {
          out["max_intra_op_parallelism"] = *options.max_intra_op_parallelism;
        }
        if (options.autotune_enabled) out["autotune_enabled"] = *options.autotune_enabled;
        if (options.external_state_policy) {
          static const char* kNames[] = {"fail", "warn", "ignore"};
          out["external_state_policy"] = kNames[static_cast<int>(*options.external_state_policy)];
        }
        return out;
      },
      "input"_a, nb::sig("def pipeline_options(input: DatasetHandle) -> dict[str, typing.Any]"),
      "The options in force at the top of the pipeline, merged (the outer wins): the fields "
      "set, by name.");
}

}  // namespace inputpipe::python
