// RegisterDatasets: `_core.DatasetHandle`, `_core.Iterator`, inspect_state, and the core ops
// (sources, from_generator included, and transformations of ops.h) as module functions taking
// and returning DatasetHandles. python/inputpipe/dataset.py builds the tf.data-style API on
// top: it maps Python defaults (None, AUTOTUNE) to the C++ ones before calling these;
// python/inputpipe/generator.py wraps the generator in the adapter from_generator drives.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <condition_variable>
#include <deque>
#include <thread>

#include "bindings.h"
#include "inputpipe/element_spec.h"
#include "inputpipe/errors.h"
#include "inputpipe/hook.h"
#include "inputpipe/map_caller.h"
#include "inputpipe/ops.h"
#include "inputpipe/options.h"
#include "inputpipe/state.h"
#include "inputpipe/thread_context.h"

namespace inputpipe::python {

namespace {

using namespace nb::literals;

DatasetHandle Wrap(DatasetPtr dataset) { return DatasetHandle{std::move(dataset)}; }

void RegisterClasses(nb::module_& m) {
  nb::class_<DatasetHandle>(m, "DatasetHandle",
                            "A C++ dataset; inputpipe.Dataset wraps one as `_handle`.")
      .def("cardinality", [](const DatasetHandle& h) { return h.dataset->Cardinality(); })
      .def("is_random_access", [](const DatasetHandle& h) { return h.dataset->IsRandomAccess(); })
      .def("why_not_random_access",
           [](const DatasetHandle& h) { return h.dataset->WhyNotRandomAccess(); })
      .def("get",
           [](const DatasetHandle& h, int64_t index) {
             if (!h.dataset->IsRandomAccess()) {
               throw UnimplementedError(h.dataset->WhyNotRandomAccess());
             }
             int64_t n = h.dataset->Cardinality();
             if (index < 0 || index >= n) {
               throw nb::index_error(("index " + std::to_string(index) +
                                      " out of range for a dataset of " + std::to_string(n) +
                                      " elements")
                                         .c_str());
             }
             Element element;
             {
               GilRelease release;
               element = h.dataset->Get(index);
             }
             return ElementToPythonHandingOver(std::move(element));
           },
           "index"_a)
      .def("signature", [](const DatasetHandle& h) { return h.dataset->Signature(); })
      .def("pipeline", [](const DatasetHandle& h) { return h.dataset->Pipeline(); })
      .def("make_iterator",
           [](const DatasetHandle& h) {
             // An op may start threads or call Python while making its iterator.
             GilRelease release;
             return new PyIterator(h.dataset);
           },
           nb::rv_policy::take_ownership);

  nb::class_<PyIterator>(m, "Iterator",
                         "An iterator over an inputpipe.Dataset whose position can be saved "
                         "(save() -> bytes) and restored into a fresh iterator (restore).")
      .def("__iter__", [](nb::handle self) { return nb::borrow(self); },
           nb::sig("def __iter__(self) -> Iterator"))
      // Any, not object: an element is a numpy array, a scalar, bytes or a tuple / dict of
      // them, and typed user code indexes and calls methods on it without casts.
      .def("__next__", &PyIterator::Next, nb::sig("def __next__(self) -> typing.Any"))
      .def("save", &PyIterator::Save, "external_state_policy"_a.none() = nb::none(),
           "The iterator's position as bytes (docs/state_format.md). external_state_policy: "
           "'fail' (raise ExternalStateError naming the op whose state cannot be saved), 'warn' "
           "(save the rest, issue an ExternalStateWarning naming it) or 'ignore'; None: the "
           "pipeline's Options.experimental_external_state_policy, else 'fail'.")
      .def("stats", &PyIterator::Stats,
           nb::sig("def stats(self) -> dict[str, typing.Any]"),
           "What this iterator measured, cheaply (docs/guide/performance.md): elements, bytes, "
           "next_seconds (time inside next(), waiting on the pipeline), wall_seconds (since "
           "the first next()), input_bound (next_seconds / wall_seconds), saves, "
           "save_seconds; ops: one dict per op in repr order (name, depth, elements, seconds "
           "producing, wait_seconds of its consumer in it, threads, and for buffering ops "
           "buffer_capacity, buffer_current, buffer_average; times sampled; iterated: False "
           "when no iterator of the op ran, its elements computed by index for an op above "
           "it or not reached yet); and a one-line summary naming the busiest op.")
      .def("restore", &PyIterator::Restore, "state"_a, "allow_changes"_a = false,
           "Moves this fresh iterator to the position saved in `state`. allow_changes=True "
           "restores a state of a pipeline with the same ops (same order and nesting) whose "
           "parameters, functions or files differ, with one UserWarning listing every "
           "difference; another op structure is still a PipelineMismatchError.");

  m.def(
      "inspect_state",
      [](nb::bytes state) { return InspectState(std::string_view(state.c_str(), state.size())); },
      "state"_a, "A saved iterator state as readable JSON.");
  m.def(
      "decode_checkpoint_file",
      [](nb::bytes contents, const std::string& path) {
        InputCheckpointContents decoded =
            DecodeInputCheckpoint(std::string_view(contents.c_str(), contents.size()), path);
        nb::list states;
        for (const auto& [name, state] : decoded.states) {
          states.append(nb::make_tuple(name, nb::bytes(state.data(), state.size())));
        }
        nb::list ended;
        for (bool e : decoded.ended) ended.append(e);
        nb::object epoch = decoded.epoch ? nb::object(nb::int_(*decoded.epoch)) : nb::none();
        return nb::make_tuple(decoded.step, states, epoch, ended);
      },
      "contents"_a, "path"_a,
      "A hook checkpoint file (docs/hook.md) as (step, [(iterator name, state bytes)], epoch or "
      "None, [ended flag per iterator]; [] when none ended).");
  m.attr("AUTOTUNE") = kAutotune;
  m.attr("INFINITE_CARDINALITY") = kInfiniteCardinality;
  m.attr("UNKNOWN_CARDINALITY") = kUnknownCardinality;
}

// A Python generator adapter (python/inputpipe/generator.py) as a C++ Generator: next() returns
// the converted element or None at the end; get_state() bytes; set_state(bytes).
Generator MakeGenerator(const PythonCallable& factory, const std::string& what) {
  PythonSection section("from_generator");
  PythonCallable adapter(factory.fn()());
  Generator g;
  g.next = [adapter, what]() -> std::optional<Element> {
    PythonSection section("from_generator: next");
    nb::object value = adapter.fn().attr("next")();
    if (value.is_none()) return std::nullopt;
    return ElementFromPython(value, what.c_str());
  };
  if (nb::cast<bool>(adapter.fn().attr("checkpointable"))) {
    g.get_state = [adapter]() {
      PythonSection section("from_generator: get_state");
      nb::bytes state = nb::cast<nb::bytes>(adapter.fn().attr("get_state")());
      return std::string(state.c_str(), state.size());
    };
    g.set_state = [adapter](const std::string& state) {
      PythonSection section("from_generator: set_state");
      try {
        adapter.fn().attr("set_state")(nb::bytes(state.data(), state.size()));
      } catch (nb::python_error& e) {
        // The adapter's verdict that the saved bytes are corrupt becomes the engine's
        // DataLossError (the same type back in Python), which the hook falls back past.
        if (e.matches(nb::module_::import_("inputpipe._core").attr("DataLossError"))) {
          throw DataLossError(nb::cast<std::string>(nb::str(e.value())));
        }
        throw;
      }
    };
  }
  return g;
}

void RegisterSources(nb::module_& m) {
  m.def("range", [](int64_t start, int64_t stop, int64_t step, const std::string& output_type) {
    return Wrap(Range(start, stop, step, DTypeFromName(output_type)));
  }, "start"_a, "stop"_a, "step"_a, "output_type"_a = "int64");
  m.def("from_tensor_slices", [](nb::handle value) {
    return Wrap(FromTensorSlices(ElementFromPython(value, "from_tensor_slices", /*zero_copy=*/true)));
  }, "value"_a.none());
  m.def("from_tensors", [](nb::handle value) {
    return Wrap(FromTensors(ElementFromPython(value, "from_tensors", /*zero_copy=*/true)));
  }, "value"_a.none());
  m.def("counter", [](int64_t start, int64_t step, const std::string& dtype) {
    return Wrap(Counter(start, step, DTypeFromName(dtype)));
  }, "start"_a, "step"_a, "dtype"_a = "int64");
  m.def("zip", [](const std::vector<DatasetHandle>& inputs, std::vector<std::string> keys) {
    return Wrap(Zip(DatasetsOf(inputs), std::move(keys)));
  }, "inputs"_a, "keys"_a);
  m.def("from_generator", [](nb::object factory, const std::string& name) {
    PythonCallable make(std::move(factory));
    std::string what = "from_generator(fn=" + name + ")";
    return Wrap(FromGenerator([make, what] { return MakeGenerator(make, what); }, name));
  }, "factory"_a, "name"_a);
}

void RegisterTransformations(nb::module_& m) {
  m.def("map", [](const DatasetHandle& h, nb::object fn, bool stateful, int64_t num_parallel_calls,
                  std::optional<bool> deterministic, std::optional<int64_t> seed,
                  std::optional<std::string> name) {
    FunctionOptions options = CallableOptions(fn, stateful, name);
    if (seed) {
      return Wrap(Map(h.dataset, MakeRandomMapFn(std::move(fn), "map"), *seed, std::move(options),
                      num_parallel_calls, deterministic));
    }
    return Wrap(Map(h.dataset, MakeMapFn(std::move(fn), "map"), std::move(options),
                    num_parallel_calls, deterministic));
  }, "input"_a, "fn"_a, "stateful"_a, "num_parallel_calls"_a,
     "deterministic"_a.none(), "seed"_a.none() = nb::none(), "name"_a = nb::none());
  m.def("filter", [](const DatasetHandle& h, nb::object predicate, bool stateful,
                     std::optional<std::string> name) {
    FunctionOptions options = CallableOptions(predicate, stateful, name);
    return Wrap(Filter(h.dataset, MakePredicateFn(std::move(predicate), "filter"),
                       std::move(options)));
  }, "input"_a, "predicate"_a, "stateful"_a, "name"_a = nb::none());
  m.def("batch", [](const DatasetHandle& h, int64_t batch_size, bool drop_remainder) {
    return Wrap(Batch(h.dataset, batch_size, drop_remainder));
  }, "input"_a, "batch_size"_a, "drop_remainder"_a);
  m.def("ragged_batch", [](const DatasetHandle& h, int64_t batch_size, bool drop_remainder,
                           const std::string& row_splits_dtype) {
    return Wrap(RaggedBatch(h.dataset, batch_size, drop_remainder,
                            DTypeFromName(row_splits_dtype)));
  }, "input"_a, "batch_size"_a, "drop_remainder"_a, "row_splits_dtype"_a = "int64");
  m.def("padded_batch", [](const DatasetHandle& h, int64_t batch_size,
                           std::vector<Shape> padded_shapes, nb::list padding_values,
                           bool drop_remainder) {
    std::vector<Tensor> values;
    for (nb::handle value : padding_values) {
      Element element = ElementFromPython(value, "padded_batch: padding value");
      if (!element.is_tensor() || element.tensor().rank() != 0) {
        throw InvalidArgumentError("padded_batch: a padding value must be a scalar, got " +
                                   element.StructureString());
      }
      values.push_back(element.tensor());
    }
    return Wrap(PaddedBatch(h.dataset, batch_size, std::move(padded_shapes), std::move(values),
                            drop_remainder));
  }, "input"_a, "batch_size"_a, "padded_shapes"_a, "padding_values"_a, "drop_remainder"_a);
  m.def("unbatch", [](const DatasetHandle& h) { return Wrap(Unbatch(h.dataset)); }, "input"_a);
  m.def("repeat", [](const DatasetHandle& h, int64_t count) {
    return Wrap(Repeat(h.dataset, count));
  }, "input"_a, "count"_a);
  m.def("take", [](const DatasetHandle& h, int64_t count) {
    return Wrap(Take(h.dataset, count));
  }, "input"_a, "count"_a);
  m.def("skip", [](const DatasetHandle& h, int64_t count) {
    return Wrap(Skip(h.dataset, count));
  }, "input"_a, "count"_a);
  m.def("shard", [](const DatasetHandle& h, int64_t num_shards, int64_t index) {
    return Wrap(Shard(h.dataset, num_shards, index));
  }, "input"_a, "num_shards"_a, "index"_a);
  // Many ranks (docs/distributed.md).
  m.def("elastic_shard", [](const DatasetHandle& h, int64_t num_shards, int64_t index) {
    return Wrap(ElasticShard(h.dataset, num_shards, index));
  }, "input"_a, "num_shards"_a, "index"_a);
  m.def("distribute", [](const DatasetHandle& h, int64_t num_ranks, int64_t rank) {
    return Wrap(Distribute(h.dataset, num_ranks, rank));
  }, "input"_a, "num_ranks"_a, "rank"_a);
  m.def("reshard_states", [](const std::vector<nb::bytes>& states, int64_t rank,
                             int64_t num_ranks) {
    std::vector<std::string> raw;
    for (const nb::bytes& b : states) raw.emplace_back(b.c_str(), b.size());
    std::string out;
    {
      nb::gil_scoped_release release;
      out = ReshardStates(raw, rank, num_ranks);
    }
    return nb::bytes(out.data(), out.size());
  }, "states"_a, "rank"_a, "num_ranks"_a);
  m.def("enumerate", [](const DatasetHandle& h, int64_t start) {
    return Wrap(Enumerate(h.dataset, start));
  }, "input"_a, "start"_a);
  m.def("concatenate", [](const DatasetHandle& h, const DatasetHandle& other) {
    return Wrap(Concatenate(h.dataset, other.dataset));
  }, "input"_a, "other"_a);
  m.def("flat_map", [](const DatasetHandle& h, nb::object fn, bool stateful,
                       std::optional<std::string> name) {
    FunctionOptions options = CallableOptions(fn, stateful, name);
    return Wrap(FlatMap(h.dataset, MakeDatasetFn(std::move(fn), "flat_map"), std::move(options)));
  }, "input"_a, "fn"_a, "stateful"_a, "name"_a = nb::none());
  // The position of the element whose map function runs on this thread, -1 outside one: for
  // the errors of functions run by worker processes (inputpipe._processes).
  m.def("_current_map_position", &CurrentMapPosition);
  // The identity of the map iterator whose function runs on this thread (0 outside one), and,
  // inside its hold_for_iterator, (its input's state as bytes, its first position): for worker
  // processes that read map's input themselves (inputpipe._processes).
  m.def("_current_map_caller",
        [] { return reinterpret_cast<uintptr_t>(CurrentMapCaller()); });
  // True on an engine thread whose iterator is being destroyed: a call waiting for a worker
  // process gives up (inputpipe._processes), so that the destruction can join the thread.
  m.def("_engine_thread_stopping", &EngineThreadStopping);
  m.def("_current_map_start", []() -> std::optional<std::pair<nb::bytes, int64_t>> {
    const MapStart* start = CurrentMapStart();
    if (start == nullptr) return std::nullopt;
    return std::make_pair(nb::bytes(start->input_state.data(), start->input_state.size()),
                          start->position);
  });
  // Moves an iterator past n elements without converting them, without computing them where
  // its ops can seek (Iterator::Skip): a worker process moving its copy of map's input past
  // the elements other workers compute. Returns the number moved past before the end. An
  // element that fails to read (an engine error, a Python exception) counts as moved past, as
  // it takes a position of map's input: hence one at a time.
  m.def("_skip", [](PyIterator& it, int64_t n) {
    PyIterator* self[] = {&it};
    return WithIteratorsLocked(self, [&] {
      int64_t moved = 0;
      for (; moved < n; ++moved) {
        try {
          if (it.iterator().Skip(1) == 0) break;
        } catch (const Error&) {
        } catch (const CarriedPythonError&) {  // a Python source or function raised
        }
      }
      return moved;
    });
  }, "iterator"_a, "n"_a);
  // The main script's module name, for reading older states' "__main__.f" (_fingerprint.py).
  m.def("_set_main_module_name", &SetMainModuleName, "name"_a);
  m.def("window", [](const DatasetHandle& h, int64_t size, int64_t shift, int64_t stride,
                     bool drop_remainder) {
    return Wrap(Window(h.dataset, size, shift, stride, drop_remainder));
  }, "input"_a, "size"_a, "shift"_a, "stride"_a, "drop_remainder"_a);
}


// ---- More of tf.data's API: element_spec, take_while, scan, rebatch, cache, reduce,
// get_single_element (docs/api_ops.md). inputpipe.Dataset's methods of the same names.

// A spec as plain Python, which python/inputpipe/_spec.py turns into TensorSpec / DatasetSpec:
// ("tensor", shape tuple with None for unknown dims, or None for an unknown rank, dtype name),
// ("tuple", [specs]), ("dict", [(key, spec)]), ("dataset", spec).
nb::object SpecToPython(const ElementSpec& spec) {
  switch (spec.kind) {
    case Element::Kind::kTensor: {
      nb::object shape = nb::none();
      if (spec.rank_known) {
        nb::list dims;
        for (int64_t d : spec.shape) {
          if (d == kUnknownDim) {
            dims.append(nb::none());
          } else {
            dims.append(d);
          }
        }
        shape = nb::tuple(dims);
      }
      return nb::make_tuple("tensor", shape, std::string(DTypeName(spec.dtype)));
    }
    case Element::Kind::kDataset:
      return nb::make_tuple("dataset", SpecToPython(spec.children.front()));
    case Element::Kind::kTuple: {
      nb::list items;
      for (const ElementSpec& child : spec.children) items.append(SpecToPython(child));
      return nb::make_tuple("tuple", items);
    }
    case Element::Kind::kDict: {
      nb::list items;
      for (size_t i = 0; i < spec.children.size(); ++i) {
        items.append(nb::make_tuple(spec.keys[i], SpecToPython(spec.children[i])));
      }
      return nb::make_tuple("dict", items);
    }
  }
  return nb::none();
}

// fn(state, element) -> (new_state, output): two arguments, each a whole structure (tf.data's
// scan and reduce do not unpack the element into more arguments).
nb::object CallWithState(const PythonCallable& callable, const Element& state,
                         const Element& element) {
  try {
    return callable.fn()(ElementToPython(state), ElementToPython(element));
  } catch (nb::python_error& e) {
    if (!e.matches(DataLossErrorType())) throw CarriedPythonError(std::move(e));
    throw DataLossError(nb::cast<std::string>(nb::str(e.value())));
  }
}

ScanFn MakeScanFn(nb::object fn, std::string op) {
  return [callable = PythonCallable(std::move(fn)), op = std::move(op)](const Element& state,
                                                                         const Element& element) {
    PythonSection section(op);
    nb::object result = CallWithState(callable, state, element);
    if (!nb::isinstance<nb::tuple>(result) || nb::len(result) != 2) {
      throw InvalidArgumentError(op + ": scan_func must return a (new_state, output_element) "
                                 "tuple, got " + nb::cast<std::string>(nb::repr(result)));
    }
    nb::tuple pair = nb::borrow<nb::tuple>(result);
    return std::pair<Element, Element>(
        ElementFromPython(pair[0], (op + ": the new state").c_str()),
        ElementFromPython(pair[1], (op + ": the output element").c_str()));
  };
}

void RegisterApiOps(nb::module_& m) {
  m.def("element_spec", [](const DatasetHandle& h) {
    ElementSpec spec;
    {
      GilRelease release;  // the spec may come from the first element: the pipeline runs
      spec = ElementSpecOf(*h.dataset);
    }
    return SpecToPython(spec);
  }, "input"_a);
  m.def("take_while", [](const DatasetHandle& h, nb::object predicate, bool stateful,
                         std::optional<std::string> name) {
    FunctionOptions options = CallableOptions(predicate, stateful, name);
    return Wrap(TakeWhile(h.dataset, MakePredicateFn(std::move(predicate), "take_while"),
                          std::move(options)));
  }, "input"_a, "predicate"_a, "stateful"_a, "name"_a = nb::none());
  m.def("scan", [](const DatasetHandle& h, nb::handle initial_state, nb::object fn,
                   bool stateful, std::optional<std::string> name) {
    FunctionOptions options = CallableOptions(fn, stateful, name);
    Element initial = ElementFromPython(initial_state, "scan: initial_state");
    return Wrap(Scan(h.dataset, std::move(initial), MakeScanFn(std::move(fn), "scan"),
                     std::move(options)));
  }, "input"_a, "initial_state"_a.none(), "fn"_a, "stateful"_a, "name"_a = nb::none());
  m.def("rebatch", [](const DatasetHandle& h, std::vector<int64_t> batch_sizes,
                      bool drop_remainder) {
    return Wrap(Rebatch(h.dataset, std::move(batch_sizes), drop_remainder));
  }, "input"_a, "batch_sizes"_a, "drop_remainder"_a);
  m.def("cache", [](const DatasetHandle& h, const std::string& filename) {
    return Wrap(Cache(h.dataset, filename));
  }, "input"_a, "filename"_a);
  m.def("reduce", [](const DatasetHandle& h, nb::handle initial_state, nb::object fn) {
    Element initial = ElementFromPython(initial_state, "reduce: initial_state");
    ReduceStateFn reduce_fn = [callable = PythonCallable(std::move(fn))](const Element& state,
                                                                         const Element& element) {
      PythonSection section("reduce");
      return ElementFromPython(CallWithState(callable, state, element), "reduce: the new state");
    };
    Element result;
    {
      ScopedInterruptCheck interrupt(PythonInterruptCheck());
      GilRelease release;
      result = Reduce(h.dataset, std::move(initial), std::move(reduce_fn));
    }
    return ElementToPythonHandingOver(std::move(result));
  }, "input"_a, "initial_state"_a.none(), "fn"_a);
  m.def("get_single_element", [](const DatasetHandle& h) {
    Element result;
    {
      ScopedInterruptCheck interrupt(PythonInterruptCheck());
      GilRelease release;
      result = GetSingleElement(h.dataset);
    }
    return ElementToPythonHandingOver(std::move(result));
  }, "input"_a);
}
}  // namespace

// ---- PyIterator ---------------------------------------------------------------------------

namespace {

std::atomic<uint64_t> next_iterator_id{1};  // 0 is never a ServingScope id

int64_t SteadyNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The bytes of an element's tensors (nested datasets count 0): what Stats() reports.
int64_t ElementBytes(const Element& element) {
  if (element.is_tensor()) return static_cast<int64_t>(element.tensor().byte_size());
  int64_t total = 0;
  for (const Element& child : element.children()) total += ElementBytes(child);
  return total;
}

// Destroys the C++ iterators that an engine worker thread let go of (PyIterator's destructor):
// one detached thread, started on first use. Never destroyed, so that it may still be at work
// while the process exits; what it destroys may outlive the interpreter (its callables are then
// leaked, as PythonCallable does).
class Reaper {
 public:
  static void DestroyLater(std::unique_ptr<Iterator> iterator) {
    static Reaper* reaper = new Reaper();
    std::lock_guard<std::mutex> lock(reaper->mu_);
    reaper->queue_.push_back(std::move(iterator));
    reaper->cv_.notify_one();
  }

