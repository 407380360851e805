#include "inputpipe/version.h"

// INPUTPIPE_VERSION_STRING is set by CMakeLists.txt from pyproject.toml's version, on this file
// alone (so that a version bump recompiles one file).
namespace inputpipe {

const char* Version() { return INPUTPIPE_VERSION_STRING; }

}  // namespace inputpipe
