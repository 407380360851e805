"""Parquet and Arrow IPC files as random-access datasets, read with pyarrow.

    import inputpipe

    rows = inputpipe.ParquetDataset(["a.parquet", "b.parquet"], columns=["label", "text"])
    next(iter(rows))                     # {"label": np.int64(3), "text": b"..."}
    batches = rows.batch(1024)           # fused: one slice per batch, no per-row Python
    shuffled = rows.shuffle(seed=1)                      # exact, any order
    nearby = inputpipe.ParquetDataset(files, shuffle_seed=1)    # row-group-aware shuffle
    hf = inputpipe.ArrowDataset(["cache-0001.arrow"])           # IPC file or stream format

    src = MyTable()                      # any object with __len__ and __getitem__(i)
    ds = inputpipe.from_source(src, name="my_table")            # random-access source

Both readers are `from_source` sources (C++: include/inputpipe/source.h): their element i is
found by (row group, row) from the files' metadata, so len() is known, a restore is a seek and
the global shuffle(seed) is exact; the state is one index, and the fingerprint holds the files'
content identity, so a state restored over changed files is a PipelineMismatchError. Decoded
row groups (record batches for Arrow) are kept in an LRU cache bounded in bytes (cache_bytes),
and unbatched rows are sliced in C++ out of cached blocks of 1024 (from_source's block_rows).

Elements are dicts of numpy values: numbers as numpy scalars, strings and binaries as bytes,
fixed-size lists as arrays, variable-length lists as VarLenFeature's sparse dict
{"indices": int64[n, 1], "values": dtype[n], "dense_shape": int64[1]} (batched: parse_example's,
indices (row, position)). A null is a DataLossError naming the file, row group, row and column,
unless `defaults` declares the column's value (for a list column, any default means "empty").

Why pyarrow from Python and not Arrow C++ (docs/parquet.md): no Arrow headers to compile on a
2-core CI, no libarrow in our wheel, pyarrow decodes with the GIL released; the price is that
the C++ library alone reads no Parquet (from_source is the C++ seam for it).

Paths without a scheme (or file://) are opened by pyarrow directly (memory-mapped for Arrow);
any other scheme ("memory://", one registered with inputpipe.register_file_system) is read
through inputpipe's file-system seam with ranged reads.
"""

import bisect
import collections
import io
import os
import re
import threading

import numpy as np

from inputpipe import _core
from inputpipe._paths import filenames as _filenames
from inputpipe.dataset import Dataset

__all__ = ["ArrowDataset", "ParquetDataset", "from_source"]

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
# Decoded row groups kept, in bytes of their Arrow data: enough for a global shuffle over a
# few hundred MB without decoding a row group per row.
_DEFAULT_CACHE_BYTES = 256 << 20
# Rows read through get_batch at a time for the unbatched elements (a Python call per block).
_BLOCK_ROWS = 1024


def _pyarrow(what):
    try:
        import pyarrow  # noqa: PLC0415 (optional dependency)
        import pyarrow.compute  # noqa: F401, PLC0415
        import pyarrow.ipc  # noqa: F401, PLC0415
        import pyarrow.parquet  # noqa: F401, PLC0415
    except ImportError as e:
        raise ImportError(f"{what} needs pyarrow: pip install 'inputpipe[parquet]' "
                          f"(or pip install pyarrow): {e}") from None
    return pyarrow


