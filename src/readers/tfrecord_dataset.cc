// tfrecord(filenames): one string scalar per record of TFRecord files, both CRCs verified.
// State: the file reader's (file, offset, record, fingerprint); see file_reader.cc.
#include "inputpipe/readers.h"
#include "readers/file_reader.h"
#include "readers/tfrecord_format.h"

namespace inputpipe {

namespace {
class TFRecordFormat : public RecordFormat {
 public:
  explicit TFRecordFormat(int64_t max_record_bytes) : max_record_bytes_(max_record_bytes) {}
  std::string op_name() const override { return "tfrecord"; }
  std::string params() const override { return ""; }
  bool counts_lines() const override { return false; }
  bool ReadRecord(InputStream& in, RecordPosition& pos, Element* out) const override {
    std::string_view data;
    if (!ReadTFRecord(in, max_record_bytes_, op_name(), pos, &data)) return false;
    *out = Tensor::String(std::string(data));
    return true;
  }

 private:
  const int64_t max_record_bytes_;
};
}  // namespace

DatasetPtr TFRecordDataset(std::vector<std::string> filenames, ReaderOptions options) {
  return MakeFileReaderDataset(std::make_shared<TFRecordFormat>(options.max_record_bytes),
                               std::move(filenames), options);
}

}  // namespace inputpipe
