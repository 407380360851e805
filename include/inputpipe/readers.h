// File readers: CSV, TFRecord and text lines, tf.train.Example parsing, list_files and
// ignore_errors, with tf.data's semantics and names.
//
//   #include "inputpipe/readers.h"
//   using namespace inputpipe;
//   DatasetPtr rows = CsvDataset({"train.csv"},
//                                {CsvColumn::Required(DType::kInt64),           // no default
//                                 CsvColumn::Default(Tensor::Scalar(0.5f))},    // float32
//                                {.header = true});
//   DatasetPtr examples = Map(TFRecordDataset({"a.tfrecord"}),
//                             ParseSingleExampleFn({FixedLenFeature("label", {}, DType::kInt64),
//                                                   VarLenFeature("tokens", DType::kString)}),
//                             {.name = "parse"});
//   DatasetPtr indexed = TFRecordDataset({"a.tfrecord"}, {.index = true});  // random-access
//
// State: a reader's state is its position, never data: the index of the current file, the
// record index and uncompressed byte offset of the next record in it, and the fingerprint
// (size, modification time in ns) of that file. Restoring after the file changed is a
// PipelineMismatchError naming the file. Files already finished are not fingerprinted: the
// position does not depend on them. Resuming mid-file seeks to the saved offset; for a GZIP or
// ZLIB file the stream is decompressed again from its start and the bytes before the offset
// are skipped (compressed streams cannot seek).
//
// Random access: with ReaderOptions::index the factory scans every file once and keeps the
// offset of each record in memory (optionally in a sidecar file "<file>.ipidx" next to the
// data, reused while the file's fingerprint matches). The dataset then has a Cardinality and
// Get(i), so a global shuffle can permute it. Indexing needs uncompressed files.
//
// Bad input: a malformed CSV row, a TFRecord with a bad CRC, a truncated or absurdly long
// record (over ReaderOptions::max_record_bytes), a gzip stream ending early: DataLossError; a
// missing or unreadable file: IOError. Each message names the op, the file, the line or byte
// offset, and what was wrong. The reader stays usable after such an error: it has moved past
// the bad record (or, when the rest of the file cannot be trusted, to the next file), which
// is what IgnoreErrors relies on.
#ifndef INPUTPIPE_READERS_H_
#define INPUTPIPE_READERS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "inputpipe/dataset.h"
#include "inputpipe/ops.h"

namespace inputpipe {

// ---- Options shared by the readers -------------------------------------------------------
struct ReaderOptions {
  // "" (none), "GZIP" or "ZLIB", as tf.data spells them.
  std::string compression_type;
  // Bytes read from the file at a time; 0 picks 1 MiB (tf.data's buffer_size).
  int64_t buffer_size = 0;
  // Build the record index at construction (one scan), making the dataset random-access.
  bool index = false;
  // With index: load the index from "<file>.ipidx" when present and valid for the file's
  // current fingerprint, else build it and write that sidecar (a warning on stderr when the
  // directory is not writable).
  bool index_sidecar = false;
  // Hard cap on one record or line: a longer one is a DataLossError, so a corrupt or hostile
  // length field cannot allocate gigabytes.
  int64_t max_record_bytes = int64_t{256} << 20;
  // > 0: the reader emits batches of batch_size records, exactly what
  // Batch(reader, batch_size, drop_remainder) gives (batches span files), but the CSV reader
  // parses straight into the batch's columns: no tensor per field. The state stays a position.
  int64_t batch_size = 0;
  bool drop_remainder = false;
};

// TFRecord files as TensorFlow writes them: per record a little-endian uint64 length, the
// masked CRC32C of those 8 bytes, the data, the masked CRC32C of the data. Both checksums are
// verified. Elements are string scalars.
DatasetPtr TFRecordDataset(std::vector<std::string> filenames, ReaderOptions options = {});

// One string scalar per line, without its "\n" or "\r\n" (tf.data's TextLineDataset).
DatasetPtr TextLineDataset(std::vector<std::string> filenames, ReaderOptions options = {});

// ---- CSV ---------------------------------------------------------------------------------
// One entry of CsvDataset's record_defaults: the column's dtype (int32, int64, float32,
// float64 or string) and, unless the column is required, the value of a missing field.
struct CsvColumn {
  DType dtype = DType::kString;
  std::optional<Tensor> default_value;  // scalar of `dtype`; nullopt = required

