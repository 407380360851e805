#include "ops/threading/position_bitmap.h"

#include <algorithm>

#include "inputpipe/errors.h"

namespace inputpipe {

namespace {
size_t BytesFor(int64_t size) { return static_cast<size_t>((size + 7) / 8); }
}  // namespace

PositionBitmap::PositionBitmap(int64_t size) : size_(size), bytes_(BytesFor(size), '\0') {}

void PositionBitmap::Set(int64_t position) {
  bytes_[position / 8] = static_cast<char>(bytes_[position / 8] | (1 << (position % 8)));
}

bool PositionBitmap::Test(int64_t position) const {
  return (static_cast<uint8_t>(bytes_[position / 8]) >> (position % 8)) & 1;
}

bool PositionBitmap::empty() const {
  return std::all_of(bytes_.begin(), bytes_.end(), [](char c) { return c == 0; });
}

std::vector<int64_t> PositionBitmap::Positions() const {
  std::vector<int64_t> positions;
  for (int64_t i = 0; i < size_; ++i) {
    if (Test(i)) positions.push_back(i);
  }
  return positions;
}

PositionBitmap PositionBitmap::Trimmed() const {
  int64_t last = size_ - 1;
  while (last >= 0 && !Test(last)) --last;
  PositionBitmap trimmed(last + 1);
  trimmed.bytes_.assign(bytes_, 0, trimmed.bytes_.size());
  return trimmed;
}

std::string PositionBitmap::Encode() const { return bytes_; }

PositionBitmap PositionBitmap::Decode(std::string_view bytes, int64_t size, std::string_view what) {
  if (size < 0 || bytes.size() != BytesFor(size)) {
    throw DataLossError("corrupt state: " + std::string(what) + ": a bitmap of " +
                        std::to_string(bytes.size()) + " bytes for " + std::to_string(size) +
                        " positions");
  }
  PositionBitmap bitmap(size);
  bitmap.bytes_.assign(bytes);
  if (size % 8 != 0 && (static_cast<uint8_t>(bytes.back()) >> (size % 8)) != 0) {
    throw DataLossError("corrupt state: " + std::string(what) + ": a bit set past position " +
                        std::to_string(size - 1));
  }
  return bitmap;
}

PositionBitmap PositionBitmap::DecodeAtMost(std::string_view bytes, int64_t max_size,
                                            std::string_view what) {
  if (bytes.size() > BytesFor(max_size)) {
    throw DataLossError("corrupt state: " + std::string(what) + ": a bitmap of " +
                        std::to_string(bytes.size()) + " bytes, more than the " +
                        std::to_string(max_size) + " positions it may hold");
  }
  PositionBitmap bitmap = Decode(bytes, static_cast<int64_t>(bytes.size()) * 8, what);
  if (bitmap.Trimmed().size() > max_size) {
    throw DataLossError("corrupt state: " + std::string(what) + ": position " +
                        std::to_string(bitmap.Trimmed().size() - 1) + " set, past the " +
                        std::to_string(max_size) + " positions it may hold");
  }
  return bitmap;
}

}  // namespace inputpipe
