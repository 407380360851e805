// A restore that throws leaves the iterator fresh (include/inputpipe/dataset.h, Restore).
//
//   - a state rejected part way through the tree (a file rewritten under a shuffle buffer, the
//     second of two text files changed) no longer leaves a half-restored iterator: GetNext
//     yields the fresh stream from its first element (it used to crash, or skip a file);
//   - when not even a fresh iterator can be made, every call says the iterator is unusable;
//   - a reader's offset past the end of its file is a DataLossError naming op, file and size;
//   - through the hook, a checkpoint whose checksums are valid but whose state an op rejects
//     is skipped with a warning like a corrupt one, every iterator fresh again for the
//     previous checkpoint;
//   - checksum-valid states with each integer set to out-of-range values, over pipelines of
//     files, shuffles and threads: each restore ends (a per-state watchdog), in a typed error
//     or a restore, and after an error GetNext yields the fresh stream.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <mutex>
#include <thread>

#include "hook/checkpoint_file.h"
#include "inputpipe/hook.h"
#include "inputpipe/ops.h"
#include "inputpipe/readers.h"
#include "inputpipe/state.h"
#include "readers/readers_test_util.h"

namespace inputpipe {
namespace {

using testing::ExpectError;
using testing::Materialize;
using testing::Strings;
using testing::TempDir;

std::vector<Element> NextN(Iterator& it, int64_t n) {
  std::vector<Element> out;
  for (int64_t i = 0; i < n; ++i) {
    auto e = it.GetNext();
    if (!e) break;
    out.push_back(Materialize(*e));
  }
  return out;
}

std::string Lines(const std::string& prefix, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += prefix + std::to_string(i) + "\n";
  return out;
}

// The integer `key` of the first node (depth first) of op `op`.
int64_t* FindInt(StateNode& node, const std::string& op, const std::string& key) {
  if (node.op == op) {
    for (auto& [k, v] : node.ints) {
      if (k == key) return &v;
    }
  }
  for (auto& child : node.children) {
    if (int64_t* v = FindInt(child, op, key)) return v;
  }
  return nullptr;
}

// The segfault of the review: a shuffle buffer over a text file rewritten after the save.
TEST(RestoreRejectedTest, ShuffleOverRewrittenFileThenNextGivesTheFreshStream) {
  TempDir dir;
  std::string path = dir.Write("a.txt", Lines("line", 40));
  DatasetPtr ds = Shuffle(TextLineDataset({path}), 8, 1, /*reshuffle_each_iteration=*/false);
  auto it = ds->MakeIterator();
  it->GetNext();
  const std::string state = it->Save();
  dir.Write("a.txt", Lines("other line ", 50));
  const std::vector<Element> fresh = NextN(*ds->MakeIterator(), 50);

  auto it2 = ds->MakeIterator();
  ExpectError<PipelineMismatchError>([&] { it2->Restore(state); }, {"text_line", path});
  EXPECT_FALSE(it2->started());
  EXPECT_TRUE(NextN(*it2, 50) == fresh);
  EXPECT_EQ(it2->GetNext(), std::nullopt);

  // Reshuffling, as in the review: a fresh iterator has the next epoch's order, so only the
  // lines can be compared; none is missing (a half-restored buffer crashed here).
  DatasetPtr reshuffled = Shuffle(TextLineDataset({path}), 8, 1);
  auto it3 = reshuffled->MakeIterator();
  it3->GetNext();
  const std::string state3 = it3->Save();
  dir.Write("a.txt", Lines("third ", 45));
  auto it4 = reshuffled->MakeIterator();
  EXPECT_THROW(it4->Restore(state3), PipelineMismatchError);
  std::vector<std::string> lines = Strings(NextN(*it4, 100));
  std::sort(lines.begin(), lines.end());
  std::vector<std::string> want = Strings(NextN(*TextLineDataset({path})->MakeIterator(), 100));
  std::sort(want.begin(), want.end());
  EXPECT_EQ(lines, want);
}

// Two files, the state inside the second, the second rewritten: the restore had moved to the
// second file before rejecting it, and GetNext went on there, skipping the first file.
TEST(RestoreRejectedTest, SecondOfTwoTextFilesChangedThenNextStartsAtTheFirstFile) {
  TempDir dir;
  std::string a = dir.Write("a.txt", Lines("a", 3));
  std::string b = dir.Write("b.txt", Lines("b", 3));
  DatasetPtr ds = TextLineDataset({a, b});
  auto it = ds->MakeIterator();
  NextN(*it, 4);
  const std::string state = it->Save();
  dir.Write("b.txt", Lines("bb", 4));

  auto it2 = ds->MakeIterator();
  ExpectError<PipelineMismatchError>([&] { it2->Restore(state); }, {"text_line", b});
  EXPECT_EQ(Strings(NextN(*it2, 10)),
            (std::vector<std::string>{"a0", "a1", "a2", "bb0", "bb1", "bb2", "bb3"}));
}

// After a failed restore the iterator takes another restore, which resumes exactly.
TEST(RestoreRejectedTest, AFailedRestoreCanBeFollowedByAGoodOne) {
  DatasetPtr ds = Batch(Shuffle(Range(0, 100), 10, 3, false), 4);
  auto it = ds->MakeIterator();
  NextN(*it, 3);
  const std::string good = it->Save();
  const std::vector<Element> expected = NextN(*it, 5);
  DecodedState decoded = DecodeState(good);
  int64_t* n = FindInt(decoded.root, "range", "next");
  ASSERT_NE(n, nullptr);
  *n = int64_t{1} << 62;
  const std::string bad = EncodeState(decoded.pipeline, decoded.root);

  auto it2 = ds->MakeIterator();
  EXPECT_THROW(it2->Restore(bad), DataLossError);
  EXPECT_THROW(it2->Restore(bad), DataLossError);  // still fresh: the same error, not "started"
  it2->Restore(good);
  EXPECT_TRUE(NextN(*it2, 5) == expected);
  // Restored: a second restore is refused as for any started iterator.
  ExpectError<FailedPreconditionError>([&] { it2->Restore(good); }, {"fresh iterator"});
}

// A dataset whose first iterator is the only one it can make, and whose state is always
// rejected after the op has started restoring.
class OneIteratorDataset : public Dataset {
 public:
  std::string op_name() const override { return "one_iterator"; }
  std::string params() const override { return ""; }
  int64_t Cardinality() const override { return kUnknownCardinality; }

