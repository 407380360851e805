// file readers (tfrecord, text_line, csv): the files one after the other, one record at a time.
// Streaming state: file index, whether that file is open, the record index, line and
// uncompressed byte offset of the next record, the open file's identity (size, content digest)
// and the identity of every listed file (file_identity.h). Indexed (random-access) state: the
// index of the next record and the identity of every file. Both are checked on restore: a file
// is what it holds, never where it is, so a state restores over a copy of its files in another
// directory and refuses a file whose bytes changed, naming it.
//
// States of older versions hold (size, mtime_ns) of the open file and a hash of every file's
// (size, mtime_ns) instead: they are compared the old way (a new mtime is a change; the message
// says that allow_changes restores past it).
#include "readers/file_reader.h"

#include <algorithm>
#include <cerrno>
#include <exception>
#include <functional>
#include <iostream>
#include <utility>

#include "core/record_location.h"
#include "readers/file_identity.h"
#include "core/tensor_ops.h"
#include "util/coding.h"
#include "util/crc32c.h"

namespace inputpipe {

namespace {
constexpr char kFile[] = "file";      // index of the current file
constexpr char kOpened[] = "opened";  // whether that file has been opened
constexpr char kOffset[] = "offset";  // uncompressed byte offset of the next record
constexpr char kRecord[] = "record";  // index of the next record in the file
constexpr char kLine[] = "line";      // its line (text formats)
constexpr char kSize[] = "size";      // identity of the open file: its size
constexpr char kDigest[] = "digest";  // and its content digest (bits of a uint64)
constexpr char kNext[] = "next";      // indexed: next record overall
// Every listed file's identity (EncodeFileIdentities), taken when the iterator was made (for a
// streaming reader) or the index built. It catches a file rewritten before the reader opened
// it (a restore point ahead of the file, e.g. a shuffle's anchor), which the open file's own
// identity cannot.
constexpr char kFileIdentities[] = "file_identities";
// Older versions' states: the open file's mtime; a hash of every file's (size, mtime) for a
// streaming reader, one such hash per file for an indexed one.
constexpr char kMtime[] = "mtime_ns";
constexpr char kFilesHash[] = "files_hash";
constexpr char kFingerprints[] = "fingerprints";
constexpr char kOldStateHint[] =
    " (a state saved by an older version, which identified files by size and modification "
    "time: if the bytes are the same, restore with allow_changes)";

constexpr size_t kDefaultBufferSize = 1 << 20;
constexpr char kSidecarMagic[] = "IPIDX001";
constexpr char kSidecarSuffix[] = ".ipidx";

std::string Quote(const std::string& s) { return "'" + s + "'"; }

bool HasInt(const StateReader& r, std::string_view key) {
  for (const auto& [k, v] : r.node().ints) {
    if (k == key) return true;
  }
  return false;
}

bool HasBytes(const StateReader& r, std::string_view key) {
  for (const auto& [k, v] : r.node().blobs) {
    if (k == key) return true;
  }
  return false;
}

// What older versions saved as a file's identity.
uint64_t HashFingerprint(const FileFingerprint& fp) {
  int64_t both[2] = {fp.size, fp.mtime_ns};
  return HashBytes(both, sizeof(both));
}

std::string FingerprintString(const FileFingerprint& fp) {
  return "size " + std::to_string(fp.size) + ", mtime_ns " + std::to_string(fp.mtime_ns);
}

// Files in params: only their number. Their paths are not their identity (the same data
// staged elsewhere restores) and their contents are checked by the iterator, which can name
// the file that changed. An indexed reader adds its files' content digest (ContentParam): it
// may be read by index with no iterator of its own to check them (under a global shuffle).
std::string FilesParam(const std::vector<std::string>& files) {
  return "files=" + std::to_string(files.size());
}

// "'b.csv' (file 2 of 3)": a file as the state knows it, by its place in the list.
std::string FileInList(const std::vector<std::string>& files, size_t f) {
  return Quote(files[f]) + " (file " + std::to_string(f + 1) + " of " +
         std::to_string(files.size()) + ")";
}

// The record offsets of one file: offsets[i] is where record i starts, offsets.back() where
// the last one ends.
struct FileIndex {
  FileFingerprint fingerprint;  // what the sidecar is keyed by
  FileIdentity identity;        // what a restore checks
  std::vector<uint64_t> offsets;
  int64_t count() const { return static_cast<int64_t>(offsets.size()) - 1; }
};

// Sidecar layout: magic, fixed64 size, fixed64 mtime_ns, length-prefixed signature of the
// reader, varint count, count + 1 varint deltas, fixed32 masked CRC32C of all that precedes.
std::string EncodeSidecar(const FileIndex& index, const std::string& signature) {
  std::string out(kSidecarMagic, 8);
  PutFixed64(&out, static_cast<uint64_t>(index.fingerprint.size));
  PutFixed64(&out, static_cast<uint64_t>(index.fingerprint.mtime_ns));
  PutLengthPrefixed(&out, signature);
  PutVarint64(&out, index.offsets.size());
  uint64_t previous = 0;
  for (uint64_t offset : index.offsets) {
    PutVarint64(&out, offset - previous);
    previous = offset;
  }
  PutFixed32(&out, crc32c::Mask(crc32c::Value(out.data(), out.size())));
  return out;
}

// The index in `bytes` if it is intact and was built for this fingerprint and signature.
std::optional<FileIndex> DecodeSidecar(std::string_view bytes, const FileFingerprint& fp,
                                       const std::string& signature) {
  if (bytes.size() < 8 + 16 + 4 || bytes.substr(0, 8) != std::string_view(kSidecarMagic, 8)) {
    return std::nullopt;
  }
  uint32_t stored = DecodeFixed32(bytes.data() + bytes.size() - 4);
  if (crc32c::Unmask(stored) != crc32c::Value(bytes.data(), bytes.size() - 4)) return std::nullopt;
  ByteReader r(bytes.substr(8, bytes.size() - 12));
  std::string_view sig;
  uint64_t count = 0;
  FileIndex index;
  index.fingerprint = {static_cast<int64_t>(DecodeFixed64(bytes.data() + 8)),
                       static_cast<int64_t>(DecodeFixed64(bytes.data() + 16))};
  std::string_view skip;
  if (!r.GetBytes(16, &skip) || !r.GetLengthPrefixed(&sig) || !r.GetVarint64(&count)) {
    return std::nullopt;
  }
  if (!(index.fingerprint == fp) || sig != signature || count == 0 || count > r.remaining()) {
    return std::nullopt;
  }
  index.offsets.reserve(count);
  uint64_t offset = 0;
  for (uint64_t i = 0; i < count; ++i) {
    uint64_t delta;
    if (!r.GetVarint64(&delta)) return std::nullopt;
    offset += delta;
    if (offset > static_cast<uint64_t>(fp.size)) return std::nullopt;
    index.offsets.push_back(offset);
  }
  if (r.remaining() != 0) return std::nullopt;
  return index;
}

// The default batch: records read one by one, stacked at the end.
class StackingBatch : public RecordBatch {
 public:
  StackingBatch(const RecordFormat& format, int64_t capacity) : format_(format) {
    records_.reserve(capacity);
  }
  bool Read(InputStream& in, RecordPosition& pos) override {
    Element e;
    if (!format_.ReadRecord(in, pos, &e)) return false;
    records_.push_back(std::move(e));
    return true;
  }
  int64_t size() const override { return static_cast<int64_t>(records_.size()); }
  Element Finish() override { return StackElements(records_, format_.op_name()); }

