// The bodies of the libFuzzer targets, shared by the *_fuzzer.cc entry points (built with
// -DINPUTPIPE_BUILD_FUZZERS=ON and clang) and by fuzz_regression_test.cc, which replays the
// seed corpus and every crasher kept under tests/data/fuzz/ in the ordinary test binary.
//
// Each takes arbitrary bytes and must never crash, hang or allocate without bound: malformed
// input may only end in an inputpipe::Error.
#ifndef INPUTPIPE_FUZZ_FUZZ_TARGETS_H_
#define INPUTPIPE_FUZZ_FUZZ_TARGETS_H_

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "inputpipe/file_system.h"
#include "inputpipe/ops.h"
#include "inputpipe/readers.h"
#include "inputpipe/state.h"
#include "readers/csv_parser.h"
#include "readers/example_parser.h"
#include "readers/input_stream.h"
#include "readers/tfrecord_format.h"

namespace inputpipe::fuzz {

// Invariant violated: abort, so the fuzzer records the input.
inline void Check(bool ok) {
  if (!ok) std::abort();
}

// The CSV parser over every record of the input; the first byte picks the dialect.
inline void FuzzCsv(const uint8_t* data, size_t size) {
  if (size == 0) return;
  CsvDialect dialect{(data[0] & 1) ? ';' : ',', (data[0] & 2) != 0};
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  CsvRecord record;
  while (!rest.empty()) {
    size_t consumed = 0;
    // Parsing a prefix either completes the same record or asks for more.
    CsvStatus partial = ParseCsvRecord(rest.substr(0, rest.size() / 2 + 1), false, dialect,
                                       &record, &consumed);
    if (partial != CsvStatus::kNeedMore) Check(consumed > 0 && consumed <= rest.size() / 2 + 1);
    CsvStatus status = ParseCsvRecord(rest, true, dialect, &record, &consumed);
    Check(status != CsvStatus::kNeedMore);
    Check(consumed > 0 && consumed <= rest.size());
    for (std::string_view field : record.fields) Check(field.size() <= rest.size());
    rest.remove_prefix(consumed);
  }
}

// The TFRecord framing over the input as a file (the first byte picks the compression).
inline void FuzzTFRecord(const uint8_t* data, size_t size) {
  if (size == 0) return;
  Compression c = data[0] % 3 == 0 ? Compression::kNone
                  : data[0] % 3 == 1 ? Compression::kGzip : Compression::kZlib;
  auto in = InputStream::FromBytes(std::string(reinterpret_cast<const char*>(data) + 1, size - 1),
                                   c, "fuzz.tfrecord");
  RecordPosition pos;
  std::string_view record;
  try {
    for (int i = 0; i < 100000; ++i) {
      try {
        if (!ReadTFRecord(*in, /*max_record_bytes=*/1 << 20, "tfrecord", pos, &record)) return;
        Check(record.size() <= size * 1100 + 64);  // even decompressed, bounded by the input
      } catch (const BadRecordError& e) {
        if (e.file_broken()) return;
      }
    }
  } catch (const Error&) {
  }
}

// tf.train.Example parsing with a spec of every kind.
inline void FuzzExample(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  static const std::vector<FeatureSpec> specs = {
      FixedLenFeature("a", {}, DType::kInt64, Tensor::Scalar<int64_t>(0)),
      FixedLenFeature("b", {2}, DType::kFloat32, Tensor::FromVector<float>({0, 0})),
      FixedLenFeature("c", {}, DType::kString, Tensor::String("")),
      VarLenFeature("d", DType::kInt64), VarLenFeature("e", DType::kFloat32),
      VarLenFeature("f", DType::kString),
      FixedLenSequenceFeature("g", {}, DType::kInt64, /*allow_missing=*/true),
      RaggedFeature("h", DType::kInt64, "d"),
      RaggedFeature("i", DType::kFloat32, "e", {RaggedPartition::RowLengths("d")}),
      RaggedFeature("j", DType::kInt64, "d",
                    {RaggedPartition::RowSplits("a"), RaggedPartition::ValueRowIds("d")},
                    DType::kInt32),
      RaggedFeature("k", DType::kString, "f",
                    {RaggedPartition::RowStarts("d"), RaggedPartition::RowLimits("d"),
                     RaggedPartition::UniformRowLength(2)}),
      SparseFeature("l", {"d"}, "e", DType::kFloat32, {4})};
  try {
    ParseSingleExample(bytes, specs);
  } catch (const Error&) {
  }
  try {  // a batch: the rows' ragged dimensions joined
    ParseExample(Tensor::FromStrings({std::string(bytes), std::string(bytes)}, {2}), specs);
  } catch (const Error&) {
  }
  std::vector<std::pair<std::string_view, RawFeature>> features;
  std::string error;
  if (DecodeExample(bytes, &features, &error)) {
    for (size_t i = 1; i < features.size(); ++i) Check(features[i - 1].first < features[i].first);
  }
}

// The state decoder and its JSON view.
inline void FuzzState(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    DecodedState state = DecodeState(bytes);
    Check(EncodeState(state.pipeline, state.root).size() <= size + 64);
  } catch (const Error&) {
  }
  try {
    InspectState(bytes);
  } catch (const Error&) {
  }
}

