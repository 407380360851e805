"""What every library's benchmark shares: the workloads, the data, the Python map function.

Every library reads exactly the same records:
  array     N records (features: float32[32], id: int64 = the record's index), made from a seed;
  csv       N rows x 20 float columns, column 0 = the row's index, written once to results/data;
  tfrecord  N tf.train.Example records {"x": float[20], "id": int64}, written once by TensorFlow;
  shards    (workload r) the csv and tfrecord files split in two, byte for byte the same records.
The id of every record travels through every pipeline, so a batch is identified by its ids: that
is how the suite checks that a restored iterator continues exactly where the saved one was.
"""

import hashlib
import json
import os
import time

import numpy as np

FEATURES = 32       # array records: float32[FEATURES]
CSV_COLUMNS = 20    # csv rows and tfrecord "x": float[CSV_COLUMNS]
SEED = 1234

# name -> source, map kind, batch size, main shuffle ("global", a buffer size, or None).
WORKLOADS = {
    "a": dict(title="in-memory array -> global shuffle -> map (native op) -> batch(256) -> prefetch",
              source="array", map="native", batch=256, shuffle="global"),
    "b": dict(title="in-memory array -> global shuffle -> map (Python fn, numpy) -> batch(256) -> prefetch",
              source="array", map="python", batch=256, shuffle="global"),
    "c": dict(title="CSV 1M rows x 20 numeric columns -> parse -> shuffle(10k) -> batch(1024) -> prefetch",
              source="csv", map=None, batch=1024, shuffle=10_000),
    "d": dict(title="TFRecord of tf.train.Example -> parse -> batch(1024) -> prefetch",
              source="tfrecord", map=None, batch=1024, shuffle=None),
}
BUFFERS = [1_000, 10_000, 100_000]  # buffered-shuffle sizes whose state size is measured

# Workload "r" (the readers table): the file readers alone, inputpipe against tf.data, at one and
# two threads. 1 thread: one reader over the one file, parse and batch on the consumer's thread.
# 2 threads: the same rows as READER_SHARDS files, each read, batched and parsed by one of the
# interleave's 2 worker threads. No shuffle, no prefetch.
READER_LIBS = ["inputpipe", "tfdata"]
READER_SHARDS = 2
READERS = {
    f"r-{src}-{t}t": dict(title=f"{src} -> {'parse -> batch(1024)' if src == 'csv' else 'batch(1024) -> parse'}, "
                                f"{t} thread{'s' if t > 1 else ''}",
                          source=src, map=None, batch=1024, shuffle=None, reader_threads=t)
    for src in ("csv", "tfrecord") for t in (1, READER_SHARDS)
}


def workload(key):
    """The workload a worker runs: a key of WORKLOADS or of READERS."""
    return WORKLOADS[key] if key in WORKLOADS else READERS[key]


class NotExpressible(Exception):
    """The library cannot express this workload; the message says why (it goes in the table)."""


class Pending(Exception):
    """inputpipe's part of this workload is not written yet; the message says what is missing."""


# ---- the interface worker.py drives ------------------------------------------------------

class Pipeline:
    """One library's pipeline for one workload, as worker.py drives it. A subclass sets
    self.ds (or overrides iterator()) and defines note(), save() and restore(); the rest here
    is what most libraries do: a state is bytes, nothing to discard, close or clean up."""

    def __init__(self, wl, shuffle, cfg):
        self.wl, self.shuffle, self.cfg = wl, shuffle, cfg
        self.n, self.threads = cfg["n"], cfg["threads"]

    def iterator(self):
        return iter(self.ds)

    def next(self, it):
        return next(it)

    def batch_ids(self, b):
        """The ids of a batch's records (the exactly-once check): every library batches the
        same records, only its batch's layout and tensor type differ (_csv_ids, _numpy)."""
        src = self.wl["source"]
        if src == "array":
            return self._numpy(b[1])
        if src == "csv":
            return self._numpy(self._csv_ids(b)).astype(np.int64)
        return self._numpy(b["id"])

    def _csv_ids(self, b):
        """Column 0 (the row's index) of a CSV batch; here a [rows, columns] array."""
        return b[:, 0]

    def _numpy(self, ids):
        return ids

    def state_size(self, blob):
        return len(blob)

    def discard(self, blob):
        pass

    def close(self, it):
        pass

    def cleanup(self):
        pass


class GrainState:
    """save / restore / close of a pipeline over a Grain iter dataset `self.ds`: its
    get_state() as JSON, set_state on a fresh iterator, the iterator's close() where it has one
    (lib_grain.Pipeline, python_fn.GrainPipe)."""

    def save(self, it):
        return json.dumps(it.get_state()).encode()

    def restore(self, blob):
        it = iter(self.ds)
        it.set_state(json.loads(blob))
        return it

    def close(self, it):
        close = getattr(it, "close", None)
        if close:
            close()


# ---- the data ---------------------------------------------------------------------------

_ARRAYS = {}