 private:
  const RecordFormat& format_;
  std::vector<Element> records_;
};

// The indexed files, open for Get (RandomAccessFile::Read is thread-safe, like pread).
struct OpenFiles {
  std::vector<std::unique_ptr<RandomAccessFile>> files;
};

// The file system of each file, resolved once: a store registered later does not change
// what a built dataset reads.
std::vector<std::shared_ptr<FileSystem>> FileSystemsOf(const std::vector<std::string>& files,
                                                       const std::string& op) {
  std::vector<std::shared_ptr<FileSystem>> out;
  out.reserve(files.size());
  for (const auto& path : files) {
    try {
      out.push_back(FileSystemForPath(path));
    } catch (const InvalidArgumentError& e) {
      throw InvalidArgumentError(op + ": " + e.what());
    }
  }
  return out;
}

// The sidecar index of a file, or nothing when it is missing, unreadable (a warning: the index
// is rebuilt), stale or corrupt. A short or failed read can only make it fail its checksum.
std::optional<FileIndex> ReadSidecar(FileSystem& fs, const std::string& sidecar,
                                     const FileFingerprint& fp, const std::string& signature,
                                     const std::string& op) {
  std::string bytes;
  try {
    bytes = fs.ReadFile(sidecar);
  } catch (const IOError& e) {
    auto* fs_error = dynamic_cast<const FileSystemError*>(&e);
    if (fs_error == nullptr || fs_error->code() != ENOENT) {
      std::cerr << "inputpipe: warning: " << op << ": cannot read the index file "
                << Quote(sidecar) << " (" << e.what() << "); rebuilding the index" << std::endl;
    }
    return std::nullopt;
  }
  return DecodeSidecar(bytes, fp, signature);
}

class FileReaderDataset : public Dataset {
 public:
  FileReaderDataset(std::shared_ptr<const RecordFormat> format, std::vector<std::string> files,
                    const ReaderOptions& options)
      : format_(std::move(format)), files_(std::move(files)),
        file_systems_(FileSystemsOf(files_, format_->op_name())), options_(options),
        compression_(ParseCompression(options.compression_type, format_->op_name())),
        buffer_size_(options.buffer_size > 0 ? static_cast<size_t>(options.buffer_size)
                                             : kDefaultBufferSize) {
    if (options_.index) BuildIndex();
  }

