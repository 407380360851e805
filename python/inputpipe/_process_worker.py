"""The worker side of map(fn, processes=True): the wire format, fork server and worker loop.

This file imports only the standard library, so that it can run by path (the fork server is
`python -P -c "import runpy; runpy.run_path(PATH, ...)" PATH FD`) without importing the
inputpipe package and its C++ extension: workers import what the user's function needs and
nothing else. The parent side, inputpipe._processes, imports it as a module for the wire format.

    parent ──socketpair──► fork server (one per parent process, single-threaded):
       │                     FUNCTION (unpickled here, once), FORK, FORGET
       │                     │ fork()
       └──socketpair─────────┴──► worker i of that function: CALL -> RESULT | ERROR, ...

Why a fork server of our own: the parent runs C++ threads, so it must never fork(); a fresh
interpreter per worker (spawn) pays numpy's import each time (about 0.1-1 s); multiprocessing's
forkserver re-imports the user's __main__ script in every worker. This server is started once
(a fresh interpreter, preloading numpy and cloudpickle), is single-threaded, and forks a worker
in about a millisecond. The server unpickles each function once, importing the modules it
needs (a function of an importable module is pickled by reference), so a worker forked from it
starts with them imported: a new iterator's workers start in milliseconds, not in the seconds a
module importing a large library takes. (Those imports must not start threads in the server,
which forks: the same rule as multiprocessing's forkserver preloading.)

Frames (both directions, on a SOCK_STREAM socketpair): a header `<B B I Q` (kind; the number of
memfds passed with the frame; the number of out-of-band buffers; the length of the pickle), the
buffers' lengths (`<Q` each), with memfds the memfd of each buffer (`<i` each, -1: inline), the
pickle (protocol 5), then the inline buffers. Buffers of numpy arrays travel out of band
(pickle protocol 5): above SHARED_MEMORY_BYTES together they go through an anonymous memfd
(memfd_create: it has no name, so nothing ever appears in /dev/shm, and its memory is freed when
the last mapping goes), mapped by the receiver without a copy; the file descriptor travels with
the frame (SCM_RIGHTS). A RESULTS frame (send_items) pickles each item alone: the receiver loads
each alone, so one that fails to load fails alone, and an item whose buffers exceed
ITEM_SHARED_MEMORY_BYTES has a memfd of its own, so that arrays the receiver keeps of one item
(a cache, a shuffle buffer) keep that item's memory only, never a whole chunk's.

Lifetime: the server exits when the parent's end of its control socket closes (the parent
exited or was killed); each worker asks the kernel for SIGKILL when the server exits
(PR_SET_PDEATHSIG), and exits when its own socket closes (the parent dropped the pool). SIGINT
is ignored by both: Ctrl-C in a terminal reaches the whole process group, and the parent alone
decides what it means.
"""

import array
import builtins
import io
import mmap
import os
import pickle
import signal
import socket
import struct
import sys

# Frame kinds.
INIT = 1  # parent -> server: (sys.path, modules to preload, the parent's main module name)
FORK = 2  # parent -> server: (worker index, function id, (SHARED_MEMORY_BYTES,
#          ITEM_SHARED_MEMORY_BYTES)), with the worker's socket as an fd
FORKED = 3  # server -> parent: (pid,), in the order of the FORK frames
EXITED = 4  # server -> parent: (pid, wait status)
FUNCTION = 5  # parent -> server: (function id, the cloudpickled function)
FORGET = 9  # parent -> server: (function id,): no more workers of it
CALL = 6  # parent -> worker: the call's arguments (a tuple)
RESULT = 7  # worker -> parent: the function's result
ERROR = 8  # worker -> parent: (exception or None, type name, message, traceback text)
# Workers that read map's input themselves (a random-access input; _processes.IndexedFunction):
OPEN = 10  # parent -> worker: (stream id, the input's recipe (pickled), its state where the
#            stream starts, the stream's first position, the map's seed or None)
CHUNK = 11  # parent -> worker: (stream id, offset, count): compute those elements of the stream
RESULTS = 12  # worker -> parent (send_items): (stream id, offset), [item, ...]: the items of a CHUNK's
#               offsets from `offset` on, in order: the whole chunk in one frame, or the part
#               computed so far once an element has run FLUSH_AFTER_S (a slow element does not
#               hold back the ones computed before it)
CLOSE = 13  # parent -> worker: (stream id,): its iterator is gone
PRELOAD = 14  # parent -> server: (a pickled recipe,): rebuild that input now, so that the
#               workers forked later have it (and inputpipe imported) from the start
WATCH = 15  # parent -> worker: (), with a memfd of PROGRESS.size bytes, where the worker
#             writes which element it computes and since when (a seqlock: PROGRESS below)
# An item: (OK, result), (FAILED, an ERROR frame's payload), (UNREAD, an ERROR frame's payload)
# for an element whose read failed (the parent moved past it without reading it, so this is
# the error the consumer gets), (ENDED, None) past the input's end.
OK, FAILED, UNREAD, ENDED = 0, 1, 2, 3