def from_source(source, name=None, params="", files=None, block_rows=0,
                cache_bytes=_DEFAULT_CACHE_BYTES):
    """A random-access Dataset over `source`: len(source) elements, element i = source[i] (a
    dict, tuple or array, converted as from_tensors converts). When `source` has
    get_batch(start, count), dataset.batch(n) is fused: one get_batch call per batch, and
    block_rows > 0 reads rows a block at a time: row i is sliced (in C++) out of
    get_batch(block start, block_rows), blocks kept up to cache_bytes, so a Python call and a
    conversion are paid per block, not per row (get_batch's arrays must slice back into
    source[i]'s values). `name` (default: the source's class name) and `params` enter the
    fingerprint with len(source); `files` enter it by content, so a state restored over changed
    files is refused. source[i] may be called from several engine threads (it runs under the
    GIL)."""
    name = name or type(source).__qualname__
    if int(block_rows) and not hasattr(source, "get_batch"):
        raise ValueError(f"from_source({name}): block_rows needs a get_batch method")
    ds = _SourceDataset(source, str(name), str(params), list(files or ()), int(block_rows),
                        int(cache_bytes))
    # How a worker process rebuilds it (_recipes.py): the source object itself.
    ds._recipe = (from_source, (source,), dict(name=name, params=params, files=files,
                                               block_rows=block_rows, cache_bytes=cache_bytes))
    return ds


def _fused_batch(ds, batch_size, drop_remainder):
    return ds.batch(batch_size, drop_remainder)


class _SourceDataset(Dataset):
    __slots__ = ("_make",)

    def __init__(self, source, name, params, files, block_rows=0,
                 cache_bytes=_DEFAULT_CACHE_BYTES):
        def make(batch_size=0, drop_remainder=False):
            return _core.from_source(source, name, params, files, batch_size, drop_remainder,
                                     block_rows if batch_size == 0 else 0, cache_bytes)

        super().__init__(make())
        self._make = make if hasattr(source, "get_batch") else None

    def batch(self, batch_size, drop_remainder=False, name=None, **kwargs):
        """Dataset.batch, fused into the source (one get_batch per batch) when it has one."""
        if self._make is None or kwargs or int(batch_size) <= 0:
            return super().batch(batch_size, drop_remainder, name=name, **kwargs)
        ds = Dataset(self._make(int(batch_size), bool(drop_remainder)))
        if getattr(self, "_recipe", None) is not None:
            ds._recipe = (_fused_batch, (self, int(batch_size), bool(drop_remainder)), {})
        return ds


# ---- Files through the seam -----------------------------------------------------------------
class _SeamFile(io.RawIOBase):
    """A file of inputpipe's file-system seam as the seekable binary file pyarrow reads."""

    def __init__(self, path):
        super().__init__()
        self._file = _core.open_random_access(path)
        self._pos = 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self._pos

    def seek(self, offset, whence=0):
        base = {0: 0, 1: self._pos, 2: self._file.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def size(self):
        return self._file.size

    def read(self, n=-1):
        if n is None or n < 0:
            n = self._file.size - self._pos
        data = self._file.read(self._pos, n)
        self._pos += len(data)
        return data

    def readinto(self, buffer):
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _is_local(path):
    return not _SCHEME.match(path) or path.startswith("file://")


def _local_path(path):
    return path[len("file://"):] if path.startswith("file://") else path


def _open_input(pa, path, what, memory_map=False):
    """A pyarrow input for `path`: its own local file (memory-mapped for Arrow, whose batches
    are then zero-copy; read with pread for Parquet, which decodes into new buffers anyway and
    so need not risk a SIGBUS when the file is truncated under it), or the seam's. A missing
    file is a FileNotFoundError naming the path."""
    try:
        if _is_local(path):
            local = _local_path(path)
            return pa.memory_map(local, "r") if memory_map else pa.OSFile(local, "r")
        return pa.PythonFile(_SeamFile(path), mode="r")
    except FileNotFoundError as e:
        raise FileNotFoundError(e.errno, f"{what}: cannot open {path!r}: {e.strerror or e}",
                                path) from None
    except OSError as e:
        if e.errno is None:
            raise OSError(f"{what}: cannot open {path!r}: {e}") from None
        raise type(e)(e.errno, f"{what}: cannot open {path!r}: {e.strerror or e}", path) from None


# ---- Columns: pyarrow arrays -> numpy, once per decoded row group ------------------------------
def _numpy_of(pc, pa, arr, default, where):
    """(numpy values, null mask or None) of a flat array (numbers, strings, binaries, times)."""
    t = arr.type
    if pa.types.is_dictionary(t):
        arr, t = arr.dictionary_decode(), t.value_type
    if pa.types.is_timestamp(t) or pa.types.is_duration(t) or pa.types.is_date64(t):
        arr = arr.cast(pa.int64())
    elif pa.types.is_date32(t) or pa.types.is_time32(t):
        arr = arr.cast(pa.int32())
    elif pa.types.is_time64(t):
        arr = arr.cast(pa.int64())
    t = arr.type
    stringy = (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t)
               or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t))
    if not (stringy or pa.types.is_integer(t) or pa.types.is_floating(t)
            or pa.types.is_boolean(t)):
        raise ValueError(f"{where}: unsupported type {t}")
    mask = None
    if arr.null_count:
        if default is not None:
            if stringy and isinstance(default, str):
                default = default.encode()
            arr = pc.fill_null(arr.cast(pa.binary()) if stringy else arr,
                               pa.scalar(default, pa.binary() if stringy else t))
        else:
            mask = arr.is_null().to_numpy(zero_copy_only=False)
            arr = pc.fill_null(arr.cast(pa.binary()) if stringy else arr,
                               pa.scalar(b"" if stringy else 0, pa.binary() if stringy else t))
    if stringy:
        if not (pa.types.is_binary(arr.type)):
            arr = arr.cast(pa.binary())
        return arr.to_numpy(zero_copy_only=False), mask
    return arr.to_numpy(zero_copy_only=False), mask