  std::string op_name() const override { return format_->op_name(); }
  std::string params() const override {
    std::string p = FilesParam(files_) + content_param_;
    if (compression_ != Compression::kNone) {
      p += ", compression_type=" + std::string(CompressionName(compression_));
    }
    std::string own = format_->params();
    if (!own.empty()) p += ", " + own;
    if (options_.index) p += ", indexed=true";
    if (batched()) {
      p += ", batch_size=" + std::to_string(options_.batch_size) +
           ", drop_remainder=" + (options_.drop_remainder ? "true" : "false");
    }
    return p;
  }
  int64_t Cardinality() const override {
    if (!options_.index) return kUnknownCardinality;
    const int64_t records = cumulative_.back();
    if (!batched()) return records;
    const int64_t n = options_.batch_size;
    return options_.drop_remainder ? records / n : (records + n - 1) / n;
  }
  bool IsRandomAccess() const override { return options_.index; }
  Element Get(int64_t index) const override;

  const std::vector<std::string>& files() const { return files_; }
  FileSystem& file_system(size_t f) const { return *file_systems_[f]; }
  const std::shared_ptr<FileSystem>& shared_file_system(size_t f) const {
    return file_systems_[f];
  }
  const RecordFormat& format() const { return *format_; }
  Compression compression() const { return compression_; }
  size_t buffer_size() const { return buffer_size_; }
  const std::vector<FileIndex>& indexes() const { return indexes_; }
  // Indexed: EncodeFileIdentities of every file, as indexed.
  const std::string& encoded_identities() const { return encoded_identities_; }
  const std::vector<int64_t>& cumulative() const { return cumulative_; }
  bool batched() const { return options_.batch_size > 0; }
  int64_t batch_size() const { return options_.batch_size; }
  bool drop_remainder() const { return options_.drop_remainder; }

 protected:
  std::unique_ptr<Iterator> MakeIteratorInternal() const override;

 private:
  void BuildIndex();
  FileIndex ScanFile(size_t f) const;
  // Calls read() on an in-memory stream holding record `index` (over all files).
  void ReadIndexed(int64_t index,
                   const std::function<bool(InputStream&, RecordPosition&)>& read) const;

