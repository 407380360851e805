// The engine's release version, the same string as the Python package's inputpipe.__version__
// and the installed CMake / pkg-config package's (one source: pyproject.toml).
//
//   std::cout << "inputpipe " << inputpipe::Version() << "\n";   // "inputpipe 0.1.0"
#ifndef INPUTPIPE_VERSION_H_
#define INPUTPIPE_VERSION_H_

namespace inputpipe {

// "MAJOR.MINOR.PATCH" of the library this program is linked with (not of the headers it was
// compiled against: a program linked with a newer library reports the newer one).
const char* Version();

}  // namespace inputpipe

#endif  // INPUTPIPE_VERSION_H_
