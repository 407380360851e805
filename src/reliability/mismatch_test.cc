// Restoring into another pipeline.
//
// A state saved by a text-file pipeline (read, shuffle, parallel map, batch, prefetch) is
// restored into pipelines that differ from it in exactly one thing: the source file, its
// contents, the shuffle seed, the batch size, an added op, the map function, the shuffle buffer.
// Each is a PipelineMismatchError whose message names the difference, through Iterator::Restore
// and through the hook. The identical pipeline rebuilt in a fresh process (this test binary run
// again, see ChildRestoresFromFile) is accepted and resumes exactly.
//
// Worker counts: num_parallel_calls (2 -> 4, 2 -> autotune, 2 -> 0: a sequential map) and the
// prefetch buffer size change how the output is computed, not what it is, so they are not in
// the fingerprint: a restore with another worker count is accepted and continues exactly
// (tested).
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>

#include "inputpipe/hook.h"
#include "inputpipe/ops.h"
#include "inputpipe/readers.h"
#include "testing/exactness.h"
#include "testing/scratch_dir.h"

namespace inputpipe {
namespace {

constexpr char kStateEnv[] = "INPUTPIPE_RELIABILITY_CHILD_STATE";
constexpr int64_t kSaveAt = 9;
constexpr int64_t kCompared = 6;

struct Config {
  std::string file;
  int64_t seed = 1;
  int64_t batch_size = 4;
  int64_t buffer_size = 16;
  std::string fn = "id";
  int64_t workers = 2;
  int64_t prefetch = 2;
  bool extra_filter = false;
};

DatasetPtr Build(const Config& c) {
  DatasetPtr ds = Shuffle(TextLineDataset({c.file}), c.buffer_size, c.seed);
  if (c.extra_filter) ds = Filter(ds, [](const Element&) { return true; }, {"keep_all"});
  ds = Map(ds, [](const Element& e) { return e; }, {c.fn}, c.workers);
  return Prefetch(Batch(ds, c.batch_size), c.prefetch);
}

std::string WriteLines(const std::string& path, int64_t n, const std::string& tag) {
  std::ofstream out(path);
  for (int64_t i = 0; i < n; ++i) out << tag << "-" << i << "\n";
  return path;
}

using testing::ScratchDir;

std::vector<Element> NextN(Iterator& it, int64_t n) {
  std::vector<Element> out;
  for (int64_t i = 0; i < n; ++i) {
    if (auto e = it.GetNext()) out.push_back(*e);
  }
  return out;
}

// Saves the base pipeline after kSaveAt batches; returns (state, the next batches).
std::pair<std::string, std::vector<Element>> SaveBase(const Config& base) {
  auto it = Build(base)->MakeIterator();
  NextN(*it, kSaveAt);
  std::string state = it->Save();
  return {state, NextN(*it, kCompared)};
}

TEST(ReliabilityMismatchTest, EachSingleDifferenceIsRejectedNamingIt) {
  ScratchDir dir;
  Config base;
  base.file = WriteLines(dir / "a.txt", 300, "a");
  const std::string other_file = WriteLines(dir / "b.txt", 300, "b");
  auto [state, expected] = SaveBase(base);

  struct Variant {
    std::string what;
    Config config;
    std::string named;  // a piece of the message that names the difference
  };
  std::vector<Variant> variants;
  auto add = [&](std::string what, std::string named, auto change) {
    Config c = base;
    change(c);
    variants.push_back({std::move(what), c, std::move(named)});
  };
  add("another source file", "b.txt", [&](Config& c) { c.file = other_file; });
  add("another seed", "seed=2", [](Config& c) { c.seed = 2; });
  add("another batch size", "batch_size=5", [](Config& c) { c.batch_size = 5; });
  add("an added op", "filter", [](Config& c) { c.extra_filter = true; });
  add("another map function", "fn=upper", [](Config& c) { c.fn = "upper"; });
  add("another shuffle buffer", "buffer_size=32", [](Config& c) { c.buffer_size = 32; });

  int64_t rejected = 0;
  for (const Variant& v : variants) {
    SCOPED_TRACE(v.what);
    auto it = Build(v.config)->MakeIterator();
    try {
      it->Restore(state);
      ADD_FAILURE() << "accepted a state of another pipeline";
    } catch (const PipelineMismatchError& e) {
      std::string message = e.what();
      EXPECT_NE(message.find(v.named), std::string::npos) << message;
      ++rejected;
      std::cout << "[reliability] " << v.what << ": " << message.substr(0, 240) << std::endl;
    }
    // The iterator is untouched by the failed restore: it can still start from the beginning.
    EXPECT_FALSE(it->started());
  }
  EXPECT_EQ(rejected, static_cast<int64_t>(variants.size()));
  std::cout << "[reliability] mismatches rejected: " << rejected << " of " << variants.size()
            << std::endl;
}

// Rewrites `path` in place: same name, same length, other bytes, another mtime.
void RewriteInPlace(const std::string& path) {
  WriteLines(path, 300, "z");
  std::filesystem::last_write_time(
      path, std::filesystem::last_write_time(path) + std::chrono::seconds(5));
}

TEST(ReliabilityMismatchTest, SameFileNameWithOtherContentsIsRejected) {
  ScratchDir dir;
  const std::string file = WriteLines(dir / "a.txt", 300, "a");
  auto make = [&] { return Batch(TextLineDataset({file}), 4); };
  auto it = make()->MakeIterator();
  NextN(*it, 5);
  std::string state = it->Save();
  RewriteInPlace(file);
  auto restored = make()->MakeIterator();
  try {
    restored->Restore(state);
    FAIL() << "restored into a file changed since the save";
  } catch (const PipelineMismatchError& e) {
    EXPECT_NE(std::string(e.what()).find("changed since the state was saved"), std::string::npos)
        << e.what();
  }
}

// Under a buffered shuffle the state restores the reader at the shuffle's anchor, which can be
// before the file was opened (opened=false): the reader's hash of every listed file's
// fingerprint must still catch a file rewritten in place under the same name.
TEST(ReliabilityMismatchTest, SameFileNameWithOtherContentsUnderShuffleIsRejected) {
  ScratchDir dir;
  Config base;
  base.file = WriteLines(dir / "a.txt", 300, "a");
  auto [state, expected] = SaveBase(base);
  RewriteInPlace(base.file);
  auto it = Build(base)->MakeIterator();
  EXPECT_THROW(
      {
        it->Restore(state);
        NextN(*it, kCompared);
      },
      Error);
}

TEST(ReliabilityMismatchTest, WorkerCountIsNotPartOfTheFingerprintAndResumesExactly) {
  ScratchDir dir;
  Config base;
  base.file = WriteLines(dir / "a.txt", 300, "a");
  auto [state, expected] = SaveBase(base);
  for (auto [workers, prefetch] : std::vector<std::pair<int64_t, int64_t>>{
           {4, 2}, {1, 2}, {kAutotune, 2}, {0, 2}, {2, 1}, {2, kAutotune}, {8, 16}, {0, 0}}) {
    Config c = base;
    c.workers = workers;
    c.prefetch = prefetch;
    auto it = Build(c)->MakeIterator();
    it->Restore(state);
    EXPECT_EQ(NextN(*it, kCompared), expected) << "workers=" << workers << " prefetch=" << prefetch;
  }
}

// The child half of the fresh-process test: restores the state in $kStateEnv (written by the
// parent) into the pipeline rebuilt from scratch, and compares with the batches the parent saw.
TEST(ReliabilityMismatchTest, ChildRestoresFromFile) {
  const char* path = std::getenv(kStateEnv);
  if (path == nullptr) GTEST_SKIP() << "run by FreshProcessAcceptsTheIdenticalPipeline";
  std::ifstream in(path, std::ios::binary);
  std::string file, state, expected_debug;
  std::getline(in, file);
  std::string rest((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t split = rest.find('\n');
  size_t state_size = std::stoull(rest.substr(0, split));
  state = rest.substr(split + 1, state_size);
  expected_debug = rest.substr(split + 1 + state_size);
  Config c;
  c.file = file;
  auto it = Build(c)->MakeIterator();
  it->Restore(state);
  std::string got;
  for (const Element& e : NextN(*it, kCompared)) got += e.DebugString() + "\n";
  EXPECT_EQ(got, expected_debug);
}

TEST(ReliabilityMismatchTest, FreshProcessAcceptsTheIdenticalPipeline) {
  ScratchDir dir;
  Config base;
  base.file = WriteLines(dir / "a.txt", 300, "a");
  auto [state, expected] = SaveBase(base);
  std::string expected_debug;
  for (const Element& e : expected) expected_debug += e.DebugString() + "\n";
  const std::string state_path = dir / "state";
  {
    std::ofstream out(state_path, std::ios::binary);
    out << base.file << "\n" << state.size() << "\n" << state << expected_debug;
  }
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::setenv(kStateEnv, state_path.c_str(), 1);
    ::execl("/proc/self/exe", "inputpipe_tests", "--gtest_filter=ReliabilityMismatchTest.ChildRestoresFromFile",
            "--gtest_brief=1", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "the child process crashed";
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the fresh process did not resume exactly";
}

TEST(ReliabilityMismatchTest, HookRejectsAnotherPipelineNamingTheIterator) {
  ScratchDir dir;
  Config base;
  base.file = WriteLines(dir / "a.txt", 300, "a");
  CheckpointHookOptions options;
  options.save_steps = 5;
  {
    auto it = Build(base)->MakeIterator();
    CheckpointInputPipelineHook hook({{"train", it.get()}}, dir / "ckpt", options);
    hook.Begin();
    for (int64_t step = 1; step <= 10; ++step) {
      it->GetNext();
      hook.AfterStep(step);
    }
    hook.End();
  }
  Config other = base;
  other.seed = 3;
  auto it = Build(other)->MakeIterator();
  CheckpointInputPipelineHook hook({{"train", it.get()}}, dir / "ckpt", options);
  try {
    hook.Begin();
    FAIL() << "accepted another pipeline";
  } catch (const PipelineMismatchError& e) {
    std::string message = e.what();
    EXPECT_NE(message.find("'train'"), std::string::npos) << message;
    EXPECT_NE(message.find("seed=3"), std::string::npos) << message;
  }
}

}  // namespace
}  // namespace inputpipe