 protected:
  std::unique_ptr<Iterator> MakeIteratorInternal() const override {
    if (made_++ > 0) throw IOError("one_iterator: the source is gone");
    class It : public Iterator {
     public:
      using Iterator::Iterator;
      std::optional<Element> GetNextInternal() override { return Element(Tensor::Scalar(1)); }
      void SaveInternal(StateWriter& w) override { w.WriteInt("n", 0); }
      void RestoreInternal(StateReader&) override {
        throw DataLossError("one_iterator: rejected");
      }
    };
    return std::make_unique<It>(shared());
  }

 private:
  mutable int made_ = 0;
};

TEST(RestoreRejectedTest, WithoutAFreshIteratorEveryCallSaysItIsUnusable) {
  DatasetPtr ds = std::make_shared<OneIteratorDataset>();
  auto it = ds->MakeIterator();
  StateNode root;
  root.op = "one_iterator";
  const std::string state = EncodeState(ds->Pipeline(), root);
  EXPECT_THROW(it->Restore(state), DataLossError);
  const std::vector<std::string> fragments = {"one_iterator", "failed restore", "unusable",
                                              "the source is gone", "new iterator"};
  ExpectError<FailedPreconditionError>([&] { it->GetNext(); }, fragments);
  ExpectError<FailedPreconditionError>([&] { it->Save(); }, fragments);
  ExpectError<FailedPreconditionError>([&] { it->Restore(state); }, fragments);
}

TEST(RestoreRejectedTest, ResetGoesBackToTheFirstElement) {
  DatasetPtr ds = Range(0, 5);
  auto it = ds->MakeIterator();
  NextN(*it, 3);
  it->Reset();
  EXPECT_FALSE(it->started());
  EXPECT_TRUE(NextN(*it, 10) == NextN(*ds->MakeIterator(), 10));
}

// A file offset past the end (a checksum-valid state) is corrupt: it used to be accepted (the
// stream ended silently) and 2^62 was an IOError from the seek.
TEST(RestoreRejectedTest, ReaderOffsetPastTheEndIsDataLoss) {
  TempDir dir;
  const std::string text = Lines("line", 5);
  std::string path = dir.Write("a.txt", text);
  for (bool batched : {false, true}) {
    ReaderOptions options;
    if (batched) options.batch_size = 2;
    DatasetPtr ds = TextLineDataset({path}, options);
    auto it = ds->MakeIterator();
    it->GetNext();
    DecodedState decoded = DecodeState(it->Save());
    int64_t* offset = FindInt(decoded.root, "text_line", "offset");
    ASSERT_NE(offset, nullptr);
    const std::string size = std::to_string(text.size());
    for (int64_t bad : {static_cast<int64_t>(text.size()) + 1, int64_t{1} << 62,
                        std::numeric_limits<int64_t>::max()}) {
      *offset = bad;
      auto fresh = ds->MakeIterator();
      ExpectError<DataLossError>(
          [&] { fresh->Restore(EncodeState(decoded.pipeline, decoded.root)); },
          {"text_line", path, std::to_string(bad), size + " bytes"});
      EXPECT_TRUE(NextN(*fresh, 1) == NextN(*ds->MakeIterator(), 1));
    }
    // The end of the file itself is a legal position: the stream ends there.
    *offset = static_cast<int64_t>(text.size());
    auto at_end = ds->MakeIterator();
    at_end->Restore(EncodeState(decoded.pipeline, decoded.root));
    EXPECT_EQ(at_end->GetNext(), std::nullopt);
  }
}

TEST(RestoreRejectedTest, CompressedReaderOffsetPastTheEndIsDataLossNamingTheOp) {
  TempDir dir;
  const std::string text = Lines("line", 5);
  std::string path = dir.Write("a.txt.gz", testing::Gzip(text));
  ReaderOptions options;
  options.compression_type = "GZIP";
  DatasetPtr ds = TextLineDataset({path}, options);
  auto it = ds->MakeIterator();
  it->GetNext();
  DecodedState decoded = DecodeState(it->Save());
  int64_t* offset = FindInt(decoded.root, "text_line", "offset");
  ASSERT_NE(offset, nullptr);
  *offset = int64_t{1} << 62;
  ExpectError<DataLossError>(
      [&] { ds->MakeIterator()->Restore(EncodeState(decoded.pipeline, decoded.root)); },
      {"text_line", path, std::to_string(int64_t{1} << 62)});
}

// ---- Through the hook --------------------------------------------------------------------

struct HookRun {
  std::vector<std::string> warnings;
  CheckpointHookOptions options;
};

// Saves checkpoints at steps 2 and 4 of `iterators` (made by `make`), through `fs`.
void SaveTwoCheckpoints(const std::function<std::vector<DatasetPtr>()>& make, FileSystem& fs,
                        const std::string& dir) {
  std::vector<DatasetPtr> datasets = make();
  std::vector<std::unique_ptr<Iterator>> its;
  std::vector<std::pair<std::string, Iterator*>> named;
  for (size_t i = 0; i < datasets.size(); ++i) {
    its.push_back(datasets[i]->MakeIterator());
    named.emplace_back("it" + std::to_string(i), its.back().get());
  }
  CheckpointHookOptions options;
  options.save_steps = 2;
  options.file_system = &fs;
  CheckpointInputPipelineHook hook(named, dir, options);
  hook.Begin();
  for (int64_t step = 1; step <= 4; ++step) {
    for (auto& it : its) it->GetNext();
    hook.AfterStep(step);
  }
  hook.Flush();
}

// Rewrites checkpoint `step`, keeping valid checksums, with `mutate` applied to the state of
// iterator `which`.
void TamperCheckpoint(FileSystem& fs, const std::string& dir, int64_t step, size_t which,
                      const std::function<void(StateNode&)>& mutate) {
  const std::string path = JoinPath(dir, hook_internal::CheckpointFileName("input", step));
  hook_internal::CheckpointContents contents =
      hook_internal::DecodeCheckpointFile(fs.ReadFile(path), path);
  DecodedState decoded = DecodeState(contents.states[which].second);
  mutate(decoded.root);
  contents.states[which].second = EncodeState(decoded.pipeline, decoded.root);
  WriteFileAtomically(fs, path, hook_internal::EncodeCheckpointFile(contents));
}

TEST(RestoreRejectedTest, HookFallsBackPastACheckpointAnOpRejects) {
  TempDir dir;
  std::string path = dir.Write("a.txt", Lines("line", 20));
  const std::string ckpt = dir.Path("ckpt");
  // Two iterators: the second one's state is the rejected one, so the first, already restored
  // from the same checkpoint, must be reset before the previous checkpoint is tried.
  auto make = [&] {
    return std::vector<DatasetPtr>{Range(0, 100), TextLineDataset({path})};
  };
  SaveTwoCheckpoints(make, DefaultFileSystem(), ckpt);
  TamperCheckpoint(DefaultFileSystem(), ckpt, 4, 1, [](StateNode& root) {
    *FindInt(root, "text_line", "offset") = 1 << 20;
  });
  std::vector<std::vector<Element>> expected;
  for (const DatasetPtr& ds : make()) {
    auto it = ds->MakeIterator();
    NextN(*it, 2);
    expected.push_back(NextN(*it, 5));
  }

  std::vector<DatasetPtr> datasets = make();
  auto it0 = datasets[0]->MakeIterator();
  auto it1 = datasets[1]->MakeIterator();
  std::vector<std::string> warnings;
  CheckpointHookOptions options;
  options.save_steps = 2;
  options.on_warning = [&](const std::string& w) { warnings.push_back(w); };
  CheckpointInputPipelineHook hook({{"it0", it0.get()}, {"it1", it1.get()}}, ckpt, options);
  EXPECT_EQ(hook.Begin(), 2);
  EXPECT_TRUE(NextN(*it0, 5) == expected[0]);
  EXPECT_TRUE(NextN(*it1, 5) == expected[1]);
  ASSERT_EQ(warnings.size(), 1u);
  for (const std::string& fragment :
       {std::string("input.ckpt-4"), std::string("step 4"), std::string("'it1'"),
        std::string("offset 1048576"), path, std::string("falling back")}) {
    EXPECT_NE(warnings[0].find(fragment), std::string::npos) << fragment << " in " << warnings[0];
  }
}

TEST(RestoreRejectedTest, HookWithEveryCheckpointRejectedIsDataLossAndLeavesItFresh) {
  TempDir dir;
  std::string path = dir.Write("a.txt", Lines("line", 20));
  const std::string ckpt = dir.Path("ckpt");
  auto make = [&] { return std::vector<DatasetPtr>{TextLineDataset({path})}; };
  SaveTwoCheckpoints(make, DefaultFileSystem(), ckpt);
  for (int64_t step : {0, 2, 4}) {
    const std::string file = JoinPath(ckpt, hook_internal::CheckpointFileName("input", step));
    if (!DefaultFileSystem().FileExists(file)) continue;
    TamperCheckpoint(DefaultFileSystem(), ckpt, step, 0, [](StateNode& root) {
      *FindInt(root, "text_line", "file") = 7;
    });
  }
  auto it = TextLineDataset({path})->MakeIterator();
  std::vector<std::string> warnings;
  CheckpointHookOptions options;
  options.save_steps = 2;
  options.on_warning = [&](const std::string& w) { warnings.push_back(w); };
  CheckpointInputPipelineHook hook({{"it0", it.get()}}, ckpt, options);
  ExpectError<DataLossError>([&] { hook.Begin(); }, {"no valid input checkpoint", "rejects"});
  EXPECT_GE(warnings.size(), 2u);
  EXPECT_FALSE(it->started());
  EXPECT_EQ(Strings(NextN(*it, 1)), std::vector<std::string>{"line0"});
}

// ---- Checksum-valid out-of-range integers ------------------------------------------------

// Aborts when one restore (and the GetNext after it) takes longer than `limit`: a hang.
class PerStateWatchdog {
 public:
  explicit PerStateWatchdog(std::chrono::seconds limit)
      : limit_(limit), thread_([this] { Watch(); }) {}
  ~PerStateWatchdog() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void Start(const std::string& what) {
    std::lock_guard<std::mutex> lock(mu_);
    what_ = what;
    deadline_ = std::chrono::steady_clock::now() + limit_;
    ++generation_;
    cv_.notify_all();
  }

