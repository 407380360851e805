// prefetch(buffer_size): a background thread reads the input ahead into a buffer of up to
// buffer_size elements (0: no thread, reads in the caller's thread).
//
// kAutotune: the buffer follows what it measures. It starts at kAutotuneStart elements and
// doubles, up to kAutotuneMaxElements, when the consumer finds it empty although it was full
// since the consumer last waited: the producer keeps up on average but the buffer was too
// small to cover a slow stretch of input (or a burst of quick steps), so it reads further
// ahead from then on. A producer slower than its consumer throughout never fills the buffer,
// and a larger one would only let it run further ahead of a consumer it cannot keep up with,
// so the size stays. It never shrinks. However many elements that allows, the producer stops
// reading ahead once kAutotuneMaxBytes of element data are buffered (ElementBytes), so large
// elements are not held by the dozen.
//
// State: the input's state paired with the last element the consumer took. The producer reads
// through a PairedReader (threading/paired_reader.h: each element with the input's state right
// after it) and buffers the pairs; Save reports the state of the last item handed out (or the
// input's state before the thread started), so it never waits for the producer and never holds
// a buffered element. Restore restores the input to that state; the thread starts again at the
// first GetNext.
//
// The producer also encodes each state it buffers (EncodeStateNode), so that Save, called on
// the training thread a batch or more after the state was captured on the producer's core,
// copies one run of bytes instead of copying and encoding a tree that is no longer in that
// thread's caches (a third of such a save's time). The bytes are the same either way.
//
// The buffer size does not change the output, so it is not in the fingerprint: a state saved
// with one buffer size restores into a pipeline with another.
#include <deque>
#include <memory>

#include "core/interrupt.h"
#include "core/op_skeleton.h"
#include "core/op_stats.h"
#include "core/tensor_ops.h"
#include "inputpipe/ops.h"
#include "ops/threading/paired_reader.h"
#include "ops/threading/worker_threads.h"
#include "util/mutex.h"

namespace inputpipe {

namespace {
constexpr int64_t kAutotuneStart = 16;
constexpr int64_t kAutotuneMaxElements = 256;
constexpr size_t kAutotuneMaxBytes = size_t{64} << 20;

class PrefetchIterator;

// A buffered read, with its state encoded ahead for Save (null at the end of the input).
struct PrefetchedItem {
  PairedElement item;
  std::shared_ptr<const EncodedStateNode> encoded;
  size_t bytes = 0;  // ElementBytes of the element, under kAutotune (0 otherwise)
};

std::shared_ptr<const EncodedStateNode> Encoded(const StateNode& node) {
  return std::make_shared<const EncodedStateNode>(EncodeStateNode(node));
}

class PrefetchDataset : public OpDataset<PrefetchDataset, PrefetchIterator, UnaryDataset> {
 public:
  PrefetchDataset(DatasetPtr input, int64_t buffer_size)
      : OpDataset(std::move(input)), buffer_size(buffer_size) {}

  std::string op_name() const override { return "prefetch"; }
  std::string params() const override { return ""; }

  bool autotune() const { return buffer_size == kAutotune; }

  const int64_t buffer_size;  // or kAutotune
};

class PrefetchIterator : public UnaryIterator<PrefetchDataset> {
 public:
  explicit PrefetchIterator(const PrefetchDataset& ds)
      : UnaryIterator(ds), capacity_(ds.autotune() ? kAutotuneStart : ds.buffer_size) {}

 protected:
  std::optional<Element> GetNextInternal() override EXCLUDES(mu_) {
    if (dataset().buffer_size == 0) return input_->GetNext();
    if (!threads_.started()) Start();
    PrefetchedItem item;
    bool wake_producer;
    {
      InterruptibleWait wait;  // an interrupt leaves before the item is taken: nothing lost
      MutexLock lock(mu_);
      if (buffer_.empty() && !finished_ && dataset().autotune()) {
        // The buffer was full since the last wait, yet ran dry: too small for the stretch.
        if (filled_since_wait_ && capacity_ < kAutotuneMaxElements) capacity_ *= 2;
        filled_since_wait_ = false;
      }
      while (buffer_.empty() && !finished_ && !threads_.stopping()) wait.Wait(consumer_cv_, mu_);
      threads_.RethrowIfFailed();
      if (buffer_.empty()) return std::nullopt;
      item = std::move(buffer_.front());
      buffer_.pop_front();
      buffered_bytes_ -= item.bytes;
      ReportBufferFill(static_cast<int64_t>(buffer_.size()), capacity_);
      // Wake the producer only once the buffer is half empty: it then refills a run of
      // elements instead of waking for each one.
      wake_producer = static_cast<int64_t>(buffer_.size()) <= capacity_ / 2;
    }
    if (wake_producer) producer_cv_.Signal();
    last_taken_ = std::move(item.item.state);
    last_taken_encoded_ = std::move(item.encoded);
    if (item.item.error) std::rethrow_exception(item.item.error);
    return std::move(item.item.element);
  }

