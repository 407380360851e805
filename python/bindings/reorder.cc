// RegisterReorder: the reordering and parallel ops of issue 3 (docs/reorder.md) as module
// functions taking and returning DatasetHandles; python/inputpipe/dataset.py wraps them
// (shuffle without buffer_size is global_shuffle). An unset seed is None -> std::nullopt.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "bindings.h"
#include "inputpipe/ops.h"

namespace inputpipe::python {

namespace {
using namespace nb::literals;

DatasetHandle Wrap(DatasetPtr dataset) { return DatasetHandle{std::move(dataset)}; }

std::vector<DatasetPtr> Unwrap(const std::vector<DatasetHandle>& handles) {
  std::vector<DatasetPtr> out;
  out.reserve(handles.size());
  for (const DatasetHandle& h : handles) out.push_back(h.dataset);
  return out;
}
}  // namespace

void RegisterReorder(nb::module_& m) {
  m.def("global_shuffle", [](const DatasetHandle& h, std::optional<int64_t> seed,
                             bool reshuffle_each_iteration) {
    return Wrap(GlobalShuffle(h.dataset, seed, reshuffle_each_iteration));
  }, "input"_a, "seed"_a.none(), "reshuffle_each_iteration"_a);
  m.def("shuffle", [](const DatasetHandle& h, int64_t buffer_size, std::optional<int64_t> seed,
                      bool reshuffle_each_iteration) {
    return Wrap(Shuffle(h.dataset, buffer_size, seed, reshuffle_each_iteration));
  }, "input"_a, "buffer_size"_a, "seed"_a.none(), "reshuffle_each_iteration"_a);
  m.def("interleave", [](const DatasetHandle& h, nb::object fn, int64_t cycle_length,
                         int64_t block_length, int64_t num_parallel_calls, bool deterministic,
                         bool stateful) {
    FunctionOptions options = CallableOptions(fn, stateful);
    return Wrap(Interleave(h.dataset, MakeDatasetFn(std::move(fn), "interleave"), cycle_length,
                           block_length, num_parallel_calls, deterministic, std::move(options)));
  }, "input"_a, "fn"_a, "cycle_length"_a, "block_length"_a, "num_parallel_calls"_a,
     "deterministic"_a, "stateful"_a);
  m.def("sample_from_datasets", [](const std::vector<DatasetHandle>& inputs,
                                   std::vector<double> weights, std::optional<int64_t> seed,
                                   bool stop_on_empty_dataset) {
    return Wrap(SampleFromDatasets(Unwrap(inputs), std::move(weights), seed,
                                   stop_on_empty_dataset));
  }, "inputs"_a, "weights"_a, "seed"_a.none(), "stop_on_empty_dataset"_a);
  m.def("choose_from_datasets", [](const std::vector<DatasetHandle>& inputs,
                                   const DatasetHandle& choice_dataset) {
    return Wrap(ChooseFromDatasets(Unwrap(inputs), choice_dataset.dataset));
  }, "inputs"_a, "choice_dataset"_a);
  m.def("random", [](std::optional<int64_t> seed) { return Wrap(RandomDataset(seed)); },
        "seed"_a.none());
  m.def("prefetch", [](const DatasetHandle& h, int64_t buffer_size) {
    return Wrap(Prefetch(h.dataset, buffer_size));
  }, "input"_a, "buffer_size"_a);
}

}  // namespace inputpipe::python
