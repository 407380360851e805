"""Dataset.element_spec: the engine's spec (inputpipe/element_spec.h) as Python objects.

    >>> inputpipe.Dataset.range(10).batch(4).element_spec
    TensorSpec(shape=(None,), dtype=dtype('int64'))
    >>> inputpipe.Dataset.range(10).window(3).element_spec
    DatasetSpec(TensorSpec(shape=(), dtype=dtype('int64')))

A tensor is an inputpipe.TensorSpec (shape: a tuple with None for a dimension that varies, or
None for an unknown rank; dtype: a numpy dtype, object for strings, which come out as bytes), a
nested dataset an inputpipe.DatasetSpec, tuples and dicts are tuples and dicts of specs.
"""

import numpy as np

from inputpipe.generator import TensorSpec


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
    return {key: from_engine(item) for key, item in raw[1]}
