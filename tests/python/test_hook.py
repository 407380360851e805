"""CheckpointInputPipelineHook from Python: argument errors, file names and index, lifecycle
(explicit calls and the context manager), exact resumption, several iterators, retention,
fallback past a corrupt checkpoint, background-write failures, model-step matching, and a model
checkpoint manager writing in the same directory."""

import logging
import os
import re
import shutil
import time

import numpy as np
import pytest

import inputpipe
from inputpipe import CheckpointInputPipelineHook

Dataset = inputpipe.Dataset


def triple(x):
    return x * 3


def pipeline():
    return Dataset.range(1000).shuffle(seed=11).map(triple).batch(5).prefetch(2)


def batch_ids(batch):
    return [int(v) for v in batch]


def uninterrupted(n):
    it = iter(pipeline())
    return [batch_ids(next(it)) for _ in range(n)]


def train(directory, steps, **hook_args):
    """Trains up to `steps` steps from whatever the directory holds; returns the batches seen."""
    hook_args.setdefault("save_steps", 5)
    it = iter(pipeline())
    seen = []
    with CheckpointInputPipelineHook(it, directory, **hook_args) as hook:
        step = hook.restored_step or 0
        while step < steps:
            seen.append(batch_ids(next(it)))
            step += 1
            hook.after_step(step)
    return seen


def names(directory):
    return sorted(os.listdir(directory))


# ---- Arguments ------------------------------------------------------------------------------


def test_exactly_one_of_save_steps_and_save_secs(tmp_path):
    it = iter(pipeline())
    with pytest.raises(ValueError, match="got neither"):
        CheckpointInputPipelineHook(it, tmp_path)
    with pytest.raises(ValueError, match="got both"):
        CheckpointInputPipelineHook(it, tmp_path, save_steps=10, save_secs=5)
    with pytest.raises(ValueError, match="save_steps must be positive"):
        CheckpointInputPipelineHook(it, tmp_path, save_steps=0)
    with pytest.raises(ValueError, match="save_secs must be positive"):
        CheckpointInputPipelineHook(it, tmp_path, save_secs=-1.0)
    # A fractional count was truncated (2.5: every 2 steps) without a word.
    with pytest.raises(TypeError, match="save_steps must be an integer; got 2.5"):
        CheckpointInputPipelineHook(it, tmp_path, save_steps=2.5)
    with pytest.raises(TypeError, match="max_to_keep must be an integer"):
        CheckpointInputPipelineHook(it, tmp_path, save_steps=1, max_to_keep=1.5)
    CheckpointInputPipelineHook(it, tmp_path, save_steps=2.0)  # an integral float stays valid


def test_external_state_policy_values(tmp_path):
    it = iter(pipeline())
    for policy in (None, "ignore", "warn", "fail"):
        CheckpointInputPipelineHook(it, tmp_path, save_steps=1, external_state_policy=policy)
    with pytest.raises(ValueError, match="'ignore', 'warn', 'fail'") as info:
        CheckpointInputPipelineHook(it, tmp_path, save_steps=1, external_state_policy="skip")
    assert "'skip'" in str(info.value)


def test_other_argument_errors(tmp_path):
    it = iter(pipeline())
    with pytest.raises(TypeError, match=r"iter\(dataset\)"):
        CheckpointInputPipelineHook(pipeline(), tmp_path, save_steps=1)
    with pytest.raises(ValueError, match="max_to_keep"):
        CheckpointInputPipelineHook(it, tmp_path, save_steps=1, max_to_keep=0)
    with pytest.raises(ValueError, match="task_type and task_id"):
        CheckpointInputPipelineHook(it, tmp_path, save_steps=1, task_type="worker")
    with pytest.raises(ValueError, match="already given"):
        CheckpointInputPipelineHook({"a": it, "b": it}, tmp_path, save_steps=1)
    hook = CheckpointInputPipelineHook(it, tmp_path, save_steps=1)
    with pytest.raises(RuntimeError, match=r"before begin\(\) \(phase 'created'\)"):
        hook.after_step(1)


# ---- Files and lifecycle --------------------------------------------------------------------


