// RecordLocator: an iterator reading records from files says where the element it last
// returned came from ("'a.tfrecord', record 7 (byte 120)"), so that an op applying a function
// to its elements (map with parse_single_example) names the file, the record and the byte
// offset when the function rejects one, as the reader's own errors do.
//
//   catch (const Error& e) {
//     if (auto* locator = dynamic_cast<const RecordLocator*>(input_.get()))
//       RethrowAtRecord(e, locator->LastRecordLocation());
//     throw;
//   }
#ifndef INPUTPIPE_CORE_RECORD_LOCATION_H_
#define INPUTPIPE_CORE_RECORD_LOCATION_H_

#include <string>
#include <typeinfo>

#include "inputpipe/errors.h"

namespace inputpipe {

class RecordLocator {
 public:
  // Where the element last returned by GetNext was read; "" when unknown (none yet, a batch).
  virtual std::string LastRecordLocation() const = 0;

 protected:
  ~RecordLocator() = default;
};

// Throws `e` again with " (in <where>)" appended, keeping its type, when `where` is known and
// e is exactly a DataLossError or InvalidArgumentError (the errors a function rejecting a
// record throws); returns otherwise, for the caller to rethrow e unchanged (a subclass such as
// a FileSystemError carries more than its message).
inline void RethrowAtRecord(const Error& e, const std::string& where) {
  if (where.empty()) return;
  const std::string message = std::string(e.what()) + " (in " + where + ")";
  if (typeid(e) == typeid(DataLossError)) throw DataLossError(message);
  if (typeid(e) == typeid(InvalidArgumentError)) throw InvalidArgumentError(message);
}

}  // namespace inputpipe

#endif  // INPUTPIPE_CORE_RECORD_LOCATION_H_
