// TextLineDataset: lines across buffer refills, compression, exact resumption, random access
// and the line-length cap.
#include <gtest/gtest.h>

#include "inputpipe/readers.h"
#include "readers/readers_test_util.h"

namespace inputpipe {
namespace {

using namespace testing;  // NOLINT: test helpers

std::string ManyLines(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += "line " + std::to_string(i) + std::string(i % 17, '.') + (i % 3 ? "\n" : "\r\n");
  return s + "no newline at the end";
}

TEST(TextLineTest, ReadsLinesAcrossRefillsAndCompressions) {
  TempDir dir;
  std::string text = ManyLines(100);
  std::string plain = dir.Write("a.txt", text);
  std::string gz = dir.Write("a.txt.gz", testing::Gzip(text));
  std::string zl = dir.Write("a.txt.z", testing::Gzip(text, false));
  auto expected = Strings(Collect(TextLineDataset({plain})));
  ASSERT_EQ(expected.size(), 101u);
  EXPECT_EQ(expected[0], "line 0");
  EXPECT_EQ(expected[5], "line 5.....");
  EXPECT_EQ(expected[100], "no newline at the end");
  EXPECT_EQ(Strings(Collect(TextLineDataset({plain}, {.buffer_size = 3}))), expected);
  EXPECT_EQ(Strings(Collect(TextLineDataset({gz}, {.compression_type = "GZIP", .buffer_size = 5}))), expected);
  EXPECT_EQ(Strings(Collect(TextLineDataset({zl}, {.compression_type = "ZLIB"}))), expected);
  EXPECT_TRUE(Collect(TextLineDataset({dir.Write("empty", "")})).empty());
}

TEST(TextLineTest, ResumesExactly) {
  TempDir dir;
  std::string a = dir.Write("a.txt", ManyLines(40));
  std::string b = dir.Write("b.txt", ManyLines(3));
  ExpectExactResume(TextLineDataset({a, b}, {.buffer_size = 8}));
  std::string agz = dir.Write("a.gz", testing::Gzip(ManyLines(40)));
  std::string bgz = dir.Write("b.gz", testing::Gzip(ManyLines(3)));
  ExpectExactResume(TextLineDataset({agz, bgz}, {.compression_type = "GZIP", .buffer_size = 8}));
  auto indexed = TextLineDataset({a, b}, {.index = true});
  EXPECT_EQ(indexed->Cardinality(), 45);
  EXPECT_EQ(indexed->Get(44).tensor().strings()[0], "no newline at the end");
  ExpectExactResume(indexed);
}

TEST(TextLineTest, OverlongLineEndsTheFileWithAnError) {
  TempDir dir;
  std::string a = dir.Write("a.txt", "short\n" + std::string(300, 'x') + "\nafter\n");
  std::string b = dir.Write("b.txt", "next file\n");
  for (int64_t buffer_size : {0, 16}) {
    auto it = TextLineDataset({a, b}, {.buffer_size = buffer_size, .max_record_bytes = 100})->MakeIterator();
    EXPECT_EQ(it->GetNext()->tensor().strings()[0], "short");
    try {
      it->GetNext();
      ADD_FAILURE() << "expected DataLossError";
    } catch (const DataLossError& e) {
      EXPECT_TRUE(MessageHas(e.what(), {"text_line", a, "line 2", "byte 6", "limit of 100"}));
    }
    EXPECT_EQ(it->GetNext()->tensor().strings()[0], "next file");
  }
}

}  // namespace
}  // namespace inputpipe
