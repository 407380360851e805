// Checkpoint file and index formats: round trips, every truncation and bit flip rejected,
// file names that never collide with a model checkpoint manager's.
#include "hook/checkpoint_file.h"

#include <gtest/gtest.h>

#include "inputpipe/errors.h"
#include "testing/expect_error.h"
#include "util/coding.h"
#include "util/crc32c.h"

namespace inputpipe::hook_internal {
namespace {

CheckpointContents Sample() {
  CheckpointContents c;
  c.step = 1234;
  c.states = {{"train", std::string("IPST\x01state-a", 11)}, {"aux", "state-b"}};
  return c;
}

TEST(CheckpointFileTest, RoundTrips) {
  std::string bytes = EncodeCheckpointFile(Sample());
  CheckpointContents back = DecodeCheckpointFile(bytes, "x");
  EXPECT_EQ(back.step, 1234);
  EXPECT_EQ(back.states, Sample().states);
  EXPECT_EQ(bytes.substr(0, 4), "IPCK");
}

// Every proper prefix, the file with a byte appended, and every single-bit flip of `bytes` must
// decode to DataLossError, never to other contents.
void ExpectEveryTruncationAndBitFlipIsDataLoss(const std::string& bytes) {
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_THROW(DecodeCheckpointFile(bytes.substr(0, n), "f"), DataLossError) << "length " << n;
  }
  EXPECT_THROW(DecodeCheckpointFile(bytes + "x", "f"), DataLossError);
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string flipped = bytes;
      flipped[i] = static_cast<char>(flipped[i] ^ (1 << bit));
      EXPECT_THROW(DecodeCheckpointFile(flipped, "f"), DataLossError)
          << "byte " << i << " bit " << bit;
    }
  }
}

TEST(CheckpointFileTest, EveryTruncationAndBitFlipIsDataLoss) {
  ExpectEveryTruncationAndBitFlipIsDataLoss(EncodeCheckpointFile(Sample()));
}

TEST(CheckpointFileTest, ErrorsNameTheFile) {
  try {
    DecodeCheckpointFile("garbage", "/ckpt/input.ckpt-7");
    FAIL();
  } catch (const DataLossError& e) {
    EXPECT_NE(std::string(e.what()).find("/ckpt/input.ckpt-7"), std::string::npos) << e.what();
  }
}

// Two states under one name: only one of them could be restored (or shown by `inputpipe
// inspect`), so the encoder refuses to write such a file and the decoder to read one, each
// naming the name and the file. The file is built by hand, with a valid checksum.
TEST(CheckpointFileTest, ANameGivenTwiceIsRefusedWritingAndReading) {
  CheckpointContents twice = Sample();
  twice.states[1].first = "train";
  testing::ExpectError<InvalidArgumentError>(
      [&] { EncodeCheckpointFile(twice, "/ckpt/input.ckpt-9"); },
      {"/ckpt/input.ckpt-9", "iterator name 'train' given twice"});
  // The same file written with "trbin" for the second name, renamed in the bytes, checksummed.
  twice.states[1].first = "trbin";
  std::string file = EncodeCheckpointFile(twice);
  file.replace(file.rfind("trbin"), 5, "train");
  const size_t header = 6;  // magic, version, body length (one byte each: a short body)
  ASSERT_EQ(static_cast<size_t>(static_cast<uint8_t>(file[5])), file.size() - header - 4);
  file.resize(file.size() - 4);
  PutFixed32(&file, crc32c::Mask(crc32c::Value(file.data() + header, file.size() - header)));
  testing::ExpectError<DataLossError>(
      [&] { DecodeCheckpointFile(file, "/ckpt/input.ckpt-9"); },
      {"/ckpt/input.ckpt-9", "iterator name 'train' appears twice"});
}

CheckpointContents SampleWithEpoch() {
  CheckpointContents c = Sample();
  c.epoch = 3;
  c.ended = {true, false};
  return c;
}

TEST(CheckpointFileTest, EpochAndEndedFlagsRoundTrip) {
  std::string bytes = EncodeCheckpointFile(SampleWithEpoch());
  EXPECT_EQ(bytes[4], 2);  // version 2
  CheckpointContents back = DecodeCheckpointFile(bytes, "x");
  EXPECT_EQ(back.step, 1234);
  EXPECT_EQ(back.states, Sample().states);
  EXPECT_EQ(back.epoch, 3);
  EXPECT_EQ(back.ended, (std::vector<bool>{true, false}));
  EXPECT_FALSE(back.AtEnd());
  CheckpointContents all_ended = Sample();
  all_ended.ended = {true, true};
  CheckpointContents decoded = DecodeCheckpointFile(EncodeCheckpointFile(all_ended), "x");
  EXPECT_EQ(decoded.epoch, std::nullopt);
  EXPECT_TRUE(decoded.AtEnd());
  CheckpointContents epoch_zero = Sample();
  epoch_zero.epoch = 0;
  decoded = DecodeCheckpointFile(EncodeCheckpointFile(epoch_zero), "x");
  EXPECT_EQ(decoded.epoch, 0);
  EXPECT_TRUE(decoded.ended.empty());
}

// Nothing new to record: the bytes earlier builds wrote (version 1), so they can read them.
TEST(CheckpointFileTest, WithoutEpochOrEndedItIsVersionOne) {
  CheckpointContents c = Sample();
  c.ended = {false, false};
  std::string bytes = EncodeCheckpointFile(c);
  EXPECT_EQ(bytes[4], 1);
  EXPECT_EQ(bytes, EncodeCheckpointFile(Sample()));
}

