// shard(num_shards, index, elastic=true): rank `index` of `num_shards` takes its part of the
// input, and a checkpoint of all the ranks continues on any other number of ranks, with every
// input element that was consumed before it never seen again and every other one exactly once.
//
//   ds = Map(ElasticShard(ListFiles(...) or records, /*num_shards=*/W, /*index=*/rank), Parse);
//   // a checkpoint of W ranks, on W' ranks: the hook calls ReshardStates for each rank.
//
// The layout, shared by every rank of one run: the remaining input R is the sorted positions
// holes[0..m) followed by every position >= tail. Rank r of W owns R[r], R[r+W], R[r+2W], ...
// (the first layout: no holes, tail 0, so rank r owns the positions j = r mod W, as shard).
// Rank r's state: the layout, `taken` (c: it has consumed its first c positions) and the input
// position. Consumed positions are never re-read.
//
// Resizing (ReshardStates) from W ranks with counts c_0..c_{W-1} to W': R-index k (owned by
// rank k mod W) was consumed iff k / W < c_{k mod W}. Every k < min(c)*W was; none >= max(c)*W
// was. The new layout: holes' = the unconsumed R[k] for k in [min(c)*W, K0), K0 = max(max(c)*W,
// m), and tail' = R[K0]. The holes are at most the ranks' drift (filter) wide: a few integers.
// The input of a sequential pipeline is restored from the rank that had read least (its
// position is at or before every unconsumed element; the others are skipped by reading); a
// random-access input is read by index, with no input state at all (over a reshuffling
// shuffle, the state's "iteration" says which iterator of the dataset read it: the k-th reads
// the shuffle's epoch k, as the stream's k-th would; a resize keeps it).
//
// What may sit between the shard and the consumer on a resize: ops that hold no input element
// between two GetNext calls (map, filter, batch, padded_batch, prefetch, a deterministic
// parallel map, ignore_errors), whose state is then their counters from rank r' mod W. An op
// that holds elements read but not consumed (shuffle's buffer, interleave's open inputs,
// window, group_by_window, unbatch/flat_map's current element, a non-deterministic parallel
// map's elements delivered ahead) or counts per rank (take, skip, enumerate, unique) refuses
// the resize, naming itself: its elements would be lost or repeated. W' = W always restores.
#include "ops/elastic_shard.h"

#include <algorithm>
#include <set>

#include "core/op_skeleton.h"
#include "inputpipe/ops.h"
#include "ops/iteration_access.h"
#include "ops/threading/parallel_gets.h"
#include "util/coding.h"

namespace inputpipe {

namespace {
constexpr char kRanks[] = "ranks";        // W of the layout
constexpr char kRank[] = "rank";          // this rank's index in it
constexpr char kTaken[] = "taken";        // positions of this rank consumed (c)
constexpr char kTail[] = "tail";          // every position >= tail is in R
constexpr char kHoles[] = "holes";        // R's positions below tail: varint deltas
constexpr char kPosition[] = "position";  // input elements read (by index: the end, once known)
constexpr char kExhausted[] = "exhausted";
constexpr char kInput[] = "input";

// The most holes a state may hold: far more than any drift between ranks.
constexpr int64_t kMaxHoles = int64_t{1} << 24;

std::string EncodeHoles(const std::vector<int64_t>& holes) {
  std::string out;
  int64_t last = 0;
  for (int64_t h : holes) {
    PutVarint64(&out, static_cast<uint64_t>(h - last));
    last = h + 1;
  }
  return out;
}

std::vector<int64_t> DecodeHoles(std::string_view bytes, int64_t tail) {
  std::vector<int64_t> holes;
  ByteReader in(bytes);
  int64_t next = 0;
  while (in.remaining() > 0) {
    uint64_t delta;
    if (!in.GetVarint64(&delta) || delta > static_cast<uint64_t>(tail) ||
        next + static_cast<int64_t>(delta) >= tail ||
        static_cast<int64_t>(holes.size()) >= kMaxHoles) {
      throw DataLossError("corrupt state: shard(elastic=true): its holes are malformed");
    }
    holes.push_back(next + static_cast<int64_t>(delta));
    next = holes.back() + 1;
  }
  return holes;
}

class ElasticShardIterator;

class ElasticShardDataset
    : public OpDataset<ElasticShardDataset, ElasticShardIterator, SequentialUnaryDataset> {
 public:
  ElasticShardDataset(DatasetPtr input, int64_t num_shards, int64_t index)
      : OpDataset(std::move(input)),
        num_shards(num_shards),
        index(index),
        by_index(input_->IsRandomAccess() && ByIndexIsTheStream(*input_)),
        iterations(by_index && VariesByIteration(*input_)) {}

  std::string op_name() const override { return "shard"; }
  // Not num_shards nor index: a checkpoint continues on another rank count.
  std::string params() const override { return "elastic=true"; }
  int64_t Cardinality() const override { return kUnknownCardinality; }

  const int64_t num_shards, index;
  const bool by_index;  // the input is read by index, with no input state
  // By index over a reshuffling shuffle: the k-th iterator reads iteration k (a sequential
  // input's iterators count their own).
  const IterationCounter iterations;
};

class ElasticShardIterator : public DatasetIterator<ElasticShardDataset> {
 public:
  explicit ElasticShardIterator(const ElasticShardDataset& ds)
      : DatasetIterator(ds),
        by_index_(ds.by_index),
        input_(by_index_ ? nullptr : ds.input()->MakeIterator()),
        iteration_(ds.iterations.Start()),
        ranks_(ds.num_shards),
        rank_(ds.index),
        threads_(by_index_ ? ParallelGets::ThreadsFor(*ds.input()) : 1) {}

