// PositionBitmap: the byte layout the saved states use, round trips, bounded decoding.
#include "ops/threading/position_bitmap.h"

#include <gtest/gtest.h>

#include "inputpipe/errors.h"

namespace inputpipe {
namespace {

TEST(PositionBitmapTest, BytesAreLeastSignificantBitFirst) {
  PositionBitmap bitmap(12);
  for (int64_t i : {0, 3, 8, 11}) bitmap.Set(i);
  EXPECT_EQ(bitmap.Encode(), std::string("\x09\x09", 2));  // bits 0,3 | bits 0,3 of byte 1
  EXPECT_EQ(bitmap.Positions(), (std::vector<int64_t>{0, 3, 8, 11}));
  EXPECT_TRUE(bitmap.Test(8));
  EXPECT_FALSE(bitmap.Test(9));
  EXPECT_EQ(PositionBitmap(0).Encode(), "");
  EXPECT_EQ(PositionBitmap(17).Encode(), std::string(3, '\0'));
  EXPECT_TRUE(PositionBitmap(17).empty());
  EXPECT_FALSE(bitmap.empty());
}

TEST(PositionBitmapTest, TrimmedEndsAtTheLastSetPosition) {
  PositionBitmap bitmap(100);
  bitmap.Set(2);
  bitmap.Set(9);
  PositionBitmap trimmed = bitmap.Trimmed();
  EXPECT_EQ(trimmed.size(), 10);
  EXPECT_EQ(trimmed.Encode(), std::string("\x04\x02", 2));
  EXPECT_EQ(PositionBitmap(30).Trimmed().size(), 0);
  EXPECT_EQ(PositionBitmap(30).Trimmed().Encode(), "");
}

TEST(PositionBitmapTest, DecodeRoundTripsAndRejectsCorruptBytes) {
  PositionBitmap bitmap(21);
  for (int64_t i : {1, 7, 20}) bitmap.Set(i);
  PositionBitmap back = PositionBitmap::Decode(bitmap.Encode(), 21, "test");
  EXPECT_EQ(back.Positions(), bitmap.Positions());
  EXPECT_EQ(back.size(), 21);
  // Another length than the size asks for.
  EXPECT_THROW(PositionBitmap::Decode(bitmap.Encode(), 30, "test"), DataLossError);
  EXPECT_THROW(PositionBitmap::Decode(bitmap.Encode(), 16, "test"), DataLossError);
  EXPECT_THROW(PositionBitmap::Decode("", -1, "test"), DataLossError);
  // A padding bit set (position 21 of a 21-position bitmap).
  std::string padded = bitmap.Encode();
  padded.back() = static_cast<char>(padded.back() | 0x20);
  try {
    PositionBitmap::Decode(padded, 21, "group_by_window 'open'");
    FAIL() << "expected DataLossError";
  } catch (const DataLossError& e) {
    EXPECT_NE(std::string(e.what()).find("group_by_window 'open'"), std::string::npos) << e.what();
  }
}

TEST(PositionBitmapTest, DecodeAtMostIsBoundedByItsMaximum) {
  PositionBitmap bitmap(40);
  bitmap.Set(33);
  PositionBitmap back = PositionBitmap::DecodeAtMost(bitmap.Trimmed().Encode(), 64, "test");
  EXPECT_EQ(back.Positions(), (std::vector<int64_t>{33}));
  EXPECT_EQ(PositionBitmap::DecodeAtMost("", 64, "test").Positions(), std::vector<int64_t>{});
  EXPECT_THROW(PositionBitmap::DecodeAtMost(std::string(9, '\x01'), 64, "test"), DataLossError);
  // Within the bytes allowed, but a position past the maximum.
  EXPECT_THROW(PositionBitmap::DecodeAtMost(bitmap.Trimmed().Encode(), 33, "test"), DataLossError);
  EXPECT_EQ(PositionBitmap::DecodeAtMost(bitmap.Trimmed().Encode(), 34, "test").size(), 40);
}

}  // namespace
}  // namespace inputpipe
