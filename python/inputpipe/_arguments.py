"""Clear errors for arguments the engine's bindings (inputpipe._core) cannot convert.

nanobind refuses an argument its casters cannot convert (an int outside int64, None where bytes
are expected, a str where an int is) with a TypeError that lists signatures ("incompatible
function arguments. The following argument types are supported: ..."). install() wraps every
function of _core and the public methods of its classes once, at import: a call that succeeds is
unchanged (the wrapper only adds a Python call), and that TypeError is replaced by one naming
the function, the argument and what it accepts, or by a ValueError for an int outside int64:

    >>> it.restore(None)
    TypeError: Iterator.restore: state must be bytes (what Iterator.save() returned); got None
    >>> hook.after_step(2**63)
    ValueError: CheckpointInputPipelineHook.after_step: global_step must fit in int64
    (-2**63 to 2**63 - 1); got 9223372036854775808

One helper for every binding, so that a new binding gets it without a word.
"""

from __future__ import annotations

import functools
import operator
import re
from typing import Any, Callable

# What users call the engine's classes (CheckpointHook is wrapped by hook.py's class).
_PUBLIC_CLASS_NAMES = {"CheckpointHook": "CheckpointInputPipelineHook"}
_METHODS = ("restore", "save", "begin", "restore_for_model_step", "after_step", "end", "get")
_NANOBIND_REFUSAL = "incompatible function arguments"


def _split_params(text: str) -> list[str]:
    """The parameters of a signature's "(...)", split at the commas outside brackets."""
    params: list[str] = []
    depth = start = 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            params.append(text[start:i].strip())
            start = i + 1
    if text[start:].strip():
        params.append(text[start:].strip())
    return params


def _parameters(fn: Any) -> list[tuple[str, str]] | None:
    """[(name, annotation)] of fn's first nanobind signature; None when it has none."""
    signatures = getattr(fn, "__nb_signature__", None)
    if not signatures:
        return None
    match = re.match(r"def \w+\((.*)\)(?: -> .*)?$", signatures[0][0], re.S)
    if match is None:
        return None
    out: list[tuple[str, str]] = []
    for param in _split_params(match.group(1)):
        if param in ("*", "/") or param.startswith("*"):
            continue
        name, _, annotation = param.partition(":")
        out.append((name.strip(), annotation.split("=", 1)[0].strip()))
    return out


def _shown(value: Any) -> str:
    return "None" if value is None else f"{type(value).__name__} {value!r:.60}"


def _refusal(api: str, name: str, annotation: str, value: Any) -> Exception | None:
    """The error for `value` of parameter `name`, or None when nanobind's caster takes it."""
    optional = annotation.endswith("| None")
    kind = annotation.removesuffix("| None").strip()
    if value is None:
        if optional:
            return None
        if kind in ("int", "bytes", "str", "bool", "float"):
            return TypeError(f"{api}: {name} must be {_WHAT[kind]}; got None")
        return None
    if kind == "int":
        if isinstance(value, bool) or not hasattr(value, "__index__"):
            return TypeError(f"{api}: {name} must be an int; got {_shown(value)}")
        index = operator.index(value)
        if not -2**63 <= index < 2**63:
            return ValueError(f"{api}: {name} must fit in int64 (-2**63 to 2**63 - 1); got "
                              f"{index}")
        return None
    sequence = re.fullmatch(r"collections\.abc\.Sequence\[(int|str)\]", kind)
    if sequence and isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            error = _refusal(api, f"{name}[{i}]", sequence.group(1), item)
            if error is not None:
                return error
        return None
    if kind == "bytes" and not isinstance(value, bytes):
        return TypeError(f"{api}: {name} must be {_WHAT['bytes']}; got {_shown(value)}")
    if kind == "str" and not isinstance(value, str):
        return TypeError(f"{api}: {name} must be {_WHAT['str']}; got {_shown(value)}")
    return None


_WHAT = {
    "int": "an int",
    "bytes": "bytes (what Iterator.save() returned)",
    "str": "a str",
    "bool": "a bool",
    "float": "a float",
}


def _explained(fn: Any, api: str, args: tuple[Any, ...], kwargs: dict[str, Any],
               skip_self: bool) -> Exception | None:
    params = _parameters(fn)
    if params is None:
        return None
    if skip_self and params and params[0][0] == "self":
        params = params[1:]
    values = dict(zip((name for name, _ in params), args))
    values.update(kwargs)
    for name, annotation in params:
        if name in values:
            error = _refusal(api, name, annotation, values[name])
            if error is not None:
                return error
    return None


def _wrap(fn: Callable[..., Any], api: str, method: bool) -> Callable[..., Any]:
    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except TypeError as e:
            if _NANOBIND_REFUSAL not in str(e):
                raise
            error = _explained(fn, api, args[1:] if method else args, kwargs, method)
            if error is None:
                raise
            raise error from None
    return call


def construct(cls: type, api: str, *args: Any, **kwargs: Any) -> Any:
    """cls(*args, **kwargs) with install()'s errors: nanobind constructs its classes without
    looking up a wrapped __init__, so a constructor is wrapped where it is called."""
    try:
        return cls(*args, **kwargs)
    except TypeError as e:
        if _NANOBIND_REFUSAL not in str(e):
            raise
        error = _explained(cls.__init__, api, args, kwargs, skip_self=True)
        if error is None:
            raise
        raise error from None


def install(core: Any) -> None:
    """Wraps _core's functions and its classes' public methods (once)."""
    if getattr(core, "_arguments_installed", False):
        return
    for attr in dir(core):
        value = getattr(core, attr)
        if isinstance(value, type):
            public = _PUBLIC_CLASS_NAMES.get(attr, attr)
            for name in _METHODS:
                method = value.__dict__.get(name)
                if method is not None and hasattr(method, "__nb_signature__"):
                    setattr(value, name, _wrap(method, f"{public}.{name}", method=True))
        elif callable(value) and hasattr(value, "__nb_signature__"):
            setattr(core, attr, _wrap(value, attr, method=False))
    core._arguments_installed = True
