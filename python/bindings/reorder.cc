// RegisterReorder: the reordering and parallel ops (docs/reorder.md) as module
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

// A Python function's result that must be an integer scalar (tf.data: an int64 scalar; Python
// and numpy integers of any width are accepted, bool and floats are not). REQUIRES: the GIL.
int64_t IntegerScalarFromPython(const nb::object& result, const std::string& what) {
  Element k = ElementFromPython(result, (what + "'s result").c_str());
  const Tensor* t = k.is_tensor() ? &k.tensor() : nullptr;
  if (!t || t->num_elements() != 1 || t->is_string() || t->dtype() == DType::kBool ||
      DTypeIsFloating(t->dtype())) {
    throw InvalidArgumentError(what + " must return an integer scalar, got " + k.DebugString());
  }
  return nb::cast<int64_t>(result.attr("__int__")());
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
                         int64_t block_length, int64_t num_parallel_calls,
                         std::optional<bool> deterministic, bool stateful,
                         std::optional<std::string> name) {
    FunctionOptions options = CallableOptions(fn, stateful, name);
    return Wrap(Interleave(h.dataset, MakeDatasetFn(std::move(fn), "interleave"), cycle_length,
                           block_length, num_parallel_calls, deterministic, std::move(options)));
  }, "input"_a, "fn"_a, "cycle_length"_a, "block_length"_a, "num_parallel_calls"_a,
     "deterministic"_a.none(), "stateful"_a, "name"_a = nb::none());
  m.def("sample_from_datasets", [](const std::vector<DatasetHandle>& inputs,
                                   std::vector<double> weights, std::optional<int64_t> seed,
                                   bool stop_on_empty_dataset, bool rerandomize_each_iteration) {
    return Wrap(SampleFromDatasets(DatasetsOf(inputs), std::move(weights), seed,
                                   stop_on_empty_dataset, rerandomize_each_iteration));
  }, "inputs"_a, "weights"_a, "seed"_a.none(), "stop_on_empty_dataset"_a,
     "rerandomize_each_iteration"_a = false);
  m.def("sample_from_datasets_by_weights", [](const std::vector<DatasetHandle>& inputs,
                                              const DatasetHandle& weights,
                                              std::optional<int64_t> seed,
                                              bool stop_on_empty_dataset,
                                              bool rerandomize_each_iteration) {
    return Wrap(SampleFromDatasetsByWeights(DatasetsOf(inputs), weights.dataset, seed,
                                            stop_on_empty_dataset, rerandomize_each_iteration));
  }, "inputs"_a, "weights"_a, "seed"_a.none(), "stop_on_empty_dataset"_a,
     "rerandomize_each_iteration"_a = false);
  m.def("choose_from_datasets", [](const std::vector<DatasetHandle>& inputs,
                                   const DatasetHandle& choice_dataset,
                                   bool stop_on_empty_dataset) {
    return Wrap(
        ChooseFromDatasets(DatasetsOf(inputs), choice_dataset.dataset, stop_on_empty_dataset));
  }, "inputs"_a, "choice_dataset"_a, "stop_on_empty_dataset"_a);
  m.def("random", [](std::optional<int64_t> seed, bool rerandomize_each_iteration) {
    return Wrap(RandomDataset(seed, rerandomize_each_iteration));
  }, "seed"_a.none(), "rerandomize_each_iteration"_a = false);
  // Exactly one of window_size and window_size_func (dataset.py checks it, as tf.data).
  m.def("group_by_window", [](const DatasetHandle& h, nb::object key_func, nb::object reduce_func,
                              std::optional<int64_t> window_size, nb::object window_size_func,
                              bool stateful, std::optional<std::string> name) {
    FunctionOptions options = CallableOptions(key_func, stateful, name);
    CallableOptions(reduce_func, stateful, name);  // checks that it is callable
    // The functions identify the op: "fn=mod.key_of/mod.batch_window[/mod.size_of]", or the
    // user's name= alone.
    if (!name) options.name += "/" + CallableName(reduce_func);
    if (!window_size_func.is_none()) {
      CallableOptions(window_size_func, stateful, name);
      if (!name) options.name += "/" + CallableName(window_size_func);
    }
    KeyFn key_fn = [key = PythonCallable(std::move(key_func))](const Element& e) {
      PythonSection section("group_by_window: key_func");
      return IntegerScalarFromPython(key.CallWithElement(e), "group_by_window: key_func");
    };
    ReduceFn reduce_fn = [reduce = PythonCallable(std::move(reduce_func))](int64_t key,
                                                                        DatasetPtr window) {
      PythonSection section("group_by_window: reduce_func");
      nb::object key_object = Numpy().attr("int64")(key);
      nb::object result = reduce.fn()(key_object, WrapDataset(std::move(window)));
      return UnwrapDataset(result, "group_by_window: reduce_func's result");
    };
    if (window_size.has_value() == !window_size_func.is_none()) {
      throw InvalidArgumentError(
          "group_by_window: give exactly one of window_size and window_size_func");
    }
    if (window_size_func.is_none()) {
      return Wrap(GroupByWindow(h.dataset, std::move(key_fn), std::move(reduce_fn), *window_size,
                                std::move(options)));
    }
    WindowSizeFn size_fn = [size = PythonCallable(std::move(window_size_func))](int64_t key) {
      PythonSection section("group_by_window: window_size_func");
      nb::object result = size.fn()(Numpy().attr("int64")(key));
      return IntegerScalarFromPython(result, "group_by_window: window_size_func");
    };
    return Wrap(GroupByWindow(h.dataset, std::move(key_fn), std::move(reduce_fn),
                              std::move(size_fn), std::move(options)));
  }, "input"_a, "key_func"_a, "reduce_func"_a, "window_size"_a.none(),
     "window_size_func"_a.none(), "stateful"_a, "name"_a = nb::none());
  m.def("unique", [](const DatasetHandle& h) { return Wrap(Unique(h.dataset)); }, "input"_a);
  m.def("prefetch", [](const DatasetHandle& h, int64_t buffer_size) {
    return Wrap(Prefetch(h.dataset, buffer_size));
  }, "input"_a, "buffer_size"_a);
}

}  // namespace inputpipe::python
