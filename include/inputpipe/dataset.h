// Dataset and Iterator: the two halves of every op.
//
// A Dataset is an immutable description of a sequence of elements (range, a map of another
// dataset, ...). An Iterator walks it once and can save its position at any moment and be
// restored to it later, in another process:
//
//   DatasetPtr ds = Batch(Map(Range(0, 100), Square), 8);
//   std::unique_ptr<Iterator> it = ds->MakeIterator();
//   while (std::optional<Element> batch = it->GetNext()) { ... }
//   std::string state = it->Save();            // a few hundred bytes, whatever the data
//   auto resumed = ds->MakeIterator();
//   resumed->Restore(state);                    // continues exactly where `it` was
//   IteratorStats stats = it->Stats();          // per op: elements, time, waits, buffer fill
//   std::cout << stats.summary;                 // "input-bound: 62% of step time waiting on ..."
//
// Thread-safety: a Dataset may be shared by any number of threads and iterators. An Iterator is
// used by one thread at a time (ops that run threads inside, such as prefetch, synchronise
// internally). Destroy an iterator on any thread but its own worker threads (a map function
// must not drop the last owner of the iterator that runs it): a thread cannot join itself, so
// that thread would stay in the destructor for good and the iterator leak (docs/architecture.md).
#ifndef INPUTPIPE_DATASET_H_
#define INPUTPIPE_DATASET_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "inputpipe/element.h"
#include "inputpipe/errors.h"
#include "inputpipe/state.h"

namespace inputpipe {

inline constexpr int64_t kInfiniteCardinality = -1;
inline constexpr int64_t kUnknownCardinality = -2;

class Iterator;

namespace stats_internal {
struct OpCounters;  // core/op_stats.h
}  // namespace stats_internal

// What one op of an iterator's pipeline measured (Iterator::Stats; docs/guide/performance.md).
// Counts are exact. Times are estimates from sampled calls (the first 32 calls of each thread's
// outermost GetNext, then one call in 16, each standing for the calls it represents), so that
// measuring costs the hot path almost nothing; they are 0 until a call was sampled.
struct OpStats {
  std::string name;  // the op as Dataset::Pipeline() spells it: "map(fn=decode)"
  int depth = 0;     // its nesting level in Pipeline() (0: the last op)
  int64_t elements = 0;  // elements its GetNext returned (all iterators of this op, all epochs)
  // Time spent producing them: in its GetNext on the calling thread, less the time in its
  // inputs' GetNext and its waits for its own worker threads, plus the time its worker threads
  // spend running its function (parallel map) or reading its inner datasets (parallel
  // interleave). Summed over threads: up to `threads` times the wall time.
  double seconds = 0;
  // Time its consumer spent inside its GetNext (its inputs' time included): for the first op,
  // the caller's time waiting in GetNext.
  double wait_seconds = 0;
  int64_t threads = 1;  // threads producing for it (worker threads for the threaded ops)
  // Buffering ops (prefetch, parallel map, parallel interleave, shuffle with a buffer): elements
  // held now and on average over the sampled calls, out of buffer_capacity; 0 for other ops.
  int64_t buffer_capacity = 0;
  int64_t buffer_current = 0;
  double buffer_average = 0;
  // False when no iterator of this op has run: not reached yet, or its elements were computed
  // by index (random access) for an op above it (distribute, a global shuffle, a batch of a
  // random-access map under them), whose own numbers then include that work. Its counts
  // and times are 0 then, which does not mean that it did nothing.
  bool iterated = true;
};

struct IteratorStats {
  int64_t elements = 0;       // elements this iterator returned
  double next_seconds = 0;    // time inside its GetNext (an estimate, as OpStats' times)
  double wall_seconds = 0;    // since its first GetNext
  double input_bound = 0;     // next_seconds / wall_seconds, at most 1
  std::vector<OpStats> ops;   // every op in Pipeline() order (transparent ops left out)
  // One line: "input-bound: 62% of step time (12.3 s) waiting on map(fn=decode) (71% of the
  // pipeline's time); 4096 elements" (StatsSummary).
  std::string summary;
};

// The summary line of `stats`' other fields. The op named is the busiest: the largest share of
// the ops' `seconds / threads`, the op that limits the rate when the consumer waits.
std::string StatsSummary(const IteratorStats& stats);

class Dataset : public std::enable_shared_from_this<Dataset> {
 public:
  virtual ~Dataset() = default;

