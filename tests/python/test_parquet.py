"""ParquetDataset over pyarrow-written files: rows and fused batches as numpy, random access,
exact resumption (also under global and row-group-aware shuffles, in a fresh process), nulls,
the bad inputs named at build time, paths through the file-system seam; from_source."""

import io
import os

import numpy as np
import pytest

import inputpipe
from inputpipe.testing import assert_exact_resume, collect

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

_DIR_ENV = "INPUTPIPE_PARQUET_TEST_DIR"
ROW_GROUP = 10


def _table(start, n):
    ids = np.arange(start, start + n, dtype=np.int64)
    return pa.table({
        "id": pa.array(ids),
        "x": pa.array(ids.astype(np.float32) / 2),
        "name": pa.array([f"row{i}" for i in ids]),
        "vec": pa.FixedSizeListArray.from_arrays(
            pa.array(np.repeat(ids, 3).astype(np.float32)), 3),
        "tokens": pa.array([list(range(i % 4)) for i in ids], type=pa.list_(pa.int64())),
    })


@pytest.fixture
def parquet_files(tmp_path, monkeypatch):
    paths = []
    for f, (start, n) in enumerate([(0, 25), (25, 30), (55, 7)]):
        path = tmp_path / f"part-{f}.parquet"
        pq.write_table(_table(start, n), path, row_group_size=ROW_GROUP)
        paths.append(str(path))
    monkeypatch.setenv(_DIR_ENV, str(tmp_path))
    return paths


def _files():
    d = os.environ[_DIR_ENV]
    return [os.path.join(d, f"part-{f}.parquet") for f in range(3)]


def make_rows():
    return inputpipe.ParquetDataset(_files())


def make_batches():
    return inputpipe.ParquetDataset(_files(), columns=["id", "name", "vec"]).batch(8)


def make_global_shuffle():
    return inputpipe.ParquetDataset(_files(), columns=["id", "tokens"]).shuffle(seed=3)


def make_windowed_shuffle():
    return inputpipe.ParquetDataset(_files(), shuffle_seed=11, shuffle_window=2).batch(5)


def test_rows_are_dicts_of_numpy_values(parquet_files):
    ds = inputpipe.ParquetDataset(parquet_files)
    assert len(ds) == 62
    rows = list(ds)
    assert [int(r["id"]) for r in rows] == list(range(62))
    r = rows[27]
    assert r["id"].dtype == np.int64 and r["x"].dtype == np.float32 and float(r["x"]) == 13.5
    assert r["name"] == b"row27"
    assert r["vec"].dtype == np.float32 and r["vec"].tolist() == [27.0, 27.0, 27.0]
    assert r["tokens"]["values"].tolist() == [0, 1, 2]       # VarLenFeature's sparse dict
    assert r["tokens"]["indices"].tolist() == [[0], [1], [2]]
    assert r["tokens"]["dense_shape"].tolist() == [3]
    # Random access: row i by (row group, offset).
    row: dict = ds._handle.get(43)  # type: ignore[assignment]
    assert int(row["id"]) == 43


def test_files_from_list_files(parquet_files):
    names = inputpipe.Dataset.list_files(os.path.join(os.path.dirname(parquet_files[0]),
                                                      "part-*.parquet"), shuffle=False)
    assert len(inputpipe.ParquetDataset(names)) == 62
    with pytest.raises(ValueError, match="no files"):
        inputpipe.ParquetDataset([])


def test_fused_batch_equals_batch_and_varlen_is_parse_examples(parquet_files):
    cols = ["id", "x", "name", "vec"]
    fused = collect(iter(inputpipe.ParquetDataset(parquet_files, columns=cols).batch(8)))
    plain = collect(iter(inputpipe.Dataset.batch(inputpipe.ParquetDataset(parquet_files,
                                                                            columns=cols), 8)))
    assert len(fused) == len(plain) == 8
    for a, b in zip(fused, plain):
        for c in cols:
            np.testing.assert_array_equal(a[c], b[c])
    assert len(inputpipe.ParquetDataset(parquet_files).batch(8, drop_remainder=True)) == 7
    # Variable-length lists batch as parse_example's sparse dict: indices (row, position).
    tokens = next(iter(inputpipe.ParquetDataset(parquet_files, columns=["tokens"]).batch(4)))
    t = tokens["tokens"]
    assert t["indices"].tolist() == [[1, 0], [2, 0], [2, 1], [3, 0], [3, 1], [3, 2]]
    assert t["values"].tolist() == [0, 0, 1, 0, 1, 2]
    assert t["dense_shape"].tolist() == [4, 3]


