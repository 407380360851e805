// shuffle(buffer_size, seed, reshuffle_each_iteration): tf.data's buffered shuffle. The first
// B = buffer_size elements fill B slots; each step emits the element of one slot and refills
// that slot with the next input element; once the input ends, the remaining elements come out
// in a uniformly random order.
//
// The slot emitted at step s is a pure function of (seed, epoch, s), never of the buffer's
// history: 3 steps in 4 pick a uniformly random slot; every 4th step sweeps a per-block
// random permutation of the slots (a block is L = 4B steps), so every slot is emptied at least
// once per block. Hence at any moment every buffered element was read at most 2L steps ago,
// and which element sits in which slot can be computed from the step counter alone (scan the
// picks backwards).
//
// State (no buffered element, a dozen integers whatever B): seed, epoch, steps emitted,
// elements read, and an *anchor*: the input's state at a point no later than the oldest
// element still buffered (captured every L steps, a few nodes kept). Restore restores the
// input to the anchor and re-reads from there, keeping the elements still buffered: fewer than
// 2L = 8B elements re-read (docs/reorder.md; measured in shuffle_test.cc).
//
// An error of the input passes through and changes nothing (the buffer keeps its elements, the
// step is retried); the state lists where such errors were raised since the anchor, so that
// the replay skips them as the consumer did (ops/input_errors.h).
//
// Epochs, seeds and fingerprint as global_shuffle.cc.
#include <algorithm>
#include <deque>

#include "core/op_skeleton.h"
#include "inputpipe/ops.h"
#include "ops/input_errors.h"
#include "ops/random_util.h"
#include "state/restore_changes.h"

namespace inputpipe {

namespace {
// "input" (kInputKey): the input's state at the anchor; "seed", "epoch": ShuffleSeed.
constexpr char kStep[] = "step";               // elements emitted
constexpr char kRead[] = "read";               // elements read from the input
constexpr char kFilled[] = "filled";           // the initial fill is complete
constexpr char kInputDone[] = "input_done";    // the input has ended (draining)
constexpr char kDrainStart[] = "drain_start";  // step at which the input ended
constexpr char kAnchor[] = "anchor";           // input position of the anchor node
constexpr int64_t kSweepEvery = 4;

class ShuffleIterator;

class ShuffleDataset : public OpDataset<ShuffleDataset, ShuffleIterator, SequentialUnaryDataset> {
 public:
  ShuffleDataset(DatasetPtr input, int64_t buffer_size, std::optional<int64_t> seed, bool reshuffle)
      : OpDataset(std::move(input)), buffer_size(buffer_size), seed(seed, reshuffle) {}

  std::string op_name() const override { return "shuffle"; }
  std::string params() const override {
    return "buffer_size=" + std::to_string(buffer_size) + ", " + seed.Param();
  }

  const int64_t buffer_size;
  const ShuffleSeed seed;
};

class ShuffleIterator : public UnaryIterator<ShuffleDataset> {
 public:
  explicit ShuffleIterator(const ShuffleDataset& ds)
      : UnaryIterator(ds),
        buffer_(ds.buffer_size),
        block_(kSweepEvery * ds.buffer_size),
        seed_(ds.seed.Start()) {
    SetKeys();
  }

 protected:
  std::optional<Element> GetNextInternal() override {
    if (!filled_) Fill();
    if (input_done_) {
      if (drain_.empty()) return std::nullopt;
      int64_t j = TakeDrainSlot(step_, &drain_);
      ++step_;
      ReportBufferFill(static_cast<int64_t>(drain_.size()), buffer_);
      return TakeSlot(j);
    }
    const int64_t j = next_pick_step_ == step_ ? next_pick_ : PickSlot(step_);
    // The next step's slot is known now: fetch it into cache while the input reads a record
    // (the buffer is large and its slots are visited at random).
    next_pick_step_ = step_ + 1;
    next_pick_ = PickSlot(next_pick_step_);
    __builtin_prefetch(&slots_[next_pick_]);
    if (step_ % block_ == 0 && (anchors_.empty() || anchors_.back().index != read_)) {
      AddAnchor(read_, input_->SaveNode());
    }
    // May throw: then nothing was taken, and the next call retries this step.
    std::optional<Element> next = errors_.Read(*input_, read_);
    Element out = TakeSlot(j);
    ++step_;
    if (next) {
      slots_[j] = std::move(next);
      ++read_;
    } else {
      StartDrain();
    }
    ReportBufferFill(input_done_ ? static_cast<int64_t>(drain_.size()) : buffer_, buffer_);
    return out;
  }