 private:
  Reaper() {
    std::thread([this] { Run(); }).detach();
  }
  [[noreturn]] void Run() {
    for (;;) {
      std::unique_ptr<Iterator> iterator;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return !queue_.empty(); });
        iterator = std::move(queue_.front());
        queue_.pop_front();
      }
      // Stops and joins its worker threads, the one that let it go included (it has returned to
      // its loop by now, or will: it sees stopping()). No GIL here: a worker calling Python may
      // take it meanwhile.
      iterator.reset();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Iterator>> queue_;  // guarded by mu_
};

}  // namespace

PyIterator::PyIterator(DatasetPtr dataset)
    : id_(next_iterator_id.fetch_add(1, std::memory_order_relaxed)),
      dataset_(std::move(dataset)),
      iterator_(dataset_->MakeIterator()) {
  // The fingerprint is encoded here, with the pipeline's other set-up, rather than by the first
  // save on the training thread (tens of microseconds there: the one slow save).
  iterator_->PrepareSave();
  default_policy_ = PipelineOptions(*dataset_).external_state_policy.value_or(
      ExternalStatePolicy::kFail);
}

PyIterator::~PyIterator() {
  if (OnEngineThread()) {
    // The last reference dropped on an engine worker thread (the garbage collector, or a del,
    // inside a map function): if that thread is one of this iterator's, destroying the
    // iterator here would join the thread with itself. The reaper destroys it; this thread
    // returns to its work and is joined there. The C++ iterator keeps its dataset alive.
    Reaper::DestroyLater(std::move(iterator_));
    return;
  }
  // Worker threads (prefetch, parallel map) may be waiting for the GIL to run a Python
  // callable: stop them with the GIL released.
  if (PyGILState_Check()) {
    GilRelease release;
    iterator_.reset();
  } else {
    iterator_.reset();
  }
}

