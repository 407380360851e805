// parse_example / parse_single_example: tf.train.Example records to tensors, with
// tf.io.FixedLenFeature / VarLenFeature / RaggedFeature / SparseFeature semantics. VarLen and
// Sparse features come out as the dict {"indices", "values", "dense_shape"} of the SparseTensor
// TensorFlow returns; Ragged ones of a batch as a ragged value (inputpipe/ragged.h).
#include <algorithm>
#include <cstring>
#include <numeric>

#include "core/tensor_ops.h"
#include "inputpipe/ragged.h"
#include "inputpipe/readers.h"
#include "readers/example_parser.h"

namespace inputpipe {

namespace {
using Kind = RawFeature::Kind;

Kind KindOf(DType dtype) {
  return dtype == DType::kInt64 ? Kind::kInt64 : dtype == DType::kFloat32 ? Kind::kFloat : Kind::kBytes;
}
const char* KindName(Kind k) {
  return k == Kind::kInt64 ? "int64" : k == Kind::kFloat ? "float" : k == Kind::kBytes ? "bytes" : "none";
}

void CheckDType(DType dtype, const std::string& key) {
  if (dtype != DType::kInt64 && dtype != DType::kFloat32 && dtype != DType::kString) {
    throw InvalidArgumentError("parse_example: feature '" + key + "' has dtype " +
                               std::string(DTypeName(dtype)) + "; supported: int64, float32, string");
  }
}

// The values of one feature of one example, decoded into the vector of its dtype.
struct Values {
  std::vector<int64_t> ints;
  std::vector<float> floats;
  std::vector<std::string_view> bytes;
  void clear() {
    ints.clear();
    floats.clear();
    bytes.clear();
  }
  size_t size(DType dtype) const {
    return dtype == DType::kInt64 ? ints.size() : dtype == DType::kFloat32 ? floats.size() : bytes.size();
  }
};

// Accumulates a VarLen or FixedLenSequence feature over the rows of a batch.
struct SparseBuilder {
  std::vector<int64_t> indices;  // VarLen: (row, position) pairs, or positions for a single
                                 // example; FixedLenSequence: each row's number of steps
  Values values;
  std::vector<std::string> strings;
  int64_t longest = 0;
  // Ragged with partitions: each partition's row splits over the batch, outermost first (in
  // `indices`, each row's number of outermost rows).
  std::vector<std::vector<int64_t>> levels;
};

class ExampleParser {
 public:
  explicit ExampleParser(std::vector<FeatureSpec> features) : features_(std::move(features)) {
    std::sort(features_.begin(), features_.end(),
              [](const FeatureSpec& a, const FeatureSpec& b) { return a.key < b.key; });
    for (size_t i = 0; i < features_.size(); ++i) {
      if (i > 0 && features_[i].key == features_[i - 1].key) {
        throw InvalidArgumentError("parse_example: feature '" + features_[i].key + "' is given twice");
      }
    }
  }

