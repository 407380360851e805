"""Python functions in worker processes: map(fn, num_parallel_calls=N, processes=True).

    ds = Dataset.range(10_000).map(decode, num_parallel_calls=4, processes=True).batch(32)

The engine's parallel map already does the hard part: its N threads call fn on the elements in
input order, it delivers the results in order, and its state is the consumer's position (each
element paired with its input's state), whatever N is. Here fn is replaced by a ProcessFunction:
a callable that sends its arguments to a free worker process, waits for the result with the GIL
released, and returns it (or raises the worker's exception: same type, message, and the worker's
traceback as a note). N threads drive N processes; the state is the same bytes as map(fn) with
threads or none, by construction, and the fingerprint names fn, never the proxy.

Pool lifetime: one pool per ProcessFunction (per map op), started by the first iterator that
calls it and ended when the last iterator holding it is destroyed (FunctionOptions::
hold_for_iterator: each map iterator holds a lease from its first call until it is destroyed).
Two live iterators of one dataset share the pool (N processes, not 2N); the function is per
dataset in the engine, and so is the pool. Calls made without an iterator (a random-access Get,
e.g. a global shuffle after the map) start it too; it then lives until the dataset is dropped
or the interpreter exits.

Failure: a worker that dies breaks its pool: the call raises WorkerProcessError naming the
worker's index, pid, its exit signal (or code) and the element's position; so does every later
call, until a new iterator starts, which gets a fresh pool (restore the last checkpoint into it).
timeout=T: a call that runs longer raises WorkerTimeoutError for its element, as if fn had
raised it; its worker is killed and a fresh one takes its place (the pool is not broken).

Reading by index: when map's input is random-access and can be rebuilt in another process
(a Dataset recipe, _recipes.py), and the map runs on the engine's threads (num_parallel_calls
given), the workers read the input themselves; the parent ships no element. Each iterator
opens a stream at its hold (CurrentMapStart: its input's state as bytes, its first position):
every worker restores its own copy of the input there. A call for position p then names
offset p - start of that stream: the parent sends CHUNK frames (CHUNK_SIZE offsets first, then
twice as many each time up to MAX_CHUNK_SIZE), round robin over the workers and up to
AHEAD_CHUNKS chunks per worker ahead of the calls, so the workers compute while the parent
waits for results in order; a worker moves its iterator over the other workers' chunks without
converting them (_core._skip) and sends each chunk's results in one RESULTS frame (earlier, in
parts, when an element is slow). Each worker's progress record (wire.Progress, shared memory)
says which element it computes since when: for the errors and the timeout. Nothing of this is in the
state: it is the engine's, the same bytes with 1, 2 or 32 workers, and a restore opens new
streams at the restored state. Calls made without an iterator (a random-access Get of the map)
still ship their element to a pool of their own.

The wire format and the worker side are in _process_worker.py (standard library only).
"""

import atexit
import bisect
import collections
import itertools
import os
import pickle
import select
import signal
import time
import socket
import subprocess
import sys
import threading
import weakref

from inputpipe import _core
from inputpipe import _process_worker as wire


class WorkerProcessError(RuntimeError):
    """A worker process of map(fn, processes=True) died (killed, crashed, out of memory), or the
    fork server that starts them could not run. The iterator whose call failed is unusable;
    restore its last checkpoint into a new iterator."""


class WorkerTimeoutError(WorkerProcessError, TimeoutError):
    """A call of map(fn, processes=True, timeout=T) ran longer than T seconds. It is raised in
    that element's place, in order, as if fn had raised it; the worker was killed and a fresh
    one took its place, so the iterator goes on with the next element."""


def _stopped(what, exiting=False):
    """The error of a call made after its pool was stopped."""
    why = "the iterator was dropped" + (" or the interpreter exits" if exiting else "")
    return WorkerProcessError(f"{what}: the worker processes were stopped ({why})")


def _timeout_error(what, index, pid, position, timeout):
    where = "" if position is None or position < 0 else (
        f" computing the element at position {position} of map's input")
    return WorkerTimeoutError(
        f"{what}: worker process {index} (pid {pid}) ran longer than timeout={timeout:g} s"
        f"{where}; it was killed and a fresh worker takes its place")


def _wait_readable(sock, seconds):
    """Whether sock has something to read (or its end) within `seconds`."""
    readable, _, _ = select.select([sock], [], [], max(0.0, seconds))
    return bool(readable)


# Where results' arrays are received: C++ memory, which the engine's tensors then point into
# rather than copying it, and release on any thread without the GIL (_core._ResultBuffer).
_RESULT_BUFFERS = (_core._ResultBuffer.allocate, _core._ResultBuffer.map)


# How often a call waiting for a worker looks whether to give up: its engine thread's iterator
# being destroyed (above the map: a prefetch joining its thread, which waits here), or its
# stream forgotten (its iterator dropped while another iterator of the same map keeps the
# workers busy, so no EOF wakes it).
_POLL_S = 0.05


def _give_up_if_stopping(what):
    """Raises when the calling engine thread's iterator is being destroyed: a call that never
    returns must not keep the destruction joining this thread for ever."""
    if _core._engine_thread_stopping():
        raise _stopped(what)


