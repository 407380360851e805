"""Module-level pipeline factories: importable by name, so that inputpipe.testing can rebuild
them in a fresh Python process and restore a state there (assert_exact_resume(...,
fresh_process=True)). Functions used inside are module-level too: their fingerprint name
("pipelines.square") is the same in every process."""

import numpy as np

import inputpipe

Dataset = inputpipe.Dataset


def square(x):
    return x * x


def is_even(x):
    return x % 2 == 0


def as_range(x):
    return Dataset.range(x)


def first_of_window(w):
    return w.batch(3)


def long_chain():
    """range -> map -> filter -> batch -> repeat -> take."""
    return Dataset.range(50).map(square).filter(is_even).batch(4).repeat(3).take(15)


def window_flat_map():
    return Dataset.range(40).window(3, shift=2, stride=1).flat_map(first_of_window)


def strings_and_dicts():
    words = np.array(["alpha", "beta", "gamma", "delta", "epsilon"] * 5)
    return (Dataset.zip({"word": Dataset.from_tensor_slices(words),
                         "id": Dataset.range(25)})
            .padded_batch(3, padded_shapes={"word": [], "id": []})
            .unbatch()
            .enumerate(start=100))


def nested_flat_map():
    return Dataset.range(1, 12).flat_map(as_range).shard(3, 1).skip(2)


def shuffled_prefetched():
    return (Dataset.range(200).shuffle(seed=11).map(square, num_parallel_calls=4)
            .batch(8).prefetch(3))


def buffered_shuffle_repeat():
    return Dataset.range(60).filter(is_even).shuffle(16, seed=5).repeat(2)