 protected:
  std::optional<Element> GetNextInternal() override {
    if (exhausted_) return std::nullopt;
    const int64_t target = Target(rank_ + taken_ * ranks_);
    if (by_index_) {
      const int64_t n = dataset().input()->Cardinality();  // < 0: infinite (a repeat())
      if (n >= 0 && target >= n) return Exhaust(n);
      // Taken before it is computed: an element whose computation raises is raised once and
      // passed, as the streaming path (and every op's GetNext) does, never retried forever.
      // On threads, taken once it is handed over: an interrupt of the wait takes nothing.
      if (threads_ > 1) {
        ParallelGets::Taken taken = Gets().Take(taken_, 1);
        ++taken_;
        if (taken.error) std::rethrow_exception(taken.error);
        return std::move(taken.elements[0]);
      }
      ++taken_;
      return GetInIteration(*dataset().input(), target, iteration_);
    }
    while (position_ < target) {  // another rank's elements, or consumed ones
      // An error there is another rank's element's (that rank raises it) or a consumed one's:
      // not this rank's to raise. The input has passed that element either way.
      bool more = true;
      try {
        more = input_->GetNext().has_value();
      } catch (const Error&) {
      }
      if (!more) return Exhaust(position_);
      ++position_;
    }
    std::optional<Element> element;
    try {
      element = input_->GetNext();
    } catch (...) {  // this rank's element raised: raised once, and it counts as taken
      ++position_;
      ++taken_;
      throw;
    }
    if (!element) return Exhaust(position_);
    ++position_;
    ++taken_;
    return element;
  }

  void SaveInternal(StateWriter& w) override {
    w.WriteInt(kRanks, ranks_);
    w.WriteInt(kRank, rank_);
    w.WriteInt(kTaken, taken_);
    w.WriteInt(kTail, tail_);
    w.WriteBytes(kHoles, EncodeHoles(holes_));
    w.WriteInt(kPosition, position_);
    w.WriteBool(kExhausted, exhausted_);
    dataset().iterations.Save(w, iteration_);
    if (input_ && !exhausted_) w.WriteChild(kInput, *input_);
  }

