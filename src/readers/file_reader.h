// The machinery shared by the three file readers (TFRecord, text lines, CSV): walking a list
// of files, the position state with the file fingerprint, and the record index that makes a
// reader random-access. A reader only supplies a RecordFormat: how to read one record from an
// InputStream.
#ifndef INPUTPIPE_READERS_FILE_READER_H_
#define INPUTPIPE_READERS_FILE_READER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "inputpipe/dataset.h"
#include "inputpipe/readers.h"
#include "readers/input_stream.h"

namespace inputpipe {

// Where a reader is inside one file: the index of the next record and its 1-based line (0
// when unknown, e.g. a record fetched by Get(i)).
struct RecordPosition {
  int64_t record = 0;
  int64_t line = 1;
};

// A malformed record. file_broken: the rest of the file cannot be trusted (a bad length, a
// truncation, an unterminated quote), so the reader moves on to the next file; otherwise the
// stream is already positioned after the bad record.
class BadRecordError : public DataLossError {
 public:
  BadRecordError(const std::string& message, bool file_broken)
      : DataLossError(message), file_broken_(file_broken) {}
  bool file_broken() const { return file_broken_; }

 private:
  bool file_broken_;
};

// Records collected into one batch element, with the values Batch would stack.
class RecordBatch {
 public:
  virtual ~RecordBatch() = default;
  // Reads the record at in's position into the batch; false at the end of the file. A bad
  // record throws BadRecordError, as RecordFormat::ReadRecord does, leaving the batch as it was.
  virtual bool Read(InputStream& in, RecordPosition& pos) = 0;
  virtual int64_t size() const = 0;
  // The batch: every component gains a leading dimension of size(). REQUIRES: size() > 0.
  virtual Element Finish() = 0;
};

class RecordFormat {
 public:
  virtual ~RecordFormat() = default;
  virtual std::string op_name() const = 0;
  // The format's own parameters for Dataset::params() ("" when none).
  virtual std::string params() const = 0;
  // Whether RecordPosition::line means something (text and CSV; not TFRecord).
  virtual bool counts_lines() const { return true; }
  // Called once after opening a file at offset 0 (the CSV reader skips its header here).
  virtual void StartFile(InputStream& in, RecordPosition& pos) const {}
  // Reads the record at in's position into *out and advances `pos`; false at the end of the
  // file. Throws BadRecordError for a malformed record, after advancing past it.
  virtual bool ReadRecord(InputStream& in, RecordPosition& pos, Element* out) const = 0;
  // An empty batch of up to `capacity` records. The default reads records one by one and
  // stacks them; a format may fill its columns directly instead (the CSV reader does).
  virtual std::unique_ptr<RecordBatch> NewBatch(int64_t capacity) const;
};

// A dataset reading `files` one after the other with `format`. Validates the options and, with
// options.index, builds (or loads) the record index.
DatasetPtr MakeFileReaderDataset(std::shared_ptr<const RecordFormat> format,
                                 std::vector<std::string> files, const ReaderOptions& options);

// "'a.csv', line 3" / "'a.csv', record 7 (byte 120)": where a record is, for messages.
std::string RecordLocation(const InputStream& in, const RecordPosition& pos, uint64_t offset);

}  // namespace inputpipe

#endif  // INPUTPIPE_READERS_FILE_READER_H_
