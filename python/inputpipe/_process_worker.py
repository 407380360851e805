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

Frames (both directions, on a SOCK_STREAM socketpair): a header `<B B I Q` (kind; 1 when the
buffers lie in a memfd passed with the frame, 0 when they follow the pickle in the stream; the
number of out-of-band buffers; the length of the pickle), the buffers' lengths (`<Q` each), the
pickle (protocol 5), then the buffers when inline. Buffers of numpy arrays travel out of band
(pickle protocol 5): above SHARED_MEMORY_BYTES together they go through one anonymous memfd
(memfd_create: it has no name, so nothing ever appears in /dev/shm, and its memory is freed when
the last mapping goes), mapped by the receiver without a copy; the file descriptor travels with
the frame (SCM_RIGHTS).

Lifetime: the server exits when the parent's end of its control socket closes (the parent
exited or was killed); each worker asks the kernel for SIGKILL when the server exits
(PR_SET_PDEATHSIG), and exits when its own socket closes (the parent dropped the pool). SIGINT
is ignored by both: Ctrl-C in a terminal reaches the whole process group, and the parent alone
decides what it means.
"""

import array
import io
import mmap
import os
import pickle
import signal
import socket
import struct
import sys

# Frame kinds.
INIT = 1  # parent -> server: (sys.path, modules to preload)
FORK = 2  # parent -> server: (worker index, function id), with the worker's socket as an fd
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
RESULT_AT = 12  # worker -> parent: (stream id, offset, item), one per offset of a CHUNK, in
#                 order and as each is computed (a slow element does not hold back the others)
CLOSE = 13  # parent -> worker: (stream id,): its iterator is gone
PRELOAD = 14  # parent -> server: (a pickled recipe,): rebuild that input now, so that the
#               workers forked later have it (and inputpipe imported) from the start
# An item: (OK, result), (FAILED, an ERROR frame's payload), (UNREAD, None) for an element whose
# read failed (the parent's own read of it failed too, and reports that), (ENDED, None) past
# the input's end.
OK, FAILED, UNREAD, ENDED = 0, 1, 2, 3

# Out-of-band buffers larger than this in total travel through a memfd rather than the socket.
SHARED_MEMORY_BYTES = 1 << 20
_ALIGN = 64
_HEADER = struct.Struct("<BBIQ")  # kind, in a memfd, buffer count, pickle length
_MAX_FDS = 4


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

    class Pickler(pickle.Pickler):
        def reducer_override(self, obj):
            t = type(obj)
            if t in scalars:
                return t, (obj.item(),)
            if (t is ndarray and obj.flags.c_contiguous and not obj.dtype.hasobject and
                    obj.dtype.names is None):
                return ndarray, (obj.shape, obj.dtype.str, pickle.PickleBuffer(obj))
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
    raws = [b.raw() for b in buffers]
    sizes = [r.nbytes for r in raws]
    memfd = -1
    tail = raws
    if sum(sizes) > SHARED_MEMORY_BYTES:
        total = sum(_aligned(s) for s in sizes)
        memfd = os.memfd_create("inputpipe-element", os.MFD_CLOEXEC)
        os.ftruncate(memfd, total)
        with mmap.mmap(memfd, total) as m:
            offset = 0
            for raw, size in zip(raws, sizes):
                m[offset:offset + size] = raw.cast("B")
                offset += _aligned(size)
        tail = []
        fds = tuple(fds) + (memfd,)
    head = (_HEADER.pack(kind, 1 if memfd >= 0 else 0, len(sizes), len(body)) +
            struct.pack(f"<{len(sizes)}Q", *sizes))
    parts = [head, body] + [r.cast("B") for r in tail]
    try:
        ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
        sent = sock.sendmsg(parts, ancillary)
        total = sum(len(p) for p in parts)
        if sent < total:  # a partial send (a signal): the rest without the descriptors
            rest = b"".join(bytes(p) for p in parts)[sent:]
            sock.sendall(rest)
    finally:
        if memfd >= 0:
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


def recv_frame(sock):
    """(kind, obj, fds) of the next frame; EOFError when the other end has closed. fds are the
    descriptors that came with the frame other than the buffers' memfd (the caller owns them)."""
    head, ancillary, _, _ = sock.recvmsg(_HEADER.size, socket.CMSG_SPACE(_MAX_FDS * 4))
    if not head:
        raise EOFError("the other end closed the connection")
    fds = []
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.extend(array.array("i", data[:len(data) - len(data) % 4]))
    if len(head) < _HEADER.size:
        head = bytes(head) + bytes(_recv_exact(sock, _HEADER.size - len(head)))
    kind, in_memfd, count, body_len = _HEADER.unpack(head)
    rest = _recv_exact(sock, 8 * count + body_len)  # one read for the sizes and the pickle
    sizes = struct.unpack_from(f"<{count}Q", rest) if count else ()
    body = memoryview(rest)[8 * count:]
    if in_memfd:
        memfd = fds.pop()
        total = sum(_aligned(s) for s in sizes)
        try:
            m = mmap.mmap(memfd, total)
        finally:
            os.close(memfd)
        view = memoryview(m)
        buffers, offset = [], 0
        for size in sizes:
            buffers.append(view[offset:offset + size])
            offset += _aligned(size)
    else:
        buffers = [_recv_exact(sock, size) for size in sizes]  # bytearrays: writable arrays
    return kind, pickle.loads(body, buffers=buffers), fds