void PyIterator::CheckNotExecuting(const char* what) const {
  if (!IsServing(id_)) return;
  throw nb::value_error(
      (std::string(what) +
       ": iterator already executing: called from this iterator's own map function, predicate "
       "or generator (which runs inside its next()), it would wait for itself forever")
          .c_str());
}

nb::dict PyIterator::Stats() const {
  const double next_seconds = static_cast<double>(next_ns_) * 1e-9;
  const double wall_seconds =
      first_next_ns_ < 0 ? 0.0 : static_cast<double>(SteadyNanos() - first_next_ns_) * 1e-9;
  const double input_bound = wall_seconds > 0 ? std::min(1.0, next_seconds / wall_seconds) : 0.0;
  nb::dict stats;
  stats["elements"] = elements_;
  stats["bytes"] = bytes_;
  stats["next_seconds"] = next_seconds;
  stats["wall_seconds"] = wall_seconds;
  stats["input_bound"] = input_bound;
  stats["saves"] = saves_;
  stats["save_seconds"] = static_cast<double>(save_ns_) * 1e-9;
  // The engine's per-op numbers (Iterator::Stats), with this iterator's own exact ones: its
  // times include the hand-over to Python.
  IteratorStats engine = iterator_->Stats();
  nb::list ops;
  for (const OpStats& op : engine.ops) {
    nb::dict entry;
    entry["name"] = op.name;
    entry["depth"] = op.depth;
    entry["elements"] = op.elements;
    entry["seconds"] = op.seconds;
    entry["wait_seconds"] = op.wait_seconds;
    entry["threads"] = op.threads;
    entry["iterated"] = op.iterated;
    if (op.buffer_capacity > 0) {
      entry["buffer_capacity"] = op.buffer_capacity;
      entry["buffer_current"] = op.buffer_current;
      entry["buffer_average"] = op.buffer_average;
    }
    ops.append(entry);
  }
  stats["ops"] = ops;
  engine.elements = elements_;
  engine.next_seconds = next_seconds;
  engine.wall_seconds = wall_seconds;
  engine.input_bound = input_bound;
  stats["summary"] = StatsSummary(engine);
  return stats;
}