def _wait_reply(sock, seconds, what):
    """Whether sock becomes readable within `seconds` (None: however long it takes), giving
    up (_give_up_if_stopping) meanwhile."""
    deadline = None if seconds is None else time.monotonic() + seconds
    while True:
        step = _POLL_S if deadline is None else min(_POLL_S, deadline - time.monotonic())
        if _wait_readable(sock, step):
            return True
        _give_up_if_stopping(what)
        if deadline is not None and time.monotonic() >= deadline:
            return False


def worker_count(num_parallel_calls):
    """The number of worker processes: N, or one per CPU this process may run on for AUTOTUNE
    (the affinity mask, not the machine's cores: a container or taskset restricts it)."""
    from inputpipe._core import AUTOTUNE
    if num_parallel_calls is None:
        return 1
    n = int(num_parallel_calls)
    if n == AUTOTUNE:
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # not Linux
            return max(1, os.cpu_count() or 1)
    if n <= 0:
        raise ValueError(f"processes=True needs num_parallel_calls > 0 or AUTOTUNE, got {n}")
    return n


def checked_timeout(timeout, op):
    """timeout= of map/filter(processes=True): None, or a positive number of seconds."""
    if timeout is None:
        return None
    import numbers
    if not isinstance(timeout, numbers.Real) or isinstance(timeout, bool):
        raise TypeError(f"{op}: timeout must be a number of seconds, got "
                        f"{type(timeout).__name__}")
    seconds = float(timeout)
    if not seconds > 0:
        raise ValueError(f"{op}: timeout must be > 0 seconds, got {timeout!r}")
    return seconds


# ---- The fork server -----------------------------------------------------------------------


class _ForkServer:
    """The one fork server of this process (see _process_worker.py): started on first use,
    replaced if it dies. A reader thread takes its replies: the pids of forked workers, in
    order, and the wait status of each worker that exited."""

    _lock = threading.Lock()
    _current = None

    @classmethod
    def get(cls):
        with cls._lock:
            # After os.fork() the inherited server is the parent's: this process starts its own.
            if cls._current is None or cls._current.dead or cls._current.owner != os.getpid():
                cls._current = _ForkServer()
            return cls._current

    @classmethod
    def close_current(cls):
        with cls._lock:
            server, cls._current = cls._current, None
        if server is not None:
            server.close()

    def __init__(self):
        self.owner = os.getpid()
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self._ctl = parent
        self._send_lock = threading.Lock()
        self._cv = threading.Condition()
        self._pending = []  # [result dict] of FORK frames without a reply yet, in order
        self._functions = set()  # ids of the functions sent to this server
        self._forgotten = []  # ids to forget, sent by the next holder of _send_lock
        self._statuses = {}  # pid -> wait status
        self.dead = False
        # Run by path from -c, not as a script: a script's directory (inputpipe's own) would
        # come first in sys.path and shadow top-level modules; -P (3.11+) keeps the current
        # directory out too. The environment is kept (PYTHONHASHSEED, PYTHONWARNINGS, ...);
        # the server takes this process's sys.path before importing anything of the user's.
        safe_path = ["-P"] if sys.version_info >= (3, 11) else []
        self._process = subprocess.Popen(
            [sys.executable, *safe_path, "-c",
             "import runpy, sys; runpy.run_path(sys.argv[1], run_name='__main__')",
             wire.__file__, str(child.fileno())],
            pass_fds=[child.fileno()], stdin=subprocess.DEVNULL, close_fds=True)
        child.close()
        from inputpipe import _fingerprint
        wire.send_frame(self._ctl, wire.INIT, (list(sys.path), ["numpy", "cloudpickle", "ctypes"],
                                               _fingerprint.main_module_name()))
        self._reader = threading.Thread(target=self._read, name="inputpipe-fork-server",
                                        daemon=True)
        self._reader.start()

    def _read(self):
        try:
            while True:
                kind, obj, _ = wire.recv_frame(self._ctl)
                with self._cv:
                    if kind == wire.FORKED:
                        self._pending.pop(0)["pid"] = obj[0]
                        self._statuses.pop(obj[0], None)  # a reused pid: not that one's end
                    elif kind == wire.EXITED:
                        self._statuses[obj[0]] = obj[1]
                    self._cv.notify_all()
        except (EOFError, OSError):
            pass
        with self._cv:
            self.dead = True
            for request in self._pending:
                request["pid"] = None
            self._pending.clear()
            self._cv.notify_all()

    def register(self, function_id, fn_bytes):
        """Sends a function to the server once (it unpickles it, importing its modules)."""
        with self._send_lock:
            if function_id not in self._functions:
                wire.send_frame(self._ctl, wire.FUNCTION, (function_id, fn_bytes))
                self._functions.add(function_id)
            self._send_forgotten()

    def preload(self, upstream):
        """Has the server rebuild a pickled input (PRELOAD): workers forked later start with it."""
        with self._send_lock:
            if not self.dead:
                try:
                    wire.send_frame(self._ctl, wire.PRELOAD, (upstream,))
                except OSError:
                    pass

    def forget(self, function_id):
        """Tells the server to drop a function. Called by ProcessFunction.__del__, which the
        garbage collector may run inside a send of this very thread (allocating while a frame
        is pickled, _send_lock held): waiting for the lock there deadlocked. So the id is
        queued, and sent now if the lock is free, else by the sender holding it."""
        if self.owner != os.getpid():
            return  # a forked child's copy: the parent's server is the parent's to tell
        self._forgotten.append(function_id)
        if not self._send_lock.acquire(blocking=False):
            return
        try:
            self._send_forgotten()
        finally:
            self._send_lock.release()

    def _send_forgotten(self):
        while self._forgotten:  # _send_lock held; a collection may append while we send
            function_id = self._forgotten.pop()
            if function_id in self._functions and not self.dead:
                self._functions.discard(function_id)
                try:
                    wire.send_frame(self._ctl, wire.FORGET, (function_id,))
                except OSError:
                    pass

    def fork(self, index, sock, function_id, fn_bytes):
        """Starts worker `index` of a function on its end of a socketpair; returns a request
        whose "pid" the reader fills in (None if the server died)."""
        self.register(function_id, fn_bytes)
        request = {}
        with self._send_lock:
            with self._cv:
                if self.dead:
                    raise WorkerProcessError("map(processes=True): the fork server has exited")
                self._pending.append(request)
            thresholds = (wire.SHARED_MEMORY_BYTES, wire.ITEM_SHARED_MEMORY_BYTES)
            wire.send_frame(self._ctl, wire.FORK, (index, function_id, thresholds),
                            fds=[sock.fileno()])
            self._send_forgotten()
        return request

    def wait_pid(self, request, timeout):
        with self._cv:
            self._cv.wait_for(lambda: "pid" in request, timeout)
            return request.get("pid")

    def wait_status(self, pid, timeout):
        """The wait status of an exited worker, or None if not known within timeout."""
        with self._cv:
            self._cv.wait_for(lambda: pid in self._statuses or self.dead, timeout)
            return self._statuses.get(pid)

    def close(self):
        if self.owner != os.getpid():
            return  # a forked child's copy: shutting the socket down would end the parent's
        try:
            self._ctl.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._ctl.close()
        try:
            self._process.wait(2)
        except subprocess.TimeoutExpired:
            self._process.kill()