class _Dense:
    """A column of fixed shape per row: numbers, strings, fixed-size lists (values[n, ...])."""

    __slots__ = ("values", "mask")

    def __init__(self, values, mask):
        self.values, self.mask = values, mask

    def row(self, r):
        v = self.values[r]
        return v.copy() if isinstance(v, np.ndarray) else v

    def rows(self, rows):
        return self.values[rows]


class _VarLen:
    """A list column: per row a run of values (offsets[r]:offsets[r + 1])."""

    __slots__ = ("offsets", "values", "mask")

    def __init__(self, offsets, values, mask):
        self.offsets, self.values, self.mask = offsets, values, mask

    def row(self, r):
        lo, hi = self.offsets[r], self.offsets[r + 1]
        n = int(hi - lo)
        return {"indices": np.arange(n, dtype=np.int64).reshape(n, 1),
                "values": self.values[lo:hi], "dense_shape": np.array([n], dtype=np.int64)}

    def rows(self, rows):
        """(lengths, values) of `rows` (a slice or an index array)."""
        if isinstance(rows, slice):
            lo, hi = self.offsets[rows.start], self.offsets[rows.stop]
            return np.diff(self.offsets[rows.start:rows.stop + 1]), self.values[lo:hi]
        starts, ends = self.offsets[rows], self.offsets[rows + 1]
        lengths = ends - starts
        if len(rows) == 0:
            return lengths, self.values[:0]
        take = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())
        return lengths, self.values[take]


def _column(pc, pa, arr, default, where):
    """_Dense or _VarLen of one column of a decoded row group (arr: a pyarrow Array)."""
    t = arr.type
    if pa.types.is_fixed_size_list(t):
        k = t.list_size
        mask = arr.is_null().to_numpy(zero_copy_only=False) if arr.null_count else None
        flat = arr.values.slice(arr.offset * k, len(arr) * k)
        inner = _column(pc, pa, flat, None, where)
        if not isinstance(inner, _Dense):
            raise ValueError(f"{where}: unsupported type {t} (a fixed-size list of lists)")
        if inner.mask is not None:
            mask = inner.mask.reshape(len(arr), -1).any(axis=1) | (
                False if mask is None else mask)
        values = inner.values.reshape((len(arr), k) + inner.values.shape[1:])
        if mask is not None and default is not None:
            values = values.copy()
            values[mask] = np.asarray(default, dtype=values.dtype)
            mask = None
        return _Dense(values, mask)
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        mask = None
        if arr.null_count:
            mask = None if default is not None else arr.is_null().to_numpy(zero_copy_only=False)
        offsets = arr.offsets.to_numpy(zero_copy_only=False).astype(np.int64)
        values, inner_mask = _numpy_of(pc, pa, arr.values, None, where)
        if inner_mask is not None:
            raise _core.DataLossError(f"{where}: a null inside a list (lists of nullable values "
                                      "are not supported)")
        if arr.null_count:  # a null list's offsets may span values: make them empty
            nulls = arr.is_null().to_numpy(zero_copy_only=False)
            lengths = np.diff(offsets)
            lengths[nulls] = 0
            keep = np.repeat(~nulls, np.diff(offsets))
            values = values[keep]
            offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        else:
            values = values[offsets[0]:offsets[-1]]
            offsets = offsets - offsets[0]
        return _VarLen(offsets, values, mask)
    values, mask = _numpy_of(pc, pa, arr, default, where)
    return _Dense(values, mask)


