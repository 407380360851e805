// Small helpers shared by the op tests: building int64 elements and reading streams back as
// plain vectors, so expectations read like tf.data's documented outputs.
#ifndef INPUTPIPE_OPS_OPS_TEST_UTIL_H_
#define INPUTPIPE_OPS_OPS_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "inputpipe/ops.h"
#include "testing/exactness.h"
#include "testing/expect_error.h"

namespace inputpipe::testing {

inline Tensor I64s(std::vector<int64_t> values) { return Tensor::FromVector<int64_t>(values); }
inline Tensor I64(int64_t value) { return Tensor::Scalar<int64_t>(value); }

inline std::vector<int64_t> ValuesOf(const Tensor& t) {
  return std::vector<int64_t>(t.data<int64_t>(), t.data<int64_t>() + t.num_elements());
}
// The stream of an int64-scalar dataset.
inline std::vector<int64_t> Ints(const DatasetPtr& ds, int64_t limit = -1) {
  std::vector<int64_t> out;
  for (const auto& e : Collect(ds, limit)) out.push_back(e.tensor().scalar<int64_t>());
  return out;
}
// The stream of an int64-vector dataset (nested datasets of scalars are read as vectors too).
inline std::vector<std::vector<int64_t>> Rows(const DatasetPtr& ds, int64_t limit = -1) {
  std::vector<std::vector<int64_t>> out;
  for (const auto& e : Collect(ds, limit)) {
    if (e.is_tensor()) {
      out.push_back(ValuesOf(e.tensor()));
    } else {  // a materialised nested dataset: a tuple of scalars
      std::vector<int64_t> row;
      for (const auto& item : e.children()) row.push_back(item.tensor().scalar<int64_t>());
      out.push_back(row);
    }
  }
  return out;
}
// x -> x * x on int64 scalars.
inline Element SquareFn(const Element& e) {
  int64_t v = e.tensor().scalar<int64_t>();
  return I64(v * v);
}
inline bool IsEven(const Element& e) { return e.tensor().scalar<int64_t>() % 2 == 0; }

// Asserts that a random-access dataset's Get(i) is the i-th element of its iteration.
inline void ExpectGetMatchesIteration(const DatasetPtr& ds, int64_t limit = 200) {
  ASSERT_TRUE(ds->IsRandomAccess()) << ds->WhyNotRandomAccess();
  std::vector<Element> stream = Collect(ds, limit);
  if (ds->Cardinality() >= 0) EXPECT_EQ(static_cast<int64_t>(stream.size()), ds->Cardinality());
  for (size_t i = 0; i < stream.size(); ++i) {
    ASSERT_TRUE(Materialize(ds->Get(static_cast<int64_t>(i))) == stream[i])
        << ds->Signature() << ": Get(" << i << ") differs from element " << i;
  }
}

// Asserts that `fn` throws InvalidArgumentError whose message contains every `needles`.
template <typename Fn>
void ExpectInvalidArgument(Fn fn, std::vector<std::string> needles) {
  ExpectError<InvalidArgumentError>(fn, needles);
}

// A map function whose calls record how many of them ran at once (`most`): each sleeps 2 ms,
// so that calls on other threads overlap it.
struct CallOverlap {
  std::atomic<int64_t> now{0}, most{0}, calls{0};
  MapFn fn() {
    return [this](const Element& e) {
      const int64_t in = now.fetch_add(1) + 1;
      int64_t seen = most.load();
      while (in > seen && !most.compare_exchange_weak(seen, in)) {
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      now.fetch_sub(1);
      calls.fetch_add(1);
      return e;
    };
  }
};

}  // namespace inputpipe::testing

#endif  // INPUTPIPE_OPS_OPS_TEST_UTIL_H_
