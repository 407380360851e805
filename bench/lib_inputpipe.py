"""inputpipe, written like the tf.data pipelines it mirrors (same ops, same order, same thread
counts). Checkpoints: Iterator.save() -> bytes, Iterator.restore(bytes) on a fresh iterator.

Where the Python API has no native element op (workload a's x * 2 + 1), the map is a numpy
function, run by map(num_parallel_calls) worker threads that take the GIL for each call.
"""

import os

import numpy as np

import inputpipe as ip

import common

NAME = "inputpipe"


def map_native(x, i):
    return common.native_fn_numpy(x), i


def map_python(x, i):
    return common.py_fn(x), i


class Pipeline(common.Pipeline):
    def __init__(self, wl, shuffle, cfg):
        super().__init__(wl, shuffle, cfg)
        self._notes = []
        self.ds = self._build()

    def note(self):
        return "; ".join(self._notes)

    def _shuffle(self, ds):
        if self.shuffle == "global":
            return ds.shuffle(seed=common.SEED)
        if self.shuffle:
            return ds.shuffle(int(self.shuffle), seed=common.SEED)
        return ds

    def _tfrecord_features(self):
        return {"x": ip.FixedLenFeature([common.CSV_COLUMNS], np.float32),
                "id": ip.FixedLenFeature([], np.int64)}

    def _read_batched(self, path):
        """Workload r's one-thread pipeline over one file: reader -> batch(1024) (CSV: parse
        into the batch, fused into the reader; TFRecord: then parse_example_fn, in C++)."""
        bs = self.wl["batch"]
        if self.wl["source"] == "csv":
            ds = ip.CsvDataset(path, record_defaults=[np.float32] * common.CSV_COLUMNS)
            return ds.batch(bs)
        return ip.TFRecordDataset(path).batch(bs).apply(ip.parse_example_fn(self._tfrecord_features()))

    def _build_reader(self):
        """Workload r (the readers table): no shuffle, no prefetch. 2 threads: the shard files,
        each read -> batched -> parsed inside interleave(num_parallel_calls=2), whose worker
        threads run the inner C++ iterators."""
        files = common.reader_files(self.cfg["data_dir"], self.n, self.wl)
        threads = self.wl["reader_threads"]
        if self.wl["source"] == "csv":
            self._notes.append("CsvDataset.batch fused into the reader")
        if threads == 1:
            return self._read_batched(files[0])
        names = ip.Dataset.from_tensor_slices(np.asarray(files, dtype=object))
        return names.interleave(lambda f: self._read_batched(os.fsdecode(f)),
                                cycle_length=threads, num_parallel_calls=threads)

    def _build(self):
        wl, threads = self.wl, self.threads
        src = wl["source"]
        if "reader_threads" in wl:
            return self._build_reader()
        if src == "array":
            x, ids = common.make_array(self.n)
            # Read-only views: from_tensor_slices then references the arrays instead of
            # copying them (its documented way to share a large array, as Grain and torchdata
            # index the caller's array); a writeable array would be copied.
            x, ids = x.view(), ids.view()
            x.setflags(write=False)
            ids.setflags(write=False)
            self._notes.append("read-only views: no copy")
            ds = self._shuffle(ip.Dataset.from_tensor_slices((x, ids)))
            if wl["map"] == "native":
                self._notes.append("no native element op in the Python API: numpy fn")
                ds = ds.map(map_native, num_parallel_calls=threads)
            else:
                self._notes.append("Python fn in map threads (GIL)")
                ds = ds.map(map_python, num_parallel_calls=threads)
            ds = ds.batch(wl["batch"])
        elif src == "csv":
            if not hasattr(ip, "CsvDataset"):
                raise common.Pending("inputpipe.CsvDataset is not in the Python API yet")
            path = common.csv_path(self.cfg["data_dir"], self.n)
            ds = ip.CsvDataset(path, record_defaults=[np.float32] * common.CSV_COLUMNS)
            ds = self._shuffle(ds).batch(wl["batch"])
        elif src == "tfrecord":
            if not (hasattr(ip, "TFRecordDataset") and hasattr(ip, "parse_example")):
                raise common.Pending("inputpipe.TFRecordDataset/parse_example are not in the "
                                     "Python API yet")
            path = common.tfrecord_path(self.cfg["data_dir"], self.n)
            feats = self._tfrecord_features()
            ds = self._shuffle(ip.TFRecordDataset(path)).batch(wl["batch"])
            # parse_example_fn: the vectorised parse as a C++ map (no Python call per batch);
            # it has no num_parallel_calls, so parsing runs on one thread, ahead of prefetch.
            ds = ds.apply(ip.parse_example_fn(feats))
            self._notes.append("parse_example_fn (C++, one thread)")
        else:
            raise ValueError(src)
        return ds.prefetch(ip.AUTOTUNE)

    def _csv_ids(self, b):
        return np.asarray(b[0])  # batches of CSV rows are a tuple of columns

    def save(self, it):
        return it.save()

    def restore(self, blob):
        it = iter(self.ds)
        it.restore(blob)
        return it


def build(wl, shuffle, cfg):
    return Pipeline(wl, shuffle, cfg)


def versions():
    from importlib.metadata import version
    return {"inputpipe": version("inputpipe")}
