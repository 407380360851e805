#include "core/element_codec.h"

#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include "inputpipe/errors.h"
#include "util/coding.h"

namespace inputpipe {

namespace {
constexpr uint64_t kTensorKind = 0, kTupleKind = 1, kDictKind = 2;
constexpr int kMaxDepth = 64;
constexpr uint64_t kMaxCount = uint64_t{1} << 40;

void Encode(const Element& e, std::string_view what, std::string* out) {
  if (e.is_dataset()) {
    throw InvalidArgumentError(std::string(what) + ": a dataset cannot be saved as a value");
  }
  if (e.is_tensor()) {
    const Tensor& t = e.tensor();
    PutVarint64(out, kTensorKind);
    PutVarint64(out, static_cast<uint64_t>(t.dtype()));
    PutVarint64(out, t.shape().size());
    for (int64_t d : t.shape()) PutVarint64(out, static_cast<uint64_t>(d));
    if (t.is_string()) {
      for (const std::string& s : t.strings()) PutLengthPrefixed(out, s);
    } else {
      PutLengthPrefixed(out,
                        std::string_view(static_cast<const char*>(t.raw_data()), t.byte_size()));
    }
    return;
  }
  PutVarint64(out, e.is_tuple() ? kTupleKind : kDictKind);
  PutVarint64(out, e.size());
  for (size_t i = 0; i < e.size(); ++i) {
    if (e.is_dict()) PutLengthPrefixed(out, e.keys()[i]);
    Encode(e.children()[i], what, out);
  }
}

class Decoder {
 public:
  Decoder(std::string_view bytes, std::string_view what) : reader_(bytes), what_(what) {}

  Element Decode(int depth) {
    if (depth > kMaxDepth) Fail("nested deeper than " + std::to_string(kMaxDepth));
    const uint64_t kind = Varint();
    if (kind == kTensorKind) return DecodeTensor();
    if (kind != kTupleKind && kind != kDictKind)
      Fail("unknown element kind " + std::to_string(kind));
    const uint64_t n = Varint();
    if (n > reader_.remaining()) Fail("a count of " + std::to_string(n) + " past the end");
    std::vector<Element> items;
    std::vector<std::pair<std::string, Element>> entries;
    for (uint64_t i = 0; i < n; ++i) {
      if (kind == kDictKind) {
        std::string key(Str());
        entries.emplace_back(std::move(key), Decode(depth + 1));
      } else {
        items.push_back(Decode(depth + 1));
      }
    }
    return kind == kTupleKind ? Element::Tuple(std::move(items))
                              : Element::Dict(std::move(entries));
  }

  void ExpectEnd() {
    if (reader_.remaining() != 0) Fail("trailing bytes");
  }

 private:
  Element DecodeTensor() {
    const uint64_t dtype_code = Varint();
    if (dtype_code < static_cast<uint64_t>(DType::kBool) ||
        dtype_code > static_cast<uint64_t>(DType::kString)) {
      Fail("unknown dtype " + std::to_string(dtype_code));
    }
    const DType dtype = static_cast<DType>(dtype_code);
    const uint64_t rank = Varint();
    if (rank > 64) Fail("rank " + std::to_string(rank));
    Shape shape;
    uint64_t count = 1;
    for (uint64_t i = 0; i < rank; ++i) {
      const uint64_t d = Varint();
      if (d > kMaxCount || (d != 0 && count > kMaxCount / d)) Fail("a shape too large");
      count *= d;
      shape.push_back(static_cast<int64_t>(d));
    }
    // Every value takes at least one byte (a string its length), so more values than the bytes
    // left is corrupt: nothing larger than the state is ever allocated.
    if (count > reader_.remaining())
      Fail("a shape of " + std::to_string(count) + " values past the end");
    Tensor t = Tensor::Allocate(dtype, shape);
    if (dtype == DType::kString) {
      std::vector<std::string>& values = t.mutable_strings();
      for (std::string& value : values) value = std::string(Str());
      return t;
    }
    std::string_view data = Str();
    if (data.size() != t.byte_size()) {
      Fail("tensor data of " + std::to_string(data.size()) + " bytes for " +
           std::to_string(t.byte_size()));
    }
    if (!data.empty()) std::memcpy(t.mutable_raw_data(), data.data(), data.size());
    return t;
  }

  uint64_t Varint() {
    uint64_t v;
    if (!reader_.GetVarint64(&v)) Fail("truncated");
    return v;
  }
  std::string_view Str() {
    std::string_view s;
    if (!reader_.GetLengthPrefixed(&s)) Fail("truncated");
    return s;
  }
  [[noreturn]] void Fail(const std::string& why) {
    throw DataLossError("corrupt state: " + std::string(what_) + ": the saved value is invalid (" +
                        why + " at byte " + std::to_string(reader_.offset()) + ")");
  }

  ByteReader reader_;
  std::string_view what_;
};
}  // namespace

std::string EncodeElement(const Element& element, std::string_view what) {
  std::string out;
  Encode(element, what, &out);
  return out;
}

Element DecodeElement(std::string_view bytes, std::string_view what) {
  Decoder decoder(bytes, what);
  Element e = decoder.Decode(0);
  decoder.ExpectEnd();
  return e;
}

}  // namespace inputpipe
