"""Dataset.from_generator: elements from a Python generator, checkpointed when it can be.

    class Numbers:                        # a generator object with its own state
        def __init__(self): self.i = 0
        def __iter__(self): return self
        def __next__(self):
            if self.i >= 100: raise StopIteration
            self.i += 1
            return self.i - 1
        def get_state(self): return {"i": self.i}      # bytes or anything JSON can hold
        def set_state(self, state): self.i = state["i"]

    ds = inputpipe.Dataset.from_generator(Numbers, output_signature=inputpipe.TensorSpec((), "int64"))

`generator` is a callable returning the generator (as in tf.data): each iterator calls it for a
fresh one. If that object has `get_state()` and `set_state(state)`, a saved iterator holds
`get_state()`'s value (bytes as they are, anything else as JSON) and a restore calls
`set_state` on a fresh generator: the stream resumes exactly (a state it cannot take, whose
set_state raises KeyError, IndexError, TypeError or ValueError, is an inputpipe.DataLossError
naming the generator, as is an undecodable saved value). A plain generator cannot be
saved: it is external state, and the save policy ('fail' / 'warn' / 'ignore') applies, naming
`from_generator(fn=<module.qualname>)`.

`output_signature` (optional) is a structure of specs matching each element: a spec is an
inputpipe.TensorSpec, anything with `.shape` and `.dtype` (such as tf.TensorSpec), or just a
dtype. Values are converted to the spec's dtype and their shapes checked (None matches any
size); a mismatch is a ValueError naming the generator and the element.
"""

from __future__ import annotations

import collections
import json
from typing import Any, Callable

import numpy as np

from inputpipe import _core

TensorSpec = collections.namedtuple("TensorSpec", ["shape", "dtype"])
TensorSpec.__doc__ = "The shape (None for any size) and dtype of a generator's values."

_BYTES_TAG = b"b"
_JSON_TAG = b"j"


def callable_name(fn: Callable[..., Any]) -> str:
    """"module.qualname" of a callable, as the engine's fingerprints name functions (the main
    script's module by its name, as _fingerprint.module_name)."""
    from inputpipe._fingerprint import module_name
    target = fn if hasattr(fn, "__qualname__") else type(fn)
    module = module_name(getattr(target, '__module__', '?'))
    return f"{module}.{getattr(target, '__qualname__', '?')}"


def _numpy_dtype(dtype):
    dtype = getattr(dtype, "as_numpy_dtype", dtype)  # tf.DType
    return np.dtype(dtype)


def _convert(value, spec, what):
    if spec is None:
        return value
    if isinstance(spec, tuple) and not isinstance(spec, TensorSpec):
        if not isinstance(value, (tuple, list)) or len(value) != len(spec):
            raise ValueError(f"{what}: expected a tuple of {len(spec)} values, got {value!r:.80}")
        return tuple(_convert(v, s, f"{what}[{i}]") for i, (v, s) in enumerate(zip(value, spec)))
    if isinstance(spec, dict):
        if not isinstance(value, dict) or set(value) != set(spec):
            raise ValueError(f"{what}: expected a dict with keys {sorted(spec)}, got {value!r:.80}")
        return {k: _convert(value[k], spec[k], f"{what}[{k!r}]") for k in spec}
    dtype = _numpy_dtype(spec.dtype if hasattr(spec, "dtype") and hasattr(spec, "shape") else spec)
    if dtype.kind in "SUO":
        array = np.asarray(value, dtype=object)
    else:
        try:
            array = np.asarray(value, dtype=dtype)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{what}: cannot convert {value!r:.80} to {dtype}: {e}") from None
    shape = getattr(spec, "shape", None)
    if shape is not None:
        shape = tuple(None if d is None else int(d) for d in shape)
        if len(shape) != array.ndim or any(d is not None and d != n for d, n in zip(shape, array.shape)):
            raise ValueError(f"{what}: expected shape {shape}, got {array.shape}")
    return array


class _Adapter:
    """What the engine drives: next() -> converted value or None; get_state / set_state."""

    def __init__(self, generator, signature, name):
        self._generator = generator
        self._iterator = generator if hasattr(generator, "__next__") else iter(generator)
        self._signature = signature
        self._name = name
        self._count = 0
        self.checkpointable = callable(getattr(generator, "get_state", None)) and callable(
            getattr(generator, "set_state", None))

    def next(self):
        try:
            value = next(self._iterator)
        except StopIteration:
            return None
        if value is None:
            raise ValueError(f"from_generator(fn={self._name}): element {self._count} is None")
        value = _convert(value, self._signature, f"from_generator(fn={self._name}): element {self._count}")
        self._count += 1
        return value

    def get_state(self):
        state = self._generator.get_state()
        if isinstance(state, (bytes, bytearray)):
            return _BYTES_TAG + bytes(state)
        try:
            return _JSON_TAG + json.dumps(state, sort_keys=True).encode()
        except (TypeError, ValueError):
            raise TypeError(f"from_generator(fn={self._name}): get_state() must return bytes or a "
                            f"JSON-serialisable value, got {type(state).__name__}") from None

    def set_state(self, state):
        # The bytes come from a saved state: whatever is wrong with them is a DataLossError
        # naming the op, never a json / Unicode error from inside the adapter.
        where = f"corrupt state: from_generator(fn={self._name})"
        tag, payload = state[:1], state[1:]
        if tag == _BYTES_TAG:
            value = bytes(payload)
        elif tag == _JSON_TAG:
            try:
                value = json.loads(payload.decode())
            except (UnicodeDecodeError, ValueError) as e:
                raise _core.DataLossError(f"{where}: the generator state is not valid JSON "
                                          f"({e})") from None
        else:
            raise _core.DataLossError(f"{where}: unknown generator state tag {tag!r}")
        try:
            self._generator.set_state(value)
        except _core.DataLossError:
            raise
        except (KeyError, IndexError, TypeError, ValueError) as e:
            # What a set_state raises for a state of the wrong shape; other errors (OSError,
            # ...) are the generator's own and keep their type.
            raise _core.DataLossError(f"{where}: set_state() rejects the saved state: "
                                      f"{type(e).__name__}: {e}") from e


def from_generator(generator, output_signature=None, name=None):
    """The Dataset of `generator()`'s values; see the module docstring."""
    if not callable(generator):
        raise TypeError("from_generator: `generator` must be a callable returning a generator "
                        "(like tf.data), e.g. `lambda: gen`; got "
                        f"{type(generator).__name__}")
    name = name or callable_name(generator)

    def factory():
        return _Adapter(generator(), output_signature, name)

    from inputpipe.dataset import Dataset
    return Dataset._from_handle(_core.from_generator(factory, name))
