// Cardinality rules shared by several ops.
#ifndef INPUTPIPE_CORE_CARDINALITY_H_
#define INPUTPIPE_CORE_CARDINALITY_H_

#include <cstdint>

#include "inputpipe/dataset.h"

namespace inputpipe {

// An op that yields an unknown number of elements per input element (unbatch, ignore_errors):
// infinite when its input is, else unknown, as tf.data.
inline int64_t UnknownUnlessInfinite(int64_t input_cardinality) {
  return input_cardinality == kInfiniteCardinality ? input_cardinality : kUnknownCardinality;
}

}  // namespace inputpipe

#endif  // INPUTPIPE_CORE_CARDINALITY_H_
