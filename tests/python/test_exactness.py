"""The exactness harness (inputpipe.testing.assert_exact_resume) on every op, alone and in long
chains; some breakpoints restored in a fresh Python process."""

import numpy as np
import pytest

import pipelines
from inputpipe import Dataset
from inputpipe.testing import assert_exact_resume


def _words():
    return np.array(["a", "bb", "", "dddd", "eeeee", "f"] * 4)


def _ragged(i):
    return np.arange(int(i) % 4 + 1, dtype=np.int32)


SINGLE_OPS = {
    "range": lambda: Dataset.range(3, 40, 3),
    "range_negative_step": lambda: Dataset.range(20, 0, -3),
    "range_empty": lambda: Dataset.range(0),
    "from_tensor_slices": lambda: Dataset.from_tensor_slices(np.arange(30).reshape(15, 2)),
    "from_tensor_slices_strings": lambda: Dataset.from_tensor_slices(_words()),
    "from_tensor_slices_dict": lambda: Dataset.from_tensor_slices(
        {"x": np.linspace(0, 1, 13, dtype=np.float32), "w": _words()[:13],
         "b": np.arange(13) % 2 == 0}),
    "from_tensors": lambda: Dataset.from_tensors((np.eye(3), "label")),
    "counter": lambda: Dataset.counter(5, 3),
    "zip": lambda: Dataset.zip(Dataset.range(20), Dataset.from_tensor_slices(_words())),
    "zip_dict": lambda: Dataset.zip({"a": Dataset.range(30), "b": Dataset.counter(7, -1)}),
    "map": lambda: Dataset.range(30).map(lambda x: (x, np.float16(x) / 3)),
    "map_parallel": lambda: Dataset.range(60).map(pipelines.square, num_parallel_calls=3),
    "filter": lambda: Dataset.range(40).filter(pipelines.is_even),
    "batch": lambda: Dataset.range(23).batch(4),
    "batch_drop_remainder": lambda: Dataset.range(23).batch(4, drop_remainder=True),
    "padded_batch": lambda: Dataset.range(25).map(_ragged).padded_batch(
        3, padded_shapes=[None], padding_values=np.int32(-1)),
    "unbatch": lambda: Dataset.range(25).map(_ragged).unbatch(),
    "repeat": lambda: Dataset.range(7).repeat(4),
    "repeat_forever": lambda: Dataset.range(7).repeat(),
    "take": lambda: Dataset.range(100).take(17),
    "skip": lambda: Dataset.range(40).skip(13),
    "shard": lambda: Dataset.range(50).shard(4, 3),
    "enumerate": lambda: Dataset.from_tensor_slices(_words()).enumerate(start=10),
    "concatenate": lambda: Dataset.range(9).concatenate(Dataset.range(100, 110)),
    "flat_map": lambda: Dataset.range(1, 9).flat_map(pipelines.as_range),
    "window": lambda: Dataset.range(20).window(4, shift=3, stride=2),
    "window_drop_remainder": lambda: Dataset.range(20).window(5, drop_remainder=True),
    "window_of_tuples": lambda: Dataset.zip(Dataset.range(10), Dataset.range(10, 20)).window(3),
}


@pytest.mark.parametrize("name", sorted(SINGLE_OPS))
def test_op_resumes_exactly(name):
    assert_exact_resume(SINGLE_OPS[name])


CHAINS = {
    "range_map_filter_batch_repeat_take": pipelines.long_chain,
    "window_flat_map": pipelines.window_flat_map,
    "strings_dicts_padded_unbatch_enumerate": pipelines.strings_and_dicts,
    "nested_flat_map_shard_skip": pipelines.nested_flat_map,
    "all_core_ops_chained": lambda: (
        Dataset.zip(Dataset.range(100), Dataset.counter(1000))
        .map(lambda a, b: (a, b - a))
        .filter(lambda a, b: a % 3 != 0)
        .enumerate()
        .map(lambda i, ab: ab[0] + i)
        .window(5, shift=4)
        .flat_map(lambda w: w.batch(2))
        .padded_batch(2)
        .unbatch()
        .concatenate(Dataset.from_tensors(np.array([7, 7], dtype=np.int64)))
        .repeat(2)
        .skip(3)
        .shard(2, 0)
        .take(40)),
}


