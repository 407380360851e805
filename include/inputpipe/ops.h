// The ops: factories that build datasets, named as tf.data users know them.
//
//   #include "inputpipe/ops.h"
//   using namespace inputpipe;
//   DatasetPtr ds = Range(0, 1000);
//   ds = Map(ds, [](const Element& e) {
//     return Element(Tensor::Scalar<int64_t>(e.tensor().scalar<int64_t>() * 2));
//   }, {.name = "double"});
//   ds = Batch(Shuffle(ds, /*seed=*/7), 32, /*drop_remainder=*/true);
//   ds = Prefetch(ds, kAutotune);
//
// Every factory validates its arguments and throws InvalidArgumentError naming the op and the
// argument. Each op lives in its own file under src/ops/, dataset and iterator side by side.
#ifndef INPUTPIPE_OPS_H_
#define INPUTPIPE_OPS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "inputpipe/dataset.h"
#include "inputpipe/element.h"

namespace inputpipe {

// Let the op choose the number of threads / the buffer size.
inline constexpr int64_t kAutotune = -1;

// A user function's identity, recorded in the pipeline fingerprint ("map(fn=parse)"), and
// whether it has state of its own that a save cannot capture.
struct FunctionOptions {
  std::string name = "fn";
  bool stateful = false;
  // For a function that must hold a lock of its own to run (the Python bindings: the GIL):
  // runs `calls` (several calls of the function) under one acquisition of it, so that
  // parallel map's workers do not hand the lock over for every call. Unset: calls run as they
  // come. Not part of the fingerprint.
  std::function<void(const std::function<void()>& calls)> run_calls;
  // For a function backed by resources that live as long as the iterators using them (the
  // Python bindings' worker processes, map(fn, processes=True)): map's iterators call it once,
  // before their first call of the function, and hold what it returns until they are
  // destroyed (after their threads are joined). Unset: nothing. Not part of the fingerprint.
  std::function<std::shared_ptr<void>()> hold_for_iterator;
  // With hold_for_iterator, for a function that computes map's input itself from where the
  // iterator starts (map_caller.h; the Python bindings' worker processes reading by index): a
  // parallel map's iterator then moves its input past each element without reading it where
  // the input can (Iterator::Skip) and calls the function with an empty tuple. Not part of the
  // fingerprint: the state is the same.
  bool computes_input = false;
};

// While a map function runs on this thread: the position of its element in map's input since
// the iterator began (since the restore for an unseeded map, whose state holds no position);
// -1 on a thread that is not running one. For the errors of a function that hands its work to
// another process (the Python bindings' worker processes), which name the failed element.
int64_t CurrentMapPosition();

using MapFn = std::function<Element(const Element&)>;

// The random numbers of one element of a seeded map (the Map overload taking a RandomMapFn):
// a counter-based stream that is a pure function of (seed, position), where position is the
// element's index in map's input since the iterator began (counted across a save and restore,
// and the same with any number of threads). So a replay, a parallel map and a restored
// iterator draw exactly the same numbers for the same element. A map under repeat() restarts
// its positions each repetition (the same draws every epoch); a map after repeat() counts on
// across repetitions (new draws every epoch).
//
//   DatasetPtr ds = Map(Repeat(images), [](const Element& e, ElementRng& rng) {
//     bool flip = rng.UniformDouble() < 0.5;
//     int64_t dx = rng.Uniform(9);  // a crop offset in [0, 9)
//     return Crop(e, dx, flip);
//   }, /*seed=*/42, {.name = "augment"});
//
// Also a UniformRandomBitGenerator, for the <random> distributions (whose results differ
// between standard libraries: prefer Uniform / UniformDouble for outputs pinned everywhere).
// Thread-safety: one call's object; not shared between calls.
class ElementRng {
 public:
  using result_type = uint64_t;
  ElementRng(int64_t seed, int64_t position);

  // The next 64 random bits.
  uint64_t operator()();
  // Uniform in [0, n). REQUIRES: n > 0.
  int64_t Uniform(int64_t n);
  // Uniform in [0, 1), 53 random bits.
  double UniformDouble();

  int64_t seed() const { return seed_; }
  int64_t position() const { return position_; }
  static constexpr uint64_t min() { return 0; }
  static constexpr uint64_t max() { return ~uint64_t{0}; }