  const std::shared_ptr<const RecordFormat> format_;
  const std::vector<std::string> files_;
  const std::vector<std::shared_ptr<FileSystem>> file_systems_;  // one per file
  const ReaderOptions options_;
  const Compression compression_;
  const size_t buffer_size_;
  // Indexed mode only.
  std::vector<FileIndex> indexes_;
  std::vector<int64_t> cumulative_{0};  // cumulative_[f] = records in files before f
  std::string encoded_identities_;
  std::string content_param_;  // ContentParam of the files, in params
  std::shared_ptr<OpenFiles> open_files_;
};

FileIndex FileReaderDataset::ScanFile(size_t f) const {
  auto in = InputStream::OpenFile(*file_systems_[f], files_[f], compression_, buffer_size_,
                                  format_->op_name());
  FileIndex index;
  index.fingerprint = in->fingerprint();
  RecordPosition pos;
  format_->StartFile(*in, pos);
  Element ignored;
  uint64_t start = in->offset(), end = start;
  while (format_->ReadRecord(*in, pos, &ignored)) {
    index.offsets.push_back(start);
    end = start = in->offset();
  }
  index.offsets.push_back(end);
  return index;
}

void FileReaderDataset::BuildIndex() {
  const std::string op = format_->op_name();
  if (compression_ != Compression::kNone) {
    throw InvalidArgumentError(op + ": index=true needs uncompressed files (compression_type=" +
                               std::string(CompressionName(compression_)) + ")");
  }
  open_files_ = std::make_shared<OpenFiles>();
  // The sidecar depends on the format and its parameters, not on the other files listed.
  const std::string signature = op + "(" + format_->params() + ")";
  for (size_t f = 0; f < files_.size(); ++f) {
    const std::string& path = files_[f];
    FileSystem& fs = *file_systems_[f];
    try {
      open_files_->files.push_back(fs.NewRandomAccessFile(path));
    } catch (const IOError& e) {
      throw OpenError(op, path, e);
    }
    const FileStat stat = StatFileFully(fs, path, op);
    const FileFingerprint fp{stat.size, stat.mtime_ns};
    const FileIdentity identity = IdentifyFile(file_systems_[f], path, stat, op);
    std::optional<FileIndex> index;
    const std::string sidecar = path + kSidecarSuffix;
    if (options_.index_sidecar) index = ReadSidecar(fs, sidecar, fp, signature, op);
    if (!index) {
      index = ScanFile(f);
      if (options_.index_sidecar) {
        // Crash-safe: a sidecar is either whole (and checksummed) or absent, never torn.
        try {
          WriteFileAtomically(fs, sidecar, EncodeSidecar(*index, signature));
        } catch (const IOError& e) {
          std::cerr << "inputpipe: warning: " << op << ": cannot write the index file "
                    << Quote(sidecar) << " (" << e.what() << "); the index stays in memory only"
                    << std::endl;
        }
      }
    }
    index->identity = identity;
    cumulative_.push_back(cumulative_.back() + index->count());
    indexes_.push_back(std::move(*index));
  }
  std::vector<FileIdentity> identities;
  for (const auto& index : indexes_) identities.push_back(index.identity);
  encoded_identities_ = EncodeFileIdentities(identities);
  content_param_ = ContentParam(identities);
}

Element FileReaderDataset::Get(int64_t index) const {
  const std::string op = format_->op_name();
  if (!options_.index || index < 0 || index >= Cardinality()) {
    throw InvalidArgumentError(op + ": Get(" + std::to_string(index) + ") out of range [0, " +
                               std::to_string(options_.index ? Cardinality() : 0) + ")");
  }
  if (!batched()) {
    Element out;
    ReadIndexed(index, [&](InputStream& in, RecordPosition& pos) {
      return format_->ReadRecord(in, pos, &out);
    });
    return out;
  }
  const int64_t begin = index * options_.batch_size;
  const int64_t end = std::min(begin + options_.batch_size, cumulative_.back());
  std::unique_ptr<RecordBatch> batch = format_->NewBatch(end - begin);
  for (int64_t i = begin; i < end; ++i) {
    ReadIndexed(i, [&](InputStream& in, RecordPosition& pos) { return batch->Read(in, pos); });
  }
  return batch->Finish();
}

void FileReaderDataset::ReadIndexed(
    int64_t index, const std::function<bool(InputStream&, RecordPosition&)>& read) const {
  const std::string op = format_->op_name();
  size_t f = std::upper_bound(cumulative_.begin(), cumulative_.end(), index) - cumulative_.begin() - 1;
  int64_t local = index - cumulative_[f];
  uint64_t start = indexes_[f].offsets[local], end = indexes_[f].offsets[local + 1];
  std::string bytes(end - start, '\0');
  const RandomAccessFile& file = *open_files_->files[f];
  size_t done = 0;
  while (done < bytes.size()) {  // a short read is retried; only an empty one is the end
    size_t got;
    try {
      got = file.Read(start + done, bytes.size() - done, bytes.data() + done);
    } catch (const IOError& e) {
      throw IOError(op + ": cannot read " + Quote(files_[f]) + " record " + std::to_string(local) +
                    " at byte " + std::to_string(start + done) + ": " + IOErrorReason(e));
    }
    if (got == 0) {
      throw DataLossError(op + ": " + Quote(files_[f]) + " record " + std::to_string(local) +
                          " (byte " + std::to_string(start) + "): the file is shorter than when " +
                          "it was indexed");
    }
    done += got;
  }
  auto in = InputStream::FromBytes(std::move(bytes), Compression::kNone, files_[f], start);
  RecordPosition pos{local, 0};
  if (!read(*in, pos)) {
    throw DataLossError(op + ": " + Quote(files_[f]) + " record " + std::to_string(local) +
                        " (byte " + std::to_string(start) + ") is empty: the file changed after it was indexed");
  }
}

// Streaming: one file open at a time.
class FileReaderIterator : public Iterator, public RecordLocator {
 public:
  explicit FileReaderIterator(const FileReaderDataset& ds) : Iterator(ds.shared()), ds_(ds) {
    IdentifyAllFiles();
    encoded_identities_ = EncodeFileIdentities(identities_);
  }