  // The op's name as users know it: "range", "batch", "map", ...
  virtual std::string op_name() const = 0;
  // Every parameter that changes the output, as "key=value, ...". Sources are identified by
  // content (a hash of their data), callables by name. This is the op's fingerprint: a state
  // is only restored into a pipeline whose fingerprints are all equal. It must not change
  // over the dataset's life (an iterator encodes its pipeline's once, at its first save).
  virtual std::string params() const = 0;
  // The datasets this one reads (none for sources).
  virtual std::vector<DatasetPtr> inputs() const { return {}; }
  // Number of elements, kInfiniteCardinality or kUnknownCardinality.
  virtual int64_t Cardinality() const = 0;

  // Random access: a dataset that knows its length (Cardinality() >= 0) and can produce
  // element i directly. What makes a global shuffle and an O(1) seek possible.
  virtual bool IsRandomAccess() const { return false; }
  // Element `index`, 0 <= index < Cardinality(). REQUIRES: IsRandomAccess().
  virtual Element Get(int64_t index) const;
  // Empty if random-access; otherwise names the first op (depth first) that is not, e.g.
  // "filter(pred=is_even) is not random-access".
  std::string WhyNotRandomAccess() const;

  // A fresh iterator at the first element. The iterator keeps this dataset alive.
  // REQUIRES: the dataset is owned by a shared_ptr (all factories return one).
  std::unique_ptr<Iterator> MakeIterator() const;

  // "op(params)" of this dataset alone.
  std::string Signature() const;
  // The whole pipeline in pre-order, one "op(params)" per dataset, indented two spaces per
  // level: what a saved state is checked against on restore.
  std::vector<std::string> Pipeline() const;

  DatasetPtr shared() const { return shared_from_this(); }

  // True for an op that changes no element and adds no state (the options op with options
  // that change no output, options.h): Pipeline() lists its one input in its place, and its
  // iterator saves and restores as its input's, so adding it keeps every state restorable.
  virtual bool transparent() const { return false; }

 protected:
  virtual std::unique_ptr<Iterator> MakeIteratorInternal() const = 0;
};

class Iterator {
 public:
  explicit Iterator(DatasetPtr dataset) : dataset_(std::move(dataset)) {}
  virtual ~Iterator() = default;
  Iterator(const Iterator&) = delete;
  Iterator& operator=(const Iterator&) = delete;

  // The next element, or std::nullopt once the sequence has ended (and on every later call).
  // A wait inside it can be interrupted (Ctrl-C, a stop flag): inputpipe/interrupt.h.
  std::optional<Element> GetNext();
  // Moves past the next `n` elements (n >= 0) without producing them, and returns how many it
  // moved past: fewer than n only at the end of the sequence. The state afterwards is what `n`
  // GetNext calls leave, also where some of them would have thrown (each such call counting as
  // one of the n). Where that allows, the elements are not computed at all: through random-
  // access sources, global shuffle, map (not declared stateful) and skip of them, a source's
  // read of an element (and its failure) does not happen. Other ops (take, enumerate, zip,
  // batch, ...) read and drop, and a read that fails throws, as GetNext would.
  int64_t Skip(int64_t n);

