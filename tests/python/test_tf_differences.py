"""The differences from TensorFlow's tf.data listed in docs/guide/porting_from_tf_data.md, one
class per row of its table.

`test_inputpipe` pins inputpipe's behaviour and always runs. `test_tensorflow` checks that
TensorFlow behaves as the page says; it runs only where TensorFlow is installed (bench/.venv
has tensorflow-cpu) and is skipped cleanly elsewhere (the test venv does not have it):

    PYTHONPATH=<pytest and this inputpipe> bench/.venv/bin/python -m pytest \
        tests/python/test_tf_differences.py
"""

import gzip
import os

import numpy as np
import pytest

import example_records
import inputpipe
from inputpipe import Dataset


@pytest.fixture(scope="module")
def tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return pytest.importorskip("tensorflow")


def _first(ds):
    return next(iter(ds))


# ---- Values ---------------------------------------------------------------------------------


class TestPythonNumbers:
    """A Python int is int64 and a float float64 (numpy's rules); TensorFlow makes them int32
    and float32. CsvDataset's record_defaults follow TensorFlow in both libraries."""

    def test_inputpipe(self, tmp_path):
        assert _first(Dataset.from_tensor_slices([1, 2, 3])).dtype == np.int64
        assert _first(Dataset.from_tensor_slices([1.0, 2.0])).dtype == np.float64
        assert _first(Dataset.from_tensors(1)).dtype == np.int64
        assert _first(Dataset.range(3).map(lambda x: 1.5)).dtype == np.float64
        path = tmp_path / "a.csv"
        path.write_text("1,2.5\n")
        row = _first(inputpipe.CsvDataset([str(path)], record_defaults=[0, 0.0]))
        assert (row[0].dtype, row[1].dtype) == (np.int32, np.float32)

    def test_tensorflow(self, tf, tmp_path):
        spec = tf.data.Dataset.from_tensor_slices([1, 2, 3]).element_spec
        assert spec.dtype == tf.int32
        assert tf.data.Dataset.from_tensor_slices([1.0, 2.0]).element_spec.dtype == tf.float32
        assert tf.data.Dataset.from_tensors(1).element_spec.dtype == tf.int32
        path = tmp_path / "a.csv"
        path.write_text("1,2.5\n")
        specs = tf.data.experimental.CsvDataset(str(path), [0, 0.0]).element_spec
        assert [s.dtype for s in specs] == [tf.int32, tf.float32]


class TestDictKeyOrder:
    """Dict elements come out with their keys sorted (tf.nest's flattening order); TensorFlow
    keeps the order the keys were given in."""

    def test_inputpipe(self):
        element = _first(Dataset.from_tensors({"b": 1, "a": 2}))
        assert list(element) == ["a", "b"]
        mapped = _first(Dataset.range(1).map(lambda x: {"z": x, "y": x}))
        assert list(mapped) == ["y", "z"]

    def test_tensorflow(self, tf):
        element = next(iter(tf.data.Dataset.from_tensors({"b": 1, "a": 2})))
        assert list(element) == ["b", "a"]


class TestListFromAFunction:
    """A list returned by a map function is one tensor (numpy.asarray); TensorFlow turns it
    into a tuple of components."""

    def test_inputpipe(self):
        element = _first(Dataset.range(3).map(lambda x: [x, x + 1]))
        assert isinstance(element, np.ndarray) and element.tolist() == [0, 1]

    def test_tensorflow(self, tf):
        spec = tf.data.Dataset.range(3).map(lambda x: [x, x + 1]).element_spec
        assert isinstance(spec, tuple) and len(spec) == 2


# ---- Functions ------------------------------------------------------------------------------


class TestFunctionsRunPerElement:
    """A map function is plain Python called once per element with numpy values (side effects
    happen per element); TensorFlow traces it once into a graph, with symbolic tensors."""

    def test_inputpipe(self):
        seen = []

        def double(x):
            seen.append(type(x))
            return x * 2

        assert [int(x) for x in Dataset.range(4).map(double)] == [0, 2, 4, 6]
        assert seen == [np.int64] * 4

    def test_tensorflow(self, tf):
        seen = []

        def double(x):
            seen.append(type(x))
            return x * 2

        assert [int(x) for x in tf.data.Dataset.range(4).map(double)] == [0, 2, 4, 6]
        assert len(seen) == 1 and not issubclass(seen[0], np.generic)


class TestFunctionErrorsKeepTheirType:
    """An exception raised by a function reaches next() with its own type; in TensorFlow, one
    raised inside tf.py_function arrives as tf.errors.UnknownError."""

    def test_inputpipe(self):
        with pytest.raises(KeyError):
            list(Dataset.range(3).map(lambda x: {}["missing"]))  # type: ignore[index]

    def test_tensorflow(self, tf):
        table: dict[str, int] = {}

        def lookup(x):
            return table["missing"]

        ds = tf.data.Dataset.range(3).map(lambda x: tf.py_function(lookup, [x], tf.int64))
        with pytest.raises(tf.errors.UnknownError):
            list(ds)


