"""The reordering and parallel ops (shuffle, prefetch, interleave, ...) from Python: behaviour
against tf.data's documented results where they are deterministic, properties where they are
random, and the exactness harness for each."""

import collections

import numpy as np
import pytest

import inputpipe
import pipelines
from inputpipe import Dataset
from inputpipe.testing import assert_exact_resume


def ints(ds):
    return [int(x) for x in ds]


# ---- shuffle -------------------------------------------------------------------------------

def test_global_shuffle_is_a_permutation_and_seeded():
    a = ints(Dataset.range(100).shuffle(seed=3))
    assert sorted(a) == list(range(100)) and a != list(range(100))
    assert ints(Dataset.range(100).shuffle(seed=3)) == a
    assert ints(Dataset.range(100).shuffle(seed=4)) != a


def test_global_shuffle_reshuffles_each_epoch():
    epochs = ints(Dataset.range(20).shuffle(seed=1).repeat(2))
    assert sorted(epochs[:20]) == sorted(epochs[20:]) == list(range(20))
    assert epochs[:20] != epochs[20:]
    same = ints(Dataset.range(20).shuffle(seed=1, reshuffle_each_iteration=False).repeat(2))
    assert same[:20] == same[20:]


def test_global_shuffle_needs_random_access():
    with pytest.raises((ValueError, NotImplementedError), match="filter"):
        list(Dataset.range(10).filter(lambda x: True).shuffle())


def test_buffered_shuffle():
    # tf: range(3).shuffle(3, reshuffle_each_iteration=True).repeat(2): each epoch a permutation.
    out = ints(Dataset.range(3).filter(lambda x: True).shuffle(3, seed=2).repeat(2))
    assert sorted(out[:3]) == sorted(out[3:]) == [0, 1, 2]
    small = ints(Dataset.range(50).shuffle(1, seed=9))  # a buffer of 1 keeps the order
    assert small == list(range(50))
    with pytest.raises(ValueError, match="buffer_size"):
        Dataset.range(3).shuffle(0)


def test_unseeded_shuffle_resumes_in_a_rebuilt_pipeline():
    # Each build picks another seed; the seed travels in the state.
    assert_exact_resume(lambda: Dataset.range(40).shuffle(), deterministic=False)
    assert_exact_resume(lambda: Dataset.range(40).shuffle(8), deterministic=False)


# ---- prefetch, interleave ------------------------------------------------------------------

def test_prefetch():
    assert ints(Dataset.range(3).prefetch(2)) == [0, 1, 2]
    assert ints(Dataset.range(30).prefetch(inputpipe.AUTOTUNE)) == list(range(30))


def test_interleave_matches_tf_example():
    # tf docs: range(1, 6).interleave(lambda x: from_tensors(x).repeat(6), cycle_length=2,
    # block_length=4)
    expected = [1, 1, 1, 1, 2, 2, 2, 2, 1, 1, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 3, 3, 4, 4,
                5, 5, 5, 5, 5, 5]
    for npc in (None, 2, inputpipe.AUTOTUNE):
        ds = Dataset.range(1, 6).interleave(lambda x: Dataset.from_tensors(x).repeat(6),
                                            cycle_length=2, block_length=4,
                                            num_parallel_calls=npc)
        assert ints(ds) == expected


def test_interleave_nondeterministic_gives_every_element_once():
    ds = Dataset.range(8).interleave(lambda x: Dataset.range(x * 10, x * 10 + 5),
                                     cycle_length=3, num_parallel_calls=3,
                                     deterministic=False)
    assert sorted(ints(ds)) == sorted(x * 10 + i for x in range(8) for i in range(5))


# ---- sampling and choosing -----------------------------------------------------------------

def test_sample_from_datasets():
    ds = Dataset.sample_from_datasets(
        [Dataset.from_tensors(0).repeat(), Dataset.from_tensors(1).repeat()],
        weights=[0.25, 0.75], seed=5)
    counts = collections.Counter(ints(ds.take(4000)))
    assert 0.2 < counts[0] / 4000 < 0.3
    finite = Dataset.sample_from_datasets([Dataset.range(5), Dataset.range(100, 103)], seed=1)
    assert sorted(ints(finite)) == [0, 1, 2, 3, 4, 100, 101, 102]


def test_choose_from_datasets_matches_tf_example():
    datasets = [Dataset.from_tensors("foo").repeat(), Dataset.from_tensors("bar").repeat(),
                Dataset.from_tensors("baz").repeat()]
    choice = Dataset.range(3).repeat(3)
    assert list(Dataset.choose_from_datasets(datasets, choice)) == [b"foo", b"bar", b"baz"] * 3