  // batch < 0: a single example (no batch dimension).
  Element Parse(const std::vector<std::string_view>& records, bool single) const {
    const int64_t rows = static_cast<int64_t>(records.size());
    std::vector<Tensor> dense(features_.size());
    std::vector<SparseBuilder> sparse(features_.size());
    for (size_t f = 0; f < features_.size(); ++f) {
      const FeatureSpec& spec = features_[f];
      if (spec.kind != FeatureSpec::Kind::kFixedLen) continue;
      Shape shape = spec.shape;
      if (!single) shape.insert(shape.begin(), rows);
      dense[f] = Tensor::Allocate(spec.dtype, shape);
    }
    for (size_t f = 0; f < features_.size(); ++f) {  // a batch of no record has them too
      const FeatureSpec& spec = features_[f];
      if (spec.kind == FeatureSpec::Kind::kRagged) {
        sparse[f].levels.assign(spec.partitions.size(), std::vector<int64_t>{0});
      }
    }
    std::vector<std::pair<std::string_view, RawFeature>> raw;
    std::string error;
    Values values;
    for (int64_t row = 0; row < rows; ++row) {
      if (!DecodeExample(records[row], &raw, &error)) {
        throw DataLossError(Where(single, row) + ": not a valid tf.train.Example: " + error);
      }
      for (size_t f = 0; f < features_.size(); ++f) {
        const FeatureSpec& spec = features_[f];
        if (spec.kind == FeatureSpec::Kind::kSparse) {
          AppendSparse(spec, raw, single ? -1 : row, &sparse[f]);
          continue;
        }
        const RawFeature* found =
            Find(raw, spec.kind == FeatureSpec::Kind::kRagged ? spec.value_key : spec.key);
        values.clear();
        if (found != nullptr) Decode(*found, spec, single ? -1 : row, &values);
        if (spec.kind == FeatureSpec::Kind::kRagged) {
          AppendRagged(spec, raw, single ? -1 : row, values, &sparse[f]);
        } else if (spec.kind == FeatureSpec::Kind::kFixedLen) {
          FillDense(spec, row, single, found != nullptr, values, &dense[f]);
        } else if (spec.kind == FeatureSpec::Kind::kFixedLenSequence) {
          AppendSteps(spec, row, single, found != nullptr, values, &sparse[f]);
        } else {
          Append(spec, row, single, values, &sparse[f]);
        }
      }
    }
    std::vector<std::pair<std::string, Element>> out;
    out.reserve(features_.size());
    for (size_t f = 0; f < features_.size(); ++f) {
      const FeatureSpec& spec = features_[f];
      if (spec.kind == FeatureSpec::Kind::kFixedLen) {
        out.emplace_back(spec.key, std::move(dense[f]));
      } else if (spec.kind == FeatureSpec::Kind::kFixedLenSequence) {
        out.emplace_back(spec.key, SequenceTensor(spec, single, &sparse[f]));
      } else if (spec.kind == FeatureSpec::Kind::kRagged) {
        out.emplace_back(spec.key, RaggedElement(spec, single, &sparse[f]));
      } else {
        out.emplace_back(spec.key, SparseElement(spec, rows, single, &sparse[f]));
      }
    }
    return Element::Dict(std::move(out));
  }

 private:
  // A single example has no row to name: the map over a reader appends the file, record and
  // byte offset (core/record_location.h). In a batch, the row is the record's place in it.
  static std::string Where(bool single, int64_t row) {
    return single ? std::string("parse_single_example")
                  : "parse_example: record " + std::to_string(row) + " of the batch";
  }
  // row < 0: a single example.
  static std::string Where(const FeatureSpec& spec, int64_t row) {
    return Where(row < 0, row) + ", feature '" + spec.key + "'";
  }

  // The feature named `key` of a decoded example; null when absent or of no kind.
  static const RawFeature* Find(const std::vector<std::pair<std::string_view, RawFeature>>& raw,
                                const std::string& key) {
    auto it = std::lower_bound(raw.begin(), raw.end(), key,
                               [](const auto& a, const std::string& k) { return a.first < k; });
    return it != raw.end() && it->first == key && it->second.kind != Kind::kNone ? &it->second
                                                                                 : nullptr;
  }

  void Decode(const RawFeature& raw, const FeatureSpec& spec, int64_t row, Values* out) const {
    Decode(raw, spec.dtype, Where(spec, row), out);
  }
  // `where` names the feature (and, for Sparse, which of its keys) in errors.
  static void Decode(const RawFeature& raw, DType dtype, const std::string& where, Values* out) {
    const Kind want = KindOf(dtype);
    if (raw.kind != want) {
      throw InvalidArgumentError(where + ": data types don't match: expected " + KindName(want) +
                                 " values, the example has " + KindName(raw.kind));
    }
    std::string error;
    bool ok = want == Kind::kInt64   ? DecodeInt64List(raw.list, &out->ints, &error)
              : want == Kind::kFloat ? DecodeFloatList(raw.list, &out->floats, &error)
                                     : DecodeBytesList(raw.list, &out->bytes, &error);
    if (!ok) throw DataLossError(where + ": malformed value list: " + error);
  }

