// A minimal decoder of the protobuf wire format of tf.train.Example, with no protobuf
// dependency. The messages (tensorflow/core/example/{example,feature}.proto):
//   Example   { Features features = 1; }
//   Features  { map<string, Feature> feature = 1; }      // entries: key = 1, value = 2
//   Feature   { oneof kind { BytesList bytes_list = 1; FloatList float_list = 2;
//                            Int64List int64_list = 3; } }
//   BytesList { repeated bytes value = 1; }
//   FloatList { repeated float value = 1 [packed = true]; }   // packed or not: both accepted
//   Int64List { repeated int64 value = 1 [packed = true]; }
// Unknown fields are skipped, as protobuf does; a key given twice keeps its last value.
#ifndef INPUTPIPE_READERS_EXAMPLE_PARSER_H_
#define INPUTPIPE_READERS_EXAMPLE_PARSER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace inputpipe {

struct RawFeature {
  enum class Kind : uint8_t { kNone, kBytes, kFloat, kInt64 };
  Kind kind = Kind::kNone;
  std::string_view list;  // the serialized BytesList / FloatList / Int64List
};

// The features of one serialized Example, sorted by key, one entry per key. False (and
// *error) when the bytes are not a valid Example.
bool DecodeExample(std::string_view serialized,
                   std::vector<std::pair<std::string_view, RawFeature>>* features,
                   std::string* error);
// The values of a list, appended to *out. False (and *error) when malformed.
bool DecodeInt64List(std::string_view list, std::vector<int64_t>* out, std::string* error);
bool DecodeFloatList(std::string_view list, std::vector<float>* out, std::string* error);
bool DecodeBytesList(std::string_view list, std::vector<std::string_view>* out, std::string* error);

// Encoders, for tests and tools: a serialized Example from (key, feature) pairs.
std::string EncodeInt64List(const std::vector<int64_t>& values);
std::string EncodeFloatList(const std::vector<float>& values);
std::string EncodeBytesList(const std::vector<std::string>& values);
std::string EncodeExample(const std::vector<std::pair<std::string, RawFeature>>& features);

}  // namespace inputpipe

#endif  // INPUTPIPE_READERS_EXAMPLE_PARSER_H_
