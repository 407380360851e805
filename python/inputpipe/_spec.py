"""Dataset.element_spec: the engine's spec (inputpipe/element_spec.h) as Python objects.

    >>> inputpipe.Dataset.range(10).batch(4).element_spec
    TensorSpec(shape=(None,), dtype=dtype('int64'))
    >>> inputpipe.Dataset.range(10).window(3).element_spec
    DatasetSpec(TensorSpec(shape=(), dtype=dtype('int64')))

    >>> inputpipe.Dataset.range(1, 5).map(np.arange).ragged_batch(2).element_spec.shape
    (None, None)

A tensor is an inputpipe.TensorSpec (shape: a tuple with None for a dimension that varies, or
None for an unknown rank; dtype: a numpy dtype, object for strings, which come out as bytes), a
ragged value (an inputpipe.RaggedArray) an inputpipe.RaggedTensorSpec, a nested dataset an
inputpipe.DatasetSpec, tuples and dicts are tuples and dicts of specs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from inputpipe.generator import TensorSpec

# The engine's ragged value is a dict of these two keys (include/inputpipe/ragged.h).
_RAGGED_KEYS = ("__ragged_row_splits__", "__ragged_values__")


class RaggedTensorSpec:
    """The spec of a ragged component (an inputpipe.RaggedArray), as tf.RaggedTensorSpec:
    shape (rows, None, *inner), None for the ragged dimension and for any dimension that varies
    (None for an unknown rank), the values' dtype, ragged_rank (the number of ragged
    dimensions, from the second on: 1 for a RaggedArray whose values are an array) and
    row_splits_dtype (int64)."""

    __slots__ = ("shape", "dtype", "ragged_rank", "row_splits_dtype")
    shape: tuple[int | None, ...] | None
    dtype: np.dtype
    ragged_rank: int
    row_splits_dtype: np.dtype

    def __init__(self, shape: Any = None, dtype: Any = "float32", ragged_rank: int | None = None,
                 row_splits_dtype: Any = "int64") -> None:
        self.shape = None if shape is None else tuple(shape)
        self.dtype = _dtype(getattr(dtype, "as_numpy_dtype", dtype))
        if ragged_rank is None:  # tf's default: every dimension but the last is ragged
            ragged_rank = 1 if self.shape is None else max(len(self.shape) - 1, 1)
        self.ragged_rank = int(ragged_rank)
        self.row_splits_dtype = np.dtype(getattr(row_splits_dtype, "as_numpy_dtype",
                                                 row_splits_dtype))

    def _fields(self) -> tuple[Any, ...]:
        return (self.shape, self.dtype, self.ragged_rank, self.row_splits_dtype)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RaggedTensorSpec) and self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(("RaggedTensorSpec",) + self._fields())

    def __repr__(self) -> str:
        return (f"RaggedTensorSpec(shape={self.shape!r}, dtype={self.dtype!r}, "
                f"ragged_rank={self.ragged_rank}, row_splits_dtype={self.row_splits_dtype!r})")


class DatasetSpec:
    """The spec of a nested dataset element (window's, group_by_window's): its element_spec."""

    __slots__ = ("element_spec",)

    def __init__(self, element_spec):
        self.element_spec = element_spec

    def __eq__(self, other):
        return isinstance(other, DatasetSpec) and self.element_spec == other.element_spec

    def __hash__(self):
        return hash(("DatasetSpec", repr(self.element_spec)))

    def __repr__(self):
        return f"DatasetSpec({self.element_spec!r})"


def _dtype(name):
    return np.dtype(object) if name == "string" else np.dtype(name)


def from_engine(raw):
    """The plain tuples of `_core.element_spec` as TensorSpec / DatasetSpec structures."""
    kind = raw[0]
    if kind == "tensor":
        return TensorSpec(raw[1], _dtype(raw[2]))
    if kind == "dataset":
        return DatasetSpec(from_engine(raw[1]))
    if kind == "tuple":
        return tuple(from_engine(item) for item in raw[1])
    if tuple(key for key, _ in raw[1]) == _RAGGED_KEYS:
        return _ragged(raw[1][0][1], raw[1][1][1])
    return {key: from_engine(item) for key, item in raw[1]}


def _ragged(splits, values):
    """RaggedTensorSpec of the engine's specs of a ragged value's two parts (the values a
    tensor's spec, or a ragged value's: one more ragged dimension)."""
    rows = None if splits[1] is None or splits[1][0] is None else splits[1][0] - 1
    if values[0] == "dict":
        inner = _ragged(values[1][0][1], values[1][1][1])
        shape = None if inner.shape is None else (rows,) + inner.shape
        return RaggedTensorSpec(shape, inner.dtype, inner.ragged_rank + 1, _dtype(splits[2]))
    dims = values[1]
    shape = None if dims is None else (rows, None) + tuple(dims[1:])
    return RaggedTensorSpec(shape, _dtype(values[2]), 1, _dtype(splits[2]))