  // A Sparse feature of one row (row < 0: a single example): its values and their positions,
  // checked against the dense shape, in position order unless already_sorted.
  void AppendSparse(const FeatureSpec& spec,
                    const std::vector<std::pair<std::string_view, RawFeature>>& raw, int64_t row,
                    SparseBuilder* b) const {
    const std::string where = Where(spec, row);
    Values values;
    if (const RawFeature* found = Find(raw, spec.value_key)) {
      Decode(*found, spec.dtype, where + ", value_key '" + spec.value_key + "'", &values);
    }
    const int64_t n = static_cast<int64_t>(values.size(spec.dtype));
    const size_t rank = spec.index_keys.size();
    std::vector<Values> index(rank);
    for (size_t d = 0; d < rank; ++d) {
      const std::string& key = spec.index_keys[d];
      if (const RawFeature* found = Find(raw, key)) {
        Decode(*found, DType::kInt64, where + ", index_key '" + key + "'", &index[d]);
      }
      if (static_cast<int64_t>(index[d].ints.size()) != n) {
        throw InvalidArgumentError(where + ": index_key '" + key + "' has " +
                                   std::to_string(index[d].ints.size()) +
                                   " indices, value_key '" + spec.value_key + "' has " +
                                   std::to_string(n) + " values");
      }
      for (int64_t i : index[d].ints) {
        if (i < 0 || i >= spec.shape[d]) {
          throw InvalidArgumentError(where + ": index " + std::to_string(i) + " of index_key '" +
                                     key + "' is out of range [0, " +
                                     std::to_string(spec.shape[d]) + ")");
        }
      }
    }
    std::vector<int64_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    if (!spec.already_sorted) {
      std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) {
        for (size_t d = 0; d < rank; ++d) {
          if (index[d].ints[x] != index[d].ints[y]) return index[d].ints[x] < index[d].ints[y];
        }
        return false;
      });
    }
    for (int64_t i : order) {
      if (row >= 0) b->indices.push_back(row);
      for (size_t d = 0; d < rank; ++d) b->indices.push_back(index[d].ints[i]);
      if (spec.dtype == DType::kInt64) {
        b->values.ints.push_back(values.ints[i]);
      } else if (spec.dtype == DType::kFloat32) {
        b->values.floats.push_back(values.floats[i]);
      } else {
        b->strings.emplace_back(values.bytes[i]);
      }
    }
  }

  void FillDense(const FeatureSpec& spec, int64_t row, bool single, bool present,
                 const Values& values, Tensor* out) const {
    const int64_t n = NumElements(spec.shape);
    const int64_t where = single ? -1 : row;
    const int64_t begin = row * n;
    if (!present) {
      if (!spec.default_value) {
        throw InvalidArgumentError(Where(spec, where) + " (" + std::string(DTypeName(spec.dtype)) +
                                   ") is required but could not be found");
      }
      const Tensor& d = *spec.default_value;
      for (int64_t i = 0; i < n; ++i) {
        int64_t src = d.num_elements() == 1 ? 0 : i;
        if (spec.dtype == DType::kString) {
          out->mutable_strings()[begin + i] = d.strings()[src];
        } else if (spec.dtype == DType::kInt64) {
          out->mutable_data<int64_t>()[begin + i] = d.data<int64_t>()[src];
        } else {
          out->mutable_data<float>()[begin + i] = d.data<float>()[src];
        }
      }
      return;
    }
    if (static_cast<int64_t>(values.size(spec.dtype)) != n) {
      throw InvalidArgumentError(Where(spec, where) + ": expected " + std::to_string(n) + " " +
                                 std::string(DTypeName(spec.dtype)) + " values (shape " +
                                 ShapeString(spec.shape) + "), the example has " +
                                 std::to_string(values.size(spec.dtype)));
    }
    if (spec.dtype == DType::kString) {
      auto& strings = out->mutable_strings();
      for (int64_t i = 0; i < n; ++i) strings[begin + i] = std::string(values.bytes[i]);
    } else if (spec.dtype == DType::kInt64) {
      if (n > 0) std::memcpy(out->mutable_data<int64_t>() + begin, values.ints.data(), n * 8);
    } else {
      if (n > 0) std::memcpy(out->mutable_data<float>() + begin, values.floats.data(), n * 4);
    }
  }

