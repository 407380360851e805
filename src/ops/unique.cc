// unique(): each distinct element once, in order of first appearance (tf.data's unique).
// Elements: one tensor of an integer, bool or string dtype (CheckUniqueElement).
//
// State: the set of elements seen is unavoidable state. It is kept (live and saved) as 64-bit
// content hashes (HashElement: structure, dtype, shape, bytes), never as values: 8 bytes per
// distinct element in the "seen" blob, plus the input's state. Two distinct elements with the
// same hash would make the second one look seen: probability about d^2 / 2^65 for d distinct
// elements (3e-8 at a million). The live iterator uses the same hashes, so a restored stream
// always equals the uninterrupted one.
#include <unordered_set>

#include "core/op_skeleton.h"
#include "core/tensor_ops.h"
#include "inputpipe/ops.h"
#include "util/coding.h"

namespace inputpipe {

namespace {
constexpr char kSeen[] = "seen";  // fixed64 hashes, in order of first appearance

// tf.data's unique takes one int32, int64 or string component. The other integer dtypes and
// bool compare as exactly; floats do not (0.0 == -0.0 with different bytes, NaN != NaN), and a
// tuple or dict is not one component: both are rejected rather than given a meaning of ours.
void CheckUniqueElement(const Element& element) {
  bool ok = element.is_tensor() && !DTypeIsFloating(element.tensor().dtype());
  if (!ok) {
    throw InvalidArgumentError(
        "unique: elements must be one integer, bool or string tensor (tf.data's unique takes "
        "int32, int64 or string), got " + element.StructureString() +
        (element.is_tensor() ? "; floats have no exact equality (0.0 and -0.0, NaN)" : ""));
  }
}

class UniqueIterator;

class UniqueDataset : public OpDataset<UniqueDataset, UniqueIterator, SequentialUnaryDataset> {
 public:
  using OpDataset::OpDataset;

  std::string op_name() const override { return "unique"; }
  std::string params() const override { return ""; }
  int64_t Cardinality() const override {
    return input_->Cardinality() == 0 ? 0 : kUnknownCardinality;
  }
};

class UniqueIterator : public UnaryIterator<UniqueDataset> {
 public:
  using UnaryIterator::UnaryIterator;

 protected:
  std::optional<Element> GetNextInternal() override {
    while (std::optional<Element> element = input_->GetNext()) {
      CheckUniqueElement(*element);
      uint64_t hash = HashElement(*element);
      if (seen_.insert(hash).second) {
        order_.push_back(hash);
        return element;
      }
    }
    return std::nullopt;
  }

  void SaveInternal(StateWriter& w) override {
    std::string seen;
    seen.reserve(order_.size() * 8);
    for (uint64_t hash : order_) PutFixed64(&seen, hash);
    w.WriteBytes(kSeen, std::move(seen));
    SaveInput(w);
  }

  void RestoreInternal(StateReader& r) override {
    const std::string& seen = r.ReadBytes(kSeen);
    if (seen.size() % 8 != 0) {
      throw DataLossError("corrupt state: unique's seen set has " + std::to_string(seen.size()) +
                          " bytes, not a multiple of 8");
    }
    for (size_t i = 0; i < seen.size(); i += 8) {
      uint64_t hash = DecodeFixed64(seen.data() + i);
      if (!seen_.insert(hash).second)
        throw DataLossError("corrupt state: unique's seen set repeats a hash");
      order_.push_back(hash);
    }
    RestoreInput(r);
  }

 private:
  std::unordered_set<uint64_t> seen_;
  std::vector<uint64_t> order_;  // the same hashes, in order: a deterministic state
};
}  // namespace

DatasetPtr Unique(DatasetPtr input) {
  CheckInput(input, "unique");
  // Checked now where the input can tell (its element 0), else at each element. A bad element
  // 0 is the iterator's to report (ignore_errors may skip it).
  if (input->IsRandomAccess() && input->Cardinality() > 0) {
    std::optional<Element> first;
    try {
      first = input->Get(0);
    } catch (const Error&) {
    }
    if (first) CheckUniqueElement(*first);
  }
  return std::make_shared<UniqueDataset>(std::move(input));
}

}  // namespace inputpipe
