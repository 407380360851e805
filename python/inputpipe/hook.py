"""CheckpointInputPipelineHook: the input pipeline's position saved beside the model's.

    ds = inputpipe.Dataset.range(10_000).shuffle(seed=7).batch(32).prefetch()
    it = iter(ds)
    with inputpipe.CheckpointInputPipelineHook(it, "ckpt/", save_steps=100) as hook:
        step = hook.restored_step or 0        # begin() ran: restored, or saved the start
        for batch in it:
            train(batch)
            step += 1
            hook.after_step(step)             # captures the state when a save is due
    # leaving the block saves the final state and reports any failed write

Files (docs/hook.md): `ckpt/input.ckpt-<step>` (`input_<task_type>_<task_id>.ckpt-<step>` for
one worker of several) and the index `ckpt/checkpoint_input`: a model checkpoint manager may
write `checkpoint` and `model.ckpt-*` in the same directory. Writes are crash-safe (temporary
file, fsync, rename, directory fsync); a corrupt newest checkpoint, or one whose state an op
rejects (a DataLossError of the restore), is skipped with a warning naming it. The training
thread only captures the states; a background thread writes them, and a failed write is raised
(OSError) at the next after_step() or at end().

Restoring with a model: restore the model first, then `hook.restore_for_model_step(step)` with
the model's step: the input checkpoint saved at that step (or the newest before it) is restored,
so model and data agree.

Epochs (docs/hook.md, "Epochs"): either one iterator and hook over `dataset.repeat()`, or a fresh
iterator and hook per epoch that knows its epoch:

    step = 0
    for epoch in range(inputpipe.resume_epoch("ckpt/"), num_epochs):
        it = iter(make_dataset(epoch))
        with inputpipe.CheckpointInputPipelineHook(it, "ckpt/", save_steps=100,
                                                   epoch=epoch) as hook:
            step = hook.restored_step or step   # the position in this epoch, or its start
            for batch in it:
                train(batch)
                step += 1
                hook.after_step(step)

Without `epoch=`, a checkpoint saved after the iterators reached the end of their data (the
previous epoch's last one) is refused (RuntimeError saying what to do) instead of restored into
an iterator that would deliver nothing.
"""

from __future__ import annotations

import logging
import os
import warnings
from types import TracebackType
from typing import Any, Literal

from inputpipe import _arguments, _core
from inputpipe._typing import StrPath

_POLICIES = ("ignore", "warn", "fail")
_logger = logging.getLogger("inputpipe")


