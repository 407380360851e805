"""Saved states from Python: bytes, inspect_state, the `inputpipe inspect` command line,
pipeline mismatches, corrupt bytes, and the external-state policies."""

import json
import os
import resource
import subprocess
import sys
import warnings

import numpy as np
import pytest

import inputpipe
from inputpipe import Dataset


def _pipeline():
    return Dataset.range(100).map(lambda x: x * 2).batch(4)


def _saved(ds, steps=3):
    it = iter(ds)
    for _ in range(steps):
        next(it)
    return it.save()


def test_save_returns_bytes_and_restore_continues():
    ds = _pipeline()
    it = iter(ds)
    first = [next(it) for _ in range(3)]
    state = it.save()
    assert isinstance(state, bytes)
    resumed = iter(_pipeline())
    resumed.restore(state)
    assert np.array_equal(next(resumed), next(it))
    assert np.array_equal(first[0], [0, 2, 4, 6])


def _slow(x):
    """x, after 2 ms of work: a next() long enough that the iterator, once saved, encodes its
    state at the end of each next() (Iterator::EncodeAhead)."""
    import time  # noqa: PLC0415

    end = time.perf_counter() + 0.002
    while time.perf_counter() < end:
        pass
    return x


def test_saves_after_slow_elements_are_the_position_of_the_last_one_taken():
    ds = Dataset.range(12).map(_slow).batch(2)
    it = iter(ds)
    next(it)
    it.save()  # from here on, each slow next() encodes its state ahead
    states = []
    for _ in range(3):
        next(it)
        states.append(it.save())
        assert it.save() == states[-1]
    assert len(set(states)) == 3  # each next() dropped the previous bytes
    for k, state in enumerate(states):
        resumed = iter(ds)
        resumed.restore(state)
        assert next(resumed).tolist() == [2 * (k + 2), 2 * (k + 2) + 1]
        assert resumed.save() != state


def test_inspect_state_is_json_with_pipeline_and_positions():
    state = _saved(_pipeline())
    doc = json.loads(inputpipe.inspect_state(state))
    assert doc["version"] >= 1
    assert doc["pipeline"][0].startswith("batch(batch_size=4")
    assert any(p.strip().startswith("map(fn=test_state.") for p in doc["pipeline"])
    assert doc["state"]["op"] == "batch"
    # The position, never the data: range's counter sits at 12 after 3 batches of 4.
    assert doc["state"]["input"]["input"]["next"] == 12


def test_state_size_does_not_grow_with_the_data():
    small = _saved(Dataset.from_tensor_slices(np.zeros((10, 4))).batch(2), steps=2)
    big = _saved(Dataset.from_tensor_slices(np.zeros((10, 100_000))).batch(2), steps=2)
    assert len(big) == len(small) < 1024


def test_restore_into_another_pipeline_names_the_difference():
    state = _saved(_pipeline())
    other = iter(Dataset.range(100).map(lambda x: x * 2).batch(5))
    with pytest.raises(inputpipe.PipelineMismatchError, match="batch_size=5") as info:
        other.restore(state)
    assert isinstance(info.value, ValueError)


