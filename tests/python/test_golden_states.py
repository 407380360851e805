"""Golden states of Python-built pipelines: saved by the first version of the state format,
committed under tests/data/states/v1/python/, they must restore in every later version and
continue with the elements pinned beside them (next_elements.json), as the C++ golden states
of src/state/state_compat_test.cc do for the engine's own pipelines.

A pin is literal: a change of order fails here even when today's code changed the order from
the start as well. Never regenerate a committed state or pin; a new case writes only its own:

    INPUTPIPE_WRITE_GOLDEN_STATES=1 .venv/bin/python -m pytest -q \
        tests/python/test_golden_states.py -k write

The pipelines name their generators (from_generator(name=...)) and hold no other Python
function, so that their fingerprints depend on the code of inputpipe only, not on this module's
name or a function's bytecode.
"""

import json
import os

import numpy as np
import pytest

import inputpipe
from inputpipe import Dataset, TensorSpec

HERE = os.path.dirname(os.path.abspath(__file__))
STATES = os.path.join(HERE, "..", "data", "states", "v1", "python")
PINS = os.path.join(STATES, "next_elements.json")
PINNED = 5  # elements pinned after each state


class Counting:
    """0, 1, ..., n-1, with get_state/set_state: checkpointable through from_generator."""

    def __init__(self, n=25):
        self.n = n
        self.i = 0

    def __iter__(self):
        return self

    def __next__(self):
        if self.i >= self.n:
            raise StopIteration
        self.i += 1
        return self.i - 1

    def get_state(self):
        return {"i": self.i}

    def set_state(self, state):
        self.i = state["i"]


class Words:
    """(index, word) pairs, its state as raw bytes."""

    def __init__(self):
        self.i = 0

    def __iter__(self):
        return self

    def __next__(self):
        if self.i >= 12:
            raise StopIteration
        self.i += 1
        return self.i - 1, "w" * (self.i % 4) + str(self.i)

    def get_state(self):
        return self.i.to_bytes(4, "little")

    def set_state(self, state):
        self.i = int.from_bytes(state, "little")


def _generator():
    return Dataset.from_generator(Counting, output_signature=TensorSpec((), "int64"),
                                  name="golden_counting")


def _generator_shuffled_batched():
    return _generator().shuffle(6, seed=4).batch(4)


def _tuple_generator():
    return Dataset.from_generator(
        Words, output_signature=(TensorSpec((), "int64"), TensorSpec((), object)),
        name="golden_words").repeat(2)


def _global_shuffle():
    table = {"id": np.arange(20, dtype=np.int64),
             "score": np.linspace(0.0, 4.75, 20),
             "tag": np.array([b"t%d" % (i % 3) for i in range(20)], dtype=object)}
    return Dataset.from_tensor_slices(table).shuffle(seed=9).batch(3)


def _range_shuffle_repeat():
    return Dataset.range(3, 40, 2).shuffle(5, seed=2).repeat(2)


# name -> (pipeline, steps at which a state is saved; None: after the end)
CASES = {
    "from_generator": (_generator, [0, 6, None]),
    "from_generator_shuffle_batch": (_generator_shuffled_batched, [0, 2, None]),
    "from_generator_tuple_repeat": (_tuple_generator, [0, 5, 15, None]),
    "global_shuffle_dict": (_global_shuffle, [0, 3, None]),
    "shuffle_repeat": (_range_shuffle_repeat, [0, 7, 25, None]),
}


def _state_name(case, step):
    return f"{case}-{'end' if step is None else step}.state"


def _text(value):
    """An element as exact text: dtype, shape and values; floats as repr (which round-trips)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_text(value[k])}" for k in sorted(value)) + "}"
    if isinstance(value, (tuple, list)):
        return "(" + ", ".join(_text(v) for v in value) + ")"
    array = np.asarray(value)
    if array.dtype.kind in "SUO":  # strings: as bytes, whatever numpy dtype holds them
        values = np.vectorize(lambda v: v if isinstance(v, bytes) else str(v).encode(),
                              otypes=[object])(array).tolist() if array.size else []
        return f"string{list(array.shape)} {values!r}"
    return f"{array.dtype}{list(array.shape)} {array.tolist()!r}"


def _advanced(ds, step):
    it = iter(ds)
    taken = 0
    while step is None or taken < step:
        try:
            next(it)
        except StopIteration:
            break
        taken += 1
    return it


def _next_texts(it):
    out = []
    for _ in range(PINNED):
        try:
            out.append(_text(next(it)))
        except StopIteration:
            out.append("end")
            break
    return out


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _pins():
    with open(PINS) as f:
        return json.load(f)


@pytest.mark.skipif(not os.environ.get("INPUTPIPE_WRITE_GOLDEN_STATES"),
                    reason="set INPUTPIPE_WRITE_GOLDEN_STATES=1 to write missing golden states")
def test_write_missing_golden_states():
    os.makedirs(STATES, exist_ok=True)
    pins = _pins() if os.path.exists(PINS) else {}
    for case, (make, steps) in CASES.items():
        for step in steps:
            name = _state_name(case, step)
            path = os.path.join(STATES, name)
            if not os.path.exists(path):  # never rewritten: its worth is its age
                with open(path, "wb") as f:
                    f.write(_advanced(make(), step).save())
            if name not in pins:
                it = iter(make())
                it.restore(_read(path))
                pins[name] = _next_texts(it)
    with open(PINS, "w") as f:
        json.dump(pins, f, indent=1, sort_keys=True)
        f.write("\n")


def test_every_golden_state_has_a_case_and_a_pin():
    expected = {_state_name(c, s) for c, (_, steps) in CASES.items() for s in steps}
    on_disk = {n for n in os.listdir(STATES) if n.endswith(".state")}
    assert on_disk == expected
    assert set(_pins()) == expected


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_state_restores_and_continues_as_pinned(case):
    make, steps = CASES[case]
    pins = _pins()
    full = [_text(x) for x in make()]
    for step in steps:
        name = _state_name(case, step)
        it = iter(make())
        it.restore(_read(os.path.join(STATES, name)))
        rest = [_text(x) for x in it]
        # Literal first: the committed continuation.
        pinned = pins[name]
        got = rest[:PINNED] + (["end"] if len(rest) < PINNED else [])
        assert got == pinned, name
        # Then the whole rest, against an uninterrupted run of today's code.
        start = len(full) if step is None else step
        assert rest == full[start:], name


def test_golden_generator_state_holds_the_generator_state():
    """The from_generator states carry the generator's own get_state() payload (JSON), which
    a later version must hand to set_state() unchanged."""
    doc = json.loads(inputpipe.inspect_state(_read(os.path.join(STATES, "from_generator-6.state"))))
    assert any("from_generator" in entry for entry in doc["pipeline"])
    assert "golden_counting" in json.dumps(doc["pipeline"])


def test_a_state_of_a_newer_format_is_refused_naming_both_versions():
    # The decoder of test_restore_rejected re-encodes a state with a valid checksum.
    from test_restore_rejected import decode_state, encode_state

    version, pipeline, root = decode_state(_read(os.path.join(STATES, "from_generator-6.state")))
    assert version == 1
    it = iter(_generator())
    it.restore(encode_state(version, pipeline, root))  # the re-encoding itself is faithful
    assert _text(next(it)) == "int64[] 6"
    with pytest.raises(inputpipe.DataLossError) as raised:
        iter(_generator()).restore(encode_state(version + 1, pipeline, root))
    message = str(raised.value)
    assert "state format version 2" in message and "reads version 1" in message, message
    assert "saved by a newer inputpipe" in message, message
