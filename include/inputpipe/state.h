// Iterator state: positions, counters and seeds, never element values.
//
// An iterator's state is a tree of StateNodes, one per iterator in the pipeline, each holding a
// few named integers (positions, counters, seeds, RNG counters) and the nodes of its inputs:
//
//   void SaveInternal(StateWriter& w) override {
//     w.WriteInt(kTaken, taken_);
//     w.WriteChild(kInput, *input_);
//   }
//   void RestoreInternal(StateReader& r) override {
//     taken_ = r.ReadInt(kTaken);
//     r.RestoreChild(kInput, *input_);
//   }
//
// Iterator::Save() encodes the tree in the versioned, checksummed byte format of
// docs/state_format.md; InspectState() prints those bytes as JSON.
#ifndef INPUTPIPE_STATE_H_
#define INPUTPIPE_STATE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace inputpipe {

class Dataset;
class Iterator;

// What Save does when part of the pipeline depends on state it cannot capture (a Python
// callable declared stateful, a plain Python generator).
enum class ExternalStatePolicy {
  kFail,    // throw ExternalStateError naming the op (the default)
  kWarn,    // save the rest and warn, naming the op
  kIgnore,  // save the rest silently
};
// "fail" / "warn" / "ignore"; anything else is an InvalidArgumentError listing the three.
ExternalStatePolicy ParseExternalStatePolicy(std::string_view name);
std::string_view ExternalStatePolicyName(ExternalStatePolicy policy);

struct EncodedStateNode;

struct StateNode {
  std::string name;  // key under the parent node ("input", "inner", ...); "" for the root
  std::string op;    // op name of the iterator that wrote it ("batch")
  std::vector<std::pair<std::string, int64_t>> ints;
  // Opaque bytes: only for state the engine cannot express as integers (a generator's own
  // get_state() payload, a reader's file fingerprint). Never element values.
  std::vector<std::pair<std::string, std::string>> blobs;
  // Ops in this subtree whose state could not be captured ("map(fn=f, stateful=true)").
  std::vector<std::string> external_state;
  std::vector<StateNode> children;
  // Set only in a tree built for Iterator::Save's bytes (StateWriter::for_bytes()): the node
  // arrived already encoded, and its content after the name is these bytes (op, ints, blobs,
  // ... as one contiguous run; the fields above other than `name` are then empty). The encoder
  // copies them; CollectExternalState reads their list.
  std::shared_ptr<const EncodedStateNode> encoded;

  const StateNode* FindChild(std::string_view key) const;
  // Every external_state entry in this subtree, depth first.
  std::vector<std::string> CollectExternalState() const;
};

// A node encoded ahead, by the thread that captured it: what a save copies instead of walking
// and encoding the tree on the training thread, where, a batch later, the tree is out of the
// caches (prefetch encodes its input's state as it buffers each element).
struct EncodedStateNode {
  std::string bytes;  // the node in the byte format, from its op on (its name is not included)
  std::vector<std::string> external_state;  // node.CollectExternalState()
};
EncodedStateNode EncodeStateNode(const StateNode& node);

// Handed to Iterator::SaveInternal; builds that iterator's node.
class StateWriter {
 public:
  // for_bytes: the tree is only encoded into a state's bytes (Iterator::Save), so pre-encoded
  // children (WriteEncodedChild) may stand in for trees.
  explicit StateWriter(StateNode* node, bool for_bytes = false)
      : node_(node), for_bytes_(for_bytes) {}
  void WriteInt(std::string_view key, int64_t value);
  void WriteBool(std::string_view key, bool value) { WriteInt(key, value ? 1 : 0); }
  void WriteBytes(std::string_view key, std::string value);
  // Saves `child` (an input iterator) under `key`.
  void WriteChild(std::string_view key, Iterator& child);
  // A node captured earlier (e.g. by a prefetch thread, right after producing an element).
  void WriteChildNode(std::string_view key, StateNode node);
  // A child encoded ahead (EncodeStateNode of the node WriteChildNode would write), stored by
  // pointer: nothing is walked or copied until the bytes are written. REQUIRES: for_bytes().
  void WriteEncodedChild(std::string_view key, std::shared_ptr<const EncodedStateNode> node);
  // Whether this tree is only for a state's bytes: an op holding its input's node already
  // encoded writes it with WriteEncodedChild, else with WriteChildNode.
  bool for_bytes() const { return for_bytes_; }
  // Declares that this op depends on state the writer cannot capture; `what` names the op and
  // why ("map(fn=f): the function is declared stateful"). The save policy decides what happens.
  void ReportExternalState(std::string what);

