// distribute(num_ranks, rank): global-batch data parallelism. The input yields global batches
// (batch(B) of the whole pipeline); rank r of W gets rows [r*B/W, (r+1)*B/W) of every one.
//
//   ds = Distribute(Batch(Map(GlobalShuffle(records, 7), Decode), 256), /*num_ranks=*/4, rank);
//
// The global stream is a function of the pipeline and its seeds only, never of the rank count:
// neither num_ranks nor rank is part of the fingerprint, and the state is the global pipeline's
// position, identical on every rank. A checkpoint taken on W ranks therefore continues on any
// W' that divides B: every rank restores the same state and slices its own rows.
//
// What each rank computes:
// - by index (the input is batch(B) of a random-access dataset): rank r reads only the rows
//   k*B + [r*B/W, (r+1)*B/W) of global batch k through Get(i), and stacks them. No rank reads
//   or preprocesses another's rows. State: the number of global batches produced ("batches").
//   With a parallel map under the batch, the rows are computed on that many threads of this
//   iterator's own, the next step's while this one is consumed (ParallelGets: what they
//   computed ahead is not state).
// - otherwise (a filter, a buffered shuffle, a padded batch, an op after batch): every rank
//   computes the whole global batch and keeps its rows. State: the input's.
// A last, partial global batch of b < B rows is split the same way: [r*b/W, (r+1)*b/W), so
// every rank makes the same number of steps (a rank's part may have 0 rows; drop_remainder on
// the batch avoids it).
#include <algorithm>

#include "core/op_skeleton.h"
#include "core/tensor_ops.h"
#include "inputpipe/ops.h"
#include "ops/batch_input.h"
#include "ops/iteration_access.h"
#include "ops/random_util.h"
#include "ops/threading/parallel_gets.h"

namespace inputpipe {

namespace {
constexpr char kBatches[] = "batches";  // by index: global batches produced so far
// By index over a reshuffling shuffle, also "iteration": which iterator of the dataset this
// is (IterationCounter).

// Rows [begin, end) of every tensor leaf, keeping the structure.
Element SliceRows(const Element& element, int64_t begin, int64_t end) {
  switch (element.kind()) {
    case Element::Kind::kTensor:
      return SliceRange(element.tensor(), begin, end);
    case Element::Kind::kTuple: {
      std::vector<Element> items;
      for (const Element& child : element.children()) items.push_back(SliceRows(child, begin, end));
      return Element::Tuple(std::move(items));
    }
    case Element::Kind::kDict: {
      std::vector<std::pair<std::string, Element>> items;
      for (size_t i = 0; i < element.size(); ++i) {
        items.emplace_back(element.keys()[i], SliceRows(element.children()[i], begin, end));
      }
      return Element::Dict(std::move(items));
    }
    case Element::Kind::kDataset:
      break;
  }
  throw InvalidArgumentError("distribute: a global batch holding a dataset cannot be split");
}

// The batch op under `input` (through none other): what fixes B and allows rows by index.
const BatchingDataset* AsBatch(const DatasetPtr& input) {
  if (input->op_name() != "batch" && input->op_name() != "padded_batch") return nullptr;
  return dynamic_cast<const BatchingDataset*>(input.get());
}

// The random-access dataset under the batch when the ranks' rows are computed by index, else
// null. padded_batch pads to the longest element of the whole batch: only the global batch
// knows it, so its rows are not computed by index. By index only where that is the stream: a
// repeat over a reshuffling shuffle needs every op between them to pass the epoch on
// (iteration_access.h).
DatasetPtr ByIndexInput(const DatasetPtr& input) {
  const BatchingDataset* batch = AsBatch(input);
  if (batch == nullptr || input->op_name() != "batch") return nullptr;
  const DatasetPtr& unbatched = batch->input();
  return unbatched->IsRandomAccess() && ByIndexIsTheStream(*unbatched) ? unbatched : nullptr;
}

class DistributeIterator;

class DistributeDataset
    : public OpDataset<DistributeDataset, DistributeIterator, SequentialUnaryDataset> {
 public:
  DistributeDataset(DatasetPtr input, int64_t num_ranks, int64_t rank)
      : OpDataset(std::move(input)),
        num_ranks(num_ranks),
        rank(rank),
        unbatched(ByIndexInput(input_)),
        by_index(unbatched != nullptr),
        iterations(by_index && VariesByIteration(*unbatched)) {
    const BatchingDataset* batch = AsBatch(input_);
    batch_size = batch != nullptr ? batch->batch_size : 0;
  }

  std::string op_name() const override { return "distribute"; }
  // Not the rank count nor the rank: the global stream does not depend on them.
  std::string params() const override { return ""; }

  // Rows [lo, hi) of a global batch of `rows` rows, for this rank.
  std::pair<int64_t, int64_t> MyRows(int64_t rows) const {
    return {rank * rows / num_ranks, (rank + 1) * rows / num_ranks};
  }

  const int64_t num_ranks, rank;
  const DatasetPtr unbatched;  // by_index: the random-access dataset under the batch
  const bool by_index;
  // By index over a reshuffling shuffle: the k-th iterator reads iteration k.
  const IterationCounter iterations;
  int64_t batch_size = 0;  // 0 when the input is not a batch op
};

class DistributeIterator : public DatasetIterator<DistributeDataset> {
 public:
  explicit DistributeIterator(const DistributeDataset& ds)
      : DatasetIterator(ds),
        input_(ds.by_index ? nullptr : ds.input()->MakeIterator()),
        iteration_(ds.iterations.Start()),
        threads_(ds.by_index ? ParallelGets::ThreadsFor(*ds.unbatched) : 1) {}