# Out-of-band buffers larger than this in total travel through a memfd rather than the socket;
# the same for one item of a RESULTS frame, each in its own memfd. Measured on a 2-core VM
# (docs/benchmarks.md, workload e): a fresh memfd costs more than the socket's extra copy up to
# about 10-20 MB (each of its pages is allocated, zeroed and faulted in on both sides, and its
# unmapping interrupts the other cores), so results of 150 KB cost 0.5 ms of CPU more each.
# The parent sends its values to each worker it forks (FORK), so that a pool uses the ones in
# force when it started.
SHARED_MEMORY_BYTES = 16 << 20
ITEM_SHARED_MEMORY_BYTES = 16 << 20
# A worker sends what it has computed of a chunk once the element it is on has run this long.
FLUSH_AFTER_S = 0.005
_ALIGN = 64
# A worker's progress, in a memfd shared with the parent: (sequence, position, since): the
# position of map's input it is computing (-1: none) since time.monotonic() `since` (the clock
# is the system's, the same in every process). The sequence is odd while it is being written:
# a reader that sees the same even sequence before and after reading has a consistent copy.
PROGRESS = struct.Struct("<Qqd")
_HEADER = struct.Struct("<BBIQ")  # kind, memfd count, buffer count, pickle length
# Descriptors one frame may carry (the receiver's ancillary buffer): a RESULTS frame's items
# beyond it travel inline.
_MAX_FDS = 48
_MAX_PARTS = 512  # buffers per sendmsg, under IOV_MAX (1024 on Linux)


def _aligned(n):
    return (n + _ALIGN - 1) // _ALIGN * _ALIGN


_pickler = None  # made on first use: numpy is imported by then, where there is one


def _make_pickler():
    """A Pickler with a short path for numpy values, the engine's elements: a scalar as its type
    and Python value (exact for the integer, bool and float64 types), a C-contiguous array as
    numpy.ndarray(shape, dtype, buffer) with the buffer out of band. numpy's own reduction
    pickles the dtype object each time, several times the cost of the round trip itself."""
    try:
        import numpy as np
    except ImportError:
        return pickle.Pickler
    scalars = {np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
               np.uint64, np.float64}
    ndarray = np.ndarray
    ascontiguous = np.ascontiguousarray

    class Pickler(pickle.Pickler):
        def reducer_override(self, obj):
            t = type(obj)
            if t in scalars:
                return t, (obj.item(),)
            if t is ndarray and not obj.dtype.hasobject and obj.dtype.names is None:
                # A strided result (a transpose, a flip, fancy indexing) is made contiguous
                # here, in the worker: numpy's own reduction would copy it into the pickle, and
                # the parent, which makes every element C-contiguous, would copy it again.
                contiguous = obj if obj.flags.c_contiguous else ascontiguous(obj)
                try:
                    buffer = pickle.PickleBuffer(contiguous)
                except (ValueError, BufferError, TypeError):
                    # A dtype numpy cannot export as a buffer (ml_dtypes' bfloat16, datetime64):
                    # numpy's own reduction, which keeps the dtype object.
                    return NotImplemented
                return ndarray, (contiguous.shape, contiguous.dtype.str, buffer)
            return NotImplemented

    return Pickler


