// csv(filenames, record_defaults, ...): tf.data's CsvDataset. Each record becomes a tuple of
// scalars typed by record_defaults; parsing happens in place in the stream's window
// (csv_parser.h) and numbers go through std::from_chars, so the only allocations per record
// are its output tensors. State: the file reader's (file, offset, record, line, fingerprint);
// see file_reader.cc.
#include <charconv>
#include <cmath>
#include <cstdlib>

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
    if (in.Ensure(1) == 0) return false;
    const uint64_t start = in.offset();
    CsvRecord& record = scratch();
    CsvStatus status = Parse(in, pos, start, &record);
    const RecordPosition here = pos;
    ++pos.record;
    if (pos.line > 0) pos.line += record.line_breaks;
    if (status == CsvStatus::kError) Fail(in, here, start, record.error, record.data_ended_in_quote);

    std::vector<Element> values;
    values.reserve(columns_.size());
    size_t selected = 0, excluded = 0;
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
      if (values.size() >= columns_.size()) {
        Fail(in, here, start,
             "expected " + std::to_string(columns_.size()) + " fields but the record has more",
             false);
      }
      values.push_back(ToTensor(record.fields[col], values.size(), col, in, here, start));
    }
    if (values.size() != columns_.size()) {
      Fail(in, here, start,
           "expected " + std::to_string(columns_.size()) + " fields but the record has " +
               std::to_string(values.size()),
           false);
    }
    *out = Element::Tuple(std::move(values));
    return true;
  }

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

  Tensor ToTensor(std::string_view field, size_t index, size_t col, const InputStream& in,
                  const RecordPosition& pos, uint64_t start) const {
    const CsvColumn& column = columns_[index];
    if (field.empty() || field == csv_.na_value) {
      if (!column.default_value) {
        Fail(in, pos, start,
             "field " + std::to_string(index) + " (column " + std::to_string(col) + ", " +
                 std::string(DTypeName(column.dtype)) + ") is required but missing",
             false);
      }
      return *column.default_value;  // shares the default's buffer
    }
    bool ok = false;
    Tensor t;
    switch (column.dtype) {
      case DType::kInt32: {
        int32_t v;
        if ((ok = ParseInt(field, &v))) t = Tensor::Scalar(v);
        break;
      }
      case DType::kInt64: {
        int64_t v;
        if ((ok = ParseInt(field, &v))) t = Tensor::Scalar(v);
        break;
      }
      case DType::kFloat32: {
        float v;
        if ((ok = ParseFloat(field, &v))) t = Tensor::Scalar(v);
        break;
      }
      case DType::kFloat64: {
        double v;
        if ((ok = ParseFloat(field, &v))) t = Tensor::Scalar(v);
        break;
      }
      default:
        return Tensor::String(std::string(field));
    }
    if (!ok) {
      std::string shown(field.substr(0, 64));
      Fail(in, pos, start,
           "field " + std::to_string(index) + " (column " + std::to_string(col) + ") is not a valid " +
               std::string(DTypeName(column.dtype)) + ": '" + shown +
               (field.size() > 64 ? "...'" : "'"),
           false);
    }
    return t;
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
