// Encoding and decoding of checkpoint files and of the index; the layouts are in
// checkpoint_file.h and docs/hook.md.
#include "hook/checkpoint_file.h"

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <set>

#include "inputpipe/errors.h"
#include "util/coding.h"
#include "util/crc32c.h"

namespace inputpipe::hook_internal {

namespace {
constexpr std::string_view kMagic = "IPCK";
// Version 1: step and states. Version 2 adds the epoch and the ended flags (checkpoint_file.h).
constexpr uint64_t kFileVersionV1 = 1;
constexpr uint64_t kFileVersion = 2;
constexpr uint64_t kFileVersionRanks = 3;  // the files of several ranks
constexpr std::string_view kIndexHeader =
    "# inputpipe input checkpoint index (docs/hook.md). Checksummed: do not edit.\n";
constexpr std::string_view kIndexFormat = "format: 1\n";
constexpr std::string_view kLatest = "latest: ";
constexpr std::string_view kAll = "all: ";
constexpr std::string_view kCrc = "crc32c: ";

[[noreturn]] void Corrupt(const std::string& path, const std::string& what) {
  throw DataLossError("corrupt input checkpoint " + path + ": " + what);
}

// A malformed body, with the file offset where decoding stopped (the field at or after it).
[[noreturn]] void Malformed(const std::string& path, const std::string& what, size_t at) {
  Corrupt(path, "malformed body" + what + " at byte " + std::to_string(at));
}

std::optional<int64_t> ParseInt(std::string_view digits) {
  int64_t value = 0;
  if (digits.empty() || digits[0] == '-' || digits[0] == '+') return std::nullopt;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  // Only the spelling CheckpointFileName writes ("7", not "007").
  if (std::to_string(value) != digits) return std::nullopt;
  return value;
}
}  // namespace

namespace {
// The first iterator name given twice, or null: a file with two states of one name restores only
// one of them (which one depends on the reader), so it is neither written nor read.
const std::string* DuplicatedName(const std::vector<std::pair<std::string, std::string>>& states) {
  std::set<std::string_view> names;
  for (const auto& [name, state] : states) {
    if (!names.insert(name).second) return &name;
  }
  return nullptr;
}
}  // namespace

std::string EncodeCheckpointFile(const CheckpointContents& contents, const std::string& path) {
  if (const std::string* name = DuplicatedName(contents.states)) {
    throw InvalidArgumentError("input checkpoint " + path + ": iterator name '" + *name +
                               "' given twice (each iterator needs a name of its own)");
  }
  std::string body;
  PutZigZag64(&body, contents.step);
  PutVarint64(&body, contents.states.size());
  for (const auto& [name, state] : contents.states) {
    PutLengthPrefixed(&body, name);
    PutLengthPrefixed(&body, state);
  }
  bool any_ended = false;
  for (bool ended : contents.ended) any_ended = any_ended || ended;
  // Nothing new to say: version 1, readable by builds that predate version 2.
  const bool v2 = contents.epoch.has_value() || any_ended;
  if (v2) {
    PutVarint64(&body, contents.epoch ? static_cast<uint64_t>(*contents.epoch) + 1 : 0);
    for (size_t i = 0; i < contents.states.size(); ++i) {
      body.push_back(i < contents.ended.size() && contents.ended[i] ? 1 : 0);
    }
  }
  std::string out(kMagic);
  PutVarint64(&out, v2 ? kFileVersion : kFileVersionV1);
  PutVarint64(&out, body.size());
  out += body;
  PutFixed32(&out, crc32c::Mask(crc32c::Value(body.data(), body.size())));
  return out;
}

CheckpointContents DecodeCheckpointFile(std::string_view bytes, const std::string& path) {
  ByteReader in(bytes);
  std::string_view magic;
  if (!in.GetBytes(kMagic.size(), &magic) || magic != kMagic) {
    Corrupt(path,
            "not an input checkpoint file (bad magic; " + std::to_string(bytes.size()) + " bytes)");
  }
  uint64_t version, body_size;
  const std::string truncated =
      "truncated in the header (" + std::to_string(bytes.size()) + " bytes)";
  if (!in.GetVarint64(&version)) Corrupt(path, truncated);
  if (version != kFileVersionV1 && version != kFileVersion && version != kFileVersionRanks) {
    Corrupt(path, "format version " + std::to_string(version) + ", this build reads versions " +
                      std::to_string(kFileVersionV1) + " to " + std::to_string(kFileVersionRanks));
  }
  if (!in.GetVarint64(&body_size)) Corrupt(path, truncated);
  const size_t header = in.offset();  // the body's first byte in the file
  if (body_size + 4 != in.remaining()) {
    Corrupt(path, "truncated or extended: the header announces " + std::to_string(body_size) +
                      " body bytes + 4 checksum bytes, the file has " +
                      std::to_string(in.remaining()) + " after the header");
  }
  std::string_view body;
  in.GetBytes(body_size, &body);
  uint32_t stored;
  in.GetFixed32(&stored);
  if (crc32c::Unmask(stored) != crc32c::Value(body.data(), body.size())) {
    Corrupt(path, "checksum mismatch over the body (bytes " + std::to_string(header) + " to " +
                      std::to_string(header + body_size) + ")");
  }
  // The checksum matched, so a malformed body is a writer bug; still never read past the end.
  ByteReader b(body);
  CheckpointContents contents;
  uint64_t count;
  if (!b.GetZigZag64(&contents.step) || !b.GetVarint64(&count) || count > b.remaining()) {
    Malformed(path, "", header + b.offset());
  }
  if (version == kFileVersionRanks) {
    std::vector<CheckpointContents> ranks;
    for (uint64_t r = 0; r < count; ++r) {
      std::string_view file;
      if (!b.GetLengthPrefixed(&file)) Malformed(path, " (rank files)", header + b.offset());
      ranks.push_back(DecodeCheckpointFile(file, path + " (rank " + std::to_string(r) + ")"));
    }
    if (b.remaining() != 0 || count == 0) Malformed(path, " (rank files)", header + b.offset());
    const int64_t step = contents.step;
    SetRanks(std::move(ranks), path, &contents);
    if (contents.step != step) Corrupt(path, "a rank's file holds another step");
    return contents;
  }
  for (uint64_t i = 0; i < count; ++i) {
    std::string_view name, state;
    if (!b.GetLengthPrefixed(&name) || !b.GetLengthPrefixed(&state))
      Malformed(path, "", header + b.offset());
    contents.states.emplace_back(std::string(name), std::string(state));
  }
  if (const std::string* name = DuplicatedName(contents.states)) {
    Corrupt(path, "iterator name '" + *name + "' appears twice");
  }
  if (version >= 2) {
    uint64_t epoch;
    if (!b.GetVarint64(&epoch) || (epoch != 0 && epoch - 1 > uint64_t{INT64_MAX}) ||
        b.remaining() < count) {
      Malformed(path, " (epoch or ended flags)", header + b.offset());
    }
    if (epoch != 0) contents.epoch = static_cast<int64_t>(epoch - 1);
    std::string_view flags;
    b.GetBytes(count, &flags);
    bool any_ended = false;
    const size_t flags_at = header + b.offset() - flags.size();
    for (size_t i = 0; i < flags.size(); ++i) {
      if (flags[i] != 0 && flags[i] != 1) {
        Malformed(path, " (an ended flag is not 0 or 1)", flags_at + i);
      }
      any_ended = any_ended || flags[i] == 1;
    }
    if (any_ended) {
      for (char flag : flags) contents.ended.push_back(flag == 1);
    }
  }
  if (b.remaining() != 0) Malformed(path, " (trailing bytes)", header + b.offset());
  return contents;
}

std::string EncodeRanksFile(int64_t step, const std::vector<std::string>& rank_files) {
  std::string body;
  PutZigZag64(&body, step);
  PutVarint64(&body, rank_files.size());
  for (const std::string& file : rank_files) PutLengthPrefixed(&body, file);
  std::string out(kMagic);
  PutVarint64(&out, kFileVersionRanks);
  PutVarint64(&out, body.size());
  out += body;
  PutFixed32(&out, crc32c::Mask(crc32c::Value(body.data(), body.size())));
  return out;
}

void SetRanks(std::vector<CheckpointContents> ranks, const std::string& path,
              CheckpointContents* contents) {
  if (ranks.empty()) Corrupt(path, "no rank's state");
  const CheckpointContents& first = ranks[0];
  for (size_t r = 0; r < ranks.size(); ++r) {
    const CheckpointContents& rank = ranks[r];
    if (!rank.ranks.empty()) Corrupt(path, "rank " + std::to_string(r) + " holds ranks itself");
    bool same = rank.step == first.step && rank.states.size() == first.states.size();
    for (size_t i = 0; same && i < rank.states.size(); ++i) {
      same = rank.states[i].first == first.states[i].first;
    }
    if (!same) {
      Corrupt(path, "rank " + std::to_string(r) + "'s state is of another step or other "
                    "iterators than rank 0's");
    }
  }
  contents->step = first.step;
  contents->states = first.states;
  contents->epoch = first.epoch;
  contents->ended.clear();
  bool any = false;
  std::vector<bool> ended(first.states.size(), true);
  for (const CheckpointContents& rank : ranks) {
    for (size_t i = 0; i < ended.size(); ++i) {
      ended[i] = ended[i] && i < rank.ended.size() && rank.ended[i];
    }
  }
  for (bool e : ended) any = any || e;
  if (any) contents->ended = ended;
  contents->ranks = std::move(ranks);
}

std::string EncodeIndexFile(const CheckpointIndex& index) {
  std::string out(kIndexHeader);
  out += kIndexFormat;
  out += std::string(kLatest) + index.latest + "\n";
  for (const auto& name : index.all) out += std::string(kAll) + name + "\n";
  char crc[16];
  std::snprintf(crc, sizeof(crc), "%08x", crc32c::Value(out.data(), out.size()));
  out += std::string(kCrc) + crc + "\n";
  return out;
}

CheckpointIndex DecodeIndexFile(std::string_view bytes, const std::string& path) {
  // The checksum line is the last line; everything before it is covered.
  size_t crc_line = bytes.rfind(std::string("\n") + std::string(kCrc));
  if (crc_line == std::string_view::npos || bytes.empty() || bytes.back() != '\n') {
    Corrupt(path, "index file without its checksum line (truncated?)");
  }
  std::string_view covered = bytes.substr(0, crc_line + 1);
  std::string_view hex = bytes.substr(crc_line + 1 + kCrc.size());
  hex.remove_suffix(1);
  uint32_t stored = 0;
  auto [end, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), stored, 16);
  // Only the lowercase digits EncodeIndexFile writes: "C" for "c" is a flipped bit (0x20).
  if (ec != std::errc() || end != hex.data() + hex.size() || hex.size() != 8 ||
      hex.find_first_not_of("0123456789abcdef") != std::string_view::npos) {
    Corrupt(path, "malformed checksum line");
  }
  if (stored != crc32c::Value(covered.data(), covered.size())) Corrupt(path, "checksum mismatch");
  if (covered.substr(0, kIndexHeader.size()) != kIndexHeader ||
      covered.substr(kIndexHeader.size(), kIndexFormat.size()) != kIndexFormat) {
    Corrupt(path, "unknown index format");
  }
  CheckpointIndex index;
  std::string_view rest = covered.substr(kIndexHeader.size() + kIndexFormat.size());
  while (!rest.empty()) {
    size_t newline = rest.find('\n');
    std::string_view line = rest.substr(0, newline);
    rest.remove_prefix(newline + 1);
    if (line.substr(0, kLatest.size()) == kLatest) {
      index.latest = std::string(line.substr(kLatest.size()));
    } else if (line.substr(0, kAll.size()) == kAll) {
      index.all.emplace_back(line.substr(kAll.size()));
    } else {
      Corrupt(path, "unexpected line '" + std::string(line) + "'");
    }
  }
  return index;
}

std::string CheckpointPrefix(const std::string& task_type, int64_t task_id) {
  if (task_type.empty()) return "input";
  return "input_" + task_type + "_" + std::to_string(task_id);
}

std::string CheckpointFileName(const std::string& prefix, int64_t step) {
  return prefix + ".ckpt-" + std::to_string(step);
}

std::optional<int64_t> ParseCheckpointFileName(const std::string& prefix, std::string_view name) {
  std::string head = prefix + ".ckpt-";
  if (name.size() <= head.size() || name.substr(0, head.size()) != head) return std::nullopt;
  return ParseInt(name.substr(head.size()));
}

std::string IndexFileName(const std::string& prefix) { return "checkpoint_" + prefix; }

}  // namespace inputpipe::hook_internal
