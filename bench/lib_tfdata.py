"""tf.data (tensorflow-cpu), written the way the tf.data performance guide recommends:
parallel map with num_parallel_calls, vectorised parsing after batch for Examples,
prefetch(AUTOTUNE) last; checkpoints through tf.train.Checkpoint(iterator=...).

A global shuffle in tf.data's public API is shuffle(buffer_size=<dataset size>) (the guide's
"perfect shuffle"); TF 2.21's index-based global shuffle is not exported (it lives in a private
module, tf.data.experimental has no global_shuffle), so it is not used.
"""

import glob
import os
import shutil
import tempfile

import tensorflow as tf

import common

NAME = "tf.data"


class Pipeline(common.Pipeline):
    def __init__(self, wl, shuffle, cfg):
        super().__init__(wl, shuffle, cfg)
        self._tmp = tempfile.mkdtemp(prefix="bench_tf_", dir=cfg.get("tmp_dir"))
        self._saves = 0
        self.ds = self._build()

    def note(self):
        notes = []
        if "reader_threads" in self.wl:
            notes.append("map_parallelization, inject_prefetch off; max_intra_op_parallelism 1")
        if self.shuffle == "global":
            notes.append("global shuffle = shuffle(buffer_size=N)")
        if self.wl["map"] == "python":
            notes.append("tf.numpy_function in map(num_parallel_calls)")
        return "; ".join(notes)

    def _shuffle(self, ds):
        if self.shuffle == "global":
            return ds.shuffle(self.n, seed=common.SEED, reshuffle_each_iteration=True)
        if self.shuffle:
            return ds.shuffle(int(self.shuffle), seed=common.SEED, reshuffle_each_iteration=True)
        return ds

    def _read_batched(self, path):
        """Workload r's one-thread pipeline over one file: reader -> batch(1024) (CSV: parsed
        by the reader; TFRecord: then the vectorised parse_example, a sequential map)."""
        bs = self.wl["batch"]
        if self.wl["source"] == "csv":
            return tf.data.experimental.CsvDataset(path, [tf.float32] * common.CSV_COLUMNS).batch(bs)
        feats = {"x": tf.io.FixedLenFeature([common.CSV_COLUMNS], tf.float32),
                 "id": tf.io.FixedLenFeature([], tf.int64)}
        return tf.data.TFRecordDataset(path).batch(bs).map(lambda s: tf.io.parse_example(s, feats))

    def _build_reader(self):
        """Workload r (the readers table): no shuffle, no prefetch. 2 threads: the shard files,
        each read -> batched -> parsed inside interleave(num_parallel_calls=2). tf.data's
        default rewrites would add threads and a buffer the thread count does not show (a
        sequential map made parallel, a prefetch injected at the end, parse_example spreading a
        batch over the intra-op pool), so they are off: both libraries run the same threads."""
        files = common.reader_files(self.cfg["data_dir"], self.n, self.wl)
        threads = self.wl["reader_threads"]
        if threads == 1:
            ds = self._read_batched(files[0])
        else:
            ds = tf.data.Dataset.from_tensor_slices(files).interleave(
                self._read_batched, cycle_length=threads, num_parallel_calls=threads)
        opts = tf.data.Options()
        opts.experimental_optimization.map_parallelization = False
        opts.experimental_optimization.inject_prefetch = False
        opts.threading.max_intra_op_parallelism = 1
        return ds.with_options(opts)

    def _build(self):
        wl, threads = self.wl, self.threads
        src = wl["source"]
        if "reader_threads" in wl:
            return self._build_reader()
        if src == "array":
            x, ids = common.make_array(self.n)
            ds = tf.data.Dataset.from_tensor_slices((x, ids))
            ds = self._shuffle(ds)
            if wl["map"] == "native":
                ds = ds.map(lambda x, i: (x * 2.0 + 1.0, i), num_parallel_calls=threads)
            else:
                def py_map(x, i):
                    y = tf.numpy_function(common.py_fn, [x], tf.float32, stateful=False)
                    return tf.ensure_shape(y, [common.FEATURES]), i
                ds = ds.map(py_map, num_parallel_calls=threads)
            ds = ds.batch(wl["batch"])
        elif src == "csv":
            path = common.csv_path(self.cfg["data_dir"], self.n)
            ds = tf.data.experimental.CsvDataset(path, [tf.float32] * common.CSV_COLUMNS)
            ds = self._shuffle(ds)
            ds = ds.batch(wl["batch"])
        elif src == "tfrecord":
            path = common.tfrecord_path(self.cfg["data_dir"], self.n)
            ds = tf.data.TFRecordDataset(path)
            ds = self._shuffle(ds)
            feats = {"x": tf.io.FixedLenFeature([common.CSV_COLUMNS], tf.float32),
                     "id": tf.io.FixedLenFeature([], tf.int64)}
            ds = ds.batch(wl["batch"])
            ds = ds.map(lambda s: tf.io.parse_example(s, feats), num_parallel_calls=threads)
        else:
            raise ValueError(src)
        return ds.prefetch(tf.data.AUTOTUNE)

    # ---- the interface the worker drives ----
    def _csv_ids(self, b):
        return b[0]  # batches of CSV rows are a tuple of columns

    def _numpy(self, ids):
        return ids.numpy()

    def save(self, it):
        """tf.train.Checkpoint.write: serialises the iterator (whole shuffle/prefetch buffers)
        and writes it; returns the checkpoint prefix and its size in bytes."""
        self._saves += 1
        prefix = os.path.join(self._tmp, f"ckpt{self._saves}")
        tf.train.Checkpoint(iterator=it).write(prefix)
        return prefix

    def state_size(self, prefix):
        return sum(os.path.getsize(p) for p in glob.glob(prefix + "*"))

    def restore(self, prefix):
        it = iter(self.ds)
        tf.train.Checkpoint(iterator=it).read(prefix).assert_consumed()
        return it

    def discard(self, prefix):
        for p in glob.glob(prefix + "*"):
            os.remove(p)

    def cleanup(self):
        shutil.rmtree(self._tmp, ignore_errors=True)


def build(wl, shuffle, cfg):
    return Pipeline(wl, shuffle, cfg)


def versions():
    return {"tensorflow-cpu": tf.__version__}
