"""Behaviour of every core op (the sources and transformations of ops.h), compared with the
results tf.data documents for the same calls (the examples of the tf.data.Dataset API
reference)."""

import numpy as np
import pytest

import inputpipe
from inputpipe import Dataset


def values(ds):
    """The elements as plain Python values (lists, tuples, dicts, ints, bytes)."""
    def plain(e):
        if isinstance(e, Dataset):
            return [plain(x) for x in e]
        if isinstance(e, tuple):
            return tuple(plain(x) for x in e)
        if isinstance(e, dict):
            return {k: plain(v) for k, v in e.items()}
        if isinstance(e, np.ndarray):
            return e.tolist()
        if isinstance(e, np.generic):
            return e.item()
        return e
    return [plain(e) for e in ds]


# ---- Sources -------------------------------------------------------------------------------

@pytest.mark.parametrize("args, expected", [
    ((5,), [0, 1, 2, 3, 4]),
    ((2, 5), [2, 3, 4]),
    ((1, 5, 2), [1, 3]),
    ((1, 5, -2), []),
    ((5, 1), []),
    ((5, 1, -2), [5, 3]),
])
def test_range(args, expected):
    assert values(Dataset.range(*args)) == expected


def test_range_elements_are_int64_scalars():
    first = next(iter(Dataset.range(3)))
    assert isinstance(first, np.int64)


def test_range_bad_arguments():
    with pytest.raises(TypeError):
        Dataset.range()
    with pytest.raises(ValueError, match="step"):
        Dataset.range(0, 10, 0)
    # Not truncated: a float (or a float array) is not an integer argument.
    for args in [(2.5,), (0, 2.5), (0, 10, 1.5), (np.float64(3),)]:
        with pytest.raises(TypeError):
            Dataset.range(*args)  # type: ignore[arg-type]
    assert values(Dataset.range(np.int32(2), np.int64(4))) == [2, 3]


def test_from_tensor_slices():
    assert values(Dataset.from_tensor_slices([1, 2, 3])) == [1, 2, 3]
    assert values(Dataset.from_tensor_slices([[1, 2], [3, 4]])) == [[1, 2], [3, 4]]
    assert values(Dataset.from_tensor_slices(([1, 2], [3, 4], [5, 6]))) == [(1, 3, 5), (2, 4, 6)]
    assert values(Dataset.from_tensor_slices(([1, 2], ["a", "b"]))) == [(1, b"a"), (2, b"b")]
    assert values(Dataset.from_tensor_slices({"a": [1, 2], "b": [3, 4]})) == [
        {"a": 1, "b": 3}, {"a": 2, "b": 4}]
    features, labels = [[1, 3], [2, 1], [3, 3]], ["A", "B", "A"]
    assert values(Dataset.from_tensor_slices((features, labels))) == [
        ([1, 3], b"A"), ([2, 1], b"B"), ([3, 3], b"A")]


def test_from_tensor_slices_mismatched_lengths():
    with pytest.raises(ValueError):
        Dataset.from_tensor_slices(([1, 2, 3], [4, 5]))


def test_from_tensors():
    assert values(Dataset.from_tensors([1, 2, 3])) == [[1, 2, 3]]
    assert values(Dataset.from_tensors(([1, 2, 3], "A"))) == [([1, 2, 3], b"A")]


def test_counter():
    assert values(Dataset.counter().take(5)) == [0, 1, 2, 3, 4]
    assert values(Dataset.counter(start=2).take(5)) == [2, 3, 4, 5, 6]
    assert values(Dataset.counter(start=2, step=5).take(5)) == [2, 7, 12, 17, 22]
    assert values(Dataset.counter(start=10, step=-1).take(5)) == [10, 9, 8, 7, 6]
    assert Dataset.counter().cardinality() == inputpipe.INFINITE_CARDINALITY


def test_zip():
    a, b = Dataset.range(1, 4), Dataset.range(4, 7)
    assert values(Dataset.zip((a, b))) == [(1, 4), (2, 5), (3, 6)]
    assert values(Dataset.zip(b, a)) == [(4, 1), (5, 2), (6, 3)]
    c = Dataset.range(7, 13).batch(2)
    assert values(Dataset.zip(a, b, c)) == [(1, 4, [7, 8]), (2, 5, [9, 10]), (3, 6, [11, 12])]
    d = Dataset.range(13, 15)
    assert values(Dataset.zip(a, d)) == [(1, 13), (2, 14)]
    assert values(Dataset.zip(datasets=(a, d))) == [(1, 13), (2, 14)]


