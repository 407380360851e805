// Cross-version state compatibility: states saved by an earlier version of the code must still
// restore, and continue exactly where they were saved.
//
// tests/data/states/v1/ holds the bytes of Iterator::Save() written by the code of the first
// version of the state format, for every pipeline of Cases() at each of its breakpoints, one
// file each: <case>-<step>.state (step "end": saved after the last element). Beside them,
// next_elements.txt pins, as literal text, the elements each state continues with (the next
// kPinned, then "end" if the stream ends there): an order that changed fails here even if
// today's code would produce the changed order from the start as well. The check rebuilds
// each pipeline with today's code, restores each fixture into a fresh iterator, compares the
// first elements with the pins and the rest of the stream, element by element, with the tail
// of an uninterrupted run from the start. A failure here means that a change broke old
// checkpoints (an op's name, params, state keys, the byte format or a pinned order): fix the
// change, do not regenerate the fixtures.
//
// New fixtures (only for a new case, or a new format version in a new directory) are written
// by the same binary, which never overwrites a fixture or a pin already on disk:
//
//   INPUTPIPE_WRITE_STATE_FIXTURES=tests/data/states/v1 \
//     ./build/cpp/inputpipe_tests --gtest_filter='StateCompatFixtures.Write'
//
// Every pipeline is deterministic (explicit seeds, deterministic parallelism, explicit thread
// counts). The readers read the small files of tests/data through the "golden://" store below,
// which gives every file a fixed modification time, so that the fingerprint and the state
// depend on the code and the files' bytes only, not on where or when the tree was checked out.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "inputpipe/file_system.h"
#include "inputpipe/readers.h"
#include "ops/ops_test_util.h"

namespace inputpipe {
namespace {

using namespace testing;  // NOLINT: test helpers

// A step of kEnd: the state saved after the stream ended.
constexpr int64_t kEnd = -1;
// Elements pinned after each fixture in next_elements.txt.
constexpr int kPinned = 5;

// ---- Where the committed files are ----------------------------------------------------------

// tests/data: INPUTPIPE_TEST_DATA, else the source tree the binary was built from (a compile
// definition), else above this file or the working directory.
std::filesystem::path DataDir() {
  std::vector<std::filesystem::path> candidates;
  if (const char* env = std::getenv("INPUTPIPE_TEST_DATA")) candidates.emplace_back(env);
#ifdef INPUTPIPE_SOURCE_DIR
  candidates.push_back(std::filesystem::path(INPUTPIPE_SOURCE_DIR) / "tests" / "data");
#endif
  candidates.push_back(std::filesystem::path(__FILE__).parent_path() / ".." / ".." / "tests" /
                       "data");
  std::filesystem::path dir = std::filesystem::current_path();
  for (int i = 0; i < 6; ++i, dir = dir.parent_path()) candidates.push_back(dir / "tests" / "data");
  for (const auto& c : candidates) {
    if (std::filesystem::is_directory(c / "states" / "v1")) return c;
  }
  ADD_FAILURE() << "tests/data/states/v1 not found (set INPUTPIPE_TEST_DATA)";
  return "tests/data";
}

// tests/data/states/v1, or INPUTPIPE_STATE_TESTDATA.
std::filesystem::path FixtureDir() {
  if (const char* env = std::getenv("INPUTPIPE_STATE_TESTDATA")) return env;
  return DataDir() / "states" / "v1";
}

// ---- The "golden://" store: tests/data with a fixed modification time ----------------------
// A reader's state holds its open file's (size, mtime_ns), and its check of the files listed a
// hash of them: a checkout's files have the time of the checkout, so a state saved over
// tests/data itself would restore nowhere else. "golden://csv/quoted.csv" reads the committed
// bytes of tests/data/csv/quoted.csv, with a modification time fixed here.
constexpr int64_t kGoldenMtimeNs = 1'700'000'000'000'000'000;
constexpr std::string_view kGoldenScheme = "golden://";

FileStat FixedTime(FileStat stat) {
  stat.mtime_ns = kGoldenMtimeNs;
  return stat;
}

class FixedTimeFile : public SequentialFile {
 public:
  explicit FixedTimeFile(std::unique_ptr<SequentialFile> file) : file_(std::move(file)) {}
  size_t Read(char* dst, size_t n) override { return file_->Read(dst, n); }
  void Skip(uint64_t n) override { file_->Skip(n); }
  FileStat Stat() override { return FixedTime(file_->Stat()); }