class CheckpointInputPipelineHook:
    """Saves `iterators` every `save_steps` steps or `save_secs` seconds in `checkpoint_dir`.

    iterators: one inputpipe.Iterator, or a dict name -> Iterator saved together at each step.
    save_steps / save_secs: exactly one. external_state_policy: None (= 'fail'), 'fail', 'warn'
    or 'ignore' (what a save does with ops whose state cannot be captured, e.g. a plain
    generator). max_to_keep: newest checkpoints kept (None keeps all). task_type / task_id: for
    one worker of several, which gets its own file names. allow_changes: restore a checkpoint
    whose pipelines have the same ops but other parameters, functions or files, with one
    UserWarning listing the differences (Iterator.restore's allow_changes); default strict.
    rank / num_ranks / gather (docs/distributed.md): this process is rank `rank` of `num_ranks`
    (default: inputpipe.distributed.rank_and_world(); rank 0 of 1 with task_type), every rank
    with its own hook over its own iterators, in one shared checkpoint_dir. gather='auto': with
    an initialised torch.distributed group (one collective), else JAX's multi-process runtime
    (two: the lengths, then the padded bytes), the states are gathered to rank 0 at each save
    step and rank 0 writes one file per step holding all of them; else (or gather=None) each
    rank writes its own files and a step counts only with every rank's. A checkpoint of W ranks
    restores on any W' (each rank its own state when W' = W). With several ranks only
    save_steps may be used.
    epoch: for a fresh iterator per epoch, the epoch (an int >= 0) these iterators go through;
    only a checkpoint of this epoch is restored, after the end of an earlier one the epoch starts
    fresh at its step, a later epoch's is a RuntimeError; start the loop at resume_epoch(dir).
    log_stats_steps: every this many steps, after_step logs one INFO line per iterator on the
    "inputpipe" logger: "<name>: " and its Iterator.stats()["summary"] ("input-bound: 62% of step
    time (...) waiting on map(fn=decode) ..."); None or 0 (the default): never.
    """

    def __init__(self, iterators, checkpoint_dir, save_steps=None, save_secs=None,
                 external_state_policy=None, max_to_keep=5, task_type=None, task_id=None,
                 allow_changes=False, epoch=None, rank=None, num_ranks=None, gather="auto",
                 log_stats_steps=None, _clock=None, _capture=None):
        if save_steps is None and save_secs is None:
            raise ValueError("CheckpointInputPipelineHook: exactly one of save_steps and save_secs "
                             "must be given; got neither")
        if save_steps is not None and save_secs is not None:
            raise ValueError("CheckpointInputPipelineHook: exactly one of save_steps and save_secs "
                             f"must be given; got both (save_steps={save_steps!r}, "
                             f"save_secs={save_secs!r})")
        for arg, value in (("save_steps", save_steps), ("max_to_keep", max_to_keep)):
            # int() below: save_steps=2.5 was a save every 2 steps, without a word.
            if isinstance(value, float) and not value.is_integer():
                raise TypeError(f"CheckpointInputPipelineHook: {arg} must be an integer; got "
                                f"{value!r}")
        policy = "fail" if external_state_policy is None else external_state_policy
        if policy not in _POLICIES:
            raise ValueError("CheckpointInputPipelineHook: external_state_policy must be one of "
                             f"'ignore', 'warn', 'fail' (or None for 'fail'); got {policy!r}")
        if log_stats_steps is not None and (isinstance(log_stats_steps, bool)
                                            or not isinstance(log_stats_steps, int)
                                            or log_stats_steps < 0):
            raise ValueError("CheckpointInputPipelineHook: log_stats_steps must be an int >= 0 "
                             f"(or None: never); got {log_stats_steps!r}")
        self._log_stats_steps = log_stats_steps or 0
        if (task_type is None) != (task_id is None):
            raise ValueError("CheckpointInputPipelineHook: task_type and task_id go together; got "
                             f"task_type={task_type!r}, task_id={task_id!r}")
        if isinstance(iterators, dict):
            names = list(iterators)
            if not all(isinstance(n, str) for n in names):
                raise TypeError("CheckpointInputPipelineHook: iterator names must be str")
            its = [iterators[n] for n in names]
        else:
            names, its = ["iterator"], [iterators]
        for name, it in zip(names, its):
            if not isinstance(it, _core.Iterator):
                hint = " (pass iter(dataset), not the dataset)" if hasattr(it, "_handle") else ""
                raise TypeError(f"CheckpointInputPipelineHook: iterator {name!r} must be an "
                                f"inputpipe.Iterator{hint}; got {type(it).__name__}")
        if epoch is not None and (isinstance(epoch, bool) or not isinstance(epoch, int)
                                  or epoch < 0):
            raise ValueError("CheckpointInputPipelineHook: epoch must be an int >= 0 (or None); "
                             f"got {epoch!r}")
        if task_type is not None and rank is None and num_ranks is None:
            rank, num_ranks = 0, 1  # one worker of several, with its own files (as before)
        from inputpipe import distributed  # noqa: PLC0415
        rank, num_ranks = distributed.resolve(rank, num_ranks, "CheckpointInputPipelineHook")
        if gather == "auto":
            gather = None
            if num_ranks > 1:
                gather = distributed.torch_gather(num_ranks) or distributed.jax_gather(num_ranks)
        elif gather is not None and not callable(gather):
            raise TypeError("CheckpointInputPipelineHook: gather must be 'auto', None or a "
                            f"callable; got {gather!r}")
        self._rank, self._num_ranks = rank, num_ranks
        self._iterators = dict(zip(names, its))
        self._epoch = epoch
        self._policy = policy
        self._hook = _arguments.construct(
            _core.CheckpointHook, "CheckpointInputPipelineHook", names, its, os.fspath(checkpoint_dir),
            None if save_steps is None else int(save_steps),
            None if save_secs is None else float(save_secs),
            policy,
            None if max_to_keep is None else int(max_to_keep),
            "" if task_type is None else str(task_type),
            0 if task_id is None else int(task_id),
            _warn, _clock, _capture, allow_changes=bool(allow_changes), epoch=epoch,
            rank=rank, num_ranks=num_ranks, gather=gather if num_ranks > 1 else None)
        self._began = False
        self._restored_step = None

    # ---- Lifecycle ----------------------------------------------------------------------

    def begin(self, global_step: int = 0) -> int | None:
        """The first step: restores the newest valid input checkpoint and returns its step, or
        (none there) saves the initial state at `global_step` and returns None. With `epoch`,
        after an earlier epoch's checkpoint at step s the epoch starts fresh: its initial state is
        saved at s, and s is returned."""
        self._restored_step = self._hook.begin(_step(global_step, "begin"))
        self._began = True
        return self._restored_step

    def restore_for_model_step(self, model_step: int) -> int | None:
        """Restores the input checkpoint saved at `model_step` (the model's restored step), else
        the newest one before it; returns the step restored (None when model_step is 0 and
        nothing was saved). Call before begin(), on fresh iterators."""
        self._restored_step = self._hook.restore_for_model_step(
            _step(model_step, "restore_for_model_step", "model_step"))
        return self._restored_step

    def after_step(self, global_step: int) -> None:
        """After training step `global_step`: raises a failed background write, then captures
        the states if a save is due."""
        step = _step(global_step, "after_step")
        if self._log_stats_steps and step % self._log_stats_steps == 0:
            for name, it in self._iterators.items():
                _logger.info("%s: %s", name, it.stats()["summary"])
        self._hook.after_step(step)

    def save(self, global_step: int) -> None:
        """Captures the states at `global_step` now, due or not."""
        self._hook.save(_step(global_step, "save"))

    def end(self, global_step: int | None = None) -> None:
        """Saves the final state (at the last step seen, or `global_step`), waits until every
        save is durable and raises any failed write."""
        self._hook.end(None if global_step is None else _step(global_step, "end"))

    def flush(self) -> None:
        """Waits until every captured save is durable; raises a failed write."""
        self._hook.flush()

    def __enter__(self) -> CheckpointInputPipelineHook:
        if not self._began:
            self.begin()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> Literal[False]:
        if exc_type is None:
            self.end()
        else:
            # The step that failed did not finish: no final save; the saves already captured
            # are still written, and a write error must not hide the original exception.
            try:
                self.flush()
            except Exception:  # noqa: BLE001
                pass
        return False

    # ---- Inspection ---------------------------------------------------------------------

    @property
    def epoch(self) -> int | None:
        """The epoch given to the constructor, or None."""
        return self._epoch

    @property
    def rank(self) -> int:
        """This hook's rank."""
        return self._rank

    @property
    def num_ranks(self) -> int:
        """The number of ranks this hook saves with."""
        return self._num_ranks

    @property
    def restored_step(self) -> int | None:
        """The step restored by begin() / restore_for_model_step(), or None."""
        return self._restored_step

    @property
    def stats(self) -> dict[str, Any]:
        """Counts and timings: saves_captured, saves_committed, saves_failed, saves_dropped
        and max_queued_saves (saves faster than the disk, docs/hook.md),
        last_capture_seconds / max_capture_seconds / total_capture_seconds (training-thread
        time per save), last_write_seconds (background), last_checkpoint_bytes, ..."""
        return self._hook.stats()

    def checkpoints(self) -> list[tuple[int, str]]:
        """[(step, path)] of this hook's checkpoint files in the directory, oldest first."""
        return self._hook.checkpoints()

    @property
    def prefix(self) -> str:
        """The file-name prefix: 'input', or 'input_<task_type>_<task_id>'."""
        return self._hook.prefix

    @property
    def checkpoint_dir(self) -> str:
        """The directory the checkpoints are written to."""
        return self._hook.checkpoint_dir

    @property
    def index_path(self) -> str:
        """The index file naming the newest and retained checkpoints."""
        return self._hook.index_path


