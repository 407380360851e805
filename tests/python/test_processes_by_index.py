"""map(fn, num_parallel_calls=N, processes=True) over a random-access input: the workers rebuild
the input and read their elements themselves; the parent ships offsets, never elements. The
state is still the engine's: it restores into any worker count, threads or none, also in a
later epoch of a reshuffling global shuffle (the workers restore the parent's input state, so
they read that epoch's permutation, not Get(i) of epoch 0)."""

import numpy as np
import pytest

from inputpipe import Dataset
from inputpipe import _processes


def plus_one(x):
    return x * 10 + 1


def row_sum(row):
    return row.astype(np.int64).sum()


def jitter(x, rng):
    return x * 1000 + rng.integers(0, 1000)


@pytest.fixture
def frames(monkeypatch):
    """Counts the frames this process sends, by kind."""
    sent: dict[int, int] = {}
    send = _processes.wire.send_frame

    def counting(sock, kind, obj, fds=()):
        sent[kind] = sent.get(kind, 0) + 1
        return send(sock, kind, obj, fds)

    monkeypatch.setattr(_processes.wire, "send_frame", counting)
    return sent


def values(it):
    return [np.asarray(e).tolist() for e in it]


def test_workers_read_a_random_access_input_themselves(frames):
    expected = values(Dataset.range(40).shuffle(seed=3).map(plus_one))
    got = values(Dataset.range(40).shuffle(seed=3).map(plus_one, num_parallel_calls=2,
                                                       processes=True))
    assert got == expected
    assert frames.get(_processes.wire.CALL, 0) == 0, frames  # no element shipped
    assert 0 < frames.get(_processes.wire.CHUNK, 0) < 40, frames  # chunks of elements


def test_an_input_without_a_recipe_still_ships_its_elements(frames):
    ds = Dataset.from_generator(lambda: iter(range(12)), output_types="int64")
    assert values(ds.map(plus_one, num_parallel_calls=2, processes=True)) == [
        plus_one(x) for x in range(12)]
    assert frames.get(_processes.wire.CALL, 0) == 12, frames


def test_a_memory_mapped_source_is_opened_by_the_workers_not_copied(tmp_path, frames):
    data = np.arange(64 * 32768, dtype=np.int32).reshape(64, 32768)  # 8 MiB
    np.save(tmp_path / "rows.npy", data)
    rows = np.load(tmp_path / "rows.npy", mmap_mode="r")
    source = Dataset.from_tensor_slices(rows)
    recipe = _processes.readable_upstream(source, 2)
    assert recipe is not None and len(recipe) < 4096, len(recipe or b"")  # the file, not rows
    got = values(source.map(row_sum, num_parallel_calls=2, processes=True))
    assert got == [int(r.astype(np.int64).sum()) for r in data]
    assert frames.get(_processes.wire.CALL, 0) == 0, frames


@pytest.mark.parametrize("view", ["rows 10:20", "column 1", "every other row", "transposed"])
def test_a_view_of_a_memory_mapped_array_gives_its_own_rows(tmp_path, view):
    # A view is a memmap too, carrying the mapping's offset but not its start or strides:
    # pickled as the whole file, the workers rebuilt other data.
    data = np.arange(40 * 6, dtype=np.int32).reshape(40, 6)
    np.save(tmp_path / "rows.npy", data)
    mapped = np.load(tmp_path / "rows.npy", mmap_mode="r")
    pick = {"rows 10:20": lambda a: a[10:20], "column 1": lambda a: a[:, 1],
            "every other row": lambda a: a[::2], "transposed": lambda a: a.T}[view]
    got = values(Dataset.from_tensor_slices(pick(mapped)).map(
        row_sum, num_parallel_calls=2, processes=True))
    assert got == [int(np.asarray(r, np.int64).sum()) for r in pick(data)]


def _epochs(workers, seeded=False):
    ds = Dataset.range(30).shuffle(seed=5)
    fn = jitter if seeded else plus_one
    seed = 9 if seeded else None
    if workers is None:
        return ds.map(fn, seed=seed).batch(4).prefetch(2)
    return ds.map(fn, seed=seed, num_parallel_calls=workers, processes=True).batch(4).prefetch(2)


@pytest.mark.parametrize("seeded", [False, True])
def test_a_state_restores_into_another_worker_count_in_a_later_epoch(seeded):
    # The second iterator of a dataset is the reshuffling global shuffle's epoch 1.
    reference = _epochs(None, seeded)
    values(reference)
    expected = values(reference)
    ds = _epochs(3, seeded)
    values(ds)
    it = iter(ds)
    head = [np.asarray(next(it)).tolist() for _ in range(3)]
    assert head == expected[:3]
    state = it.save()
    for workers in (1, 2, None):
        restored = iter(_epochs(workers, seeded))
        restored.restore(state)
        assert values(restored) == expected[3:], workers
    assert values(it) == expected[3:]  # and the saved iterator itself goes on unchanged