# ---- The source: chunks (row groups, record batches) of files --------------------------------
class _ChunkedSource:
    """Rows of the chunks of several files, in order (or in the row-group-aware shuffle's order).

    chunks: [(file index, chunk index in the file, rows)]; load(file, chunk) -> a pyarrow
    RecordBatch or Table of the selected columns."""

    def __init__(self, pa, what, files, chunks, load, columns, defaults, cache_bytes,
                 shuffle_seed, shuffle_window, chunk_word):
        self._pa, self._pc = pa, pa.compute
        self._what, self._files, self._load = what, files, load
        self._columns, self._defaults = columns, defaults
        self._chunk_word = chunk_word
        self._chunks = chunks
        self._starts = np.concatenate([[0], np.cumsum([c[2] for c in chunks])]).astype(np.int64)
        self._size = int(self._starts[-1])
        self._cache = collections.OrderedDict()  # chunk -> (columns, bytes)
        self._cache_bytes, self._cached_bytes, self._min_cached = int(cache_bytes), 0, 1
        self._lock = threading.Lock()
        self._order = None
        if shuffle_seed is not None:
            self._order = _WindowedOrder(self._starts, shuffle_seed, shuffle_window)
            self._min_cached = shuffle_window

    def __len__(self):
        return self._size

    # Rows of the unshuffled stream.
    def _decoded(self, c):
        with self._lock:
            got = self._cache.get(c)
            if got is not None:
                self._cache.move_to_end(c)
                return got[0]
            f, k, _ = self._chunks[c]
            path = self._files[f]
            where = f"{self._what}: {path!r}, {self._chunk_word} {k}"
            try:
                table = self._load(f, k)
            except (self._pa.ArrowException, OSError) as e:
                raise _core.DataLossError(f"{where}: cannot be read (corrupt or truncated "
                                          f"file?): {e}") from None
            cols = {}
            for name in self._columns:
                arr = table.column(name)
                if isinstance(arr, self._pa.ChunkedArray):
                    arr = arr.combine_chunks()
                cols[name] = _column(self._pc, self._pa, arr, self._defaults.get(name),
                                     f"{where}, column {name!r}")
            size = table.nbytes
            self._cache[c] = (cols, size)
            self._cached_bytes += size
            while self._cached_bytes > self._cache_bytes and len(self._cache) > self._min_cached:
                _, (_, dropped) = self._cache.popitem(last=False)
                self._cached_bytes -= dropped
            return cols

    def _null_error(self, c, row, name):
        f, k, _ = self._chunks[c]
        in_file = int(row + self._starts[c] - self._starts[self._first_chunk_of(f)])
        return _core.DataLossError(
            f"{self._what}: null in {self._files[f]!r}, {self._chunk_word} {k}, row {row} (row "
            f"{in_file} of the file), column {name!r}; declare its value with "
            f"defaults={{{name!r}: ...}}")

    def _first_chunk_of(self, f):
        return next(i for i, ch in enumerate(self._chunks) if ch[0] == f)

    def _chunk_of(self, index):
        return bisect.bisect_right(self._starts, index) - 1

    def _row(self, index):
        c = self._chunk_of(index)
        r = int(index - self._starts[c])
        cols = self._decoded(c)
        out = {}
        for name, col in cols.items():
            if col.mask is not None and col.mask[r]:
                raise self._null_error(c, r, name)
            out[name] = col.row(r)
        return out

    def _pieces(self, indices):
        """[(chunk, rows, positions)] covering `indices` (an int64 array of unshuffled indices).
        In file order: runs of one chunk, rows a slice where contiguous, positions None (the
        pieces concatenate in order). Shuffled: one piece per chunk, rows an index array,
        positions where they go in the batch (so a batch costs one gather per chunk, not one
        per run)."""
        chunks = np.searchsorted(self._starts, indices, side="right") - 1
        steps = np.diff(chunks)
        if np.all(steps >= 0):
            pieces = []
            bounds = np.flatnonzero(steps) + 1
            for lo, hi in zip(np.concatenate([[0], bounds]),
                              np.concatenate([bounds, [len(indices)]])):
                c = int(chunks[lo])
                rows = indices[lo:hi] - self._starts[c]
                if rows[-1] - rows[0] == hi - lo - 1 and np.all(np.diff(rows) == 1):
                    rows = slice(int(rows[0]), int(rows[-1]) + 1)
                pieces.append((c, rows, None))
            return pieces
        order = np.argsort(chunks, kind="stable")
        sorted_chunks = chunks[order]
        bounds = np.flatnonzero(np.diff(sorted_chunks)) + 1
        pieces = []
        for lo, hi in zip(np.concatenate([[0], bounds]), np.concatenate([bounds, [len(order)]])):
            c = int(sorted_chunks[lo])
            positions = order[lo:hi]
            pieces.append((c, indices[positions] - self._starts[c], positions))
        return pieces

    def _batch(self, indices):
        n = len(indices)
        pieces = self._pieces(indices)
        parts = {name: [] for name in self._columns}
        for c, rows, _ in pieces:
            cols = self._decoded(c)
            for name, col in cols.items():
                if col.mask is not None:
                    nulls = np.flatnonzero(col.mask[rows])
                    if len(nulls):
                        first = (nulls[0] + rows.start if isinstance(rows, slice)
                                 else rows[nulls[0]])
                        raise self._null_error(c, int(first), name)
                parts[name].append(col.rows(rows))
        scattered = pieces[0][2] is not None
        out = {}
        for name, got in parts.items():
            if isinstance(got[0], tuple):  # variable-length: parse_example's sparse batch
                if scattered:
                    lengths = np.empty(n, dtype=np.int64)
                    for (_, _, pos), (piece_lengths, _) in zip(pieces, got):
                        lengths[pos] = piece_lengths
                    ends = np.cumsum(lengths)
                    values = np.empty(int(ends[-1]) if n else 0, dtype=got[0][1].dtype)
                    for (_, _, pos), (piece_lengths, piece_values) in zip(pieces, got):
                        piece_starts = np.cumsum(piece_lengths) - piece_lengths
                        within = (np.arange(len(piece_values), dtype=np.int64)
                                  - np.repeat(piece_starts, piece_lengths))
                        values[np.repeat(ends[pos] - lengths[pos], piece_lengths) + within] = \
                            piece_values
                else:
                    lengths = np.concatenate([g[0] for g in got]).astype(np.int64)
                    values = np.concatenate([g[1] for g in got])
                row_ids = np.repeat(np.arange(n, dtype=np.int64), lengths)
                starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
                positions = np.arange(len(values), dtype=np.int64) - starts
                out[name] = {"indices": np.stack([row_ids, positions], axis=1),
                             "values": values,
                             "dense_shape": np.array([n, lengths.max(initial=0)], np.int64)}
            elif scattered:
                column = np.empty((n,) + got[0].shape[1:], dtype=got[0].dtype)
                for (_, _, pos), part in zip(pieces, got):
                    column[pos] = part
                out[name] = column
            else:
                out[name] = got[0] if len(got) == 1 else np.concatenate(got)
        return out

    # The source protocol (from_source).
    def __getitem__(self, index):
        index = int(index)
        if self._order is not None:
            index = self._order.map(np.array([index], dtype=np.int64))[0]
        return self._row(index)

    def get_batch(self, start, count):
        indices = np.arange(start, start + count, dtype=np.int64)
        if self._order is not None:
            indices = self._order.map(indices)
        return self._batch(indices)


