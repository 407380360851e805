// The pipeline comparison of a saved state against a dataset (DescribePipelineMismatch,
// CheckPipelineMatches): the one check behind Iterator::Restore and the hook's restore.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>

#include "core/op_skeleton.h"
#include "inputpipe/dataset.h"
#include "inputpipe/errors.h"
#include "inputpipe/ops.h"
#include "inputpipe/readers.h"
#include "inputpipe/state.h"
#include "testing/exactness.h"
#include "testing/expect_error.h"
#include "util/coding.h"
#include "util/crc32c.h"

namespace inputpipe {
namespace {

bool IsEvenForTest(const Element& e) { return e.tensor().scalar<int64_t>() % 2 == 0; }

std::string RestoreError(const Dataset& dataset, const std::string& state) {
  auto it = dataset.MakeIterator();
  try {
    it->Restore(state);
  } catch (const PipelineMismatchError& e) {
    return e.what();
  }
  return "";
}

TEST(StateTest, PipelineMismatchIsDescribedWithoutRestoring) {
  DatasetPtr saved_by = Batch(Range(0, 10), 2);
  std::string state = saved_by->MakeIterator()->Save();
  std::vector<std::string> saved = DecodeState(state).pipeline;

  EXPECT_EQ(DescribePipelineMismatch(saved, *saved_by), "");
  EXPECT_NO_THROW(CheckPipelineMatches(saved, *saved_by));

  DatasetPtr other = Batch(Range(0, 10), 3);
  std::string mismatch = DescribePipelineMismatch(saved, *other);
  EXPECT_NE(mismatch.find("first difference at op #0"), std::string::npos) << mismatch;
  EXPECT_NE(mismatch.find("batch_size=3"), std::string::npos) << mismatch;
  EXPECT_EQ(mismatch, RestoreError(*other, state));
  EXPECT_THROW(CheckPipelineMatches(saved, *other), PipelineMismatchError);

  // A saved pipeline that stops short is named as ending there.
  std::vector<std::string> shorter(saved.begin(), saved.end() - 1);
  std::string ends = DescribePipelineMismatch(shorter, *saved_by);
  EXPECT_NE(ends.find("op #1"), std::string::npos) << ends;
  EXPECT_NE(ends.find("the saved pipeline has nothing (it ends there)"), std::string::npos)
      << ends;
}

TEST(StateTest, AnEmptyPipelineEntryIsDataLossNotAnIndexError) {
  std::string state = Range(0, 3)->MakeIterator()->Save();
  DecodedState decoded = DecodeState(state);
  for (const std::string& empty : {std::string(), std::string("   ")}) {
    std::vector<std::string> pipeline = decoded.pipeline;
    pipeline.push_back(empty);
    std::string bad = EncodeState(pipeline, decoded.root);
    EXPECT_THROW(DecodeState(bad), DataLossError);
    EXPECT_THROW(Range(0, 3)->MakeIterator()->Restore(bad), DataLossError);
  }
  // The mismatch message copes with such an entry too (it never reaches it from a decode).
  EXPECT_NE(DescribePipelineMismatch({"   "}, *Range(0, 3)).find("'   '"), std::string::npos);
}

// ---- Identity across versions and allow_changes.

// Older versions named a function of the main script "__main__.f"; today's name it by the
// script's module ("train.f"), which the bindings pass to SetMainModuleName.
TEST(StateTest, OldMainModuleEntriesReadAsTheScriptsModule) {
  EXPECT_EQ(CanonicalPipelineEntry("  map(fn=__main__.parse)"), "  map(fn=__main__.parse)");
  SetMainModuleName("train");
  EXPECT_EQ(CanonicalPipelineEntry("  map(fn=__main__.parse)"), "  map(fn=train.parse)");
  EXPECT_EQ(CanonicalPipelineEntry("group_by_window(fn=__main__.key/__main__.reduce)"),
            "group_by_window(fn=train.key/train.reduce)");
  EXPECT_EQ(CanonicalPipelineEntry("parallel_map(fn=__main__.f, deterministic=true)"),
            "map(fn=train.f)");
  EXPECT_EQ(CanonicalPipelineEntry("map(fn=lib.parse)"), "map(fn=lib.parse)");
  DatasetPtr ds = Map(Range(0, 10), [](const Element& e) { return e; }, {.name = "train.parse"});
  std::vector<std::string> old = ds->Pipeline();
  old[0] = "map(fn=__main__.parse)";
  EXPECT_EQ(DescribePipelineMismatch(old, *ds), "");
  old[0] = "map(fn=__main__.other)";
  EXPECT_NE(DescribePipelineMismatch(old, *ds), "");
  SetMainModuleName("");
  EXPECT_EQ(CanonicalPipelineEntry("map(fn=__main__.parse)"), "map(fn=__main__.parse)");
}

TEST(StateTest, OldParallelMapEntriesReadAsMap) {
  EXPECT_EQ(CanonicalPipelineEntry("parallel_map(fn=sq, deterministic=true)"), "map(fn=sq)");
  EXPECT_EQ(CanonicalPipelineEntry("    parallel_map(fn=f, stateful=true, deterministic=true)"),
            "    map(fn=f, stateful=true)");
  for (const char* kept : {"parallel_map(fn=sq, deterministic=false)", "map(fn=sq)",
                           "batch(batch_size=2, drop_remainder=false)", "", "   "}) {
    EXPECT_EQ(CanonicalPipelineEntry(kept), kept);
  }
  DatasetPtr ds = Batch(Map(Range(0, 10), [](const Element& e) { return e; }, {.name = "id"}), 2);
  std::vector<std::string> old = ds->Pipeline();
  old[1] = "  parallel_map(fn=id, deterministic=true)";
  EXPECT_EQ(DescribePipelineMismatch(old, *ds), "");
  old[1] = "  parallel_map(fn=id, deterministic=false)";
  EXPECT_NE(DescribePipelineMismatch(old, *ds), "");
  EXPECT_TRUE(SameStateOp("parallel_map", "map"));
  EXPECT_TRUE(SameStateOp("map", "parallel_map"));
  EXPECT_FALSE(SameStateOp("map", "batch"));
}

Element Identity(const Element& e) { return e; }

DatasetPtr Mapped(const std::string& fn, int64_t batch_size = 3) {
  return Batch(Map(Range(0, 40), Identity, {.name = fn}), batch_size);
}

TEST(StateTest, AllowChangesRestoresPastParametersAndFunctionsWithOneWarning) {
  auto it = Mapped("parse_v1")->MakeIterator();
  std::vector<Element> before;
  for (int i = 0; i < 4; ++i) it->GetNext();
  const std::string state = it->Save();
  const std::string expected = it->GetNext()->DebugString();

  // Strict by default: the function's name is its identity.
  EXPECT_THROW(Mapped("parse_v2")->MakeIterator()->Restore(state), PipelineMismatchError);
  EXPECT_THROW(Mapped("parse_v2")->MakeIterator()->Restore(state, RestoreOptions{}),
               PipelineMismatchError);

  auto restored = Mapped("parse_v2")->MakeIterator();
  std::vector<std::string> warnings;
  restored->Restore(state, {.allow_changes = true}, &warnings);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("allow_changes"), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[0].find("'map(fn=parse_v1)'"), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[0].find("'map(fn=parse_v2)'"), std::string::npos) << warnings[0];
  EXPECT_EQ(restored->GetNext()->DebugString(), expected);

