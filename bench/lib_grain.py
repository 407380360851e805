"""Grain (grain.MapDataset / IterDataset), written the way Grain's docs recommend: a
random-access source, shuffle/map/batch on the MapDataset, then to_iter_dataset(ReadOptions)
for threaded prefetch, and mp_prefetch(MultiprocessingOptions) for Python-heavy work.
Checkpoints: DatasetIterator.get_state(), serialised as JSON like Grain's checkpoint handler.

Grain has no native (C++) element ops: workload a's map is a numpy function.
Grain has no CSV reader: workload c uses common.CsvLines, a random-access line source a user
would write. Grain's buffered shuffle is its window shuffle (WindowShuffleMapDataset /
WindowShuffleIterDataset): it shuffles within consecutive windows of `window_size` elements,
which is not tf.data's sliding buffer, but is what Grain offers in its place.
"""


import grain

import common

NAME = "Grain"


class ArraySource:
    def __init__(self, x, ids):
        self.x, self.ids = x, ids

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        return self.x[i], self.ids[i]


def map_native(r):
    return common.native_fn_numpy(r[0]), r[1]


def map_python(r):
    return common.py_fn(r[0]), r[1]


def batch_examples(records):
    return common.parse_examples(records)


class Pipeline(common.GrainState, common.Pipeline):
    def __init__(self, wl, shuffle, cfg):
        super().__init__(wl, shuffle, cfg)
        self.ds = self._build()

    def note(self):
        src, notes = self.wl["source"], []
        if src == "array" and self.wl["map"] == "native":
            notes.append("no native ops: numpy fn, ReadOptions threads")
        if self.wl["map"] == "python" or src == "csv":
            notes.append(f"mp_prefetch({self.threads} worker processes)")
        if src == "csv":
            notes.append("no CSV reader: user-written line source")
        if src == "tfrecord":
            notes.append("experimental TFRecordIterDataset (no CRC check) + Python protobuf parse")
        if isinstance(self.shuffle, int):
            notes.append("window shuffle")
        return "; ".join(notes)

    def _shuffle_map(self, ds):
        if self.shuffle == "global":
            return ds.shuffle(seed=common.SEED)
        if self.shuffle:
            return grain.experimental.WindowShuffleMapDataset(ds, window_size=int(self.shuffle),
                                                              seed=common.SEED)
        return ds

    def _build(self):
        wl, threads = self.wl, self.threads
        src = wl["source"]
        read = grain.ReadOptions(num_threads=threads)
        if src == "array":
            x, ids = common.make_array(self.n)
            ds = self._shuffle_map(grain.MapDataset.source(ArraySource(x, ids)))
            ds = ds.map(map_native if wl["map"] == "native" else map_python)
            ds = ds.batch(wl["batch"]).to_iter_dataset(read)
            if wl["map"] == "python":
                ds = ds.mp_prefetch(grain.MultiprocessingOptions(num_workers=threads))
            return ds
        if src == "csv":
            lines = common.CsvLines(common.csv_path(self.cfg["data_dir"], self.n))
            ds = self._shuffle_map(grain.MapDataset.source(lines))
            ds = ds.batch(wl["batch"]).to_iter_dataset(read)
            return ds.mp_prefetch(grain.MultiprocessingOptions(num_workers=threads))
        if src == "tfrecord":
            ds = grain.experimental.TFRecordIterDataset(
                common.tfrecord_path(self.cfg["data_dir"], self.n))
            if self.shuffle:
                ds = grain.experimental.WindowShuffleIterDataset(ds, window_size=int(self.shuffle),
                                                                 seed=common.SEED)
            ds = ds.batch(wl["batch"], batch_fn=batch_examples)
            # A TFRecord stream cannot be split between worker processes (mp_prefetch would make
            # every worker read the whole file), so parsing runs in a prefetch thread.
            return grain.experimental.ThreadPrefetchIterDataset(ds, prefetch_buffer_size=4)
        raise ValueError(src)


def build(wl, shuffle, cfg):
    return Pipeline(wl, shuffle, cfg)


def versions():
    from importlib.metadata import version
    return {"grain": version("grain")}
