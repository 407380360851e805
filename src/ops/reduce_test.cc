// reduce and get_single_element: tf.data's examples and their errors.
#include <gtest/gtest.h>

#include "ops/ops_test_util.h"

namespace inputpipe {
namespace {

using namespace testing;  // NOLINT: test helpers

Element Add(const Element& state, const Element& e) {
  return I64(state.tensor().scalar<int64_t>() + e.tensor().scalar<int64_t>());
}

TEST(ReduceTest, MatchesTfDataExamples) {
  // tf.data: range(5).reduce(0, lambda s, x: s + x) -> 10; an empty dataset gives the initial.
  EXPECT_EQ(Reduce(Range(0, 5), I64(0), Add).tensor().scalar<int64_t>(), 10);
  EXPECT_EQ(Reduce(Range(0, 0), I64(7), Add).tensor().scalar<int64_t>(), 7);
  // A structured state: (count, sum).
  Element pair =
      Reduce(Range(1, 4), Element::Tuple({I64(0), I64(0)}), [](const Element& s, const Element& e) {
        return Element::Tuple({I64(s[0].tensor().scalar<int64_t>() + 1), Add(s[1], e)});
      });
  EXPECT_EQ(pair[0].tensor().scalar<int64_t>(), 3);
  EXPECT_EQ(pair[1].tensor().scalar<int64_t>(), 6);
}

TEST(ReduceTest, Errors) {
  ExpectInvalidArgument([] { Reduce(Counter(), I64(0), Add); }, {"reduce", "infinite"});
  ExpectInvalidArgument(
      [] {
        Reduce(Range(0, 3), I64(0),
               [](const Element&, const Element&) { return Element(Tensor::Scalar(1.0f)); });
      },
      {"reduce", "float32[]", "int64[]"});
}

TEST(GetSingleElementTest, OneElementOrAnError) {
  EXPECT_EQ(GetSingleElement(FromTensors(I64(42))).tensor().scalar<int64_t>(), 42);
  EXPECT_EQ(
      GetSingleElement(
          Filter(Range(0, 10), [](const Element& e) { return e.tensor().scalar<int64_t>() == 6; }))
          .tensor()
          .scalar<int64_t>(),
      6);
  ExpectInvalidArgument([] { GetSingleElement(Range(0, 0)); }, {"get_single_element", "empty"});
  ExpectInvalidArgument([] { GetSingleElement(Range(0, 2)); },
                        {"get_single_element", "more than one"});
}

}  // namespace
}  // namespace inputpipe
