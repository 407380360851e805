"""File readers from Python: TensorFlow's results on the same files (golden files made by
tests/data/make_golden.py with TensorFlow itself), exact resumption (also in a fresh process),
random access, and bad input named by file and position."""

import os
import struct

import numpy as np
import pytest

import inputpipe
from inputpipe import Dataset
from inputpipe.testing import assert_exact_resume

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data")


# ---- Canonical text of elements, as make_golden.py writes it ---------------------------------
def _encode(dtype, v):
    if dtype in ("int32", "int64"):
        return str(int(v))
    if dtype == "float32":
        return "%08x" % struct.unpack("<I", struct.pack("<f", float(v)))[0]
    if dtype == "float64":
        return "%016x" % struct.unpack("<Q", struct.pack("<d", float(v)))[0]
    return v.hex() if v else "-"


def _lines(element, prefix=""):
    if isinstance(element, dict):
        return [line for k in element for line in _lines(element[k], prefix + k + ".")]
    if isinstance(element, tuple):
        return [line for i, v in enumerate(element) for line in _lines(v, prefix + str(i) + ".")]
    a = np.array(element, dtype=object) if isinstance(element, bytes) else np.asarray(element)
    dtype = a.dtype.name if a.dtype.kind in "if" else "string"
    shape = "[" + ",".join(str(d) for d in a.shape) + "]"
    return [" ".join([prefix[:-1], dtype, shape] + [_encode(dtype, v) for v in a.reshape(-1)])]


def _text(element):
    return "\n".join(sorted(_lines(element)))


def _run(ds):
    out, it = [], iter(ds)
    for _ in range(10000):
        try:
            e = next(it)
        except StopIteration:
            break
        except ValueError:  # DataLossError / PipelineMismatchError are ValueErrors
            out.append("ERROR")
            continue
        out.append(_text(e))
    return "".join(r + "\n--\n" for r in out)


def _read(path):
    with open(path) as f:
        return f.read()


# ---- Differential tests against TensorFlow's outputs ---------------------------------------
def _csv_cases():
    with open(os.path.join(DATA, "csv", "cases.txt")) as f:
        return [line.split(" ") for line in f.read().splitlines()]


def _csv_default(spec):
    if ":" not in spec:
        return {"int32": np.int32, "int64": np.int64, "float32": np.float32,
                "float64": np.float64, "string": str}[spec]
    dtype, value = spec.split(":", 1)
    if dtype == "string":
        return value
    return np.asarray(value, dtype=dtype).astype(dtype)[()]


@pytest.mark.parametrize("case", _csv_cases(), ids=lambda c: c[0])
def test_csv_matches_tensorflow(case):
    opts = dict(f.split("=", 1) for f in case[2:])
    defaults = [_csv_default(s) for s in opts["defaults"].split(",")]
    ds = inputpipe.CsvDataset(
        [os.path.join(DATA, "csv", case[1])], defaults, compression_type=opts["compression"],
        header=opts["header"] == "1", field_delim=chr(int(opts["delim"])),
        use_quote_delim=opts["quote"] == "1", na_value=opts["na"],
        select_cols=[int(c) for c in opts["select"].split(",") if c],
        exclude_cols=[int(c) for c in opts["exclude"].split(",") if c])
    assert _run(ds) == _read(os.path.join(DATA, "csv", case[0] + ".expected"))


def test_text_lines_match_tensorflow():
    ds = inputpipe.TextLineDataset(os.path.join(DATA, "text", "lines.txt"))
    assert _run(ds) == _read(os.path.join(DATA, "text", "lines.expected"))


@pytest.mark.parametrize("suffix, compression", [("", None), (".gz", "GZIP"), (".zlib", "ZLIB")])
def test_tfrecords_written_by_tensorflow(suffix, compression):
    ds = inputpipe.TFRecordDataset([os.path.join(DATA, "tfrecord", "examples.tfrecord" + suffix)],
                                   compression_type=compression)
    assert _run(ds) == _read(os.path.join(DATA, "tfrecord", "records.expected"))


