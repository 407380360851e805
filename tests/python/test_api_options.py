"""Dataset.with_options / options() (inputpipe.Options), random and sample_from_datasets with
rerandomize_each_iteration, weights given as a dataset, and Iterator.stats()."""

import enum
import time
import warnings

import numpy as np
import pytest

import inputpipe
from inputpipe import Dataset, Options
from inputpipe.testing import assert_exact_resume


def ints(ds_or_it, limit=None):
    it = iter(ds_or_it)
    out = []
    for value in it:
        out.append(int(value))
        if limit is not None and len(out) == limit:
            break
    return out


# ---- Options ------------------------------------------------------------------------------

def test_options_fields_groups_and_merging():
    o = Options(deterministic=False, threading={"private_threadpool_size": 4})
    assert o.deterministic is False
    assert o.threading.private_threadpool_size == 4
    assert o.threading.max_intra_op_parallelism is None
    assert o.autotune.enabled is None
    o.autotune.enabled = False
    o.experimental_external_state_policy = "WARN"
    assert o.experimental_external_state_policy == "warn"
    assert "deterministic=False" in repr(o)

    inner = Options(deterministic=True, threading={"private_threadpool_size": 2})
    outer = Options(deterministic=False)
    ds = Dataset.range(4).with_options(inner).map(lambda x: x).with_options(outer)
    merged = ds.options()
    assert merged.deterministic is False          # the outer wins
    assert merged.threading.private_threadpool_size == 2   # kept from the inner
    assert Dataset.range(3).options() == Options()
    assert Dataset.range(4).with_options(inner).element_spec == Dataset.range(4).element_spec


def test_unknown_and_tf_only_option_names_are_clear_errors():
    o = Options()
    with pytest.raises(AttributeError, match="no option 'determinstic'.*deterministic"):
        o.determinstic = False
    with pytest.raises(AttributeError, match="'experimental_optimization', which tf.data has"):
        o.experimental_optimization = None
    with pytest.raises(AttributeError, match="Options.threading has no option 'pool'"):
        o.threading.pool = 3
    with pytest.raises(ValueError, match="private_threadpool_size must be a positive int"):
        o.threading.private_threadpool_size = 0
    with pytest.raises(TypeError, match="deterministic must be a bool"):
        Options(deterministic="no")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="external_state_policy"):
        Options(experimental_external_state_policy="sometimes")
    with pytest.raises(TypeError, match="expected an inputpipe.Options"):
        Dataset.range(3).with_options({"deterministic": False})  # type: ignore[arg-type]

    class ExternalStatePolicy(enum.Enum):  # tf.data's, without importing TensorFlow
        WARN = 0
        IGNORE = 1
        FAIL = 2
    assert Options(experimental_external_state_policy=ExternalStatePolicy.IGNORE) \
        .experimental_external_state_policy == "ignore"


def slow_first(x):
    if int(x) == 0:
        time.sleep(0.15)
    return x


def test_deterministic_option_reaches_parallel_maps():
    # The reordering itself is pinned by the C++ WithOptionsTest (Python functions share the
    # GIL, so their completion order says little); here: the option is the pipeline's, and a
    # map's own argument wins.
    base = Dataset.range(8).map(slow_first, num_parallel_calls=4, name="slow_first")
    assert ints(base.with_options(Options(deterministic=True))) == list(range(8))
    unordered = base.with_options(Options(deterministic=False))
    assert sorted(ints(unordered)) == list(range(8))
    assert unordered.options().deterministic is False
    own = Dataset.range(8).map(slow_first, num_parallel_calls=4, deterministic=True,
                               name="slow_first")
    assert ints(own.with_options(Options(deterministic=False))) == list(range(8))


def tens(x):
    return Dataset.range(int(x) * 10, int(x) * 10 + 3)


def test_deterministic_reaches_parallel_interleaves():
    # As for maps, the reordering is pinned in C++ (WithOptionsTest); here: the argument and
    # the option reach the op, the option is the pipeline's identity, and what a restore
    # guarantees without order: every element exactly once across the save.
    ordered = ints(Dataset.range(6).interleave(tens, cycle_length=3))
    parallel = Dataset.range(6).interleave(tens, cycle_length=3, num_parallel_calls=3,
                                           name="tens")
    assert ints(parallel) == ordered
    assert "deterministic" not in repr(parallel)
    unordered = parallel.with_options(Options(deterministic=False))
    assert "options(deterministic=false)" in repr(unordered)
    assert "interleave(fn=tens, cycle_length=3, block_length=1)" in repr(unordered)
    assert sorted(ints(unordered)) == sorted(ordered)
    assert_exact_resume(lambda: parallel.with_options(Options(deterministic=False)),
                        ordered=False)
    own = Dataset.range(6).interleave(tens, cycle_length=3, num_parallel_calls=3,
                                      deterministic=False, name="tens")
    assert "deterministic=false" in repr(own)
    assert sorted(ints(own)) == sorted(ordered)
    assert_exact_resume(lambda: own, ordered=False)
    # Without num_parallel_calls there is no order to relax, as tf.data.
    assert ints(Dataset.range(6).interleave(tens, cycle_length=3, deterministic=False)) == ordered


