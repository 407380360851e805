"""What a pipeline's identity holds, from Python: the thread count of map and interleave and the
prefetch buffer size are not identity (a state saved with num_parallel_calls=4 restores with 1,
with AUTOTUNE and into a sequential map, continuing bit-identically, in this process and in a
fresh one); allow_changes restores past a changed function with one warning listing the
difference, and still refuses another op structure; the hook's allow_changes option."""
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import inputpipe
from inputpipe import AUTOTUNE, CheckpointInputPipelineHook, Dataset


def decode(x):
    return x * 7 + 1


def decode_fixed(x):
    return x * 7 + 2


def pipeline(num_parallel_calls=None, fn=decode, prefetch=2):
    ds = Dataset.range(200).shuffle(seed=5).map(fn, num_parallel_calls=num_parallel_calls)
    return ds.batch(4).prefetch(prefetch)


def take(it, n):
    return [np.asarray(next(it)).tolist() for _ in range(n)]


def saved_after(ds, n):
    it = iter(ds)
    take(it, n)
    state = it.save()
    return state, take(it, 10)


@pytest.mark.parametrize("restore_with", [1, AUTOTUNE, None, 8])
def test_thread_count_is_not_identity(restore_with):
    state, expected = saved_after(pipeline(num_parallel_calls=4), 7)
    it = iter(pipeline(num_parallel_calls=restore_with, prefetch=5))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning: nothing differs
        it.restore(state)
    assert take(it, 10) == expected


def test_a_sequential_map_state_restores_into_a_parallel_one():
    state, expected = saved_after(pipeline(), 3)
    for threads in (1, 4, AUTOTUNE):
        it = iter(pipeline(num_parallel_calls=threads))
        it.restore(state)
        assert take(it, 10) == expected


def test_parallel_interleave_and_interleave_share_states():
    def inner(x):
        return Dataset.range(int(x) % 4 + 1).map(lambda y: y + 10 * x)

    def make(threads):
        return Dataset.range(40).interleave(inner, cycle_length=3, block_length=2,
                                            num_parallel_calls=threads)

    for saved_with, restored_with in [(4, None), (None, 4), (2, AUTOTUNE)]:
        state, expected = saved_after(make(saved_with), 9)
        it = iter(make(restored_with))
        it.restore(state)
        assert take(it, 10) == expected


def test_nondeterministic_map_keeps_its_own_identity():
    state = iter(pipeline()).save()
    unordered = Dataset.range(200).shuffle(seed=5).map(decode, num_parallel_calls=2,
                                                       deterministic=False).batch(4).prefetch(2)
    with pytest.raises(inputpipe.PipelineMismatchError):
        iter(unordered).restore(state)
    with pytest.raises(inputpipe.PipelineMismatchError, match="structure"):
        iter(unordered).restore(state, allow_changes=True)


def test_allow_changes_restores_past_a_fixed_function_with_one_warning():
    it = iter(pipeline(fn=decode))
    take(it, 6)
    state = it.save()
    with pytest.raises(inputpipe.PipelineMismatchError, match="decode_fixed"):
        iter(pipeline(fn=decode_fixed)).restore(state)
    resumed = iter(pipeline(fn=decode_fixed))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        resumed.restore(state, allow_changes=True)
    assert len(caught) == 1, [str(w.message) for w in caught]
    message = str(caught[0].message)
    assert issubclass(caught[0].category, UserWarning)
    assert "allow_changes" in message and "differs in 1 op" in message
    assert ".decode)" in message and ".decode_fixed)" in message
    # The positions are restored: the same input elements, through the fixed function.
    original = take(it, 5)
    assert take(resumed, 5) == [[v + 1 for v in batch] for batch in original]


def test_allow_changes_still_refuses_another_structure():
    state = iter(pipeline()).save()
    other = Dataset.range(200).shuffle(seed=5).map(decode).filter(lambda x: True).batch(4)
    with pytest.raises(inputpipe.PipelineMismatchError, match="structure"):
        iter(other.prefetch(2)).restore(state, allow_changes=True)
    # prefetch is part of the structure: removing it is refused too.
    no_prefetch = Dataset.range(200).shuffle(seed=5).map(decode).batch(4)
    with pytest.raises(inputpipe.PipelineMismatchError):
        iter(no_prefetch).restore(state, allow_changes=True)


def test_allow_changes_leaves_an_invalid_state_to_the_op():
    it = iter(Dataset.range(100).filter(lambda x: True).shuffle(10, seed=1))
    for _ in range(5):
        next(it)
    state = it.save()
    changed = iter(Dataset.range(100).filter(lambda x: True).shuffle(20, seed=1))
    # Not "corrupt state": the op names the parameter, its saved value and what to do.
    with pytest.raises(inputpipe.PipelineMismatchError,
                       match=r"shuffle\(buffer_size=20.*saved with buffer_size=10, which "
                             r"allow_changes cannot restore past.*restore with buffer_size=10"):
        changed.restore(state, allow_changes=True)


def train(directory, fn, steps, **hook_args):
    it = iter(pipeline(fn=fn))
    seen = []
    with CheckpointInputPipelineHook(it, directory, save_steps=3, **hook_args) as hook:
        step = hook.restored_step or 0
        while step < steps:
            seen.append(np.asarray(next(it)).tolist())
            step += 1
            hook.after_step(step)
    return seen, hook.restored_step


def test_hook_allow_changes(tmp_path):
    first, _ = train(tmp_path, decode, 6)
    with pytest.raises(inputpipe.PipelineMismatchError):
        train(tmp_path, decode_fixed, 9)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rest, restored = train(tmp_path, decode_fixed, 9, allow_changes=True)
    assert restored == 6
    changes = [w for w in caught if "allow_changes" in str(w.message)]
    assert len(changes) == 1 and issubclass(changes[0].category, UserWarning)
    assert "decode_fixed" in str(changes[0].message)
    # The batches after step 6, through the fixed function.
    reference, _ = train(tmp_path / "fresh", decode, 9)
    assert reference[:6] == first
    assert rest == [[v + 1 for v in batch] for batch in reference[6:]]


SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import inputpipe
    from inputpipe import Dataset

    def decode(x):
        return x * 7 + 1

    mode, threads, path = sys.argv[1], sys.argv[2], sys.argv[3]
    threads = None if threads == "none" else int(threads)
    ds = Dataset.range(200).shuffle(seed=5).map(decode, num_parallel_calls=threads).batch(4)
    it = iter(ds.prefetch(2))
    if mode == "save":
        for _ in range(7):
            next(it)
        open(path, "wb").write(it.save())
    else:
        it.restore(open(path, "rb").read())
    print([np.asarray(next(it)).tolist() for _ in range(10)])
""")


def test_thread_count_changes_in_a_fresh_process(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    state = tmp_path / "state"

    def run(*args):
        out = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True,
                             timeout=120, env=dict(os.environ))
        assert out.returncode == 0, out.stderr
        return out.stdout

    expected = run("save", "4", str(state))
    for threads in ("1", str(AUTOTUNE), "none"):
        assert run("restore", threads, str(state)) == expected, threads
