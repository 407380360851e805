#include "core/index_iterator.h"

#include <algorithm>
#include <limits>

namespace inputpipe {

namespace {
constexpr char kNext[] = "next";  // index of the next element to produce
}  // namespace

IndexIterator::IndexIterator(const Dataset& ds)
    : Iterator(ds.shared()), cardinality_(ds.Cardinality()) {}

std::optional<Element> IndexIterator::GetNextInternal() {
  if (cardinality_ >= 0 && next_ >= cardinality_) return std::nullopt;
  if (next_ == std::numeric_limits<int64_t>::max()) {  // only a hostile state gets here
    throw InvalidArgumentError(dataset().op_name() + ": the position overflows int64");
  }
  return dataset().Get(next_++);
}

int64_t IndexIterator::SkipElements(int64_t n, SkipMode) {
  if (cardinality_ < 0 && n > std::numeric_limits<int64_t>::max() - next_) {
    throw InvalidArgumentError(dataset().op_name() + ": the position overflows int64");
  }
  const int64_t left = cardinality_ < 0 ? n : std::max<int64_t>(0, cardinality_ - next_);
  const int64_t skipped = std::min(n, left);
  next_ += skipped;
  return skipped;
}

void IndexIterator::SaveInternal(StateWriter& w) { w.WriteInt(kNext, next_); }

void IndexIterator::RestoreInternal(StateReader& r) {
  next_ = r.ReadIntInRange(kNext, 0,
                           cardinality_ >= 0 ? cardinality_ : std::numeric_limits<int64_t>::max());
}

}  // namespace inputpipe
