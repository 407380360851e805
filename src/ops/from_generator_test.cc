// from_generator: a checkpointable generator resumes exactly through get_state/set_state; a
// plain one is external state, named in the error, and restarts from the beginning.
#include <gtest/gtest.h>

#include <memory>

#include "inputpipe/ops.h"
#include "testing/exactness.h"
#include "testing/expect_error.h"

namespace inputpipe {
namespace {

using testing::Collect;
using testing::ExpectExactResume;

// Yields 0, 1, ..., n-1; its state is the next value as decimal text.
Generator Counting(int64_t n, bool checkpointable) {
  auto next_value = std::make_shared<int64_t>(0);
  Generator g;
  g.next = [=]() -> std::optional<Element> {
    if (*next_value >= n) return std::nullopt;
    return Element(Tensor::Scalar<int64_t>((*next_value)++));
  };
  if (checkpointable) {
    g.get_state = [=] { return std::to_string(*next_value); };
    g.set_state = [=](const std::string& s) { *next_value = std::stoll(s); };
  }
  return g;
}

std::vector<int64_t> Ints(const std::vector<Element>& elements) {
  std::vector<int64_t> out;
  for (const auto& e : elements) out.push_back(e.tensor().scalar<int64_t>());
  return out;
}

TEST(FromGeneratorTest, YieldsTheGeneratorsElementsOncePerIterator) {
  auto ds = FromGenerator([] { return Counting(4, true); }, "count");
  EXPECT_EQ(Ints(Collect(ds)), (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(Ints(Collect(ds)), (std::vector<int64_t>{0, 1, 2, 3}));  // a fresh generator each time
  EXPECT_EQ(ds->Cardinality(), kUnknownCardinality);
  EXPECT_EQ(ds->Signature(), "from_generator(fn=count)");
}

TEST(FromGeneratorTest, CheckpointableGeneratorResumesExactly) {
  ExpectExactResume(FromGenerator([] { return Counting(30, true); }, "count"));
  ExpectExactResume(Batch(FromGenerator([] { return Counting(30, true); }, "count"), 4));
}

TEST(FromGeneratorTest, PlainGeneratorIsExternalState) {
  auto ds = FromGenerator([] { return Counting(10, false); }, "plain");
  auto it = ds->MakeIterator();
  it->GetNext();
  testing::ExpectError<ExternalStateError>([&] { it->Save(); }, {"from_generator(fn=plain)"});
  // Under 'ignore' the rest is saved and a restore starts the generator from the beginning.
  std::string state = it->Save(ExternalStatePolicy::kIgnore);
  auto restored = ds->MakeIterator();
  restored->Restore(state);
  EXPECT_EQ(restored->GetNext()->tensor().scalar<int64_t>(), 0);
  // A save before the first element already knows the generator is not checkpointable.
  EXPECT_THROW(ds->MakeIterator()->Save(), ExternalStateError);
}

TEST(FromGeneratorTest, ExhaustedGeneratorStaysExhaustedAfterRestore) {
  int made = 0;
  auto ds = FromGenerator(
      [&made] {
        ++made;
        return Counting(2, true);
      },
      "count");
  auto it = ds->MakeIterator();
  while (it->GetNext()) {
  }
  std::string state = it->Save();
  auto restored = ds->MakeIterator();
  restored->Restore(state);
  EXPECT_EQ(restored->GetNext(), std::nullopt);
  EXPECT_EQ(made, 1);  // the restored iterator never needed a generator
}

TEST(FromGeneratorTest, BadGenerators) {
  EXPECT_THROW(FromGenerator(nullptr), InvalidArgumentError);
  auto half = FromGenerator(
      [] {
        Generator g = Counting(3, true);
        g.set_state = nullptr;
        return g;
      },
      "half");
  EXPECT_THROW(half->MakeIterator()->GetNext(), InvalidArgumentError);
  auto nonext = FromGenerator([] { return Generator{}; }, "empty");
  EXPECT_THROW(nonext->MakeIterator()->GetNext(), InvalidArgumentError);
}

}  // namespace
}  // namespace inputpipe