  void SaveInternal(StateWriter& w) override {
    dataset().seed.Save(w, seed_);
    w.WriteInt(kStep, step_);
    w.WriteInt(kRead, read_);
    w.WriteBool(kFilled, filled_);
    w.WriteBool(kInputDone, input_done_);
    w.WriteInt(kDrainStart, drain_start_);
    if (anchors_.empty()) {  // nothing read yet
      w.WriteInt(kAnchor, read_);
      SaveInput(w);
      return;
    }
    const Anchor& anchor = AnchorFor(input_done_ ? drain_start_ : step_);
    w.WriteInt(kAnchor, anchor.index);
    w.WriteChildNode(kInputKey, anchor.node);
    errors_.Save(w, anchor.index);  // the anchor node was captured before them
  }

  void RestoreInternal(StateReader& r) override {
    seed_ = dataset().seed.Restore(r, "shuffle");
    SetKeys();
    step_ = r.ReadIntInRange(kStep, 0, INT64_MAX / 2);
    read_ = r.ReadIntInRange(kRead, 0, INT64_MAX / 2);
    filled_ = r.ReadBool(kFilled);
    input_done_ = r.ReadBool(kInputDone);
    drain_start_ = r.ReadIntInRange(kDrainStart, 0, step_);
    const int64_t anchor = r.ReadIntInRange(kAnchor, 0, read_);
    auto corrupt = [&](const std::string& what) {
      return DataLossError("corrupt state: shuffle(buffer_size=" + std::to_string(buffer_) +
                           "): " + what);
    };
    CheckSavedBufferSize();
    if (!filled_ && (step_ != 0 || input_done_ || read_ > buffer_))
      throw corrupt("unfilled buffer after a step");
    if (filled_ && !input_done_ && read_ != buffer_ + step_)
      throw corrupt("read != buffer_size + step");
    if (input_done_ && read_ > buffer_ + drain_start_)
      throw corrupt("read past the end of the input");
    // A save's anchor is less than two blocks (8 * buffer_size elements) behind `read`; a state
    // that says otherwise would make the replay below as long as it likes (2^40 elements).
    if (read_ - anchor > 2 * block_) throw corrupt("anchor more than 8 * buffer_size behind read");
    RestoreInput(r);
    errors_.Restore(r, anchor, read_, dataset());

    // Which element (input position) is in which slot.
    std::vector<int64_t> live(buffer_, -1);  // input position per slot, -1 = empty
    if (!filled_) {
      for (int64_t j = 0; j < read_; ++j) live[j] = j;
    } else {
      const int64_t t = input_done_ ? drain_start_ : step_;
      int64_t found = 0;
      for (int64_t s = t - 1; s >= 0 && found < buffer_; --s) {
        int64_t j = PickSlot(s);
        if (live[j] == -1) {
          live[j] = buffer_ + s;
          ++found;
        }
      }
      for (int64_t j = 0; j < buffer_; ++j) {
        if (live[j] == -1) live[j] = j;      // never emptied: the initial fill
        if (live[j] >= read_) live[j] = -1;  // the read that found the input's end
      }
      if (input_done_) {
        drain_.clear();
        for (int64_t j = 0; j < buffer_; ++j) {
          if (live[j] != -1) drain_.push_back(j);
        }
        if (step_ - drain_start_ > static_cast<int64_t>(drain_.size()))
          throw corrupt("step past the end");
        for (int64_t s = drain_start_; s < step_; ++s) live[TakeDrainSlot(s, &drain_)] = -1;
      }
    }

    // Re-read from the anchor, keeping the elements still buffered.
    std::vector<std::pair<int64_t, int64_t>> wanted;  // (input position, slot)
    for (int64_t j = 0; j < buffer_; ++j) {
      if (live[j] == -1) continue;
      if (live[j] < anchor) throw corrupt("anchor after a buffered element");
      wanted.emplace_back(live[j], j);
    }
    std::sort(wanted.begin(), wanted.end());
    slots_.assign(buffer_, std::nullopt);
    anchors_.push_back({anchor, r.ChildNode(kInputKey)});
    size_t next_wanted = 0;
    const int64_t replay_end =
        wanted.empty() ? anchor : (input_done_ ? wanted.back().first + 1 : read_);
    for (int64_t position = anchor; position < replay_end; ++position) {
      if (position >= buffer_ && (position - buffer_) % block_ == 0 && position != anchor) {
        AddAnchor(position, input_->SaveNode());
      }
      std::optional<Element> e = errors_.Replay(*input_, position, dataset());
      ++replayed_;
      if (!e)
        throw corrupt("the input ended at position " + std::to_string(position) + " during replay");
      if (next_wanted < wanted.size() && wanted[next_wanted].first == position) {
        slots_[wanted[next_wanted++].second] = std::move(e);
      }
    }
    // Past the last element read, the errors the live run raised since: the input moved past
    // them. Once the input has ended nothing reads it again.
    if (input_done_) {
      errors_.EndReplay();
    } else {
      errors_.ReplayTrailing(*input_, read_, dataset());
    }
  }