def test_lifecycle_and_file_names(tmp_path):
    it = iter(pipeline())
    hook = CheckpointInputPipelineHook(it, tmp_path / "new" / "dir", save_steps=10)
    assert hook.begin() is None  # nothing to restore: the initial state is saved at step 0
    for step in range(1, 26):
        next(it)
        hook.after_step(step)
    hook.end()
    directory = tmp_path / "new" / "dir"
    assert names(directory) == ["checkpoint_input", "input.ckpt-0", "input.ckpt-10",
                                "input.ckpt-20", "input.ckpt-25"]
    assert [s for s, _ in hook.checkpoints()] == [0, 10, 20, 25]
    assert inputpipe.latest_input_checkpoint(directory) == str(directory / "input.ckpt-25")
    index = (directory / "checkpoint_input").read_text()
    assert "latest: input.ckpt-25\n" in index
    stats = hook.stats
    assert stats["saves_captured"] == stats["saves_committed"] == 4
    assert stats["saves_failed"] == 0
    assert 0 < stats["last_checkpoint_bytes"] < 1024  # a position, never the data
    assert stats["max_capture_seconds"] <= stats["total_capture_seconds"]
    assert hook.index_path == str(directory / "checkpoint_input")


def test_a_step_lower_than_one_seen_is_refused(tmp_path):
    it = iter(pipeline())
    hook = CheckpointInputPipelineHook(it, tmp_path, save_steps=2)
    hook.begin()
    hook.after_step(6)
    hook.after_step(6)  # the same step again: several batches per optimizer step
    with pytest.raises(ValueError, match="after_step: the global step went back from 6 to 2"):
        hook.after_step(2)
    hook.end()
    assert [s for s, _ in hook.checkpoints()] == [0, 6]


def test_multi_worker_names(tmp_path):
    it = iter(pipeline())
    hook = CheckpointInputPipelineHook(it, tmp_path, save_steps=2, task_type="worker", task_id=3)
    hook.begin()
    next(it)
    next(it)
    hook.after_step(2)
    hook.end()
    assert hook.prefix == "input_worker_3"
    assert names(tmp_path) == ["checkpoint_input_worker_3", "input_worker_3.ckpt-0",
                               "input_worker_3.ckpt-2"]


def test_restart_resumes_exactly(tmp_path):
    first = train(tmp_path, 23)           # saves at 0, 5, ..., 20 and at the end, 23
    rest = train(tmp_path, 60)            # resumes at 23
    assert len(first) == 23 and len(rest) == 37
    assert first + rest == uninterrupted(60)


def test_context_manager_does_not_save_after_an_exception(tmp_path):
    it = iter(pipeline())
    with pytest.raises(KeyError):
        with CheckpointInputPipelineHook(it, tmp_path, save_steps=10) as hook:
            for step in range(1, 8):
                next(it)
                hook.after_step(step)
            raise KeyError("training failed")
    assert [s for s, _ in hook.checkpoints()] == [0]


def test_several_iterators_saved_together(tmp_path):
    def run(steps):
        train_it = iter(pipeline())
        eval_it = iter(Dataset.range(10_000).batch(2))
        hook = CheckpointInputPipelineHook({"train": train_it, "extra": eval_it}, tmp_path,
                                           save_steps=3)
        start = hook.begin() or 0
        out = []
        for step in range(start + 1, steps + 1):
            out.append((batch_ids(next(train_it)), batch_ids(next(eval_it))))
            hook.after_step(step)
        hook.end()
        return start, out

    _, first = run(8)
    start, second = run(12)
    assert start == 8
    assert second[0][1] == [16, 17]
    assert [t for t, _ in first + second] == uninterrupted(12)
    with pytest.raises(inputpipe.PipelineMismatchError, match="'extra'"):
        CheckpointInputPipelineHook(iter(pipeline()), tmp_path, save_steps=3).begin()


def test_another_pipeline_is_a_mismatch(tmp_path):
    train(tmp_path, 10)
    other = iter(Dataset.range(1000).shuffle(seed=12).map(triple).batch(5).prefetch(2))
    with pytest.raises(inputpipe.PipelineMismatchError, match="seed"):
        CheckpointInputPipelineHook(other, tmp_path, save_steps=5).begin()


def test_allow_changes_refuses_a_seed_naming_it_instead_of_skipping_every_checkpoint(tmp_path):
    # It was the op's DataLossError ("corrupt state"), on which the hook skipped each checkpoint
    # in turn as corrupt and started afresh: an older checkpoint has the same seed.
    train(tmp_path, 10)
    other = iter(Dataset.range(1000).shuffle(seed=12).map(triple).batch(5).prefetch(2))
    hook = CheckpointInputPipelineHook(other, tmp_path, save_steps=5, allow_changes=True)
    path = os.path.join(tmp_path, "input.ckpt-10")
    with pytest.raises(inputpipe.PipelineMismatchError,
                       match=rf"^input checkpoint {re.escape(path)}, iterator 'iterator': "
                             r"global_shuffle\(seed=12\): the state was saved with seed=11, which "
                             r"allow_changes cannot restore past"):
        hook.begin()
    assert next(other) is not None  # still fresh