def dumps(obj, buffer_callback):
    global _pickler
    if _pickler is None:
        _pickler = _make_pickler()
    out = io.BytesIO()
    _pickler(out, protocol=5, buffer_callback=buffer_callback).dump(obj)
    return out.getvalue()


def send_frame(sock, kind, obj, fds=()):
    """Sends obj as one frame; fds (file descriptors) travel with it and stay open here."""
    buffers = []
    body = dumps(obj, buffers.append)
    _send(sock, kind, body, [b.raw() for b in buffers], [len(buffers)], SHARED_MEMORY_BYTES, fds)


def send_items(sock, kind, head, items):
    """Sends (*head, items) as one frame whose items the receiver loads one by one
    (recv_items). An item that does not pickle travels as (FAILED, why)."""
    raws, entries = [], []
    for item in items:
        buffers = []
        try:
            body = dumps(item, buffers.append)
        except Exception as exc:  # noqa: BLE001 - a result that does not pickle: it says why
            buffers = []
            try:
                why = _unpicklable(item[1], exc) if item[0] == OK else _describe(exc)
            except BaseException:  # noqa: BLE001 - the report itself failed
                why = _describe(exc)
            body = dumps((FAILED, why), buffers.append)
        raws.extend(b.raw() for b in buffers)
        entries.append((body, len(buffers)))
    _send(sock, kind, pickle.dumps((*head, entries), protocol=5), raws,
          [n for _, n in entries], ITEM_SHARED_MEMORY_BYTES)


def _send(sock, kind, body, raws, groups, threshold, fds=()):
    """One frame: the pickle `body`, then the buffers `raws`, in consecutive groups of
    `groups[i]` buffers; a group over `threshold` bytes goes through a memfd of its own."""
    sizes = [r.nbytes for r in raws]
    places = [-1] * len(raws)
    memfds, inline = [], []
    try:
        start = 0
        for count in groups:
            group = range(start, start + count)
            start += count
            if (count and sum(sizes[i] for i in group) > threshold
                    and len(fds) + len(memfds) < _MAX_FDS):
                total = sum(_aligned(sizes[i]) for i in group)
                memfd = os.memfd_create("inputpipe-element", os.MFD_CLOEXEC)
                memfds.append(memfd)
                os.ftruncate(memfd, total)
                with mmap.mmap(memfd, total) as m:
                    offset = 0
                    for i in group:
                        m[offset:offset + sizes[i]] = raws[i].cast("B")
                        offset += _aligned(sizes[i])
                        places[i] = len(memfds) - 1
            else:
                inline.extend(raws[i] for i in group)
        head = (_HEADER.pack(kind, len(memfds), len(sizes), len(body)) +
                struct.pack(f"<{len(sizes)}Q", *sizes))
        if memfds:
            head += struct.pack(f"<{len(places)}i", *places)
        parts = [head, body] + [r.cast("B") for r in inline]
        fds = tuple(fds) + tuple(memfds)
        ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
        # At most _MAX_PARTS parts per sendmsg (the kernel refuses more than IOV_MAX: a chunk of
        # elements of many small arrays); the descriptors go with the first.
        for start in range(0, len(parts), _MAX_PARTS):
            batch = parts[start:start + _MAX_PARTS]
            sent = sock.sendmsg(batch, ancillary if start == 0 else [])
            total = sum(len(p) for p in batch)
            if sent < total:  # a partial send (a signal): the rest without the descriptors
                sock.sendall(b"".join(bytes(p) for p in batch)[sent:])
    finally:
        for memfd in memfds:
            os.close(memfd)


def _recv_exact(sock, n):
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = sock.recv_into(view[got:])
        if k == 0:
            raise EOFError("the other end closed the connection")
        got += k
    return buf


