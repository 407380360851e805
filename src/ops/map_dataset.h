// The dataset half shared by map and parallel_map: the same fn over the same input, so the
// same cardinality, random access and fingerprint start; they differ only in their iterators.
#ifndef INPUTPIPE_OPS_MAP_DATASET_H_
#define INPUTPIPE_OPS_MAP_DATASET_H_

#include <string>
#include <vector>

#include "core/op_skeleton.h"
#include "inputpipe/ops.h"

namespace inputpipe {

class MapDatasetBase : public UnaryDataset {
 public:
  MapDatasetBase(DatasetPtr input, MapFn fn, FunctionOptions options)
      : UnaryDataset(std::move(input)), fn(std::move(fn)), options(std::move(options)) {}

  bool IsRandomAccess() const override { return !options.stateful && input_->IsRandomAccess(); }
  Element Get(int64_t index) const override { return fn(input_->Get(index)); }

  // A stateful fn is external state: the save policy decides (see state.h).
  void ReportIfStateful(StateWriter& w) const { inputpipe::ReportIfStateful(w, options, "map"); }

 protected:
  // The start of params(): "fn=NAME" and ", stateful=true" when it is.
  std::string FnParams() const { return FnParam("fn", options); }

 public:
  // File-local iterators of map and parallel map read these directly.
  const MapFn fn;
  const FunctionOptions options;
};

}  // namespace inputpipe

#endif  // INPUTPIPE_OPS_MAP_DATASET_H_
