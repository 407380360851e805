#include "inputpipe/dataset.h"

#include <cstring>
#include <iostream>

#include "core/element_skip.h"
#include "core/interrupt.h"
#include "core/op_stats.h"

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

namespace {
// The parent of an iterator made for an element (core/op_stats.h): its own inputs' iterators
// report nothing either.
stats_internal::OpCounters element_iterators;

// The op whose inputs' iterators are being made, for their stats; the previous one again at the
// end of the scope, whether what it covers returns or throws.
class OpCountersScope {
 public:
  explicit OpCountersScope(stats_internal::OpCounters* counters)
      : current_(stats_internal::thread_stats.current), saved_(current_) {
    current_ = counters;
  }
  ~OpCountersScope() { current_ = saved_; }
  OpCountersScope(const OpCountersScope&) = delete;
  OpCountersScope& operator=(const OpCountersScope&) = delete;

 private:
  stats_internal::OpCounters*& current_;
  stats_internal::OpCounters* const saved_;
};
}  // namespace

std::unique_ptr<Iterator> Dataset::MakeIterator() const {
  using stats_internal::OpCounters;
  OpCounters* const parent = stats_internal::thread_stats.current;
  std::shared_ptr<OpCounters> counters =
      parent == nullptr ? OpCounters::MakeTree(shared()) : parent->ForInput(*this);
  OpCountersScope scope(counters ? counters.get() : &element_iterators);
  std::unique_ptr<Iterator> it = MakeIteratorInternal();
  it->stats_ = std::move(counters);
  return it;
}

std::string Dataset::Signature() const { return op_name() + "(" + params() + ")"; }