  void RestoreInternal(StateReader& r) override {
    gets_.reset();  // its threads read the layout and the iteration, which change here
    const int64_t ranks = r.ReadIntInRange(kRanks, 1, kMaxElementCount);
    const int64_t rank = r.ReadIntInRange(kRank, 0, ranks - 1);
    if (ranks != dataset().num_shards || rank != dataset().index) {
      throw FailedPreconditionError(
          "shard(elastic=true): the state is rank " + std::to_string(rank) + " of " +
          std::to_string(ranks) + " ranks, this iterator is shard " +
          std::to_string(dataset().index) +
          " of num_shards=" + std::to_string(dataset().num_shards) +
          ": a checkpoint of other ranks is restored through the hook (or "
          "inputpipe.distributed.reshard_states), which computes each new rank's state");
    }
    taken_ = ReadCounter(r, kTaken);
    tail_ = ReadCounter(r, kTail);
    holes_ = DecodeHoles(r.ReadBytes(kHoles), tail_);
    position_ = ReadCounter(r, kPosition);
    exhausted_ = r.ReadBool(kExhausted);
    iteration_ = dataset().iterations.Restore(r);
    if (!exhausted_ && !by_index_) {
      if (position_ > Target(rank_ + taken_ * ranks_)) {
        throw DataLossError("corrupt state: shard(elastic=true): position " +
                            std::to_string(position_) + " is past its next element");
      }
      r.RestoreChild(kInput, *input_);
    }
    if (exhausted_) input_.reset();
  }

 private:
  // R[k]: the k-th position of the remaining input.
  int64_t Target(int64_t k) const {
    const int64_t m = static_cast<int64_t>(holes_.size());
    return k < m ? holes_[k] : tail_ + (k - m);
  }
  // By index on threads_ threads (a parallel map in the input), made at the first element
  // that needs them: position p is this rank's p-th element, R[rank + p * ranks], computed a
  // few ahead. What they computed ahead is not state.
  ParallelGets& Gets() {
    if (gets_ == nullptr) {
      const int64_t n = dataset().input()->Cardinality();
      auto index_of = [this, n](int64_t position) -> int64_t {
        const int64_t target = Target(rank_ + position * ranks_);
        return n >= 0 && target >= n ? -1 : target;
      };
      ReportThreads(threads_);
      gets_ = std::make_unique<ParallelGets>(*dataset().input(), iteration_, threads_,
                                             2 * threads_, std::move(index_of), stats_counters());
    }
    return *gets_;
  }
  std::optional<Element> Exhaust(int64_t end) {
    exhausted_ = true;
    position_ = end;  // the input's length: a resize drops holes past it
    input_.reset();
    return std::nullopt;
  }

