// Cross-version state compatibility: states saved by an earlier version of the code must still
// restore, and continue exactly where they were saved.
//
// testdata/v1/ holds the bytes of Iterator::Save() written by the code of the first version of
// the state format, for every pipeline of Cases() at each of its breakpoints, one file each:
// <case>-<step>.state (step "end": saved after the last element). The check rebuilds each
// pipeline with today's code, restores each fixture into a fresh iterator and compares the rest
// of the stream, element by element, with the tail of an uninterrupted run from the start.
// A failure here means that a change broke old checkpoints (an op's name, params, state keys or
// the byte format): fix the change, do not regenerate the fixtures.
//
// The fixtures are written by the same binary (only when a new case is added, or for a new
// format version in a new directory):
//
//   INPUTPIPE_WRITE_STATE_FIXTURES=src/state/testdata/v1 \
//     ./build/cpp/inputpipe_tests --gtest_filter='StateCompatFixtures.Write'
//
// Every pipeline is deterministic (explicit seeds, deterministic parallelism, explicit thread
// counts) and reads no file, so that its fingerprint depends on nothing but the code.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "inputpipe/readers.h"
#include "ops/ops_test_util.h"

namespace inputpipe {
namespace {

using namespace testing;  // NOLINT: test helpers

// A step of kEnd: the state saved after the stream ended.
constexpr int64_t kEnd = -1;

struct CompatCase {
  std::string name;
  std::function<DatasetPtr()> make;
  std::vector<int64_t> steps;
  // Elements compared after a restore: infinite streams are compared over this many.
  int64_t tail = 80;
};
// gtest prints a failing case by its name, not its bytes.
void PrintTo(const CompatCase& c, std::ostream* os) { *os << c.name; }

// ---- The pipelines ------------------------------------------------------------------------
// Never change a case's pipeline or steps: its fixtures were saved by it. Add new cases (and
// write their fixtures) instead.

Element ModFn(const Element& e, int64_t m) { return I64(e.tensor().scalar<int64_t>() % m); }

// x -> a vector of x % 4 + 1 copies of x: rows of varying length for padded_batch.
Element RaggedRow(const Element& e) {
  int64_t x = e.tensor().scalar<int64_t>();
  return I64s(std::vector<int64_t>(x % 4 + 1, x));
}

// Yields 0, 1, ..., n-1; its state is the next value as decimal text.
Generator Counting(int64_t n) {
  auto next_value = std::make_shared<int64_t>(0);
  Generator g;
  g.next = [=]() -> std::optional<Element> {
    if (*next_value >= n) return std::nullopt;
    return Element(I64((*next_value)++));
  };
  g.get_state = [=] { return std::to_string(*next_value); };
  g.set_state = [=](const std::string& s) { *next_value = std::stoll(s); };
  return g;
}

DatasetPtr Repeated(const Element& e) {
  return Repeat(FromTensors(e), e.tensor().scalar<int64_t>());
}

const std::vector<CompatCase>& Cases() {
  static const auto* cases = new std::vector<CompatCase>{
      {"range", [] { return Range(3, 90, 4); }, {0, 1, 7, kEnd}},
      {"from_tensor_slices",
       [] {
         std::vector<std::string> words;
         for (int i = 0; i < 12; ++i) words.push_back(std::string(i % 5, 'a' + i));
         std::vector<double> grid;
         for (int i = 0; i < 36; ++i) grid.push_back(i * 0.25);
         return FromTensorSlices(Element::Dict(
             {{"id", I64s({10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21})},
              {"word", Tensor::FromStrings(words, {12})},
              {"grid", Tensor::FromVector<double>(grid, {12, 3})}}));
       },
       {0, 4, 11, kEnd}},
      {"from_tensors_repeat", [] { return Repeat(FromTensors(I64s({1, 2, 3})), 6); }, {0, 2, kEnd}},
      {"counter_take", [] { return Take(Counter(5, 3), 40); }, {0, 9, kEnd}},
      {"from_generator", [] { return FromGenerator([] { return Counting(25); }, "count"); },
       {0, 6, kEnd}},
      {"map", [] { return Map(Range(0, 40), SquareFn, {.name = "square"}); }, {0, 5, kEnd}},
      {"filter", [] { return Filter(Range(0, 50), IsEven, {.name = "even"}); }, {0, 3, 24, kEnd}},
      {"batch", [] { return Batch(Range(0, 23), 4); }, {0, 2, 5, kEnd}},
      {"batch_drop_remainder", [] { return Batch(Range(0, 23), 5, true); }, {0, 3, kEnd}},
      {"padded_batch",
       [] {
         return PaddedBatch(Map(Range(0, 22), RaggedRow, {.name = "ragged"}), 3, {{-1}}, {I64(-1)});
       },
       {0, 2, kEnd}},
      {"unbatch", [] { return Unbatch(Batch(Range(0, 31), 6)); }, {0, 1, 6, 13, kEnd}},
      {"repeat", [] { return Repeat(Range(0, 7), 3); }, {0, 6, 7, 15, kEnd}},
      {"repeat_forever", [] { return Repeat(Filter(Range(0, 9), IsEven, {.name = "even"})); },
       {0, 4, 23}, 40},
      {"take_skip", [] { return Take(Skip(Range(0, 100), 13), 40); }, {0, 1, 39, kEnd}},
      {"shard", [] { return Shard(Map(Range(0, 50), SquareFn, {.name = "sq"}), 3, 1); },
       {0, 4, kEnd}},
      {"enumerate", [] { return Enumerate(Filter(Range(10, 40), IsEven, {.name = "even"}), 5); },
       {0, 3, kEnd}},
      {"concatenate",
       [] { return Concatenate(Range(0, 10), Filter(Range(10, 30), IsEven, {.name = "even"})); },
       {0, 9, 10, 14, kEnd}},
      {"zip",
       [] {
         return Zip({Range(0, 20), Map(Range(0, 25), SquareFn, {.name = "sq"}),
                     Filter(Range(0, 60), IsEven, {.name = "even"})});
       },
       {0, 7, kEnd}},
      {"zip_dict", [] { return Zip({Range(0, 12), Range(100, 130)}, {"a", "b"}); }, {0, 5, kEnd}},
      {"flat_map",
       [] {
         return FlatMap(Range(1, 7), [](const Element& e) {
           int64_t x = e.tensor().scalar<int64_t>();
           return Take(Counter(10 * x), x);
         }, {.name = "count_from_10x"});
       },
       {0, 1, 4, 12, kEnd}},
      {"window", [] { return Window(Range(0, 20), 4, 3, 2); }, {0, 2, kEnd}},
      {"window_flat_map",
       [] {
         return FlatMap(Window(Range(0, 30), 5, 2, 1, true),
                        [](const Element& w) { return Batch(w.dataset(), 5); }, {.name = "batch5"});
       },
       {0, 3, kEnd}},
      {"global_shuffle",
       [] { return Repeat(GlobalShuffle(Map(Range(0, 30), SquareFn, {.name = "sq"}), 7), 3); },
       {0, 5, 30, 47, kEnd}},
      {"global_shuffle_fixed_order",
       [] { return Repeat(GlobalShuffle(Range(0, 25), 9, /*reshuffle_each_iteration=*/false), 2); },
       {0, 26, kEnd}},
      {"shuffle", [] { return Repeat(Shuffle(Range(0, 50), 8, 11), 2); }, {0, 1, 9, 55, kEnd}},
      {"prefetch", [] { return Prefetch(Map(Range(0, 40), SquareFn, {.name = "sq"}), 4); },
       {0, 3, 17, kEnd}},
      {"parallel_map",
       [] { return Map(Range(0, 60), SquareFn, {.name = "sq"}, /*num_parallel_calls=*/3); },
       {0, 2, 31, kEnd}},
      {"interleave",
       [] { return Interleave(Range(1, 7), Repeated, 2, 2, 0, true, {.name = "repeated"}); },
       {0, 3, 8, kEnd}},
      {"parallel_interleave",
       [] { return Interleave(Range(1, 7), Repeated, 3, 1, 3, true, {.name = "repeated"}); },
       {0, 4, 11, kEnd}},
      {"sample_from_datasets",
       [] {
         return SampleFromDatasets({Range(0, 30), Range(100, 120), Range(200, 205)},
                                   {0.5, 0.3, 0.2}, 5);
       },
       {0, 6, 25, kEnd}},
      {"sample_from_datasets_stop_on_empty",
       [] { return SampleFromDatasets({Range(0, 10), Range(100, 140)}, {}, 13, true); },
       {0, 8, kEnd}},
      {"choose_from_datasets",
       [] {
         return ChooseFromDatasets({Range(0, 10), Range(100, 110), Range(200, 203)},
                                   FromTensorSlices(I64s({0, 1, 1, 2, 0, 2, 2, 2, 1, 0, 0, 1})),
                                   /*stop_on_empty_dataset=*/false);
       },
       {0, 3, 9, kEnd}},
      {"random", [] { return RandomDataset(42); }, {0, 5, 17}, 30},
      {"group_by_window",
       [] {
         return GroupByWindow(
             Range(0, 40), [](const Element& e) { return e.tensor().scalar<int64_t>() % 3; },
             [](int64_t, DatasetPtr window) { return Batch(window, 4); }, 4, {.name = "mod3"});
       },
       {0, 2, 7, kEnd}},
      {"group_by_window_size_fn",
       [] {
         return GroupByWindow(
             Range(0, 45), [](const Element& e) { return e.tensor().scalar<int64_t>() % 4; },
             [](int64_t, DatasetPtr window) { return Batch(window, 10); },
             [](int64_t key) { return key + 2; }, {.name = "mod4"});
       },
       {0, 3, 9, kEnd}},
      {"unique",
       [] { return Unique(Map(Range(0, 60), [](const Element& e) { return ModFn(e, 17); },
                              {.name = "mod17"})); },
       {0, 5, 16, kEnd}},
      {"ignore_errors",
       [] {
         return IgnoreErrors(Map(Range(0, 30),
                                 [](const Element& e) {
                                   if (e.tensor().scalar<int64_t>() % 7 == 3) {
                                     throw InvalidArgumentError("bad element");
                                   }
                                   return e;
                                 },
                                 {.name = "fail_at_3_mod_7"}));
       },
       {0, 3, 4, 20, kEnd}},
      {"chain",
       [] {
         return Take(Repeat(Batch(Filter(Map(Range(0, 20), SquareFn, {.name = "square"}), IsEven,
                                         {.name = "even"}),
                                  3),
                           3),
                     8);
       },
       {0, 3, 4, kEnd}},
      {"chain_parallel",
       [] {
         auto ds = Shuffle(Map(Range(0, 80), SquareFn, {.name = "sq"}, 2), 10, 3);
         return Prefetch(Batch(Enumerate(ds), 6), 2);
       },
       {0, 1, 6, kEnd}},
  };
  return *cases;
}

// ---- Fixtures -----------------------------------------------------------------------------

std::string FixtureName(const CompatCase& c, int64_t step) {
  return c.name + "-" + (step == kEnd ? std::string("end") : std::to_string(step)) + ".state";
}

// src/state/testdata/v1: INPUTPIPE_STATE_TESTDATA, else the source tree the binary was built
// from (a compile definition), else beside this file or above the working directory.
std::filesystem::path FixtureDir() {
  std::vector<std::filesystem::path> candidates;
  if (const char* env = std::getenv("INPUTPIPE_STATE_TESTDATA")) candidates.emplace_back(env);
#ifdef INPUTPIPE_SOURCE_DIR
  candidates.push_back(std::filesystem::path(INPUTPIPE_SOURCE_DIR) / "src/state/testdata/v1");
#endif
  candidates.push_back(std::filesystem::path(__FILE__).parent_path() / "testdata" / "v1");
  std::filesystem::path dir = std::filesystem::current_path();
  for (int i = 0; i < 6; ++i, dir = dir.parent_path()) {
    candidates.push_back(dir / "src" / "state" / "testdata" / "v1");
  }
  for (const auto& c : candidates) {
    if (std::filesystem::is_directory(c)) return c;
  }
  ADD_FAILURE() << "state fixtures not found: src/state/testdata/v1 (set INPUTPIPE_STATE_TESTDATA)";
  return "src/state/testdata/v1";
}

bool ReadBytes(const std::filesystem::path& path, std::string* bytes) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  std::stringstream ss;
  ss << f.rdbuf();
  *bytes = ss.str();
  return true;
}

// The first `step` elements of a fresh iterator of `ds` (all of them for kEnd).
std::unique_ptr<Iterator> Advanced(const DatasetPtr& ds, int64_t step) {
  std::unique_ptr<Iterator> it = ds->MakeIterator();
  for (int64_t i = 0; step == kEnd || i < step; ++i) {
    if (!it->GetNext()) break;
  }
  return it;
}

TEST(StateCompatFixtures, Write) {
  const char* dir = std::getenv("INPUTPIPE_WRITE_STATE_FIXTURES");
  if (dir == nullptr) GTEST_SKIP() << "set INPUTPIPE_WRITE_STATE_FIXTURES=dir to write them";
  std::filesystem::create_directories(dir);
  for (const CompatCase& c : Cases()) {
    for (int64_t step : c.steps) {
      std::string state = Advanced(c.make(), step)->Save();
      std::filesystem::path path = std::filesystem::path(dir) / FixtureName(c, step);
      std::ofstream f(path, std::ios::binary | std::ios::trunc);
      f.write(state.data(), static_cast<std::streamsize>(state.size()));
      ASSERT_TRUE(f.good()) << "cannot write " << path;
    }
  }
}

// Every fixture on disk belongs to a case, so a case cannot be dropped silently.
TEST(StateCompatFixtures, EveryFixtureHasACase) {
  std::set<std::string> expected;
  for (const CompatCase& c : Cases()) {
    for (int64_t step : c.steps) expected.insert(FixtureName(c, step));
  }
  std::filesystem::path dir = FixtureDir();
  int found = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::string name = entry.path().filename().string();
    EXPECT_TRUE(expected.count(name)) << dir / name << " is not the fixture of any case";
    ++found;
  }
  EXPECT_EQ(found, static_cast<int>(expected.size())) << "fixtures in " << dir;
}