  // The iterator's position as bytes (docs/state_format.md). Cheap, never waits for work in
  // flight, never holds element values. Under kWarn the warnings naming each op with external
  // state are appended to `warnings` (or printed to stderr when it is null).
  std::string Save(ExternalStatePolicy policy = ExternalStatePolicy::kFail,
                   std::vector<std::string>* warnings = nullptr);
  // As Save, writing the bytes into the buffer allocate(context, size) returns for their size
  // (EncodeStateInto, state.h): the Python bindings write into the bytes object they return.
  // Returns that buffer (null when allocate returned null).
  char* Save(ExternalStatePolicy policy, std::vector<std::string>* warnings,
             StateAllocator allocate, void* context);
  // Encodes the pipeline's fingerprint for Save now; Save otherwise does it at its first call,
  // the one part of a save that costs tens of microseconds. For a caller that makes an
  // iterator in order to save it (the Python Iterator does), so that no save pays for it.
  void PrepareSave();
  // Encodes the current position now, so that the next Save copies these bytes instead of
  // walking the tree, when no GetNext, Restore or Reset comes in between (those drop them).
  // For a caller that expects a save after an expensive GetNext: such a GetNext (a batch
  // gathered from megabytes of decoded row groups) leaves the caches and TLB cold, and a save
  // walking the tree then costs ten times a warm one; here it costs the same once, at the end
  // of the GetNext, while the tree is still warm. Keeps nothing when the pipeline has external
  // state (Save then warns or throws as usual) or when the state cannot be saved now (Save
  // then throws as usual). Costs what a Save costs.
  void EncodeAhead();
  // Moves this iterator to the position saved in `state`. Interruptible as a whole
  // (inputpipe/interrupt.h): an interrupted restore is a failed one (below).
  // REQUIRES: a fresh iterator whose GetNext has never been called (else
  // FailedPreconditionError). Throws PipelineMismatchError naming the first difference when
  // the state comes from another pipeline, DataLossError when the bytes are corrupt or an op
  // rejects what they hold (an offset past the end of its file, a count out of range, ...).
  //
  // A restore that throws leaves the iterator fresh: GetNext yields the first element, and
  // another Restore may be tried. Ops restore in place, so one that throws half way through
  // has already changed some of the tree; that tree is set aside (kept until the iterator is
  // destroyed, never run again) and the iterator forwards to a fresh one made from its
  // dataset. Only if that fresh iterator cannot be made does the iterator become unusable:
  // every later call throws FailedPreconditionError saying so.
  void Restore(std::string_view state);
  // Restore under `options` (state.h): with allow_changes, a state of a pipeline whose op
  // structure is the same but whose parameters, functions or file identities differ is
  // restored, and one warning listing every difference is appended to `warnings` (or printed to
  // stderr when it is null), as Save's warnings are. A different structure is still a
  // PipelineMismatchError; a state the op's new parameters make invalid the op's error (state.h).
  void Restore(std::string_view state, const RestoreOptions& options,
               std::vector<std::string>* warnings = nullptr);
  // As Restore, for a state already decoded (the hook decodes each checkpoint once): what
  // allow_changes restored past is appended to `changes`, one entry per difference, unwarned.
  void Restore(const DecodedState& state, const RestoreOptions& options,
               std::vector<std::string>* changes);
  // Back to a fresh iterator at the first element, as after a failed Restore: the current
  // tree is set aside. For the hook, which restores several iterators from one checkpoint and
  // must undo the ones already restored when a later one rejects its state.
  void Reset();

  // The state tree, for ops saving their inputs (see StateWriter::WriteChild). for_bytes: the
  // tree is only encoded (StateWriter::for_bytes), so it may hold children encoded ahead.
  StateNode SaveNode(bool for_bytes = false);
  // An op restoring an input it owns: not transactional (the op's own Restore, further up,
  // sets the whole tree aside when this throws). REQUIRES: as Restore. Throws DataLossError
  // when the node was written by another op.
  void RestoreNode(const StateNode& node);

