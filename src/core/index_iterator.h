// The iterator of a random-access source: element i is dataset.Get(i), and the whole state is
// the index of the next element, so a restore is a seek. Range, counter, from_tensors,
// from_tensor_slices and the in-memory element lists derive from RandomAccessSource:
//
//   class RangeDataset : public RandomAccessSource {
//    public:
//     std::string op_name() const override { return "range"; }
//     std::string params() const override { ... }
//     int64_t Cardinality() const override { ... }   // may be kInfiniteCardinality
//     Element Get(int64_t index) const override { ... }
//   };
#ifndef INPUTPIPE_CORE_INDEX_ITERATOR_H_
#define INPUTPIPE_CORE_INDEX_ITERATOR_H_

#include <cstdint>
#include <optional>

#include "core/element_skip.h"
#include "core/op_skeleton.h"
#include "inputpipe/dataset.h"

namespace inputpipe {

// REQUIRES: the dataset is random-access (Cardinality() may be kInfiniteCardinality).
// skip(n) over it seeks (ElementSkipper): Get is not called for the elements skipped.
class IndexIterator : public Iterator, public ElementSkipper {
 public:
  explicit IndexIterator(const Dataset& ds);

  int64_t SkipElements(int64_t n, SkipMode mode) override;

 protected:
  std::optional<Element> GetNextInternal() override;
  void SaveInternal(StateWriter& w) override;
  void RestoreInternal(StateReader& r) override;

 private:
  const int64_t cardinality_;
  int64_t next_ = 0;  // index of the next element to produce
};

// A source whose elements are Get(0), Get(1), ...: random-access, iterated by an IndexIterator.
class RandomAccessSource : public OpDataset<RandomAccessSource, IndexIterator> {
 public:
  bool IsRandomAccess() const final { return true; }
};

}  // namespace inputpipe

#endif  // INPUTPIPE_CORE_INDEX_ITERATOR_H_