# ---- Ops ------------------------------------------------------------------------------------


class TestShuffleWithoutBuffer:
    """shuffle() without buffer_size is a global shuffle (a permutation of a random-access
    dataset, reshuffled each epoch, nothing buffered); TensorFlow requires buffer_size."""

    def test_inputpipe(self):
        ds = Dataset.range(100).shuffle(seed=3)
        epoch = [int(x) for x in ds]
        assert sorted(epoch) == list(range(100)) and epoch != list(range(100))
        two = [int(x) for x in Dataset.range(100).shuffle(seed=3).repeat(2)]
        assert two[:100] == epoch and sorted(two[100:]) == list(range(100))
        assert two[100:] != epoch  # reshuffle_each_iteration=True
        with pytest.raises(ValueError, match="random-access"):
            Dataset.range(10).filter(lambda x: x > 2).shuffle()

    def test_tensorflow(self, tf):
        with pytest.raises(TypeError, match="buffer_size"):
            tf.data.Dataset.range(100).shuffle()


class TestSeededOrder:
    """A seed gives inputpipe's own order, reproducible across versions and restores, not
    TensorFlow's order for the same seed."""

    INPUTPIPE = [3, 6, 0, 4, 1, 2, 9, 8, 7, 5]
    TENSORFLOW = [0, 9, 5, 1, 2, 7, 3, 8, 6, 4]

    def test_inputpipe(self):
        order = [int(x) for x in Dataset.range(10).shuffle(10, seed=1)]
        assert order == self.INPUTPIPE != self.TENSORFLOW

    def test_tensorflow(self, tf):
        order = [int(x) for x in tf.data.Dataset.range(10).shuffle(10, seed=1)]
        assert order == self.TENSORFLOW


class TestZipOfAList:
    """zip([a, b]) is zip((a, b)); TensorFlow refuses a list (TypeError)."""

    def test_inputpipe(self):
        element = _first(Dataset.zip([Dataset.range(2), Dataset.range(2)]))
        assert isinstance(element, tuple) and len(element) == 2

    def test_tensorflow(self, tf):
        with pytest.raises(TypeError, match="list"):
            tf.data.Dataset.zip([tf.data.Dataset.range(2), tf.data.Dataset.range(2)])


class TestGeneratorWithoutSignature:
    """from_generator's output_signature is optional; TensorFlow requires it (or
    output_types)."""

    def test_inputpipe(self):
        def numbers():
            yield from range(3)

        assert [int(x) for x in Dataset.from_generator(numbers)] == [0, 1, 2]

    def test_tensorflow(self, tf):
        def numbers():
            yield from range(3)

        with pytest.raises(TypeError, match="output_signature"):
            tf.data.Dataset.from_generator(numbers)


class TestPrefetchDefault:
    """prefetch() without buffer_size prefetches AUTOTUNE elements; TensorFlow requires
    buffer_size."""

    def test_inputpipe(self):
        assert [int(x) for x in Dataset.range(5).prefetch()] == list(range(5))

    def test_tensorflow(self, tf):
        with pytest.raises(TypeError, match="buffer_size"):
            tf.data.Dataset.range(5).prefetch()


class TestRaggedBatchOfUniformShapes:
    """ragged_batch makes every component of rank >= 1 ragged, also one whose elements all have
    one shape; TensorFlow batches a component of fully defined static shape densely."""

    def test_inputpipe(self):
        ds = Dataset.range(4).map(lambda x: np.full(2, x)).ragged_batch(2)
        first = _first(ds)
        assert isinstance(first, inputpipe.RaggedArray) and first.to_list() == [[0, 0], [1, 1]]
        assert isinstance(ds.element_spec, inputpipe.RaggedTensorSpec)

    def test_tensorflow(self, tf):
        ds = tf.data.Dataset.range(4).map(lambda x: tf.fill([2], x)).ragged_batch(2)
        first = _first(ds)
        assert isinstance(first, tf.Tensor) and first.numpy().tolist() == [[0, 0], [1, 1]]
        assert isinstance(ds.element_spec, tf.TensorSpec)


class TestRaggedFeaturePartitionsChecked:
    """RaggedFeature's partitions are always checked: row lengths that do not add up to the
    values are an error naming the feature and the partition; TensorFlow (validate=False, its
    default) parses them into a ragged tensor that silently drops the values left over. And
    its default row_splits_dtype is int32, inputpipe's int64."""

    RECORD = example_records.example({"v": [1, 2, 3], "lengths": [1, 1]})

    def test_inputpipe(self):
        f = inputpipe.RaggedFeature("int64", value_key="v",
                                    partitions=[inputpipe.RaggedFeature.RowLengths("lengths")])
        with pytest.raises(ValueError, match=r"RowLengths\('lengths'\): the rows cover \[0, 2\), "
                                             r"not the 3 values"):
            inputpipe.parse_example([self.RECORD], {"r": f})
        plain = inputpipe.parse_example([self.RECORD], {"r": inputpipe.RaggedFeature("int64",
                                                                                   value_key="v")})
        assert plain["r"].row_splits.dtype == np.int64

    def test_tensorflow(self, tf):
        f = tf.io.RaggedFeature(tf.int64, value_key="v",
                                partitions=[tf.io.RaggedFeature.RowLengths("lengths")])
        r = tf.io.parse_example(tf.constant([self.RECORD]), {"r": f})["r"]
        assert r.to_list() == [[[1], [2]]]  # the 3 is gone
        plain = tf.io.parse_example(tf.constant([self.RECORD]),
                                    {"r": tf.io.RaggedFeature(tf.int64, value_key="v")})
        assert plain["r"].row_splits.dtype == tf.int32


