// File identities: a content digest per file, cached per (file system, path, size, mtime).
#include "readers/file_identity.h"

#include <algorithm>
#include <map>
#include <memory>
#include <tuple>

#include "core/tensor_ops.h"
#include "readers/input_stream.h"
#include "util/coding.h"
#include "util/mutex.h"

namespace inputpipe {

namespace {

std::string Quote(const std::string& s) { return "'" + s + "'"; }

// Separate seeds, so that a store's identity never equals a hash of bytes.
constexpr uint64_t kBytesSeed = 0x66696c652d627974ULL;     // "file-byt"
constexpr uint64_t kIdentitySeed = 0x66696c652d696400ULL;  // "file-id"
constexpr uint64_t kListSeed = 0x66696c652d6c7374ULL;      // "file-lst"

// The digests already computed in this process. Bounded: a process that reads more files than
// this forgets them all at once and computes again (only a cost, never a wrong answer).
class DigestCache {
 public:
  struct Key {
    std::weak_ptr<FileSystem> fs;  // by owner: unique while the entry lives
    std::string path;
    int64_t size, mtime_ns;
  };
  struct KeyLess {
    bool operator()(const Key& a, const Key& b) const {
      if (a.fs.owner_before(b.fs)) return true;
      if (b.fs.owner_before(a.fs)) return false;
      return std::tie(a.path, a.size, a.mtime_ns) < std::tie(b.path, b.size, b.mtime_ns);
    }
  };
  bool Find(const Key& key, uint64_t* digest) {
    MutexLock lock(mu_);
    auto it = digests_.find(key);
    if (it == digests_.end()) return false;
    *digest = it->second;
    return true;
  }
  void Insert(Key key, uint64_t digest) {
    MutexLock lock(mu_);
    if (digests_.size() >= kMaxEntries) digests_.clear();
    digests_.emplace(std::move(key), digest);
  }

