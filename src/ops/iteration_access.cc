// Random access to a given iteration's stream (iteration_access.h).
#include "ops/iteration_access.h"

namespace inputpipe {

namespace {
const IterationAccess* AsIterationAccess(const Dataset& ds) {
  return dynamic_cast<const IterationAccess*>(&ds);
}
}  // namespace

Element GetInIteration(const Dataset& ds, int64_t index, int64_t iteration) {
  if (const IterationAccess* access = AsIterationAccess(ds)) {
    return access->GetInIteration(index, iteration);
  }
  return ds.Get(index);
}

bool VariesByIteration(const Dataset& ds) {
  const IterationAccess* access = AsIterationAccess(ds);
  if (access != nullptr && access->ReshufflesEachIteration()) return true;
  for (const DatasetPtr& input : ds.inputs()) {
    if (VariesByIteration(*input)) return true;
  }
  return false;
}

bool ForwardsIteration(const Dataset& ds) {
  if (!VariesByIteration(ds)) return true;  // every iteration the same: nothing to pass on
  const IterationAccess* access = AsIterationAccess(ds);
  return access != nullptr && access->ForwardsIteration();
}

bool UnaryIterationDataset::ForwardsIteration() const {
  return ::inputpipe::ForwardsIteration(*input_);
}

bool ByIndexIsTheStream(const Dataset& ds) {
  if (ds.op_name() == "repeat" && !ForwardsIteration(ds)) return false;
  for (const DatasetPtr& input : ds.inputs()) {
    if (!ByIndexIsTheStream(*input)) return false;
  }
  return true;
}

}  // namespace inputpipe
