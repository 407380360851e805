// Elements as bytes: what scan writes into its saved state (the scan state, the one value a
// state holds). Tensors, tuples and dicts; a nested dataset has no bytes (InvalidArgumentError).
//
//   std::string bytes = EncodeElement(state);          // in SaveInternal
//   Element back = DecodeElement(bytes, "scan");       // in RestoreInternal
//
// Layout (varints and str as in docs/state_format.md; integers little-endian):
//   element := kind:varint body
//   tensor  := kind=0 dtype:varint rank:varint rank x dim:varint data
//              data: numeric: str of num_elements * dtype size bytes; string: each value a str
//   tuple   := kind=1 n:varint n x element
//   dict    := kind=2 n:varint n x (key:str element)
// The decoder is bounded (depth 64, counts and sizes by the bytes left) and throws
// DataLossError naming `what` and the offset for anything else.
#ifndef INPUTPIPE_CORE_ELEMENT_CODEC_H_
#define INPUTPIPE_CORE_ELEMENT_CODEC_H_

#include <string>
#include <string_view>

#include "inputpipe/element.h"

namespace inputpipe {

std::string EncodeElement(const Element& element, std::string_view what);
Element DecodeElement(std::string_view bytes, std::string_view what);

}  // namespace inputpipe

#endif  // INPUTPIPE_CORE_ELEMENT_CODEC_H_
