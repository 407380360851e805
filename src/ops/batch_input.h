// The elements of the next batch, shared by batch and padded_batch: they differ only in how the
// elements are combined.
#ifndef INPUTPIPE_OPS_BATCH_INPUT_H_
#define INPUTPIPE_OPS_BATCH_INPUT_H_

#include <algorithm>
#include <optional>
#include <vector>

#include "inputpipe/dataset.h"

namespace inputpipe {

// Up to batch_size elements read from `input`; std::nullopt when there is no batch: the input
// had ended, or (with drop_remainder) fewer than batch_size elements were left.
inline std::optional<std::vector<Element>> ReadBatchElements(Iterator& input, int64_t batch_size,
                                                             bool drop_remainder) {
  std::vector<Element> elements;
  // Bounded: batch(n) with a huge n is a common way to say "everything in one batch".
  elements.reserve(static_cast<size_t>(std::min<int64_t>(batch_size, 1024)));
  while (static_cast<int64_t>(elements.size()) < batch_size) {
    std::optional<Element> element = input.GetNext();
    if (!element) break;
    elements.push_back(std::move(*element));
  }
  if (elements.empty()) return std::nullopt;
  if (drop_remainder && static_cast<int64_t>(elements.size()) < batch_size) return std::nullopt;
  return elements;
}

}  // namespace inputpipe

#endif  // INPUTPIPE_OPS_BATCH_INPUT_H_