nb::object PyIterator::Next() {
  CheckNotExecuting("inputpipe.Iterator.__next__()");
  const InterruptCheck check = PythonInterruptCheck();  // empty off the main thread
  if (check) RaiseOwedInterrupt();  // a Ctrl-C that came as the last next() returned
  ScopedInterruptCheck interrupt(check);  // Ctrl-C interrupts the wait
  PyIterator* self[] = {this};
  const int64_t start = SteadyNanos();
  if (first_next_ns_ < 0) first_next_ns_ = start;
  // An iterator that is saved, after an element that took long: its state is encoded now
  // (Iterator::EncodeAhead), a few microseconds against the element's milliseconds, rather
  // than by the save, on caches the element's work left cold.
  const bool saved_before = saves_ > 0;
  std::optional<Element> element = WithIteratorsLocked(self, [&] {
    std::optional<Element> got = iterator_->GetNext();
    if (saved_before && got && SteadyNanos() - start >= kEncodeAheadAfterNs) {
      iterator_->EncodeAhead();
    }
    return got;
  });
  next_ns_ += SteadyNanos() - start;
  if (!element) throw nb::stop_iteration();
  ++elements_;
  bytes_ += ElementBytes(*element);
  nb::object out = ElementToPythonHandingOver(std::move(*element));
  if (check) OweInterruptIfPending();  // the element is taken: it must reach the caller
  return out;
}