def test_corrupt_and_truncated_states_are_data_loss():
    state = _saved(_pipeline())
    for bad in (state[:-1], state[: len(state) // 2], b"", b"not a state at all",
                state[:20] + bytes([state[20] ^ 0xFF]) + state[21:]):
        with pytest.raises(inputpipe.DataLossError):
            iter(_pipeline()).restore(bad)
    assert issubclass(inputpipe.DataLossError, ValueError)
    with pytest.raises(inputpipe.DataLossError):
        inputpipe.inspect_state(state[:-4])


def test_every_single_bit_flip_is_caught():
    state = _saved(Dataset.range(50).batch(3))
    for i in range(len(state)):
        flipped = state[:i] + bytes([state[i] ^ 0x01]) + state[i + 1:]
        with pytest.raises((inputpipe.DataLossError, inputpipe.PipelineMismatchError)):
            iter(Dataset.range(50).batch(3)).restore(flipped)


def test_restore_needs_a_fresh_iterator():
    state = _saved(_pipeline())
    it = iter(_pipeline())
    next(it)
    with pytest.raises(RuntimeError):
        it.restore(state)


def test_restore_rejects_non_bytes():
    with pytest.raises(TypeError):
        iter(_pipeline()).restore("a string")


# ---- External state ------------------------------------------------------------------------

def _stateful():
    return Dataset.range(10).map(lambda x: x + 1, stateful=True).batch(2)


def test_fail_policy_is_the_default_and_names_the_op():
    it = iter(_stateful())
    next(it)
    with pytest.raises(inputpipe.ExternalStateError, match="map") as info:
        it.save()
    assert isinstance(info.value, RuntimeError)
    with pytest.raises(inputpipe.ExternalStateError, match="map"):
        it.save(external_state_policy="fail")


def test_warn_policy_saves_and_warns_naming_the_op():
    it = iter(_stateful())
    next(it)
    with pytest.warns(inputpipe.ExternalStateWarning, match="map") as record:
        state = it.save(external_state_policy="warn")
    assert issubclass(record[0].category, UserWarning)
    resumed = iter(_stateful())
    resumed.restore(state)
    assert next(resumed).tolist() == [3, 4]


def test_ignore_policy_is_silent():
    it = iter(_stateful())
    next(it)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        state = it.save(external_state_policy="ignore")
    assert isinstance(state, bytes)


def test_warnings_as_errors_raise():
    it = iter(_stateful())
    with warnings.catch_warnings():
        warnings.simplefilter("error", inputpipe.ExternalStateWarning)
        with pytest.raises(inputpipe.ExternalStateWarning):
            it.save(external_state_policy="warn")


def test_invalid_policy_lists_the_three():
    it = iter(_pipeline())
    with pytest.raises(ValueError) as info:
        it.save(external_state_policy="sometimes")
    for name in ("'ignore'", "'warn'", "'fail'"):
        assert name in str(info.value)


def test_pure_callables_are_not_external_state():
    it = iter(Dataset.range(10).map(lambda x: x).filter(lambda x: x > 2).flat_map(
        lambda x: Dataset.range(x)))
    next(it)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        it.save()  # 'fail' would raise if any op reported external state


# ---- Command line --------------------------------------------------------------------------

def _write_state(path):
    state = _saved(_pipeline())
    path.write_bytes(state)
    return state


# The console script installed next to this interpreter (the venv's bin/, on PATH or not).
SCRIPT = os.path.join(os.path.dirname(sys.executable), "inputpipe")


@pytest.mark.parametrize("command", [[SCRIPT], [sys.executable, "-m", "inputpipe"]])
def test_cli_inspect_prints_the_json(command, tmp_state_file):
    state = _write_state(tmp_state_file)
    result = subprocess.run(command + ["inspect", str(tmp_state_file)],
                            capture_output=True, text=True, check=True)
    assert json.loads(result.stdout) == json.loads(inputpipe.inspect_state(state))


def test_cli_inspect_corrupt_file_fails_cleanly(tmp_state_file):
    tmp_state_file.write_bytes(_write_state(tmp_state_file)[:-2])
    result = subprocess.run([sys.executable, "-m", "inputpipe", "inspect", str(tmp_state_file)],
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert "inputpipe inspect:" in result.stderr and "Traceback" not in result.stderr


def test_cli_inspect_missing_file(tmp_path):
    result = subprocess.run([sys.executable, "-m", "inputpipe", "inspect",
                             str(tmp_path / "nope")], capture_output=True, text=True)
    assert result.returncode == 1 and "No such file" in result.stderr


def test_cli_usage_errors():
    result = subprocess.run([sys.executable, "-m", "inputpipe"], capture_output=True, text=True)
    assert result.returncode == 2 and "inspect" in result.stderr


def test_cli_inspect_hook_checkpoint_file(tmp_path):
    it = iter(_pipeline())
    hook = inputpipe.CheckpointInputPipelineHook({"train": it}, tmp_path, save_steps=5)
    hook.begin()
    for step in range(1, 8):
        next(it)
        hook.after_step(step)
    hook.end()
    path = tmp_path / "input.ckpt-7"
    result = subprocess.run([sys.executable, "-m", "inputpipe", "inspect", str(path)],
                            capture_output=True, text=True, check=True)
    doc = json.loads(result.stdout)
    assert doc["step"] == 7 and list(doc["iterators"]) == ["train"]
    train = doc["iterators"]["train"]
    assert train["pipeline"][0].startswith("batch(batch_size=4")
    assert train["state"]["input"]["input"]["next"] == 28  # 7 batches of 4
    corrupt = tmp_path / "corrupt"
    corrupt.write_bytes(path.read_bytes()[:-1])
    result = subprocess.run([sys.executable, "-m", "inputpipe", "inspect", str(corrupt)],
                            capture_output=True, text=True)
    assert result.returncode == 1 and str(corrupt) in result.stderr


def test_different_lambdas_are_different_pipelines():
    # Every lambda is "<lambda>": without a digest of its code, a state saved by one would
    # restore silently into a pipeline using another.
    it = iter(inputpipe.Dataset.range(10).map(lambda x: x + 1))
    next(it)
    state = it.save()
    same = iter(inputpipe.Dataset.range(10).map(lambda x: x + 1))
    same.restore(state)
    assert next(same) == 2
    other = iter(inputpipe.Dataset.range(10).map(lambda x: x * 2))
    with pytest.raises(inputpipe.PipelineMismatchError, match="lambda"):
        other.restore(state)


def _pipeline_with(fn):
    return inputpipe.Dataset.range(10).map(fn)


def _saved_after_one(fn):
    it = iter(_pipeline_with(fn))
    next(it)
    return it.save()


def test_lambdas_closing_over_different_values_are_different_pipelines():
    # The same code with another captured value (closure or default) is another pipeline.
    def adder(k):
        return lambda x: x + k

    state = _saved_after_one(adder(1))
    same = iter(_pipeline_with(adder(1)))
    same.restore(state)
    assert next(same) == 2
    with pytest.raises(inputpipe.PipelineMismatchError, match="lambda"):
        iter(_pipeline_with(adder(2))).restore(state)

    by_default = [lambda x, k=k: x + k for k in (1, 2)]
    state = _saved_after_one(by_default[0])
    with pytest.raises(inputpipe.PipelineMismatchError, match="lambda"):
        iter(_pipeline_with(by_default[1])).restore(state)

    table = np.array([1.0, 2.0])
    state = _saved_after_one(lambda x: table[x % 2])
    changed = np.array([1.0, 3.0])
    with pytest.raises(inputpipe.PipelineMismatchError, match="lambda"):
        iter(_pipeline_with(lambda x: changed[x % 2])).restore(state)


def test_partials_with_different_arguments_are_different_pipelines():
    import functools

    def add(x, k):
        return x + k

    state = _saved_after_one(functools.partial(add, k=1))
    same = iter(_pipeline_with(functools.partial(add, k=1)))
    same.restore(state)
    assert next(same) == 2
    with pytest.raises(inputpipe.PipelineMismatchError, match=r"partial\(.*add\)"):
        iter(_pipeline_with(functools.partial(add, k=2))).restore(state)


def test_callable_names_are_stable_across_processes():
    # Values whose repr holds a memory address enter by type only, so a restarted process
    # gives the same names.
    import subprocess
    import sys
    code = ("import functools, inputpipe._fingerprint as f\n"
            "class Model: pass\n"
            "m = Model()\n"
            "fns = [lambda x: (x, m), lambda x, k=3: x + k, functools.partial(print, sep=m)]\n"
            "print([f.callable_name(fn) for fn in fns])\n")
    runs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True).stdout for _ in range(2)}
    assert len(runs) == 1 and "<lambda>#" in runs.pop()