// A file written by a version-1 build (bytes from the format in checkpoint_file.h: step 7, one
// iterator "train" with state "abc") still decodes: no epoch, nothing ended.
TEST(CheckpointFileTest, VersionOneFilesStillDecode) {
  const std::string v1(
      "\x49\x50\x43\x4b\x01\x0c\x0e\x01\x05\x74\x72\x61\x69\x6e\x03\x61\x62\x63\x34\x00\x78"
      "\x32",
      22);
  CheckpointContents back = DecodeCheckpointFile(v1, "old");
  EXPECT_EQ(back.step, 7);
  ASSERT_EQ(back.states.size(), 1u);
  EXPECT_EQ(back.states[0].first, "train");
  EXPECT_EQ(back.states[0].second, "abc");
  EXPECT_EQ(back.epoch, std::nullopt);
  EXPECT_TRUE(back.ended.empty());
  EXPECT_EQ(EncodeCheckpointFile(back), v1);
}

// A body whose checksum holds but that does not decode (a writer bug, a hand edit): the error
// names the file offset; the header's errors give the file's size.
TEST(CheckpointFileTest, MalformedBodyErrorsNameTheByteOffset) {
  std::string bytes = EncodeCheckpointFile(SampleWithEpoch());
  const size_t header = 6;  // "IPCK", version 2, a one-byte body length
  ASSERT_EQ(static_cast<size_t>(bytes[5]), bytes.size() - header - 4);
  const size_t second_flag = bytes.size() - 4 - 1;  // the body ends with one flag per iterator
  bytes[second_flag] = 2;
  std::string body = bytes.substr(header, bytes.size() - header - 4);
  bytes.replace(bytes.size() - 4, 4, std::string(4, '\0'));
  uint32_t crc = crc32c::Mask(crc32c::Value(body.data(), body.size()));
  for (int i = 0; i < 4; ++i) bytes[bytes.size() - 4 + i] = static_cast<char>(crc >> (8 * i));
  try {
    DecodeCheckpointFile(bytes, "f");
    FAIL();
  } catch (const DataLossError& e) {
    EXPECT_NE(std::string(e.what()).find("ended flag is not 0 or 1) at byte " +
                                         std::to_string(second_flag)),
              std::string::npos)
        << e.what();
  }
  try {
    DecodeCheckpointFile(std::string("IPCK\x01", 5), "g");
    FAIL();
  } catch (const DataLossError& e) {
    EXPECT_NE(std::string(e.what()).find("g: truncated in the header (5 bytes)"),
              std::string::npos)
        << e.what();
  }
}

TEST(CheckpointFileTest, VersionTwoTruncationsAndBitFlipsAreDataLoss) {
  ExpectEveryTruncationAndBitFlipIsDataLoss(EncodeCheckpointFile(SampleWithEpoch()));
}

TEST(CheckpointFileTest, NewerVersionIsRefusedNamingBoth) {
  std::string bytes = EncodeCheckpointFile(Sample());
  bytes[4] = 4;  // version 3 is the file of several ranks
  try {
    DecodeCheckpointFile(bytes, "f");
    FAIL();
  } catch (const DataLossError& e) {
    EXPECT_NE(std::string(e.what()).find("format version 4, this build reads versions 1 to 3"),
              std::string::npos)
        << e.what();
  }
}

TEST(CheckpointIndexTest, RoundTripsAndIsReadable) {
  CheckpointIndex index{"input.ckpt-300", {"input.ckpt-200", "input.ckpt-300"}};
  std::string text = EncodeIndexFile(index);
  EXPECT_NE(text.find("latest: input.ckpt-300\n"), std::string::npos) << text;
  CheckpointIndex back = DecodeIndexFile(text, "i");
  EXPECT_EQ(back.latest, index.latest);
  EXPECT_EQ(back.all, index.all);
}

TEST(CheckpointIndexTest, CorruptionIsDataLoss) {
  std::string text = EncodeIndexFile({"input.ckpt-300", {"input.ckpt-300"}});
  for (size_t n = 0; n < text.size(); ++n) {
    EXPECT_THROW(DecodeIndexFile(text.substr(0, n), "i"), DataLossError) << "length " << n;
  }
  for (size_t i = 0; i < text.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string flipped = text;
      flipped[i] = static_cast<char>(flipped[i] ^ (1 << bit));  // 0x20 flips a hex digit's case
      EXPECT_THROW(DecodeIndexFile(flipped, "i"), DataLossError) << "byte " << i << " bit " << bit;
    }
  }
}

TEST(CheckpointNamesTest, OwnNamesOnly) {
  EXPECT_EQ(CheckpointPrefix("", 0), "input");
  EXPECT_EQ(CheckpointPrefix("worker", 3), "input_worker_3");
  EXPECT_EQ(CheckpointFileName("input", 100), "input.ckpt-100");
  EXPECT_EQ(IndexFileName("input"), "checkpoint_input");
  EXPECT_EQ(IndexFileName("input_worker_3"), "checkpoint_input_worker_3");
  EXPECT_EQ(ParseCheckpointFileName("input", "input.ckpt-100"), 100);
  EXPECT_EQ(ParseCheckpointFileName("input", "input.ckpt-0"), 0);
  for (const char* other :
       {"checkpoint", "checkpoint_input", "model.ckpt-100", "model.ckpt-100.index",
        "input.ckpt-100.tmp", "input.ckpt-", "input.ckpt--5", "input.ckpt-007",
        "input_worker_3.ckpt-5", "input.ckpt-1e3", "xinput.ckpt-5"}) {
    EXPECT_EQ(ParseCheckpointFileName("input", other), std::nullopt) << other;
  }
  EXPECT_EQ(ParseCheckpointFileName("input_worker_3", "input_worker_3.ckpt-5"), 5);
  EXPECT_EQ(ParseCheckpointFileName("input_worker_3", "input.ckpt-5"), std::nullopt);
}

}  // namespace
}  // namespace inputpipe::hook_internal