def _logged(log_dir, fail_at=None):
    """A map function for map's input that appends "pid value" to a file per call (O_APPEND:
    whole lines from every process) and raises ValueError at `fail_at`."""
    path = str(log_dir / "calls.log")

    def load(x):
        import os
        with open(path, "a") as f:
            f.write(f"{os.getpid()} {int(x)}\n")
        if fail_at is not None and int(x) == fail_at:
            raise ValueError(f"cannot load record {int(x)}")
        return x * 2

    return load, path


def _calls(path):
    with open(path) as f:
        return [tuple(int(v) for v in line.split()) for line in f]


def test_the_parent_does_not_compute_what_the_workers_compute(tmp_path):
    # The input's own Python map runs once per element, in the one worker that needs it: the
    # parent moves past map's input without reading it (a seek through map, shuffle, range),
    # and each worker seeks past the other workers' elements.
    import os
    load, path = _logged(tmp_path)
    ds = Dataset.range(60).shuffle(seed=5).map(load).map(plus_one, num_parallel_calls=2,
                                                         processes=True)
    expected = values(Dataset.range(60).shuffle(seed=5).map(lambda x: x * 2).map(plus_one))
    assert values(ds) == expected
    calls = _calls(path)
    assert sorted(x for _, x in calls) == list(range(60)), calls
    assert os.getpid() not in {pid for pid, _ in calls}
    assert len({pid for pid, _ in calls}) == 2  # both workers computed some


def test_a_seeded_map_over_a_seeking_input_draws_what_the_sequential_map_draws(tmp_path):
    load, path = _logged(tmp_path)
    expected = values(Dataset.range(50).shuffle(seed=2).map(lambda x: x * 2).map(jitter, seed=9))
    ds = Dataset.range(50).shuffle(seed=2).map(load).map(jitter, seed=9, num_parallel_calls=2,
                                                         processes=True)
    it = iter(ds)
    head = [np.asarray(next(it)).tolist() for _ in range(17)]
    state = it.save()
    restored = iter(Dataset.range(50).shuffle(seed=2).map(load).map(
        jitter, seed=9, num_parallel_calls=1, processes=True))
    restored.restore(state)
    assert head + values(restored) == expected


def test_a_failed_read_of_maps_input_in_a_worker_is_the_consumers_error_at_its_place(tmp_path):
    # The parent never reads element 7 (it seeks past it), so the error it gets is the one the
    # worker's read raised: its type, message and a note saying where; the stream goes on, as
    # with threads.
    load, _ = _logged(tmp_path, fail_at=7)

    def run(errors, **kwargs):
        return _every_element(iter(Dataset.range(12).map(load).map(plus_one, **kwargs)), errors)

    expected = run([], num_parallel_calls=2)
    assert expected[7] == "cannot load record 7"
    errors: list[BaseException] = []
    assert run(errors, num_parallel_calls=2, processes=True) == expected
    assert len(errors) == 1
    notes = getattr(errors[0], "__notes__", [])
    assert any("reading the element at position 7 of map's input" in n for n in notes), notes


class LoggedSource:
    """A from_source source whose reads append "pid index" to a file (a decode step, as users
    put in __getitem__)."""

    def __init__(self, n, path, extra=b""):
        self.n, self.path, self.extra = n, path, extra

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        import os
        with open(self.path, "a") as f:
            f.write(f"{os.getpid()} {i}\n")
        return np.int64(i * 3)


def test_a_python_sources_reads_run_in_the_workers_once_each(tmp_path, frames):
    import os

    import inputpipe
    path = str(tmp_path / "calls.log")
    ds = inputpipe.from_source(LoggedSource(40, path), name="logged").shuffle(seed=4)
    expected = values(ds.map(plus_one))
    os.remove(path)
    ds = inputpipe.from_source(LoggedSource(40, path), name="logged").shuffle(seed=4)
    it = iter(ds.map(plus_one, num_parallel_calls=2, processes=True))
    head = [np.asarray(next(it)).tolist() for _ in range(15)]
    state = it.save()
    del it
    assert frames.get(_processes.wire.CALL, 0) == 0, frames
    calls = _calls(path)
    assert os.getpid() not in {pid for pid, _ in calls}
    assert len({x for _, x in calls}) == len(calls)  # none read twice
    restored = iter(ds.map(plus_one, num_parallel_calls=1, processes=True))
    restored.restore(state)
    assert head + values(restored) == expected