 private:
  StateNode* node_;
  const bool for_bytes_;
};

// Handed to Iterator::RestoreInternal; reads that iterator's node. Every missing key or
// out-of-range value is a DataLossError naming the op and the key.
class StateReader {
 public:
  explicit StateReader(const StateNode* node) : node_(node) {}
  int64_t ReadInt(std::string_view key) const;
  // ReadInt, and a DataLossError unless lo <= value <= hi.
  int64_t ReadIntInRange(std::string_view key, int64_t lo, int64_t hi) const;
  bool ReadBool(std::string_view key) const { return ReadIntInRange(key, 0, 1) != 0; }
  const std::string& ReadBytes(std::string_view key) const;

  // A field added after v1 of the format: absent in older states, so it is read with the value
  // that means "as before it existed" (docs/state_format.md "Versioning"). A present field is
  // read and checked as ReadInt / ReadIntInRange / ReadBool would; `absent` may lie outside
  // [lo, hi] (window's `skip`: 0 when absent, else in [1, shift - 1]).
  int64_t ReadIntOr(std::string_view key, int64_t absent) const;
  int64_t ReadIntInRangeOr(std::string_view key, int64_t lo, int64_t hi, int64_t absent) const;
  bool ReadBoolOr(std::string_view key, bool absent) const;
  // The bytes of an added (or only sometimes written) field, or null when the state has none:
  // an empty payload and no payload differ (shuffle's `input_errors`).
  const std::string* FindBytes(std::string_view key) const;

  bool HasChild(std::string_view key) const;
  void RestoreChild(std::string_view key, Iterator& child) const;
  const StateNode& ChildNode(std::string_view key) const;
  const StateNode& node() const { return *node_; }

 private:
  const StateNode* node_;
};

// The decoded contents of Iterator::Save()'s bytes.
struct DecodedState {
  uint32_t format_version = 0;
  // The pipeline that saved the state, one entry per dataset in pre-order: "op(params)",
  // indented by two spaces per level of nesting.
  std::vector<std::string> pipeline;
  StateNode root;
};

// Encodes / decodes the byte format of docs/state_format.md. Decode throws DataLossError for
// bytes that are truncated, corrupt (checksum), of another format or of a newer version.
std::string EncodeState(const std::vector<std::string>& pipeline, const StateNode& root);
DecodedState DecodeState(std::string_view bytes);

// A pipeline fingerprint as a state stores it (deflated). Deflating is most of the work of a
// save done afresh (zlib allocates and clears ~256 KiB of tables per call), and a pipeline's
// fingerprint never changes (a Dataset is immutable): Iterator::Save encodes its pipeline's once,
// at its first save, and every later save reuses it.
struct EncodedPipeline {
  std::string deflated;  // empty only in a default-constructed one (not yet encoded)
};
EncodedPipeline EncodePipeline(const std::vector<std::string>& pipeline);
// The same bytes as EncodeState(pipeline, root), for pipeline = EncodePipeline(pipeline).
// REQUIRES: pipeline.deflated is not empty.
std::string EncodeState(const EncodedPipeline& pipeline, const StateNode& root);
// The same bytes, written into the buffer allocate(context, size) returns for their exact size
// (a caller that owns the final buffer: the Python bindings write into a bytes object, with no
// copy). Returns that buffer, or null when allocate returned null (it then failed).
using StateAllocator = char* (*)(void* context, size_t size);
char* EncodeStateInto(const EncodedPipeline& pipeline, const StateNode& root,
                      StateAllocator allocate, void* context);
// A StateAllocator into a std::string (context): resizes it to size, returns its data.
char* AllocateInString(void* context, size_t size);

