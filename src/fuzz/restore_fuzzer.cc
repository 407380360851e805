// libFuzzer entry point: see fuzz_targets.h (FuzzRestore) and run_fuzzers.sh.
#include "fuzz/fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  inputpipe::fuzz::FuzzRestore(data, size);
  return 0;
}