def make_pipeline():
    return Dataset.range(20).map(lambda x: x * 3, num_parallel_calls=2, name="triple").repeat(2)


def test_only_deterministic_false_is_part_of_the_identity():
    threading = Options(threading={"private_threadpool_size": 1, "max_intra_op_parallelism": 1},
                        autotune={"enabled": False})
    assert repr(make_pipeline().with_options(threading)) == repr(make_pipeline())
    full = ints(make_pipeline())
    it = iter(make_pipeline())
    head = ints(it, 25)
    restored = iter(make_pipeline().with_options(threading))
    restored.restore(it.save())
    assert head + ints(restored) == full
    assert_exact_resume(lambda: make_pipeline().with_options(threading))

    unordered = make_pipeline().with_options(Options(deterministic=False))
    assert "options(deterministic=false)" in repr(unordered)
    with pytest.raises(inputpipe.PipelineMismatchError):
        iter(unordered).restore(it.save())
    assert_exact_resume(lambda: make_pipeline().with_options(Options(deterministic=False)),
                        ordered=False)


def test_external_state_policy_option_is_the_default_of_save():
    calls = []

    def record(x):
        calls.append(x)
        return x

    ds = Dataset.range(5).map(record, stateful=True, name="record")
    it = iter(ds)
    next(it)
    with pytest.raises(inputpipe.ExternalStateError):
        it.save()
    it = iter(ds.with_options(Options(experimental_external_state_policy="warn")))
    next(it)
    with pytest.warns(inputpipe.ExternalStateWarning, match="map"):
        it.save()
    with pytest.raises(inputpipe.ExternalStateError):
        it.save("fail")  # an explicit argument wins
    it = iter(ds.with_options(Options(experimental_external_state_policy="ignore")))
    next(it)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        it.save()


# ---- rerandomize_each_iteration and weights as a dataset -----------------------------------

def test_random_rerandomize_each_iteration_resumes_across_epochs():
    def make(rerandomize):
        return Dataset.random(seed=5, rerandomize_each_iteration=rerandomize).take(6).repeat(3)

    full = ints(make(True))
    epochs = [full[0:6], full[6:12], full[12:18]]
    assert epochs[0] != epochs[1] != epochs[2]
    same = ints(make(None))
    assert same[0:6] == same[6:12] == epochs[0]
    for k in (0, 5, 6, 7, 12, 17, 18):
        it = iter(make(True))
        ints(it, k) if k else None
        restored = iter(make(True))
        restored.restore(it.save())
        assert ints(restored) == full[k:], k
    assert repr(Dataset.random(seed=5)) == "<inputpipe.Dataset random(seed=5)>"


def test_sample_from_datasets_rerandomize_each_iteration():
    def make():
        return Dataset.sample_from_datasets(
            [Dataset.range(100), Dataset.range(1000, 1100)], seed=3,
            rerandomize_each_iteration=True).take(10).repeat(2)

    full = ints(make())
    assert full[:10] != full[10:]
    assert_exact_resume(make, extra_breakpoints=(9, 10, 11))


