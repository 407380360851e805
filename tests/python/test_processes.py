"""map(fn, processes=True): worker processes whose pipeline state does not know they exist.

The state of a pipeline with N worker processes is the same bytes as with threads or none, and
restores into any worker count; the output is the sequential map's. Functions as users write
them (lambdas, closures, partials, bound methods, __main__ functions) work; large arrays travel
through shared memory; exceptions keep their type. The failure modes (a worker killed, Ctrl-C,
the parent killed, the interpreter exiting) are in test_processes_failures.py.
"""

import functools
import operator
import pickle
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import inputpipe
from inputpipe import Dataset
from inputpipe import _processes
from inputpipe import _process_worker as wire
from inputpipe.testing import assert_exact_resume, collect

HERE = os.path.dirname(os.path.abspath(__file__))


def square_plus(x):
    return x * x + 1


def heavy_pair(x):
    # A tuple result with an array: structure and dtypes cross the process boundary.
    return x, np.full((3,), x, dtype=np.float32) * 0.5


def is_even(x):
    return x % 2 == 0


def sum_pair(a, b):
    return a + b


def augment(x, rng):
    return x + rng.integers(0, 1000)


def fails_at_7(x):
    if int(x) == 7:
        raise KeyError(f"no record {int(x)}")
    return x


class Scaler:
    def __init__(self, k):
        self.k = k

    def apply(self, x):
        return x * self.k


def pipeline(kind, n=None, deterministic=None):
    """One pipeline, its map run sequentially ("seq"), by threads or by n processes."""
    ds = Dataset.range(60).shuffle(seed=5)
    if kind == "seq":
        ds = ds.map(square_plus)
    elif kind == "threads":
        ds = ds.map(square_plus, num_parallel_calls=n, deterministic=deterministic)
    else:
        ds = ds.map(square_plus, num_parallel_calls=n, deterministic=deterministic,
                    processes=True)
    return ds.batch(4).prefetch(2)


def make_processes_2():
    return pipeline("processes", 2)


def make_processes_tuple():
    return (Dataset.range(40).map(heavy_pair, num_parallel_calls=2, processes=True)
            .map(lambda x, y: (x, y.sum())).batch(3))


def make_filter_processes():
    return Dataset.range(50).filter(is_even, num_parallel_calls=2, processes=True).batch(3)


def make_seeded_processes():
    return Dataset.range(30).repeat(2).map(augment, num_parallel_calls=2, seed=11,
                                           processes=True)


def values(it):
    return [np.asarray(e).tolist() for e in it]


# ---- Output and functions ------------------------------------------------------------------


def test_output_is_the_sequential_maps_for_every_worker_count():
    expected = values(pipeline("seq"))
    for n in (1, 2, 4, inputpipe.AUTOTUNE):
        assert values(pipeline("processes", n)) == expected, n
    assert values(pipeline("processes", None)) == expected  # one process, the caller's thread


def test_functions_as_users_write_them():
    k = 3
    closure = lambda x: x * k  # noqa: E731 - a lambda over a local
    partial = functools.partial(sum_pair, 10)
    bound = Scaler(4).apply
    ds = Dataset.range(8)

    def run(fn):
        return values(ds.map(fn, num_parallel_calls=2, processes=True))
    assert run(closure) == [x * 3 for x in range(8)]
    assert run(partial) == [x + 10 for x in range(8)]
    assert run(bound) == [x * 4 for x in range(8)]
    pairs = Dataset.zip((ds, ds)).map(sum_pair, num_parallel_calls=2, processes=True)
    assert values(pairs) == [2 * x for x in range(8)]
    dicts = Dataset.from_tensor_slices({"a": np.arange(4), "s": ["w", "x", "y", "z"]})
    out = list(dicts.map(lambda d: {"a": d["a"] + 1, "s": d["s"] + b"!"}, num_parallel_calls=2,
                         processes=True))
    assert [int(e["a"]) for e in out] == [1, 2, 3, 4]
    assert [e["s"] for e in out] == [b"w!", b"x!", b"y!", b"z!"]


