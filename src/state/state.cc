// StateNode, StateWriter and StateReader: building and reading an iterator's state tree.
#include "inputpipe/state.h"

#include "inputpipe/dataset.h"
#include "inputpipe/errors.h"

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
  WriteChildNode(key, child.SaveNode());
}

void StateWriter::WriteChildNode(std::string_view key, StateNode node) {
  node.name = std::string(key);
  node_->children.push_back(std::move(node));
}

void StateWriter::ReportExternalState(std::string what) {
  node_->external_state.push_back(std::move(what));
}

std::string DescribePipelineMismatch(const std::vector<std::string>& saved,
                                     const Dataset& dataset) {
  std::vector<std::string> pipeline = dataset.Pipeline();
  if (saved == pipeline) return "";
  size_t i = 0;
  while (i < saved.size() && i < pipeline.size() && saved[i] == pipeline[i]) ++i;
  auto describe = [](const std::vector<std::string>& p, size_t i) {
    if (i >= p.size()) return std::string("nothing (it ends there)");
    const size_t indent = p[i].find_first_not_of(' ');
    return "'" + (indent == std::string::npos ? p[i] : p[i].substr(indent)) + "'";
  };
  return "the state was saved by a different pipeline; first difference at op #" +
         std::to_string(i) + " (pre-order): the saved pipeline has " + describe(saved, i) +
         ", this pipeline has " + describe(pipeline, i);
}

void CheckPipelineMatches(const std::vector<std::string>& saved, const Dataset& dataset) {
  std::string mismatch = DescribePipelineMismatch(saved, dataset);
  if (!mismatch.empty()) throw PipelineMismatchError(mismatch);
}

namespace {
[[noreturn]] void Missing(const StateNode& node, std::string_view kind, std::string_view key) {
  throw DataLossError("corrupt state: " + std::string(kind) + " '" + std::string(key) +
                      "' missing from the state of op '" + node.op + "'");
}
}  // namespace

int64_t StateReader::ReadInt(std::string_view key) const {
  for (const auto& [k, v] : node_->ints) {
    if (k == key) return v;
  }
  Missing(*node_, "field", key);
}

int64_t StateReader::ReadIntInRange(std::string_view key, int64_t lo, int64_t hi) const {
  int64_t value = ReadInt(key);
  if (value < lo || value > hi) {
    throw DataLossError("corrupt state: field '" + std::string(key) + "' of op '" + node_->op +
                        "' is " + std::to_string(value) + ", outside [" + std::to_string(lo) +
                        ", " + std::to_string(hi) + "]");
  }
  return value;
}

const std::string& StateReader::ReadBytes(std::string_view key) const {
  for (const auto& [k, v] : node_->blobs) {
    if (k == key) return v;
  }
  Missing(*node_, "field", key);
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
