"""Ragged and sparse values: RaggedArray (rows of different lengths) and SparseArray.

    ds = inputpipe.Dataset.range(1, 5).map(lambda x: np.arange(x))
    r = next(iter(ds.ragged_batch(3)))     # RaggedArray: [[0], [0, 1], [0, 1, 2]]
    r.values, r.row_splits                 # array([0, 0, 1, 0, 1, 2]), array([0, 1, 3, 6])
    r[1], len(r), r.to_list()              # array([0, 1]), 3, [[0], [0, 1], [0, 1, 2]]
    r[1:]                                  # RaggedArray: [[0, 1], [0, 1, 2]]
    np.asarray(r)                          # an object array of the 3 rows
    r.to_tensorflow(), r.to_torch()        # tf.RaggedTensor, torch.nested (if installed)

A RaggedArray is what ragged_batch and a batch of RaggedFeature give: a ragged dimension,
the first after the batch, as tf.RaggedTensor.from_row_splits(values, row_splits). Row i is
values[row_splits[i]:row_splits[i + 1]]; the values may have more (uniform) dimensions, or be
a RaggedArray themselves (ragged_rank 2 and more: ragged_batch of ragged components).
A map function may return one, and it travels through the pipeline as it came.

SparseArray wraps the dict {"indices", "values", "dense_shape"} that VarLenFeature and
SparseFeature give (the layout of tf.SparseTensor), which stays a plain dict in elements:
SparseArray.from_dict(element["tags"]).to_dense().
"""

from __future__ import annotations

import operator
from typing import Any, Iterator, SupportsIndex, TypedDict, overload

import numpy as np

__all__ = ["RaggedArray", "SparseArray", "SparseDict"]


class SparseDict(TypedDict):
    """What VarLenFeature and SparseFeature parse into: tf.SparseTensor's three parts."""

    indices: np.ndarray
    values: np.ndarray
    dense_shape: np.ndarray