def _describe_status(status):
    if status is None:
        return "exited (status unknown)"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        return f"was killed by {name}"
    return f"exited with code {os.WEXITSTATUS(status)}"


# ---- A pool of workers ---------------------------------------------------------------------


class _Worker:
    __slots__ = ("index", "sock", "request", "pid", "busy")

    def __init__(self, index, sock, request):
        self.index = index
        self.sock = sock
        self.request = request  # the fork request; pid once the server replied
        self.pid = None
        self.busy = False  # a CALL is outstanding: its reply must be read before the next


class _Pool:
    def __init__(self, function_id, fn_bytes, size, what, timeout=None):
        self.owner = os.getpid()
        self._timeout = timeout
        self._function_id = function_id
        self._what = what
        self._server = _ForkServer.get()
        self._cv = threading.Condition()
        self._idle = []
        self._closed = False
        self.broken = None  # the WorkerProcessError of the first death
        self._fn_bytes = fn_bytes
        self._workers = [self._start(index) for index in range(size)]
        self._idle = list(reversed(self._workers))  # pop() takes worker 0 first

    def _pid(self, worker):
        if worker.pid is None:
            worker.pid = self._server.wait_pid(worker.request, 10)
        return worker.pid

    def _acquire(self):
        with self._cv:
            while not self._idle and self.broken is None and not self._closed:
                self._cv.wait(_POLL_S)
                _give_up_if_stopping(self._what)
            if self.broken is not None:  # a copy: one exception object per raise
                raise type(self.broken)(str(self.broken))
            if self._closed:
                raise _stopped(self._what, exiting=True)
            return self._idle.pop()

    def _release(self, worker):
        with self._cv:
            self._idle.append(worker)
            self._cv.notify()

    def _died(self, worker, position, cause):
        error = _death_error(self._what, self._server, worker.index, self._pid(worker),
                             position, cause)
        with self._cv:
            if self.broken is None:
                self.broken = error
            self._cv.notify_all()
        return error

    def _timed_out(self, worker, position):
        """The error of a call that ran past the timeout; its worker is killed and replaced."""
        error = _timeout_error(self._what, worker.index, self._pid(worker), position,
                               self._timeout)
        self._replace(worker)
        return error

    def call(self, args, position):
        worker = self._acquire()
        worker.busy = True
        try:
            wire.send_frame(worker.sock, wire.CALL, args)
            timed_out = not _wait_reply(worker.sock, self._timeout, self._what)
            if not timed_out:
                kind, obj, _ = wire.recv_frame(worker.sock, buffers_from=_RESULT_BUFFERS)
        except (EOFError, OSError) as exc:
            if self._closed:
                raise _stopped(self._what) from exc
            raise self._died(worker, position, exc) from exc
        except BaseException:
            # Interrupted (KeyboardInterrupt in the caller's thread, or given up as its iterator
            # is destroyed) with the reply still to come, perhaps half read: that worker's
            # stream is out of step; start a new one.
            self._replace(worker)
            raise
        if timed_out:
            raise self._timed_out(worker, position)
        worker.busy = False
        self._release(worker)
        if kind == wire.RESULT:
            return obj
        raise _rebuild_error(obj, worker, self._pid(worker), self._what, position)

    def _start(self, index):
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            request = self._server.fork(index, theirs, self._function_id, self._fn_bytes)
        finally:
            theirs.close()
        return _Worker(index, mine, request)

    def _replace(self, worker):
        self._kill(worker)
        fresh = self._start(worker.index)
        with self._cv:
            self._workers[self._workers.index(worker)] = fresh
        self._release(fresh)

    @staticmethod
    def _kill(worker):
        _end_worker(worker, busy=True)

    def close(self):
        """Ends the workers: an idle one exits on its socket's EOF, a busy one is killed.

        Re-entrant: a call interrupted half way (a Ctrl-C landing in it) is finished by the
        next, which ends the workers whose socket is still open. A busy worker left alive
        would leave its engine thread blocked in recv() and the iterator's destruction
        joining that thread for ever."""
        if self.owner != os.getpid():
            return  # a forked child's copy of the parent's pool: the workers are the parent's
        with self._cv:
            self._closed = True
            self._cv.notify_all()
        for worker in list(self._workers):
            if worker.sock.fileno() < 0:
                continue  # ended by an earlier call
            _end_worker(worker, worker.busy)

    def __del__(self):
        if hasattr(self, "_workers"):
            self.close()

    def pids(self):
        return [self._pid(w) for w in self._workers]