  // Every difference is listed, in one warning.
  auto both = Batch(Map(Range(0, 40), Identity, {.name = "parse_v2"}), 5)->MakeIterator();
  warnings.clear();
  both->Restore(state, {.allow_changes = true}, &warnings);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("differs in 2 ops"), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[0].find("batch_size=5"), std::string::npos) << warnings[0];

  // Nothing differs: no warning.
  warnings.clear();
  Mapped("parse_v1")->MakeIterator()->Restore(state, {.allow_changes = true}, &warnings);
  EXPECT_TRUE(warnings.empty());
}

TEST(StateTest, AllowChangesStillRefusesAnotherOpStructure) {
  const std::string state = Mapped("f")->MakeIterator()->Save();
  for (const DatasetPtr& other :
       {Batch(Filter(Range(0, 40), IsEvenForTest, {.name = "f"}), 3),  // another op
        Batch(Map(Map(Range(0, 40), Identity, {.name = "f"}), Identity, {.name = "g"}), 3),
        Map(Range(0, 40), Identity, {.name = "f"}),  // an op removed
        Batch(Map(Range(0, 40), Identity, {.name = "f"}, 2, /*deterministic=*/false), 3)}) {
    SCOPED_TRACE(other->Pipeline()[0]);
    try {
      other->MakeIterator()->Restore(state, {.allow_changes = true});
      ADD_FAILURE() << "restored into another op structure";
    } catch (const PipelineMismatchError& e) {
      EXPECT_NE(std::string(e.what()).find("structure"), std::string::npos) << e.what();
    }
  }
}

