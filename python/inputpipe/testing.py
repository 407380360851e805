"""The exactness harness, in Python: the one check every op's checkpoint test uses.

    from inputpipe.testing import assert_exact_resume

    def make():                                   # module level: also usable in a new process
        return inputpipe.Dataset.range(100).map(square).batch(8)

    def test_batch_resumes_exactly():
        assert_exact_resume(make, fresh_process=True)

For each breakpoint k in {0, 1, 2, 5, 11, a random k, the last element, the end, after the
end}: a fresh iterator reads k elements and saves; a fresh iterator of a freshly built pipeline
restores the state; the rest it yields must equal the uninterrupted stream element by element
(structure, dtype, shape, bytes; nested datasets compared by their elements), and the saving
iterator itself must go on unchanged. Every state must stay under `max_state_bytes`. With
fresh_process=True (make_ds a module-level function) some breakpoints are also restored in a
new Python process that builds the pipeline again, as a resumed training job would.

The C++ counterpart is src/testing/exactness.h.
"""

from __future__ import annotations

import argparse
import os
import pickle
import random
import subprocess
import sys
import tempfile
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Union

import numpy as np

from inputpipe._typing import Element
from inputpipe.ragged import RaggedArray

if TYPE_CHECKING:  # the package imports this module lazily: no import cycle at run time
    from inputpipe.dataset import Dataset

# What assert_exact_resume takes: a function building the pipeline, or the Dataset itself.
DatasetFactory = Union[Callable[[], "Dataset"], "Dataset"]

__all__ = ["assert_exact_resume", "collect", "materialize", "assert_same_element"]


def materialize(element: Element) -> Any:
    """element with every nested Dataset replaced by ("<dataset>", [its elements])."""
    from inputpipe.dataset import Dataset  # noqa: PLC0415 (the package imports this module lazily)

    if isinstance(element, Dataset):
        return ("<dataset>", [materialize(e) for e in element])
    if isinstance(element, tuple):
        return tuple(materialize(e) for e in element)
    if isinstance(element, dict):
        return {k: materialize(v) for k, v in element.items()}
    return element


def collect(iterator: Iterator[Element], limit: int | None = None) -> list[Any]:
    """Up to `limit` (all when None) materialised elements of `iterator`."""
    out: list[Any] = []
    while limit is None or len(out) < limit:
        try:
            element = next(iterator)
        except StopIteration:
            break
        out.append(materialize(element))
    return out


def _describe(value):
    if isinstance(value, (np.ndarray, np.generic)):
        return f"{type(value).__name__} {value.dtype}{list(np.shape(value))} {value!r}"
    return f"{type(value).__name__} {value!r}"


def assert_same_element(expected: Any, actual: Any, where: str = "element") -> None:
    """Equal structure, types, dtypes, shapes and bytes; AssertionError naming the path."""
    if type(expected) is not type(actual):
        raise AssertionError(f"{where}: expected {_describe(expected)}, got {_describe(actual)}")
    if isinstance(expected, tuple):
        if len(expected) != len(actual):
            raise AssertionError(f"{where}: expected a tuple of {len(expected)}, "
                                 f"got one of {len(actual)}")
        for i, (e, a) in enumerate(zip(expected, actual)):
            assert_same_element(e, a, f"{where}[{i}]")
    elif isinstance(expected, dict):
        if list(expected) != list(actual):
            raise AssertionError(f"{where}: expected keys {list(expected)}, got {list(actual)}")
        for key in expected:
            assert_same_element(expected[key], actual[key], f"{where}[{key!r}]")
    elif isinstance(expected, list):  # a materialised dataset's elements
        if len(expected) != len(actual):
            raise AssertionError(f"{where}: expected {len(expected)} elements, "
                                 f"got {len(actual)}")
        for i, (e, a) in enumerate(zip(expected, actual)):
            assert_same_element(e, a, f"{where}[{i}]")
    elif isinstance(expected, RaggedArray):
        assert_same_element(expected.row_splits, actual.row_splits, f"{where}.row_splits")
        assert_same_element(expected.values, actual.values, f"{where}.values")
    elif isinstance(expected, (np.ndarray, np.generic)):
        if expected.dtype != actual.dtype or np.shape(expected) != np.shape(actual):
            raise AssertionError(f"{where}: expected {_describe(expected)}, "
                                 f"got {_describe(actual)}")
        if expected.dtype == object:
            same = expected.ravel().tolist() == actual.ravel().tolist()
        else:
            same = np.asarray(expected).tobytes() == np.asarray(actual).tobytes()
        if not same:
            raise AssertionError(f"{where}: expected {_describe(expected)}, "
                                 f"got {_describe(actual)}")
    elif expected != actual:
        raise AssertionError(f"{where}: expected {_describe(expected)}, got {_describe(actual)}")


def _assert_same_stream(expected, actual, what):
    if len(expected) != len(actual):
        raise AssertionError(f"{what}: expected {len(expected)} elements, got {len(actual)}")
    for i, (e, a) in enumerate(zip(expected, actual)):
        assert_same_element(e, a, f"{what}: element {i}")


def _sort_key(element):
    return pickle.dumps(element)


def _dataset(make_ds):
    from inputpipe.dataset import Dataset  # noqa: PLC0415

    return make_ds if isinstance(make_ds, Dataset) else make_ds()


