// A fresh directory under $TMPDIR for one test, removed with its contents at destruction.
#ifndef INPUTPIPE_TESTING_SCRATCH_DIR_H_
#define INPUTPIPE_TESTING_SCRATCH_DIR_H_

#include <stdlib.h>

#include <filesystem>
#include <string>

namespace inputpipe::testing {

class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "inputpipe_test_XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~ScratchDir() { std::filesystem::remove_all(path_); }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace inputpipe::testing

#endif  // INPUTPIPE_TESTING_SCRATCH_DIR_H_
