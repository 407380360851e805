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
