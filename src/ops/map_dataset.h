// The dataset half shared by map and parallel_map: the same fn over the same input, so the
// same cardinality, random access and fingerprint start; they differ only in their iterators.
#ifndef INPUTPIPE_OPS_MAP_DATASET_H_
#define INPUTPIPE_OPS_MAP_DATASET_H_

#include <string>
#include <vector>

#include "inputpipe/ops.h"

namespace inputpipe {

class MapDatasetBase : public Dataset {
 public:
  MapDatasetBase(DatasetPtr input, MapFn fn, FunctionOptions options)
      : input_(std::move(input)), fn_(std::move(fn)), options_(std::move(options)) {}

  std::vector<DatasetPtr> inputs() const override { return {input_}; }
  int64_t Cardinality() const override { return input_->Cardinality(); }
  bool IsRandomAccess() const override { return !options_.stateful && input_->IsRandomAccess(); }
  Element Get(int64_t index) const override { return fn_(input_->Get(index)); }

  // A stateful fn is external state: the save policy decides (see state.h).
  void ReportIfStateful(StateWriter& w) const {
    if (options_.stateful) {
      w.ReportExternalState("map(fn=" + options_.name + "): the function is declared stateful");
    }
  }

 protected:
  // The start of params(): "fn=NAME" and ", stateful=true" when it is.
  std::string FnParams() const {
    return "fn=" + options_.name + (options_.stateful ? ", stateful=true" : "");
  }

  const DatasetPtr input_;
  const MapFn fn_;
  const FunctionOptions options_;
};

}  // namespace inputpipe

#endif  // INPUTPIPE_OPS_MAP_DATASET_H_
