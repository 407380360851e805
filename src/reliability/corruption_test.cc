// Corruption of committed checkpoints and of state bytes.
//
//   - single-bit flips at >= 10,000 positions of committed checkpoint files (every bit of the
//     files when they are smaller than that) and of Iterator::Save() bytes of several pipelines;
//   - truncation at every offset of both;
//   - checksum-valid corruption: every integer of a decoded state tree set to hostile values and
//     re-encoded (what a buggy writer or a hand-edited state looks like).
// Every load must end in a typed error (DataLossError for flips and truncations, whose checksum
// or length cannot match), or, for re-encoded states, either a typed error or a restore that
// runs; after a typed error the iterator must be fresh (its next elements the pipeline's
// first ones, include/inputpipe/dataset.h); never a crash, a hang (a watchdog aborts after
// 60 s without progress) or a silent restore to another position. Through the hook, a corrupt
// newest checkpoint is skipped with a warning naming it and the previous one resumes exactly.
// Counts are printed.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <random>
#include <thread>

#include "hook/checkpoint_file.h"
#include "inputpipe/hook.h"
#include "inputpipe/ops.h"
#include "inputpipe/state.h"
#include "reliability/faulty_file_system.h"
#include "testing/exactness.h"

namespace inputpipe {
namespace {

using reliability::FaultyFileSystem;

constexpr int64_t kSampledFlips = 10'000;
constexpr int64_t kCompared = 3;  // elements compared after a restore

// Aborts the test binary when `Tick` is not called for 60 seconds: a load that hangs.
class Watchdog {
 public:
  Watchdog() : thread_([this] { Watch(); }) {}
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void Tick(const std::string& what) {
    std::lock_guard<std::mutex> lock(mu_);
    ++ticks_;
    what_ = what;
  }