def test_mismatch_message_is_the_one_restore_gives(tmp_path):
    train(tmp_path, 10)
    other = lambda: Dataset.range(1000).shuffle(seed=12).map(triple).batch(5).prefetch(2)
    path = os.path.join(tmp_path, "input.ckpt-10")
    with open(path, "rb") as f:
        step, states, _, _ = inputpipe._core.decode_checkpoint_file(f.read(), path)
    assert step == 10 and [name for name, _ in states] == ["iterator"]
    with pytest.raises(inputpipe.PipelineMismatchError) as restore_error:
        iter(other()).restore(states[0][1])
    it = iter(other())
    hook = CheckpointInputPipelineHook(it, tmp_path, save_steps=5)
    with pytest.raises(inputpipe.PipelineMismatchError) as hook_error:
        hook.begin()
    assert str(hook_error.value) == (f"input checkpoint {path}, iterator 'iterator': "
                                     f"{restore_error.value}")
    assert next(it) is not None  # untouched: still fresh, and usable


def test_save_secs_uses_the_clock(tmp_path):
    now = [100.0]
    it = iter(pipeline())
    hook = CheckpointInputPipelineHook(it, tmp_path, save_secs=30, max_to_keep=None,
                                       _clock=lambda: now[0])
    hook.begin()
    for step in range(1, 11):
        next(it)
        now[0] += 7
        hook.after_step(step)
    hook.flush()
    assert [s for s, _ in hook.checkpoints()] == [0, 5, 10]


# ---- Retention, corruption, failures --------------------------------------------------------


