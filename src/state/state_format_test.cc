// The encoder of docs/state_format.md as Iterator::Save uses it: the pipeline's fingerprint
// encoded once per iterator, and a state written into one buffer of its exact size, byte for
// byte the layout the document gives (checked here against bytes written out from it).
#include <gtest/gtest.h>
#include <zlib.h>

#include <atomic>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "core/op_skeleton.h"
#include "inputpipe/dataset.h"
#include "inputpipe/errors.h"
#include "inputpipe/ops.h"
#include "inputpipe/state.h"
#include "util/crc32c.h"

namespace inputpipe {
namespace {

// A source of 0, 1, 2, ... that counts the calls of its params(): how often the pipeline's
// fingerprint was computed.
class CountingIterator;

class CountingSource : public OpDataset<CountingSource, CountingIterator> {
 public:
  std::string op_name() const override { return "counting"; }
  std::string params() const override {
    ++params_calls;
    return "n=1000";
  }
  int64_t Cardinality() const override { return 1000; }

  mutable std::atomic<int> params_calls{0};
};

class CountingIterator : public DatasetIterator<CountingSource> {
 public:
  using DatasetIterator::DatasetIterator;

 protected:
  std::optional<Element> GetNextInternal() override {
    if (next_ >= 1000) return std::nullopt;
    return Element(Tensor::Scalar<int64_t>(next_++));
  }
  void SaveInternal(StateWriter& w) override { w.WriteInt("next", next_); }
  void RestoreInternal(StateReader& r) override { next_ = ReadCounter(r, "next"); }

