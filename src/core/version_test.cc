#include "inputpipe/version.h"

#include <gtest/gtest.h>

#include <regex>
#include <string>

namespace inputpipe {
namespace {

TEST(VersionTest, IsMajorMinorPatch) {
  EXPECT_TRUE(std::regex_match(std::string(Version()), std::regex(R"(\d+\.\d+\.\d+)")))
      << Version();
}

}  // namespace
}  // namespace inputpipe
