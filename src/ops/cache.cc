// cache(filename): the input's elements, kept after the first complete pass so that later passes
// (later iterators, the next epochs under repeat) read them back instead of the input: in memory
// when filename is empty, else in one file written through the file-system seam.
//
// A pass either reads a complete cache or writes one. An iterator made when no cache is
// complete reads its input and records every element; at the input's end it commits: the
// memory cache is published, the file (written under a temporary name, "<filename>.tmp-<id>")
// gets its index and is renamed to `filename`. Until that rename nothing is at `filename`, so a
// half-written cache (a crash, an iterator dropped mid-way) is never read as complete: its
// temporary file is deleted, or left behind by a crash and ignored. An iterator made once a
// cache is complete reads it by index.
//
// Several iterators while no cache is complete: each reads its input and writes its own
// temporary cache; the first to finish its pass commits, the others' work is discarded (their
// passes are not changed). An iterator never switches source in the middle of a pass.
//
// State: "position", the elements of this pass produced so far, and, while the pass reads the
// input, the input's state. Restored:
// - when a complete cache is there (memory in this process, or the file), the pass goes on from
//   the cache at `position`, whichever source the saved pass read;
// - a pass that was reading its input restores the input and goes on reading it, but records
//   nothing: it lacks the elements before `position`, so it never commits (the next pass
//   writes the cache again);
// - a pass that was reading a cache that is gone (a memory cache, in a new process) reads the
//   input again from its start, recording the first `position` elements without producing
//   them, then goes on as a writing pass.
// Exact as long as the input is deterministic, which a cache assumes anyway (tf.data's).
//
// File layout (integers little-endian; crc: masked CRC32C as in docs/state_format.md):
//   record* index footer
//   record := crc:fixed32 (of the payload) length:varint payload (core/element_codec.h)
//   index  := n x offset:fixed64 (of each record)
//   footer := index_offset:fixed64 n:fixed64 input_fingerprint:fixed64 crc:fixed32 (of the
//             index) magic:"IPC1"
// input_fingerprint hashes the input's pipeline: a cache file written by another pipeline is
// refused (FailedPreconditionError naming the file), not read as this one's.
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/element_codec.h"
#include "core/op_skeleton.h"
#include "core/tensor_ops.h"
#include "inputpipe/file_system.h"
#include "inputpipe/ops.h"
#include "util/coding.h"
#include "util/crc32c.h"

namespace inputpipe {

namespace {
constexpr char kPosition[] = "position";
constexpr char kInput[] = "input";
constexpr char kMagic[] = "IPC1";
constexpr size_t kFooterSize = 8 + 8 + 8 + 4 + 4;

// fn(), its store errors prefixed with the op and its filename: the store's own message names
// only an operation and a path ("read /data/c: Is a directory").
template <typename F>
decltype(auto) InCacheFile(const std::string& filename, F&& fn) {
  try {
    return fn();
  } catch (const IOError& e) {
    std::string message = "cache(filename='" + filename + "'): " + e.what();
    const auto* fs_error = dynamic_cast<const FileSystemError*>(&e);
    if (fs_error != nullptr && fs_error->code() == EISDIR) {
      message += " (the filename is the cache file itself, not a directory for it: such as '" +
                 filename + "/cache')";
    }
    throw IOError(message);
  }
}

// A complete cache: element i by index.
class CachedElements {
 public:
  virtual ~CachedElements() = default;
  virtual int64_t size() const = 0;
  virtual Element Get(int64_t index) const = 0;
};

class MemoryElements : public CachedElements {
 public:
  explicit MemoryElements(std::vector<Element> elements) : elements_(std::move(elements)) {}
  int64_t size() const override { return static_cast<int64_t>(elements_.size()); }
  Element Get(int64_t index) const override { return elements_[index]; }