  // One row's values after the others' (strings copied: the record's bytes do not last).
  static void AppendValues(DType dtype, const Values& values, SparseBuilder* b) {
    if (dtype == DType::kInt64) {
      b->values.ints.insert(b->values.ints.end(), values.ints.begin(), values.ints.end());
    } else if (dtype == DType::kFloat32) {
      b->values.floats.insert(b->values.floats.end(), values.floats.begin(), values.floats.end());
    } else {
      for (auto v : values.bytes) b->strings.emplace_back(v);
    }
  }

  void Append(const FeatureSpec& spec, int64_t row, bool single, const Values& values,
              SparseBuilder* b) const {
    const int64_t n = static_cast<int64_t>(values.size(spec.dtype));
    for (int64_t i = 0; i < n; ++i) {
      if (!single) b->indices.push_back(row);
      b->indices.push_back(i);
    }
    b->longest = std::max(b->longest, n);
    AppendValues(spec.dtype, values, b);
  }

  // A FixedLenSequence feature of one row: num_elements(shape) values a step.
  void AppendSteps(const FeatureSpec& spec, int64_t row, bool single, bool present,
                   const Values& values, SparseBuilder* b) const {
    const int64_t where = single ? -1 : row;
    if (!present && !spec.allow_missing) {
      throw InvalidArgumentError(Where(spec, where) + " (" + std::string(DTypeName(spec.dtype)) +
                                 ") is required but could not be found (allow_missing=False)");
    }
    const int64_t step = NumElements(spec.shape);
    const int64_t n = static_cast<int64_t>(values.size(spec.dtype));
    if (step == 0 ? n != 0 : n % step != 0) {
      throw InvalidArgumentError(Where(spec, where) + ": " + std::to_string(n) + " " +
                                 std::string(DTypeName(spec.dtype)) +
                                 " values are not a whole number of steps of shape " +
                                 ShapeString(spec.shape));
    }
    const int64_t steps = step == 0 ? 0 : n / step;
    b->indices.push_back(steps);
    b->longest = std::max(b->longest, steps);
    AppendValues(spec.dtype, values, b);
  }

  // [longest, *shape] (single) or [rows, longest, *shape], each row's steps then padding.
  Tensor SequenceTensor(const FeatureSpec& spec, bool single, SparseBuilder* b) const {
    const int64_t rows = static_cast<int64_t>(b->indices.size());
    const int64_t step = NumElements(spec.shape);
    Shape shape = spec.shape;
    shape.insert(shape.begin(), b->longest);
    if (!single) shape.insert(shape.begin(), rows);
    Tensor out = Tensor::Allocate(spec.dtype, shape);
    const int64_t row_size = b->longest * step;
    const Tensor* pad = spec.default_value ? &*spec.default_value : nullptr;
    int64_t from = 0;
    for (int64_t row = 0; row < rows; ++row) {
      const int64_t n = b->indices[row] * step;
      const int64_t begin = row * row_size;
      for (int64_t i = 0; i < row_size; ++i) {
        const bool value = i < n;
        if (spec.dtype == DType::kString) {
          out.mutable_strings()[begin + i] =
              value ? std::move(b->strings[from + i]) : pad ? pad->strings()[0] : std::string();
        } else if (spec.dtype == DType::kInt64) {
          out.mutable_data<int64_t>()[begin + i] =
              value ? b->values.ints[from + i] : pad ? pad->data<int64_t>()[0] : 0;
        } else {
          out.mutable_data<float>()[begin + i] =
              value ? b->values.floats[from + i] : pad ? pad->data<float>()[0] : 0.0f;
        }
      }
      from += n;
    }
    return out;
  }

