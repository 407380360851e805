// map with num_parallel_calls != 0 (parallel_map.cc). Internal: users call Map(), which
// dispatches here.
#ifndef INPUTPIPE_OPS_PARALLEL_MAP_H_
#define INPUTPIPE_OPS_PARALLEL_MAP_H_

#include <cstdint>
#include <optional>

#include "inputpipe/ops.h"
#include "ops/map_dataset.h"

namespace inputpipe {

// REQUIRES: input and fn non-null; num_parallel_calls > 0 or kAutotune. deterministic unset:
// the options in force when an iterator is made (options.h), else true.
DatasetPtr MakeParallelMap(DatasetPtr input, MapFunction fn, FunctionOptions options,
                           int64_t num_parallel_calls, std::optional<bool> deterministic);

// The thread count kAutotune stands for: the CPUs of the process's affinity mask (on Linux;
// elsewhere the hardware threads), at least 1.
int64_t AutotuneThreads();

}  // namespace inputpipe

#endif  // INPUTPIPE_OPS_PARALLEL_MAP_H_
