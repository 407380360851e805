// What a file is, for a restore: its size and a digest of its content, never its path or its
// modification time. A state saved over "data/a.csv" restores over "/mnt/copy/a.csv" when the
// bytes are the same, and refuses a file whose bytes changed, naming it. The path only says
// which file of the list is the k-th one.
//
//   FileIdentity id = IdentifyFile(fs, "data/a.csv", "csv");   // stat, then digest (cached)
//   std::string saved = EncodeFileIdentities({id, ...});       // in the reader's state
//   ...
//   std::string change = DescribeFileListChange(saved, now, files, kNoFile, "csv");
//   if (!change.empty()) RefuseChangeUnlessAllowed(change);
//
// The digest (docs/state_format.md, "File identity"):
//   - the store's own content identity (FileStat::identity: an ETag, a generation) when it has
//     one: nothing is read;
//   - else for a file of at most kWholeFileDigestBytes, a hash of all its bytes;
//   - else a hash of kDigestBlocks blocks of kDigestBlockBytes: the first, the last and the
//     others evenly spaced between them (640 KiB read, whatever the size).
// A change that touches none of the sampled blocks of a large file and keeps its size is not
// seen (an in-place edit of one record in the middle): that is the price of not reading
// terabytes on every restore. The hash is HashBytes (src/core/tensor_ops.h), so the digest is
// part of the state format: changing either makes every saved reader state a "changed file".
//
// Digests are computed once per (file system, path, size, mtime) in a process and cached: a file
// opened again, or by another iterator, is not read again.
//
// Thread-safety: every function is safe from any thread.
#ifndef INPUTPIPE_READERS_FILE_IDENTITY_H_
#define INPUTPIPE_READERS_FILE_IDENTITY_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "inputpipe/file_system.h"

namespace inputpipe {

inline constexpr int64_t kWholeFileDigestBytes = 1 << 20;
inline constexpr int64_t kDigestBlockBytes = 64 << 10;
inline constexpr int64_t kDigestBlocks = 10;
// A state lists one identity per file up to this many files, else one digest of them all.
inline constexpr size_t kListedFileIdentities = 1024;

struct FileIdentity {
  int64_t size = 0;
  uint64_t digest = 0;
  bool operator==(const FileIdentity&) const = default;
};

// The identity of the file `stat` describes (a Stat of `path` on `fs`). IOError naming `op`, the
// file and the byte offset when it cannot be read. The cache knows `fs` by its owner, so a file
// system destroyed and another made at the same address never share digests.
FileIdentity IdentifyFile(const std::shared_ptr<FileSystem>& fs, const std::string& path,
                          const FileStat& stat, const std::string& op);
// Stats `path` first (IOError naming `op` and the file if it cannot).
FileIdentity IdentifyFile(const std::shared_ptr<FileSystem>& fs, const std::string& path,
                          const std::string& op);

// What differs between two identities of one file: "120 bytes, 100 when saved" or "the same
// size (100 bytes), other bytes".
std::string DescribeIdentityChange(const FileIdentity& saved, const FileIdentity& now);

// The identities of a list of files as a state holds them: (fixed64 size, fixed64 digest) per
// file for at most kListedFileIdentities files, else one fixed64 digest of them all.
std::string EncodeFileIdentities(const std::vector<FileIdentity>& identities);

inline constexpr size_t kNoFile = static_cast<size_t>(-1);
// "" when `saved` (EncodeFileIdentities of the files when the state was saved) matches `now`,
// else the message of the refusal: which files changed (by their path now and their place in
// the list) and how, "csv: 2 files changed since the state was saved: 'b.csv' (file 2 of 3:
// ...), ...". File `skip` is not compared (the open file, already checked). DataLossError for
// an encoding that fits no list of now.size() files.
std::string DescribeFileListChange(std::string_view saved, const std::vector<FileIdentity>& now,
                                   const std::vector<std::string>& files, size_t skip,
                                   const std::string& op);

// A fingerprint entry of a file reader or list_files written by a version that identified files
// by their paths, as today's code writes it ("csv(files=['a.csv', 'b.csv'], header=true)" ->
// "csv(files=2, header=true)"); any other entry unchanged. See CanonicalPipelineEntry.
std::string CanonicalReaderEntry(std::string_view entry);

// An indexed reader's entry holds its files' content digest ("csv(files=2 (content 0123...),
// indexed=true)"), so that a change is refused even where no reader iterator restores (under a
// global shuffle, which reads by index). An older version's entry, canonical, lacks it: `entry`
// is then `current` (today's entry at the same place) when the two are equal but for it, and the
// files are compared by the old state's size and mtime where a reader iterator restores. Any
// other entry unchanged.
std::string CompleteOldReaderEntry(const std::string& entry, const std::string& current);
// When `saved` and `current` are one indexed reader's entry but for the content digest, what to
// add to the pipeline mismatch: that its files changed, and how to see which; else "".
std::string ReaderContentChangeNote(const std::string& saved, const std::string& current);
// " (content 0123456789abcdef)": what an indexed reader adds to "files=N".
std::string ContentParam(const std::vector<FileIdentity>& identities);

}  // namespace inputpipe

#endif  // INPUTPIPE_READERS_FILE_IDENTITY_H_