  // A Ragged feature of one row (row < 0: a single example): its values, split by each
  // partition from the innermost out (a partition splits the rows of the one inside it), each
  // split appended to the batch's (b->levels) and the row's outermost row count to b->indices.
  void AppendRagged(const FeatureSpec& spec,
                    const std::vector<std::pair<std::string_view, RawFeature>>& raw, int64_t row,
                    const Values& values, SparseBuilder* b) const {
    const size_t depth = spec.partitions.size();
    int64_t rows = static_cast<int64_t>(values.size(spec.dtype));
    for (size_t j = depth; j-- > 0;) {
      const std::vector<int64_t> splits = PartitionSplits(spec, spec.partitions[j], raw, row, rows);
      std::vector<int64_t>& level = b->levels[j];
      if (level.size() - 1 + (splits.size() - 1) > static_cast<size_t>(kMaxRows)) {
        throw InvalidArgumentError(Where(spec, row) + ", partition " +
                                   RaggedPartitionString(spec.partitions[j]) + ": more than 2^24 "
                                   "rows in one ragged dimension of a parse");
      }
      const int64_t offset = level.back();
      for (size_t k = 1; k < splits.size(); ++k) level.push_back(offset + splits[k]);
      rows = static_cast<int64_t>(splits.size()) - 1;
    }
    b->indices.push_back(rows);
    AppendValues(spec.dtype, values, b);
  }

  // Row ids above it are refused: one corrupt value would otherwise ask for rows by the
  // billion (8 bytes of row splits each). 2^23 rows a record is 64 MB of splits; a whole parse
  // (a batch of such records) is held to kMaxRows rows in each ragged dimension.
  static constexpr int64_t kMaxRowId = (int64_t{1} << 23) - 1;
  static constexpr int64_t kMaxRows = int64_t{1} << 24;

  // The row splits one partition makes of `count` rows (of the dimension inside it), checked.
  std::vector<int64_t> PartitionSplits(
      const FeatureSpec& spec, const RaggedPartition& p,
      const std::vector<std::pair<std::string_view, RawFeature>>& raw, int64_t row,
      int64_t count) const {
    using PKind = RaggedPartition::Kind;
    const std::string where = Where(spec, row) + ", partition " + RaggedPartitionString(p);
    std::vector<int64_t> splits;
    if (p.kind == PKind::kUniformRowLength) {
      if (count % p.length != 0) {
        throw InvalidArgumentError(where + ": " + std::to_string(count) +
                                   " values are not a whole number of rows of " +
                                   std::to_string(p.length));
      }
      for (int64_t s = 0; s <= count; s += p.length) splits.push_back(s);
      return splits;
    }
    Values keyed;  // a missing feature is an empty list
    if (const RawFeature* found = Find(raw, p.key)) Decode(*found, DType::kInt64, where, &keyed);
    const std::vector<int64_t>& v = keyed.ints;
    switch (p.kind) {
      case PKind::kRowSplits:
        splits = v.empty() ? std::vector<int64_t>{0} : v;
        break;
      case PKind::kRowLengths:
        splits.push_back(0);
        for (int64_t length : v) {
          if (length < 0) {
            throw InvalidArgumentError(where + ": row length " + std::to_string(length) +
                                       " is negative");
          }
          splits.push_back(splits.back() + length);
        }
        break;
      case PKind::kRowStarts:
        splits = v;
        splits.push_back(count);
        break;
      case PKind::kRowLimits:
        splits.push_back(0);
        splits.insert(splits.end(), v.begin(), v.end());
        break;
      case PKind::kValueRowIds: {
        if (static_cast<int64_t>(v.size()) != count) {
          throw InvalidArgumentError(where + ": " + std::to_string(v.size()) + " row ids for " +
                                     std::to_string(count) + " values (one each)");
        }
        // Row r starts at the first value of a row >= r; no value: no row.
        splits.push_back(0);
        for (size_t i = 0; i < v.size(); ++i) {
          if (v[i] < 0 || (i > 0 && v[i] < v[i - 1]) || v[i] > kMaxRowId) {
            throw InvalidArgumentError(where + ": row ids must be in [0, 2^23) and never "
                                       "decrease, got " + std::to_string(v[i]) + " at " +
                                       std::to_string(i));
          }
          while (static_cast<int64_t>(splits.size()) <= v[i]) {
            splits.push_back(static_cast<int64_t>(i));
          }
        }
        if (!v.empty()) splits.push_back(count);
        break;
      }
      case PKind::kUniformRowLength:
        break;
    }
    if (splits.front() != 0 || splits.back() != count) {
      throw InvalidArgumentError(where + ": the rows cover [" + std::to_string(splits.front()) +
                                 ", " + std::to_string(splits.back()) + "), not the " +
                                 std::to_string(count) + " values inside them");
    }
    for (size_t k = 1; k < splits.size(); ++k) {
      if (splits[k] < splits[k - 1]) {
        throw InvalidArgumentError(where + ": row splits decrease at " + std::to_string(k) +
                                   " (" + std::to_string(splits[k - 1]) + " then " +
                                   std::to_string(splits[k]) + ")");
      }
    }
    return splits;
  }

