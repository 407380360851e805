// The byte format of a saved iterator state (docs/state_format.md):
//
//   magic "IPST" | version varint | body length varint | body | masked crc32c fixed32
//   body := pipeline (zlib-deflated "\n"-joined entries, length-prefixed) | node
//   node := name str | op str | ints (count, {key str, zigzag varint}) |
//           blobs (count, {key str, value str}) | external (count, {str}) | children (count, node)
#include <zlib.h>

#include <cassert>
#include <cstdio>
#include <cstring>

#include "inputpipe/errors.h"
#include "inputpipe/state.h"
#include "util/coding.h"
#include "util/crc32c.h"

namespace inputpipe {

namespace {
constexpr std::string_view kMagic = "IPST";
constexpr uint32_t kFormatVersion = 1;
// Deeper trees than this are certainly corrupt; the bound keeps a hostile input from
// exhausting the stack of the recursive decoder.
constexpr int kMaxDepth = 64;
// The inflated pipeline text is at most this long: a bound against a decompression bomb.
constexpr size_t kMaxPipelineText = 1 << 20;

// The pipeline fingerprint is text that repeats op and parameter names; deflating it keeps
// the state of deep pipelines well under 1 KiB while the full text stays available for
// naming the first difference on restore.
std::string DeflatePipeline(const std::vector<std::string>& pipeline) {
  std::string text;
  for (size_t i = 0; i < pipeline.size(); ++i) text += (i ? "\n" : "") + pipeline[i];
  uLongf size = compressBound(text.size());
  std::string out(size, '\0');
  compress2(reinterpret_cast<Bytef*>(out.data()), &size,
            reinterpret_cast<const Bytef*>(text.data()), text.size(), Z_BEST_COMPRESSION);
  out.resize(size);
  return out;
}

// Sizes of what the Cursor below writes, so that a state is encoded into one buffer of its exact
// size.
size_t VarintLength(uint64_t value) {
  size_t n = 1;
  while (value >= 0x80) {
    value >>= 7;
    ++n;
  }
  return n;
}

size_t LengthPrefixedSize(std::string_view s) { return VarintLength(s.size()) + s.size(); }

size_t ZigZagLength(int64_t value) {
  return VarintLength((static_cast<uint64_t>(value) << 1) ^ static_cast<uint64_t>(value >> 63));
}

// A node's size and bytes after its name: what EncodeStateNode stores for a node encoded ahead.
size_t EncodedContentSize(const StateNode& node) {
  if (node.encoded != nullptr) return node.encoded->bytes.size();
  size_t n = LengthPrefixedSize(node.op);
  n += VarintLength(node.ints.size());
  for (const auto& [key, value] : node.ints) n += LengthPrefixedSize(key) + ZigZagLength(value);
  n += VarintLength(node.blobs.size());
  for (const auto& [key, value] : node.blobs) {
    n += LengthPrefixedSize(key) + LengthPrefixedSize(value);
  }
  n += VarintLength(node.external_state.size());
  for (const auto& what : node.external_state) n += LengthPrefixedSize(what);
  n += VarintLength(node.children.size());
  for (const auto& child : node.children) n += LengthPrefixedSize(child.name) +
                                                EncodedContentSize(child);
  return n;
}

size_t EncodedNodeSize(const StateNode& node) {
  return LengthPrefixedSize(node.name) + EncodedContentSize(node);
}

// Writes into a buffer sized by the functions above: no growth, no reallocation. The same
// bytes as util/coding.h's Put* functions.
class Cursor {
 public:
  explicit Cursor(char* p) : p_(p) {}
  char* position() const { return p_; }
  void Varint(uint64_t value) {
    while (value >= 0x80) {
      *p_++ = static_cast<char>((value & 0x7f) | 0x80);
      value >>= 7;
    }
    *p_++ = static_cast<char>(value);
  }
  void ZigZag(int64_t value) {
    Varint((static_cast<uint64_t>(value) << 1) ^ static_cast<uint64_t>(value >> 63));
  }
  void Bytes(std::string_view s) {
    if (!s.empty()) std::memcpy(p_, s.data(), s.size());
    p_ += s.size();
  }
  void LengthPrefixed(std::string_view s) {
    Varint(s.size());
    Bytes(s);
  }
  void Fixed32(uint32_t value) {
    for (int i = 0; i < 4; ++i) *p_++ = static_cast<char>((value >> (8 * i)) & 0xff);
  }