class RaggedArray:
    """Rows of different lengths: `values` (shape [total, *inner], or a RaggedArray of total
    rows) split at `row_splits` (int64 [rows + 1], from 0 to total, non-decreasing; int32 row
    splits stay int32, as tf.RaggedTensor's row_splits_dtype, and every ragged dimension of
    one value has the same)."""

    __slots__ = ("values", "row_splits")
    values: Any  # np.ndarray, or a RaggedArray (ragged_rank > 1)
    row_splits: np.ndarray

    def __init__(self, values: Any, row_splits: Any) -> None:
        if not isinstance(values, RaggedArray):
            values = np.asarray(values)
        splits = np.asarray(row_splits)
        if values.ndim < 1:
            raise ValueError(f"RaggedArray: values must have rank >= 1, got shape {values.shape}")
        if splits.ndim != 1 or splits.size < 1 or not np.issubdtype(splits.dtype, np.integer):
            raise ValueError(f"RaggedArray: row_splits must be a non-empty integer vector, got "
                             f"{splits.dtype} of shape {splits.shape}")
        if splits.dtype != np.int32:
            splits = splits.astype(np.int64, copy=False)
        if isinstance(values, RaggedArray) and values.row_splits.dtype != splits.dtype:
            raise ValueError(f"RaggedArray: row_splits of {splits.dtype} over values whose "
                             f"row_splits are {values.row_splits.dtype}: every ragged dimension "
                             f"has the same row_splits dtype")
        if splits[0] != 0 or splits[-1] != len(values) or np.any(np.diff(splits) < 0):
            raise ValueError(f"RaggedArray: row_splits {splits.tolist()} must start at 0, never "
                             f"decrease and end at the number of values, {len(values)}")
        self.values = values
        self.row_splits = splits

    @classmethod
    def _from_parts(cls, values: np.ndarray, row_splits: np.ndarray) -> RaggedArray:
        """From the engine, which has checked the parts already."""
        out = cls.__new__(cls)
        out.values = values
        out.row_splits = row_splits
        return out

    @classmethod
    def from_rows(cls, rows: Any, dtype: Any = None) -> RaggedArray:
        """From a sequence of rows (lists or arrays): from_rows([[1, 2], [], [3]])."""
        arrays = [np.asarray(row, dtype=dtype) for row in rows]
        if dtype is None:  # an empty row (float64 to numpy) takes the other rows' dtype
            filled = [a for a in arrays if len(a)]
            if filled:
                common = np.result_type(*filled)
                arrays = [a.astype(common, copy=False) for a in arrays]
        lengths = [len(a) for a in arrays]
        splits = np.zeros(len(arrays) + 1, dtype=np.int64)
        np.cumsum(lengths, out=splits[1:])
        if arrays:
            values = np.concatenate(arrays)
        else:
            values = np.zeros((0,), dtype=dtype if dtype is not None else np.float64)
        return cls(values, splits)

    @property
    def dtype(self) -> np.dtype:
        return self.values.dtype

    @property
    def ndim(self) -> int:
        return 1 + self.values.ndim

    @property
    def ragged_rank(self) -> int:
        """The number of ragged dimensions, as tf.RaggedTensor's: 1 when values is an array."""
        return 1 + self.values.ragged_rank if isinstance(self.values, RaggedArray) else 1

    @property
    def flat_values(self) -> np.ndarray:
        """The innermost values (an array), as tf.RaggedTensor.flat_values."""
        values = self.values
        while isinstance(values, RaggedArray):
            values = values.values
        return values

    @property
    def shape(self) -> tuple[int | None, ...]:
        """(rows, None, *inner): None is a ragged dimension, as in tf.RaggedTensor."""
        return (len(self.row_splits) - 1, None) + tuple(self.values.shape[1:])

    def row_lengths(self) -> np.ndarray:
        return np.diff(self.row_splits)

    def __len__(self) -> int:
        return len(self.row_splits) - 1

    @overload
    def __getitem__(self, index: SupportsIndex) -> Any: ...  # an array, or a RaggedArray
    @overload
    def __getitem__(self, index: slice) -> RaggedArray: ...

    def __getitem__(self, index: SupportsIndex | slice) -> np.ndarray | RaggedArray:
        """r[i]: row i (a view of values); r[a:b:s]: those rows as a RaggedArray (values a
        view when s is 1, as tf.RaggedTensor's slicing of the rows)."""
        n = len(self)
        if isinstance(index, slice):
            start, stop, step = index.indices(n)
            if step == 1:
                stop = max(stop, start)
                begin = self.row_splits[start]
                return RaggedArray._from_parts(self.values[begin:self.row_splits[stop]],
                                               self.row_splits[start:stop + 1] - begin)
            rows = range(start, stop, step)
            lengths = np.array([self.row_splits[i + 1] - self.row_splits[i] for i in rows],
                               dtype=self.row_splits.dtype)
            splits = np.zeros(len(rows) + 1, dtype=self.row_splits.dtype)
            np.cumsum(lengths, out=splits[1:])
            if len(rows):
                values = _concat([self[i] for i in rows])
            else:
                values = self.values[:0]
            return RaggedArray._from_parts(values, splits)
        try:
            i = operator.index(index)
        except TypeError:
            raise TypeError(f"RaggedArray indices must be integers or slices, got "
                            f"{type(index).__name__}") from None
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"row {index} out of range for a RaggedArray of {n} rows")
        return self.values[self.row_splits[i]:self.row_splits[i + 1]]

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(len(self)):
            yield self[i]

    def to_list(self) -> list[Any]:
        """Nested Python lists, as tf.RaggedTensor.to_list()."""
        return [row.to_list() if isinstance(row, RaggedArray) else row.tolist() for row in self]

    def to_numpy(self) -> np.ndarray:
        """An object array of the rows (each a numpy array), as tf.RaggedTensor.numpy()."""
        out = np.empty(len(self), dtype=object)
        for i, row in enumerate(self):
            out[i] = row
        return out

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        if dtype is not None and np.dtype(dtype) != np.dtype(object):
            raise TypeError("a RaggedArray converts to an object array of its rows only")
        return self.to_numpy()

    def to_tensorflow(self) -> Any:
        """tf.RaggedTensor.from_row_splits(values, row_splits)."""
        import tensorflow as tf
        values = self.values
        if isinstance(values, RaggedArray):
            values = values.to_tensorflow()
        return tf.RaggedTensor.from_row_splits(values, self.row_splits)

    def to_torch(self) -> Any:
        """A torch.nested tensor of the rows (numeric values, ragged_rank 1 only: torch.nested
        has one ragged dimension)."""
        import torch
        if isinstance(self.values, RaggedArray):
            raise ValueError(f"RaggedArray.to_torch: torch.nested has one ragged dimension, "
                             f"this RaggedArray has {self.ragged_rank}")
        return torch.nested.nested_tensor([torch.from_numpy(np.array(row)) for row in self])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RaggedArray):
            return NotImplemented
        if isinstance(self.values, RaggedArray) or isinstance(other.values, RaggedArray):
            return (np.array_equal(self.row_splits, other.row_splits)
                    and self.values == other.values)
        return (self.values.dtype == other.values.dtype
                and np.array_equal(self.row_splits, other.row_splits)
                and np.array_equal(self.values, other.values))

    __hash__ = None  # type: ignore[assignment]  # mutable arrays inside, as numpy's

    def __repr__(self) -> str:
        return f"RaggedArray({self.to_list()!r}, dtype={self.values.dtype})"


