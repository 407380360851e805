// StateNode, StateWriter and StateReader: building and reading an iterator's state tree.
#include "inputpipe/state.h"

#include <mutex>

#include "inputpipe/dataset.h"
#include "inputpipe/errors.h"
#include "readers/file_identity.h"
#include "state/restore_changes.h"

namespace inputpipe {

ExternalStatePolicy ParseExternalStatePolicy(std::string_view name) {
  if (name == "fail") return ExternalStatePolicy::kFail;
  if (name == "warn") return ExternalStatePolicy::kWarn;
  if (name == "ignore") return ExternalStatePolicy::kIgnore;
  throw InvalidArgumentError(
      "external_state_policy must be one of 'ignore', 'warn', 'fail'; got '" + std::string(name) +
      "'");
}

std::string_view ExternalStatePolicyName(ExternalStatePolicy policy) {
  switch (policy) {
    case ExternalStatePolicy::kFail: return "fail";
    case ExternalStatePolicy::kWarn: return "warn";
    case ExternalStatePolicy::kIgnore: return "ignore";
  }
  return "?";
}

const StateNode* StateNode::FindChild(std::string_view key) const {
  for (const auto& child : children) {
    if (child.name == key) return &child;
  }
  return nullptr;
}

std::vector<std::string> StateNode::CollectExternalState() const {
  if (encoded != nullptr) return encoded->external_state;
  std::vector<std::string> all = external_state;
  for (const auto& child : children) {
    for (auto& what : child.CollectExternalState()) all.push_back(std::move(what));
  }
  return all;
}

void StateWriter::WriteInt(std::string_view key, int64_t value) {
  node_->ints.emplace_back(std::string(key), value);
}

void StateWriter::WriteBytes(std::string_view key, std::string value) {
  node_->blobs.emplace_back(std::string(key), std::move(value));
}

void StateWriter::WriteChild(std::string_view key, Iterator& child) {
  WriteChildNode(key, child.SaveNode(for_bytes_));
}

void StateWriter::WriteChildNode(std::string_view key, StateNode node) {
  node.name = std::string(key);
  node_->children.push_back(std::move(node));
}

void StateWriter::WriteEncodedChild(std::string_view key,
                                    std::shared_ptr<const EncodedStateNode> node) {
  if (!for_bytes_) {  // a tree an op would read back: it has no decoder for these bytes
    throw FailedPreconditionError("state of op '" + node_->op + "': an encoded input state '" +
                                  std::string(key) + "' written into a tree that is not "
                                  "only for a state's bytes (src/state/state.cc)");
  }
  StateNode& child = node_->children.emplace_back();
  child.name = std::string(key);
  child.encoded = std::move(node);
}

void StateWriter::ReportExternalState(std::string what) {
  node_->external_state.push_back(std::move(what));
}

namespace {

// An entry without its indentation ("  map(fn=f)" -> "map(fn=f)").
std::string_view Unindented(std::string_view entry) {
  const size_t indent = entry.find_first_not_of(' ');
  return indent == std::string_view::npos ? entry : entry.substr(indent);
}

// The op of an entry: its name before the parameters ("map(fn=f)" -> "map"), with its
// indentation, which is its depth: two entries lists with equal ops are the same tree of ops.
std::string_view OpOfEntry(std::string_view entry) {
  const size_t open = entry.find('(');
  return open == std::string_view::npos ? entry : entry.substr(0, open);
}

// `pipeline`: today's entries, for the old entries only today's code can complete (an indexed
// reader's content digest, which older versions did not write).
std::vector<std::string> Canonical(const std::vector<std::string>& saved,
                                   const std::vector<std::string>& pipeline) {
  std::vector<std::string> out;
  out.reserve(saved.size());
  for (size_t i = 0; i < saved.size(); ++i) {
    out.push_back(CanonicalPipelineEntry(saved[i]));
    if (i < pipeline.size()) out.back() = CompleteOldReaderEntry(out.back(), pipeline[i]);
  }
  return out;
}

std::string Quoted(std::string_view entry) { return "'" + std::string(Unindented(entry)) + "'"; }

// The outermost restore running on this thread; null outside a restore.
thread_local const RestoreScope* current_scope = nullptr;
// Its options' allow_changes (RestoreAllowsChanges).
thread_local bool current_allows_changes = false;

}  // namespace

namespace {

std::mutex main_module_mu;
std::string& MainModuleName() {
  static std::string* name = new std::string;  // never destroyed: read while the process exits
  return *name;
}

// "__main__.f" -> "train.f" (SetMainModuleName), everywhere in the entry: a group_by_window's
// "fn=__main__.key/__main__.reduce", a partial's "functools.partial(__main__.f)#...".
std::string WithMainModuleName(std::string entry) {
  constexpr std::string_view kMain = "__main__.";
  std::string name;
  {
    std::lock_guard<std::mutex> lock(main_module_mu);
    name = MainModuleName();
  }
  if (name.empty()) return entry;
  name += '.';
  for (size_t at = entry.find(kMain); at != std::string::npos; at = entry.find(kMain, at)) {
    entry.replace(at, kMain.size(), name);
    at += name.size();
  }
  return entry;
}

}  // namespace

void SetMainModuleName(std::string name) {
  std::lock_guard<std::mutex> lock(main_module_mu);
  MainModuleName() = std::move(name);
}

std::string CanonicalPipelineEntry(std::string_view entry) {
  constexpr std::string_view kOldHead = "parallel_map(";
  constexpr std::string_view kOldTail = ", deterministic=true)";
  const std::string_view body = Unindented(entry);
  // The readers' entries named their files by path; today they count them.
  if (!body.starts_with(kOldHead)) return WithMainModuleName(CanonicalReaderEntry(entry));
  if (body.size() < kOldHead.size() + kOldTail.size() || !body.starts_with(kOldHead) ||
      !body.ends_with(kOldTail)) {
    return WithMainModuleName(std::string(entry));
  }
  const std::string_view indent = entry.substr(0, entry.size() - body.size());
  const std::string_view fn_params =
      body.substr(kOldHead.size(), body.size() - kOldHead.size() - kOldTail.size());
  return WithMainModuleName(std::string(indent) + "map(" + std::string(fn_params) + ")");
}

bool SameStateOp(std::string_view saved, std::string_view op) {
  auto canonical = [](std::string_view name) {
    return name == "parallel_map" ? std::string_view("map") : name;
  };
  return canonical(saved) == canonical(op);
}

std::string DescribePipelineMismatch(const std::vector<std::string>& saved_entries,
                                     const Dataset& dataset) {
  std::vector<std::string> pipeline = dataset.Pipeline();
  const std::vector<std::string> saved = Canonical(saved_entries, pipeline);
  if (saved == pipeline) return "";
  size_t i = 0;
  while (i < saved.size() && i < pipeline.size() && saved[i] == pipeline[i]) ++i;
  auto describe = [](const std::vector<std::string>& p, size_t i) {
    if (i >= p.size()) return std::string("nothing (it ends there)");
    return Quoted(p[i]);
  };
  return "the state was saved by a different pipeline; first difference at op #" +
         std::to_string(i) + " (pre-order): the saved pipeline has " + describe(saved, i) +
         ", this pipeline has " + describe(pipeline, i) +
         (i < saved.size() && i < pipeline.size() ? ReaderContentChangeNote(saved[i], pipeline[i])
                                                  : "");
}

void CheckPipelineMatches(const std::vector<std::string>& saved, const Dataset& dataset) {
  std::string mismatch = DescribePipelineMismatch(saved, dataset);
  if (!mismatch.empty()) throw PipelineMismatchError(mismatch);
}

std::string CheckPipelineAllowing(const std::vector<std::string>& saved_entries,
                                  const Dataset& dataset, const RestoreOptions& options) {
  if (!options.allow_changes) {
    CheckPipelineMatches(saved_entries, dataset);
    return "";
  }
  const std::vector<std::string> pipeline = dataset.Pipeline();
  const std::vector<std::string> saved = Canonical(saved_entries, pipeline);
  // The structure first: the same ops at the same depths, in pre-order.
  size_t i = 0;
  while (i < saved.size() && i < pipeline.size() && OpOfEntry(saved[i]) == OpOfEntry(pipeline[i])) {
    ++i;
  }
  if (i < saved.size() || i < pipeline.size()) {
    auto describe = [](const std::vector<std::string>& p, size_t i) {
      return i < p.size() ? Quoted(p[i]) : std::string("nothing (it ends there)");
    };
    throw PipelineMismatchError(
        "the state was saved by a pipeline of another structure, which allow_changes does not "
        "restore past; first difference in the ops at op #" +
        std::to_string(i) + " (pre-order): the saved pipeline has " + describe(saved, i) +
        ", this pipeline has " + describe(pipeline, i));
  }
  std::string differences;
  int64_t count = 0;
  for (size_t k = 0; k < saved.size(); ++k) {
    if (saved[k] == pipeline[k]) continue;
    ++count;
    differences += (differences.empty() ? "" : "; ") + std::string("op #") + std::to_string(k) +
                   " was " + Quoted(saved[k]) + ", is " + Quoted(pipeline[k]);
  }
  if (count == 0) return "";
  return "restoring a state saved by a pipeline that differs in " + std::to_string(count) +
         (count == 1 ? " op" : " ops") + " (allow_changes): " + differences;
}

RestoreScope::RestoreScope(const RestoreOptions& options, std::vector<std::string>* changes)
    : options_(options), changes_(changes), active_(current_scope == nullptr) {
  if (active_) {
    current_scope = this;
    current_allows_changes = options.allow_changes;
  }
}

RestoreScope::~RestoreScope() {
  if (active_) {
    current_scope = nullptr;
    current_allows_changes = false;
  }
}

bool RestoreAllowsChanges() { return current_allows_changes; }

void RefuseChangeUnlessAllowed(const std::string& what) {
  const RestoreScope* scope = current_scope;
  if (scope == nullptr || !scope->options_.allow_changes) throw PipelineMismatchError(what);
  if (scope->changes_ != nullptr) scope->changes_->push_back(what);
}

namespace {
[[noreturn]] void Missing(const StateNode& node, std::string_view kind, std::string_view key) {
  throw DataLossError("corrupt state: " + std::string(kind) + " '" + std::string(key) +
                      "' missing from the state of op '" + node.op + "'");
}


const int64_t* FindInt(const StateNode& node, std::string_view key) {
  for (const auto& [k, v] : node.ints) {
    if (k == key) return &v;
  }
  return nullptr;
}

int64_t InRange(const StateNode& node, std::string_view key, int64_t value, int64_t lo,
                int64_t hi) {
  if (value < lo || value > hi) {
    throw DataLossError("corrupt state: field '" + std::string(key) + "' of op '" + node.op +
                        "' is " + std::to_string(value) + ", outside [" + std::to_string(lo) +
                        ", " + std::to_string(hi) + "]");
  }
  return value;
}
}  // namespace

int64_t StateReader::ReadInt(std::string_view key) const {
  const int64_t* value = FindInt(*node_, key);
  if (value == nullptr) Missing(*node_, "field", key);
  return *value;
}

int64_t StateReader::ReadIntInRange(std::string_view key, int64_t lo, int64_t hi) const {
  return InRange(*node_, key, ReadInt(key), lo, hi);
}

const std::string& StateReader::ReadBytes(std::string_view key) const {
  const std::string* bytes = FindBytes(key);
  if (bytes == nullptr) Missing(*node_, "field", key);
  return *bytes;
}

int64_t StateReader::ReadIntOr(std::string_view key, int64_t absent) const {
  const int64_t* value = FindInt(*node_, key);
  return value == nullptr ? absent : *value;
}

int64_t StateReader::ReadIntInRangeOr(std::string_view key, int64_t lo, int64_t hi,
                                      int64_t absent) const {
  const int64_t* value = FindInt(*node_, key);
  return value == nullptr ? absent : InRange(*node_, key, *value, lo, hi);
}

bool StateReader::ReadBoolOr(std::string_view key, bool absent) const {
  return ReadIntInRangeOr(key, 0, 1, absent ? 1 : 0) != 0;
}

const std::string* StateReader::FindBytes(std::string_view key) const {
  for (const auto& [k, v] : node_->blobs) {
    if (k == key) return &v;
  }
  return nullptr;
}

bool StateReader::HasChild(std::string_view key) const { return node_->FindChild(key) != nullptr; }

const StateNode& StateReader::ChildNode(std::string_view key) const {
  const StateNode* child = node_->FindChild(key);
  if (child == nullptr) Missing(*node_, "input state", key);
  return *child;
}

void StateReader::RestoreChild(std::string_view key, Iterator& child) const {
  child.RestoreNode(ChildNode(key));
}

}  // namespace inputpipe
