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
    # object was "got string"; the message says what was given and what is accepted.
    with pytest.raises(ValueError, match=r"range: output_type must be an integer dtype, float32 "
                                         r"or float64; got object \(strings\)"):
        Dataset.range(3, output_type=object)
    with pytest.raises(TypeError, match=r"counter: dtype: expected a dtype .*'i4'.*; got 5"):
        Dataset.counter(dtype=5)


# Every spelling numpy accepts for a supported dtype (np.dtype(x)) is that dtype: the names,
# the type codes ("i4", "<f8"), the scalar types and dtype objects, for range, counter, the
# parsing features and from_generator's output types alike.
@pytest.mark.parametrize("spelling,dtype", [
    ("int32", np.int32), ("i4", np.int32), ("<i4", np.int32), (np.dtype("int32"), np.int32),
    ("<f8", np.float64), ("f8", np.float64), ("float64", np.float64), ("u2", np.uint16),
    (np.int16, np.int16),
])
def test_every_numpy_spelling_of_a_dtype_is_accepted(spelling, dtype):
    assert np.asarray(next(iter(Dataset.range(3, output_type=spelling)))).dtype == dtype
    assert np.asarray(next(iter(Dataset.counter(dtype=spelling)))).dtype == dtype
    if dtype in (np.int32, np.float64):
        assert inputpipe.FixedLenFeature([], spelling).dtype == np.dtype(dtype).name

    def gen():
        yield 1

    element = next(iter(Dataset.from_generator(gen, output_types=spelling)))
    assert np.asarray(element).dtype == dtype


def test_feature_dtype_refused_names_the_feature():
    with pytest.raises(ValueError, match=r"FixedLenFeature: unsupported dtype 'float16' "
                                         r"\(supported: .*any spelling numpy accepts"):
        inputpipe.FixedLenFeature([], "float16")


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


# An argument nanobind cannot convert (an int outside int64, None or a str for bytes) was its
# "incompatible function arguments" dump of signatures; every binding now names the function,
# the argument and what it accepts (inputpipe/_arguments.py).
def test_unconvertible_arguments_name_the_function_and_the_argument(tmp_path):
    it = iter(Dataset.range(3))
    for bad, shown in ((None, "None"), ("abc", "str 'abc'"), (5, "int 5")):
        with pytest.raises(TypeError, match=rf"^Iterator.restore: state must be bytes \(what "
                                            rf"Iterator.save\(\) returned\); got {shown}$"):
            it.restore(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^Iterator.save: external_state_policy must be a str"):
        it.save(external_state_policy=5)  # type: ignore[arg-type]
    hook = CheckpointInputPipelineHook(it, tmp_path, save_steps=1)
    int64 = r"must fit in int64 \(-2\*\*63 to 2\*\*63 - 1\); got 9223372036854775808$"
    with pytest.raises(ValueError, match=r"^CheckpointInputPipelineHook.after_step: global_step "
                                         + int64):
        hook.after_step(2**63)
    with pytest.raises(ValueError, match=r"^CheckpointInputPipelineHook: save_steps " + int64):
        CheckpointInputPipelineHook(iter(Dataset.range(3)), tmp_path / "b", save_steps=2**63)
    with pytest.raises(ValueError, match=r"^batch: batch_size " + int64):
        Dataset.range(3).batch(2**63)
    with pytest.raises(ValueError, match=r"^shuffle: seed " + int64):
        Dataset.range(3).shuffle(3, seed=2**63)
    with pytest.raises(ValueError, match=r"^rebatch: batch_sizes\[1\] " + int64):
        Dataset.range(3).batch(1).rebatch([1, 2**63])
    with pytest.raises(TypeError, match=r"^inspect_state: state must be bytes"):
        inputpipe.inspect_state(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^CheckpointInputPipelineHook.save: global_step must "
                                        r"be an int; got NoneType None$"):
        hook.save(None)  # type: ignore[arg-type]
    # A call that converts is unchanged.
    assert int(next(iter(Dataset.range(2**62, 2**62 + 1)))) == 2**62


# Found as a hostile user: errors that named neither the op nor the argument.
def test_bad_values_name_the_op_and_the_argument():
    with pytest.raises(TypeError, match=r"^range: stop must be an integer; got float 2.5$"):
        Dataset.range(2.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^range: stop must be an integer; got NoneType None$"):
        Dataset.range(None)  # type: ignore[arg-type]
    # numpy's "setting an array element with a sequence" alone named no op.
    with pytest.raises(ValueError, match=r"^from_tensor_slices: cannot make a tensor of this list "
                                         r"\(numpy: .*inhomogeneous.*pad them"):
        Dataset.from_tensor_slices([[1, 2], [3]])
    # skip(-1) of an infinite dataset: its first next() never returned.
    with pytest.raises(ValueError, match=r"skip: count=-1 skips every element of an infinite "
                                         r"input \(counter.*never yield"):
        Dataset.counter().skip(-1)
