// The POSIX file system, registered as "file" (and used for paths without a scheme) by the
// registry (registry.cc). Stateless: one instance serves every thread.
#ifndef INPUTPIPE_IO_POSIX_FILE_SYSTEM_H_
#define INPUTPIPE_IO_POSIX_FILE_SYSTEM_H_

#include <memory>

#include "inputpipe/file_system.h"

namespace inputpipe {

std::shared_ptr<FileSystem> NewPosixFileSystem();

}  // namespace inputpipe

#endif  // INPUTPIPE_IO_POSIX_FILE_SYSTEM_H_
