// Where a map function runs from, for a function that hands its work to another process (the
// Python bindings' worker processes, which read map's input themselves by index):
//
//   // inside FunctionOptions::hold_for_iterator:
//   const MapStart* start = CurrentMapStart();   // the iterator's input state and position
//   const void* caller = CurrentMapCaller();     // the iterator, as its calls will name it
//   // inside a call of the function: CurrentMapCaller() names the same iterator.
#ifndef INPUTPIPE_MAP_CALLER_H_
#define INPUTPIPE_MAP_CALLER_H_

#include <cstdint>
#include <string>

namespace inputpipe {

// While a map iterator runs its function on this thread: that iterator's identity (equal for
// all its calls, distinct between live iterators); null on a thread that is not running one.
// And while it takes options.hold_for_iterator: where it starts, so that a function run
// elsewhere can compute map's input itself (the Python bindings' worker processes read their
// elements by index rather than having them shipped): the input's state as Iterator::Save
// writes it (restorable into an iterator of the input dataset) and the position of the
// iterator's first element; null outside a hold. Neither enters any state.
struct MapStart {
  std::string input_state;
  int64_t position = 0;
};
const void* CurrentMapCaller();
const MapStart* CurrentMapStart();

}  // namespace inputpipe

#endif  // INPUTPIPE_MAP_CALLER_H_
