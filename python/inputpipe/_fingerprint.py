"""Digest of a Python function's code, for pipeline fingerprints.

Lambdas all share the qualname "<lambda>", so "module.<lambda>" alone cannot tell
`map(lambda x: x + 1)` from `map(lambda x: x * 2)`: a state saved by one would restore into the
other. The engine names a lambda "module.<lambda>#<digest>", the digest covering its bytecode,
names and constants (nested code included) but not its file or line, so the same lambda in a
restarted process — or moved within its file — has the same name.
"""
import hashlib
import types


def _feed(code: types.CodeType, h) -> None:
    h.update(code.co_code)
    h.update(repr(code.co_names).encode())
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _feed(const, h)
        else:
            h.update(repr(const).encode())


def code_digest(fn) -> str:
    """8 hex digits of the digest of fn's code; "" when fn has no Python code."""
    code = getattr(fn, "__code__", None)
    if not isinstance(code, types.CodeType):
        return ""
    h = hashlib.sha256()
    _feed(code, h)
    return h.hexdigest()[:8]