 private:
  void Watch() {
    std::unique_lock<std::mutex> lock(mu_);
    int64_t seen = -1;
    while (!done_) {
      if (seen == ticks_) {
        std::cerr << "corruption_test: no progress for 60 s, hung in: " << what_ << std::endl;
        std::abort();
      }
      seen = ticks_;
      cv_.wait_for(lock, std::chrono::seconds(60), [&] { return done_; });
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  int64_t ticks_ = 0;
  std::string what_;
  std::thread thread_;
};

// Pipelines with varied state trees: threads, buffers, nesting, random sources.
std::vector<std::pair<std::string, std::function<DatasetPtr()>>> Pipelines() {
  auto id = [](const Element& e) { return e; };
  return {
      {"prefetch-parallel-map-batch-shuffle",
       [=] {
         return Prefetch(Map(Batch(Shuffle(Range(0, 3000), 64, 1), 4), id, {"id"}, 2), 2);
       }},
      {"interleave-parallel",
       [] {
         return Interleave(Range(0, 20), [](const Element& e) {
           int64_t x = e.tensor().scalar<int64_t>();
           return Range(x * 100, x * 100 + 37);
         }, 3, 2, 2, true, {"ranges"});
       }},
      {"repeat-batch-global-shuffle",
       [] { return Batch(Repeat(GlobalShuffle(Range(0, 500), 9), 3), 5); }},
      {"zip-enumerate-window-flat-map",
       [] {
         DatasetPtr windows = FlatMap(Window(Range(0, 400), 7, 3), [](const Element& e) {
           return e.dataset();
         }, {"flatten"});
         return Zip({Enumerate(windows), Skip(Take(Counter(5, 2), 10000), 3)});
       }},
      {"sample-from-datasets-unbatch",
       [] {
         return SampleFromDatasets({Unbatch(Batch(Range(0, 300), 7)), Range(1000, 1300)},
                                   {0.3, 0.7}, 11);
       }},
  };
}

std::vector<Element> NextN(Iterator& it, int64_t n) {
  std::vector<Element> out;
  for (int64_t i = 0; i < n; ++i) {
    auto e = it.GetNext();
    if (!e) break;
    out.push_back(testing::Materialize(*e));
  }
  return out;
}

// Positions to flip: every bit when there are at most `budget`, else `budget` sampled ones.
std::vector<int64_t> BitPositions(size_t bytes, int64_t budget, std::mt19937_64& rng) {
  std::vector<int64_t> bits;
  int64_t total = static_cast<int64_t>(bytes) * 8;
  if (total <= budget) {
    for (int64_t b = 0; b < total; ++b) bits.push_back(b);
  } else {
    for (int64_t i = 0; i < budget; ++i) bits.push_back(static_cast<int64_t>(rng() % total));
  }
  return bits;
}

std::string Flip(std::string bytes, int64_t bit) {
  bytes[bit / 8] = static_cast<char>(bytes[bit / 8] ^ (1 << (bit % 8)));
  return bytes;
}

struct Outcome {
  int64_t tried = 0;
  int64_t data_loss = 0;     // DataLossError
  int64_t other_typed = 0;   // another inputpipe::Error (e.g. PipelineMismatchError)
  int64_t restored_same = 0; // restored, and the continuation is the right one
  std::vector<std::string> failures;
};

// Restores `state` into a fresh iterator of `make()`: records the outcome. When `expected` is
// given, a successful restore must continue with it. A rejected restore must leave the
// iterator fresh: its next elements are `fresh` (the first ones of the pipeline), or, when
// `fresh` is empty (a reshuffling pipeline, whose every new iterator has another order),
// kCompared elements without error.
void TryRestore(const std::function<DatasetPtr()>& make, const std::string& state,
                const std::vector<Element>* expected, const std::vector<Element>& fresh,
                const std::string& what, Outcome& out) {
  ++out.tried;
  std::unique_ptr<Iterator> it = make()->MakeIterator();
  bool restored = false;
  try {
    it->Restore(state);
    restored = true;
    std::vector<Element> got = NextN(*it, kCompared);
    if (expected != nullptr && got != *expected) {
      out.failures.push_back(what + ": restored silently to another position");
    } else {
      ++out.restored_same;
    }
    return;
  } catch (const DataLossError&) {
    ++out.data_loss;
  } catch (const Error&) {
    ++out.other_typed;
  } catch (const std::exception& e) {
    out.failures.push_back(what + ": untyped exception: " + e.what());
    return;
  }
  if (restored) return;  // restored to a legal other position, whose data then failed
  try {
    if (it->started()) out.failures.push_back(what + ": started after the rejected restore");
    std::vector<Element> got = NextN(*it, kCompared);
    if (fresh.empty() ? got.size() != static_cast<size_t>(kCompared) : got != fresh) {
      out.failures.push_back(what + ": after the rejected restore, not the fresh stream");
    }
  } catch (const std::exception& e) {
    out.failures.push_back(what + ": after the rejected restore, GetNext threw: " + e.what());
  }
}

// The first elements of `make()`'s iterators, when every new iterator yields them (a failed
// restore leaves a new one in place); empty for a reshuffling pipeline.
std::vector<Element> FreshStream(const std::function<DatasetPtr()>& make) {
  DatasetPtr ds = make();
  std::vector<Element> first = NextN(*ds->MakeIterator(), kCompared);
  if (NextN(*ds->MakeIterator(), kCompared) != first) return {};
  return first;
}

int64_t g_corruptions = 0;

TEST(ReliabilityCorruptionTest, StateBytesBitFlipsAndTruncations) {
  Watchdog watchdog;
  std::mt19937_64 rng(20261127);
  Outcome flips, truncations;
  for (const auto& [name, make] : Pipelines()) {
    const std::vector<Element> fresh = FreshStream(make);
    auto it = make()->MakeIterator();
    NextN(*it, 7);
    const std::string state = it->Save();
    const std::vector<Element> expected = NextN(*it, kCompared);
    // The intact state resumes exactly (the baseline the corruptions are compared with).
    Outcome intact;
    TryRestore(make, state, &expected, fresh, name, intact);
    ASSERT_EQ(intact.restored_same, 1) << name;
    for (int64_t bit : BitPositions(state.size(), kSampledFlips / 5, rng)) {
      std::string what = name + ": state bit " + std::to_string(bit) + " flipped";
      watchdog.Tick(what);
      TryRestore(make, Flip(state, bit), &expected, fresh, what, flips);
    }
    for (size_t n = 0; n < state.size(); ++n) {
      std::string what = name + ": state truncated to " + std::to_string(n) + " bytes";
      watchdog.Tick(what);
      TryRestore(make, state.substr(0, n), &expected, fresh, what, truncations);
    }
  }
  EXPECT_EQ(flips.failures, std::vector<std::string>{});
  EXPECT_EQ(truncations.failures, std::vector<std::string>{});
  // A flipped bit or a missing byte can never pass the checksum and length checks.
  EXPECT_EQ(flips.data_loss, flips.tried);
  EXPECT_EQ(truncations.data_loss, truncations.tried);
  EXPECT_GE(flips.tried, kSampledFlips);
  g_corruptions += flips.tried + truncations.tried;
  std::cout << "[reliability] state bytes: " << flips.tried << " bit flips, " << truncations.tried
            << " truncations, all DataLossError" << std::endl;
}

// Every integer of the state tree set to hostile values, re-encoded with a valid checksum.
void MutateInts(StateNode& node, std::vector<int64_t*>& out) {
  for (auto& [key, value] : node.ints) out.push_back(&value);
  for (auto& child : node.children) MutateInts(child, out);
}

TEST(ReliabilityCorruptionTest, ChecksumValidHostileIntegersNeverCrashOrHang) {
  Watchdog watchdog;
  Outcome outcome;
  const int64_t hostile[] = {0, -1, 1, -(int64_t{1} << 62), int64_t{1} << 62,
                             std::numeric_limits<int64_t>::min(),
                             std::numeric_limits<int64_t>::max()};
  for (const auto& [name, make] : Pipelines()) {
    const std::vector<Element> fresh = FreshStream(make);
    auto it = make()->MakeIterator();
    NextN(*it, 7);
    DecodedState decoded = DecodeState(it->Save());
    std::vector<int64_t*> ints;
    MutateInts(decoded.root, ints);
    for (size_t i = 0; i < ints.size(); ++i) {
      int64_t original = *ints[i];
      for (int64_t value : hostile) {
        *ints[i] = value == 1 ? original + 1 : value;
        std::string what = name + ": int #" + std::to_string(i) + " = " + std::to_string(*ints[i]);
        watchdog.Tick(what);
        // A changed integer may be a legal other position: only a crash, a hang or an untyped
        // exception is a failure here (ASan/UBSan runs make this strict).
        TryRestore(make, EncodeState(decoded.pipeline, decoded.root), nullptr, fresh, what,
                   outcome);
      }
      *ints[i] = original;
    }
  }
  EXPECT_EQ(outcome.failures, std::vector<std::string>{});
  g_corruptions += outcome.tried;
  std::cout << "[reliability] checksum-valid hostile integers: " << outcome.tried << " states, "
            << outcome.data_loss << " DataLossError, " << outcome.other_typed
            << " other typed errors, " << outcome.restored_same << " restored (legal positions)"
            << std::endl;
}

// Committed checkpoint files (and the index) through the hook, on the in-memory file system.
TEST(ReliabilityCorruptionTest, CheckpointFilesBitFlipsAndTruncations) {
  Watchdog watchdog;
  std::mt19937_64 rng(7);
  const std::string dir = "/ckpt";
  const std::string newest = JoinPath(dir, hook_internal::CheckpointFileName("input", 20));
  int64_t files_tried = 0, index_tried = 0, through_hook = 0;
  std::vector<std::string> failures;

  for (const auto& [name, make] : Pipelines()) {
    FaultyFileSystem fs;
    std::vector<std::string> warnings;
    CheckpointHookOptions options;
    options.save_steps = 10;
    options.file_system = &fs;
    options.on_warning = [&](const std::string& w) { warnings.push_back(w); };
    std::vector<Element> at10;
    {
      auto it = make()->MakeIterator();
      CheckpointInputPipelineHook hook({{"train", it.get()}}, dir, options);
      hook.Begin();
      for (int64_t step = 1; step <= 20; ++step) {
        it->GetNext();
        hook.AfterStep(step);
        if (step == 10) hook.Flush();
      }
      hook.End();
    }
    {
      auto it = make()->MakeIterator();
      NextN(*it, 10);
      at10 = NextN(*it, kCompared);
    }
    const std::string file = fs.Contents(newest);
    const std::string index = fs.Contents(JoinPath(dir, "checkpoint_input"));

    // Decoding alone: every flip and every truncation is a DataLossError naming the file.
    auto decode = [&](const std::string& bytes, const std::string& what) {
      watchdog.Tick(what);
      ++files_tried;
      try {
        auto contents = hook_internal::DecodeCheckpointFile(bytes, newest);
        failures.push_back(what + ": decoded without error");
      } catch (const DataLossError& e) {
        if (std::string(e.what()).find(newest) == std::string::npos) {
          failures.push_back(what + ": error does not name the file: " + e.what());
        }
      } catch (const std::exception& e) {
        failures.push_back(what + ": not a DataLossError: " + e.what());
      }
    };
    std::vector<int64_t> bits = BitPositions(file.size(), kSampledFlips / 5, rng);
    for (int64_t bit : bits) decode(Flip(file, bit), name + ": checkpoint bit " + std::to_string(bit));
    for (size_t n = 0; n < file.size(); ++n) {
      decode(file.substr(0, n), name + ": checkpoint truncated to " + std::to_string(n));
    }
    // The index: every flip and truncation is a DataLossError from LatestInputCheckpoint.
    std::vector<std::string> index_variants;
    for (int64_t bit = 0; bit < static_cast<int64_t>(index.size()) * 8; ++bit) {
      index_variants.push_back(Flip(index, bit));
    }
    for (size_t n = 0; n < index.size(); ++n) index_variants.push_back(index.substr(0, n));
    for (const std::string& variant : index_variants) {
      ++index_tried;
      fs.Overwrite(JoinPath(dir, "checkpoint_input"), variant);
      try {
        LatestInputCheckpoint(dir, "input", &fs);
        failures.push_back(name + ": a corrupt index was read without error: " + variant);
      } catch (const DataLossError&) {
      } catch (const std::exception& e) {
        failures.push_back(name + ": corrupt index: not a DataLossError: " + e.what());
      }
    }
    fs.Overwrite(JoinPath(dir, "checkpoint_input"), index);
    // Through the hook (a sample: each costs a hook and its thread): the corrupt newest file
    // is skipped with a warning naming it, and step 10 resumes exactly.
    for (size_t i = 0; i < bits.size(); i += 25) {
      for (const std::string& bytes : {Flip(file, bits[i]), file.substr(0, i % file.size())}) {
        watchdog.Tick(name + ": hook restore");
        ++through_hook;
        fs.Overwrite(newest, bytes);
        warnings.clear();
        try {
          auto it = make()->MakeIterator();
          CheckpointHookOptions restore_options = options;
          CheckpointInputPipelineHook hook({{"train", it.get()}}, dir, restore_options);
          std::optional<int64_t> step = hook.Begin();
          if (step != 10) failures.push_back(name + ": hook restored " + std::to_string(step.value_or(-1)));
          if (NextN(*it, kCompared) != at10) failures.push_back(name + ": hook resumed inexactly");
          if (warnings.empty() || warnings[0].find(newest) == std::string::npos) {
            failures.push_back(name + ": no warning naming the corrupt file");
          }
        } catch (const std::exception& e) {
          failures.push_back(name + ": hook threw: " + e.what());
        }
      }
    }
    fs.Overwrite(newest, file);
  }
  EXPECT_EQ(failures, std::vector<std::string>{});
  EXPECT_GE(files_tried, kSampledFlips);
  g_corruptions += files_tried + index_tried + through_hook;
  std::cout << "[reliability] checkpoint files: " << files_tried << " flips+truncations decoded, "
            << index_tried << " index corruptions, " << through_hook
            << " restores through the hook past a corrupt newest file; corruptions tried in all: "
            << g_corruptions << std::endl;
}

}  // namespace
}  // namespace inputpipe
