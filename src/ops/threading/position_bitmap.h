// PositionBitmap: a set of positions [0, size) written into a state as bytes, the coding of
// parallel_map's "delivered_ahead" and group_by_window's "open" / "current" bitmaps.
//
//   PositionBitmap open(span);                       // positions 0 .. span-1, none set
//   open.Set(3);
//   w.WriteBytes("open", open.Encode());
//   ...
//   PositionBitmap back = PositionBitmap::Decode(r.ReadBytes("open"), span, "group_by_window");
//   if (back.Test(i)) ...
//
// A set of unknown extent (parallel_map's elements delivered ahead) is written Trimmed() and
// read with DecodeAtMost.
//
// Bytes: position i is bit (i % 8) of byte i / 8, least significant bit first; ceil(size / 8)
// bytes, the padding bits of the last byte clear (docs/reorder.md). A decoder is bounded by
// the size the reader expects (or a maximum), and corrupt bytes are a DataLossError naming what
// was being read: a state never makes a restore allocate more than its caller allows.
#ifndef INPUTPIPE_OPS_THREADING_POSITION_BITMAP_H_
#define INPUTPIPE_OPS_THREADING_POSITION_BITMAP_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace inputpipe {

class PositionBitmap {
 public:
  // `size` positions, none set. REQUIRES: size >= 0.
  explicit PositionBitmap(int64_t size = 0);

  // REQUIRES: 0 <= position < size().
  void Set(int64_t position);
  bool Test(int64_t position) const;

  int64_t size() const { return size_; }
  bool empty() const;  // no position set
  // The set positions, increasing.
  std::vector<int64_t> Positions() const;
  // The same set with size = last set position + 1 (0 when empty): the shortest bytes.
  PositionBitmap Trimmed() const;

  // ceil(size() / 8) bytes.
  std::string Encode() const;

  // Bytes of a bitmap of exactly `size` positions (Encode of a PositionBitmap(size)). A
  // DataLossError naming `what` for another length or a set padding bit.
  static PositionBitmap Decode(std::string_view bytes, int64_t size, std::string_view what);
  // Bytes whose length gives the size (8 positions per byte), at most `max_size` positions:
  // a DataLossError naming `what` for more.
  static PositionBitmap DecodeAtMost(std::string_view bytes, int64_t max_size,
                                     std::string_view what);

 private:
  int64_t size_;
  std::string bytes_;  // Encode()'s bytes, kept as they are written
};

}  // namespace inputpipe

#endif  // INPUTPIPE_OPS_THREADING_POSITION_BITMAP_H_