namespace {
void AppendPipeline(const Dataset& ds, int depth, std::vector<std::string>* out) {
  if (ds.transparent()) {
    for (const auto& input : ds.inputs()) AppendPipeline(*input, depth, out);
    return;
  }
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
  if (!ahead_.empty()) ahead_.clear();  // the position moves: EncodeAhead's bytes are stale
  if (Iterator* fresh = Forwarded()) return fresh->GetNext();
  started_ = true;
  std::optional<Element> element = stats_ ? GetNextCounted() : GetNextFramed();
  if (!element) [[unlikely]] {
    ended_ = true;  // for the hook: a checkpoint at the end of its data
  }
  return element;
}

int64_t Iterator::Skip(int64_t n) {
  if (!ahead_.empty()) ahead_.clear();
  if (Iterator* fresh = Forwarded()) return fresh->Skip(n);
  if (n <= 0) return 0;
  started_ = true;
  // Not through SkipElements(*this, n): that reads through GetNext, which would count the
  // elements dropped as produced in stats() and forward again.
  int64_t moved = 0;
  auto* skipper = dynamic_cast<ElementSkipper*>(this);
  if (skipper && skipper->Seeks(SkipMode::kExact)) {
    moved = skipper->SkipElements(n, SkipMode::kExact);
  } else {
    while (moved < n && GetNextFramed()) ++moved;
  }
  if (moved < n) ended_ = true;
  return moved;
}

std::optional<Element> Iterator::GetNextFramed() {
  // Without an interrupt check on this thread (C++ callers, the engine's own threads) there is
  // no frame to keep.
  return interrupt_internal::thread_state.check == nullptr ? GetNextInternal()
                                                           : GetNextInInterruptFrame();
}

// Counted, and timed when sampled (core/op_stats.h).
std::optional<Element> Iterator::GetNextCounted() {
  using namespace stats_internal;
  OpCounters& counters = *stats_;
  ThreadStats& thread = thread_stats;
  Frame* const parent = thread.frame;
  const int64_t calls = counters.calls.load(std::memory_order_relaxed);
  counters.calls.store(calls + 1, std::memory_order_relaxed);
  if (calls == 0) counters.first_call_ns.store(NowNanos(), std::memory_order_relaxed);
  const int64_t weight = parent == nullptr ? SampleWeight(calls)
                         : parent == &untimed ? 0
                                              : parent->weight;
  struct Restore {  // the caller's again, whether the call returns or throws
    ThreadStats& thread;
    OpCounters* current;
    Frame* frame;
    ~Restore() {
      thread.current = current;
      thread.frame = frame;
    }
  } restore{thread, thread.current, parent};
  thread.current = &counters;
  if (weight == 0) {
    thread.frame = &untimed;
    std::optional<Element> element = GetNextFramed();
    if (element) Add(counters.elements, 1);
    return element;
  }
  Frame frame{.weight = weight};
  thread.frame = &frame;
  const int64_t start = NowNanos();
  std::optional<Element> element = GetNextFramed();
  const int64_t elapsed = NowNanos() - start;
  Add(counters.total_ns, elapsed * weight);
  Add(counters.own_ns, (elapsed - frame.nested_ns) * weight);
  if (parent != nullptr) parent->nested_ns += elapsed;
  if (counters.buffer_capacity.load(std::memory_order_relaxed) > 0) {
    Add(counters.buffer_sum, counters.buffer_current.load(std::memory_order_relaxed));
    Add(counters.buffer_samples, 1);
  }
  if (element) Add(counters.elements, 1);
  return element;
}

// The interruption frame (core/interrupt.h): the call may be interrupted only if its parent
// may be and has taken nothing yet; a returned element marks the parent as having taken one.
std::optional<Element> Iterator::GetNextInInterruptFrame() {
  using namespace interrupt_internal;
  ThreadState& interrupt = thread_state;
  const unsigned char parent = interrupt.flags;
  if (parent & kRestoring) PollWhenDue(interrupt);  // a replay: may throw, nothing to undo
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

Iterator* Iterator::Forwarded() {
  if (!unusable_.empty()) {
    throw FailedPreconditionError(dataset_->op_name() + " iterator: a failed restore left it "
                                  "unusable (" + unusable_ + "); make a new iterator");
  }
  return fresh_.get();
}

// The tree set aside is kept, not destroyed: it is this object's own members. A fresh iterator
// that was itself set aside is destroyed (replaced), so at most one tree is ever kept.
// The swap is under fresh_mu_ for Stats on another thread; the old fresh iterator is destroyed
// after it, outside the lock (its worker threads may take a while to stop).
void Iterator::SetAside() {
  std::unique_ptr<Iterator> fresh;
  try {
    fresh = dataset_->MakeIterator();
  } catch (const std::exception& e) {
    unusable_ = std::string("making a fresh iterator failed: ") + e.what();
  }
  std::lock_guard<std::mutex> lock(fresh_mu_);
  fresh.swap(fresh_);
}

void Iterator::Reset() {
  ahead_.clear();
  if (!unusable_.empty()) return;  // nothing to go back to: stays unusable
  if (!started()) return;          // already fresh
  SetAside();
}

StateNode Iterator::SaveNode(bool for_bytes) {
  if (Iterator* fresh = Forwarded()) return fresh->SaveNode(for_bytes);
  return SaveNodeInternal(for_bytes);
}

StateNode Iterator::SaveNodeInternal(bool for_bytes) {
  StateNode node;
  node.op = dataset_->op_name();
  StateWriter writer(&node, for_bytes);
  SaveInternal(writer);
  return node;
}

void Iterator::RestoreNode(const StateNode& node) {
  if (Iterator* fresh = Forwarded()) return fresh->RestoreNode(node);
  if (started_) {
    throw FailedPreconditionError("Restore needs a fresh iterator: this " + dataset_->op_name() +
                                  " iterator has already produced elements or been restored");
  }
  // A transparent op's node is its input's (its op another's name): the input checks it.
  if (!dataset_->transparent() && !SameStateOp(node.op, dataset_->op_name())) {
    throw DataLossError("corrupt state: a '" + node.op + "' state where the pipeline has '" +
                        dataset_->op_name() + "'");
  }
  started_ = true;
  // Iterators the restore makes (concatenate's later input, a reopened file) are this op's
  // inputs' for the stats, as MakeIterator's are.
  OpCountersScope scope(stats_ ? stats_.get() : &element_iterators);
  RestoreNodeInternal(node);
}

void Iterator::RestoreNodeInternal(const StateNode& node) {
  StateReader reader(&node);
  RestoreInternal(reader);
}

std::string Iterator::Save(ExternalStatePolicy policy, std::vector<std::string>* warnings) {
  std::string out;
  Save(policy, warnings, &AllocateInString, &out);
  return out;
}

char* Iterator::Save(ExternalStatePolicy policy, std::vector<std::string>* warnings,
                     StateAllocator allocate, void* context) {
  if (!ahead_.empty()) {  // EncodeAhead's: the same bytes, encoded while the tree was warm
    char* const buffer = allocate(context, ahead_.size());
    if (buffer != nullptr) std::memcpy(buffer, ahead_.data(), ahead_.size());
    return buffer;
  }
  // Only encoded, so ops may hand over input states they encoded ahead: a save then copies
  // their bytes instead of walking trees that, a batch after they were written by another
  // thread, are out of this thread's caches.
  StateNode root = SaveNode(/*for_bytes=*/true);
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
  PrepareSave();
  return EncodeStateInto(pipeline_, root, allocate, context);
}

void Iterator::PrepareSave() {
  if (pipeline_.deflated.empty()) pipeline_ = EncodePipeline(dataset_->Pipeline());
}

void Iterator::EncodeAhead() {
  ahead_.clear();
  if (external_state_seen_) return;  // every save of this pipeline warns or fails: keep none
  std::vector<std::string> external;
  std::string bytes;
  try {
    bytes = Save(ExternalStatePolicy::kWarn, &external);
  } catch (const std::exception&) {
    return;  // the Save that follows throws it to its caller
  }
  if (external.empty()) {
    ahead_ = std::move(bytes);
  } else {  // the Save that follows warns or fails; the pipeline's ops do not change, so its
    external_state_seen_ = true;  // state is never capturable: no more encoding ahead
  }
}

void Iterator::Restore(std::string_view state) { Restore(state, RestoreOptions{}); }

void Iterator::Restore(std::string_view state, const RestoreOptions& options,
                       std::vector<std::string>* warnings) {
  std::vector<std::string> changes;
  Restore(DecodeState(state), options, &changes);
  if (changes.empty()) return;
  std::string message;
  for (size_t i = 0; i < changes.size(); ++i) message += (i ? "; " : "") + changes[i];
  // The pipeline check's own warning says that it comes from allow_changes; an op's does not.
  if (message.find("(allow_changes)") == std::string::npos) {
    message = "restoring past changes (allow_changes): " + message;
  }
  if (warnings != nullptr) {
    warnings->push_back(std::move(message));
  } else {
    std::cerr << "inputpipe: warning: " << message << std::endl;
  }
}

void Iterator::Restore(const DecodedState& state, const RestoreOptions& options,
                       std::vector<std::string>* changes) {
  ahead_.clear();
  RestoreInterruptScope interruptible;  // core/interrupt.h: a restore is interrupted as a whole
  std::string differences = CheckPipelineAllowing(state.pipeline, *dataset_, options);
  if (!differences.empty()) changes->push_back(std::move(differences));
  Iterator* target = Forwarded();
  if (target == nullptr) target = this;
  const bool was_fresh = !target->started_;
  try {
    RestoreScope scope(options, changes);
    target->RestoreNode(state.root);
  } catch (...) {
    // RestoreNode refuses a started iterator or another op's node before touching anything;
    // past that, ops may have changed part of the tree before the one that threw.
    if (was_fresh && target->started_) SetAside();
    throw;
  }
}

}  // namespace inputpipe
