#include "inputpipe/dataset.h"

#include <iostream>

#include "core/interrupt.h"

namespace inputpipe {

Element Dataset::Get(int64_t index) const {
  throw UnimplementedError(Signature() + " is not random-access");
}

std::string Dataset::WhyNotRandomAccess() const {
  if (IsRandomAccess()) return "";
  for (const auto& input : inputs()) {
    std::string why = input->WhyNotRandomAccess();
    if (!why.empty()) return why;
  }
  return Signature() + " is not random-access";
}

std::unique_ptr<Iterator> Dataset::MakeIterator() const { return MakeIteratorInternal(); }

std::string Dataset::Signature() const { return op_name() + "(" + params() + ")"; }

namespace {
void AppendPipeline(const Dataset& ds, int depth, std::vector<std::string>* out) {
  out->push_back(std::string(2 * depth, ' ') + ds.Signature());
  for (const auto& input : ds.inputs()) AppendPipeline(*input, depth + 1, out);
}
}  // namespace

std::vector<std::string> Dataset::Pipeline() const {
  std::vector<std::string> out;
  AppendPipeline(*this, 0, &out);
  return out;
}

std::optional<Element> Iterator::GetNext() {
  started_ = true;
  // Without an interrupt check on this thread (C++ callers, the engine's own threads) there is
  // no frame to keep: a tail call, as cheap as before.
  if (interrupt_internal::thread_state.check == nullptr) [[likely]] return GetNextInternal();
  return GetNextInInterruptFrame();
}

// The interruption frame (core/interrupt.h): the call may be interrupted only if its parent
// may be and has taken nothing yet; a returned element marks the parent as having taken one.
std::optional<Element> Iterator::GetNextInInterruptFrame() {
  using namespace interrupt_internal;
  ThreadState& interrupt = thread_state;
  const unsigned char parent = interrupt.flags;
  if (parent & kRestoring) PollDuringRestore(interrupt);  // a replay: may throw, nothing to undo
  struct Frame {  // the parent's flags come back whether the call returns or throws
    ThreadState& state;
    unsigned char on_exit;
    ~Frame() { state.flags = on_exit; }
  } frame{interrupt, parent};
  interrupt.flags = ChildFlags(parent);
  std::optional<Element> element = GetNextInternal();
  if (element) frame.on_exit |= kTook;
  return element;
}

StateNode Iterator::SaveNode() {
  StateNode node;
  node.op = dataset_->op_name();
  StateWriter writer(&node);
  SaveInternal(writer);
  return node;
}

void Iterator::RestoreNode(const StateNode& node) {
  if (started_) {
    throw FailedPreconditionError("Restore needs a fresh iterator: this " + dataset_->op_name() +
                                  " iterator has already produced elements or been restored");
  }
  if (node.op != dataset_->op_name()) {
    throw DataLossError("corrupt state: a '" + node.op + "' state where the pipeline has '" +
                        dataset_->op_name() + "'");
  }
  started_ = true;
  StateReader reader(&node);
  RestoreInternal(reader);
}

std::string Iterator::Save(ExternalStatePolicy policy, std::vector<std::string>* warnings) {
  StateNode root = SaveNode();
  std::vector<std::string> external = root.CollectExternalState();
  if (!external.empty() && policy != ExternalStatePolicy::kIgnore) {
    std::string ops;
    for (const auto& what : external) ops += (ops.empty() ? "" : "; ") + what;
    if (policy == ExternalStatePolicy::kFail) {
      throw ExternalStateError(
          "cannot save the iterator: it depends on state that cannot be saved: " + ops +
          ". Pass external_state_policy='warn' or 'ignore' to save the rest of the pipeline.");
    }
    std::string message = "saving the iterator without the external state of: " + ops +
                          "; after a restore these ops start from their initial state";
    if (warnings != nullptr) {
      warnings->push_back(message);
    } else {
      std::cerr << "inputpipe: warning: " << message << std::endl;
    }
  }
  return EncodeState(dataset_->Pipeline(), root);
}

void Iterator::Restore(std::string_view state) {
  RestoreInterruptScope interruptible;  // core/interrupt.h: a restore is interrupted as a whole
  DecodedState decoded = DecodeState(state);
  CheckPipelineMatches(decoded.pipeline, *dataset_);
  RestoreNode(decoded.root);
}

}  // namespace inputpipe