class _WindowedOrder:
    """The row-group-aware shuffle as an index map: the chunks in a seeded permutation, cut into
    windows of `window` consecutive chunks; the rows of window w in a permutation seeded by
    (seed, w). Position i of the stream is computable from i alone (one window's permutation
    cached), so the state is the index and does not depend on the window: a restore is a seek,
    and reads stay within `window` chunks at a time."""

    def __init__(self, starts, seed, window):
        sizes = np.diff(starts)
        rng = np.random.default_rng([int(seed) & (2**63 - 1), 0])
        self._perm = rng.permutation(len(sizes))
        self._seed, self._window = int(seed) & (2**63 - 1), window
        self._starts = starts
        permuted_sizes = sizes[self._perm]
        self._perm_starts = np.concatenate([[0], np.cumsum(permuted_sizes)]).astype(np.int64)
        self._window_starts = self._perm_starts[::window]
        if self._window_starts[-1] != self._perm_starts[-1]:
            self._window_starts = np.append(self._window_starts, self._perm_starts[-1])
        self._cached = (None, None)

    def _window_map(self, w):
        """Unshuffled index of each position of window w (cached: the last window)."""
        if self._cached[0] == w:
            return self._cached[1]
        chunks = self._perm[w * self._window:(w + 1) * self._window]
        rows = np.concatenate([np.arange(self._starts[c], self._starts[c + 1]) for c in chunks])
        order = np.random.default_rng([self._seed, w + 1]).permutation(len(rows))
        mapped = rows[order].astype(np.int64)
        self._cached = (w, mapped)
        return mapped

    def map(self, positions):
        windows = np.searchsorted(self._window_starts, positions, side="right") - 1
        out = np.empty_like(positions)
        for w in np.unique(windows):
            sel = windows == w
            out[sel] = self._window_map(int(w))[positions[sel] - self._window_starts[w]]
        return out