# ---- The fork server ---------------------------------------------------------------------------


def _reply(ctl, kind, obj):
    try:
        send_frame(ctl, kind, obj)
    except OSError:
        os._exit(0)  # the parent is gone (or closing): quietly, the workers follow


def _serve(ctl):
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    kind, (path, preload), _ = recv_frame(ctl)
    sys.path[:] = path
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
        index, function_id = obj
        fn = functions.get(function_id)
        pid = os.fork()
        if pid == 0:
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
    try:
        import cloudpickle
        exc.__traceback__ = None
        data = cloudpickle.dumps(exc)
        pickle.loads(data)  # an exception that does not come back is sent by name and message
    except Exception:  # noqa: BLE001 - any failure to pickle means: by name
        data = None
    return (data, type_name, message, text)


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
        it.restore(self.state)
        self.it, self.next = it, 0

    def compute(self, offset, count, send):
        """send(offset, item) for each of the `count` elements from `offset`."""
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
            try:
                element = next(self.it)
            except StopIteration:
                send(offset + k, (ENDED, None))
                continue
            except Exception:  # noqa: BLE001 - the parent's read fails there too
                self.next += 1
                send(offset + k, (UNREAD, None))
                continue
            self.next += 1
            try:
                args = element if isinstance(element, tuple) else (element,)
                if self.seed is not None:  # as the engine's seeded map: (seed, position)
                    from inputpipe._random import element_rng
                    args += (element_rng(self.seed, self.position + offset + k),)
                item = (OK, self.fn(*args))
            except BaseException as exc:  # noqa: BLE001 - every failure goes back to the parent
                item = (FAILED, _describe(exc))
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


def _work(sock, fn, server_pid):
    _die_with_parent(server_pid)
    streams = {}
    while True:
        try:
            kind, args, _ = recv_frame(sock)
        except (EOFError, OSError):
            return  # the parent dropped the pool
        if kind in (OPEN, CHUNK, CLOSE):
            if kind == OPEN:
                streams[args[0]] = _Stream(fn, *args[1:])
            elif kind == CLOSE:
                streams.pop(args[0], None)
            else:
                stream_id, offset, count = args

                def send(at, item, stream_id=stream_id):
                    try:
                        send_frame(sock, RESULT_AT, (stream_id, at, item))
                    except (BrokenPipeError, ConnectionResetError):
                        raise
                    except Exception as exc:  # noqa: BLE001 - a result that does not pickle
                        send_frame(sock, RESULT_AT, (stream_id, at, (FAILED, _describe(exc))))

                stream = streams.get(stream_id)
                try:
                    if stream is None:  # closed: still one reply per offset
                        for k in range(count):
                            send(offset + k, (ENDED, None))
                    else:
                        stream.compute(offset, count, send)
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
            data, type_name, message, text = _error_frame(exc)
            # The traceback is pickle's own; say that the function returned it.
            what = f"{type(result).__module__}.{type(result).__qualname__}"
            text = (f"the function returned a {what}, which does not pickle (the results of "
                    f"processes=True travel pickled):\n{text}")
            send_frame(sock, ERROR, (data, type_name, message, text))


if __name__ == "__main__":  # python -c "runpy.run_path(THIS_FILE)" FD (see _processes.py)
    _serve(socket.socket(fileno=int(sys.argv[-1])))