# ---- Files ----------------------------------------------------------------------------------


def _truncated_gzip(tmp_path):
    lines = b"".join(b"line %d\n" % i for i in range(2000))
    blob = gzip.compress(lines)
    path = tmp_path / "cut.txt.gz"
    path.write_bytes(blob[: len(blob) // 2])
    return str(path)


class TestTruncatedGzip:
    """A GZIP file cut short (an interrupted copy) is a DataLossError naming the file; TensorFlow
    yields the lines before the cut, the last one partial, and ends silently."""

    def test_inputpipe(self, tmp_path):
        path = _truncated_gzip(tmp_path)
        with pytest.raises(inputpipe.DataLossError, match="cut.txt.gz.*ends early"):
            list(inputpipe.TextLineDataset([path], compression_type="GZIP"))

    def test_tensorflow(self, tf, tmp_path):
        path = _truncated_gzip(tmp_path)
        lines = list(tf.data.TextLineDataset(path, compression_type="GZIP").as_numpy_iterator())
        assert 0 < len(lines) < 2000
        assert lines[-1] != b"line %d" % (len(lines) - 1)  # the cut line, partial


class TestErrorTypes:
    """Errors are Python's types (OSError for a missing file, ValueError for a pattern matching
    nothing); TensorFlow raises its own tf.errors.OpError subclasses."""

    def test_inputpipe(self, tmp_path):
        with pytest.raises(OSError, match="missing.txt"):
            list(inputpipe.TextLineDataset([str(tmp_path / "missing.txt")]))
        with pytest.raises(ValueError, match="no files matched"):
            Dataset.list_files(str(tmp_path / "nothing*"))

    def test_tensorflow(self, tf, tmp_path):
        with pytest.raises(tf.errors.NotFoundError):
            list(tf.data.TextLineDataset(str(tmp_path / "missing.txt")))
        with pytest.raises(tf.errors.InvalidArgumentError):
            tf.data.Dataset.list_files(str(tmp_path / "nothing*"))
        assert not issubclass(tf.errors.NotFoundError, OSError)


# ---- Checkpoints ----------------------------------------------------------------------------


class TestShuffleBufferCheckpoint:
    """A saved shuffle(10000) iterator is a few hundred bytes (positions, never the buffer);
    TensorFlow's checkpoint holds the buffered elements (megabytes here)."""

    def test_inputpipe(self):
        it = iter(Dataset.range(100_000).shuffle(10_000, seed=1))
        next(it)
        assert len(it.save()) < 1024

    def test_tensorflow(self, tf, tmp_path):
        it = iter(tf.data.Dataset.range(100_000).shuffle(10_000, seed=1))
        next(it)
        tf.train.Checkpoint(iterator=it).write(str(tmp_path / "ckpt"))
        size = sum(f.stat().st_size for f in tmp_path.iterdir())
        assert size > 10_000 * 8  # at least the buffer's int64s


class TestGeneratorCheckpoint:
    """A generator object with get_state() / set_state() is checkpointed exactly (a plain one is
    external state: ExternalStateError by default); TensorFlow cannot save an iterator over
    from_generator at all."""

    class Numbers:
        def __init__(self):
            self.i = 0

        def __iter__(self):
            return self

        def __next__(self):
            if self.i >= 10:
                raise StopIteration
            self.i += 1
            return self.i - 1

        def get_state(self):
            return {"i": self.i}

        def set_state(self, state):
            self.i = state["i"]

    def test_inputpipe(self):
        ds = Dataset.from_generator(self.Numbers)
        it = iter(ds)
        next(it), next(it)
        resumed = iter(ds)
        resumed.restore(it.save())
        assert [int(x) for x in resumed] == list(range(2, 10))

        def plain():
            yield from range(10)

        it = iter(Dataset.from_generator(plain))
        next(it)
        with pytest.raises(inputpipe.ExternalStateError):
            it.save()

    def test_tensorflow(self, tf, tmp_path):
        ds = tf.data.Dataset.from_generator(self.Numbers,
                                            output_signature=tf.TensorSpec((), tf.int64))
        it = iter(ds)
        next(it)
        with pytest.raises(tf.errors.FailedPreconditionError):
            tf.train.Checkpoint(iterator=it).write(str(tmp_path / "ckpt"))