 private:
  static constexpr size_t kMaxEntries = 1 << 16;
  Mutex mu_;
  std::map<Key, uint64_t, KeyLess> digests_ GUARDED_BY(mu_);
};

DigestCache& Cache() {
  static auto* cache = new DigestCache;
  return *cache;
}

// Reads exactly n bytes at `offset`: a short read is retried, an empty one means the file is
// shorter than its Stat said (it changed while being identified).
void ReadBlock(const RandomAccessFile& file, const std::string& path, uint64_t offset, size_t n,
               char* dst, const std::string& op) {
  size_t done = 0;
  while (done < n) {
    size_t got;
    try {
      got = file.Read(offset + done, n - done, dst + done);
    } catch (const IOError& e) {
      throw IOError(op + ": cannot read " + Quote(path) + " at byte " +
                    std::to_string(offset + done) + " to identify it: " + IOErrorReason(e));
    }
    if (got == 0) {
      throw IOError(op + ": " + Quote(path) + " ends at byte " + std::to_string(offset + done) +
                    ", before its size; it changed while being identified");
    }
    done += got;
  }
}

// The hash of the bytes: all of them for a small file, else the sampled blocks, each with its
// offset (so that two files with the same blocks at other places differ).
uint64_t DigestBytes(FileSystem& fs, const std::string& path, int64_t size, const std::string& op) {
  std::unique_ptr<RandomAccessFile> file;
  try {
    file = fs.NewRandomAccessFile(path);
  } catch (const IOError& e) {
    throw OpenError(op, path, e);
  }
  uint64_t h = HashBytes(&size, sizeof(size), kBytesSeed);
  std::string block(static_cast<size_t>(std::min(size, kDigestBlockBytes)), '\0');
  if (size <= kWholeFileDigestBytes) {
    for (int64_t offset = 0; offset < size; offset += kDigestBlockBytes) {
      const size_t n = static_cast<size_t>(std::min(kDigestBlockBytes, size - offset));
      ReadBlock(*file, path, offset, n, block.data(), op);
      h = HashBytes(block.data(), n, h);
    }
    return h;
  }
  const int64_t span = size - kDigestBlockBytes;  // where the last block starts
  const int64_t steps = kDigestBlocks - 1;
  for (int64_t i = 0; i < kDigestBlocks; ++i) {
    const int64_t offset = span / steps * i + span % steps * i / steps;  // span * i / steps
    ReadBlock(*file, path, offset, block.size(), block.data(), op);
    h = HashBytes(&offset, sizeof(offset), h);
    h = HashBytes(block.data(), block.size(), h);
  }
  return h;
}

// A list "'a', 'b'" as the old FilesParam and list_files wrote it, at `s`: the number of
// entries and the position after its closing ']'; false when `s` does not hold one. A name
// holding "', '" would be miscounted: the entry then stays unchanged and is refused, as before.
bool ParseQuotedList(std::string_view s, size_t pos, int64_t* count, size_t* end) {
  *count = 0;
  if (pos < s.size() && s[pos] == ']') {
    *end = pos + 1;
    return true;
  }
  while (pos < s.size() && s[pos] == '\'') {
    size_t next = s.find("', '", pos + 1), close = s.find("']", pos + 1);
    if (close == std::string_view::npos) return false;
    ++*count;
    if (next != std::string_view::npos && next < close) {
      pos = next + 3;
      continue;
    }
    *end = close + 2;
    return true;
  }
  return false;
}

// Decimal digits at `pos`: the value and the position after them.
bool ParseCount(std::string_view s, size_t pos, int64_t* value, size_t* end) {
  size_t i = pos;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9' && i - pos < 18) ++i;
  if (i == pos) return false;
  *value = std::stoll(std::string(s.substr(pos, i - pos)));
  *end = i;
  return true;
}

// " (hash 0123456789abcdef)" at `pos`: the position after it.
bool ParseHashSuffix(std::string_view s, size_t pos, size_t* end) {
  constexpr std::string_view kHead = " (hash ";
  if (s.substr(pos, kHead.size()) != kHead) return false;
  pos += kHead.size();
  if (pos + 17 > s.size() || s[pos + 16] != ')') return false;
  for (size_t i = pos; i < pos + 16; ++i) {
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
  }
  *end = pos + 17;
  return true;
}

// The old files parameter of a file reader at `pos` ("files=['a', 'b']" or "files=300 files
// from 'a' to 'b' (hash ...)"): its count and end.
bool ParseOldFilesParam(std::string_view s, size_t pos, int64_t* count, size_t* end) {
  constexpr std::string_view kFiles = "files=";
  if (s.substr(pos, kFiles.size()) != kFiles) return false;
  pos += kFiles.size();
  if (pos < s.size() && s[pos] == '[') return ParseQuotedList(s, pos + 1, count, end);
  size_t after;
  if (!ParseCount(s, pos, count, &after)) return false;
  constexpr std::string_view kFrom = " files from '";
  if (s.substr(after, kFrom.size()) != kFrom) return false;  // today's "files=3"
  // The names may hold anything; the hash suffix closes the parameter.
  for (size_t at = s.find("' (hash ", after); at != std::string_view::npos;
       at = s.find("' (hash ", at + 1)) {
    if (ParseHashSuffix(s, at + 1, end)) return true;
  }
  return false;
}

}  // namespace

FileIdentity IdentifyFile(const std::shared_ptr<FileSystem>& fs, const std::string& path,
                          const FileStat& stat, const std::string& op) {
  FileIdentity id{stat.size, 0};
  if (!stat.identity.empty()) {
    id.digest = HashBytes(stat.identity.data(), stat.identity.size(), kIdentitySeed);
    return id;
  }
  DigestCache::Key key{fs, path, stat.size, stat.mtime_ns};
  if (Cache().Find(key, &id.digest)) return id;
  id.digest = DigestBytes(*fs, path, stat.size, op);
  Cache().Insert(std::move(key), id.digest);
  return id;
}

FileIdentity IdentifyFile(const std::shared_ptr<FileSystem>& fs, const std::string& path,
                          const std::string& op) {
  return IdentifyFile(fs, path, StatFileFully(*fs, path, op), op);
}

std::string DescribeIdentityChange(const FileIdentity& saved, const FileIdentity& now) {
  if (now.size < 0) return "not found now, " + std::to_string(saved.size) + " bytes when saved";
  if (saved.size != now.size) {
    return std::to_string(now.size) + " bytes, " + std::to_string(saved.size) + " when saved";
  }
  return "the same size (" + std::to_string(now.size) + " bytes), other bytes (content digest " +
         HexU64(now.digest) + ", " + HexU64(saved.digest) + " when saved)";
}

std::string EncodeFileIdentities(const std::vector<FileIdentity>& identities) {
  std::string out;
  for (const auto& id : identities) {
    PutFixed64(&out, static_cast<uint64_t>(id.size));
    PutFixed64(&out, id.digest);
  }
  if (identities.size() <= kListedFileIdentities) return out;
  std::string all;
  PutFixed64(&all, HashBytes(out.data(), out.size(), kListSeed));
  return all;
}

std::string DescribeFileListChange(std::string_view saved, const std::vector<FileIdentity>& now,
                                   const std::vector<std::string>& files, size_t skip,
                                   const std::string& op) {
  const size_t n = now.size();
  if (saved.size() == 8 && n > 0) {  // one digest of them all: which file cannot be said
    std::string listed;
    for (const auto& id : now) {
      PutFixed64(&listed, static_cast<uint64_t>(id.size));
      PutFixed64(&listed, id.digest);
    }
    if (DecodeFixed64(saved.data()) == HashBytes(listed.data(), listed.size(), kListSeed)) {
      return "";
    }
    return op + ": one or more of its " + std::to_string(n) + " files changed since the state " +
           "was saved (in size or content; a state over more than " +
           std::to_string(kListedFileIdentities) +
           " files keeps one digest of them all, so it cannot say which)";
  }
  if (saved.size() != 16 * n) {
    throw DataLossError("corrupt state: " + op + " file identities of " +
                        std::to_string(saved.size()) + " bytes for " + std::to_string(n) +
                        " files");
  }
  constexpr int64_t kNamed = 3;
  int64_t changed = 0;
  std::string named;
  for (size_t f = 0; f < n; ++f) {
    if (f == skip) continue;
    FileIdentity was{static_cast<int64_t>(DecodeFixed64(saved.data() + 16 * f)),
                     DecodeFixed64(saved.data() + 16 * f + 8)};
    if (was == now[f]) continue;
    if (changed++ < kNamed) {
      named += (named.empty() ? "" : ", ") + Quote(files[f]) + " (file " + std::to_string(f + 1) +
               " of " + std::to_string(n) + ": " + DescribeIdentityChange(was, now[f]) + ")";
    }
  }
  if (changed == 0) return "";
  if (changed > kNamed) named += " and " + std::to_string(changed - kNamed) + " more";
  return op + ": " + (changed == 1 ? "file " : std::to_string(changed) + " files ") + named +
         " changed since the state was saved";
}

std::string ContentParam(const std::vector<FileIdentity>& identities) {
  std::string listed;
  for (const auto& id : identities) {
    PutFixed64(&listed, static_cast<uint64_t>(id.size));
    PutFixed64(&listed, id.digest);
  }
  return " (content " + HexU64(HashBytes(listed.data(), listed.size(), kListSeed)) + ")";
}

std::string CompleteOldReaderEntry(const std::string& entry, const std::string& current) {
  constexpr std::string_view kContent = " (content ";
  const size_t at = current.find(kContent);
  if (at == std::string::npos || entry.find(kContent) != std::string::npos) return entry;
  const size_t close = current.find(')', at);
  if (close == std::string::npos) return entry;
  std::string without = current.substr(0, at) + current.substr(close + 1);
  return without == entry ? current : entry;
}

namespace {
// `entry` without its " (content ...)" part; "" when it has none.
std::string WithoutContent(const std::string& entry) {
  const size_t at = entry.find(" (content ");
  const size_t close = at == std::string::npos ? at : entry.find(')', at);
  if (close == std::string::npos) return "";
  return entry.substr(0, at) + entry.substr(close + 1);
}
}  // namespace

std::string ReaderContentChangeNote(const std::string& saved, const std::string& current) {
  const std::string a = WithoutContent(saved);
  if (a.empty() || a != WithoutContent(current)) return "";
  return ": the size or bytes of one or more of its files changed since the state was saved "
         "(a restore with allow_changes names them in its warning)";
}

std::string CanonicalReaderEntry(std::string_view entry) {
  const size_t indent = std::min(entry.find_first_not_of(' '), entry.size());
  const std::string_view body = entry.substr(indent);
  for (std::string_view op : {"tfrecord(", "text_line(", "csv("}) {
    if (!body.starts_with(op)) continue;
    int64_t count;
    size_t end;
    if (!ParseOldFilesParam(body, op.size(), &count, &end)) break;
    return std::string(entry.substr(0, indent)) + std::string(op) +
           "files=" + std::to_string(count) + std::string(body.substr(end));
  }
  constexpr std::string_view kList = "list_files(patterns=[";
  if (body.starts_with(kList)) {
    int64_t patterns, files;
    size_t end, after_count, after_hash;
    constexpr std::string_view kFiles = ", files=";
    if (ParseQuotedList(body, kList.size(), &patterns, &end) &&
        body.substr(end, kFiles.size()) == kFiles &&
        ParseCount(body, end + kFiles.size(), &files, &after_count) &&
        ParseHashSuffix(body, after_count, &after_hash)) {
      return std::string(entry.substr(0, indent)) +
             "list_files(patterns=" + std::to_string(patterns) +
             ", files=" + std::to_string(files) + std::string(body.substr(after_hash));
    }
  }
  return std::string(entry);
}

}  // namespace inputpipe