 private:
  char* p_;
};

void EncodeContent(const StateNode& node, Cursor& out) {
  if (node.encoded != nullptr) {
    out.Bytes(node.encoded->bytes);
    return;
  }
  out.LengthPrefixed(node.op);
  out.Varint(node.ints.size());
  for (const auto& [key, value] : node.ints) {
    out.LengthPrefixed(key);
    out.ZigZag(value);
  }
  out.Varint(node.blobs.size());
  for (const auto& [key, value] : node.blobs) {
    out.LengthPrefixed(key);
    out.LengthPrefixed(value);
  }
  out.Varint(node.external_state.size());
  for (const auto& what : node.external_state) out.LengthPrefixed(what);
  out.Varint(node.children.size());
  for (const auto& child : node.children) {
    out.LengthPrefixed(child.name);
    EncodeContent(child, out);
  }
}

[[noreturn]] void Corrupt(const ByteReader& in, const std::string& what) {
  throw DataLossError("corrupt state: " + what + " at byte " + std::to_string(in.offset()));
}

std::string GetString(ByteReader& in, const char* what) {
  std::string_view s;
  if (!in.GetLengthPrefixed(&s)) Corrupt(in, std::string("truncated ") + what);
  return std::string(s);
}

// Counts are bounded by the bytes left (each item takes at least one byte), so a hostile count
// cannot make the decoder reserve gigabytes.
uint64_t GetCount(ByteReader& in, const char* what) {
  uint64_t n;
  if (!in.GetVarint64(&n)) Corrupt(in, std::string("truncated ") + what + " count");
  if (n > in.remaining()) Corrupt(in, std::string("impossible ") + what + " count " + std::to_string(n));
  return n;
}

std::vector<std::string> InflatePipeline(ByteReader& in) {
  std::string deflated = GetString(in, "pipeline");
  z_stream z{};
  if (inflateInit(&z) != Z_OK) throw DataLossError("corrupt state: cannot start inflating");
  z.next_in = reinterpret_cast<Bytef*>(deflated.data());
  z.avail_in = static_cast<uInt>(deflated.size());
  std::string text;
  char buffer[4096];
  int rc;
  do {
    z.next_out = reinterpret_cast<Bytef*>(buffer);
    z.avail_out = sizeof(buffer);
    rc = inflate(&z, Z_NO_FLUSH);
    text.append(buffer, sizeof(buffer) - z.avail_out);
  } while (rc == Z_OK && text.size() <= kMaxPipelineText);
  inflateEnd(&z);
  if (rc != Z_STREAM_END || z.avail_in != 0) {
    Corrupt(in, "pipeline fingerprint does not inflate");
  }
  std::vector<std::string> pipeline;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    pipeline.push_back(text.substr(start, end - start));
    // Every entry is "op(params)" after its indentation: an empty one is not a pipeline.
    if (pipeline.back().find_first_not_of(' ') == std::string::npos) {
      Corrupt(in, "empty entry #" + std::to_string(pipeline.size() - 1) +
                      " in the pipeline fingerprint");
    }
    start = end + 1;
  }
  return pipeline;
}

void DecodeNode(ByteReader& in, StateNode* node, int depth) {
  if (depth > kMaxDepth) Corrupt(in, "state tree deeper than " + std::to_string(kMaxDepth));
  node->name = GetString(in, "node name");
  node->op = GetString(in, "op name");
  for (uint64_t i = 0, n = GetCount(in, "field"); i < n; ++i) {
    std::string key = GetString(in, "field name");
    int64_t value;
    if (!in.GetZigZag64(&value)) Corrupt(in, "truncated value of field '" + key + "'");
    node->ints.emplace_back(std::move(key), value);
  }
  for (uint64_t i = 0, n = GetCount(in, "blob"); i < n; ++i) {
    std::string key = GetString(in, "blob name");
    node->blobs.emplace_back(std::move(key), GetString(in, "blob"));
  }
  for (uint64_t i = 0, n = GetCount(in, "external-state"); i < n; ++i) {
    node->external_state.push_back(GetString(in, "external-state entry"));
  }
  for (uint64_t i = 0, n = GetCount(in, "child"); i < n; ++i) {
    node->children.emplace_back();
    DecodeNode(in, &node->children.back(), depth + 1);
  }
}
}  // namespace

EncodedPipeline EncodePipeline(const std::vector<std::string>& pipeline) {
  return {DeflatePipeline(pipeline)};
}

std::string EncodeState(const std::vector<std::string>& pipeline, const StateNode& root) {
  return EncodeState(EncodePipeline(pipeline), root);
}

EncodedStateNode EncodeStateNode(const StateNode& node) {
  EncodedStateNode encoded;
  encoded.bytes.resize(EncodedContentSize(node));
  Cursor out(encoded.bytes.data());
  EncodeContent(node, out);
  assert(out.position() == encoded.bytes.data() + encoded.bytes.size());
  encoded.external_state = node.CollectExternalState();
  return encoded;
}

char* EncodeStateInto(const EncodedPipeline& pipeline, const StateNode& root,
                      StateAllocator allocate, void* context) {
  const size_t body_size = LengthPrefixedSize(pipeline.deflated) + EncodedNodeSize(root);
  const size_t header = kMagic.size() + VarintLength(kFormatVersion) + VarintLength(body_size);
  char* const buffer = allocate(context, header + body_size + 4);
  if (buffer == nullptr) return nullptr;
  Cursor out(buffer);
  out.Bytes(kMagic);
  out.Varint(kFormatVersion);
  out.Varint(body_size);
  out.LengthPrefixed(pipeline.deflated);
  out.LengthPrefixed(root.name);
  EncodeContent(root, out);
  assert(out.position() == buffer + header + body_size);  // the sizes agree with the writer
  out.Fixed32(crc32c::Mask(crc32c::Value(buffer, header + body_size)));
  return buffer;
}