class StateCompatTest : public ::testing::TestWithParam<CompatCase> {};

TEST_P(StateCompatTest, OldStateRestoresAndContinuesExactly) {
  const CompatCase& c = GetParam();
  std::filesystem::path dir = FixtureDir();
  int64_t longest = 0;
  for (int64_t step : c.steps) longest = std::max(longest, step);
  const bool finite = c.steps.back() == kEnd;
  // The uninterrupted run: whole for a finite case, else up to the last step plus the tail.
  std::vector<Element> full = Collect(c.make(), finite ? -1 : longest + c.tail);
  ASSERT_FALSE(full.empty()) << c.name;
  for (int64_t step : c.steps) {
    SCOPED_TRACE(FixtureName(c, step));
    std::filesystem::path path = dir / FixtureName(c, step);
    std::string state;
    ASSERT_TRUE(ReadBytes(path, &state))
        << "missing state fixture " << path << " of case '" << c.name
        << "': write it with INPUTPIPE_WRITE_STATE_FIXTURES (see this file's banner)";
    std::unique_ptr<Iterator> it = c.make()->MakeIterator();
    try {
      it->Restore(state);
    } catch (const std::exception& e) {
      FAIL() << "a state saved by the first version no longer restores: " << e.what();
    }
    const size_t start = step == kEnd ? full.size() : static_cast<size_t>(step);
    ASSERT_LE(start, full.size());
    const size_t end = finite ? full.size() : std::min(full.size(), start + c.tail);
    std::vector<Element> rest = CollectFrom(*it, finite ? -1 : static_cast<int64_t>(end - start));
    ASSERT_EQ(rest.size(), end - start) << "length of the resumed stream";
    for (size_t i = 0; i < rest.size(); ++i) {
      ASSERT_TRUE(rest[i] == full[start + i])
          << "element " << start + i << " after the restore differs from the uninterrupted run";
    }
    if (finite) EXPECT_FALSE(it->GetNext().has_value()) << "the resumed stream did not end";
  }
}

INSTANTIATE_TEST_SUITE_P(V1, StateCompatTest, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<CompatCase>& info) {
                           return info.param.name;
                         });

}  // namespace
}  // namespace inputpipe
