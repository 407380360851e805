#include "readers/example_parser.h"

#include <algorithm>
#include <cstring>

#include "util/coding.h"

namespace inputpipe {

namespace {
constexpr int kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5;

// Reads one tag; false at the end of the message or (with *error) when malformed.
bool NextField(ByteReader& r, const char* message, int* field, int* wire, std::string* error) {
  if (r.remaining() == 0) return false;
  uint64_t tag;
  if (!r.GetVarint64(&tag) || (tag >> 3) == 0 || (tag >> 3) > 0x1fffffff) {
    *error = std::string("invalid field tag in ") + message + " at byte " + std::to_string(r.offset());
    return false;
  }
  *field = static_cast<int>(tag >> 3);
  *wire = static_cast<int>(tag & 7);
  return true;
}

bool Skip(ByteReader& r, int wire, const char* message, std::string* error) {
  uint64_t v;
  std::string_view bytes;
  bool ok = false;
  switch (wire) {
    case kVarint:
      ok = r.GetVarint64(&v);
      break;
    case kFixed64:
      ok = r.GetBytes(8, &bytes);
      break;
    case kLengthDelimited:
      ok = r.GetLengthPrefixed(&bytes);
      break;
    case kFixed32:
      ok = r.GetBytes(4, &bytes);
      break;
    default:
      *error = std::string("unsupported wire type ") + std::to_string(wire) + " in " + message;
      return false;
  }
  if (!ok) *error = std::string("truncated field in ") + message;
  return ok;
}

// Reads up to the next field 1, skipping the others: the one field of Example, Features and
// the value lists. False at the end of the message or (with *error) when malformed.
bool NextField1(ByteReader& r, const char* message, int* wire, std::string* error) {
  int field;
  while (NextField(r, message, &field, wire, error)) {
    if (field == 1) return true;
    if (!Skip(r, *wire, message, error)) return false;
  }
  return false;
}

bool GetMessage(ByteReader& r, int wire, const char* message, std::string_view* out,
                std::string* error) {
  if (wire != kLengthDelimited) {
    *error = std::string("wrong wire type ") + std::to_string(wire) + " for a " + message;
    return false;
  }
  if (!r.GetLengthPrefixed(out)) {
    *error = std::string("truncated ") + message;
    return false;
  }
  return true;
}

bool DecodeFeature(std::string_view bytes, RawFeature* out, std::string* error) {
  ByteReader r(bytes);
  int field, wire;
  while (NextField(r, "Feature", &field, &wire, error)) {
    if (field >= 1 && field <= 3) {
      if (!GetMessage(r, wire, "Feature list", &out->list, error)) return false;
      out->kind = field == 1 ? RawFeature::Kind::kBytes
                             : field == 2 ? RawFeature::Kind::kFloat : RawFeature::Kind::kInt64;
    } else if (!Skip(r, wire, "Feature", error)) {
      return false;
    }
  }
  return error->empty();
}

void PutTag(std::string* out, int field, int wire) { PutVarint64(out, (uint64_t(field) << 3) | wire); }
}  // namespace

bool DecodeExample(std::string_view serialized,
                   std::vector<std::pair<std::string_view, RawFeature>>* features,
                   std::string* error) {
  features->clear();
  error->clear();
  ByteReader example(serialized);
  int field, wire;
  while (NextField1(example, "Example", &wire, error)) {
    std::string_view features_bytes;
    if (!GetMessage(example, wire, "Features message", &features_bytes, error)) return false;
    ByteReader fr(features_bytes);
    while (NextField1(fr, "Features", &wire, error)) {
      std::string_view entry;
      if (!GetMessage(fr, wire, "feature map entry", &entry, error)) return false;
      ByteReader er(entry);
      std::string_view key;
      RawFeature feature;
      while (NextField(er, "feature map entry", &field, &wire, error)) {
        if (field == 1) {
          if (!GetMessage(er, wire, "feature key", &key, error)) return false;
        } else if (field == 2) {
          std::string_view value;
          if (!GetMessage(er, wire, "Feature", &value, error)) return false;
          feature = RawFeature{};
          if (!DecodeFeature(value, &feature, error)) return false;
        } else if (!Skip(er, wire, "feature map entry", error)) {
          return false;
        }
      }
      if (!error->empty()) return false;
      features->emplace_back(key, feature);
    }
    if (!error->empty()) return false;
  }
  if (!error->empty()) return false;
  // Sorted by key; of equal keys the last one given wins (protobuf map semantics).
  std::stable_sort(features->begin(), features->end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  size_t kept = 0;
  for (size_t i = 0; i < features->size(); ++i) {
    if (i + 1 < features->size() && (*features)[i + 1].first == (*features)[i].first) continue;
    (*features)[kept++] = (*features)[i];
  }
  features->resize(kept);
  return true;
}

bool DecodeInt64List(std::string_view list, std::vector<int64_t>* out, std::string* error) {
  ByteReader r(list);
  int wire;
  while (NextField1(r, "Int64List", &wire, error)) {
    if (wire == kVarint) {
      uint64_t v;
      if (!r.GetVarint64(&v)) {
        *error = "truncated Int64List value";
        return false;
      }
      out->push_back(static_cast<int64_t>(v));
    } else if (wire == kLengthDelimited) {
      std::string_view packed;
      if (!r.GetLengthPrefixed(&packed)) {
        *error = "truncated packed Int64List";
        return false;
      }
      ByteReader pr(packed);
      while (pr.remaining() > 0) {
        uint64_t v;
        if (!pr.GetVarint64(&v)) {
          *error = "truncated varint in a packed Int64List";
          return false;
        }
        out->push_back(static_cast<int64_t>(v));
      }
    } else {
      *error = "wrong wire type " + std::to_string(wire) + " for Int64List values";
      return false;
    }
  }
  return error->empty();
}

bool DecodeFloatList(std::string_view list, std::vector<float>* out, std::string* error) {
  ByteReader r(list);
  int wire;
  while (NextField1(r, "FloatList", &wire, error)) {
    std::string_view bytes;
    if (wire == kFixed32) {
      if (!r.GetBytes(4, &bytes)) {
        *error = "truncated FloatList value";
        return false;
      }
    } else if (wire == kLengthDelimited) {
      if (!r.GetLengthPrefixed(&bytes) || bytes.size() % 4 != 0) {
        *error = "truncated packed FloatList";
        return false;
      }
    } else {
      *error = "wrong wire type " + std::to_string(wire) + " for FloatList values";
      return false;
    }
    for (size_t i = 0; i < bytes.size(); i += 4) {
      uint32_t bits = DecodeFixed32(bytes.data() + i);
      float f;
      std::memcpy(&f, &bits, 4);
      out->push_back(f);
    }
  }
  return error->empty();
}

bool DecodeBytesList(std::string_view list, std::vector<std::string_view>* out, std::string* error) {
  ByteReader r(list);
  int wire;
  while (NextField1(r, "BytesList", &wire, error)) {
    std::string_view value;
    if (!GetMessage(r, wire, "BytesList value", &value, error)) return false;
    out->push_back(value);
  }
  return error->empty();
}

std::string EncodeInt64List(const std::vector<int64_t>& values) {
  std::string packed;
  for (int64_t v : values) PutVarint64(&packed, static_cast<uint64_t>(v));
  std::string out;
  if (values.empty()) return out;
  PutTag(&out, 1, kLengthDelimited);
  PutLengthPrefixed(&out, packed);
  return out;
}

std::string EncodeFloatList(const std::vector<float>& values) {
  std::string packed;
  for (float f : values) {
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    PutFixed32(&packed, bits);
  }
  std::string out;
  if (values.empty()) return out;
  PutTag(&out, 1, kLengthDelimited);
  PutLengthPrefixed(&out, packed);
  return out;
}

std::string EncodeBytesList(const std::vector<std::string>& values) {
  std::string out;
  for (const auto& v : values) {
    PutTag(&out, 1, kLengthDelimited);
    PutLengthPrefixed(&out, v);
  }
  return out;
}

std::string EncodeExample(const std::vector<std::pair<std::string, RawFeature>>& features) {
  std::string map;
  for (const auto& [key, feature] : features) {
    std::string value;
    if (feature.kind != RawFeature::Kind::kNone) {
      int field = feature.kind == RawFeature::Kind::kBytes ? 1
                  : feature.kind == RawFeature::Kind::kFloat ? 2 : 3;
      PutTag(&value, field, kLengthDelimited);
      PutLengthPrefixed(&value, feature.list);
    }
    std::string entry;
    PutTag(&entry, 1, kLengthDelimited);
    PutLengthPrefixed(&entry, key);
    PutTag(&entry, 2, kLengthDelimited);
    PutLengthPrefixed(&entry, value);
    PutTag(&map, 1, kLengthDelimited);
    PutLengthPrefixed(&map, entry);
  }
  std::string out;
  PutTag(&out, 1, kLengthDelimited);
  PutLengthPrefixed(&out, map);
  return out;
}

}  // namespace inputpipe