 private:
  std::unique_ptr<SequentialFile> file_;
};

class GoldenFileSystem : public FileSystem {
 public:
  explicit GoldenFileSystem(std::filesystem::path root)
      : root_(std::move(root)), posix_(FileSystemForPath("/")) {}
  std::unique_ptr<SequentialFile> NewSequentialFile(const std::string& path) override {
    return std::make_unique<FixedTimeFile>(posix_->NewSequentialFile(Local(path)));
  }
  std::unique_ptr<RandomAccessFile> NewRandomAccessFile(const std::string& path) override {
    return posix_->NewRandomAccessFile(Local(path));
  }
  FileStat Stat(const std::string& path) override { return FixedTime(posix_->Stat(Local(path))); }
  bool FileExists(const std::string& path) override { return posix_->FileExists(Local(path)); }
  std::vector<std::string> ListDir(const std::string& dir) override {
    return posix_->ListDir(Local(dir));
  }
  void RenameFile(const std::string& from, const std::string&) override { ReadOnly(from); }
  void DeleteFile(const std::string& path) override { ReadOnly(path); }
  void CreateDirs(const std::string& dir) override { ReadOnly(dir); }
  void SyncDir(const std::string&) override {}
  std::unique_ptr<WritableFile> NewWritableFile(const std::string& path) override {
    ReadOnly(path);
  }

 private:
  std::string Local(const std::string& path) const {
    return (root_ / path.substr(std::min(path.size(), kGoldenScheme.size()))).string();
  }
  [[noreturn]] static void ReadOnly(const std::string& path) {
    throw FileSystemError("write", path, "the golden:// store of the state fixtures is read-only");
  }

