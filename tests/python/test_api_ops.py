"""element_spec, repr, take_while, scan, rebatch, reduce, get_single_element: tf.data's
documented outputs (written out by hand, so the suite needs no TensorFlow), checkpoints
through the exactness harness (in a fresh process too), and, where TensorFlow is installed,
the same calls compared with tf.data."""

import os

import numpy as np
import pytest

import inputpipe
from inputpipe import Dataset, DatasetSpec, TensorSpec
from inputpipe.testing import assert_exact_resume


def values(ds):
    return [np.asarray(e).tolist() for e in ds]


def running_sum(state, x):
    return state + x, state + x


def below_five(x):
    return x < 5


def double(x):
    return x * 2


def vector3(x):
    return np.array([x, 1.0, 2.0], dtype=np.float32)


# Module level, so that the harness can rebuild them in a fresh process.
def make_take_while():
    return Dataset.range(40).take_while(lambda x: x < 23)


def make_scan():
    return Dataset.range(40).scan(np.int64(0), running_sum)


def count_and_last(state, x):
    count, _ = state
    return (count + 1, f"seen {x}"), {"count": count + 1, "x": x}


def make_structured_scan():
    return Dataset.range(30).scan((np.int64(0), ""), count_and_last)


def make_rebatch():
    return Dataset.range(50).batch(7).rebatch([3, 5])


# ---- element_spec --------------------------------------------------------------------------

def test_element_spec_follows_each_ops_rule():
    assert Dataset.range(10).element_spec == TensorSpec((), np.dtype("int64"))
    assert Dataset.range(10).batch(4).element_spec == TensorSpec((None,), np.dtype("int64"))
    assert Dataset.range(10).batch(4, drop_remainder=True).element_spec.shape == (4,)
    assert Dataset.range(10).filter(lambda x: x > 2).shuffle(4, seed=1).take(3).element_spec == \
        TensorSpec((), np.dtype("int64"))
    assert Dataset.range(10).batch(2).unbatch().element_spec.shape == ()
    assert Dataset.range(10).enumerate().element_spec == (TensorSpec((), "int64"),
                                                          TensorSpec((), "int64"))


def test_element_spec_of_structures_strings_and_nested_datasets():
    ds = Dataset.from_tensor_slices({"s": ["a", "b"], "x": np.zeros((2, 3), np.float32)})
    spec = ds.element_spec
    assert list(spec) == ["s", "x"]
    assert spec["s"] == TensorSpec((), np.dtype(object))
    assert spec["x"] == TensorSpec((3,), np.dtype("float32"))
    assert Dataset.range(10).window(3).element_spec == DatasetSpec(TensorSpec((), "int64"))
    zipped = Dataset.zip((Dataset.range(3), Dataset.range(6).batch(2)))
    assert zipped.element_spec == (TensorSpec((), "int64"), TensorSpec((None,), "int64"))
    # No rule for map: its first element; different shapes under concatenate become None.
    vectors = Dataset.range(4).map(vector3)
    assert vectors.element_spec == TensorSpec((3,), "float32")
    longer = Dataset.from_tensors(np.zeros(5, np.float32))
    assert vectors.concatenate(longer).element_spec == TensorSpec((None,), "float32")


def test_element_spec_without_an_element_is_a_value_error():
    with pytest.raises(ValueError, match="element_spec.*map.*no element"):
        Dataset.range(0).map(double).element_spec


# ---- repr ----------------------------------------------------------------------------------

def test_repr_shows_the_whole_pipeline():
    ds = Dataset.range(10).map(double, name="double").batch(4)
    assert repr(ds) == ("<inputpipe.Dataset\n"
                        "  batch(batch_size=4, drop_remainder=false)\n"
                        "    map(fn=double)\n"
                        "      range(start=0, stop=10, step=1)>")
    assert repr(Dataset.range(3)) == "<inputpipe.Dataset range(start=0, stop=3, step=1)>"


# ---- take_while ----------------------------------------------------------------------------