FEATURES = {
    "label": inputpipe.FixedLenFeature([], np.int64, default_value=-1),
    "floats": inputpipe.FixedLenFeature([3], "float32"),
    "name": inputpipe.FixedLenFeature([], str, default_value=b"unknown"),
    "tokens": inputpipe.VarLenFeature(str),
    "ids": inputpipe.VarLenFeature(np.int64),
}


def _tf_records():
    return list(inputpipe.TFRecordDataset(os.path.join(DATA, "tfrecord", "examples.tfrecord")))


def test_parse_example_matches_tensorflow():
    expected_single = _read(os.path.join(DATA, "tfrecord", "parse_single.expected"))
    eager = "".join(_text(inputpipe.parse_single_example(r, FEATURES)) + "\n--\n"
                    for r in _tf_records())
    assert eager == expected_single
    records = inputpipe.TFRecordDataset(os.path.join(DATA, "tfrecord", "examples.tfrecord"))
    assert _run(records.apply(inputpipe.parse_single_example_fn(FEATURES))) == expected_single
    assert _run(records.map(lambda r: inputpipe.parse_single_example(r, FEATURES))) == expected_single

    expected_batch = _read(os.path.join(DATA, "tfrecord", "parse_batch.expected"))
    assert _text(inputpipe.parse_example(_tf_records(), FEATURES)) + "\n--\n" == expected_batch
    assert _run(records.batch(10).apply(inputpipe.parse_example_fn(FEATURES))) == expected_batch


def test_writer_writes_the_bytes_tensorflow_writes(tmp_path):
    path = tmp_path / "copy.tfrecord"
    with inputpipe.TFRecordWriter(path) as w:
        for r in _tf_records():
            w.write(r)
    with open(path, "rb") as a, open(os.path.join(DATA, "tfrecord", "examples.tfrecord"), "rb") as b:
        assert a.read() == b.read()
    with inputpipe.TFRecordWriter(tmp_path / "z", inputpipe.TFRecordOptions("ZLIB")) as w:
        w.write("text")
    assert list(inputpipe.TFRecordDataset(str(tmp_path / "z"), "ZLIB")) == [b"text"]


