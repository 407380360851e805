"""Names of Python callables for pipeline fingerprints.

A state restores only into a pipeline whose fingerprint matches, and a callable enters the
fingerprint by its name. The user can pin it: `map(fn, name="decode")` names the function
"decode" whatever the callable is (dataset.py). Without a name:

- A named function (def) is "module.qualname", as in tf.data: editing its body keeps its name.
  A function of the main script is named by the script's module name, not "__main__": by
  `__main__.__spec__.name` when run with -m, else by the script's file stem, so that
  `python train.py` and `import train` name `parse` alike, "train.parse" (without a file,
  as in a REPL or `python -c`, it stays "__main__"). Older versions wrote "__main__.parse";
  the engine reads that as "train.parse" in a saved state (SetMainModuleName, state.h).
- Lambdas all share the qualname "<lambda>", so "module.<lambda>" alone cannot tell
  `map(lambda x: x + 1)` from `map(lambda x: x * 2)`, nor `lambda x, k=k: x + k` for k = 1
  from k = 2. A lambda is named "module.<lambda>#<digest>", the digest covering its source
  and the values it closes over or takes as defaults, but not its file or line: the same
  lambda in a restarted process, moved within its file or to another file, has the same name.
  The source enters as its syntax tree (the lambda's node in the parse of its file, picked by
  line and column, dumped without positions and without the fields that differ between Python
  versions), never as bytecode, which changes with every Python minor version: the name is the
  same under Python 3.11 and 3.12. Comments, spacing and line breaks do not count; a change of
  an operator, a name or a constant does.
- When the source cannot be found (a lambda built by exec / eval, `python -c`, a file edited
  or deleted since it was imported: the found source must compile to the running code's names
  and constants), the digest covers what the code object holds that does not depend on the
  Python version: argument names, the names it uses (globals, attributes, free variables) and
  its string, bytes, float and large integer constants. It cannot tell apart such lambdas that
  differ only in an operator, the order of operands, or small integers (`lambda x: x + 1` vs
  `lambda x: x * 2`): pass name= for those.
- A functools.partial is named after the function it wraps, with a digest of its bound
  arguments. A callable object is named by its type.

Values enter the digest when they are plain data (None, bool, int, float, complex, str, bytes,
numpy scalars and arrays up to 64 KiB, and tuples, lists, dicts, sets of these) or functions
(by name and digest); any other object enters by its type's name only, since its repr may hold
a memory address that differs between processes.
"""
import ast
import functools
import hashlib
import linecache
import os
import sys
import threading
import types

_MAX_ARRAY_BYTES = 64 * 1024
_MAX_ITEMS = 1024


# ---- Source of a function ------------------------------------------------------------------

# Fields that differ between Python versions for one source (3.13's type_params, 3.8-3.12's
# Constant.kind), hold no meaning (type comments) or none: ast.dump's own output is not stable
# (3.13 leaves out empty fields), so the dump is ours.
_AST_SKIPPED_FIELDS = frozenset({"kind", "type_comment", "type_params"})


def _feed_ast(node, h) -> None:
    if isinstance(node, ast.AST):
        h.update(f"{type(node).__name__}(".encode())
        for field, value in ast.iter_fields(node):
            if field in _AST_SKIPPED_FIELDS or value is None or (isinstance(value, list)
                                                                  and not value):
                continue
            h.update(f"{field}=".encode())
            _feed_ast(value, h)
            h.update(b",")
        h.update(b")")
    elif isinstance(node, list):
        h.update(b"[")
        for item in node:
            _feed_ast(item, h)
            h.update(b",")
        h.update(b"]")
    else:  # a constant's value, a name's identifier, an operator's flag
        h.update(f"{type(node).__name__}:{node!r}".encode())


_parsed_lock = threading.Lock()
_parsed = {}  # (filename, sha256 of its text) -> {first line: [function nodes]}
_MAX_PARSED_FILES = 64


def _function_nodes(filename, lines):
    """The lambda and def nodes of a file's source, by the first line of their code object."""
    text = "".join(lines)
    key = (filename, hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest())
    with _parsed_lock:
        found = _parsed.get(key)
    if found is not None:
        return found
    try:
        tree = ast.parse(text, filename)
    except (SyntaxError, ValueError):
        tree = None
    found = {}
    for node in ast.walk(tree) if tree is not None else ():
        if isinstance(node, ast.Lambda):
            line = node.lineno
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            # A decorated function's code starts at its first decorator.
            line = node.decorator_list[0].lineno if node.decorator_list else node.lineno
        else:
            continue
        found.setdefault(line, []).append(node)
    with _parsed_lock:
        if len(_parsed) >= _MAX_PARSED_FILES:
            _parsed.clear()
        _parsed[key] = found
    return found


