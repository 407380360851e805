// Kept for C++ code written against earlier versions, which included the file-system seam by
// this name: FileSystem, WritableFile and WriteFileAtomically live in inputpipe/file_system.h.
#ifndef INPUTPIPE_CHECKPOINT_STORAGE_H_
#define INPUTPIPE_CHECKPOINT_STORAGE_H_

#include "inputpipe/file_system.h"

#endif  // INPUTPIPE_CHECKPOINT_STORAGE_H_
