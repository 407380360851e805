// map(fn): fn applied to each element, in the caller's thread. Random-access when its input is
// and fn is pure. A stateful fn is external state: the save policy decides (see state.h).
// num_parallel_calls != 0 is parallel_map.cc; with deterministic=true it is the same op to a
// state (same fingerprint, same node), so a state of either restores into the other.
//
// map(fn, seed): fn(element, rng) with an ElementRng of (seed, position) (map_dataset.h); the
// state is then the input's plus "position", the elements read so far.
#include "core/element_skip.h"
#include "core/op_skeleton.h"
#include "core/record_location.h"
#include "inputpipe/ops.h"
#include "ops/map_dataset.h"
#include "ops/parallel_map.h"
#include "ops/random_util.h"

namespace inputpipe {

namespace {

class MapIterator;

class MapDataset : public OpDataset<MapDataset, MapIterator, MapDatasetBase> {
 public:
  using OpDataset::OpDataset;

  std::string op_name() const override { return "map"; }
  std::string params() const override { return FnParams(); }
};

// Moves past elements without calling fn (ElementSkipper), unless fn is declared stateful: its
// input does the moving (a seek where it can), and the position counts them.
class MapIterator : public UnaryIterator<MapDataset>, public ElementSkipper {
 public:
  using UnaryIterator::UnaryIterator;

  int64_t SkipElements(int64_t n, SkipMode mode) override {
    if (dataset().options.stateful) {  // its calls may matter beyond their results: made
      for (int64_t moved = 0; moved < n; ++moved) {
        if (!GetNext()) return moved;
      }
      return n;
    }
    if (!dataset().fn.seed) {
      // The position only names elements in errors: after a failed read it may be off.
      const int64_t moved = inputpipe::SkipElements(*input_, n, mode);
      position_ += moved;
      return moved;
    }
    // Seeded: the position draws each element's numbers, so it follows the input exactly,
    // through a failed read too (one that takes its place, as in GetNextInternal).
    for (int64_t moved = 0; moved < n; ++moved) {
      int64_t one;
      interrupt_internal::thread_state.interrupted = false;
      try {
        one = inputpipe::SkipElements(*input_, 1, mode);
      } catch (...) {
        if (!interrupt_internal::thread_state.interrupted) ++position_;
        throw;
      }
      if (one == 0) return moved;
      ++position_;
    }
    return n;
  }

 protected:
  std::optional<Element> GetNextInternal() override {
    // Before the read: a hold that fails (no worker processes) loses no element.
    if (!holding_ && dataset().options.hold_for_iterator) {
      held_ = HoldForIterator(dataset().options, input_->dataset(), input_->SaveNode(), position_,
                              this);
      holding_ = true;
    }
    std::optional<Element> element;
    interrupt_internal::thread_state.interrupted = false;
    try {
      element = input_->GetNext();
    } catch (...) {
      // A failed read (an engine error, a Python exception) takes a position, as it takes a
      // slot of parallel map's; an interrupt read nothing.
      if (!interrupt_internal::thread_state.interrupted) ++position_;
      throw;
    }
    if (!element) return std::nullopt;
    try {
      return dataset().fn(*element, position_++, this);
    } catch (const Error& e) {
      // A reader as the input: name the file, record and byte offset of the rejected record.
      if (const auto* locator = dynamic_cast<const RecordLocator*>(input_.get())) {
        RethrowAtRecord(e, locator->LastRecordLocation());
      }
      throw;
    }
  }
  void SaveInternal(StateWriter& w) override {
    dataset().ReportIfStateful(w);
    SaveInput(w);
    dataset().SavePosition(w, position_);
  }
  // A node of a deterministic parallel map (this layout) restores here too; one with the
  // elements a deterministic=false parallel map delivered ahead of its input's state does not:
  // restoring only the input would deliver those again.
  void RestoreInternal(StateReader& r) override {
    if (!r.node().blobs.empty()) {
      throw DataLossError("corrupt state: map(" + dataset().params() + ") has a '" +
                          r.node().blobs.front().first + "' field; a map's state is its input's");
    }
    RestoreInput(r);
    position_ = dataset().RestorePosition(r);
  }

 private:
  int64_t position_ = 0;  // elements read from the input (an input error counts as one)
  // options.hold_for_iterator's (may be null), from the first call; holding_: it was taken.
  std::shared_ptr<void> held_;
  bool holding_ = false;
};

DatasetPtr MakeMap(DatasetPtr input, MapFunction fn, FunctionOptions options,
                   int64_t num_parallel_calls, std::optional<bool> deterministic) {
  if (num_parallel_calls != 0) {
    return MakeParallelMap(std::move(input), std::move(fn), std::move(options), num_parallel_calls,
                           deterministic);
  }
  return std::make_shared<MapDataset>(std::move(input), std::move(fn), std::move(options));
}

thread_local int64_t current_map_position = -1;
thread_local const void* current_map_caller = nullptr;
thread_local const MapStart* current_map_start = nullptr;

}  // namespace

int64_t CurrentMapPosition() { return current_map_position; }
const void* CurrentMapCaller() { return current_map_caller; }
const MapStart* CurrentMapStart() { return current_map_start; }

ScopedMapPosition::ScopedMapPosition(int64_t position, const void* caller)
    : saved_(current_map_position), saved_caller_(current_map_caller) {
  current_map_position = position;
  current_map_caller = caller;
}

ScopedMapPosition::~ScopedMapPosition() {
  current_map_position = saved_;
  current_map_caller = saved_caller_;
}

std::shared_ptr<void> HoldForIterator(const FunctionOptions& options, const Dataset& input,
                                      const StateNode& node, int64_t position,
                                      const void* caller) {
  // Encoded whether or not the hold reads it: tens of microseconds, once per iterator, and only
  // for the functions that hold (worker processes).
  MapStart start{EncodeState(input.Pipeline(), node), position};
  ScopedMapPosition scope(-1, caller);
  const MapStart* saved = current_map_start;
  current_map_start = &start;
  struct Restore {
    const MapStart* saved;
    ~Restore() { current_map_start = saved; }
  } restore{saved};
  return options.hold_for_iterator();
}

ElementRng::ElementRng(int64_t seed, int64_t position)
    : seed_(seed),
      position_(position),
      key_(MixKey(static_cast<uint64_t>(seed), static_cast<uint64_t>(position))) {}

uint64_t ElementRng::operator()() { return CounterHash(key_, counter_++); }

int64_t ElementRng::Uniform(int64_t n) {
  if (n <= 0) {
    throw InvalidArgumentError("ElementRng::Uniform: n must be > 0, got " + std::to_string(n));
  }
  return UniformIndex((*this)(), n);
}

double ElementRng::UniformDouble() { return inputpipe::UniformDouble((*this)()); }

DatasetPtr Map(DatasetPtr input, MapFn fn, FunctionOptions options, int64_t num_parallel_calls,
               std::optional<bool> deterministic) {
  CheckInput(input, "map");
  CheckFn(fn, "map");
  return MakeMap(std::move(input), MapFunction{std::move(fn), {}, std::nullopt}, std::move(options),
                 num_parallel_calls, deterministic);
}

DatasetPtr Map(DatasetPtr input, RandomMapFn fn, int64_t seed, FunctionOptions options,
               int64_t num_parallel_calls, std::optional<bool> deterministic) {
  CheckInput(input, "map");
  CheckFn(fn, "map");
  return MakeMap(std::move(input), MapFunction{{}, std::move(fn), seed}, std::move(options),
                 num_parallel_calls, deterministic);
}

}  // namespace inputpipe