def _recv_into(sock, buffer, n):
    view = memoryview(buffer)
    got = 0
    while got < n:
        k = sock.recv_into(view[got:n])
        if k == 0:
            raise EOFError("the other end closed the connection")
        got += k
    return buffer


def _recv_buffer(sock, size, allocate):
    """The next `size` inline bytes, in allocate(size); the MemoryError when that fails, the
    bytes then read and dropped, so that the stream stays in step."""
    try:
        buffer = allocate(size)
    except MemoryError as exc:
        scratch = bytearray(min(size, 1 << 20))
        left = size
        while left:
            n = min(left, len(scratch))
            _recv_into(sock, scratch, n)
            left -= n
        return exc
    return _recv_into(sock, buffer, size)


def _recv_raw(sock, sizes_out, buffers_from):
    """(kind, pickle, buffers, fds) of the next frame, read whole: a buffer whose memory could
    not be made (a mapping refused, an allocation failed) is that exception."""
    head, ancillary, _, _ = sock.recvmsg(_HEADER.size, socket.CMSG_SPACE(_MAX_FDS * 4))
    if not head:
        raise EOFError("the other end closed the connection")
    fds = []
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.extend(array.array("i", data[:len(data) - len(data) % 4]))
    if len(head) < _HEADER.size:
        head = bytes(head) + bytes(_recv_exact(sock, _HEADER.size - len(head)))
    kind, memfd_count, count, body_len = _HEADER.unpack(head)
    places_len = 4 * count if memfd_count else 0
    rest = _recv_exact(sock, 8 * count + places_len + body_len)  # one read before the buffers
    sizes = struct.unpack_from(f"<{count}Q", rest) if count else ()
    places = struct.unpack_from(f"<{count}i", rest, 8 * count) if memfd_count else (-1,) * count
    body = memoryview(rest)[8 * count + places_len:]
    memfds = fds[len(fds) - memfd_count:]
    del fds[len(fds) - memfd_count:]
    totals = [0] * memfd_count
    for size, place in zip(sizes, places):
        if place >= 0:
            totals[place] += _aligned(size)
    parts = []
    for memfd, total in zip(memfds, totals):
        try:
            if buffers_from is None:
                view = memoryview(mmap.mmap(memfd, total))
                parts.append(lambda offset, size, view=view: view[offset:offset + size])
            else:
                parts.append(buffers_from[1](memfd, total).slice)
        except Exception as exc:  # noqa: BLE001 - its buffers fail; the stream is in step
            parts.append(exc)
        finally:
            os.close(memfd)
    allocate = bytearray if buffers_from is None else buffers_from[0]  # bytearrays: writable
    buffers, offsets = [], [0] * memfd_count
    for size, place in zip(sizes, places):
        if place < 0:
            buffers.append(_recv_buffer(sock, size, allocate))
            continue
        part = parts[place]
        buffers.append(part if isinstance(part, BaseException) else part(offsets[place], size))
        offsets[place] += _aligned(size)
    if sizes_out is not None:
        sizes_out.append(body_len + sum(sizes))
    return kind, body, buffers, fds


def recv_frame(sock, sizes_out=None, buffers_from=None):
    """(kind, obj, fds) of the next frame; EOFError when the other end has closed. fds are the
    descriptors that came with the frame other than the buffers' memfds (the caller owns
    them). sizes_out: a list, to which the frame's size in bytes (pickle and buffers) is
    appended. buffers_from: (allocate(n), map(fd, n)) making the out-of-band buffers' memory,
    each writeable with a slice(offset, n) for map's (the parent's C++-owned memory, which its
    tensors point into); by default bytearrays and an mmap. A buffer whose memory could not be
    made raises its error once the frame is read (the stream stays in step)."""
    kind, body, buffers, fds = _recv_raw(sock, sizes_out, buffers_from)
    for buffer in buffers:
        if isinstance(buffer, BaseException):
            raise buffer
    return kind, pickle.loads(body, buffers=buffers), fds