  const bool by_index_;
  std::unique_ptr<Iterator> input_;  // null by index and once exhausted
  int64_t iteration_;                // by index: this iterator's iteration of the input
  int64_t ranks_, rank_;
  int64_t taken_ = 0;
  int64_t tail_ = 0;
  std::vector<int64_t> holes_;
  int64_t position_ = 0;
  bool exhausted_ = false;
  const int64_t threads_;  // by index: the threads computing the elements (1: this thread)
  std::unique_ptr<ParallelGets> gets_;  // last: its threads stop first
};

// ---- ReshardStates.

bool IsElasticShard(const StateNode& node) {
  return node.op == "shard" && std::any_of(node.ints.begin(), node.ints.end(),
                                           [](const auto& kv) { return kv.first == kRanks; });
}

bool ContainsElasticShard(const StateNode& node) {
  if (IsElasticShard(node)) return true;
  for (const StateNode& child : node.children) {
    if (ContainsElasticShard(child)) return true;
  }
  return false;
}

bool SameNode(const StateNode& a, const StateNode& b) {
  if (a.name != b.name || a.op != b.op || a.ints != b.ints || a.blobs != b.blobs ||
      a.children.size() != b.children.size()) {
    return false;
  }
  for (size_t i = 0; i < a.children.size(); ++i) {
    if (!SameNode(a.children[i], b.children[i])) return false;
  }
  return true;
}

// Ops that hold no input element between two GetNext calls: a resize above an elastic shard
// keeps them exact (file banner).
bool ResizeSafe(const StateNode& node) {
  static const std::set<std::string> kSafe = {
      "map", "filter", "batch", "padded_batch", "prefetch", "ignore_errors", "parallel_map"};
  if (!kSafe.count(node.op)) return false;
  // A non-deterministic parallel map's elements delivered ahead of their turn.
  for (const auto& [key, bytes] : node.blobs) {
    if (key == "delivered_ahead" && !bytes.empty()) return false;
  }
  return true;
}

const int64_t* FindInt(const StateNode& node, std::string_view key) {
  for (const auto& [k, v] : node.ints) {
    if (k == key) return &v;
  }
  return nullptr;
}

int64_t IntOf(const StateNode& node, std::string_view key) {
  if (const int64_t* value = FindInt(node, key)) return *value;
  throw DataLossError("corrupt state: shard(elastic=true) has no '" + std::string(key) + "'");
}

// The iteration of the input a rank read by index (IterationCounter): 0 when not written.
int64_t IterationOf(const StateNode& node) {
  const int64_t* value = FindInt(node, IterationCounter::kIteration);
  return value != nullptr ? *value : 0;
}

std::string BlobOf(const StateNode& node, std::string_view key) {
  for (const auto& [k, v] : node.blobs) {
    if (k == key) return v;
  }
  throw DataLossError("corrupt state: shard(elastic=true) has no '" + std::string(key) + "'");
}

StateNode ReshardShard(const std::vector<const StateNode*>& nodes, int64_t rank,
                       int64_t num_ranks) {
  const int64_t w = static_cast<int64_t>(nodes.size());
  const int64_t tail = IntOf(*nodes[0], kTail);
  const std::string holes_bytes = BlobOf(*nodes[0], kHoles);
  const std::vector<int64_t> holes = DecodeHoles(holes_bytes, tail);
  const int64_t m = static_cast<int64_t>(holes.size());
  std::vector<int64_t> taken(w);
  int64_t end = kMaxElementCount;  // the input's length, once a rank has seen it
  bool all_exhausted = true;
  const StateNode* least = nullptr;  // the live rank that has read least
  for (int64_t r = 0; r < w; ++r) {
    const StateNode& node = *nodes[r];
    if (IntOf(node, kRanks) != w || IntOf(node, kRank) != r) {
      throw FailedPreconditionError("shard(elastic=true): the checkpoint's state " +
                                    std::to_string(r) + " of " + std::to_string(w) + " is rank " +
                                    std::to_string(IntOf(node, kRank)) + " of " +
                                    std::to_string(IntOf(node, kRanks)));
    }
    if (IterationOf(node) != IterationOf(*nodes[0])) {
      throw FailedPreconditionError(
          "cannot resize: shard(elastic=true): rank " + std::to_string(r) + " is in iteration " +
          std::to_string(IterationOf(node)) + " of its input, rank 0 in iteration " +
          std::to_string(IterationOf(*nodes[0])));
    }
    if (IntOf(node, kTail) != tail || BlobOf(node, kHoles) != holes_bytes) {
      throw DataLossError("corrupt checkpoint: shard(elastic=true): rank " + std::to_string(r) +
                          "'s layout differs from rank 0's");
    }
    taken[r] = IntOf(node, kTaken);
    if (taken[r] < 0 || taken[r] > kMaxElementCount / std::max<int64_t>(w, 1)) {
      throw DataLossError("corrupt state: shard(elastic=true): taken out of range");
    }
    if (IntOf(node, kExhausted) != 0) {
      end = std::min(end, IntOf(node, kPosition));
    } else {
      all_exhausted = false;
      if (least == nullptr || IntOf(node, kPosition) < IntOf(*least, kPosition)) least = &node;
    }
  }
  auto at = [&](int64_t k) { return k < m ? holes[k] : tail + (k - m); };
  const int64_t cmin = *std::min_element(taken.begin(), taken.end());
  const int64_t cmax = *std::max_element(taken.begin(), taken.end());
  const int64_t k0 = std::max(cmax * w, m);
  std::vector<int64_t> new_holes;
  for (int64_t k = cmin * w; k < k0; ++k) {
    if (k / w >= taken[k % w] && at(k) < end) new_holes.push_back(at(k));
  }
  if (static_cast<int64_t>(new_holes.size()) > kMaxHoles) {
    throw FailedPreconditionError("shard(elastic=true): the ranks drifted too far apart to resize");
  }
  StateNode out;
  out.name = nodes[0]->name;
  out.op = "shard";
  const int64_t new_tail = std::min(end, at(k0));
  out.ints = {{kRanks, num_ranks},
              {kRank, rank},
              {kTaken, 0},
              {kTail, new_tail},
              {kPosition, all_exhausted ? end : IntOf(*least, kPosition)},
              {kExhausted, all_exhausted ? 1 : 0}};
  if (IterationOf(*nodes[0]) != 0) {
    out.ints.emplace_back(IterationCounter::kIteration, IterationOf(*nodes[0]));
  }
  out.blobs = {{kHoles, EncodeHoles(new_holes)}};
  if (!all_exhausted) {
    if (const StateNode* input = least->FindChild(kInput)) out.children.push_back(*input);
  }
  return out;
}

StateNode Reshard(const std::vector<const StateNode*>& nodes, int64_t rank, int64_t num_ranks) {
  const StateNode& base = *nodes[rank % nodes.size()];
  if (IsElasticShard(base)) return ReshardShard(nodes, rank, num_ranks);
  if (!ContainsElasticShard(base)) {
    for (size_t r = 1; r < nodes.size(); ++r) {
      if (!SameNode(*nodes[0], *nodes[r])) {
        throw FailedPreconditionError(
            "cannot resize from " + std::to_string(nodes.size()) + " to " +
            std::to_string(num_ranks) + " ranks: the ranks' states differ at op '" + nodes[0]->op +
            "' (rank 0 and rank " + std::to_string(r) +
            "), and no shard(elastic=true) or distribute() below it says how to split its " +
            "input again");
      }
    }
    return *nodes[0];
  }
  if (!ResizeSafe(base)) {
    throw FailedPreconditionError(
        "cannot resize from " + std::to_string(nodes.size()) + " to " + std::to_string(num_ranks) +
        " ranks: op '" + base.op + "' after shard(elastic=true) " +
        "holds input elements read but not yet consumed, or counts per rank, so a new split " +
        "would lose or repeat some (docs/distributed.md, \"Resizing\"); restore on " +
        std::to_string(nodes.size()) + " ranks, or move it before the shard");
  }
  StateNode out = base;
  out.children.clear();
  for (const StateNode& child : base.children) {
    std::vector<const StateNode*> peers;
    for (size_t r = 0; r < nodes.size(); ++r) {
      const StateNode* peer = nodes[r]->FindChild(child.name);
      if (peer == nullptr) {
        throw FailedPreconditionError("cannot resize: rank " + std::to_string(r) +
                                      "'s state has no '" + child.name + "' under op '" + base.op +
                                      "'");
      }
      peers.push_back(peer);
    }
    out.children.push_back(Reshard(peers, rank, num_ranks));
  }
  return out;
}
}  // namespace

DatasetPtr ElasticShard(DatasetPtr input, int64_t num_shards, int64_t index) {
  CheckInput(input, "shard");
  CheckPositive(num_shards, "shard", "num_shards");
  if (index < 0 || index >= num_shards) {
    throw InvalidArgumentError("shard: index must be in [0, num_shards=" +
                               std::to_string(num_shards) + "), got " + std::to_string(index));
  }
  return std::make_shared<ElasticShardDataset>(std::move(input), num_shards, index);
}

std::string ReshardStates(const std::vector<std::string>& states, int64_t rank, int64_t num_ranks) {
  if (states.empty()) throw InvalidArgumentError("reshard_states: no states given");
  if (num_ranks < 1 || rank < 0 || rank >= num_ranks) {
    throw InvalidArgumentError("reshard_states: rank " + std::to_string(rank) +
                               " is not in [0, num_ranks=" + std::to_string(num_ranks) + ")");
  }
  std::vector<DecodedState> decoded;
  for (const std::string& state : states) decoded.push_back(DecodeState(state));
  return EncodeState(decoded[0].pipeline, ReshardDecoded(decoded, rank, num_ranks));
}

StateNode ReshardDecoded(const std::vector<DecodedState>& states, int64_t rank, int64_t num_ranks) {
  std::vector<const StateNode*> roots;
  for (size_t r = 0; r < states.size(); ++r) {
    if (states[r].pipeline != states[0].pipeline) {
      throw PipelineMismatchError("the checkpoint's rank " + std::to_string(r) +
                                  " was saved by another pipeline than rank 0's");
    }
    roots.push_back(&states[r].root);
  }
  if (static_cast<int64_t>(states.size()) == num_ranks) return *roots[rank];
  return Reshard(roots, rank, num_ranks);
}

}  // namespace inputpipe