  std::string LastRecordLocation() const override {
    if (!last_) return "";
    std::string where = Quote(ds_.files()[last_->file]);
    if (last_->line > 0 && ds_.format().counts_lines()) {
      where += ", line " + std::to_string(last_->line);
    }
    return where + ", record " + std::to_string(last_->record) + " (byte " +
           std::to_string(last_->offset) + ")";
  }

 protected:
  std::optional<Element> GetNextInternal() override {
    if (!ds_.batched()) {
      Element out;
      Located at;
      if (!ReadOne([&] {
            at = {file_index_, pos_.record, pos_.line, in_->offset()};
            return ds_.format().ReadRecord(*in_, pos_, &out);
          })) {
        return std::nullopt;
      }
      last_ = at;
      return out;
    }
    last_.reset();  // a batch of records: no one location
    // A batch spans files, as Batch(reader) does; records read before an error are dropped
    // with the batch, as Batch drops them.
    std::unique_ptr<RecordBatch> batch = ds_.format().NewBatch(ds_.batch_size());
    while (batch->size() < ds_.batch_size()) {
      if (!ReadOne([&] { return batch->Read(*in_, pos_); })) break;
    }
    if (batch->size() == 0 || (ds_.drop_remainder() && batch->size() < ds_.batch_size())) {
      return std::nullopt;
    }
    return batch->Finish();
  }

  void SaveInternal(StateWriter& w) override {
    w.WriteInt(kFile, static_cast<int64_t>(file_index_));
    w.WriteBool(kOpened, in_ != nullptr);
    w.WriteInt(kOffset, in_ ? static_cast<int64_t>(in_->offset()) : 0);
    w.WriteInt(kRecord, pos_.record);
    w.WriteInt(kLine, pos_.line);
    w.WriteInt(kSize, in_ ? open_identity_.size : 0);
    w.WriteInt(kDigest, in_ ? static_cast<int64_t>(open_identity_.digest) : 0);
    w.WriteBytes(kFileIdentities, encoded_identities_);
  }

