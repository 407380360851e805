#include "readers/csv_parser.h"

#include <cstring>
#include <optional>

namespace inputpipe {

namespace {
// Appends a quoted field's content without its framing quotes, "" becoming ".
void Unescape(std::string_view quoted_body, std::string* out) {
  out->reserve(quoted_body.size());
  for (size_t i = 0; i < quoted_body.size(); ++i) {
    out->push_back(quoted_body[i]);
    if (quoted_body[i] == '"') ++i;  // the second quote of a pair
  }
}

void NoteError(CsvRecord* record, const char* what) {
  if (record->error.empty()) record->error = what;
}
}  // namespace

CsvStatus ParseCsvRecord(std::string_view data, bool at_eof, const CsvDialect& dialect,
                         CsvRecord* record, size_t* consumed) {
  record->Clear();
  const char* p = data.data();
  const size_t n = data.size();
  const char delim = dialect.delim;
  size_t i = 0;
  // Called at a line break at p[j] that ends the record: sets *consumed past it. Returns
  // false if a "\r" at the end of the window might be followed by "\n".
  auto end_at_break = [&](size_t j) {
    if (p[j] == '\r') {
      if (j + 1 >= n && !at_eof) return false;
      if (j + 1 < n && p[j + 1] == '\n') ++j;
    }
    ++record->line_breaks;
    *consumed = j + 1;
    return true;
  };
  auto finish = [&]() { return record->error.empty() ? CsvStatus::kRecord : CsvStatus::kError; };
  // After a field that ends at p[j] (a delimiter, a line break or the end of the data): the
  // status of the record, or std::nullopt when a next field starts at j + 1.
  auto after_field = [&](size_t j) -> std::optional<CsvStatus> {
    if (j >= n) {
      *consumed = n;
      return finish();
    }
    if (p[j] == delim) return std::nullopt;
    if (!end_at_break(j)) return CsvStatus::kNeedMore;
    return finish();
  };

  while (true) {
    if (i >= n) {
      // The data ended right after a delimiter: a last, empty field.
      if (!at_eof) return CsvStatus::kNeedMore;
      record->fields.emplace_back();
      *consumed = n;
      return finish();
    }
    if (dialect.use_quote && p[i] == '"') {
      const size_t body = i + 1;
      size_t j = body;
      bool escaped = false, bad = false;
      while (true) {
        const void* q = std::memchr(p + j, '"', n - j);
        if (q == nullptr) {
          if (!at_eof) return CsvStatus::kNeedMore;
          NoteError(record, "reached the end of the file inside a quoted field (unterminated quote)");
          record->data_ended_in_quote = true;
          *consumed = n;
          return CsvStatus::kError;
        }
        size_t close = static_cast<const char*>(q) - p;
        for (size_t k = j; k < close; ++k) record->line_breaks += p[k] == '\n';
        j = close + 1;
        if (j >= n) {
          if (!at_eof) return CsvStatus::kNeedMore;
          break;  // the closing quote ends the data
        }
        const char next = p[j];
        if (next == '"') {
          escaped = true;
          ++j;
          continue;
        }
        if (next == delim || next == '\n' || next == '\r') break;
        // TensorFlow notes the error and keeps scanning the quoted field to its real end.
        NoteError(record, "a quote inside a quoted field must be escaped by another quote");
        bad = true;
      }
      const size_t close = j - 1;  // the closing quote
      if (!bad) {
        std::string_view content(p + body, close - body);
        if (escaped) {
          std::string* s = record->NewStorage();
          Unescape(content, s);
          record->fields.emplace_back(*s);
        } else {
          record->fields.push_back(content);
        }
      } else {
        record->fields.emplace_back();
      }
      if (std::optional<CsvStatus> status = after_field(j)) return *status;
      i = j + 1;
      continue;
    }
    // Unquoted field: up to the delimiter, a line break or the end.
    size_t j = i;
    while (j < n) {
      const char c = p[j];
      if (c == delim || c == '\n' || c == '\r') break;
      if (c == '"' && dialect.use_quote) {
        NoteError(record, "an unquoted field cannot contain a quote");
      }
      ++j;
    }
    if (j >= n && !at_eof) return CsvStatus::kNeedMore;
    record->fields.emplace_back(p + i, j - i);
    if (std::optional<CsvStatus> status = after_field(j)) return *status;
    i = j + 1;
  }
}

}  // namespace inputpipe
