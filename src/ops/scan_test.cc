// scan: tf.data's example, structured states, exact resumption with the scan state in the saved
// state, the checks on the state's structure, and corrupt saved states.
#include <gtest/gtest.h>

#include "core/element_codec.h"
#include "ops/ops_test_util.h"

namespace inputpipe {
namespace {

using namespace testing;  // NOLINT: test helpers

// The running sum: state + x, emitted as the output too.
std::pair<Element, Element> RunningSum(const Element& state, const Element& e) {
  Element next = I64(state.tensor().scalar<int64_t>() + e.tensor().scalar<int64_t>());
  return {next, next};
}

TEST(ScanTest, MatchesTfDataExample) {
  // tf.data: range(10).scan(initial_state=0, scan_func=lambda s, x: (s + x, s + x))
  EXPECT_EQ(Ints(Scan(Range(0, 10), I64(0), RunningSum)),
            (std::vector<int64_t>{0, 1, 3, 6, 10, 15, 21, 28, 36, 45}));
  EXPECT_EQ(Scan(Range(0, 10), I64(0), RunningSum)->Cardinality(), 10);
}

// A structured state: (count, the last string seen), output a dict.
std::pair<Element, Element> CountAndLast(const Element& state, const Element& e) {
  int64_t count = state[0].tensor().scalar<int64_t>() + 1;
  Element next = Element::Tuple({I64(count), Tensor::String(std::to_string(count * 7))});
  return {next, Element::Dict({{"count", I64(count)}, {"x", e}})};
}

TEST(ScanTest, ResumesExactlyWithTheScanStateInTheSavedState) {
  ExpectExactResume(Scan(Range(0, 40), I64(0), RunningSum));
  ExpectExactResume(Scan(Range(0, 40), Element::Tuple({I64(0), Tensor::String("")}), CountAndLast));
  // Under repeat, the scan restarts from its initial state every epoch.
  ExpectExactResume(Repeat(Scan(Range(0, 5), I64(100), RunningSum), 3));
}

TEST(ScanTest, TheInitialStateIsIdentity) {
  auto it = Scan(Range(0, 10), I64(0), RunningSum)->MakeIterator();
  it->GetNext();
  auto other = Scan(Range(0, 10), I64(1), RunningSum)->MakeIterator();
  EXPECT_THROW(other->Restore(it->Save()), PipelineMismatchError);
}

TEST(ScanTest, TheStateMustKeepItsStructureAndDtype) {
  DatasetPtr ds = Scan(Range(0, 3), I64(0), [](const Element&, const Element& e) {
    return std::pair<Element, Element>(Element(Tensor::Scalar(1.5)), e);
  });
  ExpectInvalidArgument([&] { Collect(ds); }, {"scan", "float64[]", "int64[]"});
  ExpectInvalidArgument([] { Scan(Range(0, 3), Element::FromDataset(Range(0, 2)), RunningSum); },
                        {"scan", "initial_state", "dataset"});
}

TEST(ScanTest, ASavedStateOfAnotherStructureIsDataLoss) {
  // allow_changes restores past the fingerprint (another initial state); the saved scan state
  // is then checked against the new initial state's structure.
  auto it = Scan(Range(0, 10), I64(0), RunningSum)->MakeIterator();
  it->GetNext();
  std::string state = it->Save();
  auto tuple = Scan(Range(0, 10), Element::Tuple({I64(0), Tensor::String("")}), CountAndLast);
  std::vector<std::string> warnings;
  ExpectError<DataLossError>(
      [&] { tuple->MakeIterator()->Restore(state, {.allow_changes = true}, &warnings); },
      {"scan", "int64[]", "does not match"});
  // The same initial state under allow_changes restores and continues.
  auto same = Scan(Range(0, 10), I64(5), RunningSum)->MakeIterator();
  same->Restore(state, {.allow_changes = true}, &warnings);
  EXPECT_EQ(same->GetNext()->tensor().scalar<int64_t>(), 1);
}

TEST(ElementCodecTest, RejectsCorruptBytes) {
  std::string good = EncodeElement(Element::Tuple({I64s({1, 2}), Tensor::String("ab")}), "t");
  for (size_t n = 0; n < good.size(); ++n) {
    EXPECT_THROW(DecodeElement(good.substr(0, n), "t"), DataLossError) << "truncated to " << n;
  }
  EXPECT_THROW(DecodeElement(good + "x", "t"), DataLossError);
  EXPECT_THROW(DecodeElement(std::string("\x07", 1), "t"), DataLossError);  // no such kind
  // A tensor of 2^40 values in a few bytes: refused before anything is allocated.
  ExpectError<DataLossError>(
      [] { DecodeElement(std::string("\x00\x05\x02\x80\x80\x80\x80\x80\x20\x01\x00", 11), "t"); },
      {"corrupt state", "t", "shape"});
}

TEST(ElementCodecTest, RoundTripsTensorsTuplesAndDicts) {
  Element e =
      Element::Tuple({I64s({1, 2, 3}),
                      Element::Dict({{"s", Element(Tensor::FromStrings({"a", "", "b\0c"}, {3}))},
                                     {"f", Element(Tensor::FromVector<float>({}, {0, 2}))}}),
                      Element(Tensor::Scalar(true))});
  EXPECT_TRUE(DecodeElement(EncodeElement(e, "t"), "t") == e);
}

}  // namespace
}  // namespace inputpipe
