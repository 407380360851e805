// PosixFileSystem and WriteFileAtomically: contents, replacement, and a failure at each step
// leaving the previous file intact with no temporary file behind.
#include <gtest/gtest.h>

#include <algorithm>

#include "hook/hook_test_util.h"
#include "inputpipe/errors.h"
#include "inputpipe/file_system.h"

namespace inputpipe {
namespace {

using hook_testing::FailingFileSystem;
using hook_testing::ScratchDir;

TEST(StorageTest, PathHelpers) {
  EXPECT_EQ(JoinPath("/a/b", "c"), "/a/b/c");
  EXPECT_EQ(JoinPath("/a/b/", "c"), "/a/b/c");
  EXPECT_EQ(JoinPath("", "c"), "c");
  EXPECT_EQ(DirName("/a/b/c"), "/a/b");
  EXPECT_EQ(DirName("/a"), "/");
  EXPECT_EQ(DirName("c"), ".");
  EXPECT_EQ(DirName("/a/b/"), "/a");
}

TEST(StorageTest, WritesAndReplacesAtomically) {
  ScratchDir dir;
  FileSystem& fs = DefaultFileSystem();
  std::string path = dir / "f";
  WriteFileAtomically(fs, path, "first");
  EXPECT_EQ(fs.ReadFile(path), "first");
  WriteFileAtomically(fs, path, std::string(100000, 'x'));
  EXPECT_EQ(fs.ReadFile(path), std::string(100000, 'x'));
  std::vector<std::string> names = fs.ListDir(dir.path());
  EXPECT_EQ(names, std::vector<std::string>{"f"});
}

TEST(StorageTest, FailureAtEachStepKeepsThePreviousFile) {
  ScratchDir dir;
  FailingFileSystem fs;
  std::string path = dir / "f";
  WriteFileAtomically(fs, path, "good");
  for (auto op : {FailingFileSystem::Op::kAppend, FailingFileSystem::Op::kSync,
                  FailingFileSystem::Op::kRename}) {
    fs.fail = op;
    EXPECT_THROW(WriteFileAtomically(fs, path, "new"), IOError);
    fs.fail = FailingFileSystem::Op::kNone;
    EXPECT_EQ(fs.ReadFile(path), "good");
    EXPECT_EQ(fs.ListDir(dir.path()), std::vector<std::string>{"f"}) << "temporary file left";
  }
  // A failed directory fsync after the rename is still an error: the save is not durable.
  fs.fail = FailingFileSystem::Op::kSyncDir;
  EXPECT_THROW(WriteFileAtomically(fs, path, "new"), IOError);
}

TEST(StorageTest, ErrorsNameThePathAndReason) {
  ScratchDir dir;
  try {
    DefaultFileSystem().ReadFile(dir / "missing");
    FAIL();
  } catch (const IOError& e) {
    std::string what = e.what();
    EXPECT_NE(what.find(dir / "missing"), std::string::npos) << what;
    EXPECT_NE(what.find("No such file"), std::string::npos) << what;
  }
}

TEST(StorageTest, CreateDirsAndList) {
  ScratchDir dir;
  FileSystem& fs = DefaultFileSystem();
  fs.CreateDirs(dir / "a/b/c");
  EXPECT_TRUE(fs.FileExists(dir / "a/b/c"));
  fs.CreateDirs(dir / "a/b/c");  // idempotent
  WriteFileAtomically(fs, dir / "a/b/c/x", "1");
  WriteFileAtomically(fs, dir / "a/b/c/y", "2");
  auto names = fs.ListDir(dir / "a/b/c");
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"x", "y"}));
  fs.DeleteFile(dir / "a/b/c/x");
  EXPECT_FALSE(fs.FileExists(dir / "a/b/c/x"));
  EXPECT_THROW(fs.CreateDirs(dir / "a/b/c/y"), IOError);  // a file, not a directory
}

}  // namespace
}  // namespace inputpipe
