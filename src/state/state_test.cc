// The pipeline comparison of a saved state against a dataset (DescribePipelineMismatch,
// CheckPipelineMatches): the one check behind Iterator::Restore and the hook's restore.
#include <gtest/gtest.h>

#include "inputpipe/dataset.h"
#include "inputpipe/errors.h"
#include "inputpipe/ops.h"
#include "inputpipe/state.h"

namespace inputpipe {
namespace {

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

}  // namespace
}  // namespace inputpipe