 private:
  struct Anchor {
    int64_t index;   // input position of the next element read after `node`
    StateNode node;  // the input's state there
  };

  // The state does not hold buffer_size, but its counters imply it once the buffer has filled:
  // read = buffer_size + step while the input lasts, and the read that found the input's end
  // came at step drain_start - 1. Under allow_changes a different one is refused, naming it:
  // which element sits in which slot follows from the picks of the saved size, so under another
  // size the same counters name other elements (repeats and losses). A buffer that had not
  // filled, or that holds the whole input (the end found while filling), holds elements
  // 0..read-1 in slots 0..read-1 whatever the size: restored if they fit.
  void CheckSavedBufferSize() const {
    if (!RestoreAllowsChanges()) return;  // strict: the fingerprint matched; the checks follow
    std::string saved;  // the saved size, as far as the counters tell, when it is not this one
    if (filled_ && !input_done_ && read_ - step_ > 0 && read_ - step_ != buffer_) {
      saved = std::to_string(read_ - step_);
    } else if (filled_ && input_done_ && drain_start_ > 0 && read_ - drain_start_ >= 0 &&
               read_ - drain_start_ + 1 != buffer_) {
      saved = std::to_string(read_ - drain_start_ + 1);
    } else if (drain_start_ == 0 && (!filled_ || input_done_) && read_ > buffer_) {
      saved = std::to_string(read_ + 1) + " or more";  // the next read (the end, or an error)
    }
    if (saved.empty()) return;
    throw ParameterChangeError(
        "shuffle(" + dataset().params() + ")", "buffer_size", saved,
        "a shuffle's position is a step in the order of its buffer size, so under another size "
        "it names other elements");
  }

  void SetKeys() {
    key_ = seed_.Key();
    drain_key_ = MixKey(key_, 0x64726169ULL);
    next_pick_step_ = -1;  // picked with the old key
  }