def test_choose_from_datasets_stop_on_empty_dataset():
    # tf.data: True (the default) ends at the first chosen input that has ended; False skips
    # that choice and ends once every input has ended, even with choices left (here: forever).
    inputs = [Dataset.range(2), Dataset.range(10, 13)]
    choice = Dataset.from_tensor_slices(np.array([0, 1, 0, 1, 0, 1, 0, 1], np.int64))
    assert ints(Dataset.choose_from_datasets(inputs, choice)) == [0, 10, 1, 11]
    assert ints(Dataset.choose_from_datasets(inputs, choice, stop_on_empty_dataset=False)) == [
        0, 10, 1, 11, 12]
    forever = Dataset.range(2).repeat()
    assert ints(Dataset.choose_from_datasets(inputs, forever, stop_on_empty_dataset=False)) == [
        0, 10, 1, 11, 12]
    # A choice out of range is an error, whatever the mode; the stream goes on after it.
    bad = Dataset.from_tensor_slices(np.array([0, 5, 1], np.int64))
    it = iter(Dataset.choose_from_datasets(inputs, bad, stop_on_empty_dataset=False))
    assert int(next(it)) == 0
    with pytest.raises(ValueError, match="choice 5 is out of range"):
        next(it)
    assert ints(it) == [10]


def test_random():
    a = ints(Dataset.random(seed=4).take(10))
    assert a == ints(Dataset.random(seed=4).take(10)) and len(set(a)) == 10
    assert Dataset.random().cardinality() == inputpipe.INFINITE_CARDINALITY


# ---- group_by_window, bucket_by_sequence_length, unique ------------------------------------

def test_group_by_window_matches_tf_example():
    ds = Dataset.range(10).group_by_window(
        key_func=lambda x: x % 2, reduce_func=lambda key, window: window.batch(10),
        window_size=5)
    assert [b.tolist() for b in ds] == [[0, 2, 4, 6, 8], [1, 3, 5, 7, 9]]


def test_group_by_window_window_size_func():
    # tf.data (checked against tensorflow 2.21): a window size per key, asked once per key.
    calls = []

    def size_of(key):
        calls.append(int(key))
        return key + 2

    ds = Dataset.range(20).group_by_window(lambda x: x % 3, lambda key, w: w.batch(10),
                                           window_size_func=size_of)
    assert [b.tolist() for b in ds] == [[0, 3], [1, 4, 7], [6, 9], [2, 5, 8, 11], [12, 15],
                                        [10, 13, 16], [18], [19], [14, 17]]
    assert calls == [0, 1, 2]
    with pytest.raises(ValueError, match="exactly one of window_size and window_size_func"):
        Dataset.range(4).group_by_window(lambda x: x, lambda k, w: w, 2, lambda k: 2)
    with pytest.raises(ValueError, match="exactly one"):
        Dataset.range(4).group_by_window(lambda x: x, lambda k, w: w)


def test_group_by_window_size_func_errors_at_the_element():
    # A size <= 0 (tf.data: "Window size must be greater than zero") or not an integer is an
    # error at the element that asked; that element is dropped and the stream goes on.
    ds = Dataset.range(6).group_by_window(lambda x: x % 2, lambda key, w: w.batch(10),
                                          window_size_func=lambda key: 0 if key == 1 else 2)
    it = iter(ds)
    with pytest.raises(ValueError, match="window_size_func returned 0 for key 1"):
        next(it)
    assert next(it).tolist() == [0, 2]
    events = []
    while True:
        try:
            events.append(next(it).tolist())
        except ValueError:
            events.append("error")
        except StopIteration:
            break
    assert events == ["error", "error", [4]]
    floats = Dataset.range(3).group_by_window(
        lambda x: x, lambda key, w: w,
        window_size_func=lambda key: 2.0)  # type: ignore[arg-type, return-value]
    with pytest.raises(ValueError, match="window_size_func must return an integer scalar"):
        list(floats)


def _sequences():
    elements = [[0], [1, 2, 3, 4], [5, 6, 7], [7, 8, 9, 10, 11], [13, 14, 15, 16, 19, 20],
                [21, 22]]
    return Dataset.range(len(elements)).map(lambda i: np.array(elements[int(i)]))


def test_bucket_by_sequence_length_matches_tf_example():
    ds = _sequences().bucket_by_sequence_length(
        element_length_func=lambda elem: elem.shape[0], bucket_boundaries=[3, 5],
        bucket_batch_sizes=[2, 2, 2])
    assert [b.tolist() for b in ds] == [
        [[1, 2, 3, 4], [5, 6, 7, 0]],
        [[7, 8, 9, 10, 11, 0], [13, 14, 15, 16, 19, 20]],
        [[0, 0], [21, 22]]]