def test_cli_inspect_reads_a_hook_directory_and_its_index(tmp_path):
    ckpt = tmp_path / "ckpt"
    it = iter(Dataset.range(20).batch(2))
    hook = inputpipe.CheckpointInputPipelineHook(it, str(ckpt), save_steps=2, max_to_keep=3)
    hook.begin()
    for step in range(1, 7):
        next(it)
        hook.after_step(step)
    hook.flush()
    # A corrupt checkpoint is listed with its reason; the others still decode.
    (ckpt / "input.ckpt-2").write_bytes(b"IPCK garbage")
    for target in (ckpt, ckpt / "checkpoint_input"):
        result = subprocess.run([sys.executable, "-m", "inputpipe", "inspect", str(target)],
                                capture_output=True, text=True, check=True)
        doc = json.loads(result.stdout)
        assert doc["latest"].endswith("input.ckpt-6")
        files = {os.path.basename(c["checkpoint"]): c for c in doc["checkpoints"]}
        assert sorted(files) == ["input.ckpt-2", "input.ckpt-4", "input.ckpt-6"]
        assert "error" in files["input.ckpt-2"]
        assert files["input.ckpt-6"]["step"] == 6
        state = files["input.ckpt-6"]["iterators"]
        assert len(state) == 1 and next(iter(state.values()))["state"]["op"] == "batch"