  void RestoreInternal(StateReader& r) override {
    const auto& files = ds_.files();
    const std::string& op = ds_.op_name();
    file_index_ = static_cast<size_t>(r.ReadIntInRange(kFile, 0, static_cast<int64_t>(files.size())));
    // A file that cannot be read now cannot be compared: its error, not a "change".
    for (auto& error : identify_errors_) {
      if (error) std::rethrow_exception(error);
    }
    // Saved by an older version: files identified by (size, mtime).
    const bool old_state = !HasInt(r, kDigest);
    // The open file is checked first, so that a change to it is named precisely.
    auto check_all_files = [&](size_t checked) {
      if (old_state) {
        if (static_cast<uint64_t>(r.ReadInt(kFilesHash)) != OldHashOfAllFiles(ds_)) {
          RefuseChangeUnlessAllowed(op + ": a file changed since the state was saved (the size " +
                                    "or modification time of one of its " +
                                    std::to_string(files.size()) + " files)" + kOldStateHint);
        }
        return;
      }
      std::string change =
          DescribeFileListChange(r.ReadBytes(kFileIdentities), identities_, files, checked, op);
      if (!change.empty()) RefuseChangeUnlessAllowed(change);
    };
    bool opened = r.ReadBool(kOpened);
    if (!opened) return check_all_files(kNoFile);
    if (file_index_ == files.size()) {
      throw DataLossError("corrupt state: " + op + " has an open file past the last one");
    }
    const std::string& path = files[file_index_];
    FileSystem& fs = ds_.file_system(file_index_);
    const std::shared_ptr<FileSystem>& shared_fs = ds_.shared_file_system(file_index_);
    const FileStat stat = StatFileFully(fs, path, op);
    const FileFingerprint now{stat.size, stat.mtime_ns};
    if (old_state) {
      FileFingerprint saved{r.ReadInt(kSize), r.ReadInt(kMtime)};
      if (!(saved == now)) {
        RefuseChangeUnlessAllowed(op + ": file " + FileInList(files, file_index_) +
                                  " changed since the state was saved (saved: " +
                                  FingerprintString(saved) + "; now: " + FingerprintString(now) +
                                  ")" + kOldStateHint);
      }
    } else {
      FileIdentity saved{r.ReadInt(kSize), static_cast<uint64_t>(r.ReadInt(kDigest))};
      FileIdentity identity = IdentifyFile(shared_fs, path, stat, op);
      if (!(saved == identity)) {
        RefuseChangeUnlessAllowed(op + ": file " + FileInList(files, file_index_) +
                                  " changed since the state was saved: " +
                                  DescribeIdentityChange(saved, identity));
      }
    }
    // A raw file's offsets are its bytes: one past its size is corrupt, not a short stream (a
    // changed file restored past under allow_changes too). A compressed one's are uncompressed
    // bytes, only known by inflating: Seek finds the end.
    int64_t offset = r.ReadIntInRange(kOffset, 0, now.size > 0 ? INT64_MAX : 0);
    if (ds_.compression() == Compression::kNone && offset > now.size) {
      throw DataLossError("corrupt state: " + ds_.op_name() + ": offset " +
                          std::to_string(offset) + " is past the end of " + Quote(path) + " (" +
                          std::to_string(now.size) + " bytes)");
    }
    // Counters of records and lines: no file holds 2^62 of them (a state past it is hostile,
    // refused here rather than overflowing as the reader counts on).
    constexpr int64_t kMaxCount = int64_t{1} << 62;
    pos_.record = r.ReadIntInRange(kRecord, 0, kMaxCount);
    pos_.line = r.ReadIntInRange(kLine, 0, kMaxCount);
    in_ = InputStream::OpenFile(fs, path, ds_.compression(), ds_.buffer_size(), op);
    if (!(in_->fingerprint() == now)) {
      throw PipelineMismatchError(op + ": file " + Quote(path) +
                                  " changed while the state was being restored");
    }
    open_identity_ = IdentifyFile(shared_fs, path, in_->stat(), op);
    try {
      in_->Seek(static_cast<uint64_t>(offset));
    } catch (const DataLossError& e) {
      throw DataLossError("corrupt state: " + ds_.op_name() + ": offset " +
                          std::to_string(offset) + ": " + e.what());
    }
    check_all_files(file_index_);
  }

