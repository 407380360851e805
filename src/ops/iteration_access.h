// Random access to a given iteration's stream, for the ops that compute a rank's elements by
// index (distribute, shard(elastic=true)).
//
//   Element e = GetInIteration(*ds, index, /*iteration=*/0);  // what a fresh iterator yields
//   if (!ByIndexIsTheStream(*ds)) { ... read the stream instead ... }
//
// Get(i) is the element of the dataset's first iteration. That is not the stream when a repeat
// sits above a reshuffling global_shuffle: the k-th epoch's iterator of the shuffle uses epoch
// k's permutation, while repeat's Get(i) = input.Get(i % n) gives epoch 0's every epoch. So
// repeat, global_shuffle, map, batch, enumerate, take, skip and shard also answer
// GetInIteration(index, iteration): repeat asks its input for iteration i / n, global_shuffle
// permutes with that epoch, the others pass it on. Get is left as it was (other ops' outputs,
// and their states, do not change). Ops that do not (zip, concatenate, cache, prefetch) make
// ByIndexIsTheStream false under a repeat over a reshuffling shuffle.
//
// An op reading its input by index counts its own iterators as the shuffle does
// (IterationCounter), so its k-th iterator reads the input's iteration k:
//
//   IterationCounter iterations{VariesByIteration(*input)};  // in the dataset
//   int64_t iteration = ds.iterations.Start();              // in each new iterator
//   ds.iterations.Save(w, iteration);  iteration = ds.iterations.Restore(r);
#ifndef INPUTPIPE_OPS_ITERATION_ACCESS_H_
#define INPUTPIPE_OPS_ITERATION_ACCESS_H_

#include <cstdint>

#include "core/op_skeleton.h"
#include "inputpipe/dataset.h"
#include "inputpipe/state.h"
#include "ops/random_util.h"

namespace inputpipe {

class IterationAccess {
 public:
  virtual ~IterationAccess() = default;
  // Element `index` of the stream of the `iteration`-th iterator made from a fresh dataset.
  // REQUIRES: IsRandomAccess().
  virtual Element GetInIteration(int64_t index, int64_t iteration) const = 0;
  // Whether GetInIteration passes the iteration on wherever the stream depends on it.
  virtual bool ForwardsIteration() const = 0;
  // Whether this op's own order changes from one iteration to the next (a reshuffling
  // global_shuffle).
  virtual bool ReshufflesEachIteration() const { return false; }
};

// A unary op whose iterator makes one input iterator, when it is made: its iteration k reads
// its input's iteration k. The op writes GetInIteration beside its Get (batch, enumerate,
// take, skip, shard).
class UnaryIterationDataset : public UnaryDataset, public IterationAccess {
 public:
  using UnaryDataset::UnaryDataset;
  bool ForwardsIteration() const override;
};

// ds's GetInIteration when it has one, else ds.Get(index) (which is iteration 0's).
Element GetInIteration(const Dataset& ds, int64_t index, int64_t iteration);

// True when GetInIteration(ds, i, 0) is element i of a fresh iterator's stream: every repeat in
// ds has an input that forwards the iteration down to each reshuffling op under it.
bool ByIndexIsTheStream(const Dataset& ds);

// Whether ds's elements differ from one iteration to the next (a reshuffling global_shuffle in
// it), and whether its GetInIteration is exact for every iteration.
bool VariesByIteration(const Dataset& ds);
bool ForwardsIteration(const Dataset& ds);

// The iterators of a dataset that reads a reshuffling input by index: the k-th made is
// iteration k (always 0 when the input does not vary by iteration). State: "iteration",
// written only when not 0, so the states of a first iteration, and of every input that does
// not reshuffle, keep their bytes. A restore sets the counter just past the restored
// iteration (EpochCounter::Restore).
class IterationCounter {
 public:
  explicit IterationCounter(bool counts) : counts_(counts) {}

  int64_t Start() const { return counts_ ? counter_.Next() : 0; }
  void Save(StateWriter& w, int64_t iteration) const {
    if (iteration != 0) w.WriteInt(kIteration, iteration);
  }
  // A DataLossError for an iteration other than 0 where the input does not reshuffle.
  int64_t Restore(const StateReader& r) const {
    return counter_.RestoreOrZero(r, kIteration, counts_);
  }

  static constexpr char kIteration[] = "iteration";

 private:
  const bool counts_;
  mutable EpochCounter counter_;
};

}  // namespace inputpipe

#endif  // INPUTPIPE_OPS_ITERATION_ACCESS_H_
