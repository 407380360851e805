// map(fn): fn applied to each element, in the caller's thread. Random-access when its input is
// and fn is pure. A stateful fn is external state: the save policy decides (see state.h).
// num_parallel_calls != 0 is parallel_map.cc.
#include "inputpipe/ops.h"
#include "ops/map_dataset.h"
#include "ops/parallel_map.h"

namespace inputpipe {

namespace {
constexpr char kInput[] = "input";

class MapDataset : public MapDatasetBase {
 public:
  using MapDatasetBase::MapDatasetBase;

  std::string op_name() const override { return "map"; }
  std::string params() const override { return FnParams(); }

 protected:
  std::unique_ptr<Iterator> MakeIteratorInternal() const override;

 private:
  friend class MapIterator;
};

class MapIterator : public Iterator {
 public:
  explicit MapIterator(const MapDataset& ds)
      : Iterator(ds.shared()), ds_(ds), input_(ds.input_->MakeIterator()) {}

 protected:
  std::optional<Element> GetNextInternal() override {
    std::optional<Element> element = input_->GetNext();
    if (!element) return std::nullopt;
    return ds_.fn_(*element);
  }
  void SaveInternal(StateWriter& w) override {
    ds_.ReportIfStateful(w);
    w.WriteChild(kInput, *input_);
  }
  void RestoreInternal(StateReader& r) override { r.RestoreChild(kInput, *input_); }

 private:
  const MapDataset& ds_;
  std::unique_ptr<Iterator> input_;
};

std::unique_ptr<Iterator> MapDataset::MakeIteratorInternal() const {
  return std::make_unique<MapIterator>(*this);
}
}  // namespace

DatasetPtr Map(DatasetPtr input, MapFn fn, FunctionOptions options, int64_t num_parallel_calls,
               bool deterministic) {
  if (!input) throw InvalidArgumentError("map: input dataset is null");
  if (!fn) throw InvalidArgumentError("map: fn is empty");
  if (num_parallel_calls != 0) {
    return MakeParallelMap(std::move(input), std::move(fn), std::move(options), num_parallel_calls,
                           deterministic);
  }
  return std::make_shared<MapDataset>(std::move(input), std::move(fn), std::move(options));
}

}  // namespace inputpipe