@pytest.mark.parametrize("make", [make_rows, make_batches, make_global_shuffle,
                                  make_windowed_shuffle])
def test_resumes_exactly(parquet_files, make):
    # A fresh process (a new interpreter importing pyarrow: a second each) for two of them.
    fresh = make in (make_batches, make_windowed_shuffle)
    assert_exact_resume(make, fresh_process=fresh, max_state_bytes=600)


def test_row_group_aware_shuffle_is_a_permutation_read_window_by_window(parquet_files):
    ds = inputpipe.ParquetDataset(parquet_files, columns=["id"], shuffle_seed=5,
                                  shuffle_window=2)
    ids = [int(r["id"]) for r in ds]
    assert sorted(ids) == list(range(62)) and ids != list(range(62))
    # Row groups of the files: [0,10) [10,20) [20,25) [25,35) ... ; each window of 2 row groups
    # is read out before the next one starts.
    groups = [(0, 10), (10, 20), (20, 25), (25, 35), (35, 45), (45, 55), (55, 62)]
    group_of = {i: g for g, (lo, hi) in enumerate(groups) for i in range(lo, hi)}
    pos = 0
    seen_windows = 0
    while pos < len(ids):
        window = {group_of[ids[pos]]}
        size = 0
        while pos + size < len(ids) and len(window | {group_of[ids[pos + size]]}) <= 2:
            window.add(group_of[ids[pos + size]])
            size += 1
        assert size == sum(groups[g][1] - groups[g][0] for g in window)
        pos += size
        seen_windows += 1
    assert seen_windows == 4
    # Another seed, another order; the same seed, the same order.
    again = [int(r["id"]) for r in inputpipe.ParquetDataset(parquet_files, columns=["id"],
                                                             shuffle_seed=5, shuffle_window=2)]
    other = [int(r["id"]) for r in inputpipe.ParquetDataset(parquet_files, columns=["id"],
                                                             shuffle_seed=6, shuffle_window=2)]
    assert again == ids and other != ids
    # The fused batches gather the same rows in the same order, lists included.
    rows = list(inputpipe.ParquetDataset(parquet_files, columns=["id", "tokens"], shuffle_seed=5,
                                         shuffle_window=2))
    batches = list(inputpipe.ParquetDataset(parquet_files, columns=["id", "tokens"],
                                            shuffle_seed=5, shuffle_window=2).batch(9))
    assert np.concatenate([b["id"] for b in batches]).tolist() == ids
    for k, b in enumerate(batches):
        t = b["tokens"]
        for j in range(len(b["id"])):
            want = rows[9 * k + j]["tokens"]["values"].tolist()
            assert t["values"][t["indices"][:, 0] == j].tolist() == want
            assert t["indices"][t["indices"][:, 0] == j, 1].tolist() == list(range(len(want)))


def test_the_state_is_an_index_and_names_no_rows(parquet_files):
    it = iter(inputpipe.ParquetDataset(parquet_files, shuffle_seed=1, shuffle_window=3))
    for _ in range(20):
        next(it)
    state = it.save()
    assert b"row" not in state and len(state) < 400
    assert '"next": 20' in inputpipe.inspect_state(state).replace("'", '"')


def test_nulls_are_an_error_naming_file_row_group_row_column_or_take_a_default(tmp_path):
    path = str(tmp_path / "nulls.parquet")
    table = pa.table({"a": pa.array([1, 2, None, 4], type=pa.int64()),
                      "s": pa.array(["x", None, "z", "w"]),
                      "l": pa.array([[1], None, [2, 3], []], type=pa.list_(pa.int64()))})
    pq.write_table(table, path, row_group_size=2)
    it = iter(inputpipe.ParquetDataset(path, columns=["a"]))
    next(it), next(it)
    where = r"nulls.parquet'.*row group 1, row 0 \(row 2 of the file\), column 'a'"
    with pytest.raises(inputpipe.DataLossError, match=where):
        next(it)
    with pytest.raises(inputpipe.DataLossError, match=r"row group 0, row 1 .*column 's'"):
        list(inputpipe.ParquetDataset(path, columns=["s"]).batch(4))
    rows = list(inputpipe.ParquetDataset(path, defaults={"a": -1, "s": "?", "l": []}))
    assert [int(r["a"]) for r in rows] == [1, 2, -1, 4]
    assert [r["s"] for r in rows] == [b"x", b"?", b"z", b"w"]
    assert [r["l"]["values"].tolist() for r in rows] == [[1], [], [2, 3], []]
    with pytest.raises(ValueError, match="defaults names 'nope'"):
        inputpipe.ParquetDataset(path, defaults={"nope": 1})


