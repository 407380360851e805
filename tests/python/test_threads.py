"""Threads and the GIL: Python callables run on the engine's worker threads (prefetch, parallel
map, parallel interleave) while the consumer's next() has released the GIL. Nothing may
deadlock, errors keep their type, and abandoning an iterator mid-stream stops its threads."""

import gc
import threading

import numpy as np
import pytest

import inputpipe
from inputpipe import Dataset
from inputpipe.testing import assert_exact_resume


class Boom(Exception):
    pass


def test_prefetch_with_python_map():
    ds = Dataset.range(500).map(lambda x: x * 2).prefetch(8)
    assert [int(x) for x in ds] == [x * 2 for x in range(500)]


def test_parallel_python_map_then_prefetch():
    ds = (Dataset.range(300).map(lambda x: np.full([3], x), num_parallel_calls=4)
          .batch(7).prefetch(inputpipe.AUTOTUNE))
    batches = list(ds)
    assert np.concatenate(batches)[:, 0].tolist() == list(range(300))


def test_worker_threads_really_run_the_callable():
    seen = set()

    def record(x):
        seen.add(threading.get_ident())
        return x

    list(Dataset.range(50).map(record).prefetch(4))
    assert seen and threading.get_ident() not in seen


def test_callable_error_on_a_worker_thread_keeps_its_type():
    def explode(x):
        if x == 7:
            raise Boom(f"bad element {int(x)}")
        return x

    for ds in (Dataset.range(20).map(explode).prefetch(4),
               Dataset.range(20).map(explode, num_parallel_calls=3),
               Dataset.range(20).filter(lambda x: explode(x) >= 0).prefetch(2)):
        it = iter(ds)
        got = []
        with pytest.raises(Boom, match="bad element 7"):
            for x in it:
                got.append(int(x))
        assert got == list(range(7))


def test_callable_error_in_the_callers_thread_keeps_its_type():
    with pytest.raises(KeyError):
        list(Dataset.range(3).map(lambda x: {}["missing"]))  # type: ignore[index]
    with pytest.raises(ZeroDivisionError):
        list(Dataset.range(3).flat_map(lambda x: 1 // 0))  # type: ignore[arg-type, return-value]


def test_abandoned_iterator_with_busy_workers_is_freed():
    for _ in range(20):
        it = iter(Dataset.range(10_000).map(lambda x: x + 1, num_parallel_calls=4).prefetch(16))
        next(it)
        del it
        gc.collect()


def test_save_while_workers_run_python():
    ds = Dataset.range(200).map(lambda x: x * 3, num_parallel_calls=4).prefetch(8)
    it = iter(ds)
    head = [int(next(it)) for _ in range(37)]
    state = it.save()
    resumed = iter(ds)
    resumed.restore(state)
    assert head + [int(x) for x in resumed] == [x * 3 for x in range(200)]


def test_save_from_another_thread_while_next_runs_python():
    # save() keeps the GIL when the iterator is free; here another thread's next() holds the
    # iterator while it calls Python on its own thread (a map without threads): save() must
    # wait for it with the GIL released instead of deadlocking.
    def slow(x):
        for _ in range(200):
            pass
        return x

    ds = Dataset.range(3000).map(slow).shuffle(50, seed=3).map(slow, num_parallel_calls=2)
    it = iter(ds)
    taken, states, errors = [], [], []
    stop = threading.Event()

    def consume():
        try:
            for x in it:
                taken.append(int(x))
        except Exception as e:  # surfaced below
            errors.append(e)
        finally:
            stop.set()

    def save():
        while not stop.is_set():
            states.append(it.save())

    threads = [threading.Thread(target=consume), threading.Thread(target=save)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert all(not t.is_alive() for t in threads), "deadlock between save() and next()"
    assert not errors
    assert sorted(taken) == list(range(3000)) and len(states) > 0
    # Each state is a position of this pipeline: it restores, and the rest of the epoch is
    # complete.
    resumed = iter(ds)
    resumed.restore(states[len(states) // 2])
    rest = [int(x) for x in resumed]
    assert len(set(rest)) == len(rest) and set(rest) <= set(range(3000))


def test_python_threads_iterate_concurrently():
    results = {}

    def consume(name, ds):
        results[name] = [int(x) for x in ds]

    threads = [threading.Thread(target=consume,
                                args=(i, Dataset.range(300).map(lambda x, i=i: x + i)
                                      .prefetch(4)))
               for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert all(not t.is_alive() for t in threads)
    assert results == {i: [x + i for x in range(300)] for i in range(4)}


def test_one_iterator_shared_by_python_threads_yields_each_element_once():
    it = iter(Dataset.range(2000).map(lambda x: x).prefetch(4))
    taken = []
    lock = threading.Lock()

    def consume():
        for x in it:
            with lock:
                taken.append(int(x))

    threads = [threading.Thread(target=consume) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(taken) == list(range(2000))


def test_prefetched_python_pipeline_resumes_exactly():
    assert_exact_resume(lambda: Dataset.range(60).map(lambda x: x * x, num_parallel_calls=2)
                        .prefetch(5).batch(4).prefetch(2))


EXIT_WITH_BUSY_WORKERS = """
import time
import inputpipe as ip

def slow(x):
    time.sleep(0.001)
    return x

# Module-level iterators whose worker threads are calling Python when the interpreter exits.
it = iter(ip.Dataset.range(100000).map(slow, num_parallel_calls=4).prefetch(16))
next(it)
it2 = iter(ip.Dataset.range(100000).map(slow).prefetch(16))
next(it2)
it3 = iter(ip.Dataset.range(1000).interleave(lambda x: ip.Dataset.range(x).map(slow),
                                             cycle_length=4, num_parallel_calls=4))
next(it3)

def gen():
    i = 0
    while True:
        time.sleep(0.001)
        yield i
        i += 1

it4 = iter(ip.Dataset.from_generator(gen).prefetch(8))
next(it4)
print("done")
"""


def test_interpreter_exit_with_busy_python_workers():
    import subprocess
    import sys

    for _ in range(3):
        result = subprocess.run([sys.executable, "-c", EXIT_WITH_BUSY_WORKERS],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "done"
