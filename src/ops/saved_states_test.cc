// States saved by the threaded ops (and group_by_window) before they shared src/ops/threading/
// and before interleave was split in two: recorded with the library of that time by saving
// each pipeline below after k elements. They must restore, save again to the same bytes, and
// continue the stream; where the order is deterministic, today's code must save the same bytes
// after the same k elements. With deterministic=false the elements seen before the save were
// recorded too: with the rest after the restore they make the whole stream, each once.
#include <gtest/gtest.h>

#include <chrono>

#include "inputpipe/ops.h"
#include "ops/reorder_test_util.h"

namespace inputpipe {
namespace {

int64_t V(const Element& e) { return e.tensor().scalar<int64_t>(); }

DatasetFn Uneven() {
  return [](const Element& x) {
    int64_t v = V(x);
    return Map(Range(0, v % 5),
               [v](const Element& e) { return Element(Tensor::Scalar<int64_t>(v * 100 + V(e))); },
               {.name = "tag"});
  };
}

DatasetFn Repeated(int64_t times) {
  return [times](const Element& x) {
    return Map(Range(0, times), [x](const Element&) { return x; }, {.name = "const"});
  };
}

KeyFn Mod(int64_t m) {
  return [m](const Element& e) { return V(e) % m; };
}

// Uneven work, so that completion order differs from input order.
MapFn UnevenSpin() {
  return [](const Element& e) {
    reorder_test::Spin(static_cast<int>((V(e) * 7919) % 13 * 15));
    return e;
  };
}

DatasetPtr Pipeline(const std::string& name) {
  ReduceFn batch4 = [](int64_t, DatasetPtr w) { return Batch(w, 4); };
  ReduceFn identity = [](int64_t, DatasetPtr w) { return w; };
  if (name == "interleave_sequential") return Interleave(Range(0, 30), Uneven(), 3, 2);
  if (name == "interleave_parallel") return Interleave(Range(0, 30), Uneven(), 3, 2, 2);
  if (name == "interleave_blocks") return Interleave(Range(1, 6), Repeated(6), 2, 4, 0);
  if (name == "interleave_blocks_parallel") return Interleave(Range(1, 6), Repeated(6), 2, 4, 3);
  if (name == "interleave_nondeterministic") {
    return Interleave(Range(0, 60), Uneven(), 4, 2, 2, false);
  }
  if (name == "group_by_window_batch") return GroupByWindow(Range(0, 100), Mod(3), batch4, 4);
  if (name == "group_by_window_identity") return GroupByWindow(Range(0, 80), Mod(4), identity, 6);
  if (name == "parallel_map_nondeterministic") {
    return Map(Range(0, 300), UnevenSpin(), {.name = "uneven"}, 4, false);
  }
  if (name == "parallel_map") return Map(Range(0, 60), UnevenSpin(), {.name = "uneven"}, 3);
  if (name == "prefetch") return Prefetch(Range(0, 50), 4);
  ADD_FAILURE() << "no pipeline " << name;
  return Range(0, 0);
}

// Every value of every element (group_by_window's are batches), in order.
std::vector<int64_t> Values(const std::vector<Element>& elements) {
  std::vector<int64_t> out;
  for (const Element& e : elements) {
    const Tensor& t = e.tensor();
    out.insert(out.end(), t.data<int64_t>(), t.data<int64_t>() + t.num_elements());
  }
  return out;
}

std::string FromHex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

struct SavedState {
  const char* pipeline;
  int64_t k;                  // elements taken before the save
  std::vector<int64_t> seen;  // deterministic=false: their values
  const char* hex;
  // Where today's code saves other bytes for the same position: those. A deterministic parallel
  // map is "map(fn=...)" to a state since its threading stopped being part of its identity
  // (the old "parallel_map(..., deterministic=true)" is read as that).
  const char* today_hex = nullptr;
};

// clang-format off
const SavedState kSavedStates[] = {
    {"interleave_sequential", 0,
     {},
     "4950535401a0015178dacbcc2b492dca494d2c4bd548cbb34dcbd35148ae4cce498dcf49cd4b2fc9b035d651"
     "48cac94fce86f18d34b914148a12f3d253358a4b128b4a6c0d74148a4bf20b6c8dc18cd4025b434d00dae31c"
     "25000a696e7465726c65617665030b6379636c655f696e646578000b626c6f636b5f696e646578000c656e64"
     "5f6f665f696e7075740000000105696e7075740572616e676501046e6578740000000021c92ca6"},
    {"interleave_sequential", 7,
     {},
     "4950535401da025178dacbcc2b492dca494d2c4bd548cbb34dcbd35148ae4cce498dcf49cd4b2fc9b035d651"
     "48cac94fce86f18d34b914148a12f3d253358a4b128b4a6c0d74148a4bf20b6c8dc18cd4025b434d00dae31c"
     "25000a696e7465726c65617665030b6379636c655f696e646578040b626c6f636b5f696e646578000c656e64"
     "5f6f665f696e7075740000000705696e7075740572616e676501046e6578740a000000076f757465725f3005"
     "72616e676501046e6578740600000007696e6e65725f30036d61700000000105696e7075740572616e676501"
     "046e65787404000000076f757465725f310572616e676501046e6578740800000007696e6e65725f31036d61"
     "700000000105696e7075740572616e676501046e65787404000000076f757465725f320572616e676501046e"
     "6578740400000007696e6e65725f32036d61700000000105696e7075740572616e676501046e657874040000"
     "005ee50c33"},
    {"interleave_sequential", 31,
     {},
     "49505354019c025178dacbcc2b492dca494d2c4bd548cbb34dcbd35148ae4cce498dcf49cd4b2fc9b035d651"
     "48cac94fce86f18d34b914148a12f3d253358a4b128b4a6c0d74148a4bf20b6c8dc18cd4025b434d00dae31c"
     "25000a696e7465726c65617665030b6379636c655f696e646578000b626c6f636b5f696e646578020c656e64"
     "5f6f665f696e7075740000000505696e7075740572616e676501046e65787422000000076f757465725f3005"
     "72616e676501046e6578742000000007696e6e65725f30036d61700000000105696e7075740572616e676501"
     "046e65787402000000076f757465725f310572616e676501046e6578741c00000007696e6e65725f31036d61"
     "700000000105696e7075740572616e676501046e657874080000001dcb6f6c"},
    {"interleave_sequential", 60,
     {},
     "4950535401de015178dacbcc2b492dca494d2c4bd548cbb34dcbd35148ae4cce498dcf49cd4b2fc9b035d651"
     "48cac94fce86f18d34b914148a12f3d253358a4b128b4a6c0d74148a4bf20b6c8dc18cd4025b434d00dae31c"
     "25000a696e7465726c65617665030b6379636c655f696e646578040b626c6f636b5f696e646578000c656e64"
     "5f6f665f696e7075740000000305696e7075740572616e676501046e6578743c000000076f757465725f3105"
     "72616e676501046e6578743a00000007696e6e65725f31036d61700000000105696e7075740572616e676501"
     "046e65787408000000b35a934d"},
    {"interleave_parallel", 13,
     {},
     "4950535401de015178dacbcc2b492dca494d2c4bd548cbb34dcbd35148ae4cce498dcf49cd4b2fc9b035d651"
     "48cac94fce86f18d34b914148a12f3d253358a4b128b4a6c0d74148a4bf20b6c8dc18cd4025b434d00dae31c"
     "25000a696e7465726c65617665030b6379636c655f696e646578000b626c6f636b5f696e646578000c656e64"
     "5f6f665f696e7075740000000305696e7075740572616e676501046e65787410000000076f757465725f3205"
     "72616e676501046e6578740e00000007696e6e65725f32036d61700000000105696e7075740572616e676501"
     "046e65787404000000cbc2993b"},
    {"interleave_blocks", 9,
     {},
     "49505354019c025178dacbcc2b492dca494d2c4bd548cbb34dcbd35148ae4cce498dcf49cd4b2fc9b035d251"
     "48cac94fce86f14d34b914148a12f3d253358a4b128b4a6c0d75148a4bf20b6ccd40746a81ada12600bff01b"
     "fa000a696e7465726c65617665030b6379636c655f696e646578000b626c6f636b5f696e646578020c656e64"
     "5f6f665f696e7075740000000505696e7075740572616e676501046e65787404000000076f757465725f3005"
     "72616e676501046e6578740000000007696e6e65725f30036d61700000000105696e7075740572616e676501"
     "046e6578740a000000076f757465725f310572616e676501046e6578740200000007696e6e65725f31036d61"
     "700000000105696e7075740572616e676501046e6578740800000012058415"},
    {"interleave_blocks", 22,
     {},
     "49505354019c025178dacbcc2b492dca494d2c4bd548cbb34dcbd35148ae4cce498dcf49cd4b2fc9b035d251"
     "48cac94fce86f14d34b914148a12f3d253358a4b128b4a6c0d75148a4bf20b6ccd40746a81ada12600bff01b"
     "fa000a696e7465726c65617665030b6379636c655f696e646578000b626c6f636b5f696e646578040c656e64"
     "5f6f665f696e7075740000000505696e7075740572616e676501046e65787408000000076f757465725f3005"
     "72616e676501046e6578740400000007696e6e65725f30036d61700000000105696e7075740572616e676501"
     "046e6578740c000000076f757465725f310572616e676501046e6578740600000007696e6e65725f31036d61"
     "700000000105696e7075740572616e676501046e65787408000000df7b31ea"},
    {"interleave_blocks_parallel", 9,
     {},
     "49505354019c025178dacbcc2b492dca494d2c4bd548cbb34dcbd35148ae4cce498dcf49cd4b2fc9b035d251"
     "48cac94fce86f14d34b914148a12f3d253358a4b128b4a6c0d75148a4bf20b6ccd40746a81ada12600bff01b"
     "fa000a696e7465726c65617665030b6379636c655f696e646578000b626c6f636b5f696e646578020c656e64"
     "5f6f665f696e7075740000000505696e7075740572616e676501046e65787404000000076f757465725f3005"
     "72616e676501046e6578740000000007696e6e65725f30036d61700000000105696e7075740572616e676501"
     "046e6578740a000000076f757465725f310572616e676501046e6578740200000007696e6e65725f31036d61"
     "700000000105696e7075740572616e676501046e6578740800000012058415"},
    {"interleave_nondeterministic", 17,
     {100, 200, 201, 300, 301, 302, 400, 401, 402, 403, 600, 700, 701, 800, 801, 900, 901},
     "4950535401ed026478da35cb310ac3300c46e1bda7d0e88087b4946c3a4b71dcdfa989a2184b0472fb8642b7"
     "f70dafaaa30bd28150948b46ca6716bc04baf8879f9166d9f3faf723d21bd7b155ade635734962186e443de9"
     "82609ebaf318c97c6f3cfd028defc317b9cf2431000a696e7465726c65617665030b6379636c655f696e6465"
     "78000b626c6f636b5f696e646578000c656e645f6f665f696e7075740000000705696e7075740572616e6765"
     "01046e65787414000000076f757465725f310572616e676501046e6578740e00000007696e6e65725f31036d"
     "61700000000105696e7075740572616e676501046e65787404000000076f757465725f320572616e67650104"
     "6e6578741000000007696e6e65725f32036d61700000000105696e7075740572616e676501046e6578740400"
     "0000076f757465725f330572616e676501046e6578741200000007696e6e65725f33036d6170000000010569"
     "6e7075740572616e676501046e657874040000000a127262"},
    {"group_by_window_batch", 5,
     {},
     "4950535401ce014778da4b2fca2f2d884faa8c2fcfcc4bc92fd748cbb34dcbd35180f0e28b33ab526d4d34b9"
     "14148a12f3d253358a4b128b4a6c0d74148a4bf20b6c0d0dc0ac54204b1300c1c9189d000f67726f75705f62"
     "795f77696e646f770304726561642e0a696e7075745f646f6e650006616e63686f721a02046f70656e029200"
     "0763757272656e74024902000205696e7075740572616e676501046e6578741a000000067265647563650562"
     "617463680000000105696e7075740c67726f75705f77696e646f7701046e6578740800000087205b6e"},
    {"group_by_window_batch", 20,
     {},
     "4950535401d1014778da4b2fca2f2d884faa8c2fcfcc4bc92fd748cbb34dcbd35180f0e28b33ab526d4d34b9"
     "14148a12f3d253358a4b128b4a6c0d74148a4bf20b6c0d0dc0ac54204b1300c1c9189d000f67726f75705f62"
     "795f77696e646f77030472656164a6010a696e7075745f646f6e650006616e63686f72920102046f70656e02"
     "92000763757272656e74024902000205696e7075740572616e676501046e6578749201000000067265647563"
     "650562617463680000000105696e7075740c67726f75705f77696e646f7701046e65787408000000b6a7be36"},
    {"group_by_window_identity", 9,
     {},
     "4950535401c0014778da4b2fca2f2d884faa8c2fcfcc4bc92fd748cbb34dcbd35180f0e28b33ab526dcd34b9"
     "14148a12f3d253358a4b128b4a6c0d74148a4bf20b6c2dc08cd4025b434d00aab01876000f67726f75705f62"
     "795f77696e646f770304726561642c0a696e7075745f646f6e650006616e63686f720202046f70656e036666"
     "060763757272656e7403111111000205696e7075740572616e676501046e6578740200000006726564756365"
     "0c67726f75705f77696e646f7701046e65787406000000a03f15e3"},
    {"group_by_window_identity", 33,
     {},
     "4950535401c0014778da4b2fca2f2d884faa8c2fcfcc4bc92fd748cbb34dcbd35180f0e28b33ab526dcd34b9"
     "14148a12f3d253358a4b128b4a6c0d74148a4bf20b6c2dc08cd4025b434d00aab01876000f67726f75705f62"
     "795f77696e646f770304726561645c0a696e7075745f646f6e650006616e63686f723202046f70656e036666"
     "060763757272656e7403111111000205696e7075740572616e676501046e6578743200000006726564756365"
     "0c67726f75705f77696e646f7701046e657874060000000b7efe99"},
    {"parallel_map_nondeterministic", 50,
     {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 20, 21, 22, 23, 24,
      25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46,
      47, 48, 49, 50},
     "49505354018e015078da1dc6310a80300c00c0dd57746ca143c5396f91a0a914d21892e8fb056f3a454366e2"
     "7da2e62ef008bd24359d146473c8f018077464a7b2a4642817650fb4805693c7adb0b57fa4b0960f90d71b81"
     "000c706172616c6c656c5f6d617000010f64656c6976657265645f616865616404feffffff000105696e7075"
     "740572616e676501046e65787426000000f62ae176"},
    {"parallel_map", 17,
     {},
     "4950535401784f78da1dc6310a80300c05d0dd5364b4d04117b79c45827ea5d0c690a69e5ff04dcfc4a556d4"
     "bd89cd97f250bcd04c2702de8a961ee5e0f0813411b9e88db98778f092a9c763bcfd81f19a3e5bd71b09000c"
     "706172616c6c656c5f6d61700000000105696e7075740572616e676501046e657874220000002bc03da1",
     "4950535401543478dacb4d2cd048cbb32dcd4b2d4bcdd3e45250284acc4b4fd5282e492c2ab135d051282ec9"
     "2fb0350333520b6c0d35018f190fa000036d61700000000105696e7075740572616e676501046e6578742200"
     "0000c22906c3"},
    {"prefetch", 20,
     {},
     "4950535401553078da2b284a4d4b2d49ced0d0e45250284acc4b4fd5282e492c2ab135d051282ec92fb03505"
     "33520b6c0d350148d60e10000870726566657463680000000105696e7075740572616e676501046e65787428"
     "00000086f31003"},
};
// clang-format on

TEST(SavedThreadedStatesTest, RestoreSaveTheSameBytesAndContinue) {
  for (const SavedState& saved : kSavedStates) {
    SCOPED_TRACE(std::string(saved.pipeline) + " after " + std::to_string(saved.k));
    const std::string state = FromHex(saved.hex);
    const bool deterministic =
        std::string(saved.pipeline).find("nondeterministic") == std::string::npos;
    const std::vector<int64_t> all = Values(testing::Collect(Pipeline(saved.pipeline)));

    auto restored = Pipeline(saved.pipeline)->MakeIterator();
    const std::string today = saved.today_hex ? FromHex(saved.today_hex) : state;
    restored->Restore(state);
    EXPECT_EQ(restored->Save(), today) << "a restored state saved again before any element";
    std::vector<int64_t> rest = Values(testing::CollectFrom(*restored));

    if (deterministic) {
      auto it = Pipeline(saved.pipeline)->MakeIterator();
      std::vector<int64_t> before = Values(testing::CollectFrom(*it, saved.k));
      EXPECT_EQ(it->Save(), today) << "today's bytes after the same elements";
      before.insert(before.end(), rest.begin(), rest.end());
      EXPECT_EQ(before, all);
    } else {
      std::vector<int64_t> seen = saved.seen;
      ASSERT_EQ(static_cast<int64_t>(seen.size()), saved.k);
      seen.insert(seen.end(), rest.begin(), rest.end());
      EXPECT_EQ(reorder_test::Sorted(seen), reorder_test::Sorted(all));
    }
  }
}

TEST(SavedThreadedStatesTest, TheRecordedStatesHoldTheBitmaps) {
  // What the test above covers: a parallel_map delivered-ahead bitmap, group_by_window's open
  // and current bitmaps, interleave slots.
  std::string all;
  for (const SavedState& saved : kSavedStates) all += InspectState(FromHex(saved.hex));
  for (const char* key : {"delivered_ahead", "\"open\"", "\"current\"", "outer_2", "inner_3"}) {
    EXPECT_NE(all.find(key), std::string::npos) << key;
  }
}

}  // namespace
}  // namespace inputpipe
