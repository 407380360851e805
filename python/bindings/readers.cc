// RegisterReaders: the file readers, list_files, ignore_errors, TFRecordWriter and
// tf.train.Example parsing (include/inputpipe/readers.h) as module functions; the tf.data-style
// Python API is python/inputpipe/readers.py. Factories run with the GIL released: building an
// index scans whole files.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include "bindings.h"
#include "inputpipe/readers.h"

namespace inputpipe::python {

namespace {
using namespace nb::literals;

DatasetHandle Wrap(DatasetPtr dataset) { return DatasetHandle{std::move(dataset)}; }

ReaderOptions Options(std::string compression_type, int64_t buffer_size, bool index,
                      bool index_sidecar, int64_t max_record_bytes) {
  ReaderOptions options;
  options.compression_type = std::move(compression_type);
  options.buffer_size = buffer_size;
  options.index = index;
  options.index_sidecar = index_sidecar;
  if (max_record_bytes > 0) options.max_record_bytes = max_record_bytes;
  return options;
}

// (key, "fixed" | "var" | "seq" | "seq_allow_missing", dtype name, shape, default or None) from
// readers.py; "seq" is a FixedLenSequenceFeature. "ragged" (RaggedFeature) has (value_key,
// row_splits_dtype, [(partition kind, key, length), ...]) as the default, the kind one of
// RowSplits, RowLengths, RowStarts, RowLimits, ValueRowIds, UniformRowLength; "sparse" / "sparse_sorted" (SparseFeature, already_sorted) has the size as the
// shape and (value_key, [index_keys]) as the default.
using PyFeature = std::tuple<std::string, std::string, std::string, std::vector<int64_t>, nb::object>;

RaggedPartition Partition(const std::string& feature, const std::string& kind, std::string key,
                          int64_t length) {
  if (kind == "RowSplits") return RaggedPartition::RowSplits(std::move(key));
  if (kind == "RowLengths") return RaggedPartition::RowLengths(std::move(key));
  if (kind == "RowStarts") return RaggedPartition::RowStarts(std::move(key));
  if (kind == "RowLimits") return RaggedPartition::RowLimits(std::move(key));
  if (kind == "ValueRowIds") return RaggedPartition::ValueRowIds(std::move(key));
  if (kind == "UniformRowLength") return RaggedPartition::UniformRowLength(length);
  throw InvalidArgumentError("RaggedFeature '" + feature + "': unknown partition kind '" + kind +
                             "'");
}

std::vector<FeatureSpec> Features(const std::vector<PyFeature>& features) {
  std::vector<FeatureSpec> out;
  for (const auto& [key, kind, dtype_name, shape, default_value] : features) {
    DType dtype = DTypeFromName(dtype_name);
    if (kind == "var") {
      out.push_back(VarLenFeature(key, dtype));
      continue;
    }
    if (kind == "ragged") {
      auto [value_key, splits_dtype, parts] = nb::cast<
          std::tuple<std::string, std::string,
                     std::vector<std::tuple<std::string, std::string, int64_t>>>>(default_value);
      std::vector<RaggedPartition> partitions;
      for (auto& [name, partition_key, length] : parts) {
        partitions.push_back(Partition(key, name, std::move(partition_key), length));
      }
      out.push_back(RaggedFeature(key, dtype, std::move(value_key), std::move(partitions),
                                  DTypeFromName(splits_dtype)));
      continue;
    }
    if (kind == "sparse" || kind == "sparse_sorted") {
      auto [value_key, index_keys] =
          nb::cast<std::pair<std::string, std::vector<std::string>>>(default_value);
      out.push_back(SparseFeature(key, std::move(index_keys), std::move(value_key), dtype,
                                  Shape(shape.begin(), shape.end()), kind == "sparse_sorted"));
      continue;
    }
    std::optional<Tensor> value;
    if (!default_value.is_none()) {
      Element e = ElementFromPython(default_value, "FixedLenFeature default_value");
      if (!e.is_tensor()) {
        throw InvalidArgumentError("FixedLenFeature '" + key + "': default_value must be a tensor");
      }
      value = e.tensor();
    }
    if (kind == "seq" || kind == "seq_allow_missing") {
      out.push_back(FixedLenSequenceFeature(key, Shape(shape.begin(), shape.end()), dtype,
                                            kind == "seq_allow_missing", value));
      continue;
    }
    out.push_back(FixedLenFeature(key, Shape(shape.begin(), shape.end()), dtype, value));
  }
  return out;
}

// The features as the parse op's fingerprint: every key, kind, dtype, shape and default.
std::string FeaturesName(const std::vector<FeatureSpec>& features) {
  std::string name;
  for (const auto& f : features) {
    if (f.kind == FeatureSpec::Kind::kRagged || f.kind == FeatureSpec::Kind::kSparse) {
      const bool ragged = f.kind == FeatureSpec::Kind::kRagged;
      name += (name.empty() ? "" : ",") + f.key + ":" +
              (ragged ? "ragged" : f.already_sorted ? "sparse_sorted" : "sparse") + ":" +
              std::string(DTypeName(f.dtype)) + ":" + f.value_key;
      // Named only when set: the fingerprints of the features made before them stay.
      for (const RaggedPartition& p : f.partitions) name += "/" + RaggedPartitionString(p);
      if (ragged && f.row_splits_dtype != DType::kInt64) {
        name += ":" + std::string(DTypeName(f.row_splits_dtype));
      }
      if (!ragged) {
        for (const std::string& index_key : f.index_keys) name += "/" + index_key;
        name += ShapeString(f.shape);
      }
      continue;
    }
    const char* kind = f.kind == FeatureSpec::Kind::kVarLen ? "var"
                       : f.kind == FeatureSpec::Kind::kFixedLen
                           ? "fixed"
                           : (f.allow_missing ? "seq_allow_missing" : "seq");
    name += (name.empty() ? "" : ",") + f.key + ":" + kind + ":" + std::string(DTypeName(f.dtype));
    if (f.kind != FeatureSpec::Kind::kVarLen) {
      name += ShapeString(f.shape);
      if (f.default_value) name += "=" + ElementDigest(Element(*f.default_value)).substr(0, 8);
    }
  }
  return name;
}

Tensor SerializedBatch(nb::handle serialized) {
  Element e = ElementFromPython(serialized, "parse_example: serialized");
  if (!e.is_tensor() || !e.tensor().is_string() || e.tensor().rank() != 1) {
    throw InvalidArgumentError("parse_example: serialized must be a vector of strings, got " +
                               e.StructureString());
  }
  return e.tensor();
}
}  // namespace

void RegisterReaders(nb::module_& m) {
  // tfrecord / text_line: the same arguments, another record format.
  auto line_reader = [&m](const char* name, DatasetPtr (*make)(std::vector<std::string>, ReaderOptions)) {
    m.def(name, [make](std::vector<std::string> filenames, std::string compression_type,
                       int64_t buffer_size, bool index, bool index_sidecar, int64_t max_record_bytes) {
      GilRelease release;
      return Wrap(make(std::move(filenames), Options(std::move(compression_type), buffer_size, index,
                                                     index_sidecar, max_record_bytes)));
    }, "filenames"_a, "compression_type"_a, "buffer_size"_a, "index"_a, "index_sidecar"_a,
       "max_record_bytes"_a);
  };
  line_reader("tfrecord", &TFRecordDataset);
  line_reader("text_line", &TextLineDataset);

  m.def("csv", [](std::vector<std::string> filenames, std::vector<std::string> dtypes,
                  std::vector<nb::object> defaults, bool header, std::string field_delim,
                  bool use_quote_delim, std::string na_value, std::vector<int64_t> select_cols,
                  std::vector<int64_t> exclude_cols, int64_t batch_size, bool drop_remainder,
                  std::string compression_type, int64_t buffer_size, bool index,
                  bool index_sidecar, int64_t max_record_bytes) {
    if (dtypes.size() != defaults.size()) {
      throw InvalidArgumentError("csv: dtypes and defaults differ in length");
    }
    if (field_delim.size() != 1) {
      throw InvalidArgumentError("csv: field_delim must be one character, got '" + field_delim + "'");
    }
    std::vector<CsvColumn> columns;
    for (size_t i = 0; i < dtypes.size(); ++i) {
      DType dtype = DTypeFromName(dtypes[i]);
      if (defaults[i].is_none()) {
        columns.push_back(CsvColumn::Required(dtype));
        continue;
      }
      Element e = ElementFromPython(defaults[i], "csv: record_defaults");
      if (!e.is_tensor() || e.tensor().dtype() != dtype || e.tensor().num_elements() != 1) {
        throw InvalidArgumentError("csv: record_defaults[" + std::to_string(i) + "] must be one " +
                                   dtypes[i] + " value, got " + e.DebugString());
      }
      columns.push_back(CsvColumn{dtype, e.tensor()});
    }
    CsvOptions csv;
    csv.header = header;
    csv.field_delim = field_delim[0];
    csv.use_quote_delim = use_quote_delim;
    csv.na_value = std::move(na_value);
    csv.select_cols = std::move(select_cols);
    csv.exclude_cols = std::move(exclude_cols);
    ReaderOptions options =
        Options(std::move(compression_type), buffer_size, index, index_sidecar, max_record_bytes);
    options.batch_size = batch_size;  // Python's CsvDataset.batch fuses into the reader
    options.drop_remainder = drop_remainder;
    GilRelease release;
    return Wrap(CsvDataset(std::move(filenames), std::move(columns), std::move(csv), options));
  }, "filenames"_a, "dtypes"_a, "defaults"_a, "header"_a, "field_delim"_a, "use_quote_delim"_a,
     "na_value"_a, "select_cols"_a, "exclude_cols"_a, "batch_size"_a, "drop_remainder"_a,
     "compression_type"_a, "buffer_size"_a,
     "index"_a, "index_sidecar"_a, "max_record_bytes"_a);

  m.def("list_files", [](std::vector<std::string> patterns, bool shuffle, std::optional<int64_t> seed) {
    GilRelease release;
    return Wrap(ListFiles(std::move(patterns), shuffle, seed));
  }, "patterns"_a, "shuffle"_a, "seed"_a.none());

  m.def("ignore_errors", [](const DatasetHandle& h, bool log_warning) {
    return Wrap(IgnoreErrors(h.dataset, log_warning));
  }, "input"_a, "log_warning"_a);

  m.def("ignored_error_count", [](PyIterator& it) {
    PyIterator* locked[] = {&it};
    return WithIteratorsLocked(locked, [&] { return IgnoredErrorCount(it.iterator()); });
  }, "iterator"_a, "Errors skipped so far by the ignore_errors ops of the iterator's pipeline.");

  nb::class_<TFRecordWriter>(m, "TFRecordWriter")
      .def(nb::init<const std::string&, const std::string&>(), "path"_a, "compression_type"_a)
      .def("write", [](TFRecordWriter& w, nb::bytes record) {
        w.Write(std::string_view(record.c_str(), record.size()));
      }, "record"_a)
      .def("flush", &TFRecordWriter::Flush)
      .def("close", &TFRecordWriter::Close);

  m.def("parse_single_example", [](nb::bytes serialized, const std::vector<PyFeature>& features) {
    std::vector<FeatureSpec> specs = Features(features);
    Element parsed;
    {
      GilRelease release;
      parsed = ParseSingleExample(std::string_view(serialized.c_str(), serialized.size()), specs);
    }
    return ElementToPythonHandingOver(std::move(parsed));
  }, "serialized"_a, "features"_a);

  m.def("parse_example", [](nb::handle serialized, const std::vector<PyFeature>& features) {
    std::vector<FeatureSpec> specs = Features(features);
    Tensor batch = SerializedBatch(serialized);
    Element parsed;
    {
      GilRelease release;
      parsed = ParseExample(batch, specs);
    }
    return ElementToPythonHandingOver(std::move(parsed));
  }, "serialized"_a, "features"_a);

  m.def("map_parse_example", [](const DatasetHandle& h, const std::vector<PyFeature>& features,
                                bool single) {
    std::vector<FeatureSpec> specs = Features(features);
    std::string name = std::string(single ? "parse_single_example" : "parse_example") + "[" +
                       FeaturesName(specs) + "]";
    MapFn fn = single ? ParseSingleExampleFn(std::move(specs)) : ParseExampleFn(std::move(specs));
    return Wrap(Map(h.dataset, std::move(fn), {.name = std::move(name)}));
  }, "input"_a, "features"_a, "single"_a,
     "map(parse_[single_]example) running in C++: no Python call per element.");
}

}  // namespace inputpipe::python
