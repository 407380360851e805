// from_generator(make, name): the elements of a user generator, one fresh generator per
// iterator. State: the count of elements produced, whether the generator ended, and — the one
// user payload a state may hold — the generator's own get_state() bytes. A generator without
// get_state/set_state is external state (the save policy decides; a restore restarts it).
#include "core/op_skeleton.h"
#include "inputpipe/ops.h"

namespace inputpipe {

namespace {
constexpr char kProduced[] = "produced";               // elements produced so far (informational)
constexpr char kExhausted[] = "exhausted";             // the generator returned end of sequence
constexpr char kGeneratorState[] = "generator_state";  // get_state() bytes, when checkpointable

class FromGeneratorIterator;

class FromGeneratorDataset
    : public OpDataset<FromGeneratorDataset, FromGeneratorIterator> {
 public:
  FromGeneratorDataset(std::function<Generator()> make, std::string name)
      : make_(std::move(make)), name_(std::move(name)) {}

  std::string op_name() const override { return "from_generator"; }
  std::string params() const override { return "fn=" + name_; }
  int64_t Cardinality() const override { return kUnknownCardinality; }

  Generator MakeGenerator() const {
    Generator generator = make_();
    if (!generator.next) {
      throw InvalidArgumentError("from_generator(fn=" + name_ +
                                 "): the generator has no next function");
    }
    if (static_cast<bool>(generator.get_state) != static_cast<bool>(generator.set_state)) {
      throw InvalidArgumentError("from_generator(fn=" + name_ +
                                 "): get_state and set_state must be given together");
    }
    return generator;
  }
  const std::string& name() const { return name_; }

 private:
  const std::function<Generator()> make_;
  const std::string name_;
};

class FromGeneratorIterator : public DatasetIterator<FromGeneratorDataset> {
 public:
  using DatasetIterator::DatasetIterator;

 protected:
  std::optional<Element> GetNextInternal() override {
    if (exhausted_) return std::nullopt;
    EnsureGenerator();
    std::optional<Element> element = generator_->next();
    if (!element) {
      exhausted_ = true;
      return std::nullopt;
    }
    ++produced_;
    return element;
  }

  void SaveInternal(StateWriter& w) override {
    w.WriteInt(kProduced, produced_);
    w.WriteBool(kExhausted, exhausted_);
    if (exhausted_) return;
    // Made now if not yet, so a save before the first GetNext already knows which kind it is.
    EnsureGenerator();
    if (!generator_->get_state) {
      w.ReportExternalState("from_generator(fn=" + dataset().name() +
                            "): the generator has no get_state()/set_state()");
    } else {
      w.WriteBytes(kGeneratorState, generator_->get_state());
    }
  }

  void RestoreInternal(StateReader& r) override {
    produced_ = ReadCounter(r, kProduced);
    exhausted_ = r.ReadBool(kExhausted);
    if (exhausted_) return;
    // Written only by a generator with get_state().
    if (const std::string* bytes = r.FindBytes(kGeneratorState)) {
      EnsureGenerator();
      if (!generator_->set_state) {
        throw PipelineMismatchError("from_generator(fn=" + dataset().name() +
                                    "): the state holds a generator state but this generator has "
                                    "no set_state()");
      }
      generator_->set_state(*bytes);
    }
  }

 private:
  void EnsureGenerator() {
    if (!generator_) generator_ = dataset().MakeGenerator();
  }

  std::optional<Generator> generator_;
  int64_t produced_ = 0;
  bool exhausted_ = false;
};

}  // namespace

DatasetPtr FromGenerator(std::function<Generator()> make, std::string name) {
  CheckFn(make, "from_generator", "the generator factory");
  if (name.empty()) throw InvalidArgumentError("from_generator: name is empty");
  return std::make_shared<FromGeneratorDataset>(std::move(make), std::move(name));
}

}  // namespace inputpipe
