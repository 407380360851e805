// Helpers for the tests of the reordering and parallel ops (test-only; header-only so the
// library glob never picks it up).
#ifndef INPUTPIPE_OPS_REORDER_TEST_UTIL_H_
#define INPUTPIPE_OPS_REORDER_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <random>
#include <thread>

#include "core/op_skeleton.h"
#include "inputpipe/ops.h"
#include "testing/exactness.h"

namespace inputpipe::reorder_test {

inline std::vector<int64_t> Ints(const std::vector<Element>& elements) {
  std::vector<int64_t> out;
  for (const auto& e : elements) out.push_back(e.tensor().scalar<int64_t>());
  return out;
}

// For each k of `breakpoints`: an iterator of make() that took k elements and saved restores
// into a fresh iterator of make() that yields the rest of `full` (its whole run, every epoch).
inline void ExpectRestoresAt(const std::function<DatasetPtr()>& make,
                             const std::vector<int64_t>& full,
                             std::initializer_list<int64_t> breakpoints) {
  for (int64_t k : breakpoints) {
    auto it = make()->MakeIterator();
    testing::CollectFrom(*it, k);
    auto restored = make()->MakeIterator();
    restored->Restore(it->Save());
    EXPECT_EQ(Ints(testing::CollectFrom(*restored)),
              std::vector<int64_t>(full.begin() + k, full.end()))
        << "restored after " << k;
  }
}

inline std::vector<int64_t> Iota(int64_t n, int64_t start = 0) {
  std::vector<int64_t> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = start + i;
  return v;
}

inline std::vector<int64_t> Sorted(std::vector<int64_t> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// Busy work of about `micros` microseconds (no sleep: a C++ fn that keeps a core busy).
inline void Spin(int micros) {
  auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(micros);
  while (std::chrono::steady_clock::now() < until) {
  }
}

inline MapFn SlowSquare(int micros) {
  return [micros](const Element& e) {
    Spin(micros);
    int64_t v = e.tensor().scalar<int64_t>();
    return Element(Tensor::Scalar<int64_t>(v * v));
  };
}

// 0, 1, ..., n-1 through an iterator that is not random-access (stands for a filter or a file
// reader): state = the next value; counts the elements read, for replay measurements.
class SequentialRangeIterator;

class SequentialRange : public OpDataset<SequentialRange, SequentialRangeIterator> {
 public:
  explicit SequentialRange(int64_t n, std::shared_ptr<std::atomic<int64_t>> reads = nullptr)
      : n(n), reads_(reads ? reads : std::make_shared<std::atomic<int64_t>>(0)) {}
  std::string op_name() const override { return "sequential_range"; }
  std::string params() const override { return "n=" + std::to_string(n); }
  int64_t Cardinality() const override { return n; }
  int64_t reads() const { return reads_->load(); }
  void CountRead() const { reads_->fetch_add(1); }

  const int64_t n;

 private:
  std::shared_ptr<std::atomic<int64_t>> reads_;
};

class SequentialRangeIterator : public DatasetIterator<SequentialRange> {
 public:
  using DatasetIterator::DatasetIterator;

 protected:
  std::optional<Element> GetNextInternal() override {
    if (next_ >= dataset().n) return std::nullopt;
    dataset().CountRead();
    return Element(Tensor::Scalar<int64_t>(next_++));
  }
  void SaveInternal(StateWriter& w) override { w.WriteInt("next", next_); }
  void RestoreInternal(StateReader& r) override { next_ = ReadCounter(r, "next", dataset().n); }

 private:
  int64_t next_ = 0;
};

inline std::shared_ptr<SequentialRange> Seq(int64_t n) {
  return std::make_shared<SequentialRange>(n);
}

// For ops whose order is not reproducible (deterministic=false): runs k elements, saves,
// restores into a fresh iterator and checks that what came before the save plus what comes
// after the restore is the whole expected multiset, each element exactly once.
inline void ExpectExactlyOnceAcrossSave(const DatasetPtr& ds,
                                        const std::vector<int64_t>& expected_multiset, int64_t k) {
  auto it = ds->MakeIterator();
  std::vector<int64_t> seen = Ints(testing::CollectFrom(*it, k));
  std::string state = it->Save();
  auto restored = ds->MakeIterator();
  restored->Restore(state);
  for (int64_t v : Ints(testing::CollectFrom(*restored))) seen.push_back(v);
  ASSERT_EQ(Sorted(seen), Sorted(expected_multiset)) << "saved after " << k << " elements";
}

// A state saved by `saved` (after one element) is refused by `other`: their fingerprints differ.
inline void ExpectStateRefusedBy(const DatasetPtr& saved, const DatasetPtr& other) {
  auto it = saved->MakeIterator();
  it->GetNext();
  std::string state = it->Save();
  EXPECT_THROW(other->MakeIterator()->Restore(state), PipelineMismatchError)
      << saved->Signature() << " restored into " << other->Signature();
}

// Saves after every element of a run (thousands of saves while the producers are busy),
// and for every `check_every`-th save restores into a fresh iterator and checks the rest of
// the stream: identical (deterministic) or the exact complement (not).
inline void StressSaves(const DatasetPtr& ds, const std::vector<int64_t>& expected,
                        bool deterministic, int check_every, uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto it = ds->MakeIterator();
  std::vector<int64_t> seen;
  int saves = 0, checks = 0;
  while (true) {
    // Save at a random moment: sometimes right after an element, sometimes after a pause that
    // lets the producers fill their buffers.
    if (rng() % 4 == 0) std::this_thread::sleep_for(std::chrono::microseconds(rng() % 50));
    std::string state = it->Save();
    ++saves;
    if (rng() % check_every == 0) {
      ++checks;
      auto restored = ds->MakeIterator();
      restored->Restore(state);
      std::vector<int64_t> rest = Ints(testing::CollectFrom(*restored));
      if (deterministic) {
        ASSERT_EQ(rest, std::vector<int64_t>(expected.begin() + seen.size(), expected.end()))
            << "save #" << saves << " after " << seen.size() << " elements";
      } else {
        std::vector<int64_t> all = seen;
        all.insert(all.end(), rest.begin(), rest.end());
        ASSERT_EQ(Sorted(all), Sorted(expected)) << "save #" << saves << " after " << seen.size();
      }
    }
    std::optional<Element> e = it->GetNext();
    if (!e) break;
    seen.push_back(e->tensor().scalar<int64_t>());
  }
  if (deterministic) {
    EXPECT_EQ(seen, expected);
  } else {
    EXPECT_EQ(Sorted(seen), Sorted(expected));
  }
  EXPECT_GT(checks, 0);
}

}  // namespace inputpipe::reorder_test

#endif  // INPUTPIPE_OPS_REORDER_TEST_UTIL_H_