  const std::filesystem::path root_;
  const std::shared_ptr<FileSystem> posix_;
};

// "golden://<relative>", registering the store on first use.
std::string Golden(const std::string& relative) {
  static const bool registered = [] {
    RegisterFileSystem("golden", std::make_shared<GoldenFileSystem>(DataDir()));
    return true;
  }();
  (void)registered;
  return std::string(kGoldenScheme) + relative;
}

// ---- Elements as text --------------------------------------------------------------------
// One line per element, exact (floats with enough digits to round-trip), for the pins.

std::string QuotedText(const std::string& bytes) {
  std::string out = "\"";
  for (unsigned char c : bytes) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string TensorText(const Tensor& t) {
  std::string out(DTypeName(t.dtype()));
  out += "[";
  for (size_t i = 0; i < t.shape().size(); ++i) {
    out += (i ? "," : "") + std::to_string(t.shape()[i]);
  }
  out += "]";
  char buf[40];
  for (int64_t i = 0; i < t.num_elements(); ++i) {
    out += i ? "," : " ";
    switch (t.dtype()) {
      case DType::kInt32: out += std::to_string(t.data<int32_t>()[i]); break;
      case DType::kInt64: out += std::to_string(t.data<int64_t>()[i]); break;
      case DType::kFloat32:
        std::snprintf(buf, sizeof(buf), "%.9g", static_cast<double>(t.data<float>()[i]));
        out += buf;
        break;
      case DType::kFloat64:
        std::snprintf(buf, sizeof(buf), "%.17g", t.data<double>()[i]);
        out += buf;
        break;
      case DType::kString: out += QuotedText(t.strings()[i]); break;
      default: ADD_FAILURE() << "no text for dtype " << DTypeName(t.dtype()); out += "?";
    }
  }
  return out;
}

std::string ElementText(const Element& e) {
  if (e.is_tensor()) return TensorText(e.tensor());
  if (e.is_dataset()) {
    std::string out = "<";
    std::unique_ptr<Iterator> it = e.dataset()->MakeIterator();
    for (int i = 0; std::optional<Element> x = it->GetNext(); ++i) {
      out += (i ? ", " : "") + ElementText(*x);
    }
    return out + ">";
  }
  std::string out = e.is_dict() ? "{" : "(";
  for (size_t i = 0; i < e.size(); ++i) {
    out += i ? ", " : "";
    if (e.is_dict()) out += e.keys()[i] + ": ";
    out += ElementText(e[i]);
  }
  return out + (e.is_dict() ? "}" : ")");
}

// The next kPinned elements of `it` as one line ("a | b | ..."), then "end" if it ended
// before; the elements taken are appended to `taken`.
std::string NextText(Iterator& it, std::vector<Element>* taken) {
  std::string out;
  for (int i = 0; i < kPinned; ++i) {
    std::optional<Element> e = it.GetNext();
    out += i ? " | " : "";
    if (!e) return out + "end";
    out += ElementText(*e);
    taken->push_back(Materialize(*e));  // as Collect gives them: windows as tuples
  }
  return out;
}

struct CompatCase {
  std::string name;
  std::function<DatasetPtr()> make;
  std::vector<int64_t> steps;
  // Elements compared after a restore: infinite streams are compared over this many.
  int64_t tail = 80;
};
// gtest prints a failing case by its name, not its bytes.
void PrintTo(const CompatCase& c, std::ostream* os) { *os << c.name; }

// ---- The pipelines ------------------------------------------------------------------------
// Never change a case's pipeline or steps: its fixtures were saved by it. Add new cases (and
// write their fixtures) instead.

Element ModFn(const Element& e, int64_t m) { return I64(e.tensor().scalar<int64_t>() % m); }

// x -> a vector of x % 4 + 1 copies of x: rows of varying length for padded_batch.
Element RaggedRow(const Element& e) {
  int64_t x = e.tensor().scalar<int64_t>();
  return I64s(std::vector<int64_t>(x % 4 + 1, x));
}

// Yields 0, 1, ..., n-1; its state is the next value as decimal text.
Generator Counting(int64_t n) {
  auto next_value = std::make_shared<int64_t>(0);
  Generator g;
  g.next = [=]() -> std::optional<Element> {
    if (*next_value >= n) return std::nullopt;
    return Element(I64((*next_value)++));
  };
  g.get_state = [=] { return std::to_string(*next_value); };
  g.set_state = [=](const std::string& s) { *next_value = std::stoll(s); };
  return g;
}

// tests/data/csv/quoted.csv (quotes, embedded newlines and delimiters, empty fields, a header)
// as make_golden.py's "quoted" case reads it.
DatasetPtr QuotedCsv() {
  return CsvDataset({Golden("csv/quoted.csv")},
                    {CsvColumn::Required(DType::kInt64), CsvColumn::Default(Tensor::String("anon")),
                     CsvColumn::Default(Tensor::Scalar<float>(0)),
                     CsvColumn::Default(Tensor::String(""))},
                    {.header = true});
}

DatasetPtr Repeated(const Element& e) {
  return Repeat(FromTensors(e), e.tensor().scalar<int64_t>());
}

const std::vector<CompatCase>& Cases() {
  static const auto* cases = new std::vector<CompatCase>{
      {"range", [] { return Range(3, 90, 4); }, {0, 1, 7, kEnd}},
      {"from_tensor_slices",
       [] {
         std::vector<std::string> words;
         for (int i = 0; i < 12; ++i) words.push_back(std::string(i % 5, 'a' + i));
         std::vector<double> grid;
         for (int i = 0; i < 36; ++i) grid.push_back(i * 0.25);
         return FromTensorSlices(Element::Dict(
             {{"id", I64s({10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21})},
              {"word", Tensor::FromStrings(words, {12})},
              {"grid", Tensor::FromVector<double>(grid, {12, 3})}}));
       },
       {0, 4, 11, kEnd}},
      {"from_tensors_repeat", [] { return Repeat(FromTensors(I64s({1, 2, 3})), 6); }, {0, 2, kEnd}},
      {"counter_take", [] { return Take(Counter(5, 3), 40); }, {0, 9, kEnd}},
      {"from_generator", [] { return FromGenerator([] { return Counting(25); }, "count"); },
       {0, 6, kEnd}},
      {"map", [] { return Map(Range(0, 40), SquareFn, {.name = "square"}); }, {0, 5, kEnd}},
      {"filter", [] { return Filter(Range(0, 50), IsEven, {.name = "even"}); }, {0, 3, 24, kEnd}},
      {"batch", [] { return Batch(Range(0, 23), 4); }, {0, 2, 5, kEnd}},
      {"batch_drop_remainder", [] { return Batch(Range(0, 23), 5, true); }, {0, 3, kEnd}},
      {"padded_batch",
       [] {
         return PaddedBatch(Map(Range(0, 22), RaggedRow, {.name = "ragged"}), 3, {{-1}}, {I64(-1)});
       },
       {0, 2, kEnd}},
      {"unbatch", [] { return Unbatch(Batch(Range(0, 31), 6)); }, {0, 1, 6, 13, kEnd}},
      {"repeat", [] { return Repeat(Range(0, 7), 3); }, {0, 6, 7, 15, kEnd}},
      {"repeat_forever", [] { return Repeat(Filter(Range(0, 9), IsEven, {.name = "even"})); },
       {0, 4, 23}, 40},
      {"take_skip", [] { return Take(Skip(Range(0, 100), 13), 40); }, {0, 1, 39, kEnd}},
      {"shard", [] { return Shard(Map(Range(0, 50), SquareFn, {.name = "sq"}), 3, 1); },
       {0, 4, kEnd}},
      {"enumerate", [] { return Enumerate(Filter(Range(10, 40), IsEven, {.name = "even"}), 5); },
       {0, 3, kEnd}},
      {"concatenate",
       [] { return Concatenate(Range(0, 10), Filter(Range(10, 30), IsEven, {.name = "even"})); },
       {0, 9, 10, 14, kEnd}},
      {"zip",
       [] {
         return Zip({Range(0, 20), Map(Range(0, 25), SquareFn, {.name = "sq"}),
                     Filter(Range(0, 60), IsEven, {.name = "even"})});
       },
       {0, 7, kEnd}},
      {"zip_dict", [] { return Zip({Range(0, 12), Range(100, 130)}, {"a", "b"}); }, {0, 5, kEnd}},
      {"flat_map",
       [] {
         return FlatMap(Range(1, 7), [](const Element& e) {
           int64_t x = e.tensor().scalar<int64_t>();
           return Take(Counter(10 * x), x);
         }, {.name = "count_from_10x"});
       },
       {0, 1, 4, 12, kEnd}},
      {"window", [] { return Window(Range(0, 20), 4, 3, 2); }, {0, 2, kEnd}},
      {"window_flat_map",
       [] {
         return FlatMap(Window(Range(0, 30), 5, 2, 1, true),
                        [](const Element& w) { return Batch(w.dataset(), 5); }, {.name = "batch5"});
       },
       {0, 3, kEnd}},
      {"global_shuffle",
       [] { return Repeat(GlobalShuffle(Map(Range(0, 30), SquareFn, {.name = "sq"}), 7), 3); },
       {0, 5, 30, 47, kEnd}},
      {"global_shuffle_fixed_order",
       [] { return Repeat(GlobalShuffle(Range(0, 25), 9, /*reshuffle_each_iteration=*/false), 2); },
       {0, 26, kEnd}},
      {"shuffle", [] { return Repeat(Shuffle(Range(0, 50), 8, 11), 2); }, {0, 1, 9, 55, kEnd}},
      {"prefetch", [] { return Prefetch(Map(Range(0, 40), SquareFn, {.name = "sq"}), 4); },
       {0, 3, 17, kEnd}},
      {"parallel_map",
       [] { return Map(Range(0, 60), SquareFn, {.name = "sq"}, /*num_parallel_calls=*/3); },
       {0, 2, 31, kEnd}},
      {"interleave",
       [] { return Interleave(Range(1, 7), Repeated, 2, 2, 0, true, {.name = "repeated"}); },
       {0, 3, 8, kEnd}},
      {"parallel_interleave",
       [] { return Interleave(Range(1, 7), Repeated, 3, 1, 3, true, {.name = "repeated"}); },
       {0, 4, 11, kEnd}},
      {"sample_from_datasets",
       [] {
         return SampleFromDatasets({Range(0, 30), Range(100, 120), Range(200, 205)},
                                   {0.5, 0.3, 0.2}, 5);
       },
       {0, 6, 25, kEnd}},
      {"sample_from_datasets_stop_on_empty",
       [] { return SampleFromDatasets({Range(0, 10), Range(100, 140)}, {}, 13, true); },
       {0, 8, kEnd}},
      {"choose_from_datasets",
       [] {
         return ChooseFromDatasets({Range(0, 10), Range(100, 110), Range(200, 203)},
                                   FromTensorSlices(I64s({0, 1, 1, 2, 0, 2, 2, 2, 1, 0, 0, 1})),
                                   /*stop_on_empty_dataset=*/false);
       },
       {0, 3, 9, kEnd}},
      {"random", [] { return RandomDataset(42); }, {0, 5, 17}, 30},
      {"group_by_window",
       [] {
         return GroupByWindow(
             Range(0, 40), [](const Element& e) { return e.tensor().scalar<int64_t>() % 3; },
             [](int64_t, DatasetPtr window) { return Batch(window, 4); }, 4, {.name = "mod3"});
       },
       {0, 2, 7, kEnd}},
      {"group_by_window_size_fn",
       [] {
         return GroupByWindow(
             Range(0, 45), [](const Element& e) { return e.tensor().scalar<int64_t>() % 4; },
             [](int64_t, DatasetPtr window) { return Batch(window, 10); },
             [](int64_t key) { return key + 2; }, {.name = "mod4"});
       },
       {0, 3, 9, kEnd}},
      {"unique",
       [] { return Unique(Map(Range(0, 60), [](const Element& e) { return ModFn(e, 17); },
                              {.name = "mod17"})); },
       {0, 5, 16, kEnd}},
      {"ignore_errors",
       [] {
         return IgnoreErrors(Map(Range(0, 30),
                                 [](const Element& e) {
                                   if (e.tensor().scalar<int64_t>() % 7 == 3) {
                                     throw InvalidArgumentError("bad element");
                                   }
                                   return e;
                                 },
                                 {.name = "fail_at_3_mod_7"}));
       },
       {0, 3, 4, 20, kEnd}},
      {"chain",
       [] {
         return Take(Repeat(Batch(Filter(Map(Range(0, 20), SquareFn, {.name = "square"}), IsEven,
                                         {.name = "even"}),
                                  3),
                           3),
                     8);
       },
       {0, 3, 4, kEnd}},
      {"chain_parallel",
       [] {
         auto ds = Shuffle(Map(Range(0, 80), SquareFn, {.name = "sq"}, 2), 10, 3);
         return Prefetch(Batch(Enumerate(ds), 6), 2);
       },
       {0, 1, 6, kEnd}},
      // The readers, over committed files (see "golden://" above).
      {"csv", [] { return QuotedCsv(); }, {0, 2, 3, kEnd}},
      {"csv_shuffle", [] { return Repeat(Shuffle(QuotedCsv(), 3, 7), 2); }, {0, 4, 7, kEnd}},
      {"tfrecord",
       [] {
         return TFRecordDataset(
             {Golden("tfrecord/examples.tfrecord"), Golden("tfrecord/examples.tfrecord")});
       },
       {0, 3, 5, kEnd}},
      {"tfrecord_gzip",
       [] {
         return TFRecordDataset({Golden("tfrecord/examples.tfrecord.gz")},
                                {.compression_type = "GZIP"});
       },
       {0, 2, kEnd}},
      {"tfrecord_indexed_global_shuffle",
       [] {
         return GlobalShuffle(TFRecordDataset({Golden("tfrecord/examples.tfrecord"),
                                               Golden("tfrecord/examples.tfrecord")},
                                              {.index = true}),
                              3);
       },
       {0, 3, kEnd}},
      {"interleave_tfrecord",
       [] {
         DatasetPtr files = FromTensorSlices(Tensor::FromStrings(
             {Golden("tfrecord/examples.tfrecord"), Golden("tfrecord/examples.tfrecord.gz")},
             {2}));
         return Interleave(
             files,
             [](const Element& e) {
               const std::string& path = e.tensor().strings()[0];
               return TFRecordDataset({path}, {.compression_type = path.ends_with(".gz") ? "GZIP"
                                                                                         : ""});
             },
             2, 1, 0, true, {.name = "tfrecord_of"});
       },
       {0, 3, kEnd}},
  };
  return *cases;
}

// ---- Fixtures -----------------------------------------------------------------------------

std::string FixtureName(const CompatCase& c, int64_t step) {
  return c.name + "-" + (step == kEnd ? std::string("end") : std::to_string(step)) + ".state";
}

bool ReadBytes(const std::filesystem::path& path, std::string* bytes) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  std::stringstream ss;
  ss << f.rdbuf();
  *bytes = ss.str();
  return true;
}

// The first `step` elements of a fresh iterator of `ds` (all of them for kEnd).
std::unique_ptr<Iterator> Advanced(const DatasetPtr& ds, int64_t step) {
  std::unique_ptr<Iterator> it = ds->MakeIterator();
  for (int64_t i = 0; step == kEnd || i < step; ++i) {
    if (!it->GetNext()) break;
  }
  return it;
}

constexpr char kPinsFile[] = "next_elements.txt";

// next_elements.txt: "<fixture>: <element> | <element> | ..." per line; '#' starts a comment.
std::map<std::string, std::string> ReadPins(const std::filesystem::path& dir) {
  std::map<std::string, std::string> pins;
  std::ifstream f(dir / kPinsFile);
  std::string line;
  while (std::getline(f, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t colon = line.find(": ");
    if (colon == std::string::npos) {
      ADD_FAILURE() << dir / kPinsFile << ": not '<fixture>: <elements>': " << line;
      continue;
    }
    pins[line.substr(0, colon)] = line.substr(colon + 2);
  }
  return pins;
}

// The continuation of the fixture `name` of case `c`, restored by today's code.
std::string RestoredNextText(const CompatCase& c, const std::string& state) {
  std::unique_ptr<Iterator> it = c.make()->MakeIterator();
  it->Restore(state);
  std::vector<Element> taken;
  return NextText(*it, &taken);
}

// Writes the fixtures and pins missing from `dir`. A fixture on disk is never rewritten: its
// worth is having been saved by older code. A missing pin is taken from the fixture on disk.
TEST(StateCompatFixtures, Write) {
  const char* env = std::getenv("INPUTPIPE_WRITE_STATE_FIXTURES");
  if (env == nullptr) GTEST_SKIP() << "set INPUTPIPE_WRITE_STATE_FIXTURES=dir to write them";
  const std::filesystem::path dir(env);
  std::filesystem::create_directories(dir);
  std::map<std::string, std::string> pins = ReadPins(dir);
  for (const CompatCase& c : Cases()) {
    for (int64_t step : c.steps) {
      const std::filesystem::path path = dir / FixtureName(c, step);
      if (!std::filesystem::exists(path)) {
        std::string state = Advanced(c.make(), step)->Save();
        std::ofstream f(path, std::ios::binary | std::ios::trunc);
        f.write(state.data(), static_cast<std::streamsize>(state.size()));
        ASSERT_TRUE(f.good()) << "cannot write " << path;
      }
      std::string& pin = pins[FixtureName(c, step)];
      if (!pin.empty()) continue;
      std::string state;
      ASSERT_TRUE(ReadBytes(path, &state)) << path;
      pin = RestoredNextText(c, state);
    }
  }
  std::ofstream f(dir / kPinsFile, std::ios::trunc);
  f << "# The elements each state of this directory continues with after a restore: the next "
    << kPinned << ",\n# then \"end\" if the stream ends before. Written once by "
    << "src/state/state_compat_test.cc; never edit a line.\n";
  for (const auto& [name, text] : pins) f << name << ": " << text << "\n";
  ASSERT_TRUE(f.good()) << "cannot write " << dir / kPinsFile;
}

// Every fixture and pin on disk belongs to a case, so a case cannot be dropped silently.
TEST(StateCompatFixtures, EveryFixtureHasACase) {
  std::set<std::string> expected;
  for (const CompatCase& c : Cases()) {
    for (int64_t step : c.steps) expected.insert(FixtureName(c, step));
  }
  std::filesystem::path dir = FixtureDir();
  int found = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (!entry.is_regular_file() || entry.path().extension() != ".state") continue;
    std::string name = entry.path().filename().string();
    EXPECT_TRUE(expected.count(name)) << dir / name << " is not the fixture of any case";
    ++found;
  }
  EXPECT_EQ(found, static_cast<int>(expected.size())) << "fixtures in " << dir;
  std::set<std::string> pinned;
  for (const auto& [name, text] : ReadPins(dir)) pinned.insert(name);
  EXPECT_EQ(pinned, expected) << "the fixtures of " << dir / kPinsFile;
}

class StateCompatTest : public ::testing::TestWithParam<CompatCase> {};

TEST_P(StateCompatTest, OldStateRestoresAndContinuesExactly) {
  const CompatCase& c = GetParam();
  std::filesystem::path dir = FixtureDir();
  const std::map<std::string, std::string> pins = ReadPins(dir);
  int64_t longest = 0;
  for (int64_t step : c.steps) longest = std::max(longest, step);
  const bool finite = c.steps.back() == kEnd;
  // The uninterrupted run: whole for a finite case, else up to the last step plus the tail.
  std::vector<Element> full = Collect(c.make(), finite ? -1 : longest + c.tail);
  ASSERT_FALSE(full.empty()) << c.name;
  for (int64_t step : c.steps) {
    SCOPED_TRACE(FixtureName(c, step));
    std::filesystem::path path = dir / FixtureName(c, step);
    std::string state;
    ASSERT_TRUE(ReadBytes(path, &state))
        << "missing state fixture " << path << " of case '" << c.name
        << "': write it with INPUTPIPE_WRITE_STATE_FIXTURES (see this file's banner)";
    std::unique_ptr<Iterator> it = c.make()->MakeIterator();
    try {
      it->Restore(state);
    } catch (const std::exception& e) {
      FAIL() << "a state saved by the first version no longer restores: " << e.what();
    }
    // The pinned continuation first: literal, so a changed order is caught even where the
    // uninterrupted run changed with it.
    std::vector<Element> rest;
    const std::string next = NextText(*it, &rest);
    auto pin = pins.find(FixtureName(c, step));
    if (pin == pins.end()) {
      ADD_FAILURE() << "no line for " << FixtureName(c, step) << " in " << dir / kPinsFile;
    } else {
      EXPECT_EQ(next, pin->second) << "the elements after the restore are not the pinned ones";
    }
    const bool ended = next.ends_with("end");
    const size_t start = step == kEnd ? full.size() : static_cast<size_t>(step);
    ASSERT_LE(start, full.size());
    const size_t end = finite ? full.size() : std::min(full.size(), start + c.tail);
    if (!ended && rest.size() < end - start) {
      std::vector<Element> more =
          CollectFrom(*it, finite ? -1 : static_cast<int64_t>(end - start - rest.size()));
      for (auto& e : more) rest.push_back(std::move(e));
    }
    ASSERT_EQ(rest.size(), end - start) << "length of the resumed stream";
    for (size_t i = 0; i < rest.size(); ++i) {
      ASSERT_TRUE(rest[i] == full[start + i])
          << "element " << start + i << " after the restore differs from the uninterrupted run";
    }
    if (finite) EXPECT_FALSE(it->GetNext().has_value()) << "the resumed stream did not end";
  }
}

INSTANTIATE_TEST_SUITE_P(V1, StateCompatTest, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<CompatCase>& info) {
                           return info.param.name;
                         });

}  // namespace
}  // namespace inputpipe