def test_a_source_that_does_not_pickle_or_is_too_large_is_read_by_the_parent(tmp_path, frames,
                                                                             monkeypatch):
    import threading

    import inputpipe
    from inputpipe import _recipes
    path = str(tmp_path / "calls.log")
    locked = LoggedSource(10, path, extra=threading.Lock())
    got = values(inputpipe.from_source(locked).map(plus_one, num_parallel_calls=2,
                                                   processes=True))
    assert got == [plus_one(i * 3) for i in range(10)]
    assert frames.get(_processes.wire.CALL, 0) == 10, frames
    monkeypatch.setattr(_recipes, "MAX_BYTES", 1000)
    large = LoggedSource(10, path, extra=b"x" * 2000)
    got = values(inputpipe.from_source(large).map(plus_one, num_parallel_calls=2,
                                                  processes=True))
    assert got == [plus_one(i * 3) for i in range(10)]
    assert frames.get(_processes.wire.CALL, 0) == 20, frames


@pytest.mark.parametrize("fused", [False, True])
def test_parquet_files_are_opened_and_read_by_the_workers(tmp_path, frames, fused):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    import inputpipe
    files = []
    for f in range(2):
        table = pa.table({"x": np.arange(f * 50, f * 50 + 50, dtype=np.int64)})
        files.append(str(tmp_path / f"part-{f}.parquet"))
        pq.write_table(table, files[-1], row_group_size=16)

    def total(row):
        return np.asarray(row["x"]).sum() * 10 + 1

    def pipeline(**kwargs):
        ds = inputpipe.ParquetDataset(files, columns=["x"]).shuffle(seed=6)
        if fused:
            ds = inputpipe.ParquetDataset(files, columns=["x"]).batch(7)
        return ds.map(total, **kwargs)

    expected = values(pipeline())
    it = iter(pipeline(num_parallel_calls=2, processes=True))
    head = [np.asarray(next(it)).tolist() for _ in range(5)]
    state = it.save()
    assert frames.get(_processes.wire.CALL, 0) == 0, frames
    restored = iter(pipeline(num_parallel_calls=1, processes=True))
    restored.restore(state)
    assert head + values(restored) == expected


def is_kept(x):
    return int(x) % 3 != 1


def test_a_filter_in_processes_reads_a_random_access_input_itself(tmp_path, frames):
    import os
    load, path = _logged(tmp_path)
    expected = [x for x in values(Dataset.range(60).shuffle(seed=8).map(lambda x: x * 2))
                if is_kept(x)]

    def pipeline(workers):
        return Dataset.range(60).shuffle(seed=8).map(load).filter(
            is_kept, num_parallel_calls=workers, processes=True)

    it = iter(pipeline(2))
    head = [np.asarray(next(it)).tolist() for _ in range(11)]
    state = it.save()
    rest = values(it)
    assert head + rest == expected
    assert frames.get(_processes.wire.CALL, 0) == 0, frames
    calls = _calls(path)
    assert sorted(x for _, x in calls) == list(range(60))  # each read once, by one worker
    assert os.getpid() not in {pid for pid, _ in calls}
    restored = iter(pipeline(1))
    restored.restore(state)
    assert values(restored) == rest
    # Without a recipe the elements are still shipped, and the result is the same.
    gen = Dataset.from_generator(lambda: iter(range(30)), output_types="int64")
    assert values(gen.filter(is_kept, num_parallel_calls=2, processes=True)) == [
        x for x in range(30) if is_kept(x)]
    assert frames.get(_processes.wire.CALL, 0) == 30, frames


class FailingSource:
    """from_source's source: element i is i, except where fails(i): a ValueError (or, with
    data_loss, inputpipe.DataLossError, a bad record)."""

    def __init__(self, n, fails, data_loss=False):
        self.n, self.fails, self.data_loss = n, fails, data_loss

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if self.fails(i):
            import inputpipe
            raise (inputpipe.DataLossError if self.data_loss else ValueError)(f"bad {i}")
        return np.int64(i)


def _every_element(it, errors=None):
    """Each element as a list, or the message of the error raised in its place (the
    exceptions themselves appended to `errors` when given)."""
    import inputpipe
    out = []
    while True:
        try:
            out.append(np.asarray(next(it)).tolist())
        except StopIteration:
            return out
        except (ValueError, inputpipe.DataLossError) as e:
            out.append(str(e))
            if errors is not None:
                errors.append(e)


def as_list(*x):
    return np.asarray(x[0]) if len(x) == 1 else tuple(np.asarray(v) for v in x)