def test_take_while_matches_tf_data():
    assert values(Dataset.range(10).take_while(below_five)) == [0, 1, 2, 3, 4]
    assert values(Dataset.from_tensor_slices([1, 2, 9, 3]).take_while(below_five)) == [1, 2]
    assert values(Dataset.counter().take_while(below_five)) == [0, 1, 2, 3, 4]
    assert Dataset.range(10).take_while(below_five).cardinality() == \
        inputpipe.UNKNOWN_CARDINALITY
    assert "take_while(predicate=below_five)" in repr(
        Dataset.range(3).take_while(lambda x: True, name="below_five"))


def test_take_while_resumes_exactly():
    assert_exact_resume(make_take_while, fresh_process=True)


# ---- scan ----------------------------------------------------------------------------------

def test_scan_matches_tf_data():
    assert values(Dataset.range(10).scan(0, running_sum)) == [0, 1, 3, 6, 10, 15, 21, 28, 36, 45]
    # The element is one argument, even a tuple (tf.data's scan does not unpack it).
    pairs = Dataset.from_tensor_slices((np.array([1, 2]), np.array([3, 4])))
    out = list(pairs.scan(np.int64(0), lambda s, x: (s + 1, x[0] * 10 + x[1] + s)))
    assert [int(v) for v in out] == [13, 25]


def test_scan_resumes_exactly_with_its_state_in_the_checkpoint():
    assert_exact_resume(make_scan, fresh_process=True)
    assert_exact_resume(make_structured_scan, fresh_process=True)
    it = iter(make_scan())
    for _ in range(4):
        next(it)
    state = it.save()
    assert '"scan_state"' in inputpipe.inspect_state(state)


def test_scan_state_must_keep_its_structure_and_dtype():
    with pytest.raises(ValueError, match=r"scan.*float64\[\].*int64\[\]"):
        list(Dataset.range(3).scan(0, lambda s, x: (s + 0.5, x)))
    with pytest.raises(ValueError, match="new_state, output_element"):
        list(Dataset.range(3).scan(0, lambda s, x: s + x))


def test_scan_initial_state_is_identity():
    it = iter(Dataset.range(10).scan(np.int64(0), running_sum))
    next(it)
    with pytest.raises(inputpipe.PipelineMismatchError):
        iter(Dataset.range(10).scan(np.int64(1), running_sum)).restore(it.save())


# ---- rebatch -------------------------------------------------------------------------------

def test_rebatch_matches_tf_data():
    assert values(Dataset.range(6).batch(2).rebatch(3)) == [[0, 1, 2], [3, 4, 5]]
    assert values(Dataset.range(7).batch(4).rebatch([2, 1, 1])) == [[0, 1], [2], [3], [4, 5],
                                                                    [6]]
    assert values(Dataset.range(8).batch(4).rebatch(3)) == [[0, 1, 2], [3, 4, 5], [6, 7]]
    assert values(Dataset.range(8).batch(4).rebatch(3, drop_remainder=True)) == [[0, 1, 2],
                                                                                 [3, 4, 5]]
    assert Dataset.range(8).batch(4).rebatch(3, drop_remainder=True).element_spec.shape == (3,)
    assert Dataset.range(8).batch(4).rebatch(3).element_spec.shape == (None,)
    with pytest.raises(ValueError, match="rebatch.*positive"):
        Dataset.range(8).batch(4).rebatch(0)


def test_rebatch_resumes_exactly():
    assert_exact_resume(make_rebatch, fresh_process=True)


# ---- cache ---------------------------------------------------------------------------------

class Calls:
    """A map function counting its calls: how often the input was read."""

    def __init__(self):
        self.n = 0

    def __call__(self, x):
        self.n += 1
        return x


def make_memory_cache():
    return Dataset.range(10).cache().repeat(3)


def make_file_cache():
    return Dataset.range(10).cache(os.environ["INPUTPIPE_TEST_CACHE_FILE"]).repeat(2)


def test_cache_in_memory_reads_the_input_once():
    calls = Calls()
    ds = Dataset.range(10).map(calls, name="calls").cache().repeat(3)
    assert values(ds) == list(range(10)) * 3
    assert values(ds) == list(range(10)) * 3
    assert calls.n == 10