// A parameter change the op's state cannot follow is refused by the op, naming the parameter
// and its saved value (not "corrupt state": the bytes are fine).
TEST(StateTest, AllowChangesLeavesInvalidStatesToTheOpsValidation) {
  auto it = Shuffle(Range(0, 100), 10, 7)->MakeIterator();
  for (int i = 0; i < 5; ++i) it->GetNext();
  const std::string state = it->Save();
  for (int64_t changed : {20, 3}) {
    testing::ExpectError<PipelineMismatchError>(
        [&] {
          Shuffle(Range(0, 100), changed, 7)->MakeIterator()->Restore(state,
                                                                      {.allow_changes = true});
        },
        {"shuffle(buffer_size=" + std::to_string(changed), "saved with buffer_size=10",
         "allow_changes cannot restore past"});
  }
  testing::ExpectError<PipelineMismatchError>(
      [&] {
        Shuffle(Range(0, 100), 10, 8)->MakeIterator()->Restore(state, {.allow_changes = true});
      },
      {"shuffle(seed=8)", "saved with seed=7"});
  // Strict, the fingerprint names the change first.
  testing::ExpectError<PipelineMismatchError>(
      [&] { Shuffle(Range(0, 100), 20, 7)->MakeIterator()->Restore(state); }, {"buffer_size=10"});
}

// A shuffle whose buffer held the whole input (or had not filled) holds elements 0..read-1 in
// slots 0..read-1 whatever its size: under allow_changes it restores into any buffer they fit,
// and the rest of the run is the saved run's.
TEST(StateTest, AllowChangesRestoresAShuffleBufferThatHeldTheWholeInput) {
  auto it = Shuffle(Range(0, 30), 64, 7)->MakeIterator();
  for (int i = 0; i < 4; ++i) it->GetNext();
  const std::string state = it->Save();
  std::vector<Element> rest = testing::CollectFrom(*it);
  for (int64_t changed : {30, 31, 500}) {
    auto into = Shuffle(Range(0, 30), changed, 7)->MakeIterator();
    std::vector<std::string> warnings;
    into->Restore(state, {.allow_changes = true}, &warnings);
    EXPECT_EQ(warnings.size(), 1u);
    EXPECT_EQ(testing::CollectFrom(*into), rest) << "buffer_size=" << changed;
  }
  testing::ExpectError<PipelineMismatchError>(
      [&] {
        Shuffle(Range(0, 30), 29, 7)->MakeIterator()->Restore(state, {.allow_changes = true});
      },
      {"saved with buffer_size=31 or more"});
}

