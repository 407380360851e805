#include "testing/exactness.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>

namespace inputpipe::testing {

Element Materialize(const Element& element) {
  if (element.is_dataset()) {
    return Element::Tuple(Collect(element.dataset()));
  }
  if (element.is_tensor()) return element;
  std::vector<Element> leaves = element.FlattenLeaves();
  for (auto& leaf : leaves) leaf = Materialize(leaf);
  return element.PackLeaves(leaves);
}

std::vector<Element> CollectFrom(Iterator& it, int64_t limit) {
  std::vector<Element> out;
  while (limit < 0 || static_cast<int64_t>(out.size()) < limit) {
    std::optional<Element> e = it.GetNext();
    if (!e) break;
    out.push_back(Materialize(*e));
  }
  return out;
}

std::vector<Element> Collect(const DatasetPtr& ds, int64_t limit) {
  auto it = ds->MakeIterator();
  return CollectFrom(*it, limit);
}

namespace {
void ExpectSameStream(const std::vector<Element>& expected, size_t offset,
                      const std::vector<Element>& actual, int64_t breakpoint) {
  ASSERT_EQ(actual.size(), expected.size() - offset)
      << "resumed after " << breakpoint << " elements: wrong number of remaining elements";
  for (size_t i = 0; i < actual.size(); ++i) {
    ASSERT_TRUE(actual[i] == expected[offset + i])
        << "resumed after " << breakpoint << " elements: element " << offset + i
        << " differs\n  expected " << expected[offset + i].DebugString() << "\n  got      "
        << actual[i].DebugString();
  }
}
}  // namespace

void ExpectExactResume(const DatasetPtr& ds, const ExactnessOptions& options) {
  const std::vector<Element> expected = Collect(ds, options.max_elements);
  const int64_t n = static_cast<int64_t>(expected.size());
  const bool finite = n < options.max_elements;

  std::mt19937_64 rng(options.seed);
  std::set<int64_t> breakpoints = {0, 1, 2, 5, 11, n > 0 ? n - 1 : 0, n, n + 1};
  if (n > 0) breakpoints.insert(static_cast<int64_t>(rng() % n));
  for (int64_t k : options.extra_breakpoints) breakpoints.insert(k);

  for (int64_t k : breakpoints) {
    if (k > n + 1 || (!finite && k > n)) continue;
    SCOPED_TRACE("breakpoint " + std::to_string(k) + " of " + std::to_string(n) + " for " +
                 ds->Signature());
    auto it = ds->MakeIterator();
    std::vector<Element> head = CollectFrom(*it, std::min(k, n + 1));
    std::string state = it->Save(options.policy);
    EXPECT_LE(state.size(), options.max_state_bytes) << "state grew to " << state.size() << " bytes";
    const size_t consumed = std::min<size_t>(head.size(), n);

    auto restored = ds->MakeIterator();
    ASSERT_NO_THROW(restored->Restore(state)) << "restore at breakpoint " << k;
    int64_t rest_limit = finite ? -1 : n - static_cast<int64_t>(consumed);
    ExpectSameStream(expected, consumed, CollectFrom(*restored, rest_limit), k);
    // The saving iterator goes on as if it had never been saved.
    ExpectSameStream(expected, consumed, CollectFrom(*it, rest_limit), k);
  }
}

}  // namespace inputpipe::testing