# ---- The datasets ---------------------------------------------------------------------------
def _file_list(filenames, what):
    """[str] of a path, a list of paths, or a Dataset of paths (list_files: read out now, since
    the reader needs every file's metadata to be random-access)."""
    if isinstance(filenames, Dataset):
        filenames = [os.fsdecode(np.asarray(e).reshape(()).item()) for e in filenames]
    files = _filenames(filenames, what)
    if not files:
        raise ValueError(f"{what}: no files")
    return files


def _flat_type(pa, t):
    t = t.value_type if pa.types.is_dictionary(t) else t
    return any(f(t) for f in (
        pa.types.is_integer, pa.types.is_floating, pa.types.is_boolean, pa.types.is_string,
        pa.types.is_large_string, pa.types.is_binary, pa.types.is_large_binary,
        pa.types.is_fixed_size_binary, pa.types.is_timestamp, pa.types.is_date,
        pa.types.is_time, pa.types.is_duration))


def _supported_type(pa, t):
    """The column types elements can hold (the table in docs/parquet.md)."""
    if pa.types.is_fixed_size_list(t):
        inner = t.value_type
        return _flat_type(pa, inner) or (pa.types.is_fixed_size_list(inner)
                                          and _supported_type(pa, inner))
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return _flat_type(pa, t.value_type)
    return _flat_type(pa, t)


def _check_columns(what, path, schema, columns):
    import pyarrow as pa  # noqa: PLC0415 (present: the caller opened the file with it)

    names = schema.names
    for c in columns:
        if c not in names:
            raise ValueError(f"{what}: column {c!r} does not exist in {path!r} (columns: "
                             f"{', '.join(names)})")
        t = schema.field(c).type
        if not _supported_type(pa, t):
            raise ValueError(f"{what}: column {c!r} of {path!r} has type {t}, which elements "
                             "cannot hold (numbers, strings, binaries, times, fixed-size lists "
                             "of them, lists of flat values); select other columns")