  static CsvColumn Required(DType dtype) { return {dtype, std::nullopt}; }
  static CsvColumn Default(Tensor value) { return {value.dtype(), std::move(value)}; }
};

struct CsvOptions {
  bool header = false;           // skip the first line of every file
  char field_delim = ',';
  bool use_quote_delim = true;   // RFC 4180 double quotes; false: quotes are ordinary bytes
  std::string na_value;          // a field equal to it is missing (as is an empty field)
  std::vector<int64_t> select_cols;   // sorted column indices to output (excludes exclude_cols)
  std::vector<int64_t> exclude_cols;  // sorted column indices to drop
};

// tf.data's CsvDataset: each record is a tuple of scalars, one per output column, typed by
// record_defaults. A missing field (empty or na_value) takes its column's default; a missing
// required field, a field that does not parse as its column's number type, a wrong number of
// fields, a quote inside an unquoted field or an unterminated quote is a DataLossError naming
// the file, the line and the column. Numbers are parsed with std::from_chars after trimming
// spaces, accepting what TensorFlow accepts ("+1"; for floats also "inf", "nan" and hex "0x10").
// Records end at "\n", "\r\n" or a lone "\r"; an empty line is a record of one empty field.
DatasetPtr CsvDataset(std::vector<std::string> filenames, std::vector<CsvColumn> record_defaults,
                      CsvOptions csv = {}, ReaderOptions options = {});

// ---- TFRecord writing --------------------------------------------------------------------
// Writes records in the TFRecord format (compression "", "GZIP" or "ZLIB"). Close() (or the
// destructor) finishes the file; errors are IOErrors naming the file.
class TFRecordWriter {
 public:
  explicit TFRecordWriter(const std::string& path, const std::string& compression_type = "");
  ~TFRecordWriter();
  TFRecordWriter(const TFRecordWriter&) = delete;
  TFRecordWriter& operator=(const TFRecordWriter&) = delete;

