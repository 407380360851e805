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
{"indices": int64[n, rank], "values": dtype[n], "dense_shape": int64[rank]}; so does a
SparseFeature (inputpipe.SparseArray.from_dict(d).to_dense() gives the dense array). A
RaggedFeature is a vector for one example, an inputpipe.RaggedArray of one row per record for a
batch.
"""

from __future__ import annotations

import os
import re
from typing import Any, Callable, NamedTuple, Sequence, Union, cast

import numpy as np

from inputpipe import _core

from inputpipe._paths import filenames as _filenames
from inputpipe._typing import DType, Features, Paths, StrPath
from inputpipe.dataset import Dataset

__all__ = [
    "CsvDataset",
    "FixedLenFeature",
    "FixedLenSequenceFeature",
    "RaggedFeature",
    "SparseFeature",
    "TFRecordDataset",
    "TFRecordOptions",
    "TFRecordWriter",
    "TextLineDataset",
    "VarLenFeature",
    "decode_csv",
    "ignored_error_count",
    "make_csv_dataset",
    "parse_example",
    "parse_example_fn",
    "parse_sequence_example",
    "parse_single_example",
    "parse_single_example_fn",
    "parse_single_sequence_example",
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
    if not (isinstance(name, str) and name in _DTYPE_NAMES):
        # Every other spelling numpy accepts ("i4", "<f8", np.dtype("S")) for the same dtypes.
        try:
            resolved = np.dtype(getattr(dtype, "as_numpy_dtype", dtype))
        except (TypeError, ValueError):
            resolved = None
        name = None if resolved is None else ("string" if resolved.kind in "SUO"
                                                 else resolved.name)
    if isinstance(name, str) and name in _DTYPE_NAMES:
        return _DTYPE_NAMES[name]
    raise ValueError(f"{what}: unsupported dtype {dtype!r} (supported: int32, int64, float32, "
                     "float64 and string, in any spelling numpy accepts)")


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
        dtypes, defaults = _csv_columns(record_defaults, "CsvDataset")
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


class FixedLenSequenceFeature:
    """A sequence of steps of `shape` (tf.io.FixedLenSequenceFeature): the feature's values,
    num_elements(shape) per step, parsed into [steps, *shape] ([batch, longest, *shape] by
    parse_example, the shorter rows padded with default_value, a scalar, or 0 / "").
    allow_missing=True: a missing feature is no step; else it is an error (TensorFlow refuses
    allow_missing=False in parse_example; here it means the feature is required)."""

    __slots__ = ("shape", "dtype", "allow_missing", "default_value")

    def __init__(self, shape: int | list[int] | tuple[int, ...], dtype: DType,
                 allow_missing: bool = False, default_value: Any = None) -> None:
        self.shape = [int(shape)] if isinstance(shape, (int, np.integer)) else \
            [int(d) for d in shape]
        self.dtype = _dtype_name(dtype, "FixedLenSequenceFeature")
        self.allow_missing = bool(allow_missing)
        self.default_value = default_value

    def _spec(self, key):
        default = None if self.default_value is None else \
            _numpy_value(self.default_value, self.dtype)
        return (key, "seq_allow_missing" if self.allow_missing else "seq", self.dtype,
                self.shape, default)


class _KeyedPartition(NamedTuple):
    key: str


class _RowSplits(_KeyedPartition):
    """A ragged dimension whose row splits are the int64 feature `key` ([0, ..., rows inside])."""


class _RowLengths(_KeyedPartition):
    """A ragged dimension whose row lengths are the int64 feature `key`."""


class _RowStarts(_KeyedPartition):
    """A ragged dimension whose row starts are the int64 feature `key` (its row splits but the
    last)."""


class _RowLimits(_KeyedPartition):
    """A ragged dimension whose row limits are the int64 feature `key` (its row splits but the
    first)."""


class _ValueRowIds(_KeyedPartition):
    """A ragged dimension given by the row of each row inside it: the int64 feature `key`, one
    per row inside, never decreasing (rows after the last id: none)."""


class _UniformRowLength(NamedTuple):
    """A dimension of rows of `length` each (as a ragged dimension of equal rows)."""
    length: int


_PARTITIONS = {cls.__name__.lstrip("_"): cls for cls in (
    _RowSplits, _RowLengths, _RowStarts, _RowLimits, _ValueRowIds, _UniformRowLength)}


def _partition(p: Any) -> tuple[str, str, int]:
    """(kind, key, length) of one of RaggedFeature's partitions, ours or TensorFlow's own
    (tf.io.RaggedFeature.RowLengths(...): the same names and fields)."""
    kind = type(p).__name__.lstrip("_")
    if kind not in _PARTITIONS:
        raise ValueError(f"RaggedFeature: partition {p!r} is not one of RaggedFeature."
                         f"{', RaggedFeature.'.join(_PARTITIONS)}")
    if kind == "UniformRowLength":
        if isinstance(p.length, bool) or not isinstance(p.length, (int, np.integer)):
            raise ValueError(f"RaggedFeature: UniformRowLength({p.length!r}): the length must be "
                             "a positive int")
        length = int(p.length)
        if not 0 < length < 2**63:
            raise ValueError(f"RaggedFeature: UniformRowLength({length}): the length must be "
                             "a positive int")
        return kind, "", length
    if not isinstance(p.key, str) or not p.key:
        raise ValueError(f"RaggedFeature: {kind}({p.key!r}): the key must be a feature name "
                         "(a non-empty str)")
    return kind, p.key, 0


class RaggedFeature:
    """A feature with any number of values (tf.io.RaggedFeature), read from value_key (the
    feature's own key by default): a vector for parse_single_example, a RaggedArray of one row
    per record for parse_example. A missing feature is an empty row.

    partitions (outermost first) split each record's values into more ragged dimensions, each
    from another int64 feature of the record: RaggedFeature.RowSplits(key), RowLengths(key),
    RowStarts(key), RowLimits(key), ValueRowIds(key) or UniformRowLength(length) (TensorFlow's
    own tf.io.RaggedFeature.RowLengths(...) are accepted too). With k partitions a single
    example is a RaggedArray of k ragged dimensions, a batch one of k + 1. They are always
    checked, as tf's validate=True: lengths that do not add up to the values, splits that
    decrease, are a ValueError naming the feature, the partition and the record. A
    UniformRowLength dimension comes out as a ragged one of equal rows.

    row_splits_dtype: int64 (the default here; TensorFlow's is int32) or int32, for every
    ragged dimension."""

    RowSplits = _RowSplits
    RowLengths = _RowLengths
    RowStarts = _RowStarts
    RowLimits = _RowLimits
    ValueRowIds = _ValueRowIds
    UniformRowLength = _UniformRowLength

    __slots__ = ("dtype", "value_key", "partitions", "row_splits_dtype")

    def __init__(self, dtype: DType, value_key: str | None = None,
                 partitions: Sequence[Any] = (), row_splits_dtype: DType = "int64",
                 validate: bool = False) -> None:
        self.dtype = _dtype_name(dtype, "RaggedFeature")
        self.value_key = value_key
        self.partitions = [_partition(p) for p in partitions]
        self.row_splits_dtype = _dtype_name(row_splits_dtype, "RaggedFeature row_splits_dtype")
        if self.row_splits_dtype not in ("int64", "int32"):
            raise ValueError(f"RaggedFeature: row_splits_dtype must be int64 or int32, got "
                             f"{self.row_splits_dtype}")

    def _spec(self, key):
        return (key, "ragged", self.dtype, [],
                (self.value_key or key, self.row_splits_dtype, self.partitions))


class SparseFeature:
    """Values placed at positions given by other features (tf.io.SparseFeature): value_key's
    values, index_key's int64 values (one key per dimension of size) their positions, parsed
    into VarLenFeature's dict with dense_shape = size ([batch, *size] for parse_example), sorted
    by position unless already_sorted. Index and value counts that differ, or an index outside
    [0, size), is an error naming the feature and the record (and, in a TFRecord pipeline, the
    file and byte offset)."""

    __slots__ = ("index_key", "value_key", "dtype", "size", "already_sorted")

    def __init__(self, index_key: str | Sequence[str], value_key: str, dtype: DType,
                 size: int | Sequence[int], already_sorted: bool = False) -> None:
        self.index_key = [index_key] if isinstance(index_key, str) else [str(k) for k in index_key]
        self.value_key = str(value_key)
        self.dtype = _dtype_name(dtype, "SparseFeature")
        self.size = [int(size)] if isinstance(size, (int, np.integer)) else [int(d) for d in size]
        self.already_sorted = bool(already_sorted)

    def _spec(self, key):
        return (key, "sparse_sorted" if self.already_sorted else "sparse", self.dtype, self.size,
                (self.value_key, self.index_key))


_FEATURE_TYPES = (FixedLenFeature, VarLenFeature, FixedLenSequenceFeature, RaggedFeature,
                  SparseFeature)


def _features(features):
    if not isinstance(features, dict) or not features:
        raise ValueError("features must be a non-empty dict of FixedLenFeature / VarLenFeature / "
                         "FixedLenSequenceFeature / RaggedFeature / SparseFeature")
    specs = []
    for key, feature in features.items():
        if not isinstance(feature, _FEATURE_TYPES):
            raise ValueError(f"feature {key!r}: expected FixedLenFeature, VarLenFeature, "
                             f"FixedLenSequenceFeature, RaggedFeature or SparseFeature, got "
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


# ---------------------------------------------------------------------------------------------
# make_csv_dataset and decode_csv: tf.data.experimental.make_csv_dataset and tf.io.decode_csv.
#
#     ds = inputpipe.make_csv_dataset("data/*.csv", batch_size=32, label_name="y",
#                                     num_epochs=1, shuffle_seed=7)
#     features, labels = next(iter(ds))   # {"a": int32[32], "b": float32[32], ...}, int32[32]
#     a, b = inputpipe.decode_csv(np.array([b"1,x", b"2,y"]), [0, ""])
#
# make_csv_dataset is a pipeline of the ops above (list_files, CsvDataset, shuffle, repeat,
# batch, map), so it saves and restores exactly as they do; it reads only the header lines and
# the first rows (type inference) when it is built.

_INT_RE = re.compile(r"[+-]?[0-9]+")
_FLOAT_RE = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
_INFERRED = ("int32", "int64", "float32", "float64", "string")


def _value_type(text):
    """The narrowest of _INFERRED that holds `text` (TensorFlow's order; an "inf" or "nan" is a
    string there too, as TensorFlow's check `value < dtype.max` is false for them)."""
    if _INT_RE.fullmatch(text):
        value = int(text)
        if -2**31 <= value < 2**31:
            return 0
        if -2**63 <= value < 2**63:
            return 1
    if _FLOAT_RE.fullmatch(text):
        number = abs(float(text))
        if number <= float(np.finfo(np.float32).max):
            return 2
        if number < float("inf"):
            return 3
    return 4


def _split_record(record, field_delim, use_quote_delim, what):
    """The fields of one CSV record with CsvDataset's dialect ("" in a quoted field is a quote);
    a stray quote is a ValueError naming `what` (the record)."""
    fields: list[str] = []
    i, n = 0, len(record)
    while True:
        if use_quote_delim and i < n and record[i] == '"':
            j, field = i + 1, []
            while True:
                k = record.find('"', j)
                if k < 0:
                    raise ValueError(f"{what}: a quoted field has no closing quote")
                field.append(record[j:k])
                if record.startswith('"', k + 1):
                    field.append('"')
                    j = k + 2
                    continue
                i = k + 1
                break
            fields.append("".join(field))
            if i < n and record[i] != field_delim:
                raise ValueError(f"{what}: a quote inside a quoted field must be doubled")
        else:
            k = record.find(field_delim, i)
            k = n if k < 0 else k
            field_text = record[i:k]
            if use_quote_delim and '"' in field_text:
                raise ValueError(f"{what}: an unquoted field has a quote in it: {field_text!r}")
            fields.append(field_text)
            i = k
        if i >= n:
            return fields
        i += 1  # past the delimiter
        if i == n:
            fields.append("")
            return fields


def _first_line(name, compression_type):
    lines = TextLineDataset([name], compression_type=compression_type).take(1)
    for line in lines.as_numpy_iterator():
        return bytes(line).decode("utf-8", "replace")
    return None


def _column_index(column, names, what):
    if isinstance(column, (int, np.integer)) and not isinstance(column, bool):
        if not 0 <= int(column) < len(names):
            raise ValueError(f"{what}: column index {column} is out of range (the files have "
                             f"{len(names)} columns)")
        return int(column)
    if column not in names:
        raise ValueError(f"{what}: column {column!r} is not one of the columns {names}")
    return names.index(column)


def make_csv_dataset(file_pattern: Paths, batch_size: int,
                     column_names: Sequence[str] | None = None,
                     column_defaults: Sequence[Any] | None = None,
                     label_name: str | None = None,
                     select_columns: Sequence[str | int] | None = None,
                     field_delim: str = ",", use_quote_delim: bool = True, na_value: str = "",
                     header: bool = True, num_epochs: int | None = None, shuffle: bool = True,
                     shuffle_buffer_size: int = 10000, shuffle_seed: int | None = None,
                     num_rows_for_inference: int = 100, compression_type: str | None = None,
                     ignore_errors: bool = False) -> Dataset:
    """Batches of CSV rows as dicts of named columns (tf.data.experimental.make_csv_dataset).

    Each element is ({name: column batch}, label batch) with label_name, else the dict; the
    batches are numpy arrays of batch_size rows (the last one smaller when num_epochs is given;
    num_epochs=None repeats forever and drops no row, as TensorFlow's drop_remainder does then).

    column_names: default, the first file's header (header=True is then required). Every file's
      header must be the same line: another one is a ValueError naming the file (line 1).
    column_defaults: as CsvDataset's record_defaults, one per selected column; default, types
      inferred from the first num_rows_for_inference rows (all files, in name order) as
      TensorFlow does: int32, else int64, else float32, else float64, else string (the
      narrowest that holds every non-empty value; "nan" and "inf" are strings); a column with
      no value is a string; the default of an inferred column is 0 or "".
    select_columns: names or indices of the columns to keep (in file order, as TensorFlow).
    shuffle: the file order and the rows (a shuffle buffer of shuffle_buffer_size) are shuffled
      with shuffle_seed, again every epoch; shuffle_seed=None draws a new order for each
      iterator. A bad value is an inputpipe.DataLossError naming the file and line, or a
      skipped row with ignore_errors=True.

    Not TensorFlow's: no prefetch at the end (add .prefetch()), files are read one after the
    other (num_parallel_reads and sloppy are not taken), headers are checked across files.
    Unshuffled and with num_epochs=1 the batches are parsed straight into columns (CsvDataset's
    fused batch).
    """
    what = "make_csv_dataset"
    if int(batch_size) <= 0:
        raise ValueError(f"{what}: batch_size must be positive, got {batch_size}")
    if num_epochs is not None and int(num_epochs) < 0:
        raise ValueError(f"{what}: num_epochs must be None or >= 0, got {num_epochs}")
    files = [os.fsdecode(bytes(f)) for f in
             Dataset.list_files(file_pattern, shuffle=False).as_numpy_iterator()]
    if not files:
        raise ValueError(f"{what}: no file matches {file_pattern!r}")
    if header:
        first = _first_line(files[0], compression_type)
        if first is None:
            raise ValueError(f"{what}: {files[0]!r} is empty: it has no header line")
        for name in files[1:]:
            line = _first_line(name, compression_type)
            if line != first:
                raise ValueError(f"{what}: the header of {name!r} (line 1) is {line!r}, not "
                                 f"{first!r} as in {files[0]!r}")
        if column_names is None:
            column_names = _split_record(first.rstrip("\r\n"), field_delim, use_quote_delim,
                                         f"{what}: the header of {files[0]!r} (line 1)")
    elif column_names is None:
        raise ValueError(f"{what}: column_names are required with header=False")
    column_names = [str(c) for c in column_names]
    if len(set(column_names)) != len(column_names):
        raise ValueError(f"{what}: column names must be unique, got {column_names}")
    if select_columns is not None:
        select = sorted({_column_index(c, column_names, what) for c in select_columns})
    else:
        select = list(range(len(column_names)))
    names = [column_names[i] for i in select]
    if label_name is not None and label_name not in names:
        raise ValueError(f"{what}: label_name {label_name!r} is not one of the columns {names}")
    csv_opts: dict[str, Any] = dict(header=bool(header), field_delim=field_delim,
                                    use_quote_delim=bool(use_quote_delim), na_value=na_value,
                                    compression_type=compression_type)
    select_cols = select if len(select) != len(column_names) else None
    if column_defaults is None:
        kinds = [-1] * len(select)
        rows = CsvDataset(files, [""] * len(select), select_cols=select_cols, **csv_opts)
        if ignore_errors:
            rows = rows.ignore_errors()
        for row in rows.take(int(num_rows_for_inference)).as_numpy_iterator():
            for i, value in enumerate(row):
                text = bytes(value).decode("utf-8", "replace")
                if text:  # the empty field and na_value (read as "") say nothing of the type
                    kinds[i] = max(kinds[i], _value_type(text))
        dtypes = [_INFERRED[k] if k >= 0 else "string" for k in kinds]
        column_defaults = [np.array(b"" if t == "string" else 0, dtype=object if t == "string"
                                    else t) for t in dtypes]
    elif len(column_defaults) != len(select):
        raise ValueError(f"{what}: column_defaults has {len(column_defaults)} entries for "
                         f"{len(select)} columns {names}")
    if shuffle:
        file_names = Dataset.from_tensor_slices(np.asarray(files, dtype=object))
        file_names = file_names.shuffle(len(files), seed=shuffle_seed)
        ds: Dataset = CsvDataset(file_names, column_defaults, select_cols=select_cols,
                                 **csv_opts)
    else:
        ds = CsvDataset(files, column_defaults, select_cols=select_cols, **csv_opts)
    if ignore_errors:
        ds = ds.ignore_errors()
    if shuffle:
        ds = ds.shuffle(int(shuffle_buffer_size), seed=shuffle_seed)
    if num_epochs != 1:
        ds = ds.repeat(num_epochs)
    ds = ds.batch(int(batch_size), drop_remainder=num_epochs is None)
    keys = tuple(names)

    def to_columns(*columns):
        features = dict(zip(keys, columns))
        if label_name is None:
            return features
        label = features.pop(label_name)
        return features, label

    return ds.map(to_columns, name=f"make_csv_dataset.to_columns({','.join(keys)})")


_FLOAT_WORDS = {"inf", "+inf", "-inf", "infinity", "+infinity", "-infinity", "nan", "+nan",
                "-nan"}


def _csv_columns(record_defaults, what):
    """(dtypes, defaults) of CsvDataset's record_defaults: a default None is a required column."""
    dtypes: list[str] = []
    defaults: list[Any] = []
    for i, spec in enumerate(record_defaults):
        if isinstance(spec, (list, tuple)):
            if len(spec) == 0:
                raise ValueError(f"{what}: record_defaults[{i}] is empty: give a dtype "
                                 "for a required column")
            spec = spec[0]
        if _is_dtype(spec):
            dtypes.append(_dtype_name(spec, f"{what}: record_defaults[{i}]"))
            defaults.append(None)
            continue
        if isinstance(spec, (np.generic, np.ndarray)):  # np.float64 is also a float
            dtype = _dtype_name(spec.dtype, f"{what}: record_defaults[{i}]")
        elif isinstance(spec, (str, bytes)):
            dtype = "string"
        elif isinstance(spec, bool):
            raise ValueError(f"{what}: record_defaults[{i}]: bool columns are not supported")
        elif isinstance(spec, int):
            dtype = "int32"
        elif isinstance(spec, float):
            dtype = "float32"
        else:
            dtype = _dtype_name(np.asarray(spec).dtype, f"{what}: record_defaults[{i}]")
        dtypes.append(dtype)
        defaults.append(_numpy_value(spec, dtype))
    return dtypes, defaults


def _convert_field(text, dtype, what):
    if dtype == "string":
        return text.encode("utf-8")
    if dtype in ("int32", "int64"):
        if _INT_RE.fullmatch(text):
            value = int(text)
            info = np.iinfo(dtype)
            if info.min <= value <= info.max:
                return value
            raise ValueError(f"{what}: {text!r} is out of the range of {dtype}")
        raise ValueError(f"{what}: {text!r} is not an integer ({dtype})")
    if _FLOAT_RE.fullmatch(text) or text.lower() in _FLOAT_WORDS:
        return float(text)
    raise ValueError(f"{what}: {text!r} is not a number ({dtype})")


def decode_csv(records: bytes | str | Sequence[Any] | np.ndarray, record_defaults: Sequence[Any],
               field_delim: str = ",", use_quote_delim: bool = True, na_value: str = "",
               select_cols: Sequence[int] | None = None) -> list[np.ndarray]:
    """CSV records (a string or an array of them, any shape) to columns (tf.io.decode_csv).

    Gives one numpy array per record_defaults entry, of records' shape (int32/int64/float32/
    float64, or object arrays of bytes for strings). record_defaults and the dialect are
    CsvDataset's; select_cols (increasing indices) picks the columns record_defaults are for.
    A record with another number of fields, a bad value or a missing required field is a
    ValueError naming the record (its index in the flattened records, and its text). Pure
    Python: use it in a map function over text lines; CsvDataset reads files far faster.
    """
    what = "decode_csv"
    dtypes, defaults = _csv_columns(record_defaults, what)
    if not dtypes:
        raise ValueError(f"{what}: record_defaults is empty")
    if select_cols is not None:
        select_cols = [int(c) for c in select_cols]
        if len(select_cols) != len(dtypes):
            raise ValueError(f"{what}: select_cols has {len(select_cols)} entries but "
                             f"record_defaults {len(dtypes)}")
        if any(b <= a for a, b in zip(select_cols, select_cols[1:])) or \
                (select_cols and select_cols[0] < 0):
            raise ValueError(f"{what}: select_cols must be increasing and non-negative, got "
                             f"{select_cols}")
    array = np.asarray(records, dtype=object)
    flat = array.reshape(-1)
    columns = [np.empty(flat.shape, dtype=object if t == "string" else t) for t in dtypes]
    for r, record in enumerate(flat):
        text = bytes(record).decode("utf-8") if isinstance(record, (bytes, bytearray, np.bytes_)) \
            else str(record)
        where = f"{what}: record {r} ({text[:80]!r})"
        fields = _split_record(text, field_delim, use_quote_delim, where)
        if select_cols is not None:
            if len(fields) <= select_cols[-1]:
                raise ValueError(f"{where}: has {len(fields)} fields, select_cols needs "
                                 f"{select_cols[-1] + 1}")
            fields = [fields[c] for c in select_cols]
        elif len(fields) != len(dtypes):
            raise ValueError(f"{where}: expected {len(dtypes)} fields but the record has "
                             f"{len(fields)}")
        for c, field in enumerate(fields):
            if field == "" or (na_value and field == na_value):
                if defaults[c] is None:
                    raise ValueError(f"{where}: field {c} is required but missing")
                default = defaults[c]
                default = default.item() if isinstance(default, np.ndarray) else default
                columns[c][r] = default.encode("utf-8") if isinstance(default, str) else default
            else:
                columns[c][r] = _convert_field(field, dtypes[c], f"{where}, field {c}")
    return [c.reshape(array.shape) for c in columns]


# ---------------------------------------------------------------------------------------------
# tf.train.SequenceExample: parse_single_sequence_example and parse_sequence_example.
#
#     context, lists = inputpipe.parse_single_sequence_example(
#         record, context_features={"id": inputpipe.FixedLenFeature([], "int64")},
#         sequence_features={"tok": inputpipe.FixedLenSequenceFeature([], "int64")})
#
# The messages (tensorflow/core/example/example.proto, feature.proto):
#   SequenceExample { Features context = 1; FeatureLists feature_lists = 2; }
#   FeatureLists    { map<string, FeatureList> feature_list = 1; }   // key = 1, value = 2
#   FeatureList     { repeated Feature feature = 1; }                // one Feature a step
# Only this outer layer is read here; the values go through the C++ Example parser: the
# context (a Features message) is an Example's one field, and the T steps of a feature list are
# T one-feature Examples parsed as a batch, so a FixedLenSequenceFeature of shape S is
# FixedLenFeature(S) over the steps ([T, *S]) and a VarLenFeature is sparse over (step, index).


def _varint(data, i, what):
    value = shift = 0
    while True:
        if i >= len(data) or shift > 63:
            raise _core.DataLossError(f"{what}: truncated or bad varint")
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def _fields(data, what):
    """(field number, bytes) of the length-delimited fields of a message; others skipped."""
    i, n = 0, len(data)
    while i < n:
        tag, i = _varint(data, i, what)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            _, i = _varint(data, i, what)
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        elif wire == 2:
            size, i = _varint(data, i, what)
            if i + size > n:
                raise _core.DataLossError(f"{what}: a field runs past the record")
            yield number, data[i:i + size]
            i += size
        else:
            raise _core.DataLossError(f"{what}: bad wire type {wire}")
        if i > n:
            raise _core.DataLossError(f"{what}: truncated record")


def _length_delimited(number, payload):
    out = bytearray()
    for value in (number << 3 | 2, len(payload)):
        while value >= 0x80:
            out.append(value & 0x7F | 0x80)
            value >>= 7
        out.append(value)
    return bytes(out) + payload


def _sequence_example(serialized, what):
    """(context Features bytes, {key: [Feature bytes a step]}) of one SequenceExample."""
    context = b""
    lists: dict[str, list[bytes]] = {}
    for number, payload in _fields(serialized, what):
        if number == 1:
            context += payload  # repeated message fields merge, as protobuf does
        elif number == 2:
            for entry_number, entry in _fields(payload, what):
                if entry_number != 1:
                    continue
                key, steps = "", []
                for k, v in _fields(entry, what):
                    if k == 1:
                        key = v.decode("utf-8", "replace")
                    elif k == 2:
                        steps = [f for n, f in _fields(v, what) if n == 1]
                lists[key] = steps  # a key given twice keeps its last value
    return context, lists


def _split_sequence_features(context_features, sequence_features, what):
    context = dict(context_features or {})
    sequence = dict(sequence_features or {})
    if not context and not sequence:
        raise ValueError(f"{what}: give context_features or sequence_features")
    for key, feature in sequence.items():
        if not isinstance(feature, (FixedLenSequenceFeature, VarLenFeature)):
            raise ValueError(f"{what}: sequence feature {key!r} must be a "
                             f"FixedLenSequenceFeature or VarLenFeature, got "
                             f"{type(feature).__name__}")
    return context, sequence


def _parse_feature_list(key, feature, steps, what):
    if steps is None:
        if isinstance(feature, FixedLenSequenceFeature) and not feature.allow_missing:
            raise ValueError(f"{what}: feature list {key!r} is required but could not be found "
                             "(allow_missing=False)")
        steps = []
    key_field = _length_delimited(1, key.encode())
    records = np.asarray([_length_delimited(1, _length_delimited(
        1, key_field + _length_delimited(2, step))) for step in steps], dtype=object)
    spec: tuple[Any, ...]
    if isinstance(feature, VarLenFeature):
        spec = (key, "var", feature.dtype, [], None)
    else:
        spec = (key, "fixed", feature.dtype, feature.shape, None)
    if len(records) == 0:
        dtype = object if feature.dtype == "string" else feature.dtype
        if isinstance(feature, VarLenFeature):
            return {"indices": np.zeros((0, 2), np.int64), "values": np.zeros((0,), dtype),
                    "dense_shape": np.zeros((2,), np.int64)}
        return np.zeros([0, *feature.shape], dtype=dtype)
    try:
        return cast("dict[str, Any]", _core.parse_example(records, [spec]))[key]
    except ValueError as e:  # the steps were parsed as a batch: its record i is step i
        message = re.sub(r"parse_example: record (\d+) of the batch, feature '[^']*'", r"step \1",
                         str(e))
        raise type(e)(f"{what}: feature list {key!r}, {message}") from None


def parse_single_sequence_example(serialized: bytes | str | np.ndarray,
                                  context_features: Features | None = None,
                                  sequence_features: Features | None = None
                                  ) -> tuple[dict[str, Any], dict[str, Any]]:
    """One serialized tf.train.SequenceExample -> (context dict, feature lists dict)
    (tf.io.parse_single_sequence_example).

    context_features: FixedLenFeature / VarLenFeature, as parse_single_example's.
    sequence_features: FixedLenSequenceFeature(shape) gives [steps, *shape] (every step has
      num_elements(shape) values; a missing list is [0, *shape] with allow_missing=True, else
      an error); VarLenFeature gives the sparse dict with indices (step, index).
    """
    what = "parse_single_sequence_example"
    context_spec, sequence_spec = _split_sequence_features(context_features, sequence_features,
                                                           what)
    record = _record_bytes(serialized)
    context_bytes, lists = _sequence_example(record, what)
    context: dict[str, Any] = {}
    if context_spec:
        context = parse_single_example(_length_delimited(1, context_bytes), context_spec)
    sequences = {key: _parse_feature_list(key, feature, lists.get(key), what)
                 for key, feature in sorted(sequence_spec.items())}
    return context, sequences


def parse_sequence_example(serialized: Sequence[bytes] | np.ndarray,
                           context_features: Features | None = None,
                           sequence_features: Features | None = None
                           ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A batch of serialized SequenceExamples -> (context, feature lists, lengths)
    (tf.io.parse_sequence_example).

    The context is parse_example's. A FixedLenSequenceFeature gives [batch, longest, *shape],
    the shorter sequences padded with its default_value (or 0 / ""), and lengths[key] its
    int64[batch] numbers of steps; a VarLenFeature the sparse dict with indices (row, step,
    index) and dense_shape [batch, longest steps, longest step].
    """
    what = "parse_sequence_example"
    context_spec, sequence_spec = _split_sequence_features(context_features, sequence_features,
                                                           what)
    records = [_record_bytes(s) for s in serialized]
    contexts, parsed = [], []
    for row, record in enumerate(records):
        where = f"{what}: record {row} of the batch"
        context_bytes, lists = _sequence_example(record, where)
        contexts.append(_length_delimited(1, context_bytes))
        parsed.append({key: _parse_feature_list(key, feature, lists.get(key), where)
                       for key, feature in sequence_spec.items()})
    context: dict[str, Any] = {}
    if context_spec:
        context = parse_example(np.asarray(contexts, dtype=object), context_spec)
    sequences: dict[str, Any] = {}
    lengths: dict[str, Any] = {}
    for key, feature in sorted(sequence_spec.items()):
        dtype = object if feature.dtype == "string" else feature.dtype
        if isinstance(feature, VarLenFeature):
            indices = [np.concatenate([np.full((len(p[key]["indices"]), 1), row, np.int64),
                                       p[key]["indices"]], axis=1)
                       for row, p in enumerate(parsed)]
            longest = np.max([p[key]["dense_shape"] for p in parsed], axis=0, initial=0)
            sequences[key] = {
                "indices": np.concatenate(indices) if indices else np.zeros((0, 3), np.int64),
                "values": np.concatenate([p[key]["values"] for p in parsed]) if parsed
                else np.zeros((0,), dtype),
                "dense_shape": np.array([len(parsed), *longest], np.int64)}
            continue
        steps = np.array([len(p[key]) for p in parsed], np.int64)
        longest = int(steps.max(initial=0))
        pad = feature.default_value
        if pad is None:
            pad = b"" if feature.dtype == "string" else 0
        elif feature.dtype == "string" and isinstance(pad, str):
            pad = pad.encode()
        out = np.empty([len(parsed), longest, *feature.shape], dtype=dtype)
        out[...] = pad
        for row, p in enumerate(parsed):
            out[row, :len(p[key])] = p[key]
        sequences[key] = out
        lengths[key] = steps
    return context, sequences, lengths