def test_bad_input_is_named_when_the_pipeline_is_built(parquet_files, tmp_path):
    good = parquet_files[0]
    data = open(good, "rb").read()
    truncated = tmp_path / "truncated.parquet"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(inputpipe.DataLossError, match="truncated.parquet.*not a readable Parquet"):
        inputpipe.ParquetDataset([good, str(truncated)])
    other = tmp_path / "other.parquet"
    pq.write_table(pa.table({"id": pa.array(["a"]), "x": pa.array([1.0])}), other)
    with pytest.raises(ValueError, match=r"schema of '.*other.parquet' differs.*column 'id' is "
                                         r"string, was int64"):
        inputpipe.ParquetDataset([good, str(other)], columns=["id"])
    narrow = tmp_path / "narrow.parquet"
    pq.write_table(pa.table({"id": pa.array([1]), "x": pa.array([1.0], pa.float32())}), narrow)
    with pytest.raises(ValueError, match="narrow.parquet' has no column 'name'"):
        inputpipe.ParquetDataset([good, str(narrow)])
    with pytest.raises(ValueError, match=r"column 'nope' does not exist in '.*part-0.parquet' "
                                         r"\(columns: id, x, name, vec, tokens\)"):
        inputpipe.ParquetDataset(good, columns=["id", "nope"])
    nested = tmp_path / "nested.parquet"
    pq.write_table(pa.table({"id": pa.array([1]), "s": pa.array([{"a": 1}])}), nested)
    with pytest.raises(ValueError, match=r"column 's' of '.*nested.parquet' has type struct"):
        inputpipe.ParquetDataset(str(nested))
    assert len(inputpipe.ParquetDataset(str(nested), columns=["id"])) == 1
    with pytest.raises(FileNotFoundError, match="missing.parquet"):
        inputpipe.ParquetDataset([good, str(tmp_path / "missing.parquet")])
    with pytest.raises(FileNotFoundError, match="memory://nowhere/x.parquet"):
        inputpipe.ParquetDataset("memory://nowhere/x.parquet")


def test_a_corrupt_row_group_is_named_at_the_element(tmp_path):
    path = tmp_path / "corrupt.parquet"
    pq.write_table(_table(0, 30), path, row_group_size=ROW_GROUP, compression="snappy")
    meta = pq.ParquetFile(path).metadata
    data = bytearray(path.read_bytes())
    col = meta.row_group(1).column(0)
    start = col.data_page_offset
    data[start + 8:start + col.total_compressed_size - 8] = b"\xff" * (
        col.total_compressed_size - 16)
    path.write_bytes(bytes(data))
    it = iter(inputpipe.ParquetDataset(str(path), columns=["id"]))
    assert [int(next(it)["id"]) for _ in range(10)] == list(range(10))
    with pytest.raises(inputpipe.DataLossError, match="corrupt.parquet', row group 1"):
        next(it)


def test_restore_over_a_changed_file_is_refused(parquet_files):
    it = iter(inputpipe.ParquetDataset(parquet_files))
    next(it)
    state = it.save()
    pq.write_table(_table(100, 25), parquet_files[0], row_group_size=ROW_GROUP)
    with pytest.raises(inputpipe.PipelineMismatchError):
        iter(inputpipe.ParquetDataset(parquet_files)).restore(state)


def test_paths_through_the_seam_memory_and_a_python_file_system(parquet_files):
    data = open(parquet_files[1], "rb").read()
    inputpipe.write_file("memory://pq/part-1.parquet", data)
    ids = [int(r["id"]) for r in inputpipe.ParquetDataset("memory://pq/part-1.parquet")]
    assert ids == list(range(25, 55))

    class DictFS:
        def __init__(self):
            self.reads = 0
            self.files = {"pyfs://b/p.parquet": data}

        def open(self, path, mode):
            self.reads += 1
            return io.BytesIO(self.files[path])

        def stat(self, path):
            if path not in self.files:
                raise FileNotFoundError(path)
            return {"size": len(self.files[path]), "identity": "v1"}

        def list(self, path):
            return []

    fs = DictFS()
    inputpipe.register_file_system("pyfs", fs)
    try:
        ds = inputpipe.ParquetDataset("pyfs://b/p.parquet", columns=["id", "tokens"]).batch(7)
        got = np.concatenate([b["id"] for b in ds])
        assert got.tolist() == list(range(25, 55)) and fs.reads > 0
        with pytest.raises(FileNotFoundError, match="pyfs://b/none.parquet"):
            inputpipe.ParquetDataset("pyfs://b/none.parquet")
    finally:
        inputpipe.unregister_file_system("pyfs")