def make_array(n):
    """(features float32[n, FEATURES], ids int64[n]), identical in every process. Made once per
    process (the worker makes it before any timing: the data is the user's, not the library's)."""
    if n not in _ARRAYS:
        rng = np.random.default_rng(SEED)
        x = rng.standard_normal((n, FEATURES), dtype=np.float32)
        _ARRAYS[n] = (x, np.arange(n, dtype=np.int64))
    return _ARRAYS[n]


def csv_path(data_dir, n):
    return os.path.join(data_dir, f"rows{n}_cols{CSV_COLUMNS}.csv")


def tfrecord_path(data_dir, n):
    return os.path.join(data_dir, f"examples{n}.tfrecord")


def shard_paths(path, shards=READER_SHARDS):
    """The files that hold the rows of `path` split into `shards` consecutive parts."""
    stem, ext = os.path.splitext(path)
    return [f"{stem}.shard{i}of{shards}{ext}" for i in range(shards)]


def reader_files(data_dir, n, wl):
    """The files a READERS workload reads: the one file, or its shards."""
    path = (csv_path if wl["source"] == "csv" else tfrecord_path)(data_dir, n)
    return [path] if wl["reader_threads"] == 1 else shard_paths(path, wl["reader_threads"])


def _tfrecord_spans(data):
    """(start, end) byte offsets of every record of a TFRecord file's bytes: length (u64),
    its CRC (u32), the data, its CRC (u32)."""
    spans, pos = [], 0
    while pos < len(data):
        length = int.from_bytes(data[pos:pos + 8], "little")
        end = pos + 12 + length + 4
        if end > len(data):
            raise ValueError(f"truncated TFRecord at byte {pos}")
        spans.append((pos, end))
        pos = end
    return spans


def write_shards(path, n, shards=READER_SHARDS):
    """Splits a CSV or TFRecord file of n records into `shards` files of consecutive records
    (the first n/shards rows, the next, ...), byte for byte the same records: the same rows
    for the one-file and the sharded reads."""
    with open(path, "rb") as f:
        data = f.read()
    if path.endswith(".csv"):
        ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10) + 1
        spans = list(zip(np.concatenate([[0], ends[:-1]]).tolist(), ends.tolist()))
    else:
        spans = _tfrecord_spans(data)
    if len(spans) != n:
        raise ValueError(f"{path}: {len(spans)} records, expected {n}")
    bounds = [round(i * n / shards) for i in range(shards + 1)]
    for i, out in enumerate(shard_paths(path, shards)):
        first, last = bounds[i], bounds[i + 1] - 1
        with open(out + ".tmp", "wb") as f:
            f.write(data[spans[first][0]:spans[last][1]])
        os.replace(out + ".tmp", out)


def write_csv(path, n):
    """n rows of CSV_COLUMNS floats; column 0 is the row index (written as an integer)."""
    rng = np.random.default_rng(SEED)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        for start in range(0, n, 100_000):
            m = min(100_000, n - start)
            vals = np.round(rng.standard_normal((m, CSV_COLUMNS - 1)) * 100, 3)
            ids = np.arange(start, start + m)
            lines = [f"{i}," + ",".join(map(repr, row)) for i, row in zip(ids.tolist(), vals.tolist())]
            f.write("\n".join(lines))
            f.write("\n")
    os.replace(tmp, path)


def write_tfrecord(path, n):
    """n tf.train.Example records written by TensorFlow itself (so every reader is checked
    against the real format). Runs in the bench venv, which has tensorflow-cpu."""
    import tensorflow as tf
    rng = np.random.default_rng(SEED)
    tmp = path + ".tmp"
    with tf.io.TFRecordWriter(tmp) as w:
        for start in range(0, n, 100_000):
            m = min(100_000, n - start)
            vals = rng.standard_normal((m, CSV_COLUMNS)).astype(np.float32)
            for i, row in enumerate(vals):
                ex = tf.train.Example(features=tf.train.Features(feature={
                    "x": tf.train.Feature(float_list=tf.train.FloatList(value=row)),
                    "id": tf.train.Feature(int64_list=tf.train.Int64List(value=[start + i])),
                }))
                w.write(ex.SerializeToString())
    os.replace(tmp, path)


# ---- the Python map function of workload b ---------------------------------------------

_W = None


def py_fn(x):
    """Per-record numpy work (a small dense layer and a nonlinearity): tens of microseconds,
    all of it holding the GIL except inside numpy's kernels."""
    global _W
    if _W is None:
        _W = (np.random.default_rng(7).standard_normal((FEATURES, FEATURES)) /
              np.sqrt(FEATURES)).astype(np.float32)
    h = np.tanh(x @ _W)
    h = np.tanh(h @ _W)
    return (h * h + x).astype(np.float32)


def native_fn_numpy(x):
    """What the native op of workload a computes, for libraries without native ops."""
    return x * np.float32(2.0) + np.float32(1.0)


# ---- identifying batches ---------------------------------------------------------------

