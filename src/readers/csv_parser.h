// The CSV record parser: one record at a time, in place over a byte window, with TensorFlow
// CsvDataset's dialect. A record ends at "\n", "\r\n", a lone "\r" or the end of the data; a
// field starting with a double quote is quoted (RFC 4180: "" inside is one quote, delimiters
// and line breaks inside are data). Like TensorFlow, a malformed field does not stop the
// parse: the record is read to its end, so a reader can skip exactly that record.
//
//   CsvRecord record;
//   size_t consumed;
//   CsvStatus s = ParseCsvRecord(window, /*at_eof=*/false, {',', true}, &record, &consumed);
//   if (s == CsvStatus::kNeedMore) { ...read more bytes and parse the record again... }
//
// Fields point into the window (or, for quoted fields with escaped quotes, into the record's
// own storage, reused from record to record: no allocation per field once warm).
#ifndef INPUTPIPE_READERS_CSV_PARSER_H_
#define INPUTPIPE_READERS_CSV_PARSER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace inputpipe {

struct CsvDialect {
  char delim = ',';
  bool use_quote = true;
};

class CsvRecord {
 public:
  std::vector<std::string_view> fields;
  // Line breaks the record spans, its terminator included (for line numbers in errors).
  int64_t line_breaks = 0;
  // The first problem found ("" when none) and whether the rest of the data is unusable.
  std::string error;
  bool data_ended_in_quote = false;

  void Clear() {
    fields.clear();
    line_breaks = 0;
    error.clear();
    data_ended_in_quote = false;
    used_storage_ = 0;
  }
  // Storage for an unescaped field, valid until the next Clear().
  std::string* NewStorage() {
    if (used_storage_ == storage_.size()) storage_.emplace_back();
    std::string* s = &storage_[used_storage_++];
    s->clear();
    return s;
  }

 private:
  std::vector<std::string> storage_;
  size_t used_storage_ = 0;
};

enum class CsvStatus {
  kRecord,    // *record holds the fields; *consumed bytes (terminator included) belong to it
  kNeedMore,  // the record may continue past `data`: call again with more (only if !at_eof)
  kError,     // record->error says what; *consumed covers the whole malformed record
};

// Parses the record at the start of `data` (REQUIRES: data is not empty). at_eof: no bytes
// follow `data`, so it ends the record.
CsvStatus ParseCsvRecord(std::string_view data, bool at_eof, const CsvDialect& dialect,
                         CsvRecord* record, size_t* consumed);

}  // namespace inputpipe

#endif  // INPUTPIPE_READERS_CSV_PARSER_H_