def latest_input_checkpoint(checkpoint_dir: StrPath, prefix: str = "input") -> str | None:
    """The newest input checkpoint named by the index file, or None."""
    return _core.latest_input_checkpoint(os.fspath(checkpoint_dir), prefix)


def resume_epoch(checkpoint_dir: StrPath, prefix: str = "input",
                 model_step: int | None = None) -> int:
    """The epoch an epoch-aware loop (hooks given epoch=) starts at after a restart: 0 without
    an input checkpoint; else the newest checkpoint's epoch, plus one when it was saved at the
    end of that epoch's data. model_step: the restored model's step (the checkpoint at or before
    it counts, as for restore_for_model_step). RuntimeError when that checkpoint was saved by a
    hook without epoch=."""
    return _core.resume_epoch(os.fspath(checkpoint_dir), prefix,
                              None if model_step is None else int(model_step))


def _step(value: Any, method: str, arg: str = "global_step") -> int:
    """int(value) (a numpy integer or an integral float is a step too), its refusal naming the
    method and the argument: int(None) said neither."""
    try:
        return int(value)
    except (TypeError, ValueError):
        raise TypeError(f"CheckpointInputPipelineHook.{method}: {arg} must be an int; got "
                        f"{type(value).__name__} {value!r:.60}") from None


def _warn(message: str) -> None:
    category: type[Warning] = _core.ExternalStateWarning if "external state" in message else RuntimeWarning
    if "(allow_changes)" in message or message.startswith("CheckpointInputPipelineHook (epoch "):
        category = UserWarning
    warnings.warn(message, category, stacklevel=3)