def timed_epoch(next_batch, batch_ids, first_batch, n, time_cap, t1):
    """Takes batches with next_batch() after `first_batch` (taken at perf_counter t1) until the
    epoch ends or time_cap seconds have passed, counting each record id batch_ids(batch) gives
    among n. The timing loop of every throughput row (worker.py, python_fn.py)."""
    ids = batch_ids(first_batch)
    seen = np.zeros(n, dtype=np.int32)
    np.add.at(seen, ids, 1)
    first = records = len(ids)
    complete = False
    deadline = t1 + time_cap
    while True:
        try:
            b = next_batch()
        except StopIteration:
            complete = True
            break
        ids = batch_ids(b)
        np.add.at(seen, ids, 1)
        records += len(ids)
        if time.perf_counter() > deadline:
            break
    t2 = time.perf_counter()
    out = dict(records=records, seconds=t2 - t1,
               throughput=(records - first) / max(t2 - t1, 1e-9), complete=complete,
               duplicates=int((seen > 1).sum()))
    if complete:
        out["missing"] = int((seen == 0).sum())
    return out


def ids_digest(ids):
    """A short digest of a batch's ids (numpy array-like)."""
    a = np.ascontiguousarray(np.asarray(ids, dtype=np.int64).reshape(-1))
    return hashlib.blake2b(a.tobytes(), digest_size=8).hexdigest()


# ---- user-written readers, for libraries that have none (Grain: CSV; torchdata: CSV) ------

class CsvLines:
    """Random-access CSV rows: one scan finds the line starts, row i is parsed on demand.
    What a Grain or PyTorch user writes for a CSV file (neither library has a CSV reader).
    Picklable (worker processes reopen the file)."""

    def __init__(self, path):
        self.path = path
        self._open()

    def _open(self):
        import mmap
        self._f = open(self.path, "rb")
        self._mm = mmap.mmap(self._f.fileno(), 0, access=mmap.ACCESS_READ)
        if not hasattr(self, "starts"):
            nl = np.flatnonzero(np.frombuffer(self._mm, dtype=np.uint8) == 10)
            self.starts = np.concatenate([[0], nl + 1]).astype(np.int64)  # n + 1 entries

    def __getstate__(self):
        return {"path": self.path, "starts": self.starts}

    def __setstate__(self, st):
        self.path, self.starts = st["path"], st["starts"]
        self._open()

    def __len__(self):
        return len(self.starts) - 1

    def __getitem__(self, i):
        line = self._mm[self.starts[i]:self.starts[i + 1]]
        return np.array(line.split(b","), dtype=np.float32)


_EXAMPLE = None


def example_class():
    """tf.train.Example as a protobuf message class built from its descriptor, so that Python
    readers can parse Examples without importing TensorFlow (same wire format as example.proto)."""
    global _EXAMPLE
    if _EXAMPLE is not None:
        return _EXAMPLE
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    F = descriptor_pb2.FieldDescriptorProto
    fdp = descriptor_pb2.FileDescriptorProto(name="bench_example.proto", package="benchex",
                                             syntax="proto3")

    def msg(name, fields, nested=()):
        m = fdp.message_type.add(name=name)
        for fname, num, ftype, label, tname, oneof in fields:
            f = m.field.add(name=fname, number=num, type=ftype, label=label)
            if tname:
                f.type_name = tname
            if oneof is not None:
                f.oneof_index = oneof
        return m

    R, O = F.LABEL_REPEATED, F.LABEL_OPTIONAL
    msg("BytesList", [("value", 1, F.TYPE_BYTES, R, None, None)])
    msg("FloatList", [("value", 1, F.TYPE_FLOAT, R, None, None)])
    msg("Int64List", [("value", 1, F.TYPE_INT64, R, None, None)])
    feat = msg("Feature", [("bytes_list", 1, F.TYPE_MESSAGE, O, ".benchex.BytesList", 0),
                           ("float_list", 2, F.TYPE_MESSAGE, O, ".benchex.FloatList", 0),
                           ("int64_list", 3, F.TYPE_MESSAGE, O, ".benchex.Int64List", 0)])
    feat.oneof_decl.add(name="kind")
    feats = msg("Features", [("feature", 1, F.TYPE_MESSAGE, R, ".benchex.Features.FeatureEntry", None)])
    entry = feats.nested_type.add(name="FeatureEntry")
    entry.field.add(name="key", number=1, type=F.TYPE_STRING, label=O)
    entry.field.add(name="value", number=2, type=F.TYPE_MESSAGE, label=O, type_name=".benchex.Feature")
    entry.options.map_entry = True
    msg("Example", [("features", 1, F.TYPE_MESSAGE, O, ".benchex.Features", None)])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    _EXAMPLE = message_factory.GetMessageClass(pool.FindMessageTypeByName("benchex.Example"))
    return _EXAMPLE


def parse_examples(serialized):
    """A batch of serialized Examples -> {"x": float32[n, CSV_COLUMNS], "id": int64[n]}."""
    cls = example_class()
    xs = np.empty((len(serialized), CSV_COLUMNS), dtype=np.float32)
    ids = np.empty(len(serialized), dtype=np.int64)
    for k, s in enumerate(serialized):
        f = cls.FromString(s).features.feature
        xs[k] = f["x"].float_list.value
        ids[k] = f["id"].int64_list.value[0]
    return {"x": xs, "id": ids}
