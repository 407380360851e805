// with_options(options): the input's elements, with `options` (inputpipe/options.h) in force
// for the iterators made below it. The options travel in a thread-local (core/options_context.h):
// this op's iterator puts its merged options in force while it makes its input's iterator and
// around every call into it (GetNext, save, restore), so an iterator made later below it (each
// epoch of a repeat, a restore's fresh tree) sees them too, and WorkerThreads copies them into
// the threads it starts (a prefetch's thread making the next epoch's iterators).
//
// Identity: only the options that change the output enter the fingerprint (deterministic=false,
// which lets parallel maps and parallel interleaves reorder). With none of them the op is
// transparent (Dataset::transparent()): the pipeline and the state are the input's, so adding,
// removing or changing threading or autotune options keeps every checkpoint restorable. With
// them it is the op "options(deterministic=false)" and its state a node over its input's.
#include <memory>

#include "core/op_skeleton.h"
#include "core/options_context.h"
#include "inputpipe/options.h"

namespace inputpipe {

namespace {
thread_local std::shared_ptr<const Options> current_options;

const char* Bool(bool value) { return value ? "true" : "false"; }

class OptionsIterator;

class OptionsDataset : public UnaryDataset {
 public:
  OptionsDataset(DatasetPtr input, Options options)
      : UnaryDataset(std::move(input)), options(std::move(options)) {}

  std::string op_name() const override { return "options"; }
  std::string params() const override { return options.OutputParams(); }
  bool transparent() const override { return params().empty(); }

  const Options options;

 protected:
  std::unique_ptr<Iterator> MakeIteratorInternal() const override;
};

class OptionsIterator : public UnaryIterator<OptionsDataset> {
 public:
  // REQUIRES: made under an OptionsScope of `merged` (MakeIteratorInternal).
  OptionsIterator(const OptionsDataset& ds, std::shared_ptr<const Options> merged)
      : UnaryIterator(ds), merged_(std::move(merged)) {}

 protected:
  std::optional<Element> GetNextInternal() override {
    OptionsScope scope(merged_);
    return input_->GetNext();
  }
  void SaveInternal(StateWriter& w) override {
    OptionsScope scope(merged_);
    SaveInput(w);
  }
  void RestoreInternal(StateReader& r) override {
    OptionsScope scope(merged_);
    RestoreInput(r);
  }
  // Transparent: the input's node stands for this op's.
  StateNode SaveNodeInternal(bool for_bytes) override {
    if (!dataset().transparent()) return Iterator::SaveNodeInternal(for_bytes);
    OptionsScope scope(merged_);
    return input_->SaveNode(for_bytes);
  }
  void RestoreNodeInternal(const StateNode& node) override {
    if (!dataset().transparent()) return Iterator::RestoreNodeInternal(node);
    OptionsScope scope(merged_);
    input_->RestoreNode(node);
  }

 private:
  std::shared_ptr<const Options> merged_;
};

std::unique_ptr<Iterator> OptionsDataset::MakeIteratorInternal() const {
  const std::shared_ptr<const Options>& outer = CurrentOptionsPtr();
  auto merged = std::make_shared<const Options>(outer ? options.MergedUnder(*outer) : options);
  OptionsScope scope(merged);
  return std::make_unique<OptionsIterator>(*this, merged);
}

void MergeInto(const Dataset& ds, Options* out) {
  if (const auto* op = dynamic_cast<const OptionsDataset*>(&ds))
    *out = op->options.MergedUnder(*out);
  for (const auto& input : ds.inputs()) MergeInto(*input, out);
}

void CheckPositiveOption(const std::optional<int64_t>& value, const char* name) {
  if (value && *value <= 0) {
    throw InvalidArgumentError(std::string("with_options: ") + name + " must be positive, got " +
                               std::to_string(*value));
  }
}
}  // namespace

const std::shared_ptr<const Options>& CurrentOptionsPtr() { return current_options; }

const Options& CurrentOptions() {
  static const Options kNone;
  return current_options ? *current_options : kNone;
}

OptionsScope::OptionsScope(std::shared_ptr<const Options> options)
    : previous_(std::exchange(current_options, std::move(options))) {}
OptionsScope::~OptionsScope() { current_options = std::move(previous_); }

Options Options::MergedUnder(const Options& outer) const {
  Options merged = *this;
  if (outer.deterministic) merged.deterministic = outer.deterministic;
  if (outer.private_threadpool_size) merged.private_threadpool_size = outer.private_threadpool_size;
  if (outer.max_intra_op_parallelism) {
    merged.max_intra_op_parallelism = outer.max_intra_op_parallelism;
  }
  if (outer.autotune_enabled) merged.autotune_enabled = outer.autotune_enabled;
  if (outer.external_state_policy) merged.external_state_policy = outer.external_state_policy;
  return merged;
}

std::string Options::OutputParams() const {
  return deterministic == false ? "deterministic=false" : "";
}

std::string Options::ToString() const {
  std::string out;
  auto add = [&out](const std::string& item) { out += (out.empty() ? "" : ", ") + item; };
  if (deterministic) add(std::string("deterministic=") + Bool(*deterministic));
  if (private_threadpool_size) {
    add("private_threadpool_size=" + std::to_string(*private_threadpool_size));
  }
  if (max_intra_op_parallelism) {
    add("max_intra_op_parallelism=" + std::to_string(*max_intra_op_parallelism));
  }
  if (autotune_enabled) add(std::string("autotune_enabled=") + Bool(*autotune_enabled));
  if (external_state_policy) {
    static const char* kNames[] = {"fail", "warn", "ignore"};
    add(std::string("external_state_policy=") + kNames[static_cast<int>(*external_state_policy)]);
  }
  return out;
}

DatasetPtr WithOptions(DatasetPtr input, Options options) {
  CheckInput(input, "with_options");
  CheckPositiveOption(options.private_threadpool_size, "private_threadpool_size");
  CheckPositiveOption(options.max_intra_op_parallelism, "max_intra_op_parallelism");
  return std::make_shared<OptionsDataset>(std::move(input), std::move(options));
}

Options PipelineOptions(const Dataset& dataset) {
  Options merged;
  // Pre-order: an outer options op is met first, so each inner one merges under what is found.
  MergeInto(dataset, &merged);
  return merged;
}

}  // namespace inputpipe
