// from_source(fns, options): a random-access source over user functions (inputpipe/source.h).
// Element i is fns.get(i), or with a batch size fns.get_batch(i * batch_size, count): Batch
// fused into the source, so a batch costs one call, not batch_size. Iterated by an
// IndexIterator: the state is the index of the next element. The files' content identities
// are computed once, here, and enter the fingerprint. With block_rows, rows are sliced out of
// blocks read through get_batch and kept in a byte-bounded LRU cache (BlockCache): what makes a
// Python source cheap per row.
#include <algorithm>
#include <list>
#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "core/index_iterator.h"
#include "core/tensor_ops.h"
#include "inputpipe/file_system.h"
#include "inputpipe/source.h"
#include "readers/file_identity.h"
#include "util/mutex.h"

namespace inputpipe {

namespace {

constexpr char kOp[] = "from_source";

// Blocks of rows by block number, least recently used dropped first once over `limit` bytes
// (the newest block always stays). Thread-safe; a block is read outside the lock, so two
// threads missing the same block both read it (the second insert is dropped).
class BlockCache {
 public:
  explicit BlockCache(size_t limit) : limit_(limit) {}

  std::shared_ptr<const Element> Find(int64_t block) EXCLUDES(mu_) {
    MutexLock lock(mu_);
    auto it = index_.find(block);
    if (it == index_.end()) return nullptr;
    lru_.splice(lru_.begin(), lru_, it->second);
    return it->second->second;
  }

  // A block get_batch failed on: its rows are read one by one (get), so that the rows before
  // a bad one are still delivered and the error is the bad row's own.
  void MarkFailed(int64_t block) EXCLUDES(mu_) {
    MutexLock lock(mu_);
    failed_.insert(block);
  }
  bool Failed(int64_t block) EXCLUDES(mu_) {
    MutexLock lock(mu_);
    return failed_.count(block) != 0;
  }

  void Insert(int64_t block, std::shared_ptr<const Element> rows) EXCLUDES(mu_) {
    const size_t size = ElementBytes(*rows);
    MutexLock lock(mu_);
    if (index_.count(block)) return;
    lru_.emplace_front(block, std::move(rows));
    index_[block] = lru_.begin();
    bytes_ += size;
    sizes_[block] = size;
    while (bytes_ > limit_ && lru_.size() > 1) {
      const int64_t dropped = lru_.back().first;
      bytes_ -= sizes_[dropped];
      sizes_.erase(dropped);
      index_.erase(dropped);
      lru_.pop_back();
    }
  }

 private:
  using Entry = std::pair<int64_t, std::shared_ptr<const Element>>;
  const size_t limit_;
  Mutex mu_;
  std::list<Entry> lru_ GUARDED_BY(mu_);  // most recently used first
  std::unordered_map<int64_t, std::list<Entry>::iterator> index_ GUARDED_BY(mu_);
  std::unordered_map<int64_t, size_t> sizes_ GUARDED_BY(mu_);
  size_t bytes_ GUARDED_BY(mu_) = 0;
  std::unordered_set<int64_t> failed_ GUARDED_BY(mu_);
};

class FromSourceDataset : public RandomAccessSource {
 public:
  FromSourceDataset(RandomAccessFunctions fns, SourceOptions options, std::string content)
      : fns_(std::move(fns)), options_(std::move(options)), content_(std::move(content)) {
    if (options_.batch_size == 0 && options_.block_rows > 0) {
      blocks_ = std::make_unique<BlockCache>(static_cast<size_t>(options_.cache_bytes));
    }
  }

  std::string op_name() const override { return kOp; }
  std::string params() const override {
    std::string p = "fn=" + options_.name;
    if (!options_.params.empty()) p += ", " + options_.params;
    p += ", size=" + std::to_string(fns_.size);
    if (!options_.files.empty()) p += ", files=" + std::to_string(options_.files.size()) + content_;
    if (options_.batch_size > 0) {
      p += ", batch_size=" + std::to_string(options_.batch_size) +
           ", drop_remainder=" + (options_.drop_remainder ? "true" : "false");
    }
    return p;
  }
  int64_t Cardinality() const override {
    const int64_t b = options_.batch_size;
    if (b <= 0) return fns_.size;
    return options_.drop_remainder ? fns_.size / b : (fns_.size + b - 1) / b;
  }
  Element Get(int64_t index) const override {
    if (blocks_) return GetFromBlock(index);
    const int64_t b = options_.batch_size;
    if (b <= 0) return fns_.get(index);
    const int64_t start = index * b;
    return fns_.get_batch(start, std::min(b, fns_.size - start));
  }

 private:
  Element GetFromBlock(int64_t index) const {
    const int64_t n = options_.block_rows;
    const int64_t block = index / n;
    std::shared_ptr<const Element> rows = blocks_->Find(block);
    if (!rows) {
      if (blocks_->Failed(block)) return fns_.get(index);
      const int64_t start = block * n;
      const int64_t count = std::min(n, fns_.size - start);
      try {
        rows = std::make_shared<const Element>(fns_.get_batch(start, count));
      } catch (const FailedPreconditionError&) {
        throw;         // not the data's fault (a Python interpreter shutting down)
      } catch (...) {  // a null, a corrupt row group, ...: found again, precisely, by get
        blocks_->MarkFailed(block);
        return fns_.get(index);
      }
      const int64_t got = FirstDimOf(*rows, std::string(kOp) + "(fn=" + options_.name + ")");
      if (got != count) {
        throw InvalidArgumentError(std::string(kOp) + "(fn=" + options_.name + "): get_batch(" +
                                   std::to_string(start) + ", " + std::to_string(count) +
                                   ") returned " + std::to_string(got) + " rows");
      }
      blocks_->Insert(block, rows);
    }
    return SliceElement(*rows, index % n);
  }

  const RandomAccessFunctions fns_;
  const SourceOptions options_;
  const std::string content_;           // ContentParam of the files
  std::unique_ptr<BlockCache> blocks_;  // with block_rows (unbatched): rows by block
};

}  // namespace

DatasetPtr FromSource(RandomAccessFunctions fns, SourceOptions options) {
  if (options.name.empty()) throw InvalidArgumentError(std::string(kOp) + ": name is empty");
  const std::string op = std::string(kOp) + "(fn=" + options.name + ")";
  if (!fns.get) throw InvalidArgumentError(op + ": get is empty");
  if (fns.size < 0) {
    throw InvalidArgumentError(op + ": size must be >= 0, got " + std::to_string(fns.size));
  }
  if (options.batch_size < 0) {
    throw InvalidArgumentError(op + ": batch_size must be >= 0, got " +
                               std::to_string(options.batch_size));
  }
  if (options.batch_size > 0 && !fns.get_batch) {
    throw InvalidArgumentError(op + ": a batch_size needs get_batch");
  }
  if (options.block_rows < 0) {
    throw InvalidArgumentError(op + ": block_rows must be >= 0, got " +
                               std::to_string(options.block_rows));
  }
  if (options.block_rows > 0 && !fns.get_batch) {
    throw InvalidArgumentError(op + ": block_rows needs get_batch");
  }
  std::string content;
  if (!options.files.empty()) {
    std::vector<FileIdentity> identities;
    identities.reserve(options.files.size());
    for (const std::string& path : options.files) {
      identities.push_back(IdentifyFile(FileSystemForPath(path), path, op));
    }
    content = ContentParam(identities);
  }
  return std::make_shared<FromSourceDataset>(std::move(fns), std::move(options),
                                             std::move(content));
}

}  // namespace inputpipe
