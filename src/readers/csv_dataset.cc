// csv(filenames, record_defaults, ...): tf.data's CsvDataset. Each record becomes a tuple of
// scalars typed by record_defaults; parsing happens in place in the stream's window
// (csv_parser.h) and numbers go through std::from_chars, so the only allocations per record
// are its output tensors. State: the file reader's (file, offset, record, line, fingerprint);
// see file_reader.cc.
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <type_traits>

#include "core/tensor_ops.h"
#include "inputpipe/readers.h"
#include "readers/csv_parser.h"
#include "readers/file_reader.h"

namespace inputpipe {

namespace {
bool IsAsciiSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

// TensorFlow (absl::SimpleAtoi / SimpleAtof) accepts surrounding spaces and a leading '+'.
std::string_view TrimNumber(std::string_view s) {
  while (!s.empty() && IsAsciiSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsAsciiSpace(s.back())) s.remove_suffix(1);
  if (s.size() > 1 && s[0] == '+' && s[1] != '-' && s[1] != '+') s.remove_prefix(1);
  return s;
}

template <typename T>
bool ParseInt(std::string_view s, T* out) {
  s = TrimNumber(s);
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return !s.empty() && ec == std::errc() && end == s.data() + s.size();
}

template <typename T>
bool ParseFloat(std::string_view s, T* out) {
  s = TrimNumber(s);
  // TensorFlow also takes hexadecimal floats: "0x10" is 16, "-0x1p-2" is -0.25.
  const bool negative = !s.empty() && s[0] == '-';
  std::string_view digits = negative ? s.substr(1) : s;
  if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X') &&
      digits[2] != '-' && digits[2] != '+') {
    digits.remove_prefix(2);
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), *out,
                                     std::chars_format::hex);
    if (end != digits.data() + digits.size() || ec == std::errc::invalid_argument) return false;
    if (ec == std::errc::result_out_of_range) {
      std::string copy(s);
      *out = std::is_same_v<T, float> ? std::strtof(copy.c_str(), nullptr)
                                      : std::strtod(copy.c_str(), nullptr);
      return true;
    }
    if (negative) *out = -*out;
    return true;
  }
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  if (s.empty() || end != s.data() + s.size()) return false;
  if (ec == std::errc::result_out_of_range) {
    // Overflow to +-inf, underflow to +-0 or a denormal, as strtod does (and TensorFlow).
    std::string copy(s);
    *out = std::is_same_v<T, float> ? std::strtof(copy.c_str(), nullptr)
                                    : std::strtod(copy.c_str(), nullptr);
    return true;
  }
  return ec == std::errc();
}

std::string JoinInts(const std::vector<int64_t>& v) {
  std::string s;
  for (int64_t x : v) s += (s.empty() ? "" : " ") + std::to_string(x);
  return "[" + s + "]";
}

std::string DefaultString(const CsvColumn& c) {
  std::string s(DTypeName(c.dtype));
  if (!c.default_value) return s;
  const Tensor& t = *c.default_value;
  if (t.is_string()) return s + "='" + t.strings()[0] + "'";
  return s + "=" + HexU64(HashElement(Element(t))).substr(0, 8) + ":" + t.DebugString(1);
}

class CsvFormat : public RecordFormat {
 public:
  CsvFormat(std::vector<CsvColumn> columns, CsvOptions csv, int64_t max_record_bytes)
      : columns_(std::move(columns)), csv_(std::move(csv)), max_record_bytes_(max_record_bytes),
        dialect_{csv_.field_delim, csv_.use_quote_delim} {}

  std::string op_name() const override { return "csv"; }
  std::string params() const override {
    std::string p = "record_defaults=[";
    for (size_t i = 0; i < columns_.size(); ++i) p += (i ? ", " : "") + DefaultString(columns_[i]);
    p += "]";
    if (csv_.header) p += ", header=true";
    if (csv_.field_delim != ',') p += ", field_delim=" + std::to_string(int(csv_.field_delim));
    if (!csv_.use_quote_delim) p += ", use_quote_delim=false";
    if (!csv_.na_value.empty()) p += ", na_value='" + csv_.na_value + "'";
    if (!csv_.select_cols.empty()) p += ", select_cols=" + JoinInts(csv_.select_cols);
    if (!csv_.exclude_cols.empty()) p += ", exclude_cols=" + JoinInts(csv_.exclude_cols);
    return p;
  }

