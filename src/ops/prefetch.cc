// prefetch(buffer_size): a background thread reads the input ahead into a buffer of up to
// buffer_size elements (kAutotune: kAutotuneBuffer; 0: no thread, reads in the caller's thread).
//
// State: the input's state paired with the last element the consumer took. The producer
// captures input->SaveNode() right after reading each element and buffers the pair; Save
// reports the node of the last element handed out (or the input's state before the thread
// started), so it never waits for the producer and never holds a buffered element. Restore
// restores the input to that node; the thread starts again at the first GetNext.
//
// The buffer size does not change the output, so it is not in the fingerprint: a state saved
// with one buffer size restores into a pipeline with another.
#include <condition_variable>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>

#include "inputpipe/ops.h"

namespace inputpipe {

namespace {
constexpr char kInput[] = "input";
constexpr int64_t kAutotuneBuffer = 16;

class PrefetchDataset : public Dataset {
 public:
  PrefetchDataset(DatasetPtr input, int64_t buffer_size)
      : input_(std::move(input)),
        buffer_size_(buffer_size == kAutotune ? kAutotuneBuffer : buffer_size) {}

  std::string op_name() const override { return "prefetch"; }
  std::string params() const override { return ""; }
  std::vector<DatasetPtr> inputs() const override { return {input_}; }
  int64_t Cardinality() const override { return input_->Cardinality(); }
  bool IsRandomAccess() const override { return input_->IsRandomAccess(); }
  Element Get(int64_t index) const override { return input_->Get(index); }

 protected:
  std::unique_ptr<Iterator> MakeIteratorInternal() const override;

 private:
  friend class PrefetchIterator;
  const DatasetPtr input_;
  const int64_t buffer_size_;
};

class PrefetchIterator : public Iterator {
 public:
  explicit PrefetchIterator(const PrefetchDataset& ds)
      : Iterator(ds.shared()), ds_(ds), input_(ds.input_->MakeIterator()) {}

  ~PrefetchIterator() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      cancelled_ = true;
    }
    producer_cv_.notify_all();
    if (producer_.joinable()) producer_.join();
  }

 protected:
  std::optional<Element> GetNextInternal() override {
    if (ds_.buffer_size_ == 0) return input_->GetNext();
    if (!producer_.joinable()) Start();
    Item item;
    bool wake_producer;
    {
      std::unique_lock<std::mutex> lock(mu_);
      consumer_cv_.wait(lock, [&] { return !buffer_.empty() || finished_; });
      if (buffer_.empty()) return std::nullopt;
      item = std::move(buffer_.front());
      buffer_.pop_front();
      last_node_ = std::move(item.node);
      // Wake the producer only once the buffer is half empty: it then refills a run of
      // elements instead of waking for each one.
      wake_producer = static_cast<int64_t>(buffer_.size()) <= ds_.buffer_size_ / 2;
    }
    if (wake_producer) producer_cv_.notify_one();
    if (item.error) std::rethrow_exception(item.error);
    return std::move(item.element);
  }

  void SaveInternal(StateWriter& w) override {
    if (!producer_.joinable()) {  // no thread: the input is ours to read
      w.WriteChild(kInput, *input_);
      return;
    }
    std::shared_ptr<const StateNode> node;
    {
      std::lock_guard<std::mutex> lock(mu_);
      node = last_node_;
    }
    w.WriteChildNode(kInput, *node);
  }

  void RestoreInternal(StateReader& r) override { r.RestoreChild(kInput, *input_); }

 private:
  struct Item {
    std::optional<Element> element;
    std::exception_ptr error;
    std::shared_ptr<const StateNode> node;  // the input's state right after this element
  };

  // Called by the consumer before the first read: from here on only the producer touches
  // input_.
  void Start() {
    last_node_ = std::make_shared<const StateNode>(input_->SaveNode());
    last_produced_node_ = last_node_;
    producer_ = std::thread([this] { Produce(); });
  }

  void Produce() {
    while (true) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        // 1. Wait for room in the buffer (or for the destructor).
        producer_cv_.wait(lock, [&] {
          return cancelled_ || static_cast<int64_t>(buffer_.size()) < ds_.buffer_size_;
        });
        if (cancelled_) return;
      }
      // 2. Read one element and capture the input's state right after it, without the lock,
      //    so a Save on the consumer's thread never waits for a slow read.
      Item item;
      try {
        item.element = input_->GetNext();
        if (!item.element) {
          std::lock_guard<std::mutex> lock(mu_);
          finished_ = true;
          consumer_cv_.notify_one();
          return;
        }
        item.node = std::make_shared<const StateNode>(input_->SaveNode());
      } catch (...) {
        item.element.reset();
        item.error = std::current_exception();
        // The input's position after a failed read: whatever it reports now.
        try {
          item.node = std::make_shared<const StateNode>(input_->SaveNode());
        } catch (...) {
          std::lock_guard<std::mutex> lock(mu_);
          item.node = last_produced_node_;
        }
      }
      // 3. Publish the pair.
      std::lock_guard<std::mutex> lock(mu_);
      last_produced_node_ = item.node;
      buffer_.push_back(std::move(item));
      consumer_cv_.notify_one();
    }
  }

  const PrefetchDataset& ds_;
  // Read by the producer thread only once it runs; by the consumer before that.
  std::unique_ptr<Iterator> input_;
  std::thread producer_;

  std::mutex mu_;                                        // guards everything below
  std::condition_variable producer_cv_;                  // room in the buffer, or cancelled_
  std::condition_variable consumer_cv_;                  // an item, or finished_
  std::deque<Item> buffer_;                              // GUARDED_BY(mu_)
  std::shared_ptr<const StateNode> last_node_;           // GUARDED_BY(mu_): consumer's position
  std::shared_ptr<const StateNode> last_produced_node_;  // GUARDED_BY(mu_)
  bool finished_ = false;                                // GUARDED_BY(mu_): input ended
  bool cancelled_ = false;                               // GUARDED_BY(mu_)
};

std::unique_ptr<Iterator> PrefetchDataset::MakeIteratorInternal() const {
  return std::make_unique<PrefetchIterator>(*this);
}
}  // namespace

DatasetPtr Prefetch(DatasetPtr input, int64_t buffer_size) {
  if (!input) throw InvalidArgumentError("prefetch: input dataset is null");
  if (buffer_size < 0 && buffer_size != kAutotune) {
    throw InvalidArgumentError("prefetch: buffer_size must be >= 0 or AUTOTUNE (-1), got " +
                               std::to_string(buffer_size));
  }
  return std::make_shared<PrefetchDataset>(std::move(input), buffer_size);
}

}  // namespace inputpipe
