// Test helpers of the hook tests: a scratch directory and a file system that fails on demand.
#ifndef INPUTPIPE_HOOK_HOOK_TEST_UTIL_H_
#define INPUTPIPE_HOOK_HOOK_TEST_UTIL_H_

#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <string>

#include "inputpipe/file_system.h"
#include "inputpipe/errors.h"
#include "testing/scratch_dir.h"

namespace inputpipe::hook_testing {

using testing::ScratchDir;

// The real file system, with an IOError thrown by the chosen operation while armed.
class FailingFileSystem : public FileSystem {
 public:
  enum class Op { kNone, kAppend, kSync, kRename, kSyncDir };
  std::atomic<Op> fail{Op::kNone};

  std::unique_ptr<WritableFile> NewWritableFile(const std::string& path) override {
    class File : public WritableFile {
     public:
      File(FailingFileSystem* fs, std::unique_ptr<WritableFile> base, std::string path)
          : fs_(fs), base_(std::move(base)), path_(std::move(path)) {}
      void Append(std::string_view data) override {
        if (fs_->fail == Op::kAppend) throw IOError("write " + path_ + ": No space left on device");
        base_->Append(data);
      }
      void Sync() override {
        if (fs_->fail == Op::kSync) throw IOError("fsync " + path_ + ": Input/output error");
        base_->Sync();
      }
      void Close() override { base_->Close(); }

     private:
      FailingFileSystem* fs_;
      std::unique_ptr<WritableFile> base_;
      std::string path_;
    };
    return std::make_unique<File>(this, base().NewWritableFile(path), path);
  }
  std::string ReadFile(const std::string& path) override { return base().ReadFile(path); }
  bool FileExists(const std::string& path) override { return base().FileExists(path); }
  std::vector<std::string> ListDir(const std::string& dir) override { return base().ListDir(dir); }
  void RenameFile(const std::string& from, const std::string& to) override {
    if (fail == Op::kRename) throw IOError("rename " + from + " to " + to + ": Input/output error");
    base().RenameFile(from, to);
  }
  void DeleteFile(const std::string& path) override { base().DeleteFile(path); }
  void CreateDirs(const std::string& dir) override { base().CreateDirs(dir); }
  void SyncDir(const std::string& dir) override {
    if (fail == Op::kSyncDir) throw IOError("fsync directory " + dir + ": Input/output error");
    base().SyncDir(dir);
  }

 private:
  static FileSystem& base() { return DefaultFileSystem(); }
};

}  // namespace inputpipe::hook_testing

#endif  // INPUTPIPE_HOOK_HOOK_TEST_UTIL_H_
