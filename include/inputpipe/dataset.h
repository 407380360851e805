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

class Dataset : public std::enable_shared_from_this<Dataset> {
 public:
  virtual ~Dataset() = default;

  // The op's name as users know it: "range", "batch", "map", ...
  virtual std::string op_name() const = 0;
  // Every parameter that changes the output, as "key=value, ...". Sources are identified by
  // content (a hash of their data), callables by name. This is the op's fingerprint: a state
  // is only restored into a pipeline whose fingerprints are all equal.
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
  std::optional<Element> GetNext();

  // The iterator's position as bytes (docs/state_format.md). Cheap, never waits for work in
  // flight, never holds element values. Under kWarn the warnings naming each op with external
  // state are appended to `warnings` (or printed to stderr when it is null).
  std::string Save(ExternalStatePolicy policy = ExternalStatePolicy::kFail,
                   std::vector<std::string>* warnings = nullptr);
  // Moves this iterator to the position saved in `state`.
  // REQUIRES: a fresh iterator whose GetNext has never been called (else
  // FailedPreconditionError). Throws PipelineMismatchError naming the first difference when
  // the state comes from another pipeline, DataLossError when the bytes are corrupt.
  void Restore(std::string_view state);

  // The state tree, for ops saving their inputs (see StateWriter::WriteChild).
  StateNode SaveNode();
  // REQUIRES: as Restore. Throws DataLossError when the node was written by another op.
  void RestoreNode(const StateNode& node);

  const Dataset& dataset() const { return *dataset_; }
  // True once GetNext has been called or a state restored.
  bool started() const { return started_; }

 protected:
  virtual std::optional<Element> GetNextInternal() = 0;
  virtual void SaveInternal(StateWriter& writer) = 0;
  virtual void RestoreInternal(StateReader& reader) = 0;

 private:
  DatasetPtr dataset_;
  bool started_ = false;
};

}  // namespace inputpipe

#endif  // INPUTPIPE_DATASET_H_
