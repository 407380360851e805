// scan(initial_state, fn): fn(state, element) -> (new state, output), the state carried from
// one element to the next (tf.data's Dataset.scan).
//
// State: the input's, plus the scan state itself under "scan_state" (core/element_codec.h).
// It is the one op whose saved state holds values: the scan state depends on every element
// before it, so no position can stand for it short of replaying the input from the start. A
// saved state is therefore as large as the user's scan state: keep it to counters and small
// accumulators (a running sum, an RNG key), not to buffers of elements. Not random-access, for
// the same reason; cardinality is the input's.
#include "core/element_codec.h"
#include "core/op_skeleton.h"
#include "core/tensor_ops.h"
#include "inputpipe/ops.h"
#include "ops/element_spec.h"

namespace inputpipe {

namespace {
constexpr char kScanState[] = "scan_state";

class ScanIterator;

class ScanDataset : public OpDataset<ScanDataset, ScanIterator, SequentialUnaryDataset> {
 public:
  ScanDataset(DatasetPtr input, Element initial_state, ScanFn fn, FunctionOptions options)
      : OpDataset(std::move(input)),
        initial_state(std::move(initial_state)),
        fn(std::move(fn)),
        options(std::move(options)),
        initial_digest_(ElementDigest(this->initial_state)) {}

  std::string op_name() const override { return "scan"; }
  std::string params() const override {
    return FnParam("fn", options) + ", initial_state=" + initial_digest_;
  }

  // The state fn returned, checked against initial_state's structure and dtypes.
  void CheckState(const Element& state) const {
    if (!SameElementSpec(initial_state, state)) {
      throw InvalidArgumentError("scan(" + params() + "): scan_func returned a state of " +
                                 state.StructureString() + "; the initial state is " +
                                 initial_state.StructureString() +
                                 " (the structure and dtypes must stay the same)");
    }
  }

  const Element initial_state;
  const ScanFn fn;
  const FunctionOptions options;

 private:
  const std::string initial_digest_;
};

class ScanIterator : public UnaryIterator<ScanDataset> {
 public:
  explicit ScanIterator(const ScanDataset& ds) : UnaryIterator(ds), state_(ds.initial_state) {}

 protected:
  std::optional<Element> GetNextInternal() override {
    std::optional<Element> element = input_->GetNext();
    if (!element) return std::nullopt;
    auto [state, output] = dataset().fn(state_, *element);
    dataset().CheckState(state);
    state_ = std::move(state);
    return std::move(output);
  }
  void SaveInternal(StateWriter& w) override {
    ReportIfStateful(w, dataset().options, "scan");
    SaveInput(w);
    w.WriteBytes(kScanState, EncodeElement(state_, "scan"));
  }
  void RestoreInternal(StateReader& r) override {
    RestoreInput(r);
    Element state = DecodeElement(r.ReadBytes(kScanState), "scan(" + dataset().params() + ")");
    if (!SameElementSpec(dataset().initial_state, state)) {
      throw DataLossError("corrupt state: scan(" + dataset().params() + "): the saved scan state " +
                          state.StructureString() + " does not match the initial state " +
                          dataset().initial_state.StructureString());
    }
    state_ = std::move(state);
  }

 private:
  Element state_;  // the state fn gets with the next element
};
}  // namespace

DatasetPtr Scan(DatasetPtr input, Element initial_state, ScanFn fn, FunctionOptions options) {
  CheckInput(input, "scan");
  CheckFn(fn, "scan", "scan_func");
  EncodeElement(initial_state, "scan: initial_state");  // a dataset cannot be saved: say so now
  return std::make_shared<ScanDataset>(std::move(input), std::move(initial_state), std::move(fn),
                                       std::move(options));
}

}  // namespace inputpipe
