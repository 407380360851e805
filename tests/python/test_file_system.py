"""File systems by scheme from Python: one written in Python (registered under "pyfs://") read
by TextLineDataset, CsvDataset, TFRecordDataset and list_files, with exact resume, random
access, errors naming the file, and the checkpoint hook writing to it; and "memory://"."""

import io
import threading

import numpy as np
import pytest

import inputpipe


class DictFS:
    """A file system in a dict: paths (scheme included) to bytes; directories are implicit."""

    def __init__(self):
        self.files = {}
        self.calls = []
        self.fail_reads = False
        self.lock = threading.Lock()

    def _log(self, *call):
        with self.lock:
            self.calls.append(call)

    def open(self, path, mode):
        self._log("open", path, mode)
        if mode == "wb":
            fs = self

            class Writer(io.BytesIO):
                def close(self):
                    if not self.closed:
                        fs.files[path] = self.getvalue()
                    super().close()

            return Writer()
        if path not in self.files:
            raise FileNotFoundError(2, "no such key", path)
        if self.fail_reads:

            class Failing(io.BytesIO):
                def read(self, n=-1):
                    raise OSError(5, "the bucket is on fire")

            return Failing(self.files[path])
        return io.BytesIO(self.files[path])

    def stat(self, path):
        self._log("stat", path)
        if path not in self.files:
            raise FileNotFoundError(2, "no such key", path)
        return {"size": len(self.files[path]), "mtime_ns": 1, "identity": "v1"}

    def list(self, path):
        self._log("list", path)
        prefix = path.rstrip("/") + "/"
        # As an object store: every prefix is a directory, an empty one lists nothing.
        return sorted({p[len(prefix):].split("/")[0] for p in self.files if p.startswith(prefix)})

    def exists(self, path):
        prefix = path.rstrip("/") + "/"
        return path in self.files or any(p.startswith(prefix) for p in self.files)

    def rename(self, src, dst):
        self.files[dst] = self.files.pop(src)

    def remove(self, path):
        del self.files[path]


@pytest.fixture
def pyfs():
    fs = DictFS()
    inputpipe.register_file_system("pyfs", fs)
    yield fs
    assert inputpipe.unregister_file_system("pyfs")


def lines_text(n):
    return "".join(f"line {i}\n" for i in range(n)).encode()


def test_text_lines_through_a_python_file_system(pyfs):
    pyfs.files["pyfs://data/a.txt"] = lines_text(1000)
    pyfs.files["pyfs://data/b.txt"] = lines_text(5)
    assert "pyfs" in inputpipe.registered_file_systems()
    ds = inputpipe.TextLineDataset(["pyfs://data/a.txt", "pyfs://data/b.txt"], buffer_size=64)
    got = [bytes(x) for x in ds]
    assert got == [f"line {i}".encode() for i in range(1000)] + [
        f"line {i}".encode() for i in range(5)
    ]
    assert ("open", "pyfs://data/a.txt", "rb") in pyfs.calls

    # Exact resume mid-file: the reader seeks (a skip) in the Python file.
    it = iter(ds)
    for _ in range(321):
        next(it)
    state = it.save()
    it2 = iter(ds)
    it2.restore(state)
    assert bytes(next(it2)) == b"line 321"


def test_csv_and_list_files_through_a_python_file_system(pyfs):
    for part in range(3):
        lines = "".join(f"{part * 100 + i},{(part * 100 + i) * 0.5}\n" for i in range(100))
        pyfs.files[f"pyfs://data/csv/part-{part}.csv"] = ("a,b\n" + lines).encode()
    pyfs.files["pyfs://data/csv/README"] = b"not csv"
    listed = inputpipe.Dataset.list_files("pyfs://data/*/part-*.csv", shuffle=False)
    names = [bytes(n).decode() for n in listed]
    assert names == [f"pyfs://data/csv/part-{p}.csv" for p in range(3)]
    ds = inputpipe.CsvDataset(names, record_defaults=[np.int64, np.float64], header=True)
    rows = list(ds)
    assert len(rows) == 300
    assert int(rows[250][0]) == 250 and float(rows[250][1]) == 125.0
    with pytest.raises(ValueError, match="no files matched"):
        inputpipe.Dataset.list_files("pyfs://data/*/*.parquet")


def test_random_access_and_sidecar_through_a_python_file_system(pyfs):
    pyfs.files["pyfs://d/rows.csv"] = "".join(f"{i},{2 * i}\n" for i in range(500)).encode()
    ds = inputpipe.CsvDataset(
        "pyfs://d/rows.csv", record_defaults=[np.int64, np.int64], index=True, index_sidecar=True
    )
    assert len(ds) == 500
    assert "pyfs://d/rows.csv.ipidx" in pyfs.files  # written through open("wb") + rename
    assert "pyfs://d/rows.csv.ipidx.tmp" not in pyfs.files
    shuffled = [int(r[0]) for r in ds.shuffle(seed=3)]  # a global shuffle: random reads
    assert sorted(shuffled) == list(range(500)) and shuffled != list(range(500))
    rows = list(ds.prefetch(4))
    assert [int(r[1]) for r in rows] == [2 * i for i in range(500)]


