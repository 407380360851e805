// Range, map and batch: behaviour as tf.data documents it, and exact resumption.
#include <gtest/gtest.h>

#include "inputpipe/ops.h"
#include "testing/exactness.h"
#include "testing/expect_error.h"

namespace inputpipe {
namespace {

using testing::Collect;
using testing::ExpectExactResume;

std::vector<int64_t> Ints(const std::vector<Element>& elements) {
  std::vector<int64_t> out;
  for (const auto& e : elements) out.push_back(e.tensor().scalar<int64_t>());
  return out;
}

Element Square(const Element& e) {
  int64_t v = e.tensor().scalar<int64_t>();
  return Tensor::Scalar<int64_t>(v * v);
}

TEST(RangeTest, MatchesTfDataExamples) {
  EXPECT_EQ(Ints(Collect(Range(0, 5))), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(Ints(Collect(Range(2, 5))), (std::vector<int64_t>{2, 3, 4}));
  EXPECT_EQ(Ints(Collect(Range(1, 5, 2))), (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(Ints(Collect(Range(1, 5, -2))), (std::vector<int64_t>{}));
  EXPECT_EQ(Ints(Collect(Range(5, 1, -2))), (std::vector<int64_t>{5, 3}));
  EXPECT_EQ(Range(5, 1, -2)->Cardinality(), 2);
  EXPECT_EQ(Range(0, 10, 3)->Cardinality(), 4);
  EXPECT_THROW(Range(0, 5, 0), InvalidArgumentError);
}

TEST(RangeTest, ResumesExactly) { ExpectExactResume(Range(3, 40, 2)); }

// At int64's limits the count and the values are computed without overflow: the count was
// stop - start + step - 1 in int64, which wrapped to -1 (infinite: the iteration never ended),
// to 0 (empty) or to -2 (unknown). A range of more than 2**63 - 1 elements is refused.
TEST(RangeTest, CountsAndValuesAtTheInt64Limits) {
  constexpr int64_t kMax = INT64_MAX, kMin = INT64_MIN, k62 = int64_t{1} << 62;
  // ASSERT the counts first: with a wrapped one, collecting would never end.
  ASSERT_EQ(Range(0, kMax, k62)->Cardinality(), 2);
  ASSERT_EQ(Range(kMin, kMax, k62)->Cardinality(), 4);
  ASSERT_EQ(Range(kMax, kMin, -k62)->Cardinality(), 4);
  ASSERT_EQ(Range(-10, kMax, k62 / 2)->Cardinality(), 5);
  ASSERT_EQ(Range(5, kMin, kMin)->Cardinality(), 2);
  ASSERT_EQ(Range(0, kMin, kMin)->Cardinality(), 1);
  EXPECT_EQ(Ints(Collect(Range(0, kMax, k62))), (std::vector<int64_t>{0, k62}));
  EXPECT_EQ(Ints(Collect(Range(kMin, kMax, k62))), (std::vector<int64_t>{kMin, -k62, 0, k62}));
  EXPECT_EQ(Ints(Collect(Range(kMax, kMin, -k62))),
            (std::vector<int64_t>{kMax, k62 - 1, -1, -k62 - 1}));
  EXPECT_EQ(Ints(Collect(Range(-10, kMax, k62 / 2))).back(), kMax - 9);  // -10 + 4 * 2**61
  EXPECT_EQ(Ints(Collect(Range(5, kMin, kMin))), (std::vector<int64_t>{5, 5 + kMin}));
  EXPECT_EQ(Ints(Collect(Range(0, kMin, kMin))), (std::vector<int64_t>{0}));
  EXPECT_EQ(Range(kMax - 1, kMax)->Cardinality(), 1);
  EXPECT_EQ(Range(0, kMax)->Cardinality(), kMax);
  EXPECT_EQ(Range(kMin + 1, 0)->Cardinality(), kMax);
  testing::ExpectError<InvalidArgumentError>([] { Range(kMin, kMax); },
                                             {"range", "more than 2**63 - 1 elements"});
  testing::ExpectError<InvalidArgumentError>([] { Range(kMin, kMax, 2); }, {"range"});
  testing::ExpectError<InvalidArgumentError>([] { Range(kMax, kMin, -1); }, {"range"});
}

TEST(MapTest, AppliesFunction) {
  EXPECT_EQ(Ints(Collect(Map(Range(0, 4), Square))), (std::vector<int64_t>{0, 1, 4, 9}));
  EXPECT_TRUE(Map(Range(0, 4), Square)->IsRandomAccess());
  EXPECT_EQ(Map(Range(0, 4), Square)->Get(3).tensor().scalar<int64_t>(), 9);
}

TEST(MapTest, ResumesExactly) { ExpectExactResume(Map(Range(0, 30), Square, {.name = "square"})); }

TEST(MapTest, StatefulFunctionIsExternalState) {
  auto ds = Map(Range(0, 10), Square, {.name = "counter", .stateful = true});
  EXPECT_FALSE(ds->IsRandomAccess());
  auto it = ds->MakeIterator();
  it->GetNext();
  testing::ExpectError<ExternalStateError>([&] { it->Save(); }, {"map(fn=counter)"});
  std::vector<std::string> warnings;
  std::string state = it->Save(ExternalStatePolicy::kWarn, &warnings);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("counter"), std::string::npos);
  warnings.clear();
  it->Save(ExternalStatePolicy::kIgnore, &warnings);
  EXPECT_TRUE(warnings.empty());
  auto restored = ds->MakeIterator();
  restored->Restore(state);
  EXPECT_EQ(restored->GetNext()->tensor().scalar<int64_t>(), 1);
}

TEST(BatchTest, BatchesAndDropsRemainder) {
  auto batches = Collect(Batch(Range(0, 8), 3));
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[0].tensor(), Tensor::FromVector<int64_t>({0, 1, 2}));
  EXPECT_EQ(batches[2].tensor(), Tensor::FromVector<int64_t>({6, 7}));
  EXPECT_EQ(Collect(Batch(Range(0, 8), 3, true)).size(), 2u);
  EXPECT_EQ(Batch(Range(0, 8), 3)->Cardinality(), 3);
  EXPECT_EQ(Batch(Range(0, 8), 3, true)->Cardinality(), 2);
  EXPECT_THROW(Batch(Range(0, 8), 0), InvalidArgumentError);
}

TEST(BatchTest, ResumesExactly) {
  ExpectExactResume(Batch(Range(0, 50), 4));
  ExpectExactResume(Batch(Map(Range(0, 50), Square), 7, true));
}

TEST(RestoreTest, RejectsADifferentPipelineNamingTheDifference) {
  auto it = Batch(Range(0, 50), 4)->MakeIterator();
  it->GetNext();
  std::string state = it->Save();
  auto other = Batch(Range(0, 50), 5)->MakeIterator();
  try {
    other->Restore(state);
    FAIL() << "expected PipelineMismatchError";
  } catch (const PipelineMismatchError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("batch_size=4"), std::string::npos) << msg;
    EXPECT_NE(msg.find("batch_size=5"), std::string::npos) << msg;
  }
}

TEST(RestoreTest, RequiresAFreshIterator) {
  auto ds = Range(0, 5);
  auto it = ds->MakeIterator();
  std::string state = it->Save();
  it->GetNext();
  EXPECT_THROW(it->Restore(state), FailedPreconditionError);
}

TEST(RestoreTest, CorruptOrTruncatedStateIsDataLoss) {
  auto ds = Batch(Map(Range(0, 50), Square), 4);
  auto it = ds->MakeIterator();
  it->GetNext();
  std::string state = it->Save();
  for (size_t cut = 0; cut < state.size(); ++cut) {
    EXPECT_THROW(ds->MakeIterator()->Restore(state.substr(0, cut)), DataLossError) << cut;
  }
  for (size_t byte = 0; byte < state.size(); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = state;
      bad[byte] ^= static_cast<char>(1 << bit);
      EXPECT_THROW(ds->MakeIterator()->Restore(bad), DataLossError) << byte << ":" << bit;
    }
  }
}

}  // namespace
}  // namespace inputpipe