 private:
  int64_t next_ = 0;
};

TEST(StateFormatTest, AnIteratorComputesItsPipelineFingerprintOnceForAllItsSaves) {
  auto source = std::make_shared<CountingSource>();
  DatasetPtr ds = Batch(source, 2);
  auto it = ds->MakeIterator();
  const int before = source->params_calls;  // the factories may look at it while building
  std::vector<std::string> states;
  for (int i = 0; i < 5; ++i) {
    it->GetNext();
    states.push_back(it->Save());
  }
  EXPECT_EQ(source->params_calls - before, 1) << "one fingerprint for the iterator's 5 saves";

  // Each state holds the pipeline it would hold if encoded afresh, and resumes where it was.
  for (size_t i = 0; i < states.size(); ++i) {
    DecodedState decoded = DecodeState(states[i]);
    EXPECT_EQ(states[i], EncodeState(ds->Pipeline(), decoded.root));
    auto resumed = ds->MakeIterator();
    resumed->Restore(states[i]);
    std::optional<Element> batch = resumed->GetNext();
    ASSERT_TRUE(batch.has_value());
    EXPECT_EQ(batch->tensor().data<int64_t>()[0], static_cast<int64_t>(2 * (i + 1)));
  }

  // PrepareSave encodes it ahead of the first save, once.
  auto prepared = ds->MakeIterator();
  const int before_prepare = source->params_calls;
  prepared->PrepareSave();
  prepared->PrepareSave();
  EXPECT_EQ(source->params_calls - before_prepare, 1);
  prepared->GetNext();
  EXPECT_EQ(prepared->Save(), states[0]);
  EXPECT_EQ(source->params_calls - before_prepare, 1) << "the save used the prepared one";

  // A reset iterator (its calls forwarded to a fresh one) keeps the fingerprint it encoded.
  const int after_saves = source->params_calls;
  it->Reset();
  EXPECT_EQ(it->Save(), ds->MakeIterator()->Save());
  EXPECT_EQ(source->params_calls - after_saves, 1) << "only the new iterator's first save";
}

// The bytes of a small state written out by hand from the layout of docs/state_format.md:
// every field of a node, a negative and a two-byte zigzag value, a child. Only the deflate
// stream is not spelled out (its bytes are zlib's to choose): it is spliced in and checked to
// inflate to the fingerprint's text.
TEST(StateFormatTest, ASmallStateIsTheDocumentedLayoutByteForByte) {
  const std::vector<std::string> pipeline = {"batch(batch_size=2)", "  range(n=3)"};
  StateNode root;  // name "" (the root)
  root.op = "batch";
  root.ints = {{"next", 3}, {"d", -2}};
  root.blobs = {{"b", std::string("\x01\x02", 2)}};
  root.external_state = {"x"};
  StateNode child;
  child.name = "input";
  child.op = "range";
  child.ints = {{"next", 300}};
  root.children.push_back(child);

  const EncodedPipeline encoded = EncodePipeline(pipeline);
  const std::string& deflated = encoded.deflated;
  ASSERT_LT(deflated.size(), 128u) << "a one-byte length prefix below";
  std::string text(1024, '\0');
  uLongf text_size = text.size();
  ASSERT_EQ(uncompress(reinterpret_cast<Bytef*>(text.data()), &text_size,
                       reinterpret_cast<const Bytef*>(deflated.data()), deflated.size()),
            Z_OK);
  text.resize(text_size);
  EXPECT_EQ(text, "batch(batch_size=2)\n  range(n=3)");

  // clang-format off
  constexpr char kNode[] =
      "\x00"                          // name: "" (the root)
      "\x05" "batch"                  // op
      "\x02"                          // n_ints
      "\x04" "next" "\x06"            // next = 3: zigzag 6
      "\x01" "d" "\x03"               // d = -2: zigzag 3
      "\x01"                          // n_blobs
      "\x01" "b" "\x02" "\x01\x02"     // b = 01 02
      "\x01"                          // n_external
      "\x01" "x"
      "\x01"                          // n_children
      "\x05" "input"                  // the child: name
      "\x05" "range"                  // op
      "\x01"                          // n_ints
      "\x04" "next" "\xd8\x04"        // next = 300: zigzag 600 = 0x258, LEB128 d8 04
      "\x00"                          // n_blobs
      "\x00"                          // n_external
      "\x00";                         // n_children
  // clang-format on
  const std::string node(kNode, sizeof(kNode) - 1);
  ASSERT_EQ(node.size(), 50u);
  const size_t body_length = 1 + deflated.size() + node.size();
  ASSERT_LT(body_length, 128u);
  std::string expected = "IPST";
  expected += '\x01';                              // version 1
  expected += static_cast<char>(body_length);      // body_length, one varint byte
  expected += static_cast<char>(deflated.size());  // pipeline: str
  expected += deflated;
  expected += node;
  // crc: fixed32 little-endian of the masked CRC32C of every byte before it.
  const uint32_t crc = crc32c::Value(expected.data(), expected.size());
  const uint32_t masked = ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
  for (int i = 0; i < 4; ++i) expected += static_cast<char>((masked >> (8 * i)) & 0xff);

  EXPECT_EQ(EncodeState(encoded, root), expected);
  EXPECT_EQ(EncodeState(pipeline, root), expected);
  DecodedState decoded = DecodeState(expected);
  EXPECT_EQ(decoded.pipeline, pipeline);
  EXPECT_EQ(EncodeState(decoded.pipeline, decoded.root), expected);
}

TEST(StateFormatTest, EncodedStatesAreTheDocumentedLayoutForEveryFieldSize) {
  // Lengths and values on both sides of every varint byte boundary, in every kind of field.
  const std::vector<size_t> lengths = {0, 1, 127, 128, 300, 16383, 16384, 70000};
  const std::vector<int64_t> values = {0,
                                       -1,
                                       1,
                                       63,
                                       -64,
                                       64,
                                       -65,
                                       8191,
                                       -8192,
                                       8192,
                                       1LL << 40,
                                       std::numeric_limits<int64_t>::max(),
                                       std::numeric_limits<int64_t>::min()};
  StateNode root;
  root.op = "outer";
  for (size_t n : lengths) {
    StateNode child;
    child.name = std::string(n, 'k');
    child.op = "op" + std::to_string(n);
    for (int64_t v : values) child.ints.emplace_back(std::string(n % 200, 'i'), v);
    child.blobs.emplace_back("blob", std::string(n, '\xff'));
    child.external_state.push_back(std::string(n, 'e'));
    StateNode grandchild;
    grandchild.name = "input";
    grandchild.op = "range";
    grandchild.ints.emplace_back("next", static_cast<int64_t>(n));
    child.children.push_back(grandchild);
    root.children.push_back(child);
  }
  // Pipelines whose deflated fingerprint is short (one length byte) and long (several).
  std::vector<std::string> short_pipeline = {"batch(batch_size=2)", "  range(n=3)"};
  std::vector<std::string> long_pipeline;
  for (int i = 0; i < 400; ++i) {
    long_pipeline.push_back(std::string(i % 40, ' ') + "op" + std::to_string(i * 7919) + "()");
  }
  for (const auto& pipeline : {short_pipeline, long_pipeline}) {
    const EncodedPipeline encoded = EncodePipeline(pipeline);
    const std::string bytes = EncodeState(encoded, root);
    EXPECT_EQ(bytes, EncodeState(pipeline, root));
    DecodedState decoded = DecodeState(bytes);
    EXPECT_EQ(decoded.pipeline, pipeline);
    EXPECT_EQ(EncodeState(decoded.pipeline, decoded.root), bytes);
  }
  EXPECT_GT(EncodePipeline(long_pipeline).deflated.size(), 127u) << "a two-byte length prefix";
  EXPECT_LT(EncodePipeline(short_pipeline).deflated.size(), 128u) << "a one-byte length prefix";
}

// What a thread encodes ahead (prefetch: its input's state after each element) and a save
// splices in: the same bytes as the tree it stands for, wherever it sits and whatever its size.
TEST(StateFormatTest, ANodeEncodedAheadIsSplicedInByteForByte) {
  StateNode inner;
  inner.op = "map";
  inner.external_state = {"map(fn=f): the function is declared stateful"};
  StateNode source;
  source.name = "input";
  source.op = "range";
  source.ints = {{"next", 300}, {"skip", -7}};
  source.blobs = {{"fingerprint", std::string(200, '\xab')}};
  inner.children.push_back(source);
  StateNode root;
  root.op = "prefetch";
  root.ints = {{"n", 1}};
  inner.name = "input";
  root.children.push_back(inner);
  const EncodedPipeline pipeline = EncodePipeline({"prefetch()", "  map(fn=f)", "    range(n=9)"});
  const std::string expected = EncodeState(pipeline, root);

  StateNode spliced = root;
  spliced.children[0] = StateNode();
  spliced.children[0].name = "input";
  spliced.children[0].encoded = std::make_shared<const EncodedStateNode>(EncodeStateNode(inner));
  EXPECT_EQ(EncodeState(pipeline, spliced), expected);
  EXPECT_EQ(spliced.CollectExternalState(), root.CollectExternalState());
  // Deeper in the tree, and a node encoded ahead that itself holds one.
  StateNode outer;
  outer.op = "batch";
  outer.children.push_back(root);
  outer.children[0].name = "input";
  const std::string deep = EncodeState(pipeline, outer);
  StateNode outer_spliced;
  outer_spliced.op = "batch";
  outer_spliced.children.push_back(spliced);
  outer_spliced.children[0].name = "input";
  EXPECT_EQ(EncodeState(pipeline, outer_spliced), deep);
  StateNode twice;
  twice.op = "batch";
  twice.children.emplace_back().name = "input";
  twice.children[0].encoded = std::make_shared<const EncodedStateNode>(EncodeStateNode(spliced));
  EXPECT_EQ(EncodeState(pipeline, twice), deep);
  EXPECT_EQ(DecodeState(deep).root.children[0].children[0].children[0].ints, source.ints);

  // Into a caller's buffer of the exact size; an allocator that fails is reported.
  std::string buffer;
  char* written = EncodeStateInto(
      pipeline, spliced,
      [](void* context, size_t size) {
        auto* b = static_cast<std::string*>(context);
        b->assign(size, '?');
        return b->data();
      },
      &buffer);
  EXPECT_EQ(written, buffer.data());
  EXPECT_EQ(buffer, expected);
  EXPECT_EQ(EncodeStateInto(
                pipeline, spliced, [](void*, size_t) -> char* { return nullptr; }, nullptr),
            nullptr);

  // Only a tree built for a state's bytes may hold one: no op reads such a node back.
  StateNode node;
  node.op = "prefetch";
  StateWriter for_ops(&node);
  EXPECT_THROW(for_ops.WriteEncodedChild("input", spliced.children[0].encoded),
               FailedPreconditionError);
  StateWriter for_bytes(&node, /*for_bytes=*/true);
  for_bytes.WriteEncodedChild("input", spliced.children[0].encoded);
  ASSERT_EQ(node.children.size(), 1u);
  EXPECT_EQ(node.children[0].name, "input");
}

}  // namespace
}  // namespace inputpipe
