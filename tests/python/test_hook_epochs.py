"""Epochs with CheckpointInputPipelineHook (docs/hook.md, "Epochs").

A fresh iterator per epoch over one hook directory used to restore, from the second epoch on,
the previous epoch's exhausted state and train zero batches without a word. Now that restore is
refused with a message saying what to do, and the two patterns that work resume exactly after a
crash: one hook over `repeat()`, and an epoch-aware loop (`epoch=` on each epoch's hook, the loop
starting at `inputpipe.resume_epoch(dir)`), here crashed in a separate process mid epoch 2 and
restarted from a copy of its checkpoint directory.
"""

import os
import shutil
import subprocess
import sys

import pytest

import inputpipe
from inputpipe import CheckpointInputPipelineHook

Dataset = inputpipe.Dataset
HERE = os.path.dirname(os.path.abspath(__file__))
EPOCHS = 3
BATCHES_PER_EPOCH = 10


def triple(x):
    return x * 3


def epoch_dataset(epoch):
    """One epoch of 10 batches, in an order of its own (a global shuffle seeded by the epoch),
    through a parallel map and a prefetch: threads and buffers in the state."""
    return (Dataset.range(40).shuffle(seed=100 + epoch).map(triple, num_parallel_calls=2)
            .batch(4).prefetch(2))


def ids(batch):
    return tuple(int(v) for v in batch)


class Crash(Exception):
    pass


def epoch_loop(ckpt_dir, save_steps=5, crash_after=None, log=None, hard=False):
    """The epoch-aware loop of docs/hook.md. Returns [(step, epoch, batch ids)] trained. Crashes
    after training step `crash_after` (once that step's save, if any, is durable): by raising
    Crash (the `with` block then makes no final save), or with os._exit when `hard`."""
    trained = []
    step = 0
    for epoch in range(inputpipe.resume_epoch(ckpt_dir), EPOCHS):
        it = iter(epoch_dataset(epoch))
        with CheckpointInputPipelineHook(it, ckpt_dir, save_steps=save_steps,
                                         epoch=epoch) as hook:
            step = hook.restored_step or step
            if log:
                log.write(f"R {epoch} {step}\n")
            for batch in it:
                step += 1
                trained.append((step, epoch, ids(batch)))
                if log:
                    log.write(f"S {step} {epoch} {' '.join(map(str, ids(batch)))}\n")
                hook.after_step(step)
                if step == crash_after:
                    hook.flush()
                    if hard:
                        log.flush()
                        os._exit(3)
                    raise Crash()
    return trained


def epoch_main():
    """Entry point of the crashed and restarted processes: CKPT_DIR LOG [CRASH_AFTER]."""
    ckpt_dir, log_path, *crash = sys.argv[1:]
    with open(log_path, "a") as log:
        epoch_loop(ckpt_dir, crash_after=int(crash[0]) if crash else None, log=log, hard=True)
        log.write("DONE\n")