 private:
  void Watch() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!done_) {
      int64_t generation = generation_;
      if (generation_ > 0 && std::chrono::steady_clock::now() > deadline_) {
        std::cerr << "restore_rejected_test: one restore ran over " << limit_.count()
                  << " s: " << what_ << std::endl;
        std::abort();
      }
      cv_.wait_for(lock, std::chrono::milliseconds(200),
                   [&] { return done_ || generation_ != generation; });
    }
  }
  const std::chrono::seconds limit_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  int64_t generation_ = 0;
  std::chrono::steady_clock::time_point deadline_;
  std::string what_;
  std::thread thread_;
};

void CollectInts(StateNode& node, std::vector<std::pair<std::string, int64_t*>>& out) {
  for (auto& [key, value] : node.ints) out.emplace_back(node.op + "." + key, &value);
  for (auto& child : node.children) CollectInts(child, out);
}

TEST(RestoreRejectedTest, OutOfRangeIntegersEndQuicklyAndARejectedRestoreLeavesItFresh) {
  TempDir dir;
  const std::string a = dir.Write("a.txt", Lines("alpha", 30));
  const std::string b = dir.Write("b.txt", Lines("beta", 25));
  const std::string gz = dir.Write("c.txt.gz", testing::Gzip(Lines("gamma", 40)));
  const std::string csv = dir.Write("d.csv", "x,y\n" + Lines("1,", 30));
  ReaderOptions gzip;
  gzip.compression_type = "GZIP";
  ReaderOptions batched;
  batched.batch_size = 3;
  ReaderOptions indexed;
  indexed.index = true;
  auto id = [](const Element& e) { return e; };
  const std::vector<std::pair<std::string, std::function<DatasetPtr()>>> pipelines = {
      {"text-two-files", [&] { return TextLineDataset({a, b}); }},
      {"shuffle-text", [&] { return Shuffle(TextLineDataset({a, b}), 8, 1, false); }},
      {"text-gzip-batched", [&] {
         ReaderOptions o = gzip;
         o.batch_size = 4;
         return TextLineDataset({gz}, o);
       }},
      {"text-indexed", [&] { return TextLineDataset({a, b}, indexed); }},
      {"csv", [&] {
         const CsvColumn int64 = CsvColumn::Required(DType::kInt64);
         return CsvDataset({csv}, {int64, int64}, {.header = true}, batched);
       }},
      {"prefetch-map-shuffle-text", [&] {
         return Prefetch(Map(Shuffle(TextLineDataset({a, b}), 16, 2, false), id, {"id"}, 2), 2);
       }},
      {"interleave-text", [&] {
         return Interleave(Range(0, 2), [a, b](const Element& e) {
           return TextLineDataset({e.tensor().scalar<int64_t>() == 0 ? a : b});
         }, 2, 1, 1, true, {"texts"});
       }},
      {"repeat-take-skip-batch",
       [] { return Batch(Skip(Take(Repeat(Range(0, 50), 4), 150), 7), 6); }},
      {"global-shuffle-window-flat-map", [] {
         return FlatMap(Window(GlobalShuffle(Range(0, 200), 4, false), 5, 2),
                        [](const Element& e) { return e.dataset(); }, {"flatten"});
       }},
      {"enumerate-zip-counter-shard", [] {
         return Zip({Enumerate(Shard(Range(0, 300), 3, 1)), Counter(0, 5)});
       }},
  };
  PerStateWatchdog watchdog(std::chrono::seconds(20));
  int64_t tried = 0, rejected = 0, restored = 0;
  std::vector<std::string> failures;
  for (const auto& [name, make] : pipelines) {
    auto it = make()->MakeIterator();
    NextN(*it, 9);
    const std::string saved = it->Save();
    const std::vector<Element> fresh = NextN(*make()->MakeIterator(), 4);
    DecodedState decoded = DecodeState(saved);
    std::vector<std::pair<std::string, int64_t*>> ints;
    CollectInts(decoded.root, ints);
    for (const auto& [key, value] : ints) {
      const int64_t original = *value;
      for (int64_t bad : {int64_t{0}, int64_t{-1}, original + 1, original - 1, int64_t{1} << 62,
                          -(int64_t{1} << 62), std::numeric_limits<int64_t>::max(),
                          std::numeric_limits<int64_t>::min(), int64_t{1} << 31}) {
        *value = bad;
        const std::string what = name + ": " + key + " = " + std::to_string(bad);
        watchdog.Start(what);
        ++tried;
        auto restoring = make()->MakeIterator();
        bool was_rejected = true;
        try {
          restoring->Restore(EncodeState(decoded.pipeline, decoded.root));
          was_rejected = false;
          ++restored;
        } catch (const DataLossError&) {
          ++rejected;
        } catch (const PipelineMismatchError&) {
          ++rejected;
        } catch (const std::exception& e) {
          failures.push_back(what + ": restore threw neither DataLossError nor "
                                    "PipelineMismatchError: " + e.what());
          continue;
        }
        if (was_rejected) {
          // Rejected: the iterator is fresh.
          try {
            if (restoring->started()) failures.push_back(what + ": started after the failure");
            if (NextN(*restoring, 4) != fresh) {
              failures.push_back(what + ": GetNext after a failed restore is not the fresh "
                                        "stream");
            }
          } catch (const std::exception& e) {
            failures.push_back(what + ": GetNext after a failed restore threw: " + e.what());
          }
          continue;
        }
        try {
          NextN(*restoring, 4);  // a legal other position: it must run, whatever it yields
        } catch (const Error&) {
          // The data there may be bad (a CSV header read as a record, a counter at its end).
        } catch (const std::exception& e) {
          failures.push_back(what + ": GetNext after the restore threw untyped: " + e.what());
        }
      }
      *value = original;
    }
  }
  EXPECT_EQ(failures, std::vector<std::string>{});
  EXPECT_GT(rejected, tried / 4);
  std::cout << "[reliability] out-of-range integers: " << tried << " states, " << rejected
            << " rejected (then fresh), " << restored << " restored (legal positions)"
            << std::endl;
}

}  // namespace
}  // namespace inputpipe