  void Write(std::string_view record);
  void Flush();
  void Close();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// ---- tf.train.Example ----------------------------------------------------------------------
// A feature to parse: FixedLenFeature (a dense tensor of `shape`, filled from `default_value`
// when the example lacks it; required when there is no default) or VarLenFeature (any number
// of values, returned as a sparse tensor). dtype: int64, float32 or string.
// FixedLenSequenceFeature (tf.io.FixedLenSequenceFeature): a sequence of steps of `shape`
// (the values, num_elements(shape) per step), a tensor [steps, *shape], or [B, longest, *shape]
// in a batch, padded with the scalar default_value (0 or "" without one); allow_missing: a
// missing feature is a sequence of no step (else an error, and TensorFlow's parse_example
// requires allow_missing).
// Ragged (tf.io.RaggedFeature): the values of feature value_key (key when empty), a vector for
// a single example and a ragged value (inputpipe/ragged.h) of one row per record for a batch;
// a missing feature is an empty row. partitions (outermost first) split each record's values
// into more ragged dimensions, each from an int64 feature of the record (RaggedPartition): a
// single example is then a ragged value of partitions.size() ragged dimensions, a batch one of
// one more. The partitions are always checked (tf's validate=True): lengths that do not add up
// to the values, splits that decrease, are an InvalidArgumentError naming the feature, the
// partition and the record. row_splits_dtype: kInt64 or kInt32, for every ragged dimension.
// Sparse (tf.io.SparseFeature): the values of value_key placed at the positions given by the
// int64 features index_keys (one per dimension of `shape`, the dense shape), as VarLen's dict
// {"indices": int64[n, rank], "values", "dense_shape": shape} (a batch adds the row as the first
// index and dimension); sorted by position unless already_sorted. Index and value counts that
// differ, or an index outside [0, shape[d]), is an InvalidArgumentError naming the feature.
// One ragged dimension of a RaggedFeature, as tf.io.RaggedFeature's partitions: the rows of
// the dimension inside it (or of the values, for the innermost), split by the int64 feature
// `key` of the record as row splits, row lengths, row starts, row limits or the row of each
// value (value_rowids), or in rows of `length` (UniformRowLength, which has no key; the
// dimension comes out as a ragged one of equal rows).
struct RaggedPartition {
  enum class Kind : uint8_t {
    kRowSplits, kRowLengths, kRowStarts, kRowLimits, kValueRowIds, kUniformRowLength
  };
  Kind kind = Kind::kRowLengths;
  std::string key;     // all but kUniformRowLength
  int64_t length = 0;  // kUniformRowLength: positive
  static RaggedPartition RowSplits(std::string key) { return {Kind::kRowSplits, std::move(key)}; }
  static RaggedPartition RowLengths(std::string key) { return {Kind::kRowLengths, std::move(key)}; }
  static RaggedPartition RowStarts(std::string key) { return {Kind::kRowStarts, std::move(key)}; }
  static RaggedPartition RowLimits(std::string key) { return {Kind::kRowLimits, std::move(key)}; }
  static RaggedPartition ValueRowIds(std::string key) {
    return {Kind::kValueRowIds, std::move(key)};
  }
  static RaggedPartition UniformRowLength(int64_t length) {
    return {Kind::kUniformRowLength, "", length};
  }
};
// "RowLengths('lens')", "UniformRowLength(3)": as the errors and the fingerprint name it.
std::string RaggedPartitionString(const RaggedPartition& partition);

struct FeatureSpec {
  enum class Kind : uint8_t { kFixedLen, kVarLen, kFixedLenSequence, kRagged, kSparse };
  std::string key;
  Kind kind = Kind::kFixedLen;
  DType dtype = DType::kInt64;
  Shape shape;                          // FixedLen and FixedLenSequence (one step); Sparse: size
  std::optional<Tensor> default_value;  // FixedLen: num_elements(shape) values or 1 (broadcast);
                                        // FixedLenSequence: the padding, a scalar
  bool allow_missing = false;           // FixedLenSequence only
  std::string value_key;                // Ragged and Sparse
  std::vector<std::string> index_keys;  // Sparse
  bool already_sorted = false;          // Sparse
  std::vector<RaggedPartition> partitions;  // Ragged, outermost first
  DType row_splits_dtype = DType::kInt64;   // Ragged: kInt64 or kInt32
};
FeatureSpec FixedLenFeature(std::string key, Shape shape, DType dtype,
                            std::optional<Tensor> default_value = std::nullopt);
FeatureSpec VarLenFeature(std::string key, DType dtype);
FeatureSpec FixedLenSequenceFeature(std::string key, Shape shape, DType dtype,
                                    bool allow_missing = false,
                                    std::optional<Tensor> default_value = std::nullopt);
// value_key empty: the feature `key` itself.
FeatureSpec RaggedFeature(std::string key, DType dtype, std::string value_key = "",
                          std::vector<RaggedPartition> partitions = {},
                          DType row_splits_dtype = DType::kInt64);
FeatureSpec SparseFeature(std::string key, std::vector<std::string> index_keys,
                          std::string value_key, DType dtype, Shape size,
                          bool already_sorted = false);

// A dict keyed by feature name, keys sorted. A FixedLen feature is a tensor of its shape; a
// VarLen feature is what TensorFlow returns as a SparseTensor, here the dict
// {"indices": int64[n, 1], "values": dtype[n], "dense_shape": int64[1]}.
// A record that is not a valid Example, a missing required feature, a dtype or value-count
// mismatch: DataLossError / InvalidArgumentError naming the feature.
Element ParseSingleExample(std::string_view serialized, const std::vector<FeatureSpec>& features);
// `serialized` is a string vector of B records: FixedLen features gain a leading batch
// dimension; VarLen ones are {"indices": int64[n, 2] (row, position), "values",
// "dense_shape": int64[2] = [B, longest row]}, as tf.io.parse_example does.
Element ParseExample(const Tensor& serialized, const std::vector<FeatureSpec>& features);
// The two as map functions: the element must be a string scalar (single) or vector (batch).
MapFn ParseSingleExampleFn(std::vector<FeatureSpec> features);
MapFn ParseExampleFn(std::vector<FeatureSpec> features);

// ---- list_files and ignore_errors ----------------------------------------------------------
// The files matching the glob patterns, as string scalars, sorted by name when not shuffled
// (tf.data's list_files; it shuffles by default). A pattern matching nothing is an
// InvalidArgumentError naming it. Shuffled with a seed: a fixed permutation (random-access);
// without one, each iterator draws a seed, which its state saves.
DatasetPtr ListFiles(std::vector<std::string> patterns, bool shuffle = true,
                     std::optional<int64_t> seed = std::nullopt);

// Skips the elements whose production raised a data error (DataLossError, InvalidArgumentError,
// IOError) and counts them; the count is part of the state. log_warning prints each skipped
// error on stderr.
DatasetPtr IgnoreErrors(DatasetPtr input, bool log_warning = false);
// The number of errors skipped by every ignore_errors op inside `iterator`'s pipeline since it
// started (restored counts included).
int64_t IgnoredErrorCount(Iterator& iterator);

}  // namespace inputpipe

#endif  // INPUTPIPE_READERS_H_