def test_zip_dict_and_nested():
    a, b, c = Dataset.range(3), Dataset.range(10, 13), Dataset.range(20, 22)
    assert values(Dataset.zip({"y": b, "x": a})) == [
        {"x": 0, "y": 10}, {"x": 1, "y": 11}, {"x": 2, "y": 12}]
    assert values(Dataset.zip((a, (b, c)))) == [(0, (10, 20)), (1, (11, 21))]


def test_zip_rejects_non_datasets():
    with pytest.raises(TypeError):
        Dataset.zip((Dataset.range(3), [1, 2, 3]))


# ---- Transformations -----------------------------------------------------------------------

def test_map():
    assert values(Dataset.range(1, 6).map(lambda x: x + 1)) == [2, 3, 4, 5, 6]


def test_map_unpacks_tuples_and_builds_structures():
    ds = Dataset.from_tensor_slices(([1, 2], [3, 4]))
    assert values(ds.map(lambda x, y: x + y)) == [4, 6]
    assert values(ds.map(lambda x, y: {"sum": x + y, "pair": (y, x)})) == [
        {"pair": (3, 1), "sum": 4}, {"pair": (4, 2), "sum": 6}]
    dicts = Dataset.from_tensor_slices({"a": [1, 2], "b": [10, 20]})
    assert values(dicts.map(lambda d: d["a"] * d["b"])) == [10, 40]


def test_map_string_results():
    ds = Dataset.from_tensor_slices(["a", "bb"]).map(lambda s: s + b"!")
    assert values(ds) == [b"a!", b"bb!"]


def test_map_parallel_is_ordered():
    ds = Dataset.range(100).map(lambda x: x * 3, num_parallel_calls=4)
    assert values(ds) == [x * 3 for x in range(100)]
    ds = Dataset.range(100).map(lambda x: x * 3, num_parallel_calls=inputpipe.AUTOTUNE,
                                deterministic=False)
    assert sorted(values(ds)) == [x * 3 for x in range(100)]


def test_filter():
    assert values(Dataset.from_tensor_slices([1, 2, 3]).filter(lambda x: x < 3)) == [1, 2]
    ds = Dataset.from_tensor_slices(([1, 2, 3], [4, 5, 6])).filter(lambda x, y: y % 2 == 0)
    assert values(ds) == [(1, 4), (3, 6)]
    assert Dataset.range(5).filter(lambda x: True).cardinality() == \
        inputpipe.UNKNOWN_CARDINALITY


def test_filter_predicate_must_be_scalar_bool():
    with pytest.raises(ValueError, match="scalar bool"):
        list(Dataset.range(3).filter(lambda x: x))
    # A bool array of one element is not a scalar (tf.data refuses it too).
    for shape in [(1,), (1, 1)]:
        with pytest.raises(ValueError, match=r"filter: the predicate must return a scalar bool"):
            list(Dataset.range(3).filter(lambda x: np.ones(shape, dtype=bool)))
    assert values(Dataset.range(3).filter(lambda x: np.array(x > 0))) == [1, 2]


def test_batch():
    assert values(Dataset.range(8).batch(3)) == [[0, 1, 2], [3, 4, 5], [6, 7]]
    assert values(Dataset.range(8).batch(3, drop_remainder=True)) == [[0, 1, 2], [3, 4, 5]]
    assert Dataset.range(8).batch(3).cardinality() == 3
    assert Dataset.range(8).batch(3, drop_remainder=True).cardinality() == 2


def test_batch_structures_and_strings():
    ds = Dataset.from_tensor_slices({"s": ["a", "b", "c"], "n": [1, 2, 3]}).batch(2)
    batches = list(ds)
    assert batches[0]["s"].dtype == object
    assert batches[0]["s"].tolist() == [b"a", b"b"]
    assert values(ds) == [{"n": [1, 2], "s": [b"a", b"b"]}, {"n": [3], "s": [b"c"]}]


def test_batch_bad_size():
    with pytest.raises(ValueError, match="batch"):
        Dataset.range(3).batch(0)


def _filled():
    # tf: A = tf.data.Dataset.range(1, 5).map(lambda x: tf.fill([x], x))
    return Dataset.range(1, 5).map(lambda x: np.full([int(x)], x))