 private:
  int64_t seed_;
  int64_t position_;
  uint64_t key_;
  uint64_t counter_ = 0;
};
using RandomMapFn = std::function<Element(const Element&, ElementRng&)>;
using PredicateFn = std::function<bool(const Element&)>;
using DatasetFn = std::function<DatasetPtr(const Element&)>;
using KeyFn = std::function<int64_t(const Element&)>;
using ReduceFn = std::function<DatasetPtr(int64_t key, DatasetPtr window)>;
using WindowSizeFn = std::function<int64_t(int64_t key)>;

// ---- Sources -----------------------------------------------------------------------------
// start, start+step, ... up to (excluding) stop. int64 scalars. step != 0.
DatasetPtr Range(int64_t start, int64_t stop, int64_t step = 1);
// The same values as `output_type` scalars (tf.data's range(output_type=)): computed in int64,
// then converted (static_cast). output_type: an integer dtype, float32 or float64.
DatasetPtr Range(int64_t start, int64_t stop, int64_t step, DType output_type);
// Slices every tensor of `element` along its first dimension (all must share it).
DatasetPtr FromTensorSlices(Element element);
// The single element `element`.
DatasetPtr FromTensors(Element element);
// start, start+step, ... forever. int64 scalars.
DatasetPtr Counter(int64_t start = 0, int64_t step = 1);
// The same values as `dtype` scalars (tf.data's counter(dtype=)), as Range's output_type.
DatasetPtr Counter(int64_t start, int64_t step, DType dtype);
// Tuples (or dicts, when `keys` is given) of the inputs' elements, up to the shortest input.
DatasetPtr Zip(std::vector<DatasetPtr> inputs, std::vector<std::string> keys = {});
// One run of a user generator: `next` returns elements until std::nullopt. With get_state and
// set_state (both or neither), it is checkpointed exactly through them: get_state's bytes are
// the op's state, set_state(bytes) on a fresh generator resumes it. Without them it is external
// state: the save policy decides (state.h), and a restore starts it from the beginning.
struct Generator {
  std::function<std::optional<Element>()> next;
  std::function<std::string()> get_state;
  std::function<void(const std::string&)> set_state;
};
// `make` is called for a fresh generator once per iterator, at its first GetNext or Restore.
// `name` identifies the generator in the fingerprint: "from_generator(fn=name)".
DatasetPtr FromGenerator(std::function<Generator()> make, std::string name = "generator");

// ---- Transformations ---------------------------------------------------------------------
// num_parallel_calls: 0 = in the caller's thread; N > 0 or kAutotune = worker threads.
// deterministic=false lets outputs come in completion order (still exactly once across a save);
// unset: the pipeline's Options::deterministic (options.h), else true.
DatasetPtr Map(DatasetPtr input, MapFn fn, FunctionOptions options = {},
               int64_t num_parallel_calls = 0, std::optional<bool> deterministic = std::nullopt);
// map with random numbers: fn(element, rng), rng an ElementRng of (seed, the element's
// position), so random augmentation resumes exactly (a function that draws from a global
// generator instead is external state, which a save cannot capture). The seed is part of the
// fingerprint; the state gains the position ("position"), which a map without a seed does not
// save.
DatasetPtr Map(DatasetPtr input, RandomMapFn fn, int64_t seed, FunctionOptions options = {},
               int64_t num_parallel_calls = 0, std::optional<bool> deterministic = std::nullopt);
DatasetPtr Filter(DatasetPtr input, PredicateFn predicate, FunctionOptions options = {});
DatasetPtr Batch(DatasetPtr input, int64_t batch_size, bool drop_remainder = false);
// batch whose tensors may differ in their first dimension: each tensor leaf of rank >= 1 comes
// out ragged (inputpipe/ragged.h: values and row_splits), scalars stacked. The other
// dimensions must agree within a batch. Checkpoints as batch does (the state is the input's).
// row_splits_dtype: kInt64 or kInt32 (tf.data's choice), for every ragged dimension made.
DatasetPtr RaggedBatch(DatasetPtr input, int64_t batch_size, bool drop_remainder = false,
                       DType row_splits_dtype = DType::kInt64);
// padded_shapes: one shape per tensor leaf (FlattenLeaves order), -1 = the batch's longest;
// empty = pad every dimension to the batch's longest. padding_values: one scalar tensor per
// leaf, of the leaf's dtype; empty = 0 / "" / false.
DatasetPtr PaddedBatch(DatasetPtr input, int64_t batch_size, std::vector<Shape> padded_shapes = {},
                       std::vector<Tensor> padding_values = {}, bool drop_remainder = false);
DatasetPtr Unbatch(DatasetPtr input);
// count < 0: forever.
DatasetPtr Repeat(DatasetPtr input, int64_t count = -1);
// count < 0: all.
DatasetPtr Take(DatasetPtr input, int64_t count);
// count < 0: all.
DatasetPtr Skip(DatasetPtr input, int64_t count);
DatasetPtr Shard(DatasetPtr input, int64_t num_shards, int64_t index);
// ---- Many ranks (docs/distributed.md).
// shard(elastic=true): rank `index` of `num_shards` takes its part of the input, and a
// checkpoint of every rank's state continues on another rank count exactly (each input element
// consumed before it never again, every other one once). num_shards and index are not part of
// the fingerprint. Not random-access (a global shuffle goes before it). src/ops/elastic_shard.cc.
DatasetPtr ElasticShard(DatasetPtr input, int64_t num_shards, int64_t index);
// The state rank `rank` of `num_ranks` restores from the states (Iterator::Save bytes) one
// iterator had on each rank of a checkpoint, in rank order: with as many ranks, states[rank];
// else the elastic shards' new split (FailedPreconditionError naming an op that forbids it).
std::string ReshardStates(const std::vector<std::string>& states, int64_t rank,
                          int64_t num_ranks);
// Global-batch mode: `input` yields global batches; rank `rank` of `num_ranks` gets rows
// [rank*B/W, (rank+1)*B/W) of each (an InvalidArgumentError naming both numbers when W does not
// divide B). The state is the global position, the same on every rank. When input is batch()
// of a random-access dataset each rank computes only its rows. src/ops/distribute.cc.
DatasetPtr Distribute(DatasetPtr input, int64_t num_ranks, int64_t rank);
// (index, element) tuples, index from `start`.
DatasetPtr Enumerate(DatasetPtr input, int64_t start = 0);
// REQUIRES: same element structure and dtypes.
DatasetPtr Concatenate(DatasetPtr first, DatasetPtr second);
DatasetPtr FlatMap(DatasetPtr input, DatasetFn fn, FunctionOptions options = {});
// Elements are datasets (or, for structured inputs, the same structure of datasets).
// shift <= 0 means shift = size.
DatasetPtr Window(DatasetPtr input, int64_t size, int64_t shift = 0, int64_t stride = 1,
                  bool drop_remainder = false);

// ---- Reordering and parallelism (docs/reorder.md) ---------------------------------------
// Global shuffle of a random-access dataset: a bijective index permutation per epoch; no buffer.
// seed: std::nullopt picks one at random, which is saved with the state.
DatasetPtr GlobalShuffle(DatasetPtr input, std::optional<int64_t> seed = std::nullopt,
                         bool reshuffle_each_iteration = true);
// tf.data's buffered shuffle, for inputs that are not random-access.
DatasetPtr Shuffle(DatasetPtr input, int64_t buffer_size, std::optional<int64_t> seed = std::nullopt,
                   bool reshuffle_each_iteration = true);
DatasetPtr Prefetch(DatasetPtr input, int64_t buffer_size = kAutotune);
// num_parallel_calls as Map's. deterministic=false (the parallel form only): when the current
// slot has no element ready, one from another slot that has comes first; each slot's own
// elements still come in order, so a restore delivers every element exactly once across the
// save. Unset: the pipeline's Options::deterministic, else true.
DatasetPtr Interleave(DatasetPtr input, DatasetFn fn, int64_t cycle_length, int64_t block_length = 1,
                      int64_t num_parallel_calls = 0,
                      std::optional<bool> deterministic = std::nullopt,
                      FunctionOptions options = {});
// rerandomize_each_iteration: each iterator made from the dataset (each epoch under repeat)
// draws other choices, as tf.data's; by default every one draws the same.
DatasetPtr SampleFromDatasets(std::vector<DatasetPtr> inputs, std::vector<double> weights = {},
                              std::optional<int64_t> seed = std::nullopt,
                              bool stop_on_empty_dataset = false,
                              bool rerandomize_each_iteration = false);
// The weights as a dataset (tf.data allows it): draw k uses the weights dataset's element k, a
// float32 or float64 vector of one weight per input (each finite, >= 0, summing to > 0: else an
// InvalidArgumentError naming the element). The stream ends when the weights end, or at the
// first ended input chosen under stop_on_empty_dataset, or when every input has ended (a choice
// of an ended input is skipped otherwise). It is choose_from_datasets over map(zip(weights,
// random(seed))), and fingerprints and saves as those: the weights' position, never values.
DatasetPtr SampleFromDatasetsByWeights(std::vector<DatasetPtr> inputs, DatasetPtr weights,
                                       std::optional<int64_t> seed = std::nullopt,
                                       bool stop_on_empty_dataset = false,
                                       bool rerandomize_each_iteration = false);
// Element k from inputs[c], c = the next choice (int64 scalars in [0, inputs.size())). When the
// chosen input has ended: stop_on_empty_dataset ends the stream; otherwise the choice is
// skipped, and the stream ends when the choices end or every input has ended.
// Choose and sample: the inputs must produce one structure and dtypes (shapes may differ), as
// concatenate; else InvalidArgumentError (when made, for random-access inputs; else at the first
// element of each input).
DatasetPtr ChooseFromDatasets(std::vector<DatasetPtr> inputs, DatasetPtr choice_dataset,
                              bool stop_on_empty_dataset = true);
// Random int64 scalars. rerandomize_each_iteration: each iterator made from the dataset (each
// epoch under repeat) draws another stream, as tf.data's; by default every one draws the same.
DatasetPtr RandomDataset(std::optional<int64_t> seed = std::nullopt,
                         bool rerandomize_each_iteration = false);
// Windows of window_size elements of one key_fn key, each replaced by reduce_fn(key, window)'s
// elements; at the end of the input the partial windows, in increasing key order.
DatasetPtr GroupByWindow(DatasetPtr input, KeyFn key_fn, ReduceFn reduce_fn, int64_t window_size,
                         FunctionOptions options = {});
// The same with a size per key: window_size_fn(key), asked once per key and kept (a restored
// iterator asks again); a value <= 0 is an InvalidArgumentError at the element that asked, which
// is dropped. options.name identifies all three functions.
DatasetPtr GroupByWindow(DatasetPtr input, KeyFn key_fn, ReduceFn reduce_fn,
                         WindowSizeFn window_size_fn, FunctionOptions options = {});
// Each distinct element once, in order of first appearance. Elements must be one tensor of an
// integer, bool or string dtype (tf.data: int32, int64, string); a float tensor or a tuple /
// dict is an InvalidArgumentError.
DatasetPtr Unique(DatasetPtr input);

// ---- More of tf.data's API (docs/api_ops.md) ---------------------------------------------
// The input's elements while predicate is true; the stream ends at the first false one (the
// input is not read further, also after a restore).
DatasetPtr TakeWhile(DatasetPtr input, PredicateFn predicate, FunctionOptions options = {});

// fn(state, element) -> (new state, output element), the state starting at `initial_state`.
using ScanFn =
    std::function<std::pair<Element, Element>(const Element& state, const Element& element)>;
// Elements fn's outputs, carrying the state from one element to the next. Every new state must
// have initial_state's structure and dtypes (shapes may change), else InvalidArgumentError.
// The one op whose saved state holds values: the scan state itself (tensors, tuples and dicts
// of them; no datasets), so a state is as large as fn's state. initial_state is identity.
DatasetPtr Scan(DatasetPtr input, Element initial_state, ScanFn fn, FunctionOptions options = {});

// The input's batches cut into batches of batch_sizes[0], batch_sizes[1], ... (cycled), across
// input batch boundaries: unbatch() then batch() with those sizes, without the per-element
// slices. Every size > 0. drop_remainder drops a last batch smaller than its size.
DatasetPtr Rebatch(DatasetPtr input, std::vector<int64_t> batch_sizes, bool drop_remainder = false);

// The input's elements, kept after the first complete pass and read back by later passes
// (later iterators, the epochs of a repeat above it): in memory when filename is empty, else in
// the file `filename`, written through the file-system seam under a temporary name and renamed
// at the end of the pass, so a half-written cache is never read. A restore is exact in the
// first pass and in later ones (src/ops/cache.cc says how). A cache file of another input
// pipeline is a FailedPreconditionError.
DatasetPtr Cache(DatasetPtr input, std::string filename = "");

// fn(state, element) -> new state (same structure and dtypes as initial_state).
using ReduceStateFn = std::function<Element(const Element& state, const Element& element)>;
// Not ops but terminal reads, as in tf.data: each runs a fresh iterator of `input` to its end.
// Reduce: the state after every element (initial_state for an empty dataset);
// InvalidArgumentError for an infinite dataset, which would never end.
Element Reduce(const DatasetPtr& input, Element initial_state, ReduceStateFn fn);
// The dataset's only element; InvalidArgumentError when it has none or more than one.
Element GetSingleElement(const DatasetPtr& input);

}  // namespace inputpipe

#endif  // INPUTPIPE_OPS_H_