  void StartFile(InputStream& in, RecordPosition& pos) const override {
    if (!csv_.header || in.Ensure(1) == 0) return;
    const uint64_t start = in.offset();
    CsvRecord record;
    CsvStatus status = Parse(in, pos, start, &record);
    if (status == CsvStatus::kError) {
      throw BadRecordError("csv: " + RecordLocation(in, pos, start) +
                               ": cannot read the header: " + record.error,
                           true);
    }
    pos.line += record.line_breaks;
  }

  bool ReadRecord(InputStream& in, RecordPosition& pos, Element* out) const override {
    std::vector<Element> values;
    values.reserve(columns_.size());
    bool got = ReadFields(in, pos, [&](size_t index, const auto& value) {
      if constexpr (std::is_same_v<std::decay_t<decltype(value)>, Tensor>) {
        values.emplace_back(value);  // a default: a copy (a scalar's bytes are inline)
      } else if constexpr (std::is_same_v<std::decay_t<decltype(value)>, std::string_view>) {
        values.emplace_back(Tensor::String(std::string(value)));
      } else {
        values.emplace_back(Tensor::Scalar(value));
      }
    });
    if (got) *out = Element::Tuple(std::move(values));
    return got;
  }

  std::unique_ptr<RecordBatch> NewBatch(int64_t capacity) const override;

  // Reads the record at in's position and calls emit(output index, value) for each output
  // column, value being an int32_t / int64_t / float / double / std::string_view, or the
  // column's default Tensor. False at the end of the file; BadRecordError for a bad record
  // (possibly after some emits).
  template <typename Emit>
  bool ReadFields(InputStream& in, RecordPosition& pos, const Emit& emit) const {
    if (in.Ensure(1) == 0) return false;
    const uint64_t start = in.offset();
    CsvRecord& record = scratch();
    CsvStatus status = Parse(in, pos, start, &record);
    const RecordPosition here = pos;
    ++pos.record;
    if (pos.line > 0) pos.line += record.line_breaks;
    if (status == CsvStatus::kError) Fail(in, here, start, record.error, record.data_ended_in_quote);

    size_t emitted = 0, selected = 0, excluded = 0;
    const bool select_all = csv_.select_cols.empty() && csv_.exclude_cols.empty();
    for (size_t col = 0; col < record.fields.size(); ++col) {
      const bool explicit_exclude =
          excluded < csv_.exclude_cols.size() && csv_.exclude_cols[excluded] == int64_t(col);
      const bool include = select_all ||
                           (selected < csv_.select_cols.size() &&
                            csv_.select_cols[selected] == int64_t(col)) ||
                           (!csv_.exclude_cols.empty() && !explicit_exclude);
      if (explicit_exclude) ++excluded;
      if (!include) continue;
      ++selected;
      if (emitted >= columns_.size()) {
        Fail(in, here, start,
             "expected " + std::to_string(columns_.size()) + " fields but the record has more",
             false);
      }
      Convert(record.fields[col], emitted, col, in, here, start, emit);
      ++emitted;
    }
    if (emitted != columns_.size()) {
      Fail(in, here, start,
           "expected " + std::to_string(columns_.size()) + " fields but the record has " +
               std::to_string(emitted),
           false);
    }
    return true;
  }

  const std::vector<CsvColumn>& columns() const { return columns_; }

 private:
  // Parses the record at in's position, reading more as needed, and consumes it.
  CsvStatus Parse(InputStream& in, const RecordPosition& pos, uint64_t start,
                  CsvRecord* record) const {
    bool at_eof = false;
    size_t consumed = 0;
    while (true) {
      CsvStatus status = ParseCsvRecord(std::string_view(in.data(), in.available()), at_eof,
                                        dialect_, record, &consumed);
      const size_t have = in.available();
      if (status != CsvStatus::kNeedMore && consumed <= static_cast<size_t>(max_record_bytes_)) {
        in.Consume(consumed);
        return status;
      }
      // Over the cap, whether or not its end is in sight: the rest of the file is not read,
      // whatever the buffer size.
      if (status != CsvStatus::kNeedMore || have > static_cast<size_t>(max_record_bytes_)) {
        in.Consume(have);
        throw BadRecordError("csv: " + RecordLocation(in, pos, start) +
                                 ": record longer than the limit of " +
                                 std::to_string(max_record_bytes_) + " bytes (max_record_bytes)",
                             true);
      }
      in.Ensure(have + 1);
      at_eof = in.available() == have;
    }
  }

  [[noreturn]] void Fail(const InputStream& in, const RecordPosition& pos, uint64_t start,
                         const std::string& what, bool file_broken) const {
    throw BadRecordError("csv: " + RecordLocation(in, pos, start) + ": " + what, file_broken);
  }