 protected:
  std::optional<Element> GetNextInternal() override {
    const DistributeDataset& ds = dataset();
    if (ds.by_index) return NextByIndex();
    std::optional<Element> batch = input_->GetNext();
    if (!batch) return std::nullopt;
    const int64_t rows = FirstDimOf(*batch, "distribute");
    if (first_ && rows % ds.num_ranks != 0) {
      throw InvalidArgumentError("distribute: the global batch has " + std::to_string(rows) +
                                 " rows, which num_ranks=" + std::to_string(ds.num_ranks) +
                                 " does not divide");
    }
    first_ = false;
    auto [lo, hi] = ds.MyRows(rows);
    return SliceRows(*batch, lo, hi);
  }

  void SaveInternal(StateWriter& w) override {
    if (dataset().by_index) {
      w.WriteInt(kBatches, batches_);
      dataset().iterations.Save(w, iteration_);
    } else {
      w.WriteChild("input", *input_);
    }
  }
  void RestoreInternal(StateReader& r) override {
    if (dataset().by_index) {
      const int64_t n = dataset().Cardinality();
      batches_ = ReadCounter(r, kBatches, n < 0 ? kMaxElementCount : n);
      iteration_ = dataset().iterations.Restore(r);
      gets_.reset();  // its rows were of the old iteration
    } else {
      r.RestoreChild("input", *input_);
    }
    first_ = false;
  }

 private:
  std::optional<Element> NextByIndex() {
    const DistributeDataset& ds = dataset();
    const int64_t n = ds.unbatched->Cardinality();  // < 0: infinite (a repeat())
    const int64_t begin = batches_ * ds.batch_size;
    const int64_t rows = n < 0 ? ds.batch_size : std::min(ds.batch_size, n - begin);
    if (rows <= 0 || (rows < ds.batch_size && AsBatch(ds.input())->drop_remainder)) {
      return std::nullopt;
    }
    auto [lo, hi] = ds.MyRows(rows);
    // Counted before its rows are computed: a row that raises makes this rank's part of the
    // step an error, raised once (as batch drops a batch its input failed in), never retried.
    // On threads, counted once they are taken: an interrupt of the wait takes nothing.
    Element out;
    if (threads_ > 1 && lo < hi) {
      ParallelGets::Taken taken = Gets().Take(batches_ * RowsPerStep(), hi - lo);
      ++batches_;
      if (taken.error) std::rethrow_exception(taken.error);
      return StackElements(taken.elements, "batch");
    }
    ++batches_;
    if (lo == hi) {  // a rank with no row of the last batch: the shape of one, sliced to none
      out = SliceRows(
          StackElements({GetInIteration(*ds.unbatched, begin, iteration_)}, "distribute"), 0, 0);
    } else {
      std::vector<Element> elements;
      elements.reserve(hi - lo);
      for (int64_t i = begin + lo; i < begin + hi; ++i) {
        elements.push_back(GetInIteration(*ds.unbatched, i, iteration_));
      }
      out = StackElements(elements, "batch");
    }
    return out;
  }

  // This rank's rows of a full global batch.
  int64_t RowsPerStep() const { return dataset().batch_size / dataset().num_ranks; }

  // The rows by index on threads_ threads, made at the first step that needs them. Position p
  // is row p % R of this rank's part of global batch p / R (R = RowsPerStep(); only the last,
  // partial batch has fewer, and nothing after it).
  ParallelGets& Gets() {
    if (gets_ == nullptr) {
      const DistributeDataset& ds = dataset();
      const int64_t per_step = RowsPerStep();
      const int64_t n = ds.unbatched->Cardinality();
      const bool drop_remainder = AsBatch(ds.input())->drop_remainder;
      auto index_of = [&ds, per_step, n, drop_remainder](int64_t position) -> int64_t {
        const int64_t begin = position / per_step * ds.batch_size;
        if (n >= 0 && begin >= n) return -1;
        const int64_t rows = n < 0 ? ds.batch_size : std::min(ds.batch_size, n - begin);
        if (rows < ds.batch_size && drop_remainder) return -1;
        auto [lo, hi] = ds.MyRows(rows);
        const int64_t row = position % per_step;
        return row < hi - lo ? begin + lo + row : -1;
      };
      ReportThreads(threads_);
      // One step computed ahead: the next step's rows while the training loop uses this one.
      gets_ = std::make_unique<ParallelGets>(*ds.unbatched, iteration_, threads_, per_step,
                                             std::move(index_of), stats_counters());
    }
    return *gets_;
  }

  std::unique_ptr<Iterator> input_;  // null when rows are computed by index
  int64_t iteration_;                // by index: this iterator's iteration of the dataset
  int64_t batches_ = 0;
  bool first_ = true;
  const int64_t threads_;  // by index: the threads computing the rows (1: this thread)
  std::unique_ptr<ParallelGets> gets_;  // last: its threads stop first
};
}  // namespace

DatasetPtr Distribute(DatasetPtr input, int64_t num_ranks, int64_t rank) {
  CheckInput(input, "distribute");
  CheckPositive(num_ranks, "distribute", "num_ranks");
  if (rank < 0 || rank >= num_ranks) {
    throw InvalidArgumentError("distribute: rank must be in [0, num_ranks=" +
                               std::to_string(num_ranks) + "), got " + std::to_string(rank));
  }
  if (const BatchingDataset* batch = AsBatch(input)) {
    if (batch->batch_size % num_ranks != 0) {
      throw InvalidArgumentError("distribute: the global batch size " +
                                 std::to_string(batch->batch_size) + " is not divisible by " +
                                 "num_ranks=" + std::to_string(num_ranks) +
                                 " (every rank takes global_batch_size / num_ranks rows)");
    }
  }
  return std::make_shared<DistributeDataset>(std::move(input), num_ranks, rank);
}

}  // namespace inputpipe
