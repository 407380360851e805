"""ArrowDataset over pyarrow-written Arrow IPC files: the file format (Feather v2) and the
stream format HuggingFace datasets caches use; rows, fused batches, exact resumption, bad input."""

import os

import numpy as np
import pytest

import inputpipe
from inputpipe.testing import assert_exact_resume, collect

pa = pytest.importorskip("pyarrow")
ipc = pytest.importorskip("pyarrow.ipc")
feather = pytest.importorskip("pyarrow.feather")

_DIR_ENV = "INPUTPIPE_ARROW_TEST_DIR"


def _batch(start, n):
    ids = np.arange(start, start + n, dtype=np.int64)
    return pa.record_batch({
        "id": pa.array(ids),
        "text": pa.array([f"t{i}" for i in ids], type=pa.large_string()),
        "emb": pa.FixedSizeListArray.from_arrays(pa.array(np.repeat(ids, 2).astype(np.int32)), 2),
        "labels": pa.array([[i] * (i % 3) for i in ids], type=pa.list_(pa.int32())),
    })


def _write_stream(path, batches):
    with ipc.new_stream(path, batches[0].schema) as w:
        for b in batches:
            w.write_batch(b)


def _write_file(path, batches):
    with ipc.new_file(path, batches[0].schema) as w:
        for b in batches:
            w.write_batch(b)


@pytest.fixture
def arrow_files(tmp_path, monkeypatch):
    _write_stream(str(tmp_path / "cache-0.arrow"), [_batch(0, 8), _batch(8, 8), _batch(16, 4)])
    _write_file(str(tmp_path / "data-1.arrow"), [_batch(20, 8), _batch(28, 3)])
    feather.write_feather(pa.Table.from_batches([_batch(31, 9)]), str(tmp_path / "f-2.feather"),
                          chunksize=4)
    monkeypatch.setenv(_DIR_ENV, str(tmp_path))
    return [str(tmp_path / n) for n in ("cache-0.arrow", "data-1.arrow", "f-2.feather")]


def _files():
    d = os.environ[_DIR_ENV]
    return [os.path.join(d, n) for n in ("cache-0.arrow", "data-1.arrow", "f-2.feather")]


def make_rows():
    return inputpipe.ArrowDataset(_files())


def make_shuffled_batches():
    return inputpipe.ArrowDataset(_files(), columns=["id", "emb"]).shuffle(seed=4) \
        .batch(6)


def make_fused_windowed():
    return inputpipe.ArrowDataset(_files(), shuffle_seed=2, shuffle_window=2).batch(7)


def test_stream_file_and_feather_rows(arrow_files):
    ds = inputpipe.ArrowDataset(arrow_files)
    assert len(ds) == 40
    rows = list(ds)
    assert [int(r["id"]) for r in rows] == list(range(40))
    r = rows[35]
    assert r["text"] == b"t35" and r["emb"].tolist() == [35, 35] and r["emb"].dtype == np.int32
    assert r["labels"]["values"].tolist() == [35, 35] and r["labels"]["values"].dtype == np.int32
    batches = collect(iter(inputpipe.ArrowDataset(arrow_files, columns=["id", "emb"]).batch(16)))
    assert [len(b["id"]) for b in batches] == [16, 16, 8]
    np.testing.assert_array_equal(np.concatenate([b["emb"] for b in batches])[:, 0],
                                  np.arange(40))


@pytest.mark.parametrize("make", [make_rows, make_shuffled_batches, make_fused_windowed])
def test_resumes_exactly(arrow_files, make):
    assert_exact_resume(make, fresh_process=make is make_rows, max_state_bytes=600)


def test_bad_input_is_named_when_the_pipeline_is_built(arrow_files, tmp_path):
    data = open(arrow_files[1], "rb").read()
    truncated = tmp_path / "truncated.arrow"
    truncated.write_bytes(data[: len(data) - 40])
    with pytest.raises(inputpipe.DataLossError, match="truncated.arrow.*not a readable Arrow"):
        inputpipe.ArrowDataset([arrow_files[0], str(truncated)])
    garbage = tmp_path / "garbage.arrow"
    garbage.write_bytes(b"not arrow at all" * 10)
    with pytest.raises(inputpipe.DataLossError, match="garbage.arrow"):
        inputpipe.ArrowDataset(str(garbage))
    other = tmp_path / "other.arrow"
    _write_stream(str(other), [pa.record_batch({"id": pa.array([1.5])})])
    with pytest.raises(ValueError, match=r"other.arrow' differs.*'id' is double, was int64"):
        inputpipe.ArrowDataset([arrow_files[0], str(other)], columns=["id"])
    with pytest.raises(ValueError, match="column 'nope' does not exist in '.*cache-0.arrow'"):
        inputpipe.ArrowDataset(arrow_files, columns=["nope"])
    with pytest.raises(FileNotFoundError, match="missing.arrow"):
        inputpipe.ArrowDataset(str(tmp_path / "missing.arrow"))


def test_through_the_seam(arrow_files):
    for i, path in enumerate(arrow_files):
        inputpipe.write_file(f"memory://arrow/{i}", open(path, "rb").read())
    ds = inputpipe.ArrowDataset([f"memory://arrow/{i}" for i in range(3)])
    assert [int(r["id"]) for r in ds] == list(range(40))