@pytest.mark.parametrize("name", sorted(CHAINS))
def test_chain_resumes_exactly(name):
    stream = assert_exact_resume(CHAINS[name], max_state_bytes=1024)
    assert len(stream) > 11  # the interesting breakpoints are inside the stream


@pytest.mark.parametrize("factory", [pipelines.long_chain, pipelines.window_flat_map,
                                     pipelines.strings_and_dicts])
def test_resume_in_a_fresh_process(factory):
    assert_exact_resume(factory, fresh_process=True)


def test_fresh_process_needs_module_level_factory():
    with pytest.raises(ValueError, match="module-level"):
        assert_exact_resume(lambda: Dataset.range(20), fresh_process=True)


def test_states_stay_tiny_whatever_the_buffers():
    # Big elements, big batches: the state holds positions only.
    big = Dataset.from_tensor_slices(np.zeros((64, 1000), dtype=np.float64))
    assert_exact_resume(lambda: big.batch(16).unbatch().window(20).flat_map(
        lambda w: w.batch(20)), max_state_bytes=1024)
    it = iter(big.batch(32))
    next(it)
    assert len(it.save()) < 1024


class TestHarnessCatchesErrors:
    """The harness must fail for a pipeline that does not resume exactly."""

    def test_external_state_ignored_is_caught(self):
        calls = []

        def counting(x):  # its own state is not saved: a restore restarts it
            calls.append(1)
            return x + len(calls)

        with pytest.raises(AssertionError, match="breakpoint"):
            assert_exact_resume(lambda: Dataset.range(20).map(counting, stateful=True),
                                external_state_policy="ignore")

    def test_state_size_bound_is_enforced(self):
        with pytest.raises(AssertionError, match="bytes"):
            assert_exact_resume(lambda: Dataset.range(20), max_state_bytes=10)

    def test_element_differences_are_named(self):
        from inputpipe.testing import assert_same_element

        with pytest.raises(AssertionError, match="dtype|int32"):
            assert_same_element(np.arange(3), np.arange(3, dtype=np.int32))
        with pytest.raises(AssertionError, match=r"\['x'\]"):
            assert_same_element({"x": np.int64(1)}, {"x": np.int64(2)})
        with pytest.raises(AssertionError, match="tuple"):
            assert_same_element((1, 2), (1, 2, 3))
        assert_same_element(np.array([b"a"], dtype=object), np.array([b"a"], dtype=object))


@pytest.mark.parametrize("shuffle", ["buffered", "global"])
def test_a_restore_into_a_dataset_iterated_before_continues_the_saved_epochs(shuffle):
    # Each new iterator of a reshuffling dataset takes the next epoch from the dataset's
    # counter: a restore sets that counter from the state, so the epochs after the restored
    # one are the saved run's, not shifted by the iterators made before in this process.
    def make():
        ds = Dataset.range(6)
        ds = ds.shuffle(6, seed=2) if shuffle == "buffered" else ds.shuffle(seed=2)
        return ds.repeat(4)
    ds = make()
    it = iter(ds)
    head = [int(next(it)) for _ in range(8)]
    state = it.save()
    rest = [int(x) for x in it]
    for _ in range(2):  # the same Dataset object, already iterated (and again after a restore)
        again = iter(ds)
        again.restore(state)
        assert [int(x) for x in again] == rest
    fresh = iter(make())
    fresh.restore(state)
    assert [int(x) for x in fresh] == rest
    assert sorted(head + rest) == sorted(list(range(6)) * 4)
