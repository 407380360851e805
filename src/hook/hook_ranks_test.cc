// The hook on W ranks: one file per step holding every rank's state (a process group, played
// here by threads and an in-process gather), or one file per rank; restore on W' ranks.
#include <gtest/gtest.h>

#include <algorithm>
#include <barrier>
#include <filesystem>
#include <functional>
#include <iterator>
#include <map>
#include <mutex>
#include <thread>

#include "hook/checkpoint_file.h"
#include "hook/hook_test_util.h"
#include "inputpipe/hook.h"
#include "inputpipe/ops.h"
#include "testing/exactness.h"
#include "testing/expect_error.h"

namespace inputpipe {
namespace {

using hook_testing::ScratchDir;

// What torch.distributed's gather_object does, for W threads.
class ThreadGroup {
 public:
  explicit ThreadGroup(int64_t w) : w_(w), slots_(w), sync_(w) {}
  std::vector<std::string> Gather(int64_t rank, const std::string& bytes, bool all) {
    slots_[rank] = bytes;
    sync_.arrive_and_wait();
    std::vector<std::string> out;
    if (all || rank == 0) out = slots_;
    sync_.arrive_and_wait();
    return out;
  }

 private:
  int64_t w_;
  std::vector<std::string> slots_;
  std::barrier<> sync_;
};

DatasetPtr Global() { return Batch(GlobalShuffle(Range(0, 96), 3), 12); }

std::vector<int64_t> Values(const Element& e) {
  const Tensor& t = e.tensor();
  return std::vector<int64_t>(t.data<int64_t>(), t.data<int64_t>() + t.num_elements());
}

// One run on w ranks (threads): restore, `steps` more steps (all when < 0), end. Returns the
// restored step and, per step, the ranks' rows concatenated in rank order.
std::pair<int64_t, std::map<int64_t, std::vector<int64_t>>> RunRanks(
    const std::string& dir, int64_t w, int64_t steps, bool grouped,
    const std::function<DatasetPtr(int64_t, int64_t)>& make) {
  ThreadGroup group(w);
  std::barrier<> first_step(w);  // a training step's collective: no rank runs ahead of a peer
  std::vector<std::map<int64_t, std::vector<int64_t>>> rows(w);
  std::vector<int64_t> restored(w);
  std::vector<std::thread> threads;
  for (int64_t r = 0; r < w; ++r) {
    threads.emplace_back([&, r] {
      auto it = make(r, w)->MakeIterator();
      CheckpointHookOptions options;
      options.save_steps = 2;
      options.rank = r;
      options.num_ranks = w;
      options.on_warning = [](const std::string&) {};
      if (grouped) {
        options.gather = [&group, r](const std::string& b, bool all) {
          return group.Gather(r, b, all);
        };
      }
      CheckpointInputPipelineHook hook({{"train", it.get()}}, dir, options);
      int64_t step = hook.Begin().value_or(0);
      restored[r] = step;
      first_step.arrive_and_wait();
      const int64_t stop = steps < 0 ? INT64_MAX : step + steps;
      while (step < stop) {
        std::optional<Element> batch = it->GetNext();
        if (!batch) break;
        rows[r][++step] = Values(*batch);
        hook.AfterStep(step);
      }
      hook.End();
    });
  }
  for (auto& t : threads) t.join();
  std::map<int64_t, std::vector<int64_t>> out;
  for (int64_t r = 0; r < w; ++r) {
    EXPECT_EQ(restored[r], restored[0]);
    for (const auto& [step, v] : rows[r]) out[step].insert(out[step].end(), v.begin(), v.end());
  }
  return {restored[0], out};
}

void ExpectResizesExactly(bool grouped) {
  ScratchDir dir;
  auto make = [](int64_t r, int64_t w) { return Distribute(Global(), w, r); };
  std::vector<std::vector<int64_t>> single;
  for (const auto& e : testing::Collect(Global())) single.push_back(Values(e));
  std::map<int64_t, std::vector<int64_t>> seen;
  for (auto [w, steps] : std::vector<std::pair<int64_t, int64_t>>{{2, 3}, {3, 2}, {4, -1}}) {
    auto [restored, rows] = RunRanks(dir.path(), w, steps, grouped, make);
    for (auto& [step, v] : rows) seen[step] = v;  // a step redone after a restore: replaced
  }
  ASSERT_EQ(seen.size(), single.size());
  for (const auto& [step, v] : seen) EXPECT_EQ(v, single[step - 1]) << "step " << step;
  bool per_rank_files = false;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    per_rank_files |= entry.path().filename().string().find(".rank-") != std::string::npos;
  }
  EXPECT_EQ(per_rank_files, !grouped);
}

TEST(HookRanksTest, OneFilePerStepResizesExactly) { ExpectResizesExactly(/*grouped=*/true); }
TEST(HookRanksTest, OneFilePerRankResizesExactly) { ExpectResizesExactly(/*grouped=*/false); }

// Ranks of a fresh run do not begin at once: the first has already written its initial step
// when a later one lists the directory. That half-written step is not a failed checkpoint.
TEST(HookRanksTest, ALaterRankBeginsFreshBesideAPeersInitialSave) {
  ScratchDir dir;
  auto hook_of = [&](Iterator* it, int64_t r) {
    CheckpointHookOptions options;
    options.save_steps = 2;
    options.rank = r;
    options.num_ranks = 2;
    options.on_warning = [](const std::string&) {};
    return std::make_unique<CheckpointInputPipelineHook>(
        std::vector<std::pair<std::string, Iterator*>>{{"train", it}}, dir.path(), options);
  };
  auto it0 = Distribute(Global(), 2, 0)->MakeIterator();
  auto it1 = Distribute(Global(), 2, 1)->MakeIterator();
  auto first = hook_of(it0.get(), 0);
  EXPECT_EQ(first->Begin(), std::nullopt);
  first->Flush();
  ASSERT_FALSE(first->ListCheckpoints().empty());  // its initial step is on disk
  auto later = hook_of(it1.get(), 1);
  EXPECT_EQ(later->Begin(), std::nullopt);  // fresh, not "no valid input checkpoint"
  auto fresh = Distribute(Global(), 2, 1)->MakeIterator();
  EXPECT_EQ(Values(*it1->GetNext()), Values(*fresh->GetNext()));
  first->End();
  later->End();
}

TEST(HookRanksTest, ElasticShardOverResizes) {
  ScratchDir dir;
  auto make = [](int64_t r, int64_t w) {
    // Not a multiple of 5: no rank count here makes one rank's part all filtered out.
    PredicateFn keep = [](const Element& e) { return e.tensor().scalar<int64_t>() % 5 != 0; };
    return Batch(Filter(ElasticShard(Range(0, 150), w, r), keep, {.name = "keep"}), 2);
  };
  std::map<int64_t, std::vector<int64_t>> seen;
  for (auto [w, steps] : std::vector<std::pair<int64_t, int64_t>>{{2, 5}, {3, 4}, {1, -1}}) {
    auto [restored, rows] = RunRanks(dir.path(), w, steps, /*grouped=*/true, make);
    for (auto it = seen.begin(); it != seen.end();)
      it = it->first > restored ? seen.erase(it) : ++it;
    for (auto& [step, v] : rows) seen[step] = v;
  }
  // The last run (one rank) went to the end: every kept element exactly once.
  std::vector<int64_t> all;
  for (const auto& [step, v] : seen) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  std::vector<int64_t> expected;
  for (int64_t i = 0; i < 150; ++i) {
    if (i % 5 != 0) expected.push_back(i);
  }
  std::vector<int64_t> extra, missing;
  std::set_difference(all.begin(), all.end(), expected.begin(), expected.end(),
                      std::back_inserter(extra));
  std::set_difference(expected.begin(), expected.end(), all.begin(), all.end(),
                      std::back_inserter(missing));
  EXPECT_TRUE(extra.empty() && missing.empty())
      << "repeated or unexpected: " << ::testing::PrintToString(extra)
      << ", lost: " << ::testing::PrintToString(missing);
}

TEST(HookRanksTest, RanksWithAnotherPipelineAreNamed) {
  ScratchDir dir;
  ThreadGroup group(2);
  std::vector<std::string> errors(2);
  std::vector<std::thread> threads;
  for (int64_t r = 0; r < 2; ++r) {
    threads.emplace_back([&, r] {
      auto it = Distribute(Batch(Range(0, 10 + r), 2), 2, r)->MakeIterator();
      CheckpointHookOptions options;
      options.save_steps = 1;
      options.rank = r;
      options.num_ranks = 2;
      options.gather = [&group, r](const std::string& b, bool all) {
        return group.Gather(r, b, all);
      };
      CheckpointInputPipelineHook hook({{"train", it.get()}}, dir.path(), options);
      try {
        hook.Begin();
      } catch (const PipelineMismatchError& e) {
        errors[r] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& error : errors) {
    EXPECT_NE(error.find("rank 1 of 2"), std::string::npos) << error;
    EXPECT_NE(error.find("range("), std::string::npos) << error;
  }
}

TEST(HookRanksTest, SaveSecsIsRefusedOnSeveralRanks) {
  auto it = Range(0, 4)->MakeIterator();
  CheckpointHookOptions options;
  options.save_secs = 1.0;
  options.num_ranks = 2;
  testing::ExpectError<InvalidArgumentError>(
      [&] {
        CheckpointInputPipelineHook hook({{"train", it.get()}}, "/tmp/x", options);
      },
      {"save_secs", "num_ranks=2", "save_steps"});
}

}  // namespace
}  // namespace inputpipe

namespace inputpipe::hook_internal {
namespace {
TEST(RanksFileTest, RoundTripsAndEveryRankMustBeThere) {
  auto it = Range(0, 4)->MakeIterator();
  std::vector<std::string> files;
  for (int64_t r = 0; r < 3; ++r) {
    CheckpointContents rank;
    rank.step = 7;
    rank.states = {{"train", it->Save()}};
    rank.ended = {r != 1};
    files.push_back(EncodeCheckpointFile(rank));
  }
  CheckpointContents back = DecodeCheckpointFile(EncodeRanksFile(7, files), "f");
  EXPECT_EQ(back.step, 7);
  ASSERT_EQ(back.ranks.size(), 3u);
  EXPECT_FALSE(back.AtEnd());  // rank 1 had not ended
  EXPECT_EQ(back.states, back.ranks[2].states);
  std::string truncated = EncodeRanksFile(7, {files[0], files[1].substr(0, 10)});
  EXPECT_THROW(DecodeCheckpointFile(truncated, "f"), DataLossError);
  EXPECT_THROW(DecodeCheckpointFile(EncodeRanksFile(8, files), "f"), DataLossError);  // a step
}
}  // namespace
}  // namespace inputpipe::hook_internal
