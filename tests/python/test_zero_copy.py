"""Zero-copy numpy out: an element whose buffer the engine holds nowhere else is handed to
Python as a numpy array viewing that buffer (its base a capsule that keeps it alive); a buffer
the pipeline still holds (a from_tensors constant) is copied, so writes never reach the data."""

import gc

import numpy as np

import inputpipe


def _is_view(array):
    return not array.flags.owndata and type(array.base).__name__ == "PyCapsule"


def test_a_fresh_buffer_is_viewed_not_copied():
    big = np.arange(1 << 20, dtype=np.float64)  # 8 MB
    ds = inputpipe.Dataset.from_tensors(big).repeat(3).map(lambda x: x + 1)
    it = iter(ds)
    a = next(it)
    assert _is_view(a) and a.flags.writeable and a.flags.c_contiguous
    assert a[5] == 6.0
    a[0] = -1.0  # the array is the user's: writing to it is allowed and changes nothing else
    b = next(it)
    assert _is_view(b) and b[0] == 1.0 and not np.shares_memory(a, b)
    # The buffer outlives the iterator and the dataset.
    del it, ds, b
    gc.collect()
    assert a[0] == -1.0 and a[-1] == float(1 << 20)
    # Batches and random access (the binding's get) too; the parts of a ragged value as well.
    batch = next(iter(inputpipe.Dataset.range(100).batch(50)))
    assert _is_view(batch) and batch.tolist() == list(range(50))
    assert _is_view(inputpipe.Dataset.range(100).batch(50)._handle.get(1))
    r = next(iter(inputpipe.Dataset.range(1, 9).map(lambda x: np.arange(x)).ragged_batch(8)))
    assert _is_view(r.values) and np.shares_memory(r[2], r.values)


def test_a_buffer_the_pipeline_keeps_is_copied():
    big = np.arange(1 << 16, dtype=np.int64)
    ds = inputpipe.Dataset.from_tensors(big).repeat(2)
    first, second = list(ds)
    assert first.flags.owndata and first.flags.writeable and not _is_view(first)
    first[0] = 99  # a copy: the dataset's constant is unchanged
    assert second[0] == 0 and next(iter(ds))[0] == 0
    # A dict element served from a cache shares its node with the cache: copied too.
    cached = inputpipe.Dataset.range(3).map(lambda x: {"x": np.full(100, x)}).cache()
    cached_list = list(cached)
    again = list(cached)
    cached_list[0]["x"][0] = 7
    assert again[0]["x"][0] == 0 and list(cached)[0]["x"][0] == 0


def test_reduce_and_get_single_element_hand_over_too():
    total = inputpipe.Dataset.range(4).map(lambda x: np.full(1 << 12, x)).reduce(
        np.zeros(1 << 12, dtype=np.int64), lambda s, x: s + x)
    assert _is_view(total) and total[0] == 6 and total.flags.writeable
    single = inputpipe.Dataset.range(1).map(lambda x: np.arange(1 << 12)).get_single_element()
    assert _is_view(single) and single[-1] == (1 << 12) - 1
    # A buffer the pipeline keeps (a from_tensors constant) is still a copy.
    const = np.arange(1 << 12)
    kept = inputpipe.Dataset.from_tensors(const)
    first = kept.get_single_element()
    assert not _is_view(first) and first.flags.owndata
    first[0] = 99
    assert kept.get_single_element()[0] == 0
