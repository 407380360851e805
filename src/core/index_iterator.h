// The iterator of a random-access source: element i is dataset.Get(i), and the whole state is
// the index of the next element. Range, from_tensor_slices, counter and the indexed file
// readers use it; restore is a seek.
#ifndef INPUTPIPE_CORE_INDEX_ITERATOR_H_
#define INPUTPIPE_CORE_INDEX_ITERATOR_H_

#include <memory>

#include "inputpipe/dataset.h"

namespace inputpipe {

// REQUIRES: dataset->IsRandomAccess() (Cardinality() may be kInfiniteCardinality).
std::unique_ptr<Iterator> MakeIndexIterator(DatasetPtr dataset);

}  // namespace inputpipe

#endif  // INPUTPIPE_CORE_INDEX_ITERATOR_H_