// Every kind of parameter change restores past under allow_changes or is a clean DataLossError;
// never a crash or another error. Each pipeline is saved at several points and restored into
// its variant; the variant must then run to its end.
TEST(StateTest, AllowChangesOverParameterChangesRestoresOrIsDataLoss) {
  struct Case {
    std::function<DatasetPtr()> saved, changed;
  };
  const std::vector<Case> cases = {
      {[] { return Range(0, 50); }, [] { return Range(0, 20); }},
      {[] { return Range(0, 50); }, [] { return Range(5, 50, 3); }},
      {[] { return Batch(Range(0, 50), 4); }, [] { return Batch(Range(0, 50), 7, true); }},
      {[] { return Take(Range(0, 50), 30); }, [] { return Take(Range(0, 50), 5); }},
      {[] { return Skip(Range(0, 50), 30); }, [] { return Skip(Range(0, 50), 2); }},
      {[] { return Repeat(Range(0, 5), 6); }, [] { return Repeat(Range(0, 5), 2); }},
      {[] { return Shard(Range(0, 50), 3, 1); }, [] { return Shard(Range(0, 50), 7, 6); }},
      {[] { return Window(Range(0, 50), 4, 3, 1); }, [] { return Window(Range(0, 50), 2, 5, 2); }},
      {[] { return Shuffle(Range(0, 50), 8, 1); }, [] { return Shuffle(Range(0, 50), 3, 2); }},
      {[] { return GlobalShuffle(Range(0, 50), 1); }, [] { return GlobalShuffle(Range(0, 9), 2); }},
      {[] {
         return Interleave(Range(1, 9),
                           [](const Element& e) { return Range(0, e.tensor().scalar<int64_t>()); },
                           4, 2, 0, true, {.name = "r"});
       },
       [] {
         return Interleave(Range(1, 9),
                           [](const Element& e) { return Range(0, e.tensor().scalar<int64_t>()); },
                           2, 3, 0, true, {.name = "r"});
       }},
      {[] {
         return SampleFromDatasets({Range(0, 20), Range(100, 130)}, {0.5, 0.5}, 3);
       },
       [] {
         return SampleFromDatasets({Range(0, 20), Range(100, 130)}, {0.9, 0.1}, 4);
       }},
      {[] { return Enumerate(Range(0, 50), 0); }, [] { return Enumerate(Range(0, 50), 100); }},
  };
  int64_t restored = 0, refused = 0;
  for (size_t c = 0; c < cases.size(); ++c) {
    for (int64_t k : {0, 1, 6, 25, 200}) {
      SCOPED_TRACE(cases[c].saved()->Pipeline()[0] + " after " + std::to_string(k));
      auto it = cases[c].saved()->MakeIterator();
      for (int64_t i = 0; i < k && it->GetNext(); ++i) {
      }
      const std::string state = it->Save();
      auto into = cases[c].changed()->MakeIterator();
      std::vector<std::string> warnings;
      try {
        into->Restore(state, {.allow_changes = true}, &warnings);
      } catch (const DataLossError&) {
        ++refused;
        continue;
      } catch (const PipelineMismatchError& e) {  // a change the op names (shuffle's size)
        EXPECT_NE(std::string(e.what()).find("allow_changes cannot restore past"),
                  std::string::npos)
            << e.what();
        ++refused;
        continue;
      }
      EXPECT_EQ(warnings.size(), 1u);
      for (int64_t i = 0; i < 1000 && into->GetNext(); ++i) {
      }
      ++restored;
    }
  }
  std::cout << "[allow_changes] restored " << restored << ", refused (DataLossError) " << refused
            << std::endl;
}

// A reader's own check of its file goes the same way: refused by default; under allow_changes
// listed in the warning, with the saved offset still checked against the file as it is now.
TEST(StateTest, AllowChangesRestoresPastAChangedFileButNotPastItsEnd) {
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("inputpipe_identity_" + std::to_string(::getpid()));
  auto write = [&](int64_t lines, const std::string& tag) {
    std::ofstream out(path, std::ios::trunc);
    for (int64_t i = 0; i < lines; ++i) out << tag << i << "\n";
  };
  write(50, "a");
  auto make = [&] { return TextLineDataset({path.string()}); };
  auto it = make()->MakeIterator();
  for (int i = 0; i < 20; ++i) it->GetNext();
  const std::string state = it->Save();

  write(60, "a");  // appended to: the saved offset is still the start of line 20
  const auto mtime = std::filesystem::last_write_time(path);
  std::filesystem::last_write_time(path, mtime + std::chrono::seconds(5));
  EXPECT_THROW(make()->MakeIterator()->Restore(state), PipelineMismatchError);
  auto restored = make()->MakeIterator();
  std::vector<std::string> warnings;
  restored->Restore(state, {.allow_changes = true}, &warnings);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("changed since the state was saved"), std::string::npos)
      << warnings[0];
  EXPECT_EQ(restored->GetNext()->tensor().strings().at(0), "a20");

  write(3, "a");  // shorter than the saved offset
  try {
    make()->MakeIterator()->Restore(state, {.allow_changes = true});
    ADD_FAILURE() << "restored an offset past the end of the file";
  } catch (const DataLossError& e) {
    EXPECT_NE(std::string(e.what()).find("offset"), std::string::npos) << e.what();
  }
  std::filesystem::remove(path);
}

// ---- Versions: fields added later, and states of a newer format.

