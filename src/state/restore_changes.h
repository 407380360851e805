// What an op's restore may ask of the restore running on its thread (state.cc's RestoreScope).
//
//   if (saved_buffer != buffer_) {
//     if (RestoreAllowsChanges()) throw ParameterChangeError("shuffle(...)", "buffer_size", ...);
//     throw DataLossError("corrupt state: ...");  // strict: the fingerprint matched
//   }
#ifndef INPUTPIPE_STATE_RESTORE_CHANGES_H_
#define INPUTPIPE_STATE_RESTORE_CHANGES_H_

#include <string>
#include <string_view>

#include "inputpipe/errors.h"

namespace inputpipe {

// True inside a restore under RestoreOptions::allow_changes. Under a strict restore the saved
// fingerprint equals the pipeline's, so a state whose fields say another parameter is corrupt.
bool RestoreAllowsChanges();

// The refusal of a parameter change an op's state cannot follow under allow_changes:
// "shuffle(buffer_size=20, seed=1): the state was saved with buffer_size=10, which allow_changes
// cannot restore past: WHY; restore with buffer_size=10, or start afresh".
inline PipelineMismatchError ParameterChangeError(const std::string& op, std::string_view param,
                                                  const std::string& saved,
                                                  std::string_view why) {
  return PipelineMismatchError(op + ": the state was saved with " + std::string(param) + "=" +
                               saved + ", which allow_changes cannot restore past: " +
                               std::string(why) + "; restore with " + std::string(param) + "=" +
                               saved + ", or start afresh");
}

}  // namespace inputpipe

#endif  // INPUTPIPE_STATE_RESTORE_CHANGES_H_