def _check_same_schema(what, first_path, first, path, schema, columns):
    for c in columns:
        if c not in schema.names:
            raise ValueError(f"{what}: {path!r} has no column {c!r} ({first_path!r}, the first "
                             f"file, has it): the schema differs from the first file's")
        a, b = first.field(c).type, schema.field(c).type
        if a != b:
            raise ValueError(f"{what}: the schema of {path!r} differs from the first file's "
                             f"({first_path!r}): column {c!r} is {b}, was {a}")


def _defaults(what, defaults, columns):
    defaults = dict(defaults or {})
    for c in defaults:
        if c not in columns:
            raise ValueError(f"{what}: defaults names {c!r}, which is not a selected column")
    return defaults


def _params(columns, defaults, shuffle_seed, shuffle_window):
    p = "columns=[" + ", ".join(columns) + "]"
    if defaults:
        p += ", defaults={" + ", ".join(f"{k}: {defaults[k]!r}" for k in sorted(defaults)) + "}"
    if shuffle_seed is not None:
        p += f", shuffle_seed={int(shuffle_seed)}, shuffle_window={shuffle_window}"
    return p


def _block_rows(schema, columns):
    """Rows per block of the C++ row cache (from_source's block_rows): 0 with a list column,
    whose batched form (parse_example's) does not slice back into rows."""
    import pyarrow as pa  # noqa: PLC0415

    for c in columns:
        t = schema.field(c).type
        if pa.types.is_list(t) or pa.types.is_large_list(t):
            return 0
    return _BLOCK_ROWS


def _check_window(what, shuffle_window):
    shuffle_window = int(shuffle_window)
    if shuffle_window <= 0:
        raise ValueError(f"{what}: shuffle_window must be positive, got {shuffle_window}")
    return shuffle_window


class ParquetDataset(_SourceDataset):
    """Rows of Parquet files as dicts of numpy values (module docstring), in file order, or
    with shuffle_seed in the row-group-aware shuffle's order: the row groups permuted, then the
    rows of each window of `shuffle_window` row groups permuted (reads stay within a window).

    columns: the columns to read (default: all of the first file's). defaults: {column: value}
    for nulls (else a null is a DataLossError naming file, row group, row and column).
    cache_bytes: the bound of each of two LRU caches: decoded row groups (in Arrow bytes; at
    least one, or shuffle_window of them), and, for unbatched rows without a list column,
    blocks of 1024 converted rows in C++ (so a row costs no Python call once its block was
    read). A global shuffle over more data than that decodes a row group per miss: use
    shuffle_seed (a shuffle_window of every row group is an exact full shuffle, and batch(n)
    then gathers n rows at once). Errors when the
    pipeline is built: a missing file (FileNotFoundError), a file that is not Parquet or is
    truncated (DataLossError), a column that does not exist or a schema that differs from the
    first file's (ValueError), each naming the path."""

    __slots__ = ()

    def __init__(self, filenames, columns=None, defaults=None, shuffle_seed=None,
                 shuffle_window=4, cache_bytes=_DEFAULT_CACHE_BYTES, name=None):
        what = "ParquetDataset"
        # How a worker process rebuilds it (_recipes.py): each worker opens the files itself.
        options = dict(columns=columns, defaults=defaults, shuffle_seed=shuffle_seed,
                       shuffle_window=shuffle_window, cache_bytes=cache_bytes, name=name)
        pa = _pyarrow(what)
        pq = pa.parquet
        files = _file_list(filenames, what)
        shuffle_window = _check_window(what, shuffle_window)
        readers, chunks = [], []
        first_schema = None
        for f, path in enumerate(files):
            source = _open_input(pa, path, what)
            try:
                # Through the seam (a remote file), pre_buffer: the column chunks of a row
                # group are read in one coalesced range, not a request per chunk or per block.
                reader = pq.ParquetFile(source, pre_buffer=not _is_local(path))
            except (pa.ArrowException, OSError) as e:
                raise _core.DataLossError(f"{what}: {path!r} is not a readable Parquet file "
                                          f"(truncated or corrupt?): {e}") from None
            schema = reader.schema_arrow
            if first_schema is None:
                first_schema = schema
                columns = list(schema.names) if columns is None else [str(c) for c in columns]
                _check_columns(what, path, schema, columns)
            else:
                _check_same_schema(what, files[0], first_schema, path, schema, columns)
            meta = reader.metadata
            for k in range(meta.num_row_groups):
                chunks.append((f, k, meta.row_group(k).num_rows))
            readers.append(reader)
        defaults = _defaults(what, defaults, columns)

        def load(f, k):
            return readers[f].read_row_group(k, columns=columns)

        source = _ChunkedSource(pa, what, files, chunks, load, columns, defaults,
                                cache_bytes, shuffle_seed, shuffle_window, "row group")
        super().__init__(source, "parquet", _params(columns, defaults, shuffle_seed,
                                                    shuffle_window), files,
                         _block_rows(readers[0].schema_arrow, columns), cache_bytes)
        if all(_is_local(path) for path in files):  # a memory:// or registered store is ours
            self._recipe = (ParquetDataset, (files,), options)