TEST(StateReaderTest, FieldsAddedLaterReadAsTheirDefaultWhenAbsent) {
  StateNode node;
  node.op = "shuffle";
  node.ints = {{"skip", 2}, {"flag", 1}};
  node.blobs = {{"input_errors", std::string("\x01\x00", 2)}, {"empty", ""}};
  StateReader r(&node);
  EXPECT_EQ(r.ReadIntOr("skip", 0), 2);
  EXPECT_EQ(r.ReadIntOr("added_later", 7), 7);
  EXPECT_EQ(r.ReadIntInRangeOr("skip", 1, 3, 0), 2);
  EXPECT_EQ(r.ReadIntInRangeOr("added_later", 1, 3, 0), 0);  // the default may lie outside
  EXPECT_TRUE(r.ReadBoolOr("flag", false));
  EXPECT_TRUE(r.ReadBoolOr("added_later", true));
  EXPECT_FALSE(r.ReadBoolOr("added_later", false));
  ASSERT_NE(r.FindBytes("input_errors"), nullptr);
  EXPECT_EQ(*r.FindBytes("input_errors"), std::string("\x01\x00", 2));
  ASSERT_NE(r.FindBytes("empty"), nullptr);  // present and empty is not absent
  EXPECT_EQ(r.FindBytes("added_later"), nullptr);
  // A present field is still validated, naming the op and the field.
  try {
    r.ReadIntInRangeOr("skip", 3, 5, 0);
    ADD_FAILURE() << "an out-of-range field was accepted";
  } catch (const DataLossError& e) {
    EXPECT_NE(std::string(e.what()).find("'skip' of op 'shuffle' is 2, outside [3, 5]"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(r.ReadBoolOr("skip", false), DataLossError);
  // The required readers still refuse a missing field.
  EXPECT_THROW(r.ReadInt("added_later"), DataLossError);
  EXPECT_THROW(r.ReadBytes("added_later"), DataLossError);
}

// A shuffle over a map whose fn fails on 3: the consumer skips the error and goes on.
DatasetPtr ShuffleOverAFailingMap() {
  return Shuffle(Map(Range(0, 20),
                     [](const Element& e) {
                       if (e.tensor().scalar<int64_t>() == 3) throw InvalidArgumentError("bad 3");
                       return e;
                     },
                     {.name = "fail_at_3"}),
                 6, 1);
}

std::vector<int64_t> Drain(Iterator& it) {
  std::vector<int64_t> out;
  while (true) {
    try {
      std::optional<Element> e = it.GetNext();
      if (!e) return out;
      out.push_back(e->tensor().scalar<int64_t>());
    } catch (const InvalidArgumentError&) {
    }
  }
}

TEST(StateVersionTest, AShuffleStateWithoutInputErrorsListsNone) {
  // A state saved before input_errors existed, as every one without an error in its replay
  // span still is today: it restores, listing none, and continues exactly.
  auto clean = Shuffle(Range(0, 20), 6, 1);
  auto live = clean->MakeIterator();
  for (int i = 0; i < 4; ++i) live->GetNext();
  const std::string state = live->Save();
  const DecodedState decoded = DecodeState(state);
  EXPECT_EQ(StateReader(&decoded.root).FindBytes("input_errors"), nullptr);
  auto restored = clean->MakeIterator();
  restored->Restore(state);
  EXPECT_EQ(Drain(*restored), Drain(*live));

  // The same absence in a state whose span did hold an error means "none was raised": the
  // replay meets one where none is listed and refuses, rather than skip it unasked.
  auto failing = ShuffleOverAFailingMap()->MakeIterator();
  int taken = 0;
  while (taken < 2) {
    try {
      failing->GetNext();
      ++taken;
    } catch (const InvalidArgumentError&) {
    }
  }
  DecodedState with_errors = DecodeState(failing->Save());
  ASSERT_NE(StateReader(&with_errors.root).FindBytes("input_errors"), nullptr);
  auto fresh = ShuffleOverAFailingMap()->MakeIterator();
  fresh->Restore(EncodeState(with_errors.pipeline, with_errors.root));
  const std::vector<int64_t> expected = Drain(*failing);
  EXPECT_EQ(Drain(*fresh), expected);
  auto& blobs = with_errors.root.blobs;
  std::erase_if(blobs, [](const auto& kv) { return kv.first == "input_errors"; });
  try {
    ShuffleOverAFailingMap()->MakeIterator()->Restore(
        EncodeState(with_errors.pipeline, with_errors.root));
    ADD_FAILURE() << "a replay that meets an unlisted error was accepted";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("replay diverged"), std::string::npos) << e.what();
  }
}

// `state` with its format version replaced, the checksum made valid again.
std::string WithVersion(const std::string& state, uint64_t version) {
  std::string out = "IPST";
  PutVarint64(&out, version);
  ByteReader in(std::string_view(state).substr(4, state.size() - 8));
  uint64_t old_version;
  EXPECT_TRUE(in.GetVarint64(&old_version));
  std::string_view rest;
  in.GetBytes(in.remaining(), &rest);
  out += rest;
  PutFixed32(&out, crc32c::Mask(crc32c::Value(out.data(), out.size())));
  return out;
}

TEST(StateVersionTest, AStateOfANewerFormatIsRefusedNamingBothVersions) {
  const std::string state = Batch(Range(0, 10), 2)->MakeIterator()->Save();
  const uint32_t current = DecodeState(state).format_version;
  EXPECT_EQ(DecodeState(WithVersion(state, current)).format_version, current);
  const std::string newer = WithVersion(state, current + 1);
  for (auto restore : std::vector<std::function<void()>>{
           [&] { DecodeState(newer); },
           [&] { Batch(Range(0, 10), 2)->MakeIterator()->Restore(newer); }}) {
    try {
      restore();
      ADD_FAILURE() << "a state of format version " << current + 1 << " was accepted";
    } catch (const DataLossError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("state format version " + std::to_string(current + 1)),
                std::string::npos)
          << what;
      EXPECT_NE(what.find("reads version " + std::to_string(current)), std::string::npos)
          << what;
      EXPECT_NE(what.find("saved by a newer inputpipe"), std::string::npos) << what;
    }
  }
}

// 0..9, each of its saves counted: whether a save walked the tree or copied bytes encoded
// ahead (Iterator::EncodeAhead).
int counted_saves = 0;
class SaveCountingIterator;
class SaveCounting : public OpDataset<SaveCounting, SaveCountingIterator> {
 public:
  std::string op_name() const override { return "save_counting"; }
  std::string params() const override { return ""; }
  int64_t Cardinality() const override { return 10; }
};
class SaveCountingIterator : public DatasetIterator<SaveCounting> {
 public:
  using DatasetIterator::DatasetIterator;

 protected:
  std::optional<Element> GetNextInternal() override {
    if (next_ == 10) return std::nullopt;
    return Element(Tensor::Scalar<int64_t>(next_++));
  }
  void SaveInternal(StateWriter& w) override {
    ++counted_saves;
    w.WriteInt("next", next_);
  }
  void RestoreInternal(StateReader& r) override { next_ = ReadCounter(r, "next", 10); }

 private:
  int64_t next_ = 0;
};

TEST(EncodeAheadTest, SavesCopyTheBytesEncodedAheadUntilThePositionMoves) {
  const DatasetPtr ds = Batch(std::make_shared<SaveCounting>(), 2);
  auto it = ds->MakeIterator();
  it->GetNext();
  const std::string walked = it->Save();
  const int walks = counted_saves;
  it->EncodeAhead();
  EXPECT_EQ(counted_saves, walks + 1);
  EXPECT_EQ(it->Save(), walked);  // the same bytes, twice, with no walk of the tree
  EXPECT_EQ(it->Save(), walked);
  EXPECT_EQ(counted_saves, walks + 1);

  it->GetNext();  // the position moves: the bytes encoded ahead are dropped
  const std::string moved = it->Save();
  EXPECT_EQ(counted_saves, walks + 2);
  EXPECT_NE(moved, walked);
  auto resumed = ds->MakeIterator();
  resumed->Restore(moved);
  EXPECT_EQ(resumed->GetNext()->tensor(), Tensor::FromVector<int64_t>({4, 5}));

  it->EncodeAhead();  // Reset and Restore drop them too
  it->Reset();
  EXPECT_EQ(it->Save(), ds->MakeIterator()->Save());
  auto fresh = ds->MakeIterator();
  fresh->EncodeAhead();
  fresh->Restore(walked);
  EXPECT_EQ(fresh->Save(), walked);
  EXPECT_EQ(fresh->GetNext()->tensor(), Tensor::FromVector<int64_t>({2, 3}));
}

TEST(EncodeAheadTest, KeepsNothingForAPipelineWithExternalState) {
  auto it = Map(Range(0, 10), [](const Element& e) { return e; },
                {.name = "counter", .stateful = true})
                ->MakeIterator();
  it->GetNext();
  it->EncodeAhead();
  testing::ExpectError<ExternalStateError>([&] { it->Save(); }, {"map(fn=counter)"});
  std::vector<std::string> warnings;
  it->Save(ExternalStatePolicy::kWarn, &warnings);
  EXPECT_EQ(warnings.size(), 1u);
}

}  // namespace
}  // namespace inputpipe
