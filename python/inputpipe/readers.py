"""File readers with tf.data's API: CSV, TFRecord, text lines, tf.train.Example parsing.

    import inputpipe

    files = inputpipe.Dataset.list_files("data/*.csv", shuffle=False)
    rows = inputpipe.CsvDataset(files, record_defaults=[np.int64, 0.0, "none"], header=True)
    examples = inputpipe.TFRecordDataset(["a.tfrecord"], compression_type="GZIP")
    features = {"label": inputpipe.FixedLenFeature([], "int64"),
                "tokens": inputpipe.VarLenFeature("string")}
    parsed = examples.apply(inputpipe.parse_single_example_fn(features))   # parses in C++
    one = inputpipe.parse_single_example(record_bytes, features)           # eager

Everything runs in the C++ engine (include/inputpipe/readers.h): iterators save their position
(file, byte offset, fingerprint of the file) and resume mid-file exactly; index=True scans the
files once so the dataset is random-access (len(), global shuffle). Errors: a missing file is an
OSError, a malformed record an inputpipe.DataLossError naming the file, line or byte offset; a
restore after a file changed an inputpipe.PipelineMismatchError naming the file. The readers
take name= as tf.data's do; it enters no fingerprint (a reader has no function to name).

A VarLenFeature comes out as TensorFlow's SparseTensor would, as a dict
{"indices": int64[n, rank], "values": dtype[n], "dense_shape": int64[rank]}.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Sequence, Union, cast

import numpy as np

from inputpipe import _core
from inputpipe._paths import filenames as _filenames
from inputpipe._typing import DType, Features, Paths, StrPath
from inputpipe.dataset import Dataset

__all__ = [
    "CsvDataset",
    "FixedLenFeature",
    "TFRecordDataset",
    "TFRecordOptions",
    "TFRecordWriter",
    "TextLineDataset",
    "VarLenFeature",
    "ignored_error_count",
    "parse_example",
    "parse_example_fn",
    "parse_single_example",
    "parse_single_example_fn",
]

# What the readers read: paths (a path, a list, a numpy array of them) or a Dataset of names.
Filenames = Union[Paths, Dataset]

_DTYPE_NAMES = {
    "int32": "int32", "int64": "int64", "float32": "float32", "float64": "float64",
    "float": "float32", "double": "float64", "string": "string", "str": "string",
    "bytes": "string", "object": "string",
}


def _dtype_name(dtype, what):
    """'int64', 'float32', ... from a numpy dtype, a Python type, a name or a tf.DType."""
    if dtype is str or dtype is bytes:
        return "string"
    if dtype is int:
        return "int64"
    if dtype is float:
        return "float32"
    name = getattr(dtype, "name", None) if not isinstance(dtype, str) else dtype
    if name is None:
        try:
            name = np.dtype(dtype).name
        except TypeError:
            name = None
    if isinstance(name, str):
        if name.startswith("bytes") or name.startswith("str"):
            name = "string"
        if name in _DTYPE_NAMES:
            return _DTYPE_NAMES[name]
    raise ValueError(f"{what}: unsupported dtype {dtype!r}")


def _is_dtype(value):
    if isinstance(value, str):
        return False
    if isinstance(value, type) or isinstance(value, np.dtype):
        return True
    return hasattr(value, "as_numpy_dtype")  # a tf.DType


def _numpy_value(value, dtype):
    if dtype == "string":
        if isinstance(value, str):
            value = value.encode()
        return np.asarray(value, dtype=object)
    return np.asarray(value, dtype=dtype)


def _reader(filenames, make, what, num_parallel_reads=None):
    """Builds the reader over `filenames`: a list, or (as tf.data allows) a Dataset of names,
    read one file after the other; num_parallel_reads > 1 interleaves files like tf.data."""
    if isinstance(filenames, Dataset):
        names = filenames
    else:
        names = _filenames(filenames, what)
        if not (num_parallel_reads and num_parallel_reads > 1):
            return make(names)
        names = Dataset.from_tensor_slices(np.asarray(names, dtype=object))

    def read_file(name):
        return Dataset(make([os.fsdecode(name)]))

    read_file.__qualname__ = f"{what}.read_file"
    if num_parallel_reads and num_parallel_reads > 1:
        return names.interleave(read_file, cycle_length=int(num_parallel_reads), block_length=1)._handle
    return names.flat_map(read_file)._handle


def _options(compression_type, buffer_size, index, index_sidecar, max_record_bytes):
    return dict(compression_type=compression_type or "",
                buffer_size=0 if buffer_size is None else int(buffer_size),
                index=bool(index), index_sidecar=bool(index_sidecar),
                max_record_bytes=0 if max_record_bytes is None else int(max_record_bytes))


class TFRecordDataset(Dataset):
    """Records of TFRecord files as scalar bytes (tf.data.TFRecordDataset). Both CRC32Cs are
    verified. compression_type: None / '' / 'GZIP' / 'ZLIB'. index=True makes it random-access
    (uncompressed files), index_sidecar=True keeps that index in '<file>.ipidx'."""

    __slots__ = ()

    def __init__(self, filenames: Filenames, compression_type: str | None = None,
                 buffer_size: int | None = None, num_parallel_reads: int | None = None,
                 index: bool = False, index_sidecar: bool = False,
                 max_record_bytes: int | None = None, name: str | None = None) -> None:
        opts = _options(compression_type, buffer_size, index, index_sidecar, max_record_bytes)
        super().__init__(_reader(filenames, lambda names: _core.tfrecord(names, **opts),
                                 "TFRecordDataset", num_parallel_reads))


class TextLineDataset(Dataset):
    """Lines of text files as scalar bytes, without line endings (tf.data.TextLineDataset:
    like TensorFlow, every '\\r' is dropped)."""

    __slots__ = ()

    def __init__(self, filenames: Filenames, compression_type: str | None = None,
                 buffer_size: int | None = None, num_parallel_reads: int | None = None,
                 index: bool = False, index_sidecar: bool = False,
                 max_record_bytes: int | None = None, name: str | None = None) -> None:
        opts = _options(compression_type, buffer_size, index, index_sidecar, max_record_bytes)
        super().__init__(_reader(filenames, lambda names: _core.text_line(names, **opts),
                                 "TextLineDataset", num_parallel_reads))


class CsvDataset(Dataset):
    """Rows of CSV files as tuples of scalars (tf.data.experimental.CsvDataset).

    record_defaults: one entry per output column: a dtype (int32, int64, float32, float64 or
    string; the column is then required) or a default value (its type gives the column's: a
    Python int is int32 and a float float32, as in TensorFlow; a one-element list [value] is
    accepted too). A field that is empty or equal to na_value takes the default.
    """

    __slots__ = ("_batched",)

    def __init__(self, filenames: Filenames, record_defaults: Sequence[Any],
                 compression_type: str | None = None, buffer_size: int | None = None,
                 header: bool = False, field_delim: str = ",", use_quote_delim: bool = True,
                 na_value: str = "", select_cols: Sequence[int] | None = None,
                 exclude_cols: Sequence[int] | None = None, index: bool = False,
                 index_sidecar: bool = False, max_record_bytes: int | None = None,
                 name: str | None = None) -> None:
        dtypes: list[str] = []
        defaults: list[Any] = []
        for i, spec in enumerate(record_defaults):
            if isinstance(spec, (list, tuple)):
                if len(spec) == 0:
                    raise ValueError(f"CsvDataset: record_defaults[{i}] is empty: give a dtype "
                                     "for a required column")
                spec = spec[0]
            if _is_dtype(spec):
                dtypes.append(_dtype_name(spec, f"CsvDataset: record_defaults[{i}]"))
                defaults.append(None)
                continue
            if isinstance(spec, (np.generic, np.ndarray)):  # np.float64 is also a float
                dtype = _dtype_name(spec.dtype, f"CsvDataset: record_defaults[{i}]")
            elif isinstance(spec, (str, bytes)):
                dtype = "string"
            elif isinstance(spec, bool):
                raise ValueError(f"CsvDataset: record_defaults[{i}]: bool columns are not supported")
            elif isinstance(spec, int):
                dtype = "int32"
            elif isinstance(spec, float):
                dtype = "float32"
            else:
                dtype = _dtype_name(np.asarray(spec).dtype, f"CsvDataset: record_defaults[{i}]")
            dtypes.append(dtype)
            defaults.append(_numpy_value(spec, dtype))
        opts = _options(compression_type, buffer_size, index, index_sidecar, max_record_bytes)

        def make(names, batch_size=0, drop_remainder=False):
            return _core.csv(names, dtypes, defaults, bool(header), field_delim,
                             bool(use_quote_delim), na_value or "",
                             [int(c) for c in (select_cols or [])],
                             [int(c) for c in (exclude_cols or [])], batch_size=batch_size,
                             drop_remainder=drop_remainder, **opts)

        super().__init__(_reader(filenames, make, "CsvDataset"))
        self._batched: Callable[[int, bool], _core.DatasetHandle] | None = None
        if not isinstance(filenames, Dataset):
            names = _filenames(filenames, "CsvDataset")
            self._batched = lambda n, drop: make(names, n, drop)

    def batch(self, batch_size: int, drop_remainder: bool = False, name: str | None = None,
              **kwargs: Any) -> Dataset:
        """Dataset.batch, fused into the reader: the same batches (spanning files, the
        remainder kept unless drop_remainder), parsed straight into column arrays in C++."""
        if self._batched is None or kwargs or int(batch_size) <= 0:
            return super().batch(batch_size, drop_remainder, name=name, **kwargs)
        return Dataset(self._batched(int(batch_size), bool(drop_remainder)))


class TFRecordOptions:
    """tf.io.TFRecordOptions' compression_type, for TFRecordWriter(path, options)."""

    def __init__(self, compression_type: str | None = None) -> None:
        self.compression_type = compression_type or ""