@pytest.mark.parametrize("case", ["take", "enumerate", "zip", "batch", "repeat", "shuffle"])
def test_failed_reads_in_maps_input_keep_every_position_with_any_worker_count(case):
    # The parent and the workers must agree on each element's position, errors included: ops
    # whose counts leave a failed read out (take, enumerate, zip) or that read to move (batch,
    # repeat) must not seek in the parent where the workers read.
    import inputpipe

    def pipeline(**kwargs):
        src = inputpipe.from_source(FailingSource(40, lambda i: i % 7 == 2), name="failing")
        ds = {"take": lambda: src.take(20),
              "enumerate": lambda: src.enumerate(),
              "zip": lambda: Dataset.zip((src, Dataset.range(45))),
              "batch": lambda: src.batch(3),
              "repeat": lambda: src.take(10).repeat(2),
              "shuffle": lambda: src.shuffle(seed=3)}[case]()
        return ds.map(as_list, **kwargs)

    expected = _every_element(iter(pipeline(num_parallel_calls=2)))
    assert any(isinstance(e, str) for e in expected)
    for workers in (1, 2, 3):
        assert _every_element(iter(pipeline(num_parallel_calls=workers, processes=True))) == \
            expected, workers


def test_a_sources_bad_record_is_skipped_by_ignore_errors_with_or_without_processes():
    import inputpipe

    def pipeline(**kwargs):
        src = inputpipe.from_source(FailingSource(12, lambda i: i in (3, 8), data_loss=True))
        return src.map(as_list, **kwargs).ignore_errors()

    expected = [i for i in range(12) if i not in (3, 8)]
    assert values(pipeline()) == expected
    assert values(pipeline(num_parallel_calls=2)) == expected
    assert values(pipeline(num_parallel_calls=2, processes=True)) == expected


def test_a_lambda_in_maps_input_is_read_by_the_workers(frames):
    # A rebuilt lambda's digest would differ (cloudpickle keeps its code, not its source): the
    # recipe carries this process's name for it, so the workers restore the parent's states.
    def ds():  # one each: a reshuffling shuffle's second iterator has the next epoch
        return Dataset.range(30).shuffle(seed=2).map(lambda x: x * 2)

    expected = values(ds().map(plus_one))
    it = iter(ds().map(plus_one, num_parallel_calls=2, processes=True))
    head = [np.asarray(next(it)).tolist() for _ in range(7)]
    state = it.save()
    assert head + values(it) == expected
    assert frames.get(_processes.wire.CALL, 0) == 0, frames
    restored = iter(ds().map(plus_one, num_parallel_calls=1, processes=True))
    restored.restore(state)
    assert values(restored) == expected[7:]


def test_parquet_files_of_this_process_only_are_read_by_the_parent(frames):
    pa = pytest.importorskip("pyarrow")
    import io

    import pyarrow.parquet as pq

    import inputpipe
    buf = io.BytesIO()
    pq.write_table(pa.table({"x": np.arange(10, dtype=np.int64)}), buf)
    inputpipe.write_file("memory://by_index/p.parquet", buf.getvalue())

    def x(row):
        return np.asarray(row["x"]) * 10

    ds = inputpipe.ParquetDataset(["memory://by_index/p.parquet"])
    assert values(ds.map(x, num_parallel_calls=2, processes=True)) == [i * 10 for i in range(10)]
    assert frames.get(_processes.wire.CALL, 0) == 10, frames


def draw(x, rng):
    return x * 1000 + rng.integers(0, 1000)


@pytest.mark.parametrize("data_loss", [False, True])
def test_a_failed_read_takes_a_seeded_maps_position_whatever_the_exception(data_loss):
    # A Python exception from map's input counts as a position, as an engine error does, in
    # the sequential map, on threads and in the workers: the same draws after it everywhere.
    import inputpipe

    def pipeline(**kwargs):
        src = inputpipe.from_source(FailingSource(12, lambda i: i in (2, 7), data_loss))
        return src.map(draw, seed=5).map(as_list, **kwargs)

    expected = _every_element(iter(pipeline()))
    assert expected[2] == "bad 2" and expected[7] == "bad 7"
    assert _every_element(iter(pipeline(num_parallel_calls=2))) == expected
    for workers in (1, 2):
        assert _every_element(iter(pipeline(num_parallel_calls=workers, processes=True))) == \
            expected, workers
    if not data_loss:  # a plain exception's draws are a DataLossError's: both take a position
        src = inputpipe.from_source(FailingSource(12, lambda i: i in (2, 7), True))
        assert _every_element(iter(src.map(draw, seed=5))) == expected