  // A Ragged feature: the values of every row one after the other, each partition's row splits
  // around them (innermost first), and for a batch the rows' outermost row counts (in
  // b->indices) as the outer row splits.
  Element RaggedElement(const FeatureSpec& spec, bool single, SparseBuilder* b) const {
    Element values(ValuesTensor(spec, b));
    for (size_t j = b->levels.size(); j-- > 0;) {
      values = MakeRagged(std::move(values),
                          RowSplitsTensor(b->levels[j], spec.row_splits_dtype, "parse_example"));
    }
    if (single) return values;
    std::vector<int64_t> splits(b->indices.size() + 1, 0);
    for (size_t i = 0; i < b->indices.size(); ++i) splits[i + 1] = splits[i] + b->indices[i];
    return MakeRagged(std::move(values),
                      RowSplitsTensor(splits, spec.row_splits_dtype, "parse_example"));
  }

  static Tensor ValuesTensor(const FeatureSpec& spec, SparseBuilder* b) {
    if (spec.dtype == DType::kInt64) return Tensor::FromVector(b->values.ints);
    if (spec.dtype == DType::kFloat32) return Tensor::FromVector(b->values.floats);
    const int64_t count = static_cast<int64_t>(b->strings.size());
    return Tensor::FromStrings(std::move(b->strings), {count});
  }

  Element SparseElement(const FeatureSpec& spec, int64_t rows, bool single, SparseBuilder* b) const {
    if (spec.kind == FeatureSpec::Kind::kSparse) {
      const int64_t rank = static_cast<int64_t>(spec.index_keys.size()) + (single ? 0 : 1);
      const int64_t count = rank == 0 ? 0 : static_cast<int64_t>(b->indices.size()) / rank;
      Shape dense_shape = spec.shape;
      if (!single) dense_shape.insert(dense_shape.begin(), rows);
      return Element::Dict({{"indices", Tensor::FromVector(b->indices, {count, rank})},
                            {"values", ValuesTensor(spec, b)},
                            {"dense_shape", Tensor::FromVector(dense_shape)}});
    }
    const int64_t rank = single ? 1 : 2;
    const int64_t count = static_cast<int64_t>(b->indices.size()) / rank;
    Tensor indices = Tensor::FromVector(b->indices, {count, rank});
    Tensor values;
    if (spec.dtype == DType::kInt64) {
      values = Tensor::FromVector(b->values.ints, {count});
    } else if (spec.dtype == DType::kFloat32) {
      values = Tensor::FromVector(b->values.floats, {count});
    } else {
      values = Tensor::FromStrings(std::move(b->strings), {count});
    }
    std::vector<int64_t> dense_shape =
        single ? std::vector<int64_t>{b->longest} : std::vector<int64_t>{rows, b->longest};
    return Element::Dict({{"indices", indices},
                          {"values", values},
                          {"dense_shape", Tensor::FromVector(dense_shape)}});
  }