def _argument_names(args: ast.arguments):
    names = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
    names += [a.arg for a in (args.vararg, args.kwarg) if a is not None]
    return names


def _code_argument_names(code: types.CodeType):
    n = code.co_argcount + code.co_kwonlyargcount
    n += bool(code.co_flags & 0x04) + bool(code.co_flags & 0x08)  # *args, **kwargs
    return list(code.co_varnames[:n])


def _constants(code: types.CodeType, out):
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _constants(const, out)
        else:
            out.append((type(const).__name__, repr(const)))
    return out


def _names(code: types.CodeType, out):
    out.update(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _names(const, out)
    return out


def _free_names(code: types.CodeType, out):
    out.update(code.co_freevars)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _free_names(const, out)
    return out


def _compiled(node, code: types.CodeType, filename):
    """`node` compiled on its own by this interpreter, when that has `code`'s constants and
    names (the source found is the running code's, not a file edited since); else None.
    Compiled alone, the function's free variables become globals, so its names may hold those
    too."""
    if isinstance(node, ast.Lambda):
        tree = ast.Expression(body=node)
        mode = "eval"
    else:
        tree = ast.Module(body=[node], type_ignores=[])
        mode = "exec"
    try:
        module = compile(tree, filename, mode, dont_inherit=True)
    except (SyntaxError, ValueError, TypeError):
        return None
    compiled = next((c for c in module.co_consts if isinstance(c, types.CodeType)), None)
    if compiled is None or compiled.co_name != code.co_name:
        return None
    names = _names(code, set())
    compiled_names = _names(compiled, set())
    if (_constants(compiled, []) == _constants(code, []) and names <= compiled_names
            and compiled_names <= names | _free_names(code, set())):
        return compiled
    return None


def _within(node, code: types.CodeType) -> bool:
    """Whether every located instruction of `code` lies inside `node`'s source span (Python
    3.11+; earlier versions have no columns: True)."""
    positions = getattr(code, "co_positions", None)
    if positions is None:
        return True
    start = (node.lineno, node.col_offset)
    end = (node.end_lineno, node.end_col_offset)
    for line, end_line, col, end_col in positions():
        if line is None or col is None or end_line is None or end_col is None:
            continue
        if col == 0 and end_col == 0:  # RESUME, the implicit return: the whole line
            continue
        if (line, col) < start or (end_line, end_col) > end:
            return False
    return True


def _source_node(fn):
    """The syntax tree node of fn's source, or None when it cannot be found for sure."""
    code = fn.__code__
    filename = code.co_filename
    if not filename or (filename.startswith("<") and filename.endswith(">")
                        and not linecache.getlines(filename)):
        return None  # exec / eval / -c: no source (a REPL's may be in linecache)
    try:
        linecache.checkcache(filename)
        lines = linecache.getlines(filename, getattr(fn, "__globals__", None))
    except Exception:  # a loader's get_source may raise anything
        return None
    if not lines:
        return None
    nodes = _function_nodes(filename, lines).get(code.co_firstlineno, [])
    want_args = _code_argument_names(code)
    lam = code.co_name == "<lambda>"
    nodes = [n for n in nodes if isinstance(n, ast.Lambda) == lam
             and (lam or n.name == code.co_name) and _argument_names(n.args) == want_args]
    if len(nodes) > 1:
        nodes = [n for n in nodes if _within(n, code)]
    compiled = [(n, _compiled(n, code, filename)) for n in nodes]
    compiled = [(n, c) for n, c in compiled if c is not None]
    if len(compiled) > 1:
        # Before 3.11 (no columns), lambdas of one line are told apart by their bytecode as
        # this interpreter compiles them (to find the node only: the digest never holds it).
        same = [(n, c) for n, c in compiled if c.co_code == code.co_code]
        if same:
            compiled = same
    nodes = [n for n, _ in compiled]
    if not nodes:
        return None
    if len(nodes) > 1:
        # Several lambdas on one line that this interpreter cannot tell apart by their columns
        # (before 3.11) and that compile alike: one source, unless their trees differ.
        dumps = set()
        for n in nodes:
            h = hashlib.sha256()
            _feed_ast(n, h)
            dumps.add(h.digest())
        if len(dumps) > 1:
            return None
    return nodes[0]


_source_digests_lock = threading.Lock()
_source_digests = {}  # (code, filename) -> digest of its source's tree, or None without source
_MAX_SOURCE_DIGESTS = 4096


def _source_digest(fn):
    """The digest of fn's source tree, or None when it has none. Cached by code object (a code
    object's source never changes): the functions of datasets built per element (flat_map,
    window) are looked up once."""
    code = fn.__code__
    key = (code, code.co_filename)
    with _source_digests_lock:
        if key in _source_digests:
            return _source_digests[key]
    node = _source_node(fn)
    digest = None
    if node is not None:
        h = hashlib.sha256()
        if isinstance(node, ast.Lambda):
            _feed_ast(node, h)
        else:  # a def: its arguments and body, not its decorators or name (its qualname)
            _feed_ast(node.args, h)
            _feed_ast(node.body, h)
        digest = h.digest()
    with _source_digests_lock:
        if len(_source_digests) >= _MAX_SOURCE_DIGESTS:
            _source_digests.clear()
        _source_digests[key] = digest
    return digest


def _feed_source(fn, h) -> bool:
    digest = _source_digest(fn)
    if digest is None:
        return False
    h.update(b"source:" + digest)
    return True


# Constants whose presence in co_consts does not depend on the Python version: small integers
# (3.14's LOAD_SMALL_INT), None, booleans, folded tuples vary; these do not.
def _stable_constant(const, out):
    if isinstance(const, (str, bytes, float, complex)):
        out.append(f"{type(const).__name__}:{const!r}")
    elif isinstance(const, int) and not isinstance(const, bool) and abs(const) > 256:
        out.append(f"int:{const!r}")
    elif isinstance(const, (tuple, frozenset)):
        for item in sorted(const, key=repr) if isinstance(const, frozenset) else const:
            _stable_constant(item, out)


def _feed_code(code: types.CodeType, h) -> None:
    """The fallback without source: what the code object holds that no Python version changes
    (no bytecode); see the module docstring for what it cannot tell apart."""
    h.update(f"code:{code.co_name}:{_code_argument_names(code)!r}:".encode())
    h.update(repr(sorted(_names(code, set()))).encode())
    h.update(repr(sorted(_free_names(code, set()))).encode())
    constants = []
    stack = [code]
    while stack:
        c = stack.pop(0)
        for const in c.co_consts:
            if isinstance(const, types.CodeType):
                stack.append(const)
            else:
                _stable_constant(const, constants)
    h.update(repr(sorted(constants)).encode())


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
        h.update(f"fn:{module_name(value.__module__)}.{value.__qualname__}#"
                 f"{code_digest(value, depth + 1)};"
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
            # ml_dtypes' bfloat16 and other void-kind dtypes share dtype.str ("<V2"): name them.
            kind = array.dtype.name if array.dtype.kind == "V" else array.dtype.str
            h.update(f"ndarray:{kind}{array.shape}:".encode())
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
    if not _feed_source(fn, h):
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


_main_name_lock = threading.Lock()
_main_name_sent = None


def main_module_name():
    """The module name of the main script: `__main__.__spec__.name` under -m, else the stem of
    its file ("train" for `python train.py`); None without either (a REPL, `python -c`)."""
    main = sys.modules.get("__main__")
    if hasattr(main, "__inputpipe_main_name__"):  # a worker process: its parent's (or None)
        return main.__inputpipe_main_name__
    spec = getattr(main, "__spec__", None)
    name = getattr(spec, "name", None)
    if isinstance(name, str) and name and name not in ("__main__", "__mp_main__"):
        return name
    path = getattr(main, "__file__", None)
    if isinstance(path, str) and path:
        stem = os.path.splitext(os.path.basename(path))[0]
        if stem.isidentifier():
            return stem
    return None


def module_name(module):
    """`module`, "__main__" (or "__mp_main__", the main script in a process multiprocessing
    spawned) replaced by the main script's module name (see main_module_name),
    which is passed to the engine once, for reading "__main__." in older states."""
    if module not in ("__main__", "__mp_main__"):  # the latter: multiprocessing's spawned main
        return module
    name = main_module_name()
    if name is None:
        return module
    global _main_name_sent
    with _main_name_lock:
        if _main_name_sent != name:
            from inputpipe import _core
            _core._set_main_module_name(name)
            _main_name_sent = name
    return name


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
    if isinstance(module, str):
        module = module_name(module)
    name = f"{module}.{qualname}" if isinstance(module, str) and module else qualname
    if "<lambda>" in qualname:
        digest = code_digest(fn)
        if digest:
            name += "#" + digest
    return name