# ---- Behaviour ---------------------------------------------------------------------------------
def test_csv_record_defaults_follow_tensorflow_types(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("1,2.5,x,7,8\n,,,,9\n")
    ds = inputpipe.CsvDataset(str(path), [0, 0.0, "none", [np.int64(-1)], np.float64])
    rows = list(ds)
    assert [type(v) for v in rows[0]] == [np.int32, np.float32, bytes, np.int64, np.float64]
    assert rows[1] == (0, 0.0, b"none", -1, 9.0)
    with pytest.raises(inputpipe.DataLossError, match=r"line 2.*field 0.*required but missing"):
        list(inputpipe.CsvDataset(str(path), [np.int64, float, str, np.int64, np.float64]))
    with pytest.raises(ValueError, match="unsupported dtype"):
        inputpipe.CsvDataset(str(path), [np.complex64])
    with pytest.raises(ValueError, match="field_delim"):
        inputpipe.CsvDataset(str(path), [0], field_delim=";;")


def test_csv_batch_is_fused_into_the_reader(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("".join(f"{i},{i / 2},s{i}\n" for i in range(10)))
    ds = inputpipe.CsvDataset(str(path), [np.int64, np.float64, str])
    fused = ds.batch(4)
    assert "batch_size=4" in repr(fused) and "batch(" not in repr(fused)
    unfused = Dataset.batch(ds, 4)
    for a, b in zip(fused, unfused, strict=True):
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x, y)
    assert len(list(ds.batch(4, drop_remainder=True))) == 2
    with pytest.raises(ValueError):
        ds.batch(0)


def test_list_files_and_a_dataset_of_filenames(tmp_path):
    for i in (2, 0, 1):
        with inputpipe.TFRecordWriter(tmp_path / f"part-{i}.tfrecord") as w:
            for j in range(3):
                w.write(f"{i}-{j}")
    pattern = str(tmp_path / "*.tfrecord")
    names = list(Dataset.list_files(pattern, shuffle=False))
    assert names == sorted(names) and len(names) == 3
    shuffled = list(Dataset.list_files(pattern, seed=3))
    assert sorted(shuffled) == names
    with pytest.raises(ValueError, match="no files matched"):
        Dataset.list_files(str(tmp_path / "*.csv"))
    files = Dataset.list_files(pattern, shuffle=False)
    assert list(inputpipe.TFRecordDataset(files)) == [f"{i}-{j}".encode()
                                                      for i in range(3) for j in range(3)]
    # num_parallel_reads interleaves the files one record at a time, as tf.data does.
    assert list(inputpipe.TFRecordDataset(names, num_parallel_reads=3))[:3] == [b"0-0", b"1-0", b"2-0"]


def test_index_makes_a_reader_random_access(tmp_path):
    path = tmp_path / "lines.txt"
    path.write_text("".join(f"line {i}\n" for i in range(50)))
    ds = inputpipe.TextLineDataset(str(path), index=True, index_sidecar=True)
    assert ds.is_random_access() and len(ds) == 50
    assert (tmp_path / "lines.txt.ipidx").exists()
    shuffled = [bytes(x) for x in ds.shuffle(seed=1)]  # no buffer_size: a global shuffle
    assert sorted(shuffled) == sorted(f"line {i}".encode() for i in range(50))
    assert shuffled != sorted(shuffled)
    assert not inputpipe.TextLineDataset(str(path)).is_random_access()


def test_bad_input_names_file_and_position(tmp_path):
    missing = str(tmp_path / "missing.tfrecord")
    with pytest.raises(OSError, match="missing.tfrecord"):
        list(inputpipe.TFRecordDataset(missing))
    good = tmp_path / "good.tfrecord"
    with inputpipe.TFRecordWriter(good) as w:
        for r in (b"first", b"second", b"third"):
            w.write(r)
    data = bytearray(good.read_bytes())
    data[12 + 5 + 4 + 12 + 2] ^= 1  # a byte of "second"
    bad = tmp_path / "bad.tfrecord"
    bad.write_bytes(bytes(data))
    it = iter(inputpipe.TFRecordDataset(str(bad)))
    assert next(it) == b"first"
    with pytest.raises(inputpipe.DataLossError, match=r"bad.tfrecord.*record 1 \(byte 21\).*CRC32C"):
        next(it)
    assert next(it) == b"third"

    csv = tmp_path / "bad.csv"
    csv.write_text('a,b\n1,2\n3,"x\n')
    with pytest.raises(inputpipe.DataLossError, match=r"bad.csv', line 3.*unterminated quote"):
        list(inputpipe.CsvDataset(str(csv), [np.int64, str], header=True))


def test_ignore_errors_skips_and_counts(tmp_path):
    csv = tmp_path / "a.csv"
    csv.write_text("1\nx\n3\n\n5\n")
    ds = inputpipe.CsvDataset(str(csv), [np.int64]).ignore_errors()
    it = iter(ds)
    assert [int(next(it)[0]), int(next(it)[0])] == [1, 3]
    assert inputpipe.ignored_error_count(it) == 1
    state = it.save()
    resumed = iter(ds)
    resumed.restore(state)
    assert inputpipe.ignored_error_count(resumed) == 1
    assert [int(e[0]) for e in resumed] == [5]
    assert inputpipe.ignored_error_count(resumed) == 2


def test_restore_after_the_file_changed_names_it(tmp_path):
    path = tmp_path / "data.txt"
    path.write_text("a\nb\nc\n")
    ds = inputpipe.TextLineDataset(str(path))
    it = iter(ds)
    next(it)
    state = it.save()
    path.write_text("a\nb\nc\nd\n")
    with pytest.raises(inputpipe.PipelineMismatchError, match="data.txt.*changed"):
        iter(ds).restore(state)


# ---- Exact resumption, also in a fresh process ---------------------------------------------------
_DIR_ENV = "INPUTPIPE_READERS_TEST_DIR"


def make_csv_pipeline():
    d = os.environ[_DIR_ENV]
    return inputpipe.CsvDataset([os.path.join(d, "a.csv.gz"), os.path.join(d, "b.csv.gz")],
                                [np.int64, "none", 0.5], header=True, compression_type="GZIP",
                                buffer_size=16).batch(3)  # fused into the reader


def make_tfrecord_pipeline():
    d = os.environ[_DIR_ENV]
    return (inputpipe.TFRecordDataset(os.path.join(DATA, "tfrecord", "examples.tfrecord"))
            .repeat(3).apply(inputpipe.parse_single_example_fn(FEATURES)))


def make_indexed_pipeline():
    d = os.environ[_DIR_ENV]
    return inputpipe.TextLineDataset(os.path.join(d, "lines.txt"), index=True).shuffle(seed=5).batch(4)


@pytest.fixture
def reader_files(tmp_path, monkeypatch):
    import gzip

    rows = lambda n: "id,name,value\r\n" + "".join(
        f'{i},"q, ""{i}""\nline",{i}.5\n' if i % 2 else f"{i},,\r\n" for i in range(n))
    (tmp_path / "a.csv.gz").write_bytes(gzip.compress(rows(20).encode()))
    (tmp_path / "b.csv.gz").write_bytes(gzip.compress(rows(4).encode()))
    (tmp_path / "lines.txt").write_text("".join(f"{i}\n" for i in range(30)))
    monkeypatch.setenv(_DIR_ENV, str(tmp_path))
    return tmp_path


@pytest.mark.parametrize("make", [make_csv_pipeline, make_tfrecord_pipeline, make_indexed_pipeline])
def test_readers_resume_exactly(reader_files, make):
    assert_exact_resume(make, fresh_process=True)


def test_reader_methods_are_defined_with_the_dataset_class():
    # Dataset.list_files and Dataset.ignore_errors are methods of the class itself, not
    # attached to it when inputpipe.readers is imported.
    assert Dataset.__dict__["list_files"].__func__.__module__ == "inputpipe.dataset"
    assert Dataset.ignore_errors.__qualname__ == "Dataset.ignore_errors"
    assert Dataset.list_files.__qualname__ == "Dataset.list_files"
    assert inputpipe.CsvDataset.ignore_errors is Dataset.ignore_errors


def test_parse_errors_in_a_tfrecord_pipeline_name_the_file_record_and_offset(tmp_path):
    """parse_single_example over a TFRecord reader: a rejected record is named as the reader
    names its own bad records (file, record, byte offset), never as 'record 0' or a line."""
    records = _tf_records()[:2]
    path = tmp_path / "mixed.tfrecord"
    with inputpipe.TFRecordWriter(path) as w:
        for r in records + [b"\xff\xff\xff"]:
            w.write(r)
    offset = sum(12 + len(r) + 4 for r in records)
    it = iter(inputpipe.TFRecordDataset(str(path)).apply(
        inputpipe.parse_single_example_fn(FEATURES)))
    next(it)
    next(it)
    with pytest.raises(inputpipe.DataLossError) as error:
        next(it)
    message = str(error.value)
    assert "not a valid tf.train.Example" in message
    assert f"mixed.tfrecord', record 2 (byte {offset})" in message
    assert "record 0" not in message and "line" not in message
    # The reader's own errors say no line either.
    data = bytearray(path.read_bytes())
    data[offset + 12] ^= 1
    (tmp_path / "crc.tfrecord").write_bytes(bytes(data))
    it = iter(inputpipe.TFRecordDataset(str(tmp_path / "crc.tfrecord")))
    next(it)
    next(it)
    with pytest.raises(inputpipe.DataLossError) as error:
        next(it)
    assert f"record 2 (byte {offset})" in str(error.value)
    assert "line" not in str(error.value)