def test_functions_of_the_main_script_work(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(
        "import inputpipe\n"
        "class BadRecord(Exception):\n"
        "    pass\n"
        "class NeedsTwo(Exception):\n"
        "    def __init__(self, a, b):\n"
        "        super().__init__(f'{a}/{b}')\n"
        "def double(x):\n"
        "    return x * 2\n"
        "def bad(x):\n"
        "    raise BadRecord(f'record {int(x)}')\n"
        "def odd(x):\n"
        "    raise NeedsTwo(1, 2)\n"
        "if __name__ == '__main__':\n"
        "    ds = inputpipe.Dataset.range(6).map(double, num_parallel_calls=2, processes=True)\n"
        "    print([int(v) for v in ds])\n"
        "    try:\n"
        "        next(iter(inputpipe.Dataset.range(3).map(bad, processes=True)))\n"
        "    except BadRecord as e:\n"
        "        print('caught', e)\n"
        "    try:\n"
        "        next(iter(inputpipe.Dataset.range(3).map(odd, processes=True)))\n"
        "    except Exception as e:\n"
        "        print(type(e).__name__, e)\n"
        # A map of the script's before the workers, which rebuild it to read by index: they
        # fingerprint its function by the script's name, as the parent does ("train.double").
        "    ds = inputpipe.Dataset.range(4).map(double).map(lambda x: x + 1,\n"
        "                                                  num_parallel_calls=2, processes=True)\n"
        "    print([int(v) for v in ds])\n")
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "[0, 2, 4, 6, 8, 10]"
    assert lines[1] == "caught record 0"  # the parent's own class: `except BadRecord` works
    assert lines[2] in ("NeedsTwo 1/2", "RuntimeError __main__.NeedsTwo: 1/2"), lines[2]
    assert lines[3] == "[1, 3, 5, 7]"


def test_the_fingerprint_names_the_function_not_the_proxy():
    plain = Dataset.range(5).map(square_plus)
    procs = Dataset.range(5).map(square_plus, num_parallel_calls=3, processes=True)
    assert procs._handle.pipeline() == plain._handle.pipeline()
    assert "map(fn=test_processes.square_plus)" in procs._handle.pipeline()
    lam = lambda x: x + 1  # noqa: E731
    assert (Dataset.range(5).map(lam, processes=True)._handle.pipeline() ==
            Dataset.range(5).map(lam)._handle.pipeline())
    named = Dataset.range(5).map(lam, num_parallel_calls=2, processes=True, name="decode")
    assert "map(fn=decode)" in named._handle.pipeline()


def test_seeded_map_draws_what_the_sequential_one_draws():
    expected = values(Dataset.range(30).repeat(2).map(augment, seed=11))
    assert values(make_seeded_processes()) == expected


def test_structured_results_and_string_elements():
    out = list(Dataset.range(5).map(heavy_pair, num_parallel_calls=2, processes=True))
    assert [int(x) for x, _ in out] == list(range(5))
    assert all(y.dtype == np.float32 and y.tolist() == [x * 0.5] * 3 for x, y in out)


def test_filter_in_processes_keeps_what_filter_keeps():
    expected = values(Dataset.range(50).filter(is_even).batch(3))
    assert values(make_filter_processes()) == expected
    tuples = Dataset.zip((Dataset.range(9), Dataset.range(9)))
    kept = tuples.filter(lambda a, b: a % 3 == 0, num_parallel_calls=2, processes=True)
    assert [(int(a), int(b)) for a, b in kept] == [(0, 0), (3, 3), (6, 6)]
    with pytest.raises(ValueError, match="processes=True"):
        Dataset.range(3).filter(is_even, num_parallel_calls=2)


def test_flat_map_in_processes_is_refused_with_the_alternative():
    with pytest.raises(ValueError, match="unbatch"):
        Dataset.range(3).flat_map(lambda x: Dataset.range(x), processes=True)


def test_bad_worker_count():
    with pytest.raises(ValueError, match="num_parallel_calls"):
        Dataset.range(3).map(square_plus, num_parallel_calls=0, processes=True)


# ---- Large arrays ----------------------------------------------------------------------------


def test_elements_of_tens_of_megabytes_in_and_out():
    big = np.arange(6 * 1024 * 1024, dtype=np.float64).reshape(2, -1)  # 2 rows of 24 MiB
    ds = Dataset.from_tensor_slices(big).map(lambda row: row * 2 + 1, num_parallel_calls=2,
                                             processes=True)
    out = list(ds)
    assert len(out) == 2
    np.testing.assert_array_equal(out[0], big[0] * 2 + 1)
    np.testing.assert_array_equal(out[1], big[1] * 2 + 1)
    # The worker may write to its input (a fresh copy, as with threads).
    inplace = Dataset.from_tensor_slices(big[:1]).map(_add_in_place, num_parallel_calls=1,
                                                      processes=True)
    np.testing.assert_array_equal(next(iter(inplace)), big[0] + 1)


def _add_in_place(row):
    row += 1
    return row


def _strided_views(i):
    image = np.arange(24 * 20 * 3, dtype=np.uint8).reshape(24, 3, 20) + np.uint8(i)
    return image.transpose(0, 2, 1), image[::-1, :, ::2]  # a transpose and a reversed stride


def test_a_dtype_numpy_cannot_export_as_a_buffer_crosses_both_ways():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    bf16 = np.arange(6, dtype=np.float32).reshape(2, 3).astype(ml_dtypes.bfloat16)
    out = list(Dataset.range(2).map(lambda i: bf16.T if int(i) else bf16, num_parallel_calls=2,
                                    processes=True))
    assert [a.dtype for a in out] == [bf16.dtype, bf16.dtype]
    np.testing.assert_array_equal(out[0].astype(np.float32), bf16.astype(np.float32))
    np.testing.assert_array_equal(out[1].astype(np.float32), bf16.T.astype(np.float32))
    # The parent ships a generator's elements to the workers.
    shipped = Dataset.from_generator(lambda: iter([bf16, bf16]), output_types=bf16.dtype)
    doubled = list(shipped.map(lambda a: a * 2, num_parallel_calls=2, processes=True))
    np.testing.assert_array_equal(doubled[1].astype(np.float32), 2 * bf16.astype(np.float32))


def test_a_strided_result_crosses_as_a_buffer_outside_the_pickle_with_its_values():
    # numpy pickles a non-contiguous array by copying it into the pickle's bytes; the workers
    # make it contiguous and send its buffer beside the pickle (shared memory when large).
    transposed, reversed_ = _strided_views(0)
    assert not transposed.flags.c_contiguous and not reversed_.flags.c_contiguous
    buffers: list[object] = []
    body = _processes.wire.dumps((transposed, reversed_), buffers.append)
    assert len(buffers) == 2 and len(body) < 200
    ds = Dataset.range(3).map(_strided_views, num_parallel_calls=2, processes=True)
    for i, (a, b) in enumerate(ds):
        want_a, want_b = _strided_views(i)
        np.testing.assert_array_equal(a, want_a)
        np.testing.assert_array_equal(b, want_b)


def _image(i, side=8):
    return np.full((side, side, 3), int(i) % 251, dtype=np.uint8), np.full(3, int(i))


def _large_image(i):
    return _image(i, 600)  # 1.08 MB: a frame of its own, through a memfd


def _small_shared_memory(monkeypatch):
    """Pools started from here on use memfds above 1 MiB a frame and 64 KiB an item (16 MiB by
    default), so that tests reach that path with small elements."""
    monkeypatch.setattr(wire, "SHARED_MEMORY_BYTES", 1 << 20)
    monkeypatch.setattr(wire, "ITEM_SHARED_MEMORY_BYTES", 64 << 10)


def _counting_result_buffers(monkeypatch):
    """Counts the arrays received into C++ memory (_core._ResultBuffer), inline and mapped."""
    allocate, map_ = _processes._RESULT_BUFFERS
    made = {"allocate": 0, "map": 0}

    def counted_allocate(n):
        made["allocate"] += 1
        return allocate(n)

    def counted_map(fd, n):
        made["map"] += 1
        return map_(fd, n)
    monkeypatch.setattr(_processes, "_RESULT_BUFFERS", (counted_allocate, counted_map))
    return made


# Results come back into C++ memory that the engine's tensors point into (no copy): small frames
# through the socket into heap buffers, large ones (over 1 MiB together) in a mapped memfd whose
# slices several tensors share. Each element must keep its own values after the buffers' Python
# objects are gone, batched or handed to the caller, and the caller's arrays are its own.
@pytest.mark.parametrize("path", ["indices", "elements"])
@pytest.mark.parametrize("fn", [_image, _large_image])
def test_results_received_into_cpp_memory_keep_their_values(monkeypatch, path, fn):
    _small_shared_memory(monkeypatch)
    made = _counting_result_buffers(monkeypatch)
    source = Dataset.range(24)
    if path == "elements":
        source = source.filter(lambda x: True)  # no recipe: the parent ships the elements
    mapped = source.map(fn, num_parallel_calls=2, processes=True)
    batched = list(mapped.batch(5))
    unbatched = list(mapped)
    assert len(unbatched) == 24
    for i, (image, tail) in enumerate(unbatched):
        want_image, want_tail = fn(i)
        np.testing.assert_array_equal(image, want_image)
        np.testing.assert_array_equal(tail, want_tail)
    for k, (images, _) in enumerate(batched):
        for j, image in enumerate(images):
            np.testing.assert_array_equal(image, fn(k * 5 + j)[0])
    unbatched[0][0][:] = 7  # the caller's own: no other element changes
    np.testing.assert_array_equal(unbatched[1][0], fn(1)[0])
    assert made["map" if fn is _large_image else "allocate"] > 0


def test_a_result_buffer_refuses_a_slice_outside_it():
    buffer = inputpipe._core._ResultBuffer.allocate(100)
    assert len(buffer) == 100 and len(memoryview(buffer)) == 100
    with pytest.raises(ValueError, match="outside its 100 bytes"):
        buffer.slice(90, 20)
    assert len(buffer.slice(90, 10)) == 10


# ---- Exceptions ------------------------------------------------------------------------------


def test_an_exception_keeps_its_type_message_order_and_the_workers_traceback():
    it = iter(Dataset.range(10).map(fails_at_7, num_parallel_calls=2, processes=True))
    assert [int(next(it)) for _ in range(7)] == list(range(7))
    with pytest.raises(KeyError, match="no record 7") as info:
        next(it)
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "raised in worker process" in notes and "fails_at_7" in notes
    assert [int(v) for v in it] == [8, 9]  # as with threads: the stream goes on


def _chained_at_3(x):
    if int(x) == 3:
        try:
            raise KeyError("shard")
        except KeyError as exc:
            try:
                raise OSError(5, "the read failed") from exc
            except OSError:
                raise ValueError("record 3 is unreadable")  # its __context__: the OSError
    if int(x) == 4:
        raise ValueError("record 4 has no cause") from None
    if int(x) == 5:
        raise ValueError("record 5") from _Unpicklable()
    return x


class _Unpicklable(Exception):
    def __reduce__(self):
        raise TypeError("not this one")


class _NotAnException(Exception):
    def __reduce__(self):
        return (str, ("a string",))  # pickles, but comes back as something else


def _three_levels(x):
    # `raise ... from e` inside `except ... as e`: each cause is its exception's context too.
    try:
        try:
            raise KeyError("inner")
        except KeyError as k:
            raise ValueError("middle") from k
    except ValueError as v:
        if int(x) == 0:
            raise RuntimeError("outer") from v
        raise RuntimeError("outer") from _NotAnException("w")


def test_a_chain_of_three_and_a_cause_that_is_no_exception_come_back_as_with_threads():
    for processes in (False, True):
        it = iter(Dataset.range(2).map(_three_levels, num_parallel_calls=2,
                                       processes=processes))
        with pytest.raises(RuntimeError, match="outer") as info:
            next(it)
        middle = info.value.__cause__
        assert isinstance(middle, ValueError) and middle is info.value.__context__
        assert isinstance(middle.__cause__, KeyError) and middle.__suppress_context__
        assert not isinstance(middle.__cause__.__context__, BaseException)
        with pytest.raises(RuntimeError, match="outer") as info:
            next(it)
        if processes:  # the cause came back as a str: dropped, the exception kept
            assert info.value.__cause__ is None
            assert isinstance(info.value.__context__, ValueError)


def test_an_exceptions_cause_and_context_come_back_with_it():
    # `raise ... from` and an exception raised while handling another: as with threads.
    for processes in (False, True):
        it = iter(Dataset.range(6).map(_chained_at_3, num_parallel_calls=2, processes=processes))
        assert [int(next(it)) for _ in range(3)] == [0, 1, 2]
        with pytest.raises(ValueError, match="record 3 is unreadable") as info:
            next(it)
        context = info.value.__context__
        assert isinstance(context, OSError) and context.errno == 5, processes
        assert isinstance(context.__cause__, KeyError) and context.__suppress_context__
        with pytest.raises(ValueError, match="record 4") as info:
            next(it)
        assert info.value.__cause__ is None and info.value.__suppress_context__
        # A cause that does not pickle: the exception comes back without its chain.
        with pytest.raises(ValueError, match="record 5") as info:
            next(it)
        if processes:
            assert info.value.__cause__ is None
        else:
            assert isinstance(info.value.__cause__, _Unpicklable)


def _group(x):
    def caused(message):
        try:
            raise KeyError(message)
        except KeyError as k:
            try:
                raise ValueError(message) from k
            except ValueError as v:
                return v
    raise ExceptionGroup("two records", [caused("a"), caused("b")])


def _long_chain(x):
    exc = None
    for k in range(40):
        try:
            raise ValueError(f"level {k}") from exc
        except ValueError as e:
            exc = e
    raise RuntimeError("top") from exc


class _RefusesLinks(Exception):
    def __setattr__(self, name, value):
        if name in ("__cause__", "__context__", "__suppress_context__"):
            raise AttributeError(name)
        super().__setattr__(name, value)


def _refuses_links(x):
    raise _RefusesLinks("kept")


def _odd_in_the_middle(x):
    c = KeyError("C")
    c.__cause__ = OSError("D")
    o = _NotAnException("o")
    o.__cause__ = c
    a = ValueError("A")
    a.__cause__ = o
    a.__context__ = c
    raise a


def test_long_chains_odd_links_and_exceptions_refusing_them():
    def causes(exc):
        out = []
        while exc.__cause__ is not None:
            exc = exc.__cause__
            out.append(str(exc))
        return out
    for processes in (False, True):
        def first_error(fn):
            with pytest.raises(Exception) as info:
                next(iter(Dataset.range(1).map(fn, num_parallel_calls=2, processes=processes)))
            return info.value
        assert causes(first_error(_long_chain)) == [f"level {k}" for k in reversed(range(40))]
        refused = first_error(_refuses_links)
        assert type(refused) is _RefusesLinks and str(refused) == "kept"
        a = first_error(_odd_in_the_middle)
        assert isinstance(a, ValueError) and isinstance(a.__context__, KeyError)
        assert isinstance(a.__context__.__cause__, OSError), processes  # D survives the odd one


def test_an_exception_groups_members_keep_their_causes():
    for processes in (False, True):
        it = iter(Dataset.range(1).map(_group, num_parallel_calls=2, processes=processes))
        with pytest.raises(ExceptionGroup) as info:
            next(it)
        causes = [type(e.__cause__).__name__ for e in info.value.exceptions]
        assert causes == ["KeyError", "KeyError"], processes


def _lock_at_2(x):
    return threading.Lock() if int(x) == 2 else x


def test_a_workers_exception_names_the_op_and_the_element_and_an_unpicklable_result_says_so():
    it = iter(Dataset.range(10).map(fails_at_7, num_parallel_calls=2, processes=True))
    with pytest.raises(KeyError) as info:
        list(it)
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "of map(fn=test_processes.fails_at_7), computing the element at position 7" in notes
    it = iter(Dataset.range(4).map(_lock_at_2, processes=True))
    assert [int(next(it)) for _ in range(2)] == [0, 1]
    with pytest.raises(TypeError, match="cannot pickle") as pickling:
        next(it)
    notes = "\n".join(getattr(pickling.value, "__notes__", []))
    assert "position 2" in notes and "the function returned a _thread.lock" in notes, notes


def test_a_data_loss_error_in_a_worker_is_skipped_by_ignore_errors():
    def bad_odd(x):
        if x % 2:
            raise inputpipe.DataLossError(f"bad record {int(x)}")
        return x
    ds = Dataset.range(6).map(bad_odd, num_parallel_calls=2, processes=True).ignore_errors()
    assert values(ds) == [0, 2, 4]


# ---- The state does not know about processes -------------------------------------------------


def _states_at(make, steps):
    it = iter(make())
    states = []
    for k in range(steps + 1):
        states.append(it.save())
        next(it)
    return states


def test_state_bytes_are_the_same_with_processes_threads_or_none():
    steps = 8
    reference = _states_at(lambda: pipeline("seq"), steps)
    for make in (lambda: pipeline("threads", 2), lambda: pipeline("processes", 1),
                 lambda: pipeline("processes", 2), lambda: pipeline("processes", 4)):
        assert _states_at(make, steps) == reference


def _rest_after_restore(state, make):
    it = iter(make())
    it.restore(state)
    return values(it)


def test_a_state_restores_into_any_worker_count_and_back():
    expected = values(pipeline("seq"))
    for saved_with in (("processes", 4), ("processes", 1), ("threads", 2), ("seq", None)):
        it = iter(pipeline(*saved_with))
        head = [np.asarray(next(it)).tolist() for _ in range(5)]
        state = it.save()
        assert head == expected[:5]
        for restored_with in (("processes", 4), ("processes", 2), ("processes", 1),
                              ("threads", 2), ("seq", None)):
            rest = _rest_after_restore(state, lambda: pipeline(*restored_with))
            assert rest == expected[5:], (saved_with, restored_with)


def test_exact_resume_harness_with_processes_in_a_fresh_process():
    assert_exact_resume(make_processes_2, fresh_process=True)


def test_exact_resume_harness_structured_and_filter():
    assert_exact_resume(make_processes_tuple)
    assert_exact_resume(make_filter_processes)


def test_filter_state_restores_into_other_worker_counts():
    expected = values(Dataset.range(50).filter(is_even).batch(3))
    it = iter(Dataset.range(50).filter(is_even, num_parallel_calls=4, processes=True).batch(3))
    head = [np.asarray(next(it)).tolist() for _ in range(3)]
    state = it.save()
    for n in (1, 2, None):
        rest = _rest_after_restore(
            state, lambda: Dataset.range(50).filter(is_even, num_parallel_calls=n,
                                                    processes=True).batch(3))
        assert head + rest == expected, n


def test_deterministic_false_delivers_every_element_once_across_a_restore():
    def make():
        return Dataset.range(60).map(square_plus, num_parallel_calls=3, deterministic=False,
                                     processes=True)
    assert_exact_resume(make, ordered=False)


def test_two_iterators_of_one_dataset_share_its_pool():
    ds = Dataset.range(20).map(square_plus, num_parallel_calls=2, processes=True)
    a, b = iter(ds), iter(ds)
    out_a, out_b = [], []
    for _ in range(20):
        out_a.append(int(next(a)))
        out_b.append(int(next(b)))
    assert out_a == out_b == [square_plus(x) for x in range(20)]


def test_saving_every_step_with_the_hook_and_four_workers(tmp_path):
    ds = Dataset.range(80).shuffle(seed=3).map(square_plus, num_parallel_calls=4,
                                               processes=True).batch(4).prefetch(2)
    it = iter(ds)
    seen = []
    with inputpipe.CheckpointInputPipelineHook(it, str(tmp_path), save_steps=1) as hook:
        for step in range(1, 11):
            seen.append(np.asarray(next(it)).tolist())
            hook.after_step(step)
    resumed = iter(Dataset.range(80).shuffle(seed=3).map(square_plus).batch(4).prefetch(2))
    with inputpipe.CheckpointInputPipelineHook(resumed, str(tmp_path), save_steps=1) as hook:
        assert hook.restored_step == 10
        rest = values(resumed)
    assert seen + rest == values(pipeline_like_hook())


def pipeline_like_hook():
    return Dataset.range(80).shuffle(seed=3).map(square_plus).batch(4)


def test_first_batch_with_two_workers_is_quick():
    # Indicative (the machine may be loaded): start-up to the first batch, fork server included.
    start = time.monotonic()
    it = iter(Dataset.range(100).map(square_plus, num_parallel_calls=2, processes=True).batch(8))
    next(it)
    elapsed = time.monotonic() - start
    assert elapsed < 10, elapsed


def test_a_global_shuffle_after_the_map_reads_it_by_index():
    # The shuffle calls the map's Get(i) (no map iterator): the pool starts without a lease.
    procs = Dataset.range(30).map(square_plus, num_parallel_calls=2, processes=True)
    assert procs.is_random_access()
    expected = values(Dataset.range(30).map(square_plus).shuffle(seed=9))
    assert values(procs.shuffle(seed=9)) == expected


def _identity(*args):
    return args if len(args) > 1 else args[0]


def test_every_dtype_crosses_the_process_boundary_bit_for_bit():
    nan_payload = np.frombuffer(b"\x01\x00\x00\x00\x00\x00\xf8\x7f", "<f8")
    columns = (np.array([-3, 7], np.int8), np.array([0, 255], np.uint8),
               np.concatenate([nan_payload, [-0.0]]), np.array([1.5, np.nan], np.float32),
               np.array([2.5, -0.0], np.float16), np.array([True, False]),
               np.array([b"a\0", b""], dtype=object), np.arange(12, dtype=np.int32).reshape(2, 6))
    ds = Dataset.from_tensor_slices(columns)
    expected = collect(iter(ds.map(_identity)))
    got = collect(iter(ds.map(_identity, num_parallel_calls=2, processes=True)))
    assert len(got) == len(expected) == 2
    for e_row, g_row in zip(expected, got):
        for e, g in zip(e_row, g_row):
            assert type(e) is type(g) and np.asarray(e).dtype == np.asarray(g).dtype
            assert pickle.dumps(e) == pickle.dumps(g)


def test_an_exception_whose_str_raises_comes_back_and_the_stream_goes_on():
    class BadStr(Exception):
        def __str__(self):
            raise RuntimeError("no text for this exception")

    def fn(x):
        if int(x) == 1:
            raise BadStr()
        return x

    it = iter(Dataset.range(4).map(fn, num_parallel_calls=2, processes=True))
    got: list = []
    for _ in range(4):
        try:
            got.append(int(next(it)))
        except BadStr:
            got.append("BadStr")
    assert got == [0, "BadStr", 2, 3]  # as with threads; the worker did not die of it
    with pytest.raises(StopIteration):
        next(it)


class _FailsToLoad:
    """A result that pickles in the worker and raises when the parent loads it."""

    def __reduce__(self):
        return operator.truediv, (1, 0)


def _bad_at_five(x):
    return _FailsToLoad() if int(x) == 5 else np.full(4, int(x))


@pytest.mark.parametrize("path", ["indices", "elements"])
def test_a_result_that_fails_to_load_in_the_parent_fails_its_element_alone(path):
    # Over a random-access input the results come back a chunk per frame: one item's loading
    # error must not lose the other items of its chunk (their calls waited for ever).
    source = Dataset.range(12)
    if path == "elements":
        source = source.filter(lambda x: True)
    it = iter(source.map(_bad_at_five, num_parallel_calls=2, processes=True))
    got: list[int | str] = []
    while True:
        try:
            got.append(int(next(it)[0]))
        except StopIteration:
            break
        except ZeroDivisionError:
            got.append("error")
    assert got == [0, 1, 2, 3, 4, "error", 6, 7, 8, 9, 10, 11]


def _payload(i):
    return np.full(100_000, int(i) % 251, np.uint8)  # 100 KB: its own memfd when small


def test_a_mapping_refused_in_the_parent_fails_that_element_alone(monkeypatch):
    _small_shared_memory(monkeypatch)
    allocate, map_ = _processes._RESULT_BUFFERS
    calls = []

    def refuse_the_third(fd, n):
        calls.append(n)
        if len(calls) == 3:
            raise RuntimeError("_ResultBuffer.map: mmap of 100000 bytes failed: no memory")
        return map_(fd, n)
    monkeypatch.setattr(_processes, "_RESULT_BUFFERS", (allocate, refuse_the_third))
    it = iter(Dataset.range(10).map(_payload, num_parallel_calls=1, processes=True))
    got: list[int | str] = []
    for _ in range(10):
        try:
            got.append(int(next(it)[0]))
        except RuntimeError as exc:
            assert "mmap of 100000 bytes failed" in str(exc)
            got.append("error")
    assert got == [0, 1, "error", 3, 4, 5, 6, 7, 8, 9]
    assert list(it) == []


def test_each_large_result_has_memory_of_its_own(monkeypatch):
    # A chunk of results sharing one mapping would stay mapped whole while any one of its
    # elements is kept (a cache, a shuffle buffer): each result over the item threshold is
    # mapped alone, smaller ones are received into blocks of their own.
    with monkeypatch.context() as patched:
        _small_shared_memory(patched)
        made = _counting_result_buffers(patched)
        kept = list(Dataset.range(40).map(_payload, num_parallel_calls=2, processes=True))
        assert made["map"] == 40
    # By default (16 MiB) the same results come through the socket, each into its own block.
    made = _counting_result_buffers(monkeypatch)
    again = list(Dataset.range(40).map(_payload, num_parallel_calls=2, processes=True))
    assert made["map"] == 0 and made["allocate"] >= 40
    assert [int(k[0]) for k in again] == list(range(40))
    made = _counting_result_buffers(monkeypatch)
    assert len(list(Dataset.range(40).map(_image, num_parallel_calls=2, processes=True))) == 40
    assert made["map"] == 0 and made["allocate"] >= 80  # two arrays per element
    assert [int(k[0]) for k in kept] == list(range(40))


def _huge(i):
    return np.full(17 << 20, int(i) + 1, np.uint8)  # 17 MiB: over the default item threshold


def test_results_over_16_mib_come_through_shared_memory_by_default(monkeypatch):
    made = _counting_result_buffers(monkeypatch)
    got = [int(a[-1]) for a in Dataset.range(3).map(_huge, num_parallel_calls=2, processes=True)]
    assert got == [1, 2, 3] and made["map"] == 3


def _many_arrays(x):
    return {f"f{k:02d}": np.full(3, int(x) + k) for k in range(40)}


def test_elements_of_many_small_arrays_cross_in_chunks():
    # A chunk of 32 such elements is 1,280 buffers: more than one sendmsg may carry (IOV_MAX).
    got = list(Dataset.range(80).map(_many_arrays, num_parallel_calls=2, processes=True))
    assert len(got) == 80
    assert all(int(e["f39"][0]) == i + 39 for i, e in enumerate(got))