 private:
  // Calls read() (which reads one record from in_) on the current file, moving to the next
  // file at each end; false once every file is done.
  template <typename ReadFn>
  bool ReadOne(const ReadFn& read) {
    const auto& files = ds_.files();
    while (file_index_ < files.size()) {
      if (!in_) Open();
      bool got;
      try {
        got = read();
      } catch (const BadRecordError& e) {
        if (e.file_broken()) NextFile();
        throw;
      } catch (const Error&) {
        NextFile();  // a read error or a corrupt compressed stream: the rest is unreadable
        throw;
      }
      if (got) return true;
      NextFile();
    }
    return false;
  }

  void Open() {
    pos_ = RecordPosition{};
    try {
      if (identify_errors_[file_index_]) {
        std::rethrow_exception(std::exchange(identify_errors_[file_index_], nullptr));
      }
      const std::string& path = ds_.files()[file_index_];
      in_ = InputStream::OpenFile(ds_.file_system(file_index_), path, ds_.compression(),
                                  ds_.buffer_size(), ds_.op_name());
      // As the file is now (cached: computed when the iterator was made, unless it changed).
      open_identity_ =
          IdentifyFile(ds_.shared_file_system(file_index_), path, in_->stat(), ds_.op_name());
      ds_.format().StartFile(*in_, pos_);
    } catch (const Error&) {
      NextFile();
      throw;
    }
  }
  void NextFile() {
    in_.reset();
    ++file_index_;
    pos_ = RecordPosition{};
  }

  // Every file's identity now. One that cannot be stat'ed (missing) is size -1: it fails when
  // opened, naming itself. One that stats but cannot be read keeps its error, thrown when the
  // reader opens the file (a read fault is reported where the file is read, and moves the
  // reader past that file, as any other) or when a state is restored.
  void IdentifyAllFiles() {
    const size_t n = ds_.files().size();
    identities_.assign(n, FileIdentity{-1, 0});
    identify_errors_.assign(n, nullptr);
    for (size_t f = 0; f < n; ++f) {
      FileStat stat;
      try {
        stat = StatFileFully(ds_.file_system(f), ds_.files()[f], ds_.op_name());
      } catch (const Error&) {
        continue;
      }
      try {
        identities_[f] = IdentifyFile(ds_.shared_file_system(f), ds_.files()[f], stat,
                                      ds_.op_name());
      } catch (const Error&) {
        identify_errors_[f] = std::current_exception();
      }
    }
  }

  // What an older version saved as files_hash.
  static uint64_t OldHashOfAllFiles(const FileReaderDataset& ds) {
    uint64_t h = ds.files().size();
    for (size_t f = 0; f < ds.files().size(); ++f) {
      FileFingerprint fp{-1, -1};
      try {
        fp = StatFile(ds.file_system(f), ds.files()[f], ds.op_name());
      } catch (const Error&) {
      }
      uint64_t one = HashFingerprint(fp);
      h = HashBytes(&one, sizeof(one), h);
    }
    return h;
  }

  // Where a record starts (for LastRecordLocation; not part of the state).
  struct Located {
    size_t file;
    int64_t record;
    int64_t line;
    uint64_t offset;
  };

  const FileReaderDataset& ds_;
  std::vector<FileIdentity> identities_;  // of every file, when the iterator was made
  std::vector<std::exception_ptr> identify_errors_;  // why a file could not be identified then
  std::string encoded_identities_;
  size_t file_index_ = 0;
  std::unique_ptr<InputStream> in_;
  FileIdentity open_identity_;  // of in_'s file
  RecordPosition pos_;
  std::optional<Located> last_;  // the record GetNext returned last
};

// Indexed: element i is Get(i); the fingerprints guard against files changed since the save.
class IndexedReaderIterator : public Iterator, public RecordLocator {
 public:
  explicit IndexedReaderIterator(const FileReaderDataset& ds) : Iterator(ds.shared()), ds_(ds) {}

  // From the index: the file, the record in it and its byte offset (no line: not indexed).
  std::string LastRecordLocation() const override {
    if (!last_ || ds_.batched()) return "";
    const auto& cumulative = ds_.cumulative();
    size_t f = std::upper_bound(cumulative.begin(), cumulative.end(), *last_) -
               cumulative.begin() - 1;
    int64_t local = *last_ - cumulative[f];
    return Quote(ds_.files()[f]) + ", record " + std::to_string(local) + " (byte " +
           std::to_string(ds_.indexes()[f].offsets[local]) + ")";
  }