  std::vector<FeatureSpec> features_;
};

// The fields every kind has; the kind's own are set by its factory.
FeatureSpec MakeSpec(std::string key, FeatureSpec::Kind kind, DType dtype, Shape shape = {},
                     std::optional<Tensor> default_value = std::nullopt) {
  FeatureSpec spec;
  spec.key = std::move(key);
  spec.kind = kind;
  spec.dtype = dtype;
  spec.shape = std::move(shape);
  spec.default_value = std::move(default_value);
  return spec;
}

const Tensor& CheckSerialized(const Element& e, bool single) {
  if (!e.is_tensor() || !e.tensor().is_string() || e.tensor().rank() != (single ? 0 : 1)) {
    throw InvalidArgumentError(std::string(single ? "parse_single_example" : "parse_example") +
                               ": expected a string " + (single ? "scalar" : "vector") +
                               ", got " + e.StructureString());
  }
  return e.tensor();
}
}  // namespace

FeatureSpec FixedLenFeature(std::string key, Shape shape, DType dtype,
                            std::optional<Tensor> default_value) {
  CheckDType(dtype, key);
  for (int64_t d : shape) {
    if (d < 0) {
      throw InvalidArgumentError("FixedLenFeature '" + key + "': shape " + ShapeString(shape) +
                                 " must be fully defined");
    }
  }
  if (default_value) {
    if (default_value->dtype() != dtype ||
        (default_value->num_elements() != NumElements(shape) && default_value->num_elements() != 1)) {
      throw InvalidArgumentError("FixedLenFeature '" + key + "': default_value " +
                                 default_value->DebugString() + " is not " +
                                 std::string(DTypeName(dtype)) + " of shape " + ShapeString(shape));
    }
  }
  return MakeSpec(std::move(key), FeatureSpec::Kind::kFixedLen, dtype, std::move(shape),
                  std::move(default_value));
}

FeatureSpec FixedLenSequenceFeature(std::string key, Shape shape, DType dtype,
                                    bool allow_missing, std::optional<Tensor> default_value) {
  CheckDType(dtype, key);
  for (int64_t d : shape) {
    if (d < 0) {
      throw InvalidArgumentError("FixedLenSequenceFeature '" + key + "': shape " +
                                 ShapeString(shape) + " must be fully defined");
    }
  }
  if (default_value && (default_value->dtype() != dtype || default_value->num_elements() != 1)) {
    throw InvalidArgumentError("FixedLenSequenceFeature '" + key + "': default_value " +
                               default_value->DebugString() + " is not a " +
                               std::string(DTypeName(dtype)) + " scalar (the padding)");
  }
  FeatureSpec spec = MakeSpec(std::move(key), FeatureSpec::Kind::kFixedLenSequence, dtype,
                              std::move(shape), std::move(default_value));
  spec.allow_missing = allow_missing;
  return spec;
}

std::string RaggedPartitionString(const RaggedPartition& p) {
  using PKind = RaggedPartition::Kind;
  switch (p.kind) {
    case PKind::kRowSplits: return "RowSplits('" + p.key + "')";
    case PKind::kRowLengths: return "RowLengths('" + p.key + "')";
    case PKind::kRowStarts: return "RowStarts('" + p.key + "')";
    case PKind::kRowLimits: return "RowLimits('" + p.key + "')";
    case PKind::kValueRowIds: return "ValueRowIds('" + p.key + "')";
    case PKind::kUniformRowLength: return "UniformRowLength(" + std::to_string(p.length) + ")";
  }
  return "?";
}