 private:
  const std::vector<Element> elements_;
};

std::string ReadExactly(const RandomAccessFile& file, uint64_t offset, size_t n,
                        const std::string& path) {
  std::string out(n, '\0');
  size_t done = 0;
  while (done < n) {
    size_t got = file.Read(offset + done, n - done, out.data() + done);
    if (got == 0) {
      throw DataLossError("cache: " + path + " is truncated at byte " +
                          std::to_string(offset + done));
    }
    done += got;
  }
  return out;
}

class FileElements : public CachedElements {
 public:
  FileElements(FileSystem& fs, std::string path, uint64_t fingerprint) : path_(std::move(path)) {
    const int64_t size = fs.Stat(path_).size;
    file_ = fs.NewRandomAccessFile(path_);
    if (size < static_cast<int64_t>(kFooterSize)) Corrupt("shorter than its footer", 0);
    const uint64_t footer_at = static_cast<uint64_t>(size) - kFooterSize;
    const std::string footer = ReadExactly(*file_, footer_at, kFooterSize, path_);
    if (footer.compare(kFooterSize - 4, 4, kMagic) != 0) Corrupt("not a cache file", footer_at);
    const uint64_t index_at = DecodeFixed64(footer.data());
    const uint64_t n = DecodeFixed64(footer.data() + 8);
    if (DecodeFixed64(footer.data() + 16) != fingerprint) {
      throw FailedPreconditionError("cache: " + path_ +
                                    " was written by another pipeline "
                                    "(its input differs); delete it to cache this one");
    }
    if (index_at > footer_at || n != (footer_at - index_at) / 8 || (footer_at - index_at) % 8) {
      Corrupt("an index that does not fit", footer_at);
    }
    const std::string index = ReadExactly(*file_, index_at, n * 8, path_);
    if (crc32c::Unmask(DecodeFixed32(footer.data() + 24)) !=
        crc32c::Value(index.data(), index.size())) {
      Corrupt("an index checksum mismatch", index_at);
    }
    offsets_.reserve(n + 1);
    for (uint64_t i = 0; i < n; ++i) {
      offsets_.push_back(DecodeFixed64(index.data() + 8 * i));
      if (offsets_.back() >= index_at || (i > 0 && offsets_[i] <= offsets_[i - 1])) {
        Corrupt("an index entry out of order", index_at + 8 * i);
      }
    }
    offsets_.push_back(index_at);  // the end of the last record
  }

  int64_t size() const override { return static_cast<int64_t>(offsets_.size()) - 1; }
  Element Get(int64_t index) const override {
    const uint64_t at = offsets_[index];
    const std::string record = InCacheFile(
        path_, [&] { return ReadExactly(*file_, at, offsets_[index + 1] - at, path_); });
    ByteReader reader(std::string_view(record).substr(4));
    std::string_view payload;
    if (!reader.GetLengthPrefixed(&payload) || reader.remaining() != 0) {
      Corrupt("a record of a wrong length", at);
    }
    if (crc32c::Unmask(DecodeFixed32(record.data())) !=
        crc32c::Value(payload.data(), payload.size())) {
      Corrupt("a record checksum mismatch", at);
    }
    return DecodeElement(payload, "cache " + path_ + " element " + std::to_string(index));
  }

 private:
  [[noreturn]] void Corrupt(const std::string& what, uint64_t offset) const {
    throw DataLossError("cache: " + path_ + ": " + what + " at byte " + std::to_string(offset));
  }

  const std::string path_;
  std::unique_ptr<RandomAccessFile> file_;
  std::vector<uint64_t> offsets_;  // of every record, and the index's (the end of the last)
};

// Records one pass; Commit publishes it (see the banner).
class CacheWriter {
 public:
  virtual ~CacheWriter() = default;
  virtual void Append(const Element& element) = 0;
  virtual void Commit() = 0;
};

class CacheDataset;

// What the iterators of one cache dataset share: the complete cache, once there is one.
class CacheStore {
 public:
  CacheStore(std::string filename, uint64_t fingerprint)
      : filename_(std::move(filename)), fingerprint_(fingerprint) {}

  bool in_memory() const { return filename_.empty(); }
  const std::string& filename() const { return filename_; }
  uint64_t fingerprint() const { return fingerprint_; }