def test_sample_from_datasets_weights_as_a_dataset():
    one_hot = Dataset.from_tensor_slices(np.array([[1, 0], [0, 1], [0, 1], [1, 0]], np.float32))
    picked = ints(Dataset.sample_from_datasets([Dataset.range(10), Dataset.range(100, 110)],
                                               weights=one_hot, seed=1))
    assert picked == [0, 100, 101, 1]

    def make():
        weights = Dataset.from_tensors(np.array([0.2, 0.8])).repeat(50)
        return Dataset.sample_from_datasets([Dataset.range(100), Dataset.range(1000, 1100)],
                                            weights=weights, seed=9)

    drawn = ints(make())
    assert len(drawn) == 50
    assert_exact_resume(make)
    bad = Dataset.from_tensors(np.array([1.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match="weights element 0 has shape \\[3\\]; expected \\[2\\]"):
        ints(Dataset.sample_from_datasets([Dataset.range(3), Dataset.range(3)], weights=bad))


# ---- Iterator.stats() -------------------------------------------------------------------------

def test_iterator_stats_counts_elements_bytes_and_waiting():
    def slow(x):
        time.sleep(0.01)
        return x

    ds = Dataset.range(10).map(slow, name="slow").batch(5)  # two int64[5] batches
    it = iter(ds)
    stats = it.stats()
    assert stats["elements"] == 0 and stats["wall_seconds"] == 0.0
    batches = list(it)
    assert len(batches) == 2
    it.save()
    stats = it.stats()
    assert stats["elements"] == 2
    assert stats["bytes"] == 2 * 5 * 8
    assert stats["next_seconds"] >= 0.09          # ten 10 ms calls, inside next()
    assert stats["wall_seconds"] >= stats["next_seconds"] * 0.99
    assert 0.5 < stats["input_bound"] <= 1.0
    assert stats["saves"] == 1 and stats["save_seconds"] >= 0
    assert stats["summary"].startswith("input-bound: ")
    assert "2 elements" in stats["summary"]


def test_iterator_stats_per_op_counts_are_exact_in_repr_order():
    ds = (Dataset.range(100).filter(lambda x: x % 2 == 0, name="even")
          .map(lambda x: x * x, name="square").batch(10))
    it = iter(ds)
    assert len(list(it)) == 5
    ops = it.stats()["ops"]
    assert ["  " * op["depth"] + op["name"] for op in ops] == ds._handle.pipeline()
    counts = {op["name"]: op["elements"] for op in ops}
    assert counts == {"batch(batch_size=10, drop_remainder=false)": 5, "map(fn=square)": 50,
                      "filter(predicate=even)": 50, "range(start=0, stop=100, step=1)": 100}
    for op in ops:
        assert op["wait_seconds"] >= op["seconds"] >= 0
        assert op["threads"] == 1 and "buffer_capacity" not in op
        assert op["iterated"]


def test_iterator_stats_say_which_ops_were_read_by_index():
    # distribute computes its rank's rows by index: the ops under it run no iterator.
    ds = (Dataset.range(96).shuffle(seed=1).map(lambda x: x * 2, name="double",
                                                num_parallel_calls=2)
          .batch(8).distribute(num_ranks=2, rank=0))
    it = iter(ds)
    for _ in range(5):
        next(it)
    ops = {op["name"]: op for op in it.stats()["ops"]}
    assert ops["distribute()"]["iterated"] and ops["distribute()"]["elements"] == 5
    assert not ops["map(fn=double)"]["iterated"] and ops["map(fn=double)"]["elements"] == 0


def _slow_double(x):
    time.sleep(0.01)
    return x * 2


def test_distributes_parallel_rows_are_its_own_time():
    # The rows distribute computes on its threads (a parallel map below it) are its `seconds`.
    ds = (Dataset.range(64).map(_slow_double, num_parallel_calls=2).batch(8)
          .distribute(num_ranks=2, rank=0))
    it = iter(ds)
    for _ in range(4):  # 16 rows of 10 ms
        next(it)
    top = it.stats()["ops"][0]
    assert top["name"] == "distribute()" and top["threads"] == 2
    assert top["seconds"] >= 0.5 * 16 * 0.01, top


def test_iterator_stats_summary_names_the_slow_op_and_buffers_fill():
    def decode(x):
        time.sleep(0.003)
        return x

    # decode is the one op calling Python; the others take microseconds.
    ds = Dataset.range(12).map(decode, name="decode").shuffle(4, seed=1).batch(3).prefetch(2)
    it = iter(ds)
    assert len(list(it)) == 4
    stats = it.stats()
    assert " waiting on map(fn=decode) (" in stats["summary"], stats["summary"]
    assert stats["summary"].endswith("; 4 elements")
    by_name = {op["name"]: op for op in stats["ops"]}
    assert by_name["map(fn=decode)"]["seconds"] >= 0.03  # twelve 3 ms sleeps
    shuffle = by_name["shuffle(buffer_size=4, seed=1, reshuffle_each_iteration=true)"]
    assert shuffle["buffer_capacity"] == 4 and shuffle["buffer_current"] == 0
    prefetch = stats["ops"][0]
    assert prefetch["name"] == "prefetch()" and prefetch["buffer_capacity"] == 2
    assert 0 <= prefetch["buffer_average"] <= 2 and prefetch["buffer_current"] == 0