  void SaveInternal(StateWriter& w) override EXCLUDES(mu_) {
    if (!threads_.started()) {  // no thread: the input is ours to read
      SaveInput(w);
      return;
    }
    // No lock: last_taken_ is the consumer's (this thread's), so a save never waits for a
    // producer that holds mu_, even one the OS has descheduled with it.
    if (w.for_bytes()) {
      w.WriteEncodedChild(kInputKey, last_taken_encoded_);
    } else {
      w.WriteChildNode(kInputKey, *last_taken_);
    }
  }

  void RestoreInternal(StateReader& r) override { RestoreInput(r); }

 private:
  // Called by the consumer before the first read: from here on only the producer touches
  // input_ (through reader_).
  void Start() EXCLUDES(mu_) {
    reader_ = PairedReader(*input_);
    last_taken_ = reader_.last_state();
    last_taken_encoded_ = Encoded(*last_taken_);
    threads_.Start(1, [this] { Produce(); });
  }

  void Produce() EXCLUDES(mu_) {
    while (true) {
      {
        MutexLock lock(mu_);
        // 1. Wait for room in the buffer (or for the destructor).
        while (!threads_.stopping() && !HasRoom()) producer_cv_.Wait(mu_);
        if (threads_.stopping()) return;
      }
      // 2. Read one element and its state, without the lock, so that a Save on the consumer's
      //    thread never waits for a slow read.
      PrefetchedItem item{reader_.Read(), nullptr};
      if (!item.item.end()) {
        OpWorkScope work(stats_counters());  // encoding ahead: prefetch's own time
        item.encoded = Encoded(*item.item.state);
        if (dataset().autotune() && item.item.element) {
          item.bytes = ElementBytes(*item.item.element);
        }
      }
      // 3. Publish the pair (or the end).
      MutexLock lock(mu_);
      if (item.item.end()) {
        finished_ = true;
        consumer_cv_.Signal();
        return;
      }
      buffered_bytes_ += item.bytes;
      buffer_.push_back(std::move(item));
      if (!HasRoom()) filled_since_wait_ = true;
      ReportBufferFill(static_cast<int64_t>(buffer_.size()), capacity_);
      consumer_cv_.Signal();
    }
  }

  // Room for one more element: under the capacity and, under kAutotune, under the byte bound
  // (an empty buffer always has room, however large the element).
  bool HasRoom() const REQUIRES(mu_) {
    if (static_cast<int64_t>(buffer_.size()) >= capacity_) return false;
    return !dataset().autotune() || buffer_.empty() || buffered_bytes_ < kAutotuneMaxBytes;
  }

  // The producer's alone once it runs (the consumer's before).
  PairedReader reader_;

  Mutex mu_;
  CondVar producer_cv_;  // room in the buffer, or stopping
  CondVar consumer_cv_;  // an item, finished_, or stopping
  std::deque<PrefetchedItem> buffer_ GUARDED_BY(mu_);
  bool finished_ GUARDED_BY(mu_) = false;  // the input ended
  int64_t capacity_ GUARDED_BY(mu_);        // buffer_size, or kAutotune's current size
  size_t buffered_bytes_ GUARDED_BY(mu_) = 0;  // the items' bytes (kAutotune only)
  // The buffer was full (no room) since the consumer last found it empty (kAutotune).
  bool filled_since_wait_ GUARDED_BY(mu_) = false;
  // The consumer's position: the state paired with the last item GetNext took. Only the
  // consumer's calls (GetNext, Save: one thread at a time) touch it, so it needs no lock.
  std::shared_ptr<const StateNode> last_taken_;
  std::shared_ptr<const EncodedStateNode> last_taken_encoded_;  // EncodeStateNode(*last_taken_)
  WorkerThreads threads_{mu_, {&producer_cv_, &consumer_cv_}};  // last: joined first
};

}  // namespace

DatasetPtr Prefetch(DatasetPtr input, int64_t buffer_size) {
  CheckInput(input, "prefetch");
  if (buffer_size < 0 && buffer_size != kAutotune) {
    throw InvalidArgumentError("prefetch: buffer_size must be >= 0 or AUTOTUNE (-1), got " +
                               std::to_string(buffer_size));
  }
  return std::make_shared<PrefetchDataset>(std::move(input), buffer_size);
}

}  // namespace inputpipe