# ---- from_source: any Python object with __len__ and __getitem__ ---------------------------------
class Squares:
    def __len__(self):
        return 20

    def __getitem__(self, i):
        return {"i": np.int64(i), "sq": np.array([i, i * i])}

    def get_batch(self, start, count):
        i = np.arange(start, start + count)
        return {"i": i, "sq": np.stack([i, i * i], axis=1)}


def make_squares():
    return inputpipe.from_source(Squares(), name="squares").shuffle(seed=2).batch(3)


def test_from_source_is_random_access_and_resumes(monkeypatch):
    ds = inputpipe.from_source(Squares(), name="squares")
    assert len(ds) == 20 and int(ds._handle.get(7)["i"]) == 7
    fused = collect(iter(ds.batch(6)))
    plain = collect(iter(inputpipe.Dataset.batch(ds, 6)))
    assert len(fused) == 4
    for a, b in zip(fused, plain):
        np.testing.assert_array_equal(a["sq"], b["sq"])
    assert_exact_resume(make_squares, fresh_process=True)
    assert "from_source(fn=squares, size=20)" in ds._handle.signature()


# ---- Golden states: saved once, committed; they must restore and continue as pinned ----------
GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "parquet")
GOLDEN_PIPELINES = {
    "rows": lambda f: inputpipe.ParquetDataset(f, columns=["id", "name"]),
    "windowed_batches": lambda f: inputpipe.ParquetDataset(f, shuffle_seed=7,
                                                           shuffle_window=2).batch(4),
    "global_shuffle": lambda f: inputpipe.ParquetDataset(f, columns=["id"]).shuffle(
        seed=3, reshuffle_each_iteration=False),
}


def _ids(element):
    return np.asarray(element["id"]).reshape(-1).tolist()


def test_write_golden_states():
    """Writes tests/data/parquet/ once (INPUTPIPE_WRITE_GOLDEN_STATES=1): never regenerate."""
    if os.environ.get("INPUTPIPE_WRITE_GOLDEN_STATES") != "1":
        pytest.skip("writes the golden states only when asked")
    import json  # noqa: PLC0415

    os.makedirs(GOLDEN, exist_ok=True)
    path = os.path.join(GOLDEN, "golden.parquet")
    if not os.path.exists(path):
        pq.write_table(_table(0, 45), path, row_group_size=ROW_GROUP)
    pins = {}
    for name, make in GOLDEN_PIPELINES.items():
        it = iter(make(path))
        for _ in range(3):
            next(it)
        state = it.save()
        pins[name] = {"state": state.hex(), "next": [_ids(next(it)) for _ in range(3)]}
    with open(os.path.join(GOLDEN, "states.json"), "w") as f:
        json.dump(pins, f, indent=1)


def test_golden_states_restore_and_continue_as_pinned():
    import json  # noqa: PLC0415

    path = os.path.join(GOLDEN, "golden.parquet")
    with open(os.path.join(GOLDEN, "states.json")) as f:
        pins = json.load(f)
    assert set(pins) == set(GOLDEN_PIPELINES)
    for name, pin in pins.items():
        it = iter(GOLDEN_PIPELINES[name](path))
        it.restore(bytes.fromhex(pin["state"]))
        assert [_ids(next(it)) for _ in range(3)] == pin["next"], name


class CountingSquares(Squares):
    def __init__(self):
        self.rows = self.batches = 0

    def __getitem__(self, i):
        self.rows += 1
        return super().__getitem__(i)

    def get_batch(self, start, count):
        self.batches += 1
        return super().get_batch(start, count)


def test_from_source_block_rows_read_a_block_per_call():
    src = CountingSquares()
    ds = inputpipe.from_source(src, name="squares", block_rows=8)
    rows = collect(iter(ds))
    assert [int(r["i"]) for r in rows] == list(range(20)) and rows[3]["sq"].tolist() == [3, 9]
    assert (src.rows, src.batches) == (0, 3)
    shuffled = [int(r["i"]) for r in ds.shuffle(seed=1)]
    assert sorted(shuffled) == list(range(20)) and src.batches == 3  # all cached
    with pytest.raises(ValueError, match="block_rows needs a get_batch"):
        inputpipe.from_source([1, 2, 3], name="list", block_rows=2)