class ArrowDataset(_SourceDataset):
    """Rows of Arrow IPC files as ParquetDataset's (same options; record batches play the row
    groups' part): the file format (Feather v2, random access to each record batch) or the
    stream format (HuggingFace datasets' cache files: read once at build time to find its
    batches, zero-copy from a memory map for local files)."""

    __slots__ = ()

    def __init__(self, filenames, columns=None, defaults=None, shuffle_seed=None,
                 shuffle_window=4, cache_bytes=_DEFAULT_CACHE_BYTES, name=None):
        what = "ArrowDataset"
        # How a worker process rebuilds it (_recipes.py): each worker opens the files itself.
        options = dict(columns=columns, defaults=defaults, shuffle_seed=shuffle_seed,
                       shuffle_window=shuffle_window, cache_bytes=cache_bytes, name=name)
        pa = _pyarrow(what)
        files = _file_list(filenames, what)
        shuffle_window = _check_window(what, shuffle_window)
        getters, chunks = [], []
        first_schema = None
        for f, path in enumerate(files):
            source = _open_input(pa, path, what, memory_map=True)
            try:
                try:
                    reader = pa.ipc.open_file(source)
                    schema, n = reader.schema, reader.num_record_batches
                    getter = reader.get_batch
                    counts = [reader.get_batch(i).num_rows for i in range(n)]
                except pa.ArrowInvalid:
                    source.seek(0)
                    batches = list(pa.ipc.open_stream(source))
                    schema = (pa.ipc.open_stream(_open_input(pa, path, what, True)).schema
                              if not batches else batches[0].schema)
                    getter = batches.__getitem__
                    counts = [b.num_rows for b in batches]
            except (pa.ArrowException, OSError) as e:
                raise _core.DataLossError(f"{what}: {path!r} is not a readable Arrow IPC file "
                                          f"(truncated or corrupt?): {e}") from None
            if first_schema is None:
                first_schema = schema
                columns = list(schema.names) if columns is None else [str(c) for c in columns]
                _check_columns(what, path, schema, columns)
            else:
                _check_same_schema(what, files[0], first_schema, path, schema, columns)
            chunks.extend((f, k, rows) for k, rows in enumerate(counts))
            getters.append(getter)
        defaults = _defaults(what, defaults, columns)

        def load(f, k):
            return getters[f](k).select(columns)

        source = _ChunkedSource(pa, what, files, chunks, load, columns, defaults,
                                cache_bytes, shuffle_seed, shuffle_window,
                                "record batch")
        super().__init__(source, "arrow", _params(columns, defaults, shuffle_seed,
                                                  shuffle_window), files,
                         _block_rows(first_schema, columns), cache_bytes)
        if all(_is_local(path) for path in files):  # a memory:// or registered store is ours
            self._recipe = (ArrowDataset, (files,), options)