def test_cache_file_is_committed_at_the_end_of_a_pass(tmp_path):
    path = tmp_path / "cache"
    calls = Calls()
    it = iter(Dataset.range(10).map(calls, name="calls").cache(path))
    for _ in range(5):
        next(it)
    assert not path.exists()  # half-written: a temporary name
    assert [p.name.startswith("cache.tmp-") for p in tmp_path.iterdir()] == [True]
    del it
    assert list(tmp_path.iterdir()) == []
    assert values(Dataset.range(10).map(calls, name="calls").cache(path)) == list(range(10))
    assert path.exists()
    calls.n = 0
    # Another run of the same pipeline reads the file.
    assert values(Dataset.range(10).map(calls, name="calls").cache(str(path)).repeat(2)) == \
        list(range(10)) * 2
    assert calls.n == 0
    with pytest.raises(RuntimeError, match="another pipeline"):
        list(Dataset.range(11).cache(path))


def test_cache_resumes_exactly(tmp_path, monkeypatch):
    # In a fresh process the memory cache is gone: a restore in a later pass reads the input
    # again up to the position.
    assert_exact_resume(make_memory_cache, fresh_process=True)
    monkeypatch.setenv("INPUTPIPE_TEST_CACHE_FILE", str(tmp_path / "cache"))
    assert_exact_resume(make_file_cache, fresh_process=True)


# ---- reduce, get_single_element ------------------------------------------------------------

