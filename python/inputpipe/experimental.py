"""inputpipe.experimental: the names tf.data.experimental has, as aliases of inputpipe's own.

    ds = inputpipe.experimental.Counter(start=1)
    ds = ds.apply(inputpipe.experimental.take_while(lambda x: x < 10))
    ds = ds.apply(inputpipe.experimental.scan(0, lambda s, x: (s + x, s + x)))

The transformations (take_while, scan, ignore_errors, unique, ...) return a function for
Dataset.apply, as tf.data.experimental's do; each is the Dataset method of the same name, with
its semantics and checkpoints.
"""

from inputpipe._core import AUTOTUNE, INFINITE_CARDINALITY, UNKNOWN_CARDINALITY
from inputpipe.dataset import Dataset
from inputpipe.readers import CsvDataset, TFRecordWriter

__all__ = [
    "AUTOTUNE",
    "INFINITE_CARDINALITY",
    "UNKNOWN_CARDINALITY",
    "Counter",
    "CsvDataset",
    "TFRecordWriter",
    "assert_cardinality",
    "bucket_by_sequence_length",
    "cardinality",
    "choose_from_datasets",
    "enumerate_dataset",
    "get_single_element",
    "group_by_window",
    "ignore_errors",
    "rebatch",
    "sample_from_datasets",
    "scan",
    "shuffle_and_repeat",
    "take_while",
    "unique",
]


def Counter(start=0, step=1, dtype=None, name=None):  # noqa: N802 (tf.data's name)
    """Dataset.counter(start, step, dtype): start, start + step, ... forever (int64 unless
    dtype says otherwise)."""
    return Dataset.counter(start, step, dtype=dtype, name=name)


def sample_from_datasets(datasets, weights=None, seed=None, stop_on_empty_dataset=False):
    return Dataset.sample_from_datasets(datasets, weights, seed, stop_on_empty_dataset)


def choose_from_datasets(datasets, choice_dataset, stop_on_empty_dataset=True):
    return Dataset.choose_from_datasets(datasets, choice_dataset, stop_on_empty_dataset)


def cardinality(dataset):
    """dataset.cardinality()."""
    return dataset.cardinality()


def get_single_element(dataset):
    """dataset.get_single_element()."""
    return dataset.get_single_element()


def assert_cardinality(expected_cardinality):
    """A transformation that checks, when applied, that the dataset's cardinality is known and
    equal to expected_cardinality (ValueError otherwise). tf.data checks while iterating, for
    datasets whose cardinality is unknown until then; here only a known cardinality is checked
    and an unknown one passes."""
    def apply(dataset):
        n = dataset.cardinality()
        if n != UNKNOWN_CARDINALITY and n != int(expected_cardinality):
            raise ValueError(f"assert_cardinality: the dataset has cardinality {n}, expected "
                             f"{int(expected_cardinality)}")
        return dataset
    return apply


def _method(name, *args, **kwargs):
    def apply(dataset):
        return getattr(dataset, name)(*args, **kwargs)
    apply.__name__ = apply.__qualname__ = name
    return apply


def take_while(predicate):
    return _method("take_while", predicate)


def scan(initial_state, scan_func):
    return _method("scan", initial_state, scan_func)


def ignore_errors(log_warning=False):
    return _method("ignore_errors", log_warning)


def unique():
    return _method("unique")


def enumerate_dataset(start=0):
    return _method("enumerate", start)


def rebatch(batch_size, drop_remainder=False):
    return _method("rebatch", batch_size, drop_remainder)


def group_by_window(key_func, reduce_func, window_size=None, window_size_func=None):
    return _method("group_by_window", key_func, reduce_func, window_size=window_size,
                   window_size_func=window_size_func)


def bucket_by_sequence_length(element_length_func, bucket_boundaries, bucket_batch_sizes,
                              **kwargs):
    return _method("bucket_by_sequence_length", element_length_func, bucket_boundaries,
                   bucket_batch_sizes, **kwargs)


def shuffle_and_repeat(buffer_size, count=None, seed=None):
    """shuffle(buffer_size, seed) then repeat(count), as tf.data's (a new order each epoch)."""
    def apply(dataset):
        return dataset.shuffle(buffer_size, seed=seed).repeat(count)
    return apply