def test_retention_is_rebuilt_from_the_directory(tmp_path):
    train(tmp_path, 6, save_steps=1, max_to_keep=None)
    assert len(os.listdir(tmp_path)) == 8  # 0..6 and the index
    it = iter(pipeline())
    hook = CheckpointInputPipelineHook(it, tmp_path, save_steps=1, max_to_keep=3)
    assert hook.begin() == 6
    next(it)
    hook.after_step(7)
    hook.flush()
    assert names(tmp_path) == ["checkpoint_input", "input.ckpt-5", "input.ckpt-6", "input.ckpt-7"]


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty"])
def test_corrupt_newest_falls_back_with_a_warning(tmp_path, damage):
    train(tmp_path, 20, save_steps=10)
    newest = tmp_path / "input.ckpt-20"
    data = bytearray(newest.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip":
        data[len(data) // 2] ^= 0x08
    else:
        data = bytearray()
    newest.write_bytes(bytes(data))
    it = iter(pipeline())
    hook = CheckpointInputPipelineHook(it, tmp_path, save_steps=10)
    with pytest.warns(RuntimeWarning, match=str(newest)):
        assert hook.begin() == 10
    assert batch_ids(next(it)) == uninterrupted(11)[10]


def test_no_valid_checkpoint_is_data_loss(tmp_path):
    (tmp_path / "input.ckpt-4").write_bytes(b"junk")
    hook = CheckpointInputPipelineHook(iter(pipeline()), tmp_path, save_steps=1)
    with pytest.warns(RuntimeWarning), pytest.raises(inputpipe.DataLossError):
        hook.begin()


def test_failed_background_write_is_raised(tmp_path):
    directory = tmp_path / "ckpt"
    it = iter(pipeline())
    hook = CheckpointInputPipelineHook(it, directory, save_steps=1)
    hook.begin()
    hook.flush()
    shutil.rmtree(directory)
    directory.write_text("a file where the directory was")  # every write now fails
    next(it)
    hook.after_step(1)
    with pytest.raises(OSError, match="step 1"):
        hook.end()
    assert hook.stats["saves_failed"] >= 1


def test_failed_background_write_is_raised_at_a_later_step(tmp_path):
    directory = tmp_path / "ckpt"
    it = iter(pipeline())
    hook = CheckpointInputPipelineHook(it, directory, save_steps=1)
    hook.begin()
    hook.flush()
    shutil.rmtree(directory)
    directory.write_text("not a directory")
    next(it)
    hook.after_step(1)
    deadline = time.monotonic() + 60  # a guard against hanging, not a timing assertion
    while hook.stats["saves_failed"] == 0:
        assert time.monotonic() < deadline, "the background write never failed"
        time.sleep(0.001)
    next(it)
    with pytest.raises(OSError, match="step 1"):
        hook.after_step(2)


# ---- Model checkpoints ----------------------------------------------------------------------


def test_restore_for_model_step(tmp_path):
    train(tmp_path, 30, save_steps=10, max_to_keep=None)  # 0, 10, 20, 30
    reference = uninterrupted(31)
    for model_step, expected in [(20, 20), (25, 20), (30, 30), (0, 0), (7, 0)]:
        it = iter(pipeline())
        hook = CheckpointInputPipelineHook(it, tmp_path, save_steps=10, max_to_keep=None)
        assert hook.restore_for_model_step(model_step) == expected
        assert hook.begin() == expected  # begin does not restore again
        assert batch_ids(next(it)) == reference[expected]


def test_model_manager_in_the_same_directory(tmp_path):
    """A model checkpoint manager writing `checkpoint` and model.ckpt-* beside the hook: neither
    touches the other's files, and the model's step picks the matching input checkpoint."""
    weights = np.zeros(3)
    it = iter(pipeline())
    hook = CheckpointInputPipelineHook(it, tmp_path, save_steps=4, max_to_keep=2)
    hook.begin()
    for step in range(1, 13):
        weights += np.mean(next(it))
        hook.after_step(step)
        if step % 4 == 0:
            np.save(tmp_path / f"model.ckpt-{step}.npy", weights)
            (tmp_path / "checkpoint").write_text(f'model_checkpoint_path: "model.ckpt-{step}"\n')
    hook.end()
    assert names(tmp_path) == ["checkpoint", "checkpoint_input", "input.ckpt-12", "input.ckpt-8",
                               "model.ckpt-12.npy", "model.ckpt-4.npy", "model.ckpt-8.npy"]
    # Restart: the model restores step 8 (say 12 was judged bad); the data follows it.
    it = iter(pipeline())
    hook = CheckpointInputPipelineHook(it, tmp_path, save_steps=4, max_to_keep=2)
    assert hook.restore_for_model_step(8) == 8
    assert batch_ids(next(it)) == uninterrupted(9)[8]


# ---- Saves faster than the disk -------------------------------------------------------------


def test_saves_faster_than_the_disk_are_bounded(tmp_path):
    """save_secs=1e-9: every step is due. A queued save that max_to_keep newer ones follow is
    dropped unwritten (retention would delete it at once): the queue never holds more than
    max_to_keep saves, end() writes a bounded number, and the newest save is always written."""
    it = iter(Dataset.range(10**6))
    ticks = iter(range(10**9))
    hook = CheckpointInputPipelineHook(it, tmp_path, save_secs=1e-9, max_to_keep=2,
                                       _clock=lambda: float(next(ticks)))
    hook.begin()
    for step in range(1, 3001):
        next(it)
        hook.after_step(step)
    next(it)
    hook.end(3001)  # asked for: written
    stats = hook.stats
    assert stats["saves_captured"] == 3002
    assert stats["max_queued_saves"] <= 2
    assert stats["saves_committed"] + stats["saves_dropped"] == 3002
    assert stats["saves_failed"] == 0
    assert stats["last_committed_step"] == 3001
    assert names(tmp_path) == ["checkpoint_input", "input.ckpt-3000", "input.ckpt-3001"]
    it = iter(Dataset.range(10**6))
    assert CheckpointInputPipelineHook(it, tmp_path, save_steps=1).begin() == 3001
    assert int(next(it)) == 3001


def test_saves_faster_than_the_disk_keeping_all_are_all_written(tmp_path):
    """max_to_keep=None: no save may be dropped; a capture waits (without the GIL) for room in
    a bounded queue, and every checkpoint is written."""
    it = iter(Dataset.range(1000))
    hook = CheckpointInputPipelineHook(it, tmp_path, save_steps=1, max_to_keep=None)
    hook.begin()
    for step in range(1, 201):
        next(it)
        hook.after_step(step)
    hook.end()
    stats = hook.stats
    assert stats["saves_captured"] == stats["saves_committed"] == 201
    assert stats["saves_dropped"] == 0
    assert 1 <= stats["max_queued_saves"] <= 16
    assert [s for s, _ in hook.checkpoints()] == list(range(201))


def test_logs_the_stats_summary_every_n_steps(tmp_path, caplog):
    it = iter(Dataset.range(40).map(triple).batch(2))
    with pytest.raises(ValueError, match="log_stats_steps must be an int >= 0"):
        CheckpointInputPipelineHook(it, tmp_path, save_steps=100, log_stats_steps=-1)
    caplog.set_level(logging.INFO, logger="inputpipe")
    with CheckpointInputPipelineHook({"train": it}, tmp_path, save_steps=100,
                                     log_stats_steps=4) as hook:
        for step in range(1, 11):
            next(it)
            hook.after_step(step)
    lines = [r.getMessage() for r in caplog.records if r.name == "inputpipe"]
    assert len(lines) == 2, lines  # steps 4 and 8
    assert lines[0].startswith("train: input-bound: ") and lines[0].endswith("; 4 elements")
    assert " waiting on " in lines[1] and lines[1].endswith("; 8 elements")