def _death_error(what, server, index, pid, position, cause):
    """The WorkerProcessError of worker `index` (pid) found dead while computing `position`."""
    status = None if pid is None else server.wait_status(pid, 5)
    where = "" if position is None or position < 0 else (
        f" while computing the element at position {position} of map's input")
    error = WorkerProcessError(
        f"{what}: worker process {index} (pid {pid}) {_describe_status(status)}{where}; the "
        f"iterator is unusable: restore its last checkpoint into a new iterator")
    error.__cause__ = cause
    return error


def _end_worker(worker, busy):
    """An idle worker exits on its socket's EOF; a busy one is killed."""
    pid = worker.pid if worker.pid is not None else worker.request.get("pid")
    if busy and pid is not None:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        worker.sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    worker.sock.close()


def _rebuild_error(payload, worker, pid, what=None, position=None, doing="computing"):
    data, type_name, message, text = payload
    exc = None
    if data is not None:
        try:
            exc = wire.unchained(pickle.loads(data))
        except Exception:  # noqa: BLE001 - a type this process cannot rebuild: by name
            exc = None
    if not isinstance(exc, BaseException):
        exc = RuntimeError(f"{type_name}: {message}")
    # The op and the element, as a worker's death names them: the exception is the user's own.
    where = "" if position is None or position < 0 else (
        f", {doing} the element at position {position} of map's input")
    of = "" if what is None else f" of {what}"
    note = f"raised in worker process {worker.index} (pid {pid}){of}{where}:\n{text.rstrip()}"
    if hasattr(exc, "add_note"):
        exc.add_note(note)
    else:  # Python < 3.11: the traceback text where a note would be
        exc.worker_traceback = note
    return exc


# ---- Workers that read map's input themselves -----------------------------------------------

# Offsets per CHUNK frame (one frame each way for this many elements): CHUNK_SIZE until a
# result's size is known, then each next chunk twice the last up to MAX_CHUNK_SIZE (the first
# batch comes soon; later, fewer frames), and fewer when results are large: the results of the
# chunks queued ahead stay under AHEAD_BYTES. Each worker has AHEAD_CHUNKS chunks queued ahead of the
# calls: enough that a worker never waits for the parent.
CHUNK_SIZE = 4
MAX_CHUNK_SIZE = 32
AHEAD_CHUNKS = 2
AHEAD_BYTES = 64 << 20
# False: the parent ships every element, as for a streaming input (to compare the two; bench/).
READ_BY_INDEX = True


def readable_upstream(upstream, num_parallel_calls):
    """The pickled recipe of map's input when the workers can read it themselves: a
    random-access Dataset that has a recipe (_recipes.py), under a map whose calls run on the
    engine's threads (num_parallel_calls given); None when the parent ships the elements."""
    if upstream is None or num_parallel_calls is None or not READ_BY_INDEX:
        return None
    try:
        if not upstream._handle.is_random_access():
            return None
        from inputpipe import _recipes
        data = _recipes.dumps(upstream)
    except Exception:  # noqa: BLE001 - no recipe (or one that does not pickle): ship elements
        return None
    return data if len(data) <= _recipes.MAX_BYTES else None


class _StreamWorker:
    __slots__ = ("index", "sock", "request", "pid", "send_lock", "recv_lock", "done",
                 "outstanding", "progress")

    def __init__(self, index, sock, request):
        self.index = index
        self.attach(sock, request)
        self.send_lock = threading.Lock()
        self.recv_lock = threading.Lock()
        self.done = {}  # (stream id, offset) -> item, received and not yet taken
        # (stream id, offset, position) of each element asked and not received, in order: the
        # first is the one the worker is computing.
        self.outstanding = collections.deque()

    def attach(self, sock, request):
        """This worker is now the process on the other end of `sock` (a fork request)."""
        self.sock, self.request, self.pid = sock, request, None
        # Which element the worker computes, since when (wire.Progress, written by the worker).
        fd = os.memfd_create("inputpipe-progress", os.MFD_CLOEXEC)
        try:
            os.ftruncate(fd, wire.PROGRESS.size)
            wire.send_frame(sock, wire.WATCH, (), fds=[fd])
        except BaseException:
            os.close(fd)
            raise
        self.progress = wire.Progress(fd)
        self.progress.set(-1)


