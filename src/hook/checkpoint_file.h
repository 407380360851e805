// The two files of an input checkpoint directory: checkpoint files and the index.
//
// A checkpoint file (`input.ckpt-<step>`) holds the states of every iterator the hook saves,
// captured at one step (docs/hook.md):
//
//   magic "IPCK" | version varint | body length varint | body | masked crc32c(body) fixed32
//   body := step zigzag varint | iterator count varint | {name str, state str} ...
//           [version 2: | epoch varint (0: none, else epoch + 1) | {ended byte (0/1)} x count]
//
// A checkpoint of several ranks, written by rank 0 (version 3, read by this build on):
//   body := step zigzag varint | rank count varint | {rank file str} x count
// where each rank file is the version 1 or 2 file that rank would have written alone.
//
// where each state is Iterator::Save()'s bytes (themselves versioned and checksummed) and str is
// a varint length followed by the bytes. The file must be exactly that long: a truncated or
// extended file is corrupt. Version 2 is written only when there is an epoch or an ended
// iterator to record; otherwise version 1, byte for byte what earlier builds wrote (and read).
// Both versions are read.
//
// The index (`checkpoint_input`) is text, for people and tools, with a checksum line last:
//
//   # inputpipe input checkpoint index (docs/hook.md). Checksummed: do not edit.
//   format: 1
//   latest: input.ckpt-300
//   all: input.ckpt-200
//   all: input.ckpt-300
//   crc32c: 0123abcd            <- of every byte before this line
#ifndef INPUTPIPE_HOOK_CHECKPOINT_FILE_H_
#define INPUTPIPE_HOOK_CHECKPOINT_FILE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "inputpipe/hook.h"

namespace inputpipe::hook_internal {

// Public as inputpipe::InputCheckpointContents (tools decode the files too).
using CheckpointContents = InputCheckpointContents;

// InvalidArgumentError naming `path` (where the bytes go) if an iterator name is given twice.
std::string EncodeCheckpointFile(const CheckpointContents& contents,
                                 const std::string& path = "(not yet written)");
// The version 3 file of `step` holding the files of every rank (EncodeCheckpointFile's bytes).
std::string EncodeRanksFile(int64_t step, const std::vector<std::string>& rank_files);
// Fills `ranks` with the decoded rank files, and states / epoch / ended from them
// (InputCheckpointContents::ranks). Throws DataLossError naming `path` and the rank.
void SetRanks(std::vector<CheckpointContents> ranks, const std::string& path,
              CheckpointContents* contents);
// Throws DataLossError naming `path` and what is wrong (magic, version, length, checksum, an
// iterator name that appears twice).
CheckpointContents DecodeCheckpointFile(std::string_view bytes, const std::string& path);

struct CheckpointIndex {
  std::string latest;            // file name of the newest checkpoint
  std::vector<std::string> all;  // file names of every retained checkpoint, oldest first
};

std::string EncodeIndexFile(const CheckpointIndex& index);
// Throws DataLossError naming `path`.
CheckpointIndex DecodeIndexFile(std::string_view bytes, const std::string& path);

// "input", or "input_<task_type>_<task_id>" for one worker of several.
std::string CheckpointPrefix(const std::string& task_type, int64_t task_id);
// "<prefix>.ckpt-<step>".
std::string CheckpointFileName(const std::string& prefix, int64_t step);
// The step of "<prefix>.ckpt-<step>"; nullopt for any other name (temporary files, another
// prefix, a model's "model.ckpt-100", "checkpoint").
std::optional<int64_t> ParseCheckpointFileName(const std::string& prefix, std::string_view name);
// "checkpoint_<prefix>": "checkpoint_input", never the model manager's "checkpoint".
std::string IndexFileName(const std::string& prefix);

}  // namespace inputpipe::hook_internal

#endif  // INPUTPIPE_HOOK_CHECKPOINT_FILE_H_
