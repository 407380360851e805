// The dataset half shared by map and parallel_map: the same fn over the same input, so the
// same cardinality, random access and fingerprint start; they differ only in their iterators.
//
// A seeded map (Map with a RandomMapFn) calls fn(element, ElementRng(seed, position)), where
// position is the element's index in map's input since the iterator began: both iterators
// count it the same way (an input error counts as an element, as it takes a place in parallel
// map's window) and save it under "position" only when seeded, so an unseeded map's state is
// its input's, byte for byte as before seeds existed.
#ifndef INPUTPIPE_OPS_MAP_DATASET_H_
#define INPUTPIPE_OPS_MAP_DATASET_H_

#include <optional>
#include <string>
#include <vector>

#include "core/op_skeleton.h"
#include "inputpipe/errors.h"
#include "inputpipe/map_caller.h"
#include "inputpipe/ops.h"
#include "ops/iteration_access.h"

namespace inputpipe {

// Sets CurrentMapPosition() (ops.h) on this thread for one call of map's function (map.cc).
class ScopedMapPosition {
 public:
  explicit ScopedMapPosition(int64_t position, const void* caller = nullptr);
  ~ScopedMapPosition();
  ScopedMapPosition(const ScopedMapPosition&) = delete;
  ScopedMapPosition& operator=(const ScopedMapPosition&) = delete;

 private:
  int64_t saved_;  // a map function may run a nested pipeline's map: restored on exit
  const void* saved_caller_;
};

// Takes options.hold_for_iterator with CurrentMapStart() and CurrentMapCaller() set (map.cc):
// `input` is the map's input iterator's dataset, `node` its state where the iterator starts.
std::shared_ptr<void> HoldForIterator(const FunctionOptions& options, const Dataset& input,
                                      const StateNode& node, int64_t position,
                                      const void* caller);

// map's function: fn(element), or random_fn(element, rng) when seeded.
struct MapFunction {
  MapFn fn;
  RandomMapFn random_fn;
  std::optional<int64_t> seed;  // set iff random_fn is

  // The element at `position` of map's input, mapped.
  // `caller`: the iterator calling (CurrentMapCaller()).
  Element operator()(const Element& element, int64_t position,
                     const void* caller = nullptr) const {
    ScopedMapPosition scope(position, caller);
    if (!seed) return fn(element);
    ElementRng rng(*seed, position);
    return random_fn(element, rng);
  }
};

class MapDatasetBase : public UnaryDataset, public IterationAccess {
 public:
  MapDatasetBase(DatasetPtr input, MapFunction fn, FunctionOptions options)
      : UnaryDataset(std::move(input)), fn(std::move(fn)), options(std::move(options)) {}

  bool IsRandomAccess() const override { return !options.stateful && input_->IsRandomAccess(); }
  // The index-th element is the one at position index of an iterator's input.
  Element Get(int64_t index) const override { return fn(input_->Get(index), index); }
  Element GetInIteration(int64_t index, int64_t iteration) const override {
    return fn(::inputpipe::GetInIteration(*input_, index, iteration), index);
  }
  bool ForwardsIteration() const override { return ::inputpipe::ForwardsIteration(*input_); }
  // The threads this op's calls are spread over (a parallel map's), for an op that computes
  // its elements by index itself (ParallelGets).
  virtual int64_t threads_for_get() const { return 1; }

  // A stateful fn is external state: the save policy decides (see state.h).
  void ReportIfStateful(StateWriter& w) const { inputpipe::ReportIfStateful(w, options, "map"); }

  // A seeded map's position in its state; nothing without a seed.
  void SavePosition(StateWriter& w, int64_t position) const {
    if (fn.seed) w.WriteInt(kPosition, position);
  }
  // The saved position: 0 without a seed or where the state has none (saved without a seed and
  // restored with allow_changes).
  int64_t RestorePosition(const StateReader& r) const {
    if (!fn.seed) return 0;
    for (const auto& [key, value] : r.node().ints) {
      if (key != kPosition) continue;
      if (value < 0) {
        throw DataLossError("corrupt state: map(" + params() + ") has position " +
                            std::to_string(value));
      }
      return value;
    }
    return 0;
  }

 protected:
  // The start of params(): "fn=NAME", ", stateful=true" when it is, ", seed=S" when seeded.
  std::string FnParams() const {
    std::string params = FnParam("fn", options);
    if (fn.seed) params += ", seed=" + std::to_string(*fn.seed);
    return params;
  }

 public:
  // File-local iterators of map and parallel map read these directly.
  const MapFunction fn;
  const FunctionOptions options;

 private:
  static constexpr char kPosition[] = "position";
};

}  // namespace inputpipe

#endif  // INPUTPIPE_OPS_MAP_DATASET_H_