namespace {

// Where PyIterator::Save's bytes go: straight into the bytes object it returns when the save runs
// with the GIL held (the usual case), else into a string copied into one afterwards.
struct SaveOutput {
  bool gil_held = false;
  nb::object bytes;
  std::string fallback;

  static char* Allocate(void* context, size_t size) {
    auto* out = static_cast<SaveOutput*>(context);
    if (!out->gil_held) {
      out->fallback.resize(size);
      return out->fallback.data();
    }
    PyObject* bytes = PyBytes_FromStringAndSize(nullptr, static_cast<Py_ssize_t>(size));
    if (bytes == nullptr) return nullptr;  // MemoryError, raised by the caller
    out->bytes = nb::steal(bytes);
    return PyBytes_AS_STRING(bytes);
  }
};

}  // namespace

nb::bytes PyIterator::Save(const std::optional<std::string>& external_state_policy) {
  CheckNotExecuting("inputpipe.Iterator.save()");
  ExternalStatePolicy policy = external_state_policy
                                   ? ParseExternalStatePolicy(*external_state_policy)
                                   : default_policy_;
  const int64_t start = SteadyNanos();
  std::vector<std::string> warnings;
  PyIterator* self[] = {this};
  SaveOutput out;
  char* written = WithIteratorsLockedKeepingGil(self, [&](bool gil_held) {
    out.gil_held = gil_held;
    return iterator_->Save(policy, &warnings, &SaveOutput::Allocate, &out);
  });
  if (written == nullptr) throw nb::python_error();
  ++saves_;
  save_ns_ += SteadyNanos() - start;
  for (const std::string& warning : warnings) {
    if (PyErr_WarnEx(ExternalStateWarningType(), warning.c_str(), 1) != 0) {
      throw nb::python_error();  // warnings turned into errors by a filter
    }
  }
  if (!out.gil_held) return nb::bytes(out.fallback.data(), out.fallback.size());
  return nb::steal<nb::bytes>(out.bytes.release());
}

void PyIterator::Restore(const nb::bytes& state, bool allow_changes) {
  CheckNotExecuting("inputpipe.Iterator.restore()");
  ScopedInterruptCheck interrupt(PythonInterruptCheck());  // Ctrl-C interrupts the restore
  std::string bytes(state.c_str(), state.size());
  PyIterator* self[] = {this};
  std::vector<std::string> warnings;
  WithIteratorsLocked(self, [&] {
    if (allow_changes) {
      iterator_->Restore(bytes, {.allow_changes = true}, &warnings);
    } else {
      iterator_->Restore(bytes);
    }
  });
  for (const std::string& warning : warnings) {
    if (PyErr_WarnEx(PyExc_UserWarning, warning.c_str(), 1) != 0) throw nb::python_error();
  }
}

void RegisterDatasets(nb::module_& m) {
  RegisterClasses(m);
  RegisterSources(m);
  RegisterTransformations(m);
  RegisterApiOps(m);
}

}  // namespace inputpipe::python
