// The resize of a checkpoint taken on W ranks to W' ranks, for the hook (src/hook/hook.cc),
// which has every rank's decoded state at hand. The algorithm is in elastic_shard.cc's banner;
// the public, byte-level form is ReshardStates (inputpipe/ops.h).
#ifndef INPUTPIPE_OPS_ELASTIC_SHARD_H_
#define INPUTPIPE_OPS_ELASTIC_SHARD_H_

#include <cstdint>
#include <vector>

#include "inputpipe/state.h"

namespace inputpipe {

// The state tree rank `rank` of `num_ranks` restores, from the W = states.size() states of one
// iterator saved by ranks 0..W-1 (in rank order). W' = W: states[rank]'s tree, unchanged.
// Otherwise every shard(elastic=true) node gets the new layout and the rest is taken as the
// banner says. Throws PipelineMismatchError when the ranks' pipelines differ and
// FailedPreconditionError naming the op when the pipeline cannot be resized.
StateNode ReshardDecoded(const std::vector<DecodedState>& states, int64_t rank, int64_t num_ranks);

}  // namespace inputpipe

#endif  // INPUTPIPE_OPS_ELASTIC_SHARD_H_
