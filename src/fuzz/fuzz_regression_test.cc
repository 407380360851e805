// Replays the fuzz corpus kept under tests/data/fuzz/<target>/ (the seeds and every crasher a
// fuzzer ever found) through the fuzz target bodies, in the ordinary test binary.
#include <gtest/gtest.h>

#include <filesystem>

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

}  // namespace
}  // namespace inputpipe
