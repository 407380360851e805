"""An iterator's life and death around threads: re-entrant use from its own callables is a
ValueError (as a generator's "already executing"), the garbage collector may destroy it on one of
its own worker threads, and the interpreter may exit while a daemon thread is inside next().
The crash cases run in child processes: before the fixes they aborted (rc 134) or hung."""

import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

from inputpipe import Dataset

ALREADY = "already executing"


def run_bounded(fn, timeout=30):
    """fn() on a daemon thread: its result or exception, or a failure if it never returns (the
    deadlock these tests pin)."""
    out = {}

    def target():
        try:
            out["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the test
            out["error"] = e

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), "deadlock: the call never returned"
    if "error" in out:
        raise out["error"]
    return out["value"]


def run_child(code, timeout=60):
    """Runs `code` in a fresh interpreter; (returncode, stdout + stderr)."""
    p = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                       text=True, timeout=timeout)
    return p.returncode, p.stdout + p.stderr


# ---- Re-entrance -------------------------------------------------------------------------------

def self_calling(make, call, at=2):
    """An iterator of make(fn) whose fn calls call(it) on element `at`."""
    holder: dict = {}

    def fn(x):
        if int(x) == at:
            call(holder["it"])
        return x

    it = iter(make(fn))
    holder["it"] = it
    return it


PIPELINES = {
    "map": lambda fn: Dataset.range(10).map(fn),
    "filter": lambda fn: Dataset.range(10).filter(lambda x: fn(x) >= 0),
    "parallel_map": lambda fn: Dataset.range(10).map(fn, num_parallel_calls=3),
    "prefetch": lambda fn: Dataset.range(10).map(fn).prefetch(2),
    "parallel_map_prefetch": lambda fn: Dataset.range(10).map(
        fn, num_parallel_calls=2).prefetch(2),
}


@pytest.mark.parametrize("pipeline", sorted(PIPELINES))
@pytest.mark.parametrize("method", ["next", "save"])
def test_own_callable_calling_the_iterator_is_a_value_error(pipeline, method):
    call = {"next": next, "save": lambda it: it.save()}[method]
    it = self_calling(PIPELINES[pipeline], call)
    with pytest.raises(ValueError, match=ALREADY):
        run_bounded(lambda: list(it))


def test_own_callable_calling_restore_is_a_value_error():
    state = iter(Dataset.range(10)).save()
    it = self_calling(PIPELINES["map"], lambda it: it.restore(state))
    with pytest.raises(ValueError, match=ALREADY):
        run_bounded(lambda: list(it))


def test_own_generator_calling_the_iterator_is_a_value_error():
    holder: dict = {}

    def gen():
        yield 1
        next(holder["it"])
        yield 2

    for ds in (Dataset.from_generator(gen), Dataset.from_generator(gen).prefetch(2)):
        it = iter(ds)
        holder["it"] = it
        with pytest.raises(ValueError, match=ALREADY):
            run_bounded(lambda: list(it))


def test_the_error_names_the_method():
    it = self_calling(PIPELINES["map"], lambda it: it.save())
    with pytest.raises(ValueError, match=r"save\(\): iterator already executing"):
        run_bounded(lambda: list(it))


def test_own_callable_saving_through_a_hook_is_a_value_error(tmp_path):
    from inputpipe import CheckpointInputPipelineHook

    holder: dict = {}
    it = self_calling(PIPELINES["parallel_map"], lambda it: holder["hook"].save(5))
    with CheckpointInputPipelineHook(it, str(tmp_path), save_steps=1000) as hook:
        holder["hook"] = hook
        with pytest.raises(ValueError, match="CheckpointInputPipelineHook: iterator " + ALREADY):
            run_bounded(lambda: list(it))


