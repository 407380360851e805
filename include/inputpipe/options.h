// Options of a whole pipeline, as tf.data's Dataset.with_options: set once, usually on the last
// dataset, they reach every op below it.
//
//   Options options;
//   options.deterministic = false;             // parallel maps, interleaves without their own say
//   options.private_threadpool_size = 4;       // at most 4 worker threads per parallel op
//   DatasetPtr ds = WithOptions(Map(Range(0, 100), Square, {}, kAutotune), options);
//   PipelineOptions(*ds).deterministic;         // false: the options in force at the top
//
// Each field is unset unless set; an unset field keeps the op's own behaviour. Options set at
// several places merge, the outer one (later in the pipeline) winning per field, as tf.data.
// What each does:
// - deterministic: the deterministic= of each parallel map and parallel interleave that was
//   not given one (an op's own argument wins). It changes the order, so deterministic=false is
//   in the fingerprint.
// - private_threadpool_size: at most this many worker threads in each parallel map and
//   parallel interleave (tf.data: one pool of that size for the pipeline; here a cap per op).
//   Not in the fingerprint: the thread count changes no output.
// - max_intra_op_parallelism: accepted for tf.data's sake; no effect (a function call runs on
//   one thread).
// - autotune_enabled: accepted; no effect, as AUTOTUNE is a fixed choice here
//   (docs/guide/performance.md).
// - external_state_policy: what Iterator::Save does, called without a policy, with an op whose
//   state it cannot capture. Not in the fingerprint.
// The options reach the iterators made on the consumer's thread and on the engine's worker
// threads; they are in force from the options op down, never above it.
#ifndef INPUTPIPE_OPTIONS_H_
#define INPUTPIPE_OPTIONS_H_

#include <cstdint>
#include <optional>
#include <string>

#include "inputpipe/dataset.h"
#include "inputpipe/state.h"

namespace inputpipe {

struct Options {
  std::optional<bool> deterministic;
  std::optional<int64_t> private_threadpool_size;   // > 0
  std::optional<int64_t> max_intra_op_parallelism;  // > 0
  std::optional<bool> autotune_enabled;
  std::optional<ExternalStatePolicy> external_state_policy;

  // These options with every field `outer` sets replaced by outer's.
  Options MergedUnder(const Options& outer) const;
  // The options that change the output, as "key=value, ..." (what the options op adds to the
  // fingerprint): "deterministic=false" or "".
  std::string OutputParams() const;
  // Every field set, as "key=value, ..." (for repr).
  std::string ToString() const;
};

// `input` with `options` in force for it and every op below it. InvalidArgumentError for a
// private_threadpool_size or max_intra_op_parallelism <= 0.
DatasetPtr WithOptions(DatasetPtr input, Options options);
// The options in force at the top of `dataset`: every options op of the pipeline merged, the
// outer winning. Empty (every field unset) when there is none.
Options PipelineOptions(const Dataset& dataset);

}  // namespace inputpipe

#endif  // INPUTPIPE_OPTIONS_H_
