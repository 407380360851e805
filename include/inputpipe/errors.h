// inputpipe's one error style: C++ exceptions of a small typed hierarchy.
//
// Every engine error derives from inputpipe::Error. The type says what kind of failure it is
// (and which Python exception it becomes); the message says what was wrong and where: the op,
// the file, the line or byte offset.
//
//   try {
//     iterator->Restore(bytes);
//   } catch (const inputpipe::PipelineMismatchError& e) {
//     // The state was saved by a different pipeline; e.what() names the first difference.
//   }
//
// End of a sequence is not an error: Iterator::GetNext returns std::nullopt.
#ifndef INPUTPIPE_ERRORS_H_
#define INPUTPIPE_ERRORS_H_

#include <stdexcept>
#include <string>

namespace inputpipe {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A bad argument or a bad element (wrong dtype, shape or structure). Python: ValueError.
class InvalidArgumentError : public Error {
 public:
  using Error::Error;
};

// A call made in the wrong state, e.g. Restore on an iterator that has already produced
// elements. Python: RuntimeError.
class FailedPreconditionError : public Error {
 public:
  using Error::Error;
};

// A file could not be opened, read, written or renamed. Python: OSError.
class IOError : public Error {
 public:
  using Error::Error;
};

// Bytes that are corrupt, truncated or of an unknown format: a saved state, a checkpoint file,
// a data record. Python: inputpipe.DataLossError (a ValueError).
class DataLossError : public Error {
 public:
  using Error::Error;
};

// A saved state restored into a pipeline other than the one that saved it. The message names
// the first difference. Python: inputpipe.PipelineMismatchError (a ValueError).
class PipelineMismatchError : public Error {
 public:
  using Error::Error;
};

// Saving a pipeline that depends on state that cannot be captured, under the 'fail' policy.
// Python: inputpipe.ExternalStateError (a RuntimeError).
class ExternalStateError : public Error {
 public:
  using Error::Error;
};

// An operation a dataset does not support (e.g. random access on a filtered dataset).
// Python: NotImplementedError.
class UnimplementedError : public Error {
 public:
  using Error::Error;
};

}  // namespace inputpipe

#endif  // INPUTPIPE_ERRORS_H_
