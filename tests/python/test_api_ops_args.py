"""tf.data's dtype arguments of the sources, range(output_type=) and counter(dtype=), and the
epoch / ended fields `inputpipe inspect` shows for a hook checkpoint."""

import json
import subprocess
import sys

import numpy as np
import pytest

import inputpipe
from inputpipe import CheckpointInputPipelineHook, Dataset, TensorSpec
from inputpipe.testing import assert_exact_resume


@pytest.mark.parametrize("output_type", ["int32", np.int32, np.dtype("int32")])
def test_range_output_type_takes_names_and_numpy_dtypes(output_type):
    ds = Dataset.range(1, 8, 3, output_type=output_type)
    values = list(ds)
    assert [int(v) for v in values] == [1, 4, 7]
    assert all(np.asarray(v).dtype == np.int32 for v in values)
    assert ds.element_spec == TensorSpec((), np.int32)


def test_range_output_type_float_and_default():
    assert [np.asarray(v).dtype for v in Dataset.range(2, output_type=np.float64)] == \
        [np.float64] * 2
    assert np.asarray(next(iter(Dataset.range(3)))).dtype == np.int64
    # The default and an explicit int64 are one pipeline (a state restores across them); a
    # different dtype changes the output, so it is another pipeline.
    it = iter(Dataset.range(5))
    next(it)
    same = iter(Dataset.range(5, output_type="int64"))
    same.restore(it.save())
    assert int(next(same)) == 1
    other = iter(Dataset.range(5, output_type="float32"))
    with pytest.raises(inputpipe.PipelineMismatchError):
        other.restore(it.save())


def test_range_output_type_refused_dtypes_name_the_argument():
    with pytest.raises(ValueError, match="range: output_type.*string"):
        Dataset.range(3, output_type=str)
    with pytest.raises(ValueError, match="range: output_type.*bool"):
        Dataset.range(3, output_type=np.bool_)
    with pytest.raises(ValueError, match="no_such_dtype"):
        Dataset.range(3, output_type="no_such_dtype")


def test_counter_dtype_and_exact_resume():
    ds = Dataset.counter(2, 5, dtype=np.uint16)
    it = iter(ds)
    first = [next(it) for _ in range(3)]
    assert [int(v) for v in first] == [2, 7, 12]
    assert np.asarray(first[0]).dtype == np.uint16
    assert ds.element_spec == TensorSpec((), np.uint16)
    assert_exact_resume(Dataset.counter(0, 3, dtype="float32").take(12))
    with pytest.raises(ValueError, match="counter: dtype"):
        Dataset.counter(dtype=np.complex64)


def test_range_and_counter_arguments_are_int64_integers_named_in_errors():
    # A step of 0 is about the step, not output_type (the message was prefixed with it).
    with pytest.raises(ValueError, match=r"^range: step must not be 0"):
        Dataset.range(0, 5, 0, output_type="int8")
    # Outside int64: a ValueError naming the argument, not nanobind's signature dump.
    with pytest.raises(ValueError, match="range: stop must fit in int64"):
        Dataset.range(2**63)
    with pytest.raises(ValueError, match="counter: start must fit in int64"):
        Dataset.counter(-2**63 - 1)
    # counter's values are int64 converted to dtype: a fractional step was truncated to 0,
    # a counter that never moved; an integral float is still taken.
    with pytest.raises(TypeError, match="counter: step must be an integer.*0.5"):
        Dataset.counter(0, 0.5, dtype="float32")  # type: ignore[arg-type]
    assert [int(v) for v in Dataset.counter(1.0, 2.0).take(3)] == [1, 3, 5]  # type: ignore
    # Near int64's limits the count is exact (it overflowed to -1, infinite, and never ended).
    assert Dataset.range(0, 2**63 - 1, 2**62).cardinality() == 2
    assert [int(v) for v in Dataset.range(-2**63, 2**63 - 1, 2**62)] == \
        list(range(-2**63, 2**63 - 1, 2**62))


def test_range_output_type_matches_tensorflow():
    tf = pytest.importorskip("tensorflow")
    ours = Dataset.range(0, 10, 3, output_type=tf.int32)
    theirs = tf.data.Dataset.range(0, 10, 3, output_type=tf.int32)
    assert [np.asarray(v).tolist() for v in ours] == [v.numpy().tolist() for v in theirs]
    assert np.asarray(next(iter(ours))).dtype == np.int32


def _inspect(path):
    result = subprocess.run([sys.executable, "-m", "inputpipe", "inspect", str(path)],
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def test_cli_inspect_shows_epoch_and_ended(tmp_path):
    # An epoch-aware hook saving mid-epoch, then after the end of the data.
    ckpt = tmp_path / "ckpt"
    it = iter(Dataset.range(6).batch(2))
    hook = CheckpointInputPipelineHook(it, str(ckpt), save_steps=1, epoch=3)
    hook.begin()
    next(it)
    hook.after_step(1)
    for _ in it:
        pass
    hook.after_step(2)
    hook.end()
    doc = _inspect(ckpt)
    files = {c["step"]: c for c in doc["checkpoints"]}
    assert files[1]["epoch"] == 3 and files[1]["ended"] == [] and not files[1]["at_end"]
    assert files[2]["epoch"] == 3 and len(files[2]["ended"]) == 1 and files[2]["at_end"]
    single = _inspect(files[2]["checkpoint"])
    assert single["epoch"] == 3 and single["at_end"]
    # A hook without epoch=: the field is null.
    plain = tmp_path / "plain"
    it = iter(Dataset.range(4))
    with CheckpointInputPipelineHook(it, str(plain), save_steps=1) as hook:
        next(it)
        hook.after_step(1)
    doc = _inspect(plain)
    assert all(c["epoch"] is None and c["ended"] == [] for c in doc["checkpoints"])