def _concat(parts: list[Any]) -> Any:
    """Arrays concatenated along their first dimension, or RaggedArrays row after row."""
    if not isinstance(parts[0], RaggedArray):
        return np.concatenate(parts)
    splits = [parts[0].row_splits]
    for part in parts[1:]:
        splits.append(part.row_splits[1:] + splits[-1][-1])
    return RaggedArray._from_parts(_concat([p.values for p in parts]), np.concatenate(splits))


class SparseArray:
    """tf.SparseTensor's parts: values[i] sits at indices[i] (int64 [n, rank]) of an array of
    shape dense_shape. VarLenFeature and SparseFeature give the dict form (SparseDict)."""

    __slots__ = ("indices", "values", "dense_shape")
    indices: np.ndarray
    values: np.ndarray
    dense_shape: np.ndarray

    def __init__(self, indices: Any, values: Any, dense_shape: Any) -> None:
        self.indices = np.asarray(indices, dtype=np.int64)
        self.values = np.asarray(values)
        self.dense_shape = np.asarray(dense_shape, dtype=np.int64)
        if (self.indices.ndim != 2 or self.dense_shape.ndim != 1
                or self.indices.shape[1] != self.dense_shape.shape[0]
                or self.values.shape != (self.indices.shape[0],)):
            raise ValueError(f"SparseArray: indices {self.indices.shape}, values "
                             f"{self.values.shape} and dense_shape {self.dense_shape.shape} do "
                             f"not fit together (need [n, rank], [n] and [rank])")
        if np.any(self.indices < 0) or np.any(self.indices >= self.dense_shape):
            raise ValueError(f"SparseArray: an index lies outside dense_shape "
                             f"{self.dense_shape.tolist()}")

    @classmethod
    def from_dict(cls, parts: SparseDict | dict[str, Any]) -> SparseArray:
        """From the dict that VarLenFeature / SparseFeature parse into."""
        return cls(parts["indices"], parts["values"], parts["dense_shape"])

    def to_dict(self) -> SparseDict:
        return {"indices": self.indices, "values": self.values, "dense_shape": self.dense_shape}

    def to_dense(self, default_value: Any = None) -> np.ndarray:
        """The dense array, the missing entries default_value (0, or b"" for strings), as
        tf.sparse.to_dense."""
        if default_value is None:
            default_value = b"" if self.values.dtype == object else 0
        out = np.full(tuple(self.dense_shape.tolist()), default_value, dtype=self.values.dtype)
        if len(self.values):
            out[tuple(self.indices.T)] = self.values
        return out

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        dense = self.to_dense()
        return dense if dtype is None else dense.astype(dtype)

    def __repr__(self) -> str:
        return (f"SparseArray(indices={self.indices.tolist()}, values={self.values.tolist()}, "
                f"dense_shape={self.dense_shape.tolist()})")