  // The complete cache, or null; a file cache is looked for on disk when none is known yet.
  std::shared_ptr<const CachedElements> Complete() {
    std::lock_guard<std::mutex> lock(mu_);
    if (!complete_ && !in_memory()) {
      InCacheFile(filename_, [&] {
        std::shared_ptr<FileSystem> fs = FileSystemForPath(filename_);
        if (fs->FileExists(filename_)) {
          complete_ = std::make_shared<FileElements>(*fs, filename_, fingerprint_);
        }
      });
    }
    return complete_;
  }
  // The complete cache if one is known, without looking on disk (Get's path).
  std::shared_ptr<const CachedElements> KnownComplete() {
    std::lock_guard<std::mutex> lock(mu_);
    return complete_;
  }
  // Publishes `elements` unless a cache is complete already. Returns whether it did.
  bool Publish(std::shared_ptr<const CachedElements> elements) {
    std::lock_guard<std::mutex> lock(mu_);
    if (complete_) return false;
    complete_ = std::move(elements);
    return true;
  }

  std::unique_ptr<CacheWriter> NewWriter();

 private:
  const std::string filename_;
  const uint64_t fingerprint_;
  std::mutex mu_;
  std::shared_ptr<const CachedElements> complete_;  // guarded by mu_
};

class MemoryWriter : public CacheWriter {
 public:
  explicit MemoryWriter(CacheStore& store) : store_(store) {}
  void Append(const Element& element) override { elements_.push_back(element); }
  void Commit() override { store_.Publish(std::make_shared<MemoryElements>(std::move(elements_))); }

 private:
  CacheStore& store_;
  std::vector<Element> elements_;
};

class FileWriter : public CacheWriter {
 public:
  explicit FileWriter(CacheStore& store)
      : store_(store),
        fs_(FileSystemForPath(store.filename())),
        temp_(store.filename() + ".tmp-" + std::to_string(getpid()) + "-" +
              std::to_string(next_id_.fetch_add(1))) {
    InCacheFile(store.filename(), [&] {
      fs_->CreateDirs(DirName(store.filename()));
      file_ = fs_->NewWritableFile(temp_);
    });
  }
  // An uncommitted pass leaves nothing behind (best effort: a failing store keeps the stray
  // temporary file, which is never read).
  ~FileWriter() override {
    if (committed_) return;
    try {
      if (file_) file_->Close();
      fs_->DeleteFile(temp_);
    } catch (const Error&) {
    }
  }

  void Append(const Element& element) override {
    std::string payload = EncodeElement(element, "cache");
    std::string record;
    PutFixed32(&record, crc32c::Mask(crc32c::Value(payload.data(), payload.size())));
    PutLengthPrefixed(&record, payload);
    PutFixed64(&index_, offset_);
    offset_ += record.size();
    InCacheFile(store_.filename(), [&] { file_->Append(record); });
  }
  void Commit() override {
    InCacheFile(store_.filename(), [&] { CommitFile(); });
    store_.Complete();  // opens the committed file for the next passes
  }

 private:
  void CommitFile() {
    const uint64_t n = index_.size() / 8;
    std::string footer;
    PutFixed64(&footer, offset_);
    PutFixed64(&footer, n);
    PutFixed64(&footer, store_.fingerprint());
    PutFixed32(&footer, crc32c::Mask(crc32c::Value(index_.data(), index_.size())));
    footer += kMagic;
    file_->Append(index_);
    file_->Append(footer);
    file_->Sync();
    file_->Close();
    file_.reset();
    committed_ = true;
    if (fs_->FileExists(store_.filename())) {  // another pass committed first
      fs_->DeleteFile(temp_);
    } else {
      fs_->RenameFile(temp_, store_.filename());
      fs_->SyncDir(DirName(store_.filename()));
    }
  }

  static inline std::atomic<uint64_t> next_id_{0};

