// The exactness harness: the one test helper every op's checkpoint test uses.
//
//   TEST(TakeTest, ResumesExactly) { ExpectExactResume(Take(Range(0, 20), 7)); }
//
// It records the uninterrupted stream, then for each breakpoint k in {0, 1, 2, 5, 11, a random
// k, the last element, the end, after the end}: runs a fresh iterator k steps, saves, restores
// into a *fresh* iterator, and asserts that the rest of the stream is identical element by
// element (structure, dtype, shape, bytes; nested datasets compared by their contents). It
// also checks that saving does not disturb the saving iterator and that the state stays under
// a size bound.
#ifndef INPUTPIPE_TESTING_EXACTNESS_H_
#define INPUTPIPE_TESTING_EXACTNESS_H_

#include <cstdint>
#include <vector>

#include "inputpipe/dataset.h"

namespace inputpipe::testing {

struct ExactnessOptions {
  size_t max_state_bytes = 1024;
  // Infinite or long datasets are compared over their first max_elements elements.
  int64_t max_elements = 2000;
  std::vector<int64_t> extra_breakpoints;
  uint64_t seed = 20261127;
  ExternalStatePolicy policy = ExternalStatePolicy::kFail;
};

// Reads up to `limit` elements (all when < 0), with nested datasets materialised.
std::vector<Element> Collect(const DatasetPtr& ds, int64_t limit = -1);
std::vector<Element> CollectFrom(Iterator& it, int64_t limit = -1);
// Replaces every nested dataset by a tuple of its elements, so streams compare by value.
Element Materialize(const Element& element);

// gtest assertions; see the banner.
void ExpectExactResume(const DatasetPtr& ds, const ExactnessOptions& options = {});

}  // namespace inputpipe::testing

#endif  // INPUTPIPE_TESTING_EXACTNESS_H_