def test_bucket_by_sequence_length_options():
    no_pad = _sequences().bucket_by_sequence_length(
        lambda e: e.shape[0], [3, 5], [1, 1, 1], no_padding=True)
    assert len(list(no_pad)) == 6
    to_boundary = _sequences().bucket_by_sequence_length(
        lambda e: e.shape[0], [3, 7], [2, 2, 2], padded_shapes=[None],
        pad_to_bucket_boundary=True, padding_values=np.int64(-1))
    shapes = sorted(b.shape for b in to_boundary)
    assert shapes == [(2, 2), (2, 6), (2, 6)]
    with pytest.raises(ValueError, match="bucket_batch_sizes"):
        _sequences().bucket_by_sequence_length(lambda e: e.shape[0], [3, 5], [2, 2])


def test_bucket_by_sequence_length_with_different_batch_sizes_makes_tf_batches():
    lengths = [1, 5, 2, 6, 1, 7, 3, 1, 5, 2, 8, 1, 1]
    ds = Dataset.range(len(lengths)).map(lambda i: np.arange(1, lengths[int(i)] + 1))
    batches = list(ds.bucket_by_sequence_length(lambda e: e.shape[0], [4], [3, 2]))
    rows = [np.count_nonzero(b, axis=1).tolist() for b in batches]
    # tf.data's batches in tf.data's order (checked against tensorflow 2.21): each bucket's
    # batch comes out when it is full, the partial ones at the end in bucket order.
    assert rows == [[5, 6], [1, 2, 1], [7, 5], [3, 1, 2], [1, 1], [8]]


def test_unique():
    ds = Dataset.from_tensor_slices([1, 37, 2, 37, 2, 1]).unique()
    assert ints(ds) == [1, 37, 2]
    words = Dataset.from_tensor_slices(["b", "a", "b", "c", "a"]).unique()
    assert list(words) == [b"b", b"a", b"c"]


# ---- exactness -----------------------------------------------------------------------------

REORDER_OPS = {
    "global_shuffle": lambda: Dataset.range(50).shuffle(seed=7),
    "global_shuffle_repeat": lambda: Dataset.range(20).shuffle(seed=7).repeat(3),
    "buffered_shuffle": lambda: Dataset.range(60).filter(pipelines.is_even).shuffle(
        10, seed=3).repeat(2),
    "prefetch": lambda: Dataset.range(40).map(pipelines.square).prefetch(4),
    "interleave": lambda: Dataset.range(1, 8).interleave(pipelines.as_range, cycle_length=3,
                                                         block_length=2),
    "interleave_parallel": lambda: Dataset.range(1, 8).interleave(
        pipelines.as_range, cycle_length=3, block_length=2, num_parallel_calls=3),
    "sample_from_datasets": lambda: Dataset.sample_from_datasets(
        [Dataset.range(30), Dataset.range(100, 120)], weights=[1, 2], seed=4),
    "choose_from_datasets": lambda: Dataset.choose_from_datasets(
        [Dataset.range(10), Dataset.range(100, 110)], Dataset.range(18).map(lambda x: x % 2)),
    "choose_from_datasets_skip_empty": lambda: Dataset.choose_from_datasets(
        [Dataset.range(3), Dataset.range(100, 110).filter(pipelines.is_even), Dataset.range(0)],
        Dataset.range(40).map(lambda x: x * 7 % 3), stop_on_empty_dataset=False),
    "random": lambda: Dataset.random(seed=1).take(30),
    "group_by_window": lambda: Dataset.range(40).group_by_window(
        lambda x: x % 3, lambda key, w: w.batch(4), window_size=4),
    "group_by_window_size_func": lambda: Dataset.range(50).group_by_window(
        lambda x: x % 4, lambda key, w: w.batch(8), window_size_func=lambda key: key * 2 + 1),
    "bucket_by_sequence_length": lambda: Dataset.range(40).map(
        lambda i: np.arange(int(i) % 7 + 1)).bucket_by_sequence_length(
        lambda e: e.shape[0], [3, 5], [2, 3, 2]),
    "unique": lambda: Dataset.range(60).map(lambda x: x % 13).unique(),
}


@pytest.mark.parametrize("name", sorted(REORDER_OPS))
def test_reorder_op_resumes_exactly(name):
    assert_exact_resume(REORDER_OPS[name])


def test_parallel_map_nondeterministic_resumes_exactly_once():
    assert_exact_resume(lambda: Dataset.range(80).map(pipelines.square, num_parallel_calls=4,
                                                      deterministic=False),
                        ordered=False)


def test_shuffled_prefetched_chain_in_a_fresh_process():
    assert_exact_resume(pipelines.shuffled_prefetched, fresh_process=True)
    assert_exact_resume(pipelines.buffered_shuffle_repeat, fresh_process=True)
