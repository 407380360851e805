// Internal tensor and element helpers shared by the ops: slicing along the first dimension,
// stacking into a batch, padding, hashing. Not part of the public API.
#ifndef INPUTPIPE_CORE_TENSOR_OPS_H_
#define INPUTPIPE_CORE_TENSOR_OPS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "inputpipe/element.h"
#include "inputpipe/tensor.h"

namespace inputpipe {

// t[index] along the first dimension. REQUIRES: rank >= 1 (else InvalidArgumentError).
Tensor SliceFirstDim(const Tensor& t, int64_t index);
// t[begin:end] along the first dimension, keeping it.
Tensor SliceRange(const Tensor& t, int64_t begin, int64_t end);
// Stacks equal-dtype, equal-shape tensors into one with a new first dimension. `what` names the
// caller in errors ("batch").
Tensor Stack(const std::vector<Tensor>& parts, const std::string& what);
// Concatenates along the first dimension (equal dtype and trailing shape).
Tensor ConcatFirstDim(const std::vector<Tensor>& parts, const std::string& what);
// Copies `t` into a tensor of shape `shape` (each dimension >= t's), filling the rest with
// the scalar `pad` (same dtype).
Tensor PadTo(const Tensor& t, const Shape& shape, const Tensor& pad, const std::string& what);
// A scalar zero / "" / false of `dtype`.
Tensor ZeroScalar(DType dtype);
// The int64 `value` as a scalar of `dtype` (a C++ static_cast: wraps for narrower integers, as
// tf.data's range(output_type=) does). REQUIRES: CheckIntegerOutputType(dtype, what).
Tensor IntegerScalarAs(int64_t value, DType dtype);
// The dtypes range / counter can produce: the integers and float32 / float64; any other is an
// InvalidArgumentError naming `what` ("range: output_type").
void CheckIntegerOutputType(DType dtype, const std::string& what);
// ", <key>=<dtype name>" for a params() string, or "" for int64 (the default, so pipelines
// without the argument keep their params and fingerprint).
std::string DTypeParam(DType dtype, const std::string& key);

// Batch of elements with the same structure: stacks each leaf. Errors name `what` and the
// position of the element whose structure, dtype or shape differs.
Element StackElements(const std::vector<Element>& elements, const std::string& what);
// The index-th slice of every tensor leaf. REQUIRES: every leaf has rank >= 1.
Element SliceElement(const Element& element, int64_t index);
// The common first dimension of every tensor leaf; InvalidArgumentError if they differ or a
// leaf is a scalar.
int64_t FirstDimOf(const Element& element, const std::string& what);

// Bytes of an element's tensors, strings by their lengths: what caches and buffers bounded in
// bytes count.
size_t ElementBytes(const Element& element);

// 64-bit content hash (dtype, shape, bytes, structure). Identifies source data in fingerprints.
uint64_t HashElement(const Element& element);
uint64_t HashBytes(const void* data, size_t size, uint64_t seed = 0);
// "0123456789abcdef".
std::string HexU64(uint64_t value);

}  // namespace inputpipe

#endif  // INPUTPIPE_CORE_TENSOR_OPS_H_
