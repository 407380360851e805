// Replays the fuzz corpus kept under tests/data/fuzz/<target>/ (the seeds and every crasher a
// fuzzer ever found) through the fuzz target bodies, in the ordinary test binary.
#include <gtest/gtest.h>

#include <filesystem>
#include <limits>

#include "fuzz/fuzz_targets.h"
#include "readers/readers_test_util.h"

namespace inputpipe {
namespace {

void Replay(const std::string& target, void (*fn)(const uint8_t*, size_t)) {
  std::filesystem::path dir = std::filesystem::path(testing::TestDataDir()) / "fuzz" / target;
  ASSERT_TRUE(std::filesystem::is_directory(dir)) << dir;
  int replayed = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::string bytes = testing::ReadFile(entry.path().string());
    SCOPED_TRACE(entry.path().string());
    fn(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    // Every prefix too: truncations are the commonest corruption.
    for (size_t cut = 0; cut < bytes.size() && cut < 512; ++cut) {
      fn(reinterpret_cast<const uint8_t*>(bytes.data()), cut);
    }
    ++replayed;
  }
  EXPECT_GT(replayed, 0) << "no corpus in " << dir;
}

TEST(FuzzRegressionTest, CsvCorpus) { Replay("csv", fuzz::FuzzCsv); }
TEST(FuzzRegressionTest, TFRecordCorpus) { Replay("tfrecord", fuzz::FuzzTFRecord); }
TEST(FuzzRegressionTest, ExampleCorpus) { Replay("example", fuzz::FuzzExample); }
TEST(FuzzRegressionTest, StateCorpus) { Replay("state", fuzz::FuzzState); }
TEST(FuzzRegressionTest, RestoreCorpus) { Replay("restore", fuzz::FuzzRestore); }

// FuzzRestore over a sweep: every pipeline, saved at the start and after a few elements, with
// each integer of its state set to each out-of-range value. A rejected restore leaves the
// iterator fresh (FuzzRestore aborts otherwise).
TEST(FuzzRegressionTest, RestoreSweepOfOutOfRangeIntegers) {
  const int64_t values[] = {0, -1, int64_t{1} << 31, int64_t{1} << 62, -(int64_t{1} << 62),
                            std::numeric_limits<int64_t>::max(),
                            std::numeric_limits<int64_t>::min()};
  for (uint8_t pipeline = 0; pipeline < fuzz::RestorePipelines().size(); ++pipeline) {
    for (uint8_t taken : {0, 9}) {
      const size_t fields = fuzz::RestoreStateIntCount(pipeline, taken);
      for (size_t field = 0; field < fields && field < 256; ++field) {
        for (int64_t value : values) {
          uint8_t input[11] = {pipeline, taken, static_cast<uint8_t>(field)};
          for (int k = 0; k < 8; ++k) {
            input[3 + k] = static_cast<uint8_t>(static_cast<uint64_t>(value) >> (8 * k));
          }
          SCOPED_TRACE(::testing::Message() << "pipeline " << int{pipeline} << ", after "
                                            << int{taken} << ", int #" << field << " = "
                                            << value);
          fuzz::FuzzRestore(input, sizeof(input));
        }
      }
    }
  }
}

}  // namespace
}  // namespace inputpipe