def _cli_inspect(target):
    return subprocess.run([sys.executable, "-m", "inputpipe", "inspect", str(target)],
                          capture_output=True, text=True)


def test_cli_inspect_errors_name_the_file_and_the_iterator(tmp_path):
    from test_restore_rejected import _masked_crc32c
    # A state's own errors do not know its file: the command names it.
    state = tmp_path / "state.bin"
    state.write_bytes(_saved(_pipeline())[:-2])
    result = _cli_inspect(state)
    assert result.returncode == 1 and str(state) in result.stderr, result.stderr
    # A hook checkpoint file whose checksum holds, with a state inside that does not decode:
    # the file and the iterator are named (step 1, iterator "train", state "IPST" alone).
    body = bytes([2, 1, 5]) + b"train" + bytes([4]) + b"IPST"
    ckpt = tmp_path / "input.ckpt-1"
    ckpt.write_bytes(b"IPCK" + bytes([1, len(body)]) + body +
                     _masked_crc32c(body).to_bytes(4, "little"))
    result = _cli_inspect(ckpt)
    assert result.returncode == 1, result.stderr
    assert str(ckpt) in result.stderr and "iterator 'train'" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    # A foreign file is refused by its first bytes, without reading it whole (/dev/zero was
    # read until memory ran out).
    def cap_memory():  # a regression fails fast (MemoryError) instead of filling the machine
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
    result = subprocess.run([sys.executable, "-m", "inputpipe", "inspect", "/dev/zero"],
                            capture_output=True, text=True, timeout=60, preexec_fn=cap_memory)
    assert result.returncode == 1 and "/dev/zero: neither an inputpipe state" in result.stderr
    # An index name that names no file is an error, not an empty listing.
    result = _cli_inspect(tmp_path / "checkpoint_nothing")
    assert result.returncode == 1 and "No such file" in result.stderr


def test_cli_inspect_lists_a_directory_whose_index_is_torn(tmp_path):
    it = iter(Dataset.range(6))
    with inputpipe.CheckpointInputPipelineHook(it, str(tmp_path), save_steps=1) as hook:
        next(it)
        hook.after_step(1)
    index = tmp_path / "checkpoint_input"
    index.write_bytes(index.read_bytes()[:20])  # a partial write of the index
    result = _cli_inspect(tmp_path)
    assert result.returncode == 0, result.stderr  # was: the whole listing refused
    doc = json.loads(result.stdout)
    assert doc["latest"] is None and str(index) in doc["latest_error"]
    assert [c["step"] for c in doc["checkpoints"]] == [0, 1]