// How Iterator::Restore (and the hook) treat a state saved by a pipeline that differs.
struct RestoreOptions {
  // false (the default): the saved fingerprint must equal the pipeline's, entry for entry.
  // true: the op structure must be the same (the same ops, in the same order and nesting), but
  // their parameters, functions and file identities may differ (a fixed bug in a map function,
  // data that changed); the positions are restored and every difference is reported in one
  // warning. An op still refuses a state its new parameters make invalid: a DataLossError naming
  // it (a counter out of range), or a PipelineMismatchError naming a parameter it cannot follow
  // (shuffle's buffer_size, a seed); another structure too. docs/state_format.md: what is safe.
  bool allow_changes = false;
};

// What makes a state unrestorable into `dataset`: "" when `saved` (a DecodedState's pipeline)
// equals dataset.Pipeline(), else the message of the PipelineMismatchError Iterator::Restore
// throws, naming the first differing op in pre-order. Compares the fingerprints only: nothing is
// restored, so a caller (the hook) can check every iterator before restoring any. Entries that
// older versions spelled otherwise for the same identity are compared as today's code spells
// them (CanonicalPipelineEntry).
std::string DescribePipelineMismatch(const std::vector<std::string>& saved,
                                     const Dataset& dataset);
// Throws PipelineMismatchError with DescribePipelineMismatch's message unless it is "".
void CheckPipelineMatches(const std::vector<std::string>& saved, const Dataset& dataset);
// The check of a restore under `options`. Strict: as CheckPipelineMatches, returns "". With
// allow_changes: throws PipelineMismatchError only when the op structure differs, naming the
// first difference; else returns "" when nothing differs, or the warning listing every entry
// that differs ("the state was saved by a pipeline that differs in 2 ops; restored anyway
// (allow_changes): op #1 was 'map(fn=old)', is 'map(fn=new)'; ...").
std::string CheckPipelineAllowing(const std::vector<std::string>& saved, const Dataset& dataset,
                                  const RestoreOptions& options);

// A fingerprint entry of an older version as today's code writes the same identity, keeping
// its indentation; other entries unchanged. "parallel_map(fn=f, deterministic=true)" is
// "map(fn=f)": a deterministic parallel map's output is map's whatever its thread count. A
// reader's "csv(files=['a.csv', 'b.csv'])" is "csv(files=2)": files are identified by their
// contents, which the reader checks itself (src/readers/file_identity.h).
// A function of the program's main script was named "__main__.f" by older versions; today it
// is named by the script's module name ("train.f" for `python train.py`), so that the script run
// and imported agree. Once SetMainModuleName("train") was called (the Python bindings do when
// they name such a function), "__main__." in a saved entry reads as "train.": a state saved by
// the script restores into the same script run again.
std::string CanonicalPipelineEntry(std::string_view entry);
// The main script's module name for CanonicalPipelineEntry; "" (the default) rewrites nothing.
void SetMainModuleName(std::string name);
// Whether an iterator of op `op` restores a node written by op `saved`: the same name, or
// "map" and "parallel_map", whose iterators share one node layout (the input's state; a
// parallel map with deterministic=false may add a bitmap, which map's restore refuses).
bool SameStateOp(std::string_view saved, std::string_view op);

// For an op's own identity checks while it restores (a reader finding that a file changed
// since the save): throws PipelineMismatchError(what) unless the restore running on this
// thread allows changes (RestoreOptions::allow_changes); then `what` joins that restore's
// warning and the op continues, validating the position it restores against what it has now.
void RefuseChangeUnlessAllowed(const std::string& what);

// Set by a restore for its duration, on its thread: what RefuseChangeUnlessAllowed consults.
// Not nested across threads; a nested scope (an op restoring a child by a restore of its own)
// keeps the outer one.
class RestoreScope {
 public:
  // `changes`: where RefuseChangeUnlessAllowed appends the changes it lets pass.
  RestoreScope(const RestoreOptions& options, std::vector<std::string>* changes);
  ~RestoreScope();
  RestoreScope(const RestoreScope&) = delete;
  RestoreScope& operator=(const RestoreScope&) = delete;

 private:
  friend void RefuseChangeUnlessAllowed(const std::string& what);
  const RestoreOptions options_;
  std::vector<std::string>* const changes_;
  const bool active_;
};

// Saved state as readable JSON: format version, pipeline and the state tree.
std::string InspectState(std::string_view bytes);

}  // namespace inputpipe

#endif  // INPUTPIPE_STATE_H_