char* AllocateInString(void* context, size_t size) {
  auto* s = static_cast<std::string*>(context);
  s->resize(size);
  return s->data();
}

std::string EncodeState(const EncodedPipeline& pipeline, const StateNode& root) {
  std::string out;
  EncodeStateInto(pipeline, root, &AllocateInString, &out);
  return out;
}

DecodedState DecodeState(std::string_view bytes) {
  if (bytes.size() < kMagic.size() || bytes.substr(0, kMagic.size()) != kMagic) {
    throw DataLossError("not an inputpipe state: the bytes do not start with \"IPST\" (" +
                        std::to_string(bytes.size()) + " bytes)");
  }
  ByteReader in(bytes.substr(kMagic.size()));
  DecodedState decoded;
  uint64_t version, body_size;
  if (!in.GetVarint64(&version)) throw DataLossError("corrupt state: truncated in the header");
  // Refused before the checksum: a newer layout may place it elsewhere.
  if (version > kFormatVersion) {
    throw DataLossError("state format version " + std::to_string(version) +
                        " is not supported by this inputpipe (reads version " +
                        std::to_string(kFormatVersion) +
                        "): the state was saved by a newer inputpipe; restore it with that "
                        "version or a later one");
  }
  if (version != kFormatVersion) {
    throw DataLossError("state format version " + std::to_string(version) +
                        " is not supported by this inputpipe (reads version " +
                        std::to_string(kFormatVersion) + ")");
  }
  if (!in.GetVarint64(&body_size)) throw DataLossError("corrupt state: truncated in the header");
  if (body_size + 4 != in.remaining()) {
    throw DataLossError("corrupt state: " + std::to_string(bytes.size()) +
                        " bytes where the header announces " +
                        std::to_string(kMagic.size() + in.offset() + body_size + 4) +
                        (body_size + 4 > in.remaining() ? " (truncated)" : " (trailing bytes)"));
  }
  size_t checked = kMagic.size() + in.offset() + body_size;
  uint32_t stored = crc32c::Unmask(DecodeFixed32(bytes.data() + checked));
  uint32_t actual = crc32c::Value(bytes.data(), checked);
  if (stored != actual) {
    throw DataLossError("corrupt state: checksum mismatch (stored " + std::to_string(stored) +
                        ", computed " + std::to_string(actual) + ")");
  }
  decoded.format_version = static_cast<uint32_t>(version);
  std::string_view body;
  in.GetBytes(body_size, &body);
  ByteReader body_in(body);
  decoded.pipeline = InflatePipeline(body_in);
  DecodeNode(body_in, &decoded.root, 0);
  if (body_in.remaining() != 0) Corrupt(body_in, "trailing bytes after the state tree");
  return decoded;
}

namespace {
void JsonString(std::string_view s, std::string* out) {
  out->push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"': *out += "\\\""; break;
      case '\\': *out += "\\\\"; break;
      case '\n': *out += "\\n"; break;
      case '\t': *out += "\\t"; break;
      default:
        if (c < 0x20 || c >= 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          *out += buf;
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
  out->push_back('"');
}

std::string Indent(int depth) { return std::string(2 * depth, ' '); }

void NodeJson(const StateNode& node, int depth, std::string* out) {
  std::string in = Indent(depth + 1);
  *out += "{\n" + in + "\"op\": ";
  JsonString(node.op, out);
  for (const auto& [key, value] : node.ints) {
    *out += ",\n" + in;
    JsonString(key, out);
    *out += ": " + std::to_string(value);
  }
  for (const auto& [key, value] : node.blobs) {
    *out += ",\n" + in;
    JsonString(key, out);
    *out += ": {\"bytes\": " + std::to_string(value.size()) + "}";
  }
  if (!node.external_state.empty()) {
    *out += ",\n" + in + "\"external_state\": [";
    for (size_t i = 0; i < node.external_state.size(); ++i) {
      if (i) *out += ", ";
      JsonString(node.external_state[i], out);
    }
    *out += "]";
  }
  for (const auto& child : node.children) {
    *out += ",\n" + in;
    JsonString(child.name, out);
    *out += ": ";
    NodeJson(child, depth + 1, out);
  }
  *out += "\n" + Indent(depth) + "}";
}
}  // namespace

std::string InspectState(std::string_view bytes) {
  DecodedState decoded = DecodeState(bytes);
  std::string out = "{\n  \"format\": \"inputpipe-state\",\n  \"version\": " +
                    std::to_string(decoded.format_version) + ",\n  \"bytes\": " +
                    std::to_string(bytes.size()) + ",\n  \"pipeline\": [";
  for (size_t i = 0; i < decoded.pipeline.size(); ++i) {
    out += i ? ",\n    " : "\n    ";
    JsonString(decoded.pipeline[i], &out);
  }
  out += "\n  ],\n  \"state\": ";
  NodeJson(decoded.root, 1, &out);
  out += "\n}\n";
  return out;
}

}  // namespace inputpipe