  template <typename Emit>
  void Convert(std::string_view field, size_t index, size_t col, const InputStream& in,
               const RecordPosition& pos, uint64_t start, const Emit& emit) const {
    const CsvColumn& column = columns_[index];
    if (field.empty() || field == csv_.na_value) {
      if (!column.default_value) {
        Fail(in, pos, start,
             "field " + std::to_string(index) + " (column " + std::to_string(col) + ", " +
                 std::string(DTypeName(column.dtype)) + ") is required but missing",
             false);
      }
      emit(index, *column.default_value);
      return;
    }
    bool ok = false;
    switch (column.dtype) {
      case DType::kInt32: {
        int32_t v;
        if ((ok = ParseInt(field, &v))) emit(index, v);
        break;
      }
      case DType::kInt64: {
        int64_t v;
        if ((ok = ParseInt(field, &v))) emit(index, v);
        break;
      }
      case DType::kFloat32: {
        float v;
        if ((ok = ParseFloat(field, &v))) emit(index, v);
        break;
      }
      case DType::kFloat64: {
        double v;
        if ((ok = ParseFloat(field, &v))) emit(index, v);
        break;
      }
      default:
        emit(index, field);
        return;
    }
    if (!ok) {
      std::string shown(field.substr(0, 64));
      Fail(in, pos, start,
           "field " + std::to_string(index) + " (column " + std::to_string(col) + ") is not a valid " +
               std::string(DTypeName(column.dtype)) + ": '" + shown +
               (field.size() > 64 ? "...'" : "'"),
           false);
    }
  }

  // One record's parse storage per thread: reused, so fields allocate nothing once warm.
  static CsvRecord& scratch() {
    thread_local CsvRecord record;
    return record;
  }

  const std::vector<CsvColumn> columns_;
  const CsvOptions csv_;
  const int64_t max_record_bytes_;
  const CsvDialect dialect_;
};

// A batch of CSV rows, parsed straight into one growing vector per output column.
class CsvBatch : public RecordBatch {
 public:
  CsvBatch(const CsvFormat& format, int64_t capacity) : format_(format) {
    for (const CsvColumn& c : format.columns()) {
      Column& col = columns_.emplace_back();
      col.dtype = c.dtype;
      switch (c.dtype) {
        case DType::kInt32: col.i32.reserve(capacity); break;
        case DType::kInt64: col.i64.reserve(capacity); break;
        case DType::kFloat32: col.f32.reserve(capacity); break;
        case DType::kFloat64: col.f64.reserve(capacity); break;
        default: col.str.reserve(capacity); break;
      }
    }
  }

  bool Read(InputStream& in, RecordPosition& pos) override {
    try {
      bool got = format_.ReadFields(in, pos, [this](size_t index, const auto& value) {
        Append(columns_[index], value);
      });
      if (got) ++rows_;
      return got;
    } catch (...) {
      for (Column& c : columns_) c.Resize(rows_);  // drop the bad row's first fields
      throw;
    }
  }
  int64_t size() const override { return rows_; }
  Element Finish() override {
    std::vector<Element> out;
    out.reserve(columns_.size());
    for (Column& c : columns_) out.emplace_back(c.ToTensor(rows_));
    return Element::Tuple(std::move(out));
  }

 private:
  struct Column {
    DType dtype = DType::kString;
    std::vector<int32_t> i32;
    std::vector<int64_t> i64;
    std::vector<float> f32;
    std::vector<double> f64;
    std::vector<std::string> str;

    void Resize(int64_t n) {
      if (static_cast<int64_t>(i32.size()) > n) i32.resize(n);
      if (static_cast<int64_t>(i64.size()) > n) i64.resize(n);
      if (static_cast<int64_t>(f32.size()) > n) f32.resize(n);
      if (static_cast<int64_t>(f64.size()) > n) f64.resize(n);
      if (static_cast<int64_t>(str.size()) > n) str.resize(n);
    }
    template <typename T>
    static Tensor Numeric(const std::vector<T>& v, int64_t n) {
      Tensor t = Tensor::Allocate(DTypeOf<T>::value, {n});
      if (n > 0) std::memcpy(t.mutable_data<T>(), v.data(), n * sizeof(T));
      return t;
    }
    Tensor ToTensor(int64_t n) {
      switch (dtype) {
        case DType::kInt32: return Numeric(i32, n);
        case DType::kInt64: return Numeric(i64, n);
        case DType::kFloat32: return Numeric(f32, n);
        case DType::kFloat64: return Numeric(f64, n);
        default: return Tensor::FromStrings(std::move(str), {n});
      }
    }
  };