 protected:
  std::optional<Element> GetNextInternal() override {
    if (next_ >= ds_.Cardinality()) return std::nullopt;
    last_.reset();
    const int64_t index = next_++;  // first: a bad record is passed, as the streaming reader does
    Element element = ds_.Get(index);
    last_ = index;
    return element;
  }
  void SaveInternal(StateWriter& w) override {
    w.WriteInt(kNext, next_);
    w.WriteBytes(kFileIdentities, ds_.encoded_identities());
  }
  void RestoreInternal(StateReader& r) override {
    next_ = r.ReadIntInRange(kNext, 0, ds_.Cardinality());
    const auto& indexes = ds_.indexes();
    if (HasBytes(r, kFileIdentities)) {
      std::vector<FileIdentity> identities;
      for (const auto& index : indexes) identities.push_back(index.identity);
      std::string change = DescribeFileListChange(r.ReadBytes(kFileIdentities), identities,
                                                  ds_.files(), kNoFile, ds_.op_name());
      if (!change.empty()) RefuseChangeUnlessAllowed(change);
      return;
    }
    const std::string& hashes = r.ReadBytes(kFingerprints);  // an older version's state
    if (hashes.size() != 8 * indexes.size()) {
      throw DataLossError("corrupt state: " + ds_.op_name() + " fingerprints for " +
                          std::to_string(hashes.size() / 8) + " files, the dataset has " +
                          std::to_string(indexes.size()));
    }
    for (size_t f = 0; f < indexes.size(); ++f) {
      if (DecodeFixed64(hashes.data() + 8 * f) != HashFingerprint(indexes[f].fingerprint)) {
        RefuseChangeUnlessAllowed(ds_.op_name() + ": file " + Quote(ds_.files()[f]) +
                                  " changed since the state was saved (now " +
                                  FingerprintString(indexes[f].fingerprint) + ")" +
                                  kOldStateHint);
      }
    }
  }

 private:
  const FileReaderDataset& ds_;
  int64_t next_ = 0;
  std::optional<int64_t> last_;  // the index GetNext returned last (not part of the state)
};

std::unique_ptr<Iterator> FileReaderDataset::MakeIteratorInternal() const {
  if (options_.index) return std::make_unique<IndexedReaderIterator>(*this);
  return std::make_unique<FileReaderIterator>(*this);
}
}  // namespace

std::unique_ptr<RecordBatch> RecordFormat::NewBatch(int64_t capacity) const {
  return std::make_unique<StackingBatch>(*this, capacity);
}

std::string RecordLocation(const InputStream& in, const RecordPosition& pos, uint64_t offset) {
  std::string where = Quote(in.name());
  if (pos.line > 0) where += ", line " + std::to_string(pos.line);
  where += ", record " + std::to_string(pos.record) + " (byte " + std::to_string(offset) + ")";
  return where;
}

DatasetPtr MakeFileReaderDataset(std::shared_ptr<const RecordFormat> format,
                                 std::vector<std::string> files, const ReaderOptions& options) {
  const std::string op = format->op_name();
  if (options.buffer_size < 0) {
    throw InvalidArgumentError(op + ": buffer_size must be >= 0, got " +
                               std::to_string(options.buffer_size));
  }
  if (options.max_record_bytes <= 0) {
    throw InvalidArgumentError(op + ": max_record_bytes must be positive, got " +
                               std::to_string(options.max_record_bytes));
  }
  if (options.batch_size < 0) {
    throw InvalidArgumentError(op + ": batch_size must be >= 0, got " +
                               std::to_string(options.batch_size));
  }
  if (options.index_sidecar && !options.index) {
    throw InvalidArgumentError(op + ": index_sidecar=true needs index=true");
  }
  for (const auto& f : files) {
    if (f.empty()) throw InvalidArgumentError(op + ": a filename is empty");
  }
  return std::make_shared<FileReaderDataset>(std::move(format), std::move(files), options);
}

}  // namespace inputpipe
