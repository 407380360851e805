// group_by_window: tf.data's grouping and flush order; exact resumption with windows open and
// a reduce in progress; the state's size.
#include <gtest/gtest.h>

#include "ops/reorder_test_util.h"

namespace inputpipe {
namespace {

using reorder_test::Seq;
using testing::Collect;

KeyFn Mod(int64_t m) {
  return [m](const Element& e) { return e.tensor().scalar<int64_t>() % m; };
}

// reduce_func = lambda key, window: window.batch(window_size)
ReduceFn BatchAll(int64_t size) {
  return [size](int64_t, DatasetPtr window) { return Batch(window, size); };
}

std::vector<std::vector<int64_t>> Rows(const std::vector<Element>& elements) {
  std::vector<std::vector<int64_t>> out;
  for (const auto& e : elements) {
    const Tensor& t = e.tensor();
    out.emplace_back(t.data<int64_t>(), t.data<int64_t>() + t.num_elements());
  }
  return out;
}

TEST(GroupByWindowTest, MatchesTfDataExample) {
  // tf.data: range(10).group_by_window(key_func=lambda x: x % 2,
  //     reduce_func=lambda key, ds: ds.batch(4), window_size=4)
  // -> [0 2 4 6], [1 3 5 7], [8], [9]  (leftover windows flushed in key order)
  auto out = Rows(Collect(GroupByWindow(Range(0, 10), Mod(2), BatchAll(4), 4)));
  EXPECT_EQ(out, (std::vector<std::vector<int64_t>>{{0, 2, 4, 6}, {1, 3, 5, 7}, {8}, {9}}));
  // Leftovers in increasing key order, whatever order the keys first appeared in.
  auto flush = Rows(Collect(GroupByWindow(
      Seq(5), [](const Element& e) { return 10 - e.tensor().scalar<int64_t>(); }, BatchAll(3), 3)));
  EXPECT_EQ(flush, (std::vector<std::vector<int64_t>>{{4}, {3}, {2}, {1}, {0}}));
  EXPECT_THROW(GroupByWindow(Range(0, 3), Mod(2), BatchAll(1), 0), InvalidArgumentError);
}

TEST(GroupByWindowTest, ResumesExactly) {
  testing::ExactnessOptions options;
  options.extra_breakpoints = reorder_test::Iota(60);
  testing::ExpectExactResume(GroupByWindow(Seq(100), Mod(3), BatchAll(4), 4), options);
  testing::ExpectExactResume(GroupByWindow(Seq(57), Mod(5), BatchAll(2), 7), options);
  // Unbatched windows (a reduce in progress between every two elements).
  ReduceFn identity = [](int64_t, DatasetPtr window) { return window; };
  testing::ExpectExactResume(GroupByWindow(Seq(80), Mod(4), identity, 6), options);
  testing::ExpectExactResume(GroupByWindow(Prefetch(Seq(80), 3), Mod(7), identity, 5), options);
}

TEST(GroupByWindowTest, StateGrowsByTwoBitsPerElementOfTheOpenSpan) {
  // One rare key keeps its window open for long: the state holds two bits (open window, window
  // being reduced) per element read since that window's first element, never an element.
  KeyFn rare = [](const Element& e) { return e.tensor().scalar<int64_t>() % 1000 == 0 ? 1 : 0; };
  auto ds = GroupByWindow(Seq(100000), rare, BatchAll(10), 10);
  auto it = ds->MakeIterator();
  testing::CollectFrom(*it, 500);  // 500 batches of key 0: about 5050 elements read
  std::string state = it->Save();
  std::cout << "group_by_window: state of " << state.size() << " bytes with a window open over "
            << "about 5050 input elements\n";
  EXPECT_GT(state.size(), 5000u / 8);
  EXPECT_LT(state.size(), 2 * 5100u / 8 + 400);  // two bitmaps: open windows, window being reduced
  auto restored = ds->MakeIterator();
  restored->Restore(state);
  EXPECT_EQ(Rows(testing::CollectFrom(*restored, 3)), Rows(testing::CollectFrom(*it, 3)));
}

TEST(GroupByWindowTest, WindowSizeFuncGivesEachKeyItsSize) {
  // tf.data: range(20).group_by_window(key_func=lambda x: x % 3,
  //     reduce_func=lambda key, ds: ds.batch(10), window_size_func=lambda key: key + 2)
  // (checked against tensorflow 2.21).
  int calls = 0;
  WindowSizeFn key_plus_two = [&calls](int64_t key) {
    ++calls;
    return key + 2;
  };
  auto out = Rows(Collect(GroupByWindow(Range(0, 20), Mod(3), BatchAll(10), key_plus_two)));
  EXPECT_EQ(
      out,
      (std::vector<std::vector<int64_t>>{
          {0, 3}, {1, 4, 7}, {6, 9}, {2, 5, 8, 11}, {12, 15}, {10, 13, 16}, {18}, {19}, {14, 17}}));
  EXPECT_EQ(calls, 3);  // once per key, as tf.data (which keeps the sizes in a map)
  // A constant window_size_func makes the windows of window_size.
  auto constant = GroupByWindow(Range(0, 10), Mod(2), BatchAll(4), [](int64_t) { return 4; });
  EXPECT_EQ(Rows(Collect(constant)),
            Rows(Collect(GroupByWindow(Range(0, 10), Mod(2), BatchAll(4), 4))));
  EXPECT_THROW(GroupByWindow(Range(0, 3), Mod(2), BatchAll(1), WindowSizeFn()),
               InvalidArgumentError);
}

TEST(GroupByWindowTest, NonPositiveWindowSizeIsAnErrorAtTheElement) {
  // tf.data: "Window size must be greater than zero"; the element that asked is dropped, its
  // key's size is not kept (the next element of that key asks again), and the stream goes on.
  int calls = 0;
  WindowSizeFn odd_is_zero = [&calls](int64_t key) {
    ++calls;
    return key == 1 ? 0 : 2;
  };
  auto it = GroupByWindow(Range(0, 6), Mod(2), BatchAll(2), odd_is_zero)->MakeIterator();
  try {
    it->GetNext();  // reads 0 (key 0, size 2), then 1: key 1's size is 0
    FAIL() << "expected InvalidArgumentError";
  } catch (const InvalidArgumentError& e) {
    EXPECT_NE(std::string(e.what()).find("window_size_func returned 0 for key 1"),
              std::string::npos)
        << e.what();
  }
  std::optional<Element> batch = it->GetNext();  // reads 2: window [0, 2] is full
  ASSERT_TRUE(batch.has_value());
  EXPECT_EQ(Rows({*batch}), (std::vector<std::vector<int64_t>>{{0, 2}}));
  EXPECT_THROW(it->GetNext(), InvalidArgumentError);  // reads 3: asks again
  EXPECT_THROW(it->GetNext(), InvalidArgumentError);  // reads 4 (window [4]), then 5
  EXPECT_EQ(calls, 4);
  EXPECT_EQ(Rows(testing::CollectFrom(*it)), (std::vector<std::vector<int64_t>>{{4}}));
}

TEST(GroupByWindowTest, WindowSizeFuncResumesExactly) {
  testing::ExactnessOptions options;
  options.extra_breakpoints = reorder_test::Iota(60);
  WindowSizeFn sizes = [](int64_t key) { return 1 + key * 2; };  // 1, 3, 5, 7
  testing::ExpectExactResume(GroupByWindow(Seq(100), Mod(4), BatchAll(8), sizes), options);
  ReduceFn identity = [](int64_t, DatasetPtr window) { return window; };
  testing::ExpectExactResume(GroupByWindow(Seq(90), Mod(4), identity, sizes), options);
  // Sizes that depend on the key's value, many keys.
  KeyFn tens = [](const Element& e) { return e.tensor().scalar<int64_t>() / 10 % 7; };
  testing::ExpectExactResume(
      GroupByWindow(Seq(150), tens, identity, [](int64_t key) { return 3 + 5 * key; }), options);
}

TEST(GroupByWindowTest, FingerprintTellsWindowSizeFromWindowSizeFunc) {
  auto fixed = GroupByWindow(Seq(30), Mod(3), BatchAll(4), 4);
  auto by_key = GroupByWindow(Seq(30), Mod(3), BatchAll(4), [](int64_t) { return 4; });
  EXPECT_EQ(fixed->Signature(), "group_by_window(fn=fn, window_size=4)");
  EXPECT_EQ(by_key->Signature(), "group_by_window(fn=fn, window_size=window_size_func)");
  reorder_test::ExpectStateRefusedBy(fixed, by_key);
  reorder_test::ExpectStateRefusedBy(by_key, fixed);
}

TEST(GroupByWindowTest, CorruptBitmapsAreDataLoss) {
  // A window open over a span that is not a whole number of bytes: the last byte of "open" has
  // padding bits, which a state written by this op never sets.
  auto ds = GroupByWindow(Seq(100), Mod(3), BatchAll(4), 4);
  auto it = ds->MakeIterator();
  DecodedState decoded;
  int64_t span = 0;
  for (int k = 1; k < 20 && span % 8 == 0; ++k) {
    it->GetNext();
    decoded = DecodeState(it->Save());
    int64_t read = 0, anchor = 0;
    for (const auto& [key, value] : decoded.root.ints) {
      if (key == "read") read = value;
      if (key == "anchor") anchor = value;
    }
    span = read - anchor;
  }
  ASSERT_NE(span % 8, 0);
  auto with_open = [&](std::string open) {
    DecodedState changed = decoded;
    for (auto& [key, bytes] : changed.root.blobs) {
      if (key == "open") bytes = open;
    }
    return EncodeState(changed.pipeline, changed.root);
  };
  std::string open;
  for (const auto& [key, bytes] : decoded.root.blobs) {
    if (key == "open") open = bytes;
  }
  ASSERT_FALSE(open.empty());
  EXPECT_NO_THROW(ds->MakeIterator()->Restore(with_open(open)));
  std::string padded = open;
  padded.back() = static_cast<char>(padded.back() | 0x80);
  EXPECT_THROW(ds->MakeIterator()->Restore(with_open(padded)), DataLossError);
  EXPECT_THROW(ds->MakeIterator()->Restore(with_open(open + '\0')), DataLossError);
}

}  // namespace
}  // namespace inputpipe