def test_engine_threads_read_through_a_python_file_system(pyfs):
    # Parallel interleave: each file is read on an engine worker thread, which takes the GIL
    # for every call into the Python file system; random reads of indexed files from several
    # threads share one file object each under its lock.
    names = [f"pyfs://par/{i}.txt" for i in range(8)]
    for i, name in enumerate(names):
        pyfs.files[name] = "".join(f"{i}:{j}\n" for j in range(300)).encode()
    files = inputpipe.Dataset.from_tensor_slices(np.asarray(names, dtype=object))
    ds = files.interleave(lambda f: inputpipe.TextLineDataset(f, buffer_size=16), cycle_length=4,
                          num_parallel_calls=4, deterministic=True)
    got = sorted(bytes(x) for x in ds)
    assert got == sorted(f"{i}:{j}".encode() for i in range(8) for j in range(300))
    indexed = inputpipe.TextLineDataset(names[0], index=True)
    reads = indexed.shuffle(seed=1).map(lambda x: x, num_parallel_calls=4).prefetch(8)
    assert sorted(bytes(x) for x in reads) == sorted(f"0:{j}".encode() for j in range(300))


def test_errors_name_the_file_and_keep_the_python_reason(pyfs):
    with pytest.raises(OSError, match=r"text_line: cannot open 'pyfs://nope.txt'.*FileNotFoundError"):
        list(inputpipe.TextLineDataset("pyfs://nope.txt"))
    pyfs.files["pyfs://a.txt"] = lines_text(10)
    pyfs.fail_reads = True
    with pytest.raises(OSError, match=r"cannot read 'pyfs://a.txt' at byte 0: .*bucket is on fire"):
        list(inputpipe.TextLineDataset("pyfs://a.txt"))
    with pytest.raises(ValueError, match="scheme 'nosuch'"):
        inputpipe.TextLineDataset("nosuch://a.txt")
    with pytest.raises(TypeError, match="has no open"):
        inputpipe.register_file_system("bad", object())


def test_tfrecord_writer_and_reader_through_a_python_file_system(pyfs):
    with inputpipe.TFRecordWriter("pyfs://out/recs.tfrecord", "GZIP") as w:
        for i in range(50):
            w.write(f"record {i}".encode())
    assert "pyfs://out/recs.tfrecord" in pyfs.files
    got = [bytes(r) for r in inputpipe.TFRecordDataset("pyfs://out/recs.tfrecord", "GZIP")]
    assert got == [f"record {i}".encode() for i in range(50)]


def test_hook_checkpoints_into_a_python_file_system(pyfs):
    ds = inputpipe.Dataset.range(100)
    it = iter(ds)
    hook = inputpipe.CheckpointInputPipelineHook(it, "pyfs://ckpt", save_steps=1000)
    assert hook.begin() is None
    for _ in range(7):
        next(it)
    hook.save(7)
    hook.end()
    assert "pyfs://ckpt/checkpoint_input" in pyfs.files
    assert inputpipe.latest_input_checkpoint("pyfs://ckpt") is not None
    it2 = iter(ds)
    hook = inputpipe.CheckpointInputPipelineHook(it2, "pyfs://ckpt", save_steps=1000)
    assert hook.begin() == 7
    assert int(next(it2)) == 7
    hook.end()


def test_memory_file_system():
    inputpipe.write_file("memory://test_file_system/a.txt", lines_text(20))
    assert inputpipe.read_file("memory://test_file_system/a.txt") == lines_text(20)
    got = [bytes(x) for x in inputpipe.TextLineDataset("memory://test_file_system/a.txt")]
    assert got == [f"line {i}".encode() for i in range(20)]
    names = inputpipe.Dataset.list_files("memory://test_file_system/*.txt", shuffle=False)
    assert [bytes(n) for n in names] == [b"memory://test_file_system/a.txt"]
    with pytest.raises(OSError, match="No such file"):
        inputpipe.read_file("memory://test_file_system/missing")


def test_an_error_keeps_its_type_when_the_iterator_with_an_open_file_is_dropped(pyfs):
    # next(iter(ds)) drops the iterator while the map's exception is on its way out; closing
    # the Python file then must not replace the exception (a SystemError) or lose it.
    pyfs.files["pyfs://drop/a.txt"] = lines_text(10)

    def fails(x):
        raise ValueError("from map")

    ds = inputpipe.TextLineDataset("pyfs://drop/a.txt")
    for pipeline in (ds.map(fails), ds.map(fails).prefetch(2)):
        with pytest.raises(ValueError, match="from map"):
            next(iter(pipeline))


def test_keyboard_interrupt_in_a_python_file_system_is_not_a_bad_file(pyfs):
    # Ctrl-C while the store reads must stop the program, not become an OSError that
    # ignore_errors counts as a bad file and skips.
    pyfs.files["pyfs://ki/a.txt"] = lines_text(10)

    class Interrupted(io.BytesIO):
        def read(self, n=-1):
            raise KeyboardInterrupt()

    opened = pyfs.open
    pyfs.open = lambda path, mode: Interrupted() if path.startswith("pyfs://ki/") else opened(
        path, mode)
    ds = inputpipe.TextLineDataset(["pyfs://ki/a.txt", "pyfs://ki/a.txt"])
    for pipeline in (ds, ds.ignore_errors(), ds.ignore_errors().prefetch(2)):
        with pytest.raises(KeyboardInterrupt):
            list(pipeline)


def test_a_python_file_system_returning_nonsense_is_an_error_naming_the_call(pyfs):
    pyfs.files["pyfs://d/a.txt"] = lines_text(3)
    pyfs.stat = lambda path: -1  # a negative size is not an empty file
    with pytest.raises(OSError, match=r"pyfs://d/a.txt.*returned a value of the wrong type"):
        list(inputpipe.TextLineDataset("pyfs://d/a.txt"))
    del pyfs.stat
    pyfs.list = lambda path: "a.txt"  # one name as a str, not a list of names
    with pytest.raises(OSError, match=r"pyfs://d.*returned a value of the wrong type"):
        inputpipe.Dataset.list_files("pyfs://d/*.txt", shuffle=False)