class _StreamPool:
    """N workers serving the streams of every live iterator of one map: CHUNK frames go out
    ahead of the calls, RESULTS come back in order on each worker's socket, read by whichever
    calling thread needs them next (under the worker's recv_lock)."""

    def __init__(self, function_id, fn_bytes, size, what, timeout=None):
        self.owner = os.getpid()
        self._what = what
        self._timeout = timeout
        self._server = _ForkServer.get()
        self._closed = False
        self.broken = None
        self.broken_at = None  # the position of the element whose worker died
        self.open_streams = {}  # stream id -> its OPEN frame, for a replaced worker
        self.item_bytes = 0  # the bytes of a result, from the last RESULTS frame
        self._function_id, self._fn_bytes = function_id, fn_bytes
        self.workers = [_StreamWorker(index, *self._fork(index)) for index in range(size)]

    def _fork(self, index):
        """(our end of a new worker's socket, its fork request)."""
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            return mine, self._server.fork(index, theirs, self._function_id, self._fn_bytes)
        finally:
            theirs.close()

    def _replace(self, worker, position):
        """Kills `worker`, whose element at `position` ran past the timeout, and puts a fresh
        process in its place: the streams open again there and the elements asked of the old
        one and not received are asked again, but for that element, which fails with a
        WorkerTimeoutError as if fn had raised it. REQUIRES: worker.recv_lock held."""
        error = _timeout_error(self._what, worker.index, self._pid(worker), position,
                               self._timeout)
        with worker.send_lock:
            _end_worker(worker, busy=True)
            worker.attach(*self._fork(worker.index))
            for frame in list(self.open_streams.values()):
                wire.send_frame(worker.sock, wire.OPEN, frame)
            asked = [entry for entry in worker.outstanding if entry[2] != position]
            for stream_id, offset, at in worker.outstanding:
                if at == position:
                    worker.done[(stream_id, offset)] = (_TIMED_OUT, error)
            worker.outstanding.clear()
            worker.outstanding.extend(asked)
            for stream_id, offset, count in _runs(asked):
                wire.send_frame(worker.sock, wire.CHUNK, (stream_id, offset, count))

    def _pid(self, worker):
        if worker.pid is None:
            worker.pid = self._server.wait_pid(worker.request, 10)
        return worker.pid

    def _check(self):
        if self.broken is not None:
            raise type(self.broken)(str(self.broken))
        if self._closed:
            raise _stopped(self._what, exiting=True)

    def _died(self, worker, position, cause):
        if self._closed:
            return _stopped(self._what)
        position = self._computing(worker, position)
        error = _death_error(self._what, self._server, worker.index, self._pid(worker),
                             position, cause)
        if self.broken is None:
            self.broken, self.broken_at = error, -1 if position is None else position
        return error

    def _unreadable(self, worker, position, cause):
        """The error of a RESULTS frame this process could not read (not one item's): the
        items in it are lost, so every element from the first one asked of `worker` fails,
        and the iterator with them. REQUIRES: worker.recv_lock held."""
        if self._closed:
            return _stopped(self._what)
        position = worker.outstanding[0][2] if worker.outstanding else position
        error = WorkerProcessError(
            f"{self._what}: the results of worker process {worker.index} (pid "
            f"{self._pid(worker)}) from the element at position {position} on could not be "
            f"read in this process ({type(cause).__name__}: {cause}); this iterator cannot go "
            f"on: restore the last checkpoint into a new one")
        if self.broken is None:
            self.broken, self.broken_at = error, position
        return error

    @staticmethod
    def _computing(worker, position):
        """The position of the element `worker` computes (rather than the one waited for)."""
        progress = worker.progress.read()
        if progress is not None and progress[0] >= 0:
            return progress[0]
        if worker.outstanding:  # the first element asked and not received
            return worker.outstanding[0][2]
        return position

    def _wait(self, worker, stream_id):
        """Returns once worker's socket is readable, having replaced the worker (_replace)
        if the element it computes ran past the timeout, or once stream_id is forgotten.
        REQUIRES: worker.recv_lock held."""
        timeout = self._timeout
        while stream_id in self.open_streams:
            _give_up_if_stopping(self._what)
            progress = worker.progress.read()
            wait = timeout
            if progress is not None and progress[0] >= 0:
                wait = progress[1] + timeout - time.monotonic()
                if wait <= 0 and worker.progress.read() == progress:
                    self._replace(worker, progress[0])
                    return
            if _wait_readable(worker.sock, min(max(wait, 0.001), timeout, _POLL_S)):
                return

    def send(self, worker, kind, obj, position, start=0):
        self._check()
        with worker.send_lock:
            if kind == wire.CHUNK:  # before the send: the reply may be read before it returns
                stream_id, offset, count = obj
                worker.outstanding.extend((stream_id, offset + k, start + offset + k)
                                          for k in range(count))
            try:
                wire.send_frame(worker.sock, kind, obj)
            except OSError as exc:
                if kind == wire.CHUNK:
                    raise  # the caller's take() reads what the worker sent before, then the EOF
                raise self._died(worker, position, exc) from exc

    def take(self, worker, key, position):
        """The item of `key` (stream id, offset) from `worker`. A worker's death fails the
        calls from the element it was computing on, not those before it (on other workers):
        the consumer's first error is that element's."""
        done = worker.done
        while not worker.recv_lock.acquire(timeout=_POLL_S):
            # The holder waits for a later item of this worker's, perhaps one that never comes
            # (a slow or hung element), and stores the items it reads meanwhile: this one too.
            item = done.pop(key, None)  # one dict operation: atomic under the GIL
            if item is not None:
                return item
            _give_up_if_stopping(self._what)
        try:
            return self._take_locked(worker, key, position)
        finally:
            worker.recv_lock.release()

    def _take_locked(self, worker, key, position):
        """take(), REQUIRES: worker.recv_lock held."""
        done = worker.done
        while key not in done:
            if self._closed or (self.broken is not None and position >= self.broken_at):
                self._check()
            if key[0] not in self.open_streams:
                # Its iterator was dropped while another one keeps the workers: no EOF comes
                # (the workers go on), and its results are no longer kept.
                raise _stopped(self._what)
            _give_up_if_stopping(self._what)
            size = []
            try:
                if self._timeout is not None:
                    self._wait(worker, key[0])
                    if key in done:  # failed by the timeout
                        break
                elif not _wait_readable(worker.sock, _POLL_S):
                    continue  # look again whether the stream was forgotten meanwhile
                if key[0] not in self.open_streams:
                    continue
                kind, (stream_id, offset), items = wire.recv_items(
                    worker.sock, size, buffers_from=_RESULT_BUFFERS)
            # ValueError: select() on a socket the pool's close() closed meanwhile.
            except (EOFError, OSError, ValueError) as exc:
                raise self._died(worker, position, exc) from exc
            except Exception as exc:  # noqa: BLE001 - the frame is lost: so are its items
                raise self._unreadable(worker, position, exc) from exc
            if items:
                self.item_bytes = max(1, size[0] // len(items))
            outstanding = worker.outstanding
            for _ in range(min(len(items), len(outstanding))):
                outstanding.popleft()
            if stream_id in self.open_streams:
                for k, item in enumerate(items):
                    done[(stream_id, offset + k)] = item
        return done.pop(key)

    def forget(self, stream_id):
        self.open_streams.pop(stream_id, None)  # its results still to come are dropped as read
        for worker in self.workers:
            # Not waiting: a thread of another iterator may hold the lock, waiting on a call
            # that never returns; what stays is dropped with the pool.
            if worker.recv_lock.acquire(blocking=False):
                try:
                    # list(): a waiter for the lock may pop its item meanwhile (take).
                    for key in [k for k in list(worker.done) if k[0] == stream_id]:
                        worker.done.pop(key, None)
                finally:
                    worker.recv_lock.release()
            try:
                self.send(worker, wire.CLOSE, (stream_id,), None)
            except WorkerProcessError:
                pass

    def close(self):
        """Ends the workers: an idle one exits on its socket's EOF, a busy one is killed."""
        if self.owner != os.getpid():
            return
        self._closed = True
        for worker in self.workers:
            if worker.sock.fileno() < 0:
                continue  # ended by an earlier call, which a Ctrl-C interrupted
            _end_worker(worker, bool(worker.outstanding))

    def __del__(self):
        if hasattr(self, "workers"):
            self.close()

    def pids(self):
        return [self._pid(w) for w in self.workers]


_stream_ids = itertools.count(1)
_TIMED_OUT = -1  # an item kind of this process's: (_TIMED_OUT, the WorkerTimeoutError)


def _runs(asked):
    """(stream id, first offset, count) of each run of consecutive offsets in `asked`, a list
    of (stream id, offset, position) in order."""
    runs = []
    for stream_id, offset, _ in asked:
        if runs and runs[-1][0] == stream_id and runs[-1][1] + runs[-1][2] == offset:
            runs[-1][2] += 1
        else:
            runs.append([stream_id, offset, 1])
    return [tuple(run) for run in runs]


class _Stream:
    """One iterator's stream: the parent's side of the workers' copies of map's input from
    that iterator's start (`state`, at `position`)."""

    def __init__(self, pool, upstream, state, position, seed):
        self.pool, self.start = pool, position
        self.id = next(_stream_ids)
        self._lock = threading.Lock()
        self._requested = 0  # the next offset to send in a CHUNK
        self._size = CHUNK_SIZE  # of the next chunk
        # The first offset of each chunk sent and its worker, in order (bisected; the oldest
        # are dropped once far behind the calls, which stay within the engine's window).
        self._starts, self._workers = [], []
        self._next_worker = 0
        frame = pool.open_streams[self.id] = (self.id, upstream, state, position, seed)
        for worker in pool.workers:
            pool.send(worker, wire.OPEN, frame, None)

    def _send_ahead(self, offset, position):
        """Sends chunks until AHEAD_CHUNKS per worker are queued past `offset`. REQUIRES: _lock."""
        pool, workers = self.pool, self.pool.workers
        n = len(workers)
        while True:
            # Chunks grow once a result's size is known, to results of AHEAD_BYTES in all
            # queued ahead at most (a large element's results each hold a memfd meanwhile).
            size = CHUNK_SIZE
            if pool.item_bytes:
                size = max(1, min(self._size,
                                  AHEAD_BYTES // (pool.item_bytes * AHEAD_CHUNKS * n)))
            if self._requested > offset + size * AHEAD_CHUNKS * n:
                return
            worker = workers[self._next_worker]
            try:
                pool.send(worker, wire.CHUNK, (self.id, self._requested, size), position,
                          self.start)
            except (OSError, WorkerProcessError):
                return  # that worker is gone: take() names it, or another call does
            self._starts.append(self._requested)
            self._workers.append(worker)
            if len(self._starts) > 4096:
                del self._starts[:2048], self._workers[:2048]
            self._next_worker = (self._next_worker + 1) % n
            self._requested += size
            if pool.item_bytes:
                self._size = min(MAX_CHUNK_SIZE, 2 * size)

    def result(self, position):
        pool = self.pool
        offset = position - self.start
        with self._lock:  # calls come in about input order: keep the chunks ahead of them
            self._send_ahead(offset, position)
            if offset >= self._requested:  # no chunk holds it: sending failed
                pool._check()
                raise WorkerProcessError(f"{pool._what}: no worker process could be asked for "
                                         f"the element at position {position}")
            worker = self._workers[bisect.bisect_right(self._starts, offset) - 1]
        kind, value = pool.take(worker, (self.id, offset), position)
        if kind == _TIMED_OUT:
            raise value
        if kind == wire.ENDED:
            raise WorkerProcessError(
                f"{pool._what}: worker process {worker.index}'s copy of map's input ended "
                f"before position {position}, where this process read an element: the input "
                f"rebuilt in the worker differs (a source whose contents changed?)")
        if kind == wire.OK:
            return value
        if kind == wire.FAILED:
            raise _rebuild_error(value, worker, pool._pid(worker), pool._what, position)
        # UNREAD: the read of map's input failed there (the engine moved past the element here
        # without reading it): the consumer gets that error at the element's place.
        raise _rebuild_error(value, worker, pool._pid(worker), pool._what, position, "reading")

    def close(self):
        self.pool.forget(self.id)


# ---- The function the engine calls ---------------------------------------------------------


_live = weakref.WeakSet()


def _after_fork_in_child():
    # A lock some thread of the parent held at the fork stays held in the child for good.
    _ForkServer._lock = threading.Lock()
    for function in list(_live):
        function._lock = threading.RLock()  # as in __init__


os.register_at_fork(after_in_child=_after_fork_in_child)


def _close_pool(pool):
    """pool.close(), finished even when a KeyboardInterrupt lands in it (then re-raised): the
    pool is no longer reachable from its function, so no later call would end its workers."""
    if pool is None:
        return
    try:
        pool.close()
    finally:
        pool.close()  # re-entrant: ends the workers an interrupted first call left


_function_ids = itertools.count(1)
# How many released iterators a ProcessFunction remembers (ProcessFunction._released): one
# released this long ago has been destroyed, its threads joined.
_MAX_RELEASED = 1024


class _Lease:
    __slots__ = ("_owner", "_caller", "__weakref__")

    def __init__(self, owner, caller=None):
        self._owner = owner
        self._caller = caller  # the map iterator whose stream this lease keeps open

    def __del__(self):
        self._owner._release_lease(self._caller)


class ProcessFunction:
    """What the engine's map calls in place of fn: each call runs fn in a worker process.

    mode="filter": the call returns (fn's result, the element) rather than fn's result, for
    filter(processes=True), which runs as a map of the predicate then a filter on that flag."""

    def __init__(self, fn, size, what, mode="map", upstream=None, seed=None, timeout=None):
        import cloudpickle
        self._timeout = timeout
        self._fn_bytes = cloudpickle.dumps(fn)
        self._size = size
        self._what = what
        self._mode = mode
        # Re-entrant: a _Lease.__del__ (an iterator in a reference cycle, destroyed by the
        # garbage collector) may run in this thread while it holds the lock (allocating in
        # _current_pool); with a plain lock its _release_lease deadlocked there.
        self._lock = threading.RLock()
        self._pool = None
        self._leases = 0
        # Reading by index (module doc): map's input's pickled recipe, the seed, the pool of
        # stream workers and each live iterator's stream (by CurrentMapCaller()).
        self._upstream = upstream
        self._seed = seed
        self._stream_pool = None
        self._streams = {}
        # The map iterators (CurrentMapCaller()) whose lease was released, newest last: a call
        # of theirs still to come (an engine thread that passed its stopping check just before
        # the iterator's destruction released the lease) must fail, not start a pool that
        # nothing would end (its call never returning, the destruction joining it for ever).
        self._released = collections.OrderedDict()
        self._id = next(_function_ids)
        _live.add(self)
        # Sent now: the server imports what fn needs while the pipeline is being built.
        self._server = _ForkServer.get()
        self._server.register(self._id, self._fn_bytes)
        if upstream is not None:
            self._server.preload(upstream)

    def _current_pool(self, fresh, caller=0):
        with self._lock:
            if _exiting:  # an engine thread still calling while the interpreter exits
                raise WorkerProcessError(f"{self._what}: the interpreter is exiting")
            # Under the lock that _release_lease takes: a release between a check made before
            # and the pool made here would leave a pool that nothing ends.
            if caller in self._released:
                raise _stopped(self._what)
            if self._pool is not None and self._pool.owner != os.getpid():
                self._pool = None  # inherited through os.fork(): the parent's, not ours
            if self._pool is None or (fresh and self._pool.broken is not None):
                old = self._pool
                self._pool = _Pool(self._id, self._fn_bytes, self._size, self._what,
                                   self._timeout)
                if old is not None:
                    old.close()
            return self._pool

    def _inputpipe_hold_for_iterator(self):
        """Called by each map iterator before its first call: the pool lives while any lease
        does. A pool broken by a worker's death is replaced here (a new iterator). Reading by
        index, the lease also opens the iterator's stream."""
        caller = _core._current_map_caller()
        with self._lock:
            self._released.pop(caller, None)  # a new iterator where a dropped one was
        if self._upstream is not None:
            start = _core._current_map_start()
            if start is not None and caller:
                with self._lock:
                    if _exiting:
                        raise WorkerProcessError(f"{self._what}: the interpreter is exiting")
                    pool = self._stream_pool
                    if pool is None or pool.broken is not None or pool.owner != os.getpid():
                        pool = self._stream_pool = _StreamPool(self._id, self._fn_bytes,
                                                               self._size, self._what,
                                                               self._timeout)
                    self._leases += 1
                try:
                    stream = _Stream(pool, self._upstream, start[0], start[1], self._seed)
                except BaseException:
                    self._release_lease(None)
                    raise
                with self._lock:
                    self._streams[caller] = stream
                return _Lease(self, caller)
        self._current_pool(fresh=True)
        with self._lock:
            self._leases += 1
        return _Lease(self, caller or None)

    def _release_lease(self, caller):
        with self._lock:
            stream = self._streams.pop(caller, None) if caller is not None else None
            if caller is not None:
                self._released[caller] = True
                if len(self._released) > _MAX_RELEASED:
                    self._released.popitem(last=False)
            self._leases -= 1
            if self._leases > 0:
                pools = []
            else:
                pools = [self._pool, self._stream_pool]
                self._pool = self._stream_pool = None
        if stream is not None and not pools:
            stream.close()
        for pool in pools:
            _close_pool(pool)

    def close(self):
        with self._lock:
            pools = [self._pool, self._stream_pool]
            self._pool = self._stream_pool = None
            self._streams.clear()
        for pool in pools:
            _close_pool(pool)

    def worker_pids(self):
        """The pids of the current pools' workers ([] when none runs); for tests."""
        with self._lock:
            pools = [p for p in (self._stream_pool, self._pool) if p is not None]
        return [pid for pool in pools for pid in pool.pids()]

    @property
    def _inputpipe_computes_input(self):
        """Read by the engine when the map is built (FunctionOptions::computes_input): the
        workers compute map's input themselves, so the engine moves past its elements without
        reading them and calls this with no arguments."""
        return self._upstream is not None

    def reads_by_index(self):
        """Whether the workers read map's input themselves (module doc); for tests."""
        return self._upstream is not None

    def __call__(self, *args):
        position = _core._current_map_position()
        caller = _core._current_map_caller()
        if self._streams:
            stream = self._streams.get(caller)
            if stream is not None:
                return stream.result(position)
        # Here with an element: a call by index (Dataset.Get: distribute's rows), or any call
        # of a map without a stream (the engine passes none only to a stream's iterator).
        pool = self._current_pool(fresh=False, caller=caller)
        if self._mode == "filter":
            (element,) = args  # zip((ds,)): the element whole
            return (pool.call((element,), position), element)
        return pool.call(args, position)

    def __del__(self):
        if hasattr(self, "_lock"):
            self.close()
            # No server when __init__ was interrupted starting it (a Ctrl-C while building).
            if hasattr(self, "_server"):
                self._server.forget(self._id)


def call_unpacked(fn):
    """fn(*element) for a tuple element, fn(element) otherwise: the engine's convention, for a
    function that receives the element whole (filter's predicate, through zip((ds,)))."""
    def call(element):
        return fn(*element) if isinstance(element, tuple) else fn(element)
    return call


class KeepAndElement:
    """(predicate(element), element): filter(processes=True)'s function when the workers read
    the elements themselves, so that the element comes back with the predicate's result."""

    def __init__(self, predicate):
        self.predicate = predicate

    def __call__(self, element):
        return (self.predicate(element), element)


_exiting = False


@atexit.register
def _stop_everything():
    global _exiting
    _exiting = True
    # Before the stop: a consumer whose call it ends (a daemon thread inside next()) then parks
    # when it comes back from the engine, as without processes, instead of raising at exit.
    _core._close_to_threads()
    interrupted = None
    for function in list(_live):
        try:
            function.close()
        except KeyboardInterrupt as e:  # a second Ctrl-C during exit: stop the rest all the same
            interrupted = e
    _ForkServer.close_current()
    if interrupted is not None:
        raise interrupted