def recv_items(sock, sizes_out=None, buffers_from=None):
    """(kind, head, items) of the next send_items frame. An item that cannot be loaded here (its
    memory refused, an unpickling error) is (FAILED, why) for that item alone."""
    kind, body, buffers, fds = _recv_raw(sock, sizes_out, buffers_from)
    for fd in fds:
        os.close(fd)
    *head, entries = pickle.loads(body)
    items, start = [], 0
    for payload, count in entries:
        mine = buffers[start:start + count]
        start += count
        try:
            for buffer in mine:
                if isinstance(buffer, BaseException):
                    raise buffer
            items.append(pickle.loads(payload, buffers=mine))
        except Exception as exc:  # noqa: BLE001 - this item's error, raised for its element
            exc.add_note("(raised in the parent process, receiving the worker's result)")
            items.append((FAILED, _describe(exc)))
    return kind, tuple(head), items


# ---- The fork server ---------------------------------------------------------------------------


def _reply(ctl, kind, obj):
    try:
        send_frame(ctl, kind, obj)
    except OSError:
        os._exit(0)  # the parent is gone (or closing): quietly, the workers follow


def _serve(ctl):
    global SHARED_MEMORY_BYTES, ITEM_SHARED_MEMORY_BYTES  # each worker's, from its FORK
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    kind, (path, preload, main_name), _ = recv_frame(ctl)
    sys.path[:] = path
    # This process's __main__ is this file: functions of the parent's main script (pickled by
    # value, "__main__" their module) are named in fingerprints by the parent's script name.
    sys.modules["__main__"].__inputpipe_main_name__ = main_name
    for name in preload:
        try:
            __import__(name)
        except ImportError:
            pass
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    import select
    server_pid = os.getpid()
    functions = {}  # id -> the function, or the exception its unpickling raised
    while True:
        readable, _, _ = select.select([ctl, wake_r], [], [])
        if wake_r in readable:
            os.read(wake_r, 4096)
        # Reap every exited worker, and tell the parent how each ended.
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            _reply(ctl, EXITED, (pid, status))
        if ctl not in readable:
            continue
        try:
            kind, obj, fds = recv_frame(ctl)
        except (EOFError, OSError):
            os._exit(0)  # the parent is gone: the workers follow (PR_SET_PDEATHSIG)
        if kind == FUNCTION:
            function_id, fn_bytes = obj
            try:
                import cloudpickle
                functions[function_id] = cloudpickle.loads(fn_bytes)
            except BaseException as exc:  # noqa: BLE001 - each call of its workers reports it
                functions[function_id] = _Unpicklable(exc)
            continue
        if kind == FORGET:
            functions.pop(obj[0], None)
            continue
        if kind == PRELOAD:
            try:
                _rebuilt(obj[0])  # builds datasets only: no engine thread starts before a fork
            except BaseException:  # noqa: BLE001 - a worker rebuilds it again and reports why
                pass
            continue
        if kind != FORK or len(fds) != 1:
            os._exit(2)
        index, function_id, thresholds = obj
        fn = functions.get(function_id)
        pid = os.fork()
        if pid == 0:
            SHARED_MEMORY_BYTES, ITEM_SHARED_MEMORY_BYTES = thresholds
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            os.close(wake_r)
            os.close(wake_w)
            ctl.close()
            code = 0
            try:
                functions = None
                _work(socket.socket(fileno=fds[0]), fn, server_pid)
            except BaseException:  # noqa: BLE001 - a worker must never return into the server
                code = 1
            os._exit(code)
        os.close(fds[0])
        _reply(ctl, FORKED, (pid,))


# ---- A worker ----------------------------------------------------------------------------------


