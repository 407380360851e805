"""map(fn, processes=True) when things go wrong: loud, prompt, clean.

A worker killed (SIGKILL) or crashing (SIGSEGV) -> WorkerProcessError naming the worker, its pid,
the signal and the element's position, within seconds; the iterator is then unusable and the
last checkpoint restores into a new one. Ctrl-C in the parent -> one KeyboardInterrupt, no
tracebacks from the workers. The parent SIGKILLed, or exiting, or dropping its iterator -> no
worker outlives it, nothing is left in /dev/shm. The scenarios that signal or kill the parent
run in a child process.
"""

import gc
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import inputpipe
from inputpipe import Dataset
from inputpipe import _processes

from procfs import alive, children_of

HERE = os.path.dirname(os.path.abspath(__file__))


def slow_at_5(x):
    if int(x) == 5:
        time.sleep(30)  # killed before it returns
    return x


def crash_at_5(x):
    if int(x) == 5:
        import ctypes
        ctypes.string_at(0)  # SIGSEGV, as a faulty extension would
    return x


def _wait_until(condition, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def _server_pid():
    return _processes._ForkServer.get()._process.pid


def test_a_killed_worker_is_named_with_its_signal_and_position_then_the_checkpoint_restores():
    def make(fn):  # one name for both functions: the restore sees the same pipeline
        return Dataset.range(10).map(fn, num_parallel_calls=2, processes=True, name="step")
    it = iter(make(slow_at_5))
    assert [int(next(it)) for _ in range(3)] == [0, 1, 2]
    state = it.save()
    assert [int(next(it)) for _ in range(2)] == [3, 4]
    server = _server_pid()
    assert _wait_until(lambda: len(children_of(server)) >= 2, 10)
    # The worker computing element 5: the one whose /proc shows it sleeping longest is not
    # knowable from outside, so kill every worker; the one with element 5 is the one waited on.
    victims = children_of(server)
    start = time.monotonic()
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    with pytest.raises(_processes.WorkerProcessError) as info:
        for _ in range(10):
            next(it)
    elapsed = time.monotonic() - start
    message = str(info.value)
    assert elapsed < 10, elapsed
    assert "SIGKILL" in message and "worker process" in message and "pid" in message, message
    assert "position 5" in message and "map(fn=step)" in message, message
    print(message)
    with pytest.raises(_processes.WorkerProcessError):
        next(it)  # unusable
    del it
    # The last checkpoint restores into a new iterator (a fresh pool).
    fresh = iter(make(lambda x: x))
    fresh.restore(state)
    assert [int(v) for v in fresh] == list(range(3, 10))


def test_a_segfault_in_a_worker_names_sigsegv_and_the_element():
    it = iter(Dataset.range(10).map(crash_at_5, num_parallel_calls=1, processes=True))
    assert [int(next(it)) for _ in range(4)] == list(range(4))
    start = time.monotonic()
    # Element 4 may come first, or be lost with the worker (computed, not sent yet: a worker
    # sends its chunk's results together); the error names the element it was computing.
    with pytest.raises(_processes.WorkerProcessError, match="SIGSEGV") as info:
        assert int(next(it)) == 4
        next(it)
    assert time.monotonic() - start < 10
    assert "position 5" in str(info.value)


def sleeps_at_3(x):
    if int(x) == 3:
        time.sleep(60)  # far past the timeout: killed before it returns
    return x


@pytest.mark.parametrize("source", ["by_index", "shipped"])
def test_a_call_past_the_timeout_fails_its_element_and_a_fresh_worker_takes_over(source):
    # by_index: the workers read the range themselves; shipped: a filter's elements (not
    # random-access) are sent to them (the two paths of processes=True).
    def make(fn):
        ds = Dataset.range(8)
        if source == "shipped":
            ds = ds.filter(lambda x: True)
        return ds.map(fn, num_parallel_calls=2, processes=True, timeout=0.5, name="step")
    it = iter(make(sleeps_at_3))
    assert int(next(it)) == 0
    state = it.save()
    start = time.monotonic()
    assert [int(next(it)) for _ in range(2)] == [1, 2]
    with pytest.raises(inputpipe.WorkerTimeoutError) as info:
        next(it)
    assert time.monotonic() - start < 10
    message = str(info.value)
    assert isinstance(info.value, inputpipe.WorkerProcessError)
    assert isinstance(info.value, TimeoutError)
    assert "map(fn=step)" in message and "timeout=0.5" in message, message
    assert "position 3" in message and "pid " in message, message
    pid = int(message.split("pid ")[1].split(")")[0])
    assert _wait_until(lambda: not alive(pid), 5), "the worker that timed out is killed"
    # As if fn had raised at 3: the rest comes, computed by the other worker and a fresh one.
    assert [int(v) for v in it] == [4, 5, 6, 7]
    fresh = iter(make(lambda x: x))  # the checkpoint before restores, as after any error
    fresh.restore(state)
    assert [int(v) for v in fresh] == list(range(1, 8))


def keeps_all_but_hangs_at_3(x):
    return sleeps_at_3(x) is not None


def test_a_predicate_past_the_timeout_fails_its_element_and_the_filter_goes_on():
    it = iter(Dataset.range(6).filter(keeps_all_but_hangs_at_3, num_parallel_calls=2,
                                      processes=True, timeout=0.5))
    assert [int(next(it)) for _ in range(3)] == [0, 1, 2]
    with pytest.raises(inputpipe.WorkerTimeoutError, match="filter.predicate=.*position 3"):
        next(it)
    assert [int(v) for v in it] == [4, 5]


def test_timeout_needs_processes_and_a_positive_number():
    with pytest.raises(ValueError, match="processes=True"):
        Dataset.range(3).map(lambda x: x, timeout=1)
    with pytest.raises(ValueError, match="> 0"):
        Dataset.range(3).map(lambda x: x, num_parallel_calls=1, processes=True, timeout=0)
    with pytest.raises(TypeError, match="number of seconds"):
        Dataset.range(3).map(lambda x: x, num_parallel_calls=1, processes=True,
                             timeout="1")  # type: ignore[arg-type]


def test_dropping_the_iterator_ends_its_workers():
    ds = Dataset.range(100).map(lambda x: x, num_parallel_calls=2, processes=True)
    server = _server_pid()
    before = set(children_of(server))
    it = iter(ds)
    next(it)
    # The first element needs only the first worker: the second may still be starting.
    assert _wait_until(lambda: len(set(children_of(server)) - before) == 2, 5)
    workers = set(children_of(server)) - before
    del it
    assert _wait_until(lambda: not any(alive(p) for p in workers), 5)


CHILD = r'''
import json, os, signal, sys, threading, time
from inputpipe import Dataset, _processes

scenario = sys.argv[1]

def slow(x):
    time.sleep(0.2)
    return x

def report(**kw):
    print(json.dumps(kw), flush=True)

ds = Dataset.range(1000).map(slow, num_parallel_calls=2, processes=True)
it = iter(ds)
next(it)
server = _processes._ForkServer.get()._process.pid
workers = [int(p) for p in os.popen(f"pgrep -P {server}").read().split()]
report(server=server, workers=workers)
if scenario == "sigint":
    threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
    start = time.monotonic()
    try:
        for _ in it:
            pass
    except KeyboardInterrupt:
        report(interrupted=True, delay=time.monotonic() - start)
    raise KeyboardInterrupt  # as an unhandled Ctrl-C ends a training script
elif scenario == "exit":
    sys.exit(0)  # the iterator still alive: the interpreter's exit ends the workers
elif scenario == "sigkill":
    time.sleep(60)  # killed by the test
'''


def _run_child(scenario):
    shm_before = set(os.listdir("/dev/shm"))
    proc = subprocess.Popen([sys.executable, "-c", CHILD, scenario], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    assert proc.stdout is not None
    first = json.loads(proc.stdout.readline())
    return proc, first, shm_before


def _ours(names):
    # Other programs on the machine use /dev/shm too (multiprocessing's sem.mp-*, psm_*);
    # inputpipe never names an entry there (memfds), so any of ours would say so.
    return {n for n in names if "inputpipe" in n}


def _assert_no_orphans(first, shm_before):
    pids = [first["server"]] + first["workers"]
    assert len(first["workers"]) == 2
    assert _wait_until(lambda: not any(alive(p) for p in pids), 5), \
        [p for p in pids if alive(p)]
    assert _ours(set(os.listdir("/dev/shm")) - shm_before) == set()


def test_ctrl_c_stops_the_workers_without_a_flood_of_tracebacks():
    proc, first, shm_before = _run_child("sigint")
    out, err = proc.communicate(timeout=60)
    reports = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert reports and reports[0]["interrupted"] and reports[0]["delay"] < 5, (out, err)
    assert err.count("Traceback") == 1, err  # the parent's own KeyboardInterrupt, nothing else
    _assert_no_orphans(first, shm_before)


def test_exiting_the_interpreter_ends_the_workers():
    proc, first, shm_before = _run_child("exit")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    _assert_no_orphans(first, shm_before)


def test_no_worker_outlives_a_sigkilled_parent():
    proc, first, shm_before = _run_child("sigkill")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    _assert_no_orphans(first, shm_before)


def _maps_while_computing(row):
    with open("/proc/self/maps") as f:
        maps = f.read()
    # The input row (4 MiB) came through an anonymous memfd; nothing maps a /dev/shm file.
    return row + 1, "memfd:inputpipe" in maps, "/dev/shm/" in maps


def test_large_elements_travel_through_anonymous_shared_memory_not_dev_shm(monkeypatch):
    from inputpipe import _process_worker as wire
    monkeypatch.setattr(wire, "SHARED_MEMORY_BYTES", 1 << 20)  # 16 MiB by default
    before = set(os.listdir("/dev/shm"))
    big = np.ones((4, 1 << 20), dtype=np.float32)
    out = list(Dataset.from_tensor_slices(big).map(_maps_while_computing, num_parallel_calls=2,
                                                   processes=True))
    assert len(out) == 4 and float(out[3][0][0]) == 2.0
    assert all(bool(in_memfd) and not bool(in_shm) for _, in_memfd, in_shm in out)
    assert _ours(set(os.listdir("/dev/shm")) - before) == set()


FORK_CHILD = r"""
import os, sys
import inputpipe
ds = inputpipe.Dataset.range(20).map(lambda x: x * 3, num_parallel_calls=2, processes=True)
it = iter(ds)
first = [int(next(it)) for _ in range(5)]
pid = os.fork()
if pid == 0:
    # The child exits through the interpreter (atexit runs), or uses processes itself.
    if sys.argv[1] == "use":
        child = inputpipe.Dataset.range(4).map(lambda x: x + 1, processes=True)
        assert [int(v) for v in child] == [1, 2, 3, 4]
    sys.exit(0)
os.waitpid(pid, 0)
print(first + [int(v) for v in it])
"""


@pytest.mark.parametrize("child", ["exit", "use"])
def test_a_forked_child_leaves_the_parents_workers_alone(child):
    result = subprocess.run([sys.executable, "-c", FORK_CHILD, child], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str([3 * i for i in range(20)])


HUNG_CHILD = r'''
import faulthandler, sys, time
faulthandler.dump_traceback_later(15, exit=True)  # a hang shows its threads' stacks
import inputpipe
from inputpipe import Dataset

def hangs_after_0(x):
    if int(x) > 0:
        time.sleep(10_000)  # a call that never returns (a hung request, a deadlock)
    return x

path, above = sys.argv[1:]
source = Dataset.range(100)
if path == "elements":
    source = source.filter(lambda x: True)  # no recipe: the parent ships the elements
if path == "one process":  # processes=True alone: one worker, called from map's own thread
    ds = source.map(hangs_after_0, processes=True)
else:
    ds = source.map(hangs_after_0, num_parallel_calls=2, processes=True)
if above == "prefetch":
    ds = ds.prefetch(2)
elif above == "batch, prefetch":
    ds = ds.batch(1).prefetch(2)
elif above == "threads map":
    ds = ds.map(lambda x: x, num_parallel_calls=2)
elif above == "parallel interleave":
    inner = ds
    ds = Dataset.range(1).interleave(lambda _: inner, cycle_length=1, num_parallel_calls=1)
it = iter(ds)
first = next(it)
assert int(first if getattr(first, "ndim", 0) == 0 else first[0]) == 0
time.sleep(0.3)  # the engine threads are now inside a call that never returns
del it  # waited for those calls before: the destruction hung
print("dropped", flush=True)
'''


# "indices": the workers read map's input themselves; "elements": the parent sends them. An op
# with threads above the map joins a thread that waits inside the map's call.
@pytest.mark.parametrize("path, above", [
    ("indices", "nothing"), ("elements", "nothing"),
    ("indices", "prefetch"), ("elements", "prefetch"), ("one process", "prefetch"),
    ("indices", "batch, prefetch"), ("elements", "threads map"),
    ("indices", "parallel interleave")])
def test_dropping_an_iterator_whose_function_never_returns_does_not_hang(path, above):
    start = time.monotonic()
    result = subprocess.run([sys.executable, "-c", HUNG_CHILD, path, above], capture_output=True,
                            text=True, timeout=20, start_new_session=True)
    assert result.returncode == 0, result.stderr
    assert "dropped" in result.stdout
    assert time.monotonic() - start < 10


SLOW_SECOND_CHILD = r'''
import faulthandler, time
faulthandler.dump_traceback_later(15, exit=True)
from inputpipe import Dataset

def second_never_returns(x):
    if int(x) == 0:
        time.sleep(0.2)  # both engine threads are waiting on worker 0 by now
    elif int(x) == 1:
        time.sleep(10_000)
    return x

ds = Dataset.range(100).map(second_never_returns, num_parallel_calls=2, processes=True)
firsts = []
for _ in range(40):  # which thread takes worker 0's socket first varies: try it several times
    it = iter(ds)
    firsts.append(int(next(it)))
    del it
print(firsts, flush=True)
'''


# Elements 0 and 1 are in worker 0's first chunk. The engine thread waiting for element 1 may
# hold that worker's socket, reading for ever; the thread waiting for element 0 must still get
# it, which the first thread has read meanwhile. It hung.
def test_an_element_read_by_the_thread_waiting_for_a_hung_one_is_delivered():
    result = subprocess.run([sys.executable, "-c", SLOW_SECOND_CHILD], capture_output=True,
                            text=True, timeout=30, start_new_session=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str([0] * 40)


INTERRUPTED_CLOSE_CHILD = r'''
import sys, time
from inputpipe import Dataset, _processes

def hangs_after_0(x):
    if int(x) > 0:
        time.sleep(10_000)
    return x

# A Ctrl-C landing in the pool's close, just after it killed the first busy worker: the
# second one was left alive, its engine thread blocked for ever, and the drop hung joining it.
end_worker = _processes._end_worker
interrupted = []
def end_then_interrupt(worker, busy):
    end_worker(worker, busy)
    if busy and not interrupted:
        interrupted.append(worker.index)
        raise KeyboardInterrupt
_processes._end_worker = end_then_interrupt

source = Dataset.range(100)
if sys.argv[1] == "elements":
    source = source.filter(lambda x: True)  # no recipe: the parent ships the elements
it = iter(source.map(hangs_after_0, num_parallel_calls=2, processes=True))
assert int(next(it)) == 0
time.sleep(0.3)  # both workers busy with a call that never returns
del it
print("dropped", interrupted, flush=True)
'''


# "indices": the workers read map's input themselves; "elements": the parent sends them.
@pytest.mark.parametrize("path", ["indices", "elements"])
def test_a_ctrl_c_inside_the_pools_close_still_ends_every_worker(path):
    result = subprocess.run([sys.executable, "-c", INTERRUPTED_CLOSE_CHILD, path],
                            capture_output=True, text=True, timeout=30, start_new_session=True)
    assert result.returncode == 0, result.stderr
    assert "dropped [" in result.stdout and "dropped []" not in result.stdout, (
        result.stdout, result.stderr)


def test_a_ctrl_c_while_the_fork_server_starts_leaves_no_error_in_a_destructor(monkeypatch):
    def interrupted():
        raise KeyboardInterrupt  # a Ctrl-C while map(processes=True) starts the fork server
    unraisable: list = []
    monkeypatch.setattr(_processes._ForkServer, "get", staticmethod(interrupted))
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    with pytest.raises(KeyboardInterrupt):
        Dataset.range(3).map(lambda x: x, processes=True)
    gc.collect()  # the half-built ProcessFunction's __del__ raised AttributeError ('_server')
    assert not unraisable, [u.exc_value for u in unraisable]


FORGET_UNDER_SEND_CHILD = r'''
import gc
from inputpipe import _processes

server = _processes._ForkServer.get()
fn = _processes.ProcessFunction(lambda x: x, 1, "map(fn=f)")
function_id = fn._id
with server._send_lock:  # this thread inside a send (pickling a frame): a collection here
    del fn               # runs the function's __del__, whose forget() waited for this lock
    gc.collect()
print("not deadlocked", flush=True)
server.register(-1, b"")  # the next send also sends the queued forget
assert function_id not in server._functions
print("forgotten", flush=True)
'''


def test_a_function_collected_during_a_send_does_not_deadlock_on_the_send_lock():
    # Seen as a test run hanging in _ForkServer.register: the garbage collector collected
    # another ProcessFunction while the frame was being pickled.
    result = subprocess.run([sys.executable, "-c", FORGET_UNDER_SEND_CHILD],
                            capture_output=True, text=True, timeout=20, start_new_session=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["not", "deadlocked", "forgotten"]


LEASE_UNDER_LOCK_CHILD = r'''
from inputpipe import _processes

fn = _processes.ProcessFunction(lambda x: x, 1, "map(fn=f)")
lease = fn._inputpipe_hold_for_iterator()
with fn._lock:  # this thread inside _current_pool: a collection here destroys an iterator
    del lease   # in a reference cycle, whose lease release waited for this lock
print("released", fn.worker_pids(), flush=True)
'''


def test_an_iterator_destroyed_by_the_collector_under_the_functions_lock_does_not_deadlock():
    result = subprocess.run([sys.executable, "-c", LEASE_UNDER_LOCK_CHILD],
                            capture_output=True, text=True, timeout=20, start_new_session=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["released", "[]"]  # the last lease ended the pool


def test_a_call_after_its_iterator_released_the_workers_fails_rather_than_starting_new_ones(
        monkeypatch):
    # An engine thread past its stopping check just as its iterator's destruction released the
    # lease: that late call started a fresh pool nothing would end, a call that never returns
    # then kept the destruction joining its thread for ever.
    monkeypatch.setattr(_processes._core, "_current_map_caller", lambda: 1234)
    fn = _processes.ProcessFunction(lambda x: x + 1, 1, "map(fn=f)")
    try:
        lease = fn._inputpipe_hold_for_iterator()
        assert fn(1) == 2
        del lease
        with pytest.raises(_processes.WorkerProcessError, match="stopped"):
            fn(1)
        assert fn.worker_pids() == []  # no pool was started for it
        # The check is made under the lock the release takes, where the pool would be made.
        with pytest.raises(_processes.WorkerProcessError, match="stopped"):
            fn._current_pool(fresh=False, caller=1234)
        lease = fn._inputpipe_hold_for_iterator()  # a new iterator where the dropped one was
        assert fn(2) == 3
        del lease
    finally:
        fn.close()


TWO_ITERATORS_CHILD = r'''
import faulthandler, time
faulthandler.dump_traceback_later(15, exit=True)
from inputpipe import Dataset

def slow(x):
    time.sleep(0.001)
    return x + 1

m = Dataset.range(10**6).map(slow, num_parallel_calls=2, processes=True)
keep = iter(m)
first = int(next(keep))
for _ in range(5):  # each drop forgets its stream while `keep` holds the workers
    it = iter(m)
    next(it)
    del it
for _ in range(3):  # two streams of one pool in one iterator
    it = iter(Dataset.zip((m, m)))
    next(it)
    del it
print("dropped", first, int(next(keep)), flush=True)
'''


def test_dropping_one_of_two_live_iterators_of_a_map_read_by_index_does_not_hang():
    # The dropped iterator's engine thread waited in recv for a result of its forgotten
    # stream: no EOF came (the other iterator kept the workers), so its drop hung.
    result = subprocess.run([sys.executable, "-c", TWO_ITERATORS_CHILD], capture_output=True,
                            text=True, timeout=60, start_new_session=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["dropped", "1", "2"]


DAEMON_AT_EXIT_CHILD = r'''
import threading, time
import numpy as np
from inputpipe import Dataset

def slow(x):
    time.sleep(0.02)
    return np.full(300_000, int(x), np.uint8)

ds = Dataset.range(10**6).map(slow, num_parallel_calls=2, processes=True)
threading.Thread(target=lambda: [None for _ in ds], daemon=True).start()
time.sleep(0.5)
'''


def test_a_daemon_thread_inside_next_at_exit_neither_aborts_nor_raises():
    # At exit the pools stop while a daemon thread waits in next(): the error that stop gives
    # its calls was carried in a nanobind::python_error, whose destructor took the GIL on a
    # thread that finalisation ends (std::terminate, SIGABRT); and the thread raised
    # WorkerProcessError ("Exception in thread") where threads alone exit silently.
    for _ in range(4):
        result = subprocess.run([sys.executable, "-c", DAEMON_AT_EXIT_CHILD], capture_output=True,
                                text=True, timeout=60)
        assert result.returncode == 0, result.stderr[-2000:]
        assert result.stderr == ""
