// Random access to a given iteration's stream, for the ops that compute a rank's elements by
// index (distribute, shard(elastic=true)).
//
//   Element e = GetInIteration(*ds, index, /*iteration=*/0);  // what a fresh iterator yields
//   if (!ByIndexIsTheStream(*ds)) { ... read the stream instead ... }
//
// Get(i) is the element of the dataset's first iteration. That is not the stream when a repeat
// sits above a reshuffling global_shuffle: the k-th epoch's iterator of the shuffle uses epoch
// k's permutation, while repeat's Get(i) = input.Get(i % n) gives epoch 0's every epoch. So
// repeat, global_shuffle and map also answer GetInIteration(index, iteration): repeat asks its
// input for iteration i / n, global_shuffle permutes with that epoch, map passes it on. Get is
// left as it was (other ops' outputs, and their states, do not change).
#ifndef INPUTPIPE_OPS_ITERATION_ACCESS_H_
#define INPUTPIPE_OPS_ITERATION_ACCESS_H_

#include <cstdint>

#include "inputpipe/dataset.h"

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

// ds's GetInIteration when it has one, else ds.Get(index) (which is iteration 0's).
Element GetInIteration(const Dataset& ds, int64_t index, int64_t iteration);

// True when GetInIteration(ds, i, 0) is element i of a fresh iterator's stream: every repeat in
// ds has an input that forwards the iteration down to each reshuffling op under it.
bool ByIndexIsTheStream(const Dataset& ds);

// Whether ds's elements differ from one iteration to the next (a reshuffling global_shuffle in
// it), and whether its GetInIteration is exact for every iteration.
bool VariesByIteration(const Dataset& ds);
bool ForwardsIteration(const Dataset& ds);

}  // namespace inputpipe

#endif  // INPUTPIPE_OPS_ITERATION_ACCESS_H_