  const Dataset& dataset() const { return *dataset_; }
  // True once GetNext has been called or a state restored (false again after a failed Restore
  // or a Reset).
  bool started() const { return fresh_ != nullptr ? fresh_->started() : started_; }
  // True once GetNext has returned the end of the sequence (false again after a failed Restore
  // or a Reset; a restored iterator starts false even if its state is at the end). The hook
  // records it in each checkpoint, to tell a finished pass from one in progress.
  bool ended() const { return fresh_ != nullptr ? fresh_->ended() : ended_; }

  // What the pipeline measured since this iterator was made (IteratorStats). It may be called
  // on any thread while another thread calls GetNext, Save, Restore or Reset: it reads atomic
  // counters, and waits only while a Reset or a failed Restore swaps in a fresh tree. An
  // iterator made by an op for an element (interleave's and flat_map's inner datasets, a map
  // function's own pipeline) reports nothing of its own: its time is its op's.
  // Stats are not state: Save ignores them, and a restored iterator starts them at zero.
  IteratorStats Stats() const;

 protected:
  // For buffering ops: `current` elements held, out of `capacity`. Cheap (two relaxed stores);
  // call it where the buffer changes, from any one thread at a time (under the op's lock).
  void ReportBufferFill(int64_t current, int64_t capacity);
  // For threaded ops: the number of threads producing elements (OpStats::threads).
  void ReportThreads(int64_t threads);
  // This iterator's counters, for an op's worker threads (OpWorkScope, core/op_stats.h); null
  // for an iterator that reports nothing of its own (see Stats).
  stats_internal::OpCounters* stats_counters() const { return stats_.get(); }

  virtual std::optional<Element> GetNextInternal() = 0;
  virtual void SaveInternal(StateWriter& writer) = 0;
  virtual void RestoreInternal(StateReader& reader) = 0;
  // The node SaveNode returns / RestoreNode reads. By default a node of this op holding what
  // SaveInternal writes; the iterator of a transparent() dataset has its input's instead.
  virtual StateNode SaveNodeInternal(bool for_bytes);
  virtual void RestoreNodeInternal(const StateNode& node);

 private:
  // Where the calls go after a failed Restore or a Reset: the fresh iterator, or null when
  // this one serves them itself. Throws FailedPreconditionError when unusable.
  Iterator* Forwarded();
  // Sets this iterator's current tree aside: calls go to a new fresh iterator from here on.
  void SetAside();
  // GetNext on a thread with an interrupt check installed (inputpipe/interrupt.h).
  std::optional<Element> GetNextInInterruptFrame();
  // GetNext's call of GetNextInternal, in or out of an interrupt frame.
  std::optional<Element> GetNextFramed();
  // GetNextFramed, counted (and timed when sampled) in stats_.
  std::optional<Element> GetNextCounted();
  friend class Dataset;  // MakeIterator sets stats_

  DatasetPtr dataset_;
  bool started_ = false;
  bool ended_ = false;
  std::unique_ptr<Iterator> fresh_;  // see Restore: the iterator calls are forwarded to
  // Taken by SetAside to replace fresh_ and by Stats to read it, which may run on another
  // thread; every other use of fresh_ is on the thread that drives this iterator.
  mutable std::mutex fresh_mu_;
  std::string unusable_;             // why no fresh iterator could be made; empty if usable
  // dataset_->Pipeline() as a state stores it, encoded by PrepareSave or the first Save: the
  // dataset is immutable, and encoding it afresh would be most of the time of every save.
  EncodedPipeline pipeline_;
  // EncodeAhead's bytes, the state at the current position; empty when there are none.
  std::string ahead_;
  // EncodeAhead found state it cannot capture (a generator, a stateful function): it stops
  // trying, so such a pipeline does not capture it after every slow GetNext.
  bool external_state_seen_ = false;
  // Stats' counters of this op (core/op_stats.h), shared with the other iterators of the same
  // op (repeat's per epoch); null for an iterator made for an element (see Stats).
  std::shared_ptr<stats_internal::OpCounters> stats_;
};

}  // namespace inputpipe

#endif  // INPUTPIPE_DATASET_H_