// ---- Restoring checksum-valid states with out-of-range integers -----------------------------

// The pipelines FuzzRestore restores into: in-memory sources and files, buffers, nesting. None
// reshuffles, so that every fresh iterator yields the same stream.
inline const std::vector<DatasetPtr>& RestorePipelines() {
  static const std::vector<DatasetPtr> pipelines = [] {
    const std::string a = "memory://fuzz_restore/a.txt", b = "memory://fuzz_restore/b.txt";
    std::string lines;
    for (int i = 0; i < 40; ++i) lines += "line " + std::to_string(i) + "\n";
    WriteFileAtomically(*FileSystemForPath(a), a, lines);
    WriteFileAtomically(*FileSystemForPath(b), b, lines.substr(0, 100));
    ReaderOptions batched;
    batched.batch_size = 3;
    return std::vector<DatasetPtr>{
        Batch(Shuffle(Range(0, 200), 16, 1, false), 4),
        Shuffle(TextLineDataset({a, b}), 8, 2, false),
        TextLineDataset({a, b}, batched),
        FlatMap(Window(Repeat(Range(0, 30), 3), 4, 3), [](const Element& e) { return e.dataset(); },
                {"flatten"}),
        Zip({Enumerate(Skip(Take(Counter(0, 3), 500), 4)), GlobalShuffle(Range(0, 100), 5, false)}),
        Interleave(Range(0, 4), [](const Element& e) {
          int64_t x = e.tensor().scalar<int64_t>();
          return Range(x * 10, x * 10 + 7);
        }, 2, 2, 0, true, {"ranges"}),
    };
  }();
  return pipelines;
}

inline void CollectStateInts(StateNode& node, std::vector<int64_t*>& out) {
  for (auto& [key, value] : node.ints) out.push_back(&value);
  for (auto& child : node.children) CollectStateInts(child, out);
}

inline std::vector<Element> FirstElements(Iterator& it, int n) {
  std::vector<Element> out;
  for (int i = 0; i < n; ++i) {
    std::optional<Element> e = it.GetNext();
    if (!e) break;
    out.push_back(*e);
  }
  return out;
}

// The number of integers in the state of pipeline `pipeline` saved after `taken` elements.
inline size_t RestoreStateIntCount(size_t pipeline, int taken) {
  std::unique_ptr<Iterator> it = RestorePipelines()[pipeline]->MakeIterator();
  FirstElements(*it, taken);
  DecodedState decoded = DecodeState(it->Save());
  std::vector<int64_t*> ints;
  CollectStateInts(decoded.root, ints);
  return ints.size();
}

// Input: byte 0 picks the pipeline, byte 1 how many elements it produces before the save; then
// 9-byte records (which integer of the state tree, its new little-endian value). The state is
// re-encoded with a valid checksum and restored into a fresh iterator. A rejected restore must
// be a DataLossError or PipelineMismatchError and leave the iterator fresh (its next elements
// are the pipeline's first ones); an accepted one must then run (a few elements).
inline void FuzzRestore(const uint8_t* data, size_t size) {
  if (size < 2) return;
  const std::vector<DatasetPtr>& pipelines = RestorePipelines();
  const DatasetPtr& ds = pipelines[data[0] % pipelines.size()];
  std::unique_ptr<Iterator> it = ds->MakeIterator();
  FirstElements(*it, data[1] % 32);
  DecodedState decoded = DecodeState(it->Save());
  std::vector<int64_t*> ints;
  CollectStateInts(decoded.root, ints);
  if (ints.empty()) return;
  for (size_t i = 2; i + 9 <= size; i += 9) {
    uint64_t value = 0;
    for (int k = 0; k < 8; ++k) value |= uint64_t{data[i + 1 + k]} << (8 * k);
    *ints[data[i] % ints.size()] = static_cast<int64_t>(value);
  }
  const std::string state = EncodeState(decoded.pipeline, decoded.root);
  std::unique_ptr<Iterator> restored = ds->MakeIterator();
  bool rejected = false;
  try {
    restored->Restore(state);
  } catch (const DataLossError&) {
    rejected = true;
  } catch (const PipelineMismatchError&) {
    rejected = true;
  }
  if (!rejected) {
    try {
      FirstElements(*restored, 8);
    } catch (const Error&) {
      // A legal other position may hit an error of the data; it must only be a typed one.
    }
    return;
  }
  std::vector<Element> fresh = FirstElements(*ds->MakeIterator(), 4);
  Check(!restored->started());
  Check(FirstElements(*restored, 4) == fresh);
}

}  // namespace inputpipe::fuzz

#endif  // INPUTPIPE_FUZZ_FUZZ_TARGETS_H_