  CacheStore& store_;
  std::shared_ptr<FileSystem> fs_;
  const std::string temp_;
  std::unique_ptr<WritableFile> file_;
  std::string index_;  // fixed64 offsets of the records written so far
  uint64_t offset_ = 0;
  bool committed_ = false;
};

std::unique_ptr<CacheWriter> CacheStore::NewWriter() {
  if (in_memory()) return std::make_unique<MemoryWriter>(*this);
  return std::make_unique<FileWriter>(*this);
}

class CacheIterator;

class CacheDataset : public OpDataset<CacheDataset, CacheIterator, UnaryDataset> {
 public:
  CacheDataset(DatasetPtr input, std::string filename)
      : OpDataset(std::move(input)),
        store(std::make_shared<CacheStore>(std::move(filename), InputFingerprint(*input_))) {}

  std::string op_name() const override { return "cache"; }
  // Where the cache lives changes no element: not identity (a state restores into a memory
  // cache from a file cache and back).
  std::string params() const override { return ""; }
  // Random-access when the input is: from the cache once it is complete in this process.
  Element Get(int64_t index) const override {
    if (auto complete = store->KnownComplete(); complete && index < complete->size()) {
      return complete->Get(index);
    }
    return input_->Get(index);
  }

  const std::shared_ptr<CacheStore> store;

 private:
  static uint64_t InputFingerprint(const Dataset& input) {
    std::string text;
    for (const std::string& entry : input.Pipeline()) text += entry + "\n";
    return HashBytes(text.data(), text.size());
  }
};

class CacheIterator : public DatasetIterator<CacheDataset> {
 public:
  explicit CacheIterator(const CacheDataset& ds)
      : DatasetIterator(ds), cache_(ds.store->Complete()) {
    if (!cache_) input_ = ds.input()->MakeIterator();
  }

 protected:
  std::optional<Element> GetNextInternal() override {
    if (cache_) {
      if (position_ >= cache_->size()) return std::nullopt;
      return cache_->Get(position_++);
    }
    if (records_ && !writer_) writer_ = dataset().store->NewWriter();
    std::optional<Element> element;
    try {
      element = input_->GetNext();
    } catch (const Error&) {
      DropWriter();  // a cache without the failed element would not be this input's
      throw;
    }
    if (!element) {
      if (writer_) {
        writer_->Commit();
        writer_.reset();
        records_ = false;
      }
      return std::nullopt;
    }
    if (writer_) writer_->Append(*element);
    ++position_;
    return element;
  }

  void SaveInternal(StateWriter& w) override {
    w.WriteInt(kPosition, position_);
    if (!cache_) w.WriteChild(kInput, *input_);
  }

  void RestoreInternal(StateReader& r) override {
    const int64_t position = ReadCounter(r, kPosition);
    if (cache_ || (cache_ = dataset().store->Complete())) {
      if (position > cache_->size()) {
        throw DataLossError("corrupt state: cache: position " + std::to_string(position) +
                            " past the " + std::to_string(cache_->size()) + " cached elements");
      }
      input_.reset();
      position_ = position;
      return;
    }
    if (!input_) input_ = dataset().input()->MakeIterator();
    if (r.HasChild(kInput)) {  // the saved pass read its input: go on reading it
      r.RestoreChild(kInput, *input_);
      records_ = false;
      position_ = position;
      return;
    }
    // The saved pass read a cache that is gone: read the input again up to `position`.
    writer_ = dataset().store->NewWriter();
    for (position_ = 0; position_ < position; ++position_) {
      std::optional<Element> element = input_->GetNext();
      if (!element) {
        throw DataLossError("cache: the input ended after " + std::to_string(position_) +
                            " elements, where the state expects " + std::to_string(position));
      }
      writer_->Append(*element);
    }
  }

 private:
  void DropWriter() {
    writer_.reset();
    records_ = false;
  }

  std::shared_ptr<const CachedElements> cache_;  // the complete cache this pass reads, or null
  std::unique_ptr<Iterator> input_;              // while the pass reads the input
  std::unique_ptr<CacheWriter> writer_;          // records the pass, made at its first element
  bool records_ = true;   // false once the pass cannot commit (restored, failed, committed)
  int64_t position_ = 0;  // elements of this pass produced so far
};
}  // namespace

DatasetPtr Cache(DatasetPtr input, std::string filename) {
  CheckInput(input, "cache");
  return std::make_shared<CacheDataset>(std::move(input), std::move(filename));
}

}  // namespace inputpipe
