// The checkpoint storage is the general file-system seam: FileSystem, WritableFile and
// WriteFileAtomically live in inputpipe/file_system.h. This header stays for the code that
// includes it by its old name (inputpipe/hook.h).
#ifndef INPUTPIPE_CHECKPOINT_STORAGE_H_
#define INPUTPIPE_CHECKPOINT_STORAGE_H_

#include "inputpipe/file_system.h"

#endif  // INPUTPIPE_CHECKPOINT_STORAGE_H_