def test_reduce_matches_tf_data():
    assert Dataset.range(5).reduce(0, lambda s, x: s + x) == 10
    assert Dataset.range(0).reduce(7, lambda s, x: s + x) == 7
    count, total = Dataset.range(1, 4).reduce((0, 0), lambda s, x: (s[0] + 1, s[1] + x))
    assert (count, total) == (3, 6)
    with pytest.raises(ValueError, match="reduce.*infinite"):
        Dataset.counter().reduce(0, lambda s, x: s + x)
    with pytest.raises(ZeroDivisionError):  # the function's own error keeps its type
        Dataset.range(3).reduce(0, lambda s, x: int(x) // 0)


def test_get_single_element():
    assert Dataset.from_tensors(np.int64(42)).get_single_element() == 42
    assert Dataset.range(10).filter(lambda x: x == 6).get_single_element() == 6
    with pytest.raises(ValueError, match="empty"):
        Dataset.range(0).get_single_element()
    with pytest.raises(ValueError, match="more than one"):
        Dataset.range(2).get_single_element()


# ---- The same calls in tf.data, where TensorFlow is installed ------------------------------

def test_same_as_tensorflow():
    tf = pytest.importorskip("tensorflow")
    T = tf.data.Dataset

    def same(ours, theirs):
        assert values(ours) == [np.asarray(e).tolist() for e in theirs.as_numpy_iterator()]

    same(Dataset.range(10).take_while(below_five), T.range(10).take_while(below_five))
    same(Dataset.range(10).scan(0, running_sum),
         T.range(10).scan(tf.constant(0, tf.int64), running_sum))
    for sizes in (3, [2, 1, 1], 5):
        for drop in (False, True):
            same(Dataset.range(23).batch(4).rebatch(sizes, drop_remainder=drop),
                 T.range(23).batch(4).rebatch(sizes, drop_remainder=drop))
    assert Dataset.range(5).reduce(0, lambda s, x: s + x) == \
        T.range(5).reduce(tf.constant(0, tf.int64), lambda s, x: s + x).numpy()
    for ours, theirs in [(Dataset.range(10).batch(4), T.range(10).batch(4)),
                         (Dataset.range(10).batch(4, True), T.range(10).batch(4, True)),
                         (Dataset.range(10).enumerate(), T.range(10).enumerate()),
                         (Dataset.range(8).batch(4).rebatch(3, True),
                          T.range(8).batch(4).rebatch(3, True))]:
        ours_leaves = ours.element_spec if isinstance(ours.element_spec, tuple) and not \
            isinstance(ours.element_spec, TensorSpec) else (ours.element_spec,)
        theirs_leaves = tf.nest.flatten(theirs.element_spec)
        assert [(tuple(s.shape), s.dtype.name) for s in ours_leaves] == \
            [(tuple(t.shape.as_list()), t.dtype.name) for t in theirs_leaves]


# ---- Arguments tf.data has -----------------------------------------------------------------

def test_batch_accepts_num_parallel_calls_and_deterministic():
    plain = Dataset.range(10).batch(3)
    threaded = Dataset.range(10).batch(3, num_parallel_calls=inputpipe.AUTOTUNE,
                                       deterministic=False)
    assert values(threaded) == values(plain)
    assert repr(threaded) == repr(plain)  # not identity: a state restores into either
    it = iter(plain)
    next(it)
    restored = iter(Dataset.range(10).batch(3, num_parallel_calls=2))
    restored.restore(it.save())
    assert values(restored) == [[3, 4, 5], [6, 7, 8], [9]]
    with pytest.raises(ValueError, match="num_parallel_calls"):
        Dataset.range(10).batch(3, num_parallel_calls=0)


def pairs_up_to(n, scale):
    for i in range(n):
        yield i * scale, [i] * 2


def test_from_generator_output_types_shapes_and_args():
    ds = Dataset.from_generator(pairs_up_to, output_types=(np.int32, np.float32),
                                output_shapes=((), (2,)), args=(3, 10))
    out = list(ds)
    assert [(int(a), b.tolist()) for a, b in out] == [(0, [0.0, 0.0]), (10, [1.0, 1.0]),
                                                       (20, [2.0, 2.0])]
    assert out[0][0].dtype == np.int32 and out[0][1].dtype == np.float32
    assert ds.element_spec == (TensorSpec((), "int32"), TensorSpec((2,), "float32"))
    # args are identity: a state of other args is another pipeline.
    assert repr(ds) != repr(Dataset.from_generator(pairs_up_to, output_types=(np.int32,
                                                   np.float32), args=(3, 11)))
    with pytest.raises(ValueError, match="expected shape"):
        list(Dataset.from_generator(pairs_up_to, output_types=(np.int32, np.float32),
                                    output_shapes=((), (3,)), args=(3, 1)))
    # A signature in the second positional place (output_signature's before) still works.
    assert values(Dataset.from_generator(lambda: iter([1, 2]), TensorSpec((), "int32"))) == [1, 2]
    assert values(Dataset.from_generator(lambda: iter([(1, 2)]),
                                         (TensorSpec((), "int32"), np.int64))) == [[1, 2]]
    with pytest.raises(TypeError, match="not both"):
        Dataset.from_generator(pairs_up_to, output_types=np.int64,
                               output_signature=TensorSpec((), "int64"))


def test_experimental_aliases():
    exp = inputpipe.experimental
    assert values(exp.Counter(start=2, step=3).take(3)) == [2, 5, 8]
    ds = Dataset.range(10).apply(exp.take_while(below_five)).apply(exp.scan(0, running_sum))
    assert values(ds) == [0, 1, 3, 6, 10]
    assert values(Dataset.range(6).batch(2).apply(exp.rebatch(3))) == [[0, 1, 2], [3, 4, 5]]
    assert values(Dataset.from_tensor_slices([1, 1, 2]).apply(exp.unique())) == [1, 2]
    assert values(Dataset.range(2).apply(exp.enumerate_dataset(5))) == [[5, 0], [6, 1]]
    assert exp.cardinality(Dataset.range(4)) == 4
    assert exp.get_single_element(Dataset.from_tensors(np.int64(3))) == 3
    assert sorted(values(Dataset.range(4).apply(exp.shuffle_and_repeat(4, 2, seed=1)))) == \
        [0, 0, 1, 1, 2, 2, 3, 3]
    with pytest.raises(ValueError, match="assert_cardinality"):
        Dataset.range(4).apply(exp.assert_cardinality(5))
    assert np.asarray(next(iter(exp.Counter(dtype=np.int32)))).dtype == np.int32
