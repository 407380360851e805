#include "core/index_iterator.h"

#include <limits>

namespace inputpipe {

namespace {
constexpr char kNext[] = "next";  // index of the next element to produce

class IndexIterator : public Iterator {
 public:
  explicit IndexIterator(DatasetPtr dataset)
      : Iterator(dataset), cardinality_(dataset->Cardinality()) {}

 protected:
  std::optional<Element> GetNextInternal() override {
    if (cardinality_ >= 0 && next_ >= cardinality_) return std::nullopt;
    if (next_ == std::numeric_limits<int64_t>::max()) {  // only a hostile state gets here
      throw InvalidArgumentError(dataset().op_name() + ": the position overflows int64");
    }
    return dataset().Get(next_++);
  }
  void SaveInternal(StateWriter& w) override { w.WriteInt(kNext, next_); }
  void RestoreInternal(StateReader& r) override {
    next_ = r.ReadIntInRange(kNext, 0,
                             cardinality_ >= 0 ? cardinality_ : std::numeric_limits<int64_t>::max());
  }

 private:
  const int64_t cardinality_;
  int64_t next_ = 0;
};
}  // namespace

std::unique_ptr<Iterator> MakeIndexIterator(DatasetPtr dataset) {
  return std::make_unique<IndexIterator>(std::move(dataset));
}

}  // namespace inputpipe