  static void Append(Column& c, const Tensor& default_value) {
    switch (c.dtype) {
      case DType::kInt32: c.i32.push_back(default_value.data<int32_t>()[0]); break;
      case DType::kInt64: c.i64.push_back(default_value.data<int64_t>()[0]); break;
      case DType::kFloat32: c.f32.push_back(default_value.data<float>()[0]); break;
      case DType::kFloat64: c.f64.push_back(default_value.data<double>()[0]); break;
      default: c.str.push_back(default_value.strings()[0]); break;
    }
  }
  static void Append(Column& c, std::string_view v) { c.str.emplace_back(v); }
  static void Append(Column& c, int32_t v) { c.i32.push_back(v); }
  static void Append(Column& c, int64_t v) { c.i64.push_back(v); }
  static void Append(Column& c, float v) { c.f32.push_back(v); }
  static void Append(Column& c, double v) { c.f64.push_back(v); }

  const CsvFormat& format_;
  std::vector<Column> columns_;
  int64_t rows_ = 0;
};

std::unique_ptr<RecordBatch> CsvFormat::NewBatch(int64_t capacity) const {
  return std::make_unique<CsvBatch>(*this, capacity);
}

void CheckColumns(const std::vector<int64_t>& cols, const char* name) {
  for (size_t i = 0; i < cols.size(); ++i) {
    if (cols[i] < 0) {
      throw InvalidArgumentError(std::string("csv: ") + name + " must be non-negative, got " +
                                 std::to_string(cols[i]));
    }
    if (i > 0 && cols[i] <= cols[i - 1]) {
      throw InvalidArgumentError(std::string("csv: ") + name +
                                 " must be sorted in increasing order without duplicates, got " +
                                 JoinInts(cols));
    }
  }
}
}  // namespace

DatasetPtr CsvDataset(std::vector<std::string> filenames, std::vector<CsvColumn> record_defaults,
                      CsvOptions csv, ReaderOptions options) {
  if (record_defaults.empty()) throw InvalidArgumentError("csv: record_defaults is empty");
  for (size_t i = 0; i < record_defaults.size(); ++i) {
    const CsvColumn& c = record_defaults[i];
    if (c.dtype != DType::kInt32 && c.dtype != DType::kInt64 && c.dtype != DType::kFloat32 &&
        c.dtype != DType::kFloat64 && c.dtype != DType::kString) {
      throw InvalidArgumentError("csv: record_defaults[" + std::to_string(i) + "] has dtype " +
                                 std::string(DTypeName(c.dtype)) +
                                 "; supported: int32, int64, float32, float64, string");
    }
    if (c.default_value &&
        (c.default_value->dtype() != c.dtype || c.default_value->num_elements() != 1)) {
      throw InvalidArgumentError("csv: record_defaults[" + std::to_string(i) +
                                 "] must be a scalar " + std::string(DTypeName(c.dtype)) +
                                 ", got " + c.default_value->DebugString());
    }
    if (c.default_value && c.default_value->rank() != 0) {
      record_defaults[i].default_value = c.default_value->is_string()
                                             ? Tensor::String(c.default_value->strings()[0])
                                             : SliceFirstDim(*c.default_value, 0);
    }
  }
  if (!csv.select_cols.empty() && !csv.exclude_cols.empty()) {
    throw InvalidArgumentError("csv: select_cols and exclude_cols cannot both be given");
  }
  CheckColumns(csv.select_cols, "select_cols");
  CheckColumns(csv.exclude_cols, "exclude_cols");
  if (!csv.select_cols.empty() && csv.select_cols.size() != record_defaults.size()) {
    throw InvalidArgumentError("csv: select_cols has " + std::to_string(csv.select_cols.size()) +
                               " columns but record_defaults has " +
                               std::to_string(record_defaults.size()));
  }
  if (csv.field_delim == '\n' || csv.field_delim == '\r' ||
      (csv.use_quote_delim && csv.field_delim == '"')) {
    throw InvalidArgumentError("csv: field_delim cannot be a line break or (with use_quote_delim) a quote");
  }
  return MakeFileReaderDataset(
      std::make_shared<CsvFormat>(std::move(record_defaults), std::move(csv), options.max_record_bytes),
      std::move(filenames), options);
}

}  // namespace inputpipe
