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


def numpy_dtype(dtype, what):
    """np.dtype(dtype): every spelling numpy accepts (np.int32, "int32", "i4", "<i4",
    np.dtype("int32")) and a tf.DType (its as_numpy_dtype). Anything else is an error naming
    `what` and saying what is accepted (a ValueError for an unknown name). REQUIRES: dtype is not None
    (np.dtype(None) is float64: callers give None their own meaning first)."""
    dtype = getattr(dtype, "as_numpy_dtype", dtype)  # tf.DType
    try:
        return np.dtype(dtype)
    except (TypeError, ValueError):
        # A name numpy does not know is a bad value; anything else a bad type.
        error = ValueError if isinstance(dtype, str) else TypeError
        raise error(f"{what}: expected a dtype (a numpy dtype or scalar type, a name numpy "
                        f"accepts such as 'int32' or 'i4', or a tf.DType); got {dtype!r}") from None


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
    # A spec has .shape and .dtype; a dtype alone may be a numpy scalar type (np.int64), whose
    # class attributes of those names are descriptors, not a spec's.
    is_spec = not isinstance(spec, type) and hasattr(spec, "dtype") and hasattr(spec, "shape")
    dtype = numpy_dtype(spec.dtype if is_spec else spec, f"{what}: dtype")
    if dtype.kind in "SUO":
        array = np.asarray(value, dtype=object)
    else:
        try:
            array = np.asarray(value, dtype=dtype)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{what}: cannot convert {value!r:.80} to {dtype}: {e}") from None
    shape = spec.shape if is_spec else None
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


def _signature_from_types(output_types, output_shapes):
    """tf.data's older pair (output_types, output_shapes: structures alike) as one signature.
    A spec passed as output_types (the second positional argument, output_signature's place
    before tf.data's order was taken) is kept as it is."""
    if output_shapes is None and not isinstance(output_types, type) and hasattr(
            output_types, "shape") and hasattr(output_types, "dtype"):
        return output_types
    if isinstance(output_types, tuple):
        shapes = output_shapes if output_shapes is not None else (None,) * len(output_types)
        if not isinstance(shapes, tuple) or len(shapes) != len(output_types):
            raise ValueError(f"from_generator: output_shapes {output_shapes!r} does not match "
                             f"output_types {output_types!r}")
        return tuple(_signature_from_types(t, s) for t, s in zip(output_types, shapes))
    if isinstance(output_types, dict):
        shapes = output_shapes if output_shapes is not None else {k: None for k in output_types}
        if not isinstance(shapes, dict) or set(shapes) != set(output_types):
            raise ValueError(f"from_generator: output_shapes {output_shapes!r} does not match "
                             f"output_types {output_types!r}")
        return {k: _signature_from_types(output_types[k], shapes[k]) for k in output_types}
    if output_shapes is None:
        return output_types  # a dtype alone: converted, any shape
    shape = getattr(output_shapes, "as_list", lambda: output_shapes)()  # tf.TensorShape
    return TensorSpec(None if shape is None else tuple(shape), output_types)


def _args_digest(args):
    import hashlib

    from inputpipe._fingerprint import _feed_value
    h = hashlib.sha256()
    _feed_value(args, h)
    return h.hexdigest()[:8]


def from_generator(generator, output_types=None, output_shapes=None, args=None,
                   output_signature=None, name=None):
    """The Dataset of `generator(*args)`'s values; see the module docstring.

    tf.data's argument order. output_signature, or the older pair output_types (a structure of
    dtypes) and output_shapes (the same structure of shapes, None for any), give the values'
    dtypes and shapes; give one or the other. args: a tuple of values passed to every call of
    `generator` (as numpy values are, not as tensors); without name=, they are part of the
    generator's identity (a digest of them in its name), so a state restores only into a
    dataset of the same args."""
    if not callable(generator):
        raise TypeError("from_generator: `generator` must be a callable returning a generator "
                        "(like tf.data), e.g. `lambda: gen`; got "
                        f"{type(generator).__name__}")
    if output_types is not None:
        if output_signature is not None:
            raise TypeError("from_generator: give output_signature or output_types / "
                            "output_shapes, not both")
        output_signature = _signature_from_types(output_types, output_shapes)
    elif output_shapes is not None:
        raise TypeError("from_generator: output_shapes needs output_types")
    args = () if args is None else tuple(args)
    if name is None:
        name = callable_name(generator)
        if args:
            name += f"[args={_args_digest(args)}]"

    def factory():
        return _Adapter(generator(*args), output_signature, name)

    from inputpipe.dataset import Dataset
    return Dataset._from_handle(_core.from_generator(factory, name))