def test_padded_batch():
    assert values(_filled().padded_batch(2)) == [[[1, 0], [2, 2]], [[3, 3, 3, 0], [4, 4, 4, 4]]]
    assert values(_filled().padded_batch(2, padded_shapes=[5])) == [
        [[1, 0, 0, 0, 0], [2, 2, 0, 0, 0]], [[3, 3, 3, 0, 0], [4, 4, 4, 4, 0]]]
    assert values(_filled().padded_batch(2, padded_shapes=(5,))) == \
        values(_filled().padded_batch(2, padded_shapes=[5]))
    assert values(_filled().padded_batch(2, padding_values=np.int64(-1))) == [
        [[1, -1], [2, 2]], [[3, 3, 3, -1], [4, 4, 4, 4]]]
    assert values(_filled().padded_batch(3, drop_remainder=True)) == [
        [[1, 0, 0], [2, 2, 0], [3, 3, 3]]]


def test_padded_batch_components():
    elements = [([1, 2, 3], [10]), ([4, 5], [11, 12])]
    ds = Dataset.range(2).map(lambda i: tuple(np.array(c) for c in elements[int(i)]))
    assert values(ds.padded_batch(2, padding_values=(np.int64(-1), np.int64(100)))) == [
        ([[1, 2, 3], [4, 5, -1]], [[10, 100], [11, 12]])]
    assert values(ds.padded_batch(2, padded_shapes=([4], [None]))) == [
        ([[1, 2, 3, 0], [4, 5, 0, 0]], [[10, 0], [11, 12]])]


def test_padded_batch_shape_too_small():
    with pytest.raises(ValueError, match="padded"):
        list(_filled().padded_batch(2, padded_shapes=[1]))


def test_unbatch():
    ds = Dataset.range(7).batch(3).unbatch()
    assert values(ds) == list(range(7))
    ragged = Dataset.range(3).map(lambda i: np.arange(int(i) + 1)).unbatch()
    assert values(ragged) == [0, 0, 1, 0, 1, 2]
    pairs = Dataset.from_tensors(([1, 2], ["a", "b"])).unbatch()
    assert values(pairs) == [(1, b"a"), (2, b"b")]


def test_repeat():
    assert values(Dataset.from_tensor_slices([1, 2, 3]).repeat(3)) == [1, 2, 3] * 3
    assert values(Dataset.range(2).repeat().take(5)) == [0, 1, 0, 1, 0]
    assert Dataset.range(2).repeat().cardinality() == inputpipe.INFINITE_CARDINALITY
    assert Dataset.range(2).repeat(0).cardinality() == 0


def test_take_and_skip():
    assert values(Dataset.range(10).take(3)) == [0, 1, 2]
    assert values(Dataset.range(10).skip(7)) == [7, 8, 9]
    assert values(Dataset.range(3).take(-1)) == [0, 1, 2]
    assert values(Dataset.range(3).skip(-1)) == []
    assert Dataset.range(10).skip(7).cardinality() == 3


def test_shard():
    a = Dataset.range(10)
    assert values(a.shard(num_shards=3, index=0)) == [0, 3, 6, 9]
    assert values(a.shard(num_shards=3, index=1)) == [1, 4, 7]
    assert values(a.shard(num_shards=3, index=2)) == [2, 5, 8]
    with pytest.raises(ValueError, match="shard"):
        a.shard(3, 3)


def test_enumerate():
    ds = Dataset.from_tensor_slices([1, 2, 3]).enumerate(start=5)
    assert values(ds) == [(5, 1), (6, 2), (7, 3)]
    nested = Dataset.from_tensor_slices([(7, 8), (9, 10)]).enumerate()
    assert values(nested) == [(0, [7, 8]), (1, [9, 10])]


def test_concatenate():
    a, b = Dataset.range(1, 4), Dataset.range(4, 8)
    assert values(a.concatenate(b)) == [1, 2, 3, 4, 5, 6, 7]
    assert a.concatenate(b).cardinality() == 7
    with pytest.raises(ValueError):
        list(a.concatenate(Dataset.from_tensor_slices(["a"])))