FeatureSpec RaggedFeature(std::string key, DType dtype, std::string value_key,
                          std::vector<RaggedPartition> partitions, DType row_splits_dtype) {
  CheckDType(dtype, key);
  if (row_splits_dtype != DType::kInt64 && row_splits_dtype != DType::kInt32) {
    throw InvalidArgumentError("RaggedFeature '" + key + "': row_splits_dtype must be int64 or "
                               "int32, got " + std::string(DTypeName(row_splits_dtype)));
  }
  for (const RaggedPartition& p : partitions) {
    if (p.kind == RaggedPartition::Kind::kUniformRowLength ? p.length <= 0 : p.key.empty()) {
      throw InvalidArgumentError("RaggedFeature '" + key + "': partition " +
                                 RaggedPartitionString(p) +
                                 (p.kind == RaggedPartition::Kind::kUniformRowLength
                                      ? " needs a positive length"
                                      : " needs a key"));
    }
  }
  FeatureSpec spec = MakeSpec(std::move(key), FeatureSpec::Kind::kRagged, dtype);
  spec.value_key = value_key.empty() ? spec.key : std::move(value_key);
  spec.partitions = std::move(partitions);
  spec.row_splits_dtype = row_splits_dtype;
  return spec;
}

FeatureSpec SparseFeature(std::string key, std::vector<std::string> index_keys,
                          std::string value_key, DType dtype, Shape size, bool already_sorted) {
  CheckDType(dtype, key);
  if (index_keys.empty() || index_keys.size() != size.size()) {
    throw InvalidArgumentError("SparseFeature '" + key + "': " +
                               std::to_string(index_keys.size()) + " index_keys for size " +
                               ShapeString(size) + "; one index key per dimension is needed");
  }
  for (int64_t d : size) {
    if (d <= 0) {
      throw InvalidArgumentError("SparseFeature '" + key + "': size " + ShapeString(size) +
                                 " must be positive in every dimension");
    }
  }
  if (value_key.empty()) {
    throw InvalidArgumentError("SparseFeature '" + key + "': value_key is empty");
  }
  FeatureSpec spec = MakeSpec(std::move(key), FeatureSpec::Kind::kSparse, dtype, std::move(size));
  spec.value_key = std::move(value_key);
  spec.index_keys = std::move(index_keys);
  spec.already_sorted = already_sorted;
  return spec;
}

FeatureSpec VarLenFeature(std::string key, DType dtype) {
  CheckDType(dtype, key);
  return MakeSpec(std::move(key), FeatureSpec::Kind::kVarLen, dtype);
}

Element ParseSingleExample(std::string_view serialized, const std::vector<FeatureSpec>& features) {
  return ExampleParser(features).Parse({serialized}, true);
}

Element ParseExample(const Tensor& serialized, const std::vector<FeatureSpec>& features) {
  const Element element(serialized);  // outlives `t`, a reference into it
  const Tensor& t = CheckSerialized(element, false);
  std::vector<std::string_view> records(t.strings().begin(), t.strings().end());
  return ExampleParser(features).Parse(records, false);
}

MapFn ParseSingleExampleFn(std::vector<FeatureSpec> features) {
  auto parser = std::make_shared<const ExampleParser>(std::move(features));
  return [parser](const Element& e) {
    const Tensor& t = CheckSerialized(e, true);
    return parser->Parse({t.strings()[0]}, true);
  };
}

MapFn ParseExampleFn(std::vector<FeatureSpec> features) {
  auto parser = std::make_shared<const ExampleParser>(std::move(features));
  return [parser](const Element& e) {
    const Tensor& t = CheckSerialized(e, false);
    std::vector<std::string_view> records(t.strings().begin(), t.strings().end());
    return parser->Parse(records, false);
  };
}

}  // namespace inputpipe