def run_process(*args):
    env = dict(os.environ, PYTHONPATH=HERE + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run(
        [sys.executable, "-c", "import sys, test_hook_epochs as t; sys.argv[1:] = "
         f"{[str(a) for a in args]!r}; t.epoch_main()"],
        env=env, capture_output=True, text=True, timeout=120)


def read_log(path):
    """[("R", epoch, step)] and [("S", step, epoch, ids)] lines of one process's log."""
    restarts, steps = [], []
    with open(path) as f:
        for line in f:
            kind, *rest = line.split()
            if kind == "R":
                restarts.append((int(rest[0]), int(rest[1])))
            elif kind == "S":
                steps.append((int(rest[0]), int(rest[1]), tuple(int(v) for v in rest[2:])))
    return restarts, steps


# ---- The broken pattern -------------------------------------------------------------------


def test_fresh_iterator_per_epoch_without_epoch_is_refused_saying_what_to_do(tmp_path):
    ds = Dataset.range(20).batch(4)  # 5 batches an epoch
    trained = []
    with pytest.raises(RuntimeError) as refused:
        for epoch in range(3):
            it = iter(ds)
            with CheckpointInputPipelineHook(it, tmp_path, save_steps=5) as hook:
                step = hook.restored_step or 0
                for batch in it:
                    trained.append((epoch, ids(batch)))
                    step += 1
                    hook.after_step(step)
    # Epoch 0 trained its 5 batches; epoch 1's hook refused the exhausted checkpoint (step 5, a
    # periodic save rewritten by the final save to record the end of the data) instead of
    # training nothing.
    assert epoch == 1
    assert [e for e, _ in trained] == [0] * 5
    message = str(refused.value)
    for what in ("input.ckpt-5 (step 5)", "end of its data", "deliver no element",
                 "dataset.repeat()", "epoch=", f"inputpipe.resume_epoch('{tmp_path}')"):
        assert what in message, (what, message)


def test_a_finished_run_is_refused_not_silently_empty(tmp_path):
    ds = Dataset.range(12).batch(4)
    it = iter(ds)
    with CheckpointInputPipelineHook(it, tmp_path, save_steps=100) as hook:
        assert len(list(it)) == 3
    again = iter(ds)
    hook = CheckpointInputPipelineHook(again, tmp_path, save_steps=100)
    with pytest.raises(RuntimeError, match="restoring it would deliver no element"):
        hook.begin()
    assert ids(next(again)) == (0, 1, 2, 3)  # nothing was restored: the iterator is fresh


# ---- Pattern 1: one hook over repeat() ----------------------------------------------------


def test_one_hook_over_repeat_resumes_exactly_after_a_crash(tmp_path):
    def repeated():  # reshuffled each pass
        return Dataset.range(40).shuffle(seed=5).map(triple, num_parallel_calls=2).batch(4) \
            .repeat(EPOCHS).prefetch(2)

    uninterrupted = [ids(b) for b in iter(repeated())]
    assert len(uninterrupted) == EPOCHS * BATCHES_PER_EPOCH
    assert uninterrupted[:10] != uninterrupted[10:20]

    def run(trained, crash_after=None):
        it = iter(repeated())
        with CheckpointInputPipelineHook(it, tmp_path, save_steps=5) as hook:
            step = hook.restored_step or 0
            for batch in it:
                step += 1
                trained.append((step, ids(batch)))
                hook.after_step(step)
                if step == crash_after:
                    hook.flush()
                    raise Crash()

    first: list = []
    second: list = []
    with pytest.raises(Crash):
        run(first, crash_after=17)  # in the second pass; the last save at 15
    run(second)
    assert second[0][0] == 16  # resumed from the save at step 15
    assert [b for _, b in first] == uninterrupted[:17]
    assert [b for _, b in first[:15] + second] == uninterrupted  # each step once
    assert [s for s, _ in first[:15] + second] == list(range(1, 31))


# ---- Pattern 2: an epoch-aware loop -------------------------------------------------------


@pytest.mark.parametrize("crash_after", [25, 27])
def test_epoch_aware_loop_crashed_mid_epoch_2_in_another_process_resumes_exactly(
        tmp_path, crash_after):
    """Crash after step 25 (a save step: the restart repeats nothing) or 27 (the restart
    replays steps 26 and 27 from the save at 25, identically), in epoch 2 (steps 21-30); the
    restart runs in a new process from a copy of the checkpoint directory elsewhere."""
    uninterrupted = epoch_loop(str(tmp_path / "reference"))
    assert [s for s, _, _ in uninterrupted] == list(range(1, 31))
    assert [e for _, e, _ in uninterrupted] == [0] * 10 + [1] * 10 + [2] * 10

    ckpt, log1, log2 = tmp_path / "ckpt", tmp_path / "log1", tmp_path / "log2"
    crashed = run_process(ckpt, log1, crash_after)
    assert crashed.returncode == 3, crashed.stderr
    moved = tmp_path / "elsewhere" / "ckpt"
    shutil.copytree(ckpt, moved)
    shutil.rmtree(ckpt)
    restarted = run_process(moved, log2)
    assert restarted.returncode == 0, restarted.stderr
    assert "Warning" not in restarted.stderr, restarted.stderr

    restarts1, first = read_log(log1)
    restarts2, second = read_log(log2)
    assert restarts1 == [(0, 0), (1, 10), (2, 20)]  # each epoch starts where the last ended
    assert [s for s, _, _ in first] == list(range(1, crash_after + 1))
    assert restarts2 == [(2, 25)]  # epochs 0 and 1 are skipped, epoch 2 resumes at 25
    assert second[0][0] == 26
    assert first[:25] + second == uninterrupted  # the union, each step once
    assert first[25:] == uninterrupted[25:crash_after]  # replays identical
    assert inputpipe.resume_epoch(moved) == 3  # finished


def test_epoch_aware_loop_crash_at_an_epoch_boundary(tmp_path):
    uninterrupted = epoch_loop(str(tmp_path / "reference"))
    for crash_after in (10, 20):  # epoch 0 or 1's last batch, before its hook's final save
        ckpt = str(tmp_path / f"ckpt{crash_after}")
        with pytest.raises(Crash):
            epoch_loop(ckpt, crash_after=crash_after)
        # The save at the last batch was taken before the end of the data was seen: the epoch
        # is resumed, delivers nothing more, and the next one starts at the same step.
        assert inputpipe.resume_epoch(ckpt) == crash_after // 10 - 1
        before = uninterrupted[:crash_after]
        assert before + epoch_loop(ckpt) == uninterrupted


def test_resume_epoch_and_refusals(tmp_path):
    ckpt = str(tmp_path / "ckpt")
    assert inputpipe.resume_epoch(ckpt) == 0  # nothing yet (the directory does not exist)
    with pytest.raises(Crash):
        epoch_loop(ckpt, save_steps=4, crash_after=15)  # epoch 1 from step 10; saved at 14
    assert inputpipe.resume_epoch(ckpt) == 1
    assert inputpipe.resume_epoch(ckpt, model_step=12) == 1   # epoch 1's start, saved at 10
    assert inputpipe.resume_epoch(ckpt, model_step=9) == 0    # epoch 0's save at 8

    # A loop restarted at epoch 0 (not at resume_epoch) is refused, naming what to do.
    hook = CheckpointInputPipelineHook(iter(epoch_dataset(0)), ckpt, save_steps=4, epoch=0)
    with pytest.raises(RuntimeError) as refused:
        hook.begin()
    message = str(refused.value)
    assert "is of epoch 1: epoch 0 finished before it" in message, message
    assert f"inputpipe.resume_epoch('{ckpt}')" in message, message

    # The model restored to step 12: epoch 1 restores the checkpoint at 10 (its start).
    it = iter(epoch_dataset(1))
    hook = CheckpointInputPipelineHook(it, ckpt, save_steps=4, epoch=1)
    assert hook.restore_for_model_step(12) == 10
    assert hook.epoch == 1
    assert ids(next(it)) == ids(next(iter(epoch_dataset(1))))

    # Skipping the rest of epoch 1: epoch 2 starts fresh at step 14, with a warning.
    it = iter(epoch_dataset(2))
    hook = CheckpointInputPipelineHook(it, ckpt, save_steps=4, epoch=2)
    with pytest.warns(UserWarning, match="epoch 1 was left unfinished"):
        assert hook.begin() == 14
    assert ids(next(it)) == ids(next(iter(epoch_dataset(2))))

    # Checkpoints of a hook without epochs are not for an epoch-aware loop.
    plain = str(tmp_path / "plain")
    with CheckpointInputPipelineHook(iter(epoch_dataset(0)), plain, save_steps=4):
        pass
    with pytest.raises(RuntimeError, match="saved by a hook without an epoch"):
        inputpipe.resume_epoch(plain)
    with pytest.raises(RuntimeError, match="saved by a hook without an epoch"):
        CheckpointInputPipelineHook(iter(epoch_dataset(0)), plain, save_steps=4, epoch=0).begin()

    for bad in (-1, 1.5, True, "1"):
        with pytest.raises(ValueError, match="epoch must be an int >= 0"):
            CheckpointInputPipelineHook(iter(epoch_dataset(0)), plain, save_steps=4, epoch=bad)
