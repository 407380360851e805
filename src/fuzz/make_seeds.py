"""Writes the seed corpus of the fuzz targets under tests/data/fuzz/<target>/ from the golden
files and from states saved by the installed inputpipe package. Run once:
    .venv/bin/python src/fuzz/make_seeds.py
Crashers found later are added to the same folders (run_fuzzers.sh does it) and replayed by
fuzz_regression_test.cc."""
import glob
import os

import inputpipe

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
DATA = os.path.join(ROOT, "tests", "data")


def write(target, name, data):
    d = os.path.join(DATA, "fuzz", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def read(path):
    with open(path, "rb") as f:
        return f.read()


for i, path in enumerate(sorted(glob.glob(os.path.join(DATA, "csv", "*.csv")))):
    write("csv", os.path.basename(path), bytes([i % 4]) + read(path))
tf = os.path.join(DATA, "tfrecord", "examples.tfrecord")
write("tfrecord", "plain", b"\x00" + read(tf))
write("tfrecord", "gzip", b"\x01" + read(tf + ".gz"))
write("tfrecord", "zlib", b"\x02" + read(tf + ".zlib"))
for i, record in enumerate(inputpipe.TFRecordDataset(tf)):
    write("example", f"example{i}", bytes(record))
pipelines = {
    "csv": inputpipe.CsvDataset(os.path.join(DATA, "csv", "quoted.csv"),
                                [0, "", 0.0, ""], header=True).batch(2),
    "tfrecord": inputpipe.TFRecordDataset(tf).apply(inputpipe.parse_single_example_fn(
        {"label": inputpipe.FixedLenFeature([], "int64", -1)})).ignore_errors(),
    "range": inputpipe.Dataset.range(10).map(lambda x: x).batch(3),
}
for name, ds in pipelines.items():
    it = iter(ds)
    next(it)
    write("state", name, it.save())