def test_flat_map():
    ds = Dataset.from_tensor_slices([[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    assert values(ds.flat_map(Dataset.from_tensor_slices)) == list(range(1, 10))
    assert values(Dataset.range(1, 4).flat_map(lambda x: Dataset.range(x))) == [0, 0, 1, 0, 1, 2]


def test_flat_map_must_return_dataset():
    with pytest.raises(TypeError, match="Dataset"):
        list(Dataset.range(3).flat_map(lambda x: x))


def test_window():
    ds = Dataset.range(7)
    assert values(ds.window(3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert values(ds.window(3, drop_remainder=True)) == [[0, 1, 2], [3, 4, 5]]
    assert values(ds.window(3, 2, 1, True)) == [[0, 1, 2], [2, 3, 4], [4, 5, 6]]
    assert values(ds.window(3, 1, 2, True)) == [[0, 2, 4], [1, 3, 5], [2, 4, 6]]


def test_window_shift_must_be_positive_when_given():
    # shift=0 is not "not given" (tf.data also refuses it); None is the default, size.
    for shift in [0, -1]:
        with pytest.raises(ValueError, match=f"window: shift must be positive, got {shift}"):
            Dataset.range(7).window(3, shift=shift)
    assert values(Dataset.range(7).window(3, shift=None)) == [[0, 1, 2], [3, 4, 5], [6]]


def test_window_elements_are_datasets():
    windows = list(Dataset.range(7).window(3))
    assert all(isinstance(w, Dataset) for w in windows)
    assert values(windows[0].map(lambda x: x * 10)) == [0, 10, 20]


def test_window_of_structures():
    ds = Dataset.from_tensor_slices(([1, 2, 3, 4, 5], [6, 7, 8, 9, 10])).window(2)
    assert values(ds) == [([1, 2], [6, 7]), ([3, 4], [8, 9]), ([5], [10])]
    ds = Dataset.from_tensor_slices({"a": [1, 2, 3], "b": [4, 5, 6]}).window(2)
    assert values(ds) == [{"a": [1, 2], "b": [4, 5]}, {"a": [3], "b": [6]}]


def test_window_flat_map_batch():
    ds = Dataset.range(7).window(3, shift=1, drop_remainder=True).flat_map(lambda w: w.batch(3))
    assert values(ds) == [[0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5], [4, 5, 6]]


def test_apply():
    ds = Dataset.range(100).apply(lambda ds: ds.filter(lambda x: x < 5))
    assert values(ds) == [0, 1, 2, 3, 4]
    with pytest.raises(TypeError, match="Dataset"):
        Dataset.range(3).apply(lambda ds: 3)


def test_cardinality_and_len():
    ds = Dataset.range(42)
    assert ds.cardinality() == 42 and len(ds) == 42
    assert ds.repeat().cardinality() == inputpipe.INFINITE_CARDINALITY
    assert ds.repeat().take(10).cardinality() == 10
    assert ds.filter(lambda x: True).cardinality() == inputpipe.UNKNOWN_CARDINALITY
    with pytest.raises(TypeError, match="infinite"):
        len(ds.repeat())
    assert inputpipe.INFINITE_CARDINALITY == -1 and inputpipe.UNKNOWN_CARDINALITY == -2


def test_as_numpy_iterator():
    assert values(Dataset.from_tensor_slices([1, 2, 3]).as_numpy_iterator()) == [1, 2, 3]
    ds = Dataset.from_tensor_slices({"a": ([1, 2], [3, 4]), "b": [5, 6]})
    assert values(ds.as_numpy_iterator()) == [{"a": (1, 3), "b": 5}, {"a": (2, 4), "b": 6}]


def test_iterator_protocol():
    it = iter(Dataset.range(2))
    assert iter(it) is it
    assert isinstance(it, inputpipe.Iterator)
    assert [next(it), next(it)] == [0, 1]
    for _ in range(3):  # the end is final
        with pytest.raises(StopIteration):
            next(it)


def test_is_random_access():
    assert Dataset.range(10).map(lambda x: x).batch(2).is_random_access()
    assert not Dataset.range(10).filter(lambda x: True).is_random_access()
    assert not Dataset.range(10).map(lambda x: x, stateful=True).is_random_access()


def test_dataset_is_not_built_directly():
    with pytest.raises(TypeError):
        Dataset(42)  # type: ignore[arg-type]


# ---- choose / sample element specs, unique's dtypes, unbatch cardinality, bucket padding ----


def test_choose_and_sample_reject_inputs_of_different_dtypes_or_structures():
    """As concatenate (and tf.data's static element specs): one structure and dtypes."""
    ints_ds, words = Dataset.range(3), Dataset.from_tensor_slices([b"a", b"b"])
    with pytest.raises(ValueError, match=r"choose_from_datasets: .*datasets\[1\] has"):
        Dataset.choose_from_datasets([ints_ds, words], Dataset.range(2))
    with pytest.raises(ValueError, match=r"sample_from_datasets: .*incompatible"):
        Dataset.sample_from_datasets([ints_ds, words], seed=1)
    pairs = Dataset.range(3).map(lambda x: (x, x))
    with pytest.raises(ValueError, match="sample_from_datasets"):
        Dataset.sample_from_datasets([ints_ds, pairs], seed=1)
    # Not random-access (filter): at the first element of the other input.
    lazy_words = words.filter(lambda w: True)
    with pytest.raises(ValueError, match="choose_from_datasets"):
        list(Dataset.choose_from_datasets([ints_ds, lazy_words],
                                          Dataset.from_tensor_slices([0, 1])))
    with pytest.raises(ValueError, match="sample_from_datasets"):
        list(Dataset.sample_from_datasets([ints_ds.repeat(), lazy_words.repeat()], seed=3))
    # Same dtype, other shapes: allowed, as tf.data.
    rows = Dataset.from_tensor_slices(np.arange(4).reshape(2, 2))
    assert len(list(Dataset.choose_from_datasets([ints_ds, rows],
                                                 Dataset.from_tensor_slices([0, 1, 1])))) == 3


def test_unique_takes_integers_and_strings_only():
    """tf.data's unique takes int32 / int64 / string components: floats and tuples are
    rejected (the docstring's contract), integers of other widths and strings work."""
    with pytest.raises(ValueError, match="unique.*float64"):
        Dataset.from_tensor_slices([1.5, 1.5]).unique()
    with pytest.raises(ValueError, match="unique.*float32"):
        list(Dataset.range(3).map(lambda x: np.float32(x)).filter(lambda x: True).unique())
    with pytest.raises(ValueError, match="unique"):
        list(Dataset.range(3).map(lambda x: (x, x)).unique())
    assert list(Dataset.from_tensor_slices(np.array([3, 3, 4], np.int32)).unique()) == [3, 4]
    assert list(Dataset.from_tensor_slices([b"a\x00", b"a", b"a\x00"]).unique()) == [b"a\x00",
                                                                                       b"a"]


def test_unbatch_of_a_drop_remainder_batch_has_a_known_cardinality():
    """tf.data: batch(3, drop_remainder=True) has a static batch dimension of 3."""
    assert Dataset.range(9).batch(3, drop_remainder=True).unbatch().cardinality() == 9
    assert Dataset.range(10).batch(3, drop_remainder=True).unbatch().cardinality() == 9
    assert Dataset.range(8).padded_batch(4, drop_remainder=True).unbatch().cardinality() == 8
    assert (Dataset.range(9).batch(3).unbatch().cardinality()
            == inputpipe.UNKNOWN_CARDINALITY)


def test_bucket_by_sequence_length_pads_to_the_boundary_without_padded_shapes():
    """tf.data infers the padded shapes (its unknown dimensions) when padded_shapes is None;
    here the first dimension of each component is padded to bucket_boundary - 1."""
    elements = [[0], [1, 2, 3, 4], [5, 6, 7], [7, 8, 9, 10, 11], [13, 14, 15, 16, 19, 20],
                [21, 22]]
    sequences = Dataset.range(len(elements)).map(lambda i: np.array(elements[int(i)]))
    inferred = sequences.bucket_by_sequence_length(
        lambda e: e.shape[0], [3, 7], [2, 2, 2], pad_to_bucket_boundary=True,
        padding_values=np.int64(-1))
    explicit = sequences.bucket_by_sequence_length(
        lambda e: e.shape[0], [3, 7], [2, 2, 2], padded_shapes=[None],
        pad_to_bucket_boundary=True, padding_values=np.int64(-1))
    got = [b.tolist() for b in inferred]
    assert got == [b.tolist() for b in explicit]
    assert sorted(np.array(b).shape for b in got) == [(2, 2), (2, 6), (2, 6)]
    # A tuple (sequence, label): the label (a scalar) is stacked, the sequence padded.
    labelled = Dataset.range(len(elements)).map(
        lambda i: (np.array(elements[int(i)]), np.int64(i)))
    batches = list(labelled.bucket_by_sequence_length(
        lambda seq, label: seq.shape[0], [3, 7], [2, 2, 2], pad_to_bucket_boundary=True))
    assert sorted((s.shape, l.shape) for s, l in batches) == [((2, 2), (2,)), ((2, 6), (2,)),
                                                              ((2, 6), (2,))]