def _factory_name(make_ds):
    qualname = getattr(make_ds, "__qualname__", "")
    module = getattr(make_ds, "__module__", None)
    if not module or not qualname or "<" in qualname:
        raise ValueError("fresh_process=True needs make_ds to be a module-level function "
                         f"(importable in a new process), got {make_ds!r}")
    return f"{module}:{qualname}"


def _resume_in_fresh_process(make_ds, state, limit):
    """Restores `state` into make_ds() in a new Python process; returns the rest it yields."""
    with tempfile.TemporaryDirectory(prefix="inputpipe-exactness-") as tmp:
        state_path = os.path.join(tmp, "state")
        out_path = os.path.join(tmp, "rest.pickle")
        with open(state_path, "wb") as f:
            f.write(state)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        command = [sys.executable, "-m", "inputpipe.testing", "--factory",
                   _factory_name(make_ds), "--state", state_path, "--out", out_path]
        if limit is not None:
            command += ["--limit", str(limit)]
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        if result.returncode != 0:
            raise AssertionError(f"restoring in a fresh process failed "
                                 f"(exit {result.returncode}):\n{result.stderr}")
        with open(out_path, "rb") as f:
            return pickle.load(f)


def assert_exact_resume(make_ds: DatasetFactory, *, max_state_bytes: int = 1024,
                        max_elements: int = 2000, extra_breakpoints: Iterable[int] = (),
                        seed: int = 20261127, external_state_policy: str = "fail",
                        fresh_process: bool = False, deterministic: bool = True,
                        ordered: bool = True) -> list[Any]:
    """Asserts that make_ds's iterators resume exactly (see the module docstring).

    make_ds: a function building the pipeline (called for every iterator, as a restarted job
      would), or a Dataset.
    max_elements: infinite or long datasets are compared over their first max_elements.
    fresh_process: also restore breakpoints {5, random k, last} in a new Python process
      (make_ds must be a module-level function).
    deterministic=False: the pipeline may give another stream each time it is built (an
      unseeded shuffle); then the restored rest is compared with the saving iterator's own.
    ordered=False: order inside the rest may differ (deterministic=False in map/interleave);
      the elements read before the save plus the restored rest must then be the stream's
      elements exactly once.
    Returns the uninterrupted stream (materialised).
    """
    expected = collect(iter(_dataset(make_ds)), max_elements)
    n = len(expected)
    finite = n < max_elements
    rng = random.Random(seed)
    breakpoints = {0, 1, 2, 5, 11, max(n - 1, 0), n, n + 1, *extra_breakpoints}
    random_k = rng.randrange(n) if n > 0 else 0
    breakpoints.add(random_k)
    in_new_process = {5, random_k, max(n - 1, 0)} if fresh_process else set()

    for k in sorted(breakpoints):
        if k > n + 1 or (not finite and k > n):
            continue
        what = f"breakpoint {k} of {n}"
        it = iter(_dataset(make_ds))
        head = collect(it, min(k, n))
        consumed = len(head)
        for _ in range(k - n):  # after the end: next() keeps raising StopIteration
            try:
                extra = next(it)
            except StopIteration:
                continue
            raise AssertionError(f"{what}: next() after the end gave {_describe(extra)}")
        state = it.save(external_state_policy)
        if not isinstance(state, bytes):
            raise AssertionError(f"{what}: save() returned {type(state).__name__}, not bytes")
        if len(state) > max_state_bytes:
            raise AssertionError(f"{what}: the state grew to {len(state)} bytes "
                                 f"(bound {max_state_bytes})")
        rest_limit = None if finite else n - consumed
        resumed_it = iter(_dataset(make_ds))
        resumed_it.restore(state)
        resumed = collect(resumed_it, rest_limit)
        continued = collect(it, rest_limit)  # saving must not disturb the saving iterator
        if not ordered:
            whole = sorted(head + resumed, key=_sort_key)
            _assert_same_stream(sorted(expected, key=_sort_key), whole,
                                f"{what}: elements before the save + restored rest")
            continue
        if deterministic:
            _assert_same_stream(expected[:consumed], head[:consumed], f"{what}: head")
            _assert_same_stream(expected[consumed:], resumed, f"{what}: restored rest")
            _assert_same_stream(expected[consumed:], continued, f"{what}: saving iterator")
        else:
            _assert_same_stream(continued, resumed, f"{what}: restored rest vs saving iterator")
        if k in in_new_process:
            fresh = _resume_in_fresh_process(make_ds, state, rest_limit)
            _assert_same_stream(continued, fresh, f"{what}: rest restored in a fresh process")
    return expected


def _child_main(argv=None):
    """`python -m inputpipe.testing --factory mod:fn --state FILE --out FILE [--limit N]`:
    builds the pipeline, restores the state, pickles the rest of the stream."""
    import importlib  # noqa: PLC0415

    parser = argparse.ArgumentParser(prog="python -m inputpipe.testing")
    parser.add_argument("--factory", required=True)
    parser.add_argument("--state", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args(argv)
    module_name, qualname = args.factory.split(":")
    factory: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        factory = getattr(factory, part)
    with open(args.state, "rb") as f:
        state = f.read()
    it = iter(factory())
    it.restore(state)
    rest = collect(it, args.limit)
    with open(args.out, "wb") as f:
        pickle.dump(rest, f)
    return 0


if __name__ == "__main__":
    sys.exit(_child_main())