def test_callables_may_use_other_iterators():
    # Not re-entrance: a map function (here on worker threads too) driving iterators of its own,
    # threaded ones included, and an iterator shared with an unrelated thread.
    def inner_sum(x):
        return sum(int(v) for v in Dataset.range(int(x) + 1).map(
            lambda v: v, num_parallel_calls=2).prefetch(2))

    for ds in (Dataset.range(20).map(inner_sum),
               Dataset.range(20).map(inner_sum, num_parallel_calls=3).prefetch(2)):
        assert run_bounded(lambda: [int(v) for v in ds]) == [x * (x + 1) // 2 for x in range(20)]

    other = iter(Dataset.range(1000))
    got = run_bounded(lambda: [int(v) for v in Dataset.range(100).map(
        lambda x: next(other), num_parallel_calls=4)])
    assert sorted(got) == list(range(100))


# ---- Destruction on the iterator's own worker thread ----------------------------------------

GC_ON_WORKER = """
import gc, os, threading, time, weakref
from inputpipe import Dataset

def engine_threads():
    return len(os.listdir("/proc/self/task")) - threading.active_count()

dropped = threading.Event()
calls = []

class Token:
    pass

def build():
    token = Token()            # lives as long as fn, so as long as the C++ dataset

    def fn(x):
        token
        calls.append(int(x))
        if int(x) >= 1:        # run ahead of the consumer, after it let the iterator go
            dropped.wait(10)
            gc.collect()       # collects the cycle: the iterator dies on this very thread
        return x

    return iter(PIPELINE), weakref.ref(token)

gc.disable()                   # so that only the worker's collect() can find the cycle
baseline = engine_threads()
it, token = build()
assert int(next(it)) == 0
cycle = [it]
cycle.append(cycle)
del it, cycle
dropped.set()
deadline = time.time() + 20
while token() is not None and time.time() < deadline:
    time.sleep(0.05)
assert token() is None, "the iterator was never destroyed"
n = len(calls)
time.sleep(0.2)
assert len(calls) == n, "the iterator's threads still run the map function"
assert engine_threads() <= baseline + 1, ("threads left running", engine_threads(), baseline)
print("ok")
"""


@pytest.mark.parametrize("pipeline", [
    "Dataset.range(10**9).map(fn, num_parallel_calls=2)",
    "Dataset.range(10**9).map(fn).prefetch(2)",
    "Dataset.range(10**9).map(fn, num_parallel_calls=2).prefetch(3)",
])
def test_garbage_collector_on_the_iterators_own_worker_thread(pipeline):
    rc, out = run_child(GC_ON_WORKER.replace("PIPELINE", pipeline))
    assert rc == 0 and out.strip().endswith("ok"), out


def test_del_of_the_last_reference_on_a_worker_thread():
    rc, out = run_child("""
        import threading
        from inputpipe import Dataset
        holder = {}
        go, done = threading.Event(), threading.Event()
        def fn(x):
            if int(x) >= 1:           # run ahead, once the consumer has returned
                go.wait(10)
                if holder.pop("it", None) is not None:  # the last reference dies here
                    done.set()
            return x
        holder["it"] = iter(Dataset.range(10**9).map(fn, num_parallel_calls=2))
        assert int(next(holder["it"])) == 0
        go.set()
        assert done.wait(20)
        print("ok")
    """)
    assert rc == 0 and out.strip().endswith("ok"), out


# ---- Interpreter exit with a daemon thread inside next() -----------------------------------

DAEMON_EXIT = """
import queue, threading
from inputpipe import Dataset

def fill(ds, q):
    for x in ds:
        q.put(x)

pipelines = [
    Dataset.range(10**9),
    Dataset.range(10**9).prefetch(4),
    Dataset.range(10**9).map(lambda x: x + 1),
    Dataset.range(10**9).map(lambda x: x + 1, num_parallel_calls=4),
    Dataset.range(10**9).map(lambda x: x + 1, num_parallel_calls=2).prefetch(2),
]
queues = []
for ds in pipelines:
    q = queue.Queue(maxsize=8)
    threading.Thread(target=fill, args=(ds, q), daemon=True).start()
    queues.append(q)
for _ in range(50):
    for q in queues:
        q.get()
print("ok")
"""


def test_interpreter_exit_with_daemon_threads_inside_next():
    procs = []
    for _ in range(20):
        procs.append(subprocess.Popen([sys.executable, "-c", DAEMON_EXIT], text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    results = [(p.wait(timeout=120), p.stdout.read() if p.stdout else "") for p in procs]
    for rc, out in results:
        assert rc == 0 and out.strip().endswith("ok"), (rc, out)


def test_interpreter_exit_while_the_garbage_collector_reaps_on_a_worker():
    # The reaper may still be at work when the interpreter exits: nothing aborts.
    code = GC_ON_WORKER.replace("PIPELINE", "Dataset.range(10**9).map(fn, num_parallel_calls=2)")
    code = code.split("deadline =")[0] + "print('ok')\n"
    assert "gc.collect()" in code and code.endswith("dropped.set()\nprint('ok')\n")
    for _ in range(5):
        rc, out = run_child(code)
        assert rc == 0 and out.strip().endswith("ok"), out