class TFRecordWriter:
    """Writes TFRecord files (tf.io.TFRecordWriter), readable by TensorFlow and by
    TFRecordDataset. options: None, 'GZIP', 'ZLIB' or a TFRecordOptions."""

    def __init__(self, path: StrPath, options: str | TFRecordOptions | None = None) -> None:
        compression = cast(str, getattr(options, "compression_type", options) or "")
        self._writer = _core.TFRecordWriter(os.fspath(path), compression)

    def write(self, record: bytes | bytearray | memoryview | str) -> None:
        """Appends one record (str is encoded as UTF-8)."""
        if isinstance(record, str):
            record = record.encode()
        self._writer.write(bytes(record))

    def flush(self) -> None:
        """Pushes the written records to the file."""
        self._writer.flush()

    def close(self) -> None:
        """Flushes and closes the file; later writes fail."""
        self._writer.close()

    def __enter__(self) -> TFRecordWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---- tf.train.Example ----------------------------------------------------------------------
class FixedLenFeature:
    """A feature of fixed shape (tf.io.FixedLenFeature): dtype int64, float32 or string; a
    missing feature takes default_value, or is an error without one."""

    __slots__ = ("shape", "dtype", "default_value")

    def __init__(self, shape: int | list[int] | tuple[int, ...], dtype: DType,
                 default_value: Any = None) -> None:
        self.shape = [int(d) for d in (shape if isinstance(shape, (list, tuple)) else [shape])]
        self.dtype = _dtype_name(dtype, "FixedLenFeature")
        self.default_value = default_value

    def _spec(self, key):
        default = None if self.default_value is None else _numpy_value(self.default_value, self.dtype)
        return (key, "fixed", self.dtype, self.shape, default)


