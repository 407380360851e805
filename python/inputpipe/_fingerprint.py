"""Names of Python callables for pipeline fingerprints.

A state restores only into a pipeline whose fingerprint matches, and a callable enters the
fingerprint by its name. Lambdas all share the qualname "<lambda>", so "module.<lambda>" alone
cannot tell `map(lambda x: x + 1)` from `map(lambda x: x * 2)`, nor `lambda x, k=k: x + k` for
k = 1 from k = 2: a state saved by one would restore into the other. So a lambda is named
"module.<lambda>#<digest>", the digest covering its bytecode, names and constants (nested code
included), and the values it closes over or takes as defaults, but not its file or line: the
same lambda in a restarted process, or moved within its file, has the same name. A
functools.partial is named after the function it wraps, with a digest of its bound arguments.

Values enter the digest when they are plain data (None, bool, int, float, complex, str, bytes,
numpy scalars and arrays up to 64 KiB, and tuples, lists, dicts, sets of these) or functions
(by name and digest); any other object enters by its type's name only, since its repr may hold
a memory address that differs between processes. Named functions (def) are named by module and
qualname, as in tf.data: editing a function's body keeps its name.
"""
import functools
import hashlib
import types

_MAX_ARRAY_BYTES = 64 * 1024
_MAX_ITEMS = 1024


def _feed_code(code: types.CodeType, h) -> None:
    h.update(code.co_code)
    h.update(repr(code.co_names).encode())
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _feed_code(const, h)
        else:
            h.update(repr(const).encode())


def _feed_value(value, h, depth=0) -> None:
    if depth > 8:
        h.update(b"<deep>")
        return
    if value is None or isinstance(value, (bool, int, float, complex, str, bytes)):
        h.update(f"{type(value).__name__}:{value!r};".encode())
        return
    if isinstance(value, (tuple, list)):
        h.update(f"{type(value).__name__}[{len(value)}](".encode())
        for item in value[:_MAX_ITEMS]:  # a long list enters by its length and head
            _feed_value(item, h, depth + 1)
        h.update(b")")
        return
    if isinstance(value, dict):
        h.update(f"dict[{len(value)}](".encode())
        for key, item in sorted(value.items(), key=lambda kv: repr(kv[0])):
            _feed_value(key, h, depth + 1)
            _feed_value(item, h, depth + 1)
        h.update(b")")
        return
    if isinstance(value, (set, frozenset)):
        h.update(f"{type(value).__name__}[{len(value)}](".encode())
        for item in sorted(value, key=repr):
            _feed_value(item, h, depth + 1)
        h.update(b")")
        return
    if isinstance(value, types.FunctionType):
        h.update(f"fn:{value.__module__}.{value.__qualname__}#{code_digest(value, depth + 1)};"
                 .encode())
        return
    if isinstance(value, functools.partial):
        h.update(b"partial(")
        _feed_value(value.func, h, depth + 1)
        _feed_value(value.args, h, depth + 1)
        _feed_value(value.keywords, h, depth + 1)
        h.update(b")")
        return
    numpy = _numpy()
    if numpy is not None and isinstance(value, (numpy.ndarray, numpy.generic)):
        array = numpy.asarray(value)
        if array.dtype != object and array.nbytes <= _MAX_ARRAY_BYTES:
            h.update(f"ndarray:{array.dtype.str}{array.shape}:".encode())
            h.update(numpy.ascontiguousarray(array).tobytes())
            return
    h.update(f"<{type(value).__module__}.{type(value).__qualname__}>".encode())


def _numpy():
    try:
        import numpy
        return numpy
    except ImportError:  # pragma: no cover - numpy is a dependency
        return None


def code_digest(fn, depth=0) -> str:
    """8 hex digits of the digest of fn's code, closure values and defaults; "" when fn has no
    Python code."""
    code = getattr(fn, "__code__", None)
    if not isinstance(code, types.CodeType):
        return ""
    h = hashlib.sha256()
    _feed_code(code, h)
    for cell in getattr(fn, "__closure__", None) or ():
        try:
            contents = cell.cell_contents
        except ValueError:  # an empty cell: the variable is not assigned yet
            h.update(b"<empty cell>")
            continue
        _feed_value(contents, h, depth)
    _feed_value(getattr(fn, "__defaults__", None), h, depth)
    _feed_value(getattr(fn, "__kwdefaults__", None), h, depth)
    return h.hexdigest()[:8]


def callable_name(fn) -> str:
    """The name a callable has in a pipeline fingerprint (see the module docstring)."""
    if isinstance(fn, functools.partial):
        h = hashlib.sha256()
        _feed_value(fn.args, h)
        _feed_value(fn.keywords, h)
        return f"functools.partial({callable_name(fn.func)})#{h.hexdigest()[:8]}"
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    if not isinstance(qualname, str) or not qualname:  # a callable object: name its type
        module = getattr(type(fn), "__module__", None)
        qualname = type(fn).__qualname__
    name = f"{module}.{qualname}" if isinstance(module, str) and module else qualname
    if "<lambda>" in qualname:
        digest = code_digest(fn)
        if digest:
            name += "#" + digest
    return name
