"""Dataset.from_generator and the hook: a generator with get_state()/set_state() is checkpointed
exactly through them; a plain generator is external state, and the policy applies, naming the op."""

import warnings

import numpy as np
import pytest

import inputpipe
from inputpipe import CheckpointInputPipelineHook, TensorSpec

from counting import Counting

Dataset = inputpipe.Dataset


def plain():
    yield from range(50)


def values(it, n=None):
    out = []
    for v in it:
        out.append(int(v))
        if n is not None and len(out) == n:
            break
    return out


@pytest.mark.parametrize("as_bytes", [False, True])
def test_checkpointable_generator_resumes_exactly(as_bytes):
    ds = Dataset.from_generator(lambda: Counting(as_bytes=as_bytes),
                                output_signature=TensorSpec((), "int64"))
    it = iter(ds)
    assert values(it, 7) == list(range(7))
    state = it.save()
    resumed = iter(ds)
    resumed.restore(state)
    assert values(resumed) == list(range(7, 50))
    assert values(it) == list(range(7, 50))  # saving did not disturb the saved iterator


def test_generator_state_through_a_batch_and_the_hook(tmp_path):
    ds = Dataset.from_generator(Counting, output_signature=TensorSpec((), "int64")).batch(4)
    it = iter(ds)
    with CheckpointInputPipelineHook(it, tmp_path, save_steps=2) as hook:
        for step in range(1, 6):
            next(it)
            hook.after_step(step)
    it = iter(ds)
    hook = CheckpointInputPipelineHook(it, tmp_path, save_steps=2)
    assert hook.begin() == 5
    assert list(next(it)) == [20, 21, 22, 23]


def test_plain_generator_is_external_state_named_in_the_error(tmp_path):
    ds = Dataset.from_generator(plain)
    it = iter(ds)
    next(it)
    with pytest.raises(inputpipe.ExternalStateError, match=r"from_generator\(fn=test_hook_generator.plain\)"):
        it.save()
    hook = CheckpointInputPipelineHook(iter(ds), tmp_path, save_steps=1)
    with pytest.raises(inputpipe.ExternalStateError, match="from_generator"):
        hook.begin()


def test_plain_generator_under_warn_and_ignore(tmp_path):
    it = iter(Dataset.from_generator(plain))
    hook = CheckpointInputPipelineHook(it, tmp_path / "w", save_steps=1, external_state_policy="warn")
    with pytest.warns(inputpipe.ExternalStateWarning, match="from_generator"):
        hook.begin()
    hook.end()
    it = iter(Dataset.from_generator(plain))
    hook = CheckpointInputPipelineHook(it, tmp_path / "i", save_steps=1, external_state_policy="ignore")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hook.begin()
        next(it)
        hook.after_step(1)
    hook.end()


def test_output_signature_converts_and_checks():
    def pairs():
        yield (1, [1.5, 2.5])
        yield (2, [3.5])

    ds = Dataset.from_generator(pairs, output_signature=(TensorSpec((), np.int32),
                                                         TensorSpec((2,), "float32")))
    it = iter(ds)
    first = next(it)
    assert first[0].dtype == np.int32 and first[1].dtype == np.float32
    with pytest.raises(ValueError, match=r"element 1\[1\]: expected shape \(2,\), got \(1,\)"):
        next(it)
    with pytest.raises(TypeError, match="callable"):
        Dataset.from_generator(pairs())


def test_generator_exceptions_keep_their_type():
    def broken():
        yield 1
        raise KeyError("boom")

    it = iter(Dataset.from_generator(broken))
    next(it)
    with pytest.raises(KeyError, match="boom"):
        next(it)