class VarLenFeature:
    """A feature with any number of values (tf.io.VarLenFeature), parsed into the dict
    {"indices", "values", "dense_shape"} of TensorFlow's SparseTensor."""

    __slots__ = ("dtype",)

    def __init__(self, dtype: DType) -> None:
        self.dtype = _dtype_name(dtype, "VarLenFeature")

    def _spec(self, key):
        return (key, "var", self.dtype, [], None)


def _features(features):
    if not isinstance(features, dict) or not features:
        raise ValueError("features must be a non-empty dict of FixedLenFeature / VarLenFeature")
    specs = []
    for key, feature in features.items():
        if not isinstance(feature, (FixedLenFeature, VarLenFeature)):
            raise ValueError(f"feature {key!r}: expected FixedLenFeature or VarLenFeature, got "
                             f"{type(feature).__name__}")
        specs.append(feature._spec(str(key)))
    return specs


def _record_bytes(value):
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, np.ndarray):
        value = value.reshape(()).item() if value.size == 1 else value
    return bytes(value)


def parse_single_example(serialized: bytes | str | np.ndarray,
                         features: Features) -> dict[str, Any]:
    """One serialized tf.train.Example -> {key: numpy value} (tf.io.parse_single_example)."""
    return cast("dict[str, Any]", _core.parse_single_example(_record_bytes(serialized),
                                                             _features(features)))


def parse_example(serialized: Sequence[bytes] | np.ndarray, features: Features) -> dict[str, Any]:
    """A batch of serialized Examples -> {key: batched value} (tf.io.parse_example): FixedLen
    features gain a leading batch dimension, VarLen ones are sparse with rows (row, position)."""
    records = np.asarray([_record_bytes(s) for s in serialized], dtype=object)
    return cast("dict[str, Any]", _core.parse_example(records, _features(features)))


def parse_single_example_fn(features: Features) -> Callable[[Dataset], Dataset]:
    """For Dataset.apply: maps a dataset of serialized Examples through
    parse_single_example, in C++ (no Python call per element)."""
    specs = _features(features)
    return lambda ds: Dataset(_core.map_parse_example(ds._handle, specs, True))


def parse_example_fn(features: Features) -> Callable[[Dataset], Dataset]:
    """For Dataset.apply: parse_example on a dataset of batches of serialized Examples, in C++."""
    specs = _features(features)
    return lambda ds: Dataset(_core.map_parse_example(ds._handle, specs, False))


def ignored_error_count(iterator: _core.Iterator) -> int:
    """How many errors the ignore_errors ops (Dataset.ignore_errors) of the iterator's pipeline
    have skipped (the count is part of the saved state)."""
    return _core.ignored_error_count(iterator)