  // The slot emitted at steady step s: a pure function of (key, s).
  int64_t PickSlot(int64_t s) const {
    int64_t offset = s % block_;
    if (offset % kSweepEvery == 0) {
      IndexPermutation sweep(buffer_, MixKey(key_, static_cast<uint64_t>(s / block_)));
      return sweep(offset / kSweepEvery);
    }
    return UniformIndex(CounterHash(key_, static_cast<uint64_t>(s)), buffer_);
  }

  // Draining: a uniformly random remaining slot, removed from `slots` (swap with the last).
  int64_t TakeDrainSlot(int64_t s, std::vector<int64_t>* slots) const {
    int64_t r = UniformIndex(CounterHash(drain_key_, static_cast<uint64_t>(s)),
                             static_cast<int64_t>(slots->size()));
    int64_t j = (*slots)[r];
    (*slots)[r] = slots->back();
    slots->pop_back();
    return j;
  }

  Element TakeSlot(int64_t j) {
    Element out = std::move(*slots_[j]);
    slots_[j].reset();
    return out;
  }

  void Fill() {
    if (anchors_.empty()) AddAnchor(read_, input_->SaveNode());
    slots_.resize(buffer_);
    while (read_ < buffer_) {
      std::optional<Element> e = errors_.Read(*input_, read_);
      if (!e) {
        filled_ = true;
        StartDrain();
        return;
      }
      slots_[read_++] = std::move(e);
    }
    filled_ = true;
  }

  void StartDrain() {
    input_done_ = true;
    drain_start_ = step_;
    drain_.clear();
    for (int64_t j = 0; j < buffer_; ++j) {
      if (slots_[j]) drain_.push_back(j);
    }
  }

  // Every element buffered after `steps` steady steps was read at or after this position: the
  // last complete block emptied (and refilled) every slot.
  int64_t OldestBufferedBound(int64_t steps) const {
    int64_t complete_block = steps / block_ - 1;
    return complete_block < 0 ? 0 : buffer_ + complete_block * block_;
  }

  const Anchor& AnchorFor(int64_t steps) const {
    const int64_t bound = OldestBufferedBound(steps);
    const Anchor* best = &anchors_.front();
    for (const auto& anchor : anchors_) {
      if (anchor.index <= bound) best = &anchor;
    }
    return *best;
  }

  void AddAnchor(int64_t index, StateNode node) {
    anchors_.push_back({index, std::move(node)});
    // Drop the anchors older than the one a save needs now (the bound only grows).
    const int64_t bound = OldestBufferedBound(step_);
    while (anchors_.size() > 1 && anchors_[1].index <= bound) anchors_.pop_front();
    errors_.DropBefore(anchors_.front().index);
  }

  const int64_t buffer_;
  const int64_t block_;
  SeedEpoch seed_;
  uint64_t key_ = 0, drain_key_ = 0;

  std::vector<std::optional<Element>> slots_;
  int64_t next_pick_step_ = -1;  // PickSlot(next_pick_step_) == next_pick_, computed a step early
  int64_t next_pick_ = 0;
  int64_t step_ = 0;
  int64_t read_ = 0;
  bool filled_ = false;
  bool input_done_ = false;
  int64_t drain_start_ = 0;
  std::vector<int64_t> drain_;  // slots still full once the input has ended
  std::deque<Anchor> anchors_;  // increasing index; at most three
  InputErrorLog errors_;        // the input's errors since the oldest anchor
  int64_t replayed_ = 0;        // elements re-read by RestoreInternal
};

}  // namespace

DatasetPtr Shuffle(DatasetPtr input, int64_t buffer_size, std::optional<int64_t> seed,
                   bool reshuffle_each_iteration) {
  CheckInput(input, "shuffle");
  CheckPositive(buffer_size, "shuffle", "buffer_size");
  if (buffer_size > (int64_t{1} << 40)) {
    throw InvalidArgumentError("shuffle: buffer_size " + std::to_string(buffer_size) +
                               " is too large");
  }
  return std::make_shared<ShuffleDataset>(std::move(input), buffer_size, seed,
                                          reshuffle_each_iteration);
}

}  // namespace inputpipe