def _die_with_parent(parent_pid):
    """SIGKILL when the fork server exits (Linux); then, should it have exited already, exit."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: the worker still exits when its socket closes
    if os.getppid() != parent_pid:
        os._exit(0)


def _error_frame(exc):
    """(the exception cloudpickled or None, its type's name, message, traceback text).
    cloudpickle: an exception class defined in the parent's __main__ came here by value, and
    goes back as the parent's own class (cloudpickle tracks such classes), so `except` works."""
    import traceback
    # An exception whose __str__ (or __repr__) itself raises must still come back, not end the
    # worker: each text falls back to what can be said without calling it.
    try:
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    except Exception:  # noqa: BLE001
        text = f"{type(exc).__qualname__} (its traceback could not be formatted)\n"
    try:
        message = str(exc)
    except Exception:  # noqa: BLE001
        message = f"<{type(exc).__qualname__}: str() of the exception raised>"
    type_name = f"{type(exc).__module__}.{type(exc).__qualname__}"
    import cloudpickle
    data = None
    # With its chain (`raise ... from`, an exception raised while handling another), which
    # pickling an exception drops; without it if the chain does not pickle; by name if neither.
    for payload in (lambda: _chained(exc, set()), lambda: _chained(exc, None)):
        try:
            data = cloudpickle.dumps(payload())
            pickle.loads(data)  # an exception that does not come back is sent by name
            break
        except Exception:  # noqa: BLE001 - any failure to pickle means: the next way
            data = None
    return (data, type_name, message, text)


CHAINED = "inputpipe.exception-chain"  # marks (CHAINED, exc, cause, context, suppress, members)
_MAX_CHAIN = 256  # exceptions of one chain sent at most (each is one level of recursion here)


def _chained(exc, seen):
    """(CHAINED, exc, its __cause__ and __context__ chained the same way or None,
    __suppress_context__, an exception group's members chained the same way), tracebacks
    cleared (the text has them); seen=None: exc alone."""
    exc.__traceback__ = None
    if seen is None or id(exc) in seen or len(seen) >= _MAX_CHAIN:
        return (CHAINED, exc, None, None, exc.__suppress_context__, ())
    seen.add(id(exc))
    cause = exc.__cause__
    context = exc.__context__
    members = exc.exceptions if _GROUP is not None and isinstance(exc, _GROUP) else ()
    return (CHAINED, exc, None if cause is None else _chained(cause, seen),
            None if context is None else _chained(context, seen), exc.__suppress_context__,
            tuple(_chained(m, seen) for m in members))


_GROUP = getattr(builtins, "BaseExceptionGroup", None)  # Python 3.11 and later


def unchained(payload, done=None):
    """The exception of a _chained payload, its __cause__ and __context__ restored. An
    exception met again (a cause that is also the context, a cycle: pickle gives one object
    back) keeps what its first, whole payload gave it; a part that is not an exception (its
    unpickling made something else) is dropped, the exception kept."""
    if not (isinstance(payload, tuple) and len(payload) == 6 and payload[0] == CHAINED):
        return payload if isinstance(payload, BaseException) else None
    _, exc, cause, context, suppress, members = payload
    done = set() if done is None else done
    if not isinstance(exc, BaseException):
        # Dropped; the exceptions below it may have their whole payloads only here.
        for part in (cause, context, *members):
            unchained(part, done)
        return None
    if id(exc) in done:
        return exc
    done.add(id(exc))
    links = unchained(cause, done), unchained(context, done)
    try:
        exc.__cause__, exc.__context__ = links
        exc.__suppress_context__ = bool(suppress)
    except Exception:  # noqa: BLE001 - an exception that refuses them: it comes without them
        pass
    for member in members:  # the group's own member objects (pickle shares them)
        unchained(member, done)
    return exc


class _Unpicklable:
    """A function the server could not unpickle: its workers raise why, call after call."""

    def __init__(self, exc):
        self.exc = exc

    def __call__(self, *args):
        raise self.exc


class _Stream:
    """A worker's copy of map's input from one iterator's start: its own iterator of the
    rebuilt input, restored to the parent's state, moved over the other workers' chunks
    without converting them, so that element `offset` of the stream is the parent's."""

    def __init__(self, fn, upstream, state, position, seed):
        self.fn, self.upstream, self.state = fn, upstream, state
        self.position, self.seed = position, seed
        self.it = None
        self.next = 0  # the offset the iterator yields next

    def _open(self):
        it = iter(_rebuilt(self.upstream))
        try:
            it.restore(self.state)
        except Exception as exc:
            from inputpipe import PipelineMismatchError
            if not isinstance(exc, PipelineMismatchError):
                raise
            # The recipe rebuilt another pipeline than the parent's: its files changed since
            # the map was built (replaced, rewritten), not a state of the user's.
            raise PipelineMismatchError(
                f"map's input rebuilt in worker process (pid {os.getpid()}) differs from the "
                f"parent's: a file it reads was replaced or changed since the pipeline was "
                f"built? {exc}") from None
        self.it, self.next = it, 0

    def compute(self, offset, count, send, progress):
        """send(offset, item) for each of the `count` elements from `offset`; progress (or
        None) is told which element is being computed."""
        try:
            if self.it is None or offset < self.next:
                self._open()
            if offset > self.next:
                from inputpipe import _core
                self.next += _core._skip(self.it, offset - self.next)
        except BaseException as exc:  # noqa: BLE001 - every element of the chunk reports it
            self.it = None
            frame = _describe(exc)
            for k in range(count):
                send(offset + k, (FAILED, frame))
            return
        for k in range(count):
            if self.next < offset + k:  # the input ended before this element
                send(offset + k, (ENDED, None))
                continue
            position = self.position + offset + k
            if progress is not None:  # from the read on: a crash there names this element
                progress.set(position)
            try:
                element = next(self.it)
            except StopIteration:
                if progress is not None:
                    progress.set(-1)
                send(offset + k, (ENDED, None))
                continue
            except BaseException as exc:  # noqa: BLE001 - the element's error, for the consumer
                self.next += 1
                if progress is not None:
                    progress.set(-1)
                send(offset + k, (UNREAD, _describe(exc)))
                continue
            self.next += 1
            try:
                args = element if isinstance(element, tuple) else (element,)
                if self.seed is not None:  # as the engine's seeded map: (seed, position)
                    from inputpipe._random import element_rng
                    args += (element_rng(self.seed, position),)
                item = (OK, self.fn(*args))
            except BaseException as exc:  # noqa: BLE001 - every failure goes back to the parent
                item = (FAILED, _describe(exc))
            if progress is not None:
                progress.set(-1)
            send(offset + k, item)


_datasets = {}  # the pickled recipe -> the Dataset rebuilt from it, in this worker


def _rebuilt(upstream):
    ds = _datasets.get(upstream)
    if ds is None:
        ds = _datasets[upstream] = pickle.loads(upstream)  # imports inputpipe: here only
    return ds


def _describe(exc):
    try:
        return _error_frame(exc)
    except BaseException:  # noqa: BLE001 - the report itself failed: say that much
        return (None, f"{type(exc).__module__}.{type(exc).__qualname__}",
                "<the exception could not be described>", "")


class _Results:
    """The items of the chunk being computed, sent as one RESULTS frame when the chunk is done,
    or earlier by a watcher thread once the current element has run FLUSH_AFTER_S: one frame
    (one send here, one receive and unpickling in the parent) per chunk rather than per
    element, without holding back the items computed before a slow element."""

    def __init__(self, sock):
        import threading
        self.sock = sock
        self.lock = threading.Lock()  # the socket's sends and the pending items
        self.wake = threading.Condition(self.lock)
        self.stream_id = None
        self.first = 0  # the offset of pending[0]
        self.pending = []
        self.since = None  # when the current element began, while a chunk is being computed
        self.broken = False  # the parent is gone: the main loop returns at its next send
        threading.Thread(target=self._watch, daemon=True).start()

    def begin(self, stream_id, offset):
        with self.lock:
            self.stream_id, self.first = stream_id, offset
            self.since = None

    def add(self, at, item):
        """The item of offset `at`: the next after the pending ones."""
        import time
        with self.lock:
            if not self.pending:
                self.first = at
            self.pending.append(item)
            was_idle = self.since is None
            self.since = time.monotonic()  # the next element begins now
            if was_idle:
                self.wake.notify()

    def end(self):
        """Sends what is pending (the rest of the chunk)."""
        with self.lock:
            self.since = None
            self._flush()
        if self.broken:
            raise BrokenPipeError

    def _flush(self):  # the lock held
        if not self.pending or self.broken:
            return
        items, self.pending = self.pending, []
        first, self.first = self.first, self.first + len(items)
        try:
            send_items(self.sock, RESULTS, (self.stream_id, first), items)
        except OSError:
            self.broken = True

    def _watch(self):
        import time
        with self.lock:
            while True:
                if self.since is None:
                    self.wake.wait()
                    continue
                late = self.since + FLUSH_AFTER_S - time.monotonic()
                if late > 0:
                    self.wake.wait(late)
                    continue
                self._flush()
                self.since = None  # until the next item: nothing new to send before it


class Progress:
    """The PROGRESS record in a memfd: the worker writes it, the parent reads it."""

    def __init__(self, fd):
        try:
            self.map = mmap.mmap(fd, PROGRESS.size)
        finally:
            os.close(fd)
        self.sequence = 0

    def set(self, position):
        import time
        self.sequence += 1
        PROGRESS.pack_into(self.map, 0, self.sequence, position, time.monotonic())
        self.sequence += 1
        struct.pack_into("<Q", self.map, 0, self.sequence)

    def read(self):
        """(position, since), or None while the worker is writing it."""
        sequence, position, since = PROGRESS.unpack_from(self.map)
        if sequence % 2 or struct.unpack_from("<Q", self.map)[0] != sequence:
            return None
        return position, since


def _work(sock, fn, server_pid):
    _die_with_parent(server_pid)
    streams = {}
    results = progress = None
    while True:
        try:
            kind, args, fds = recv_frame(sock)
        except (EOFError, OSError):
            return  # the parent dropped the pool
        if kind == WATCH:
            progress = Progress(fds[0])
            continue
        if kind in (OPEN, CHUNK, CLOSE):
            if kind == OPEN:
                streams[args[0]] = _Stream(fn, *args[1:])
            elif kind == CLOSE:
                streams.pop(args[0], None)
            else:
                stream_id, offset, count = args
                if results is None:
                    results = _Results(sock)
                results.begin(stream_id, offset)
                stream = streams.get(stream_id)
                try:
                    if stream is None:  # closed: still one reply per offset
                        for k in range(count):
                            results.add(offset + k, (ENDED, None))
                    else:
                        stream.compute(offset, count, results.add, progress)
                    results.end()
                except (BrokenPipeError, ConnectionResetError):
                    return
            continue
        try:
            result = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - every failure goes back to the parent
            try:
                frame = _error_frame(exc)
            except BaseException:  # noqa: BLE001 - the report itself failed: say that much
                frame = (None, f"{type(exc).__module__}.{type(exc).__qualname__}",
                         "<the exception could not be described>", "")
            send_frame(sock, ERROR, frame)
            continue
        try:
            send_frame(sock, RESULT, result)
        except (BrokenPipeError, ConnectionResetError):
            return
        except Exception as exc:  # noqa: BLE001 - a result that does not pickle
            send_frame(sock, ERROR, _unpicklable(result, exc))


def _unpicklable(result, exc):
    """The ERROR payload of a result that does not pickle: pickle's traceback, and that the
    function returned it."""
    data, type_name, message, text = _error_frame(exc)
    what = f"{type(result).__module__}.{type(result).__qualname__}"
    text = (f"the function returned a {what}, which does not pickle (the results of "
            f"processes=True travel pickled):\n{text}")
    return data, type_name, message, text


if __name__ == "__main__":  # python -c "runpy.run_path(THIS_FILE)" FD (see _processes.py)
    _serve(socket.socket(fileno=int(sys.argv[-1])))
