"""A Keras 3 callback that checkpoints an inputpipe iterator beside the model.

    import keras
    from inputpipe.integrations.keras import InputPipelineCheckpoint

    it = iter(dataset)                                  # an inputpipe pipeline of (x, y) batches
    ckpt = InputPipelineCheckpoint(it, "ckpt/", save_steps=100)
    step = ckpt.restore(model_step=restored_model_step)  # optional: else the newest, at fit
    model.fit(ckpt.batches(), steps_per_epoch=500, epochs=10, initial_epoch=step // 500,
              callbacks=[ckpt])

fit reads batches ahead of the step it trains (it peeks at the first ones to learn their
shapes), so the data go through `ckpt.batches()`, which records the iterator's position as each
batch is read: a save holds the position of the last batch trained on. The global step is the
callback's own count of trained batches, starting at the restored step. Save the model's
weights at the same steps (keras.callbacks.ModelCheckpoint(save_freq=save_steps)) and pass its
step to restore(model_step=...): model and data then agree after a restart.
"""

from __future__ import annotations

from typing import Any, Iterator as _Iterator

import keras

from inputpipe._core import Iterator
from inputpipe._typing import StrPath
from inputpipe.hook import CheckpointInputPipelineHook
from inputpipe.integrations._tracking import TrackedHook


class InputPipelineCheckpoint(keras.callbacks.Callback):
    """Saves `iterator` every `save_steps` trained batches (or `save_secs` seconds) in
    `checkpoint_dir`; the arguments are CheckpointInputPipelineHook's."""

    def __init__(self, iterator: Iterator, checkpoint_dir: StrPath,
                 save_steps: int | None = None, save_secs: float | None = None,
                 external_state_policy: str | None = None, max_to_keep: int | None = 5,
                 task_type: str | None = None, task_id: int | None = None,
                 rank: int | None = None, num_ranks: int | None = None,
                 gather: str = "auto") -> None:
        super().__init__()
        self._tracked = TrackedHook(iterator, checkpoint_dir, save_steps=save_steps,
                                    save_secs=save_secs, external_state_policy=external_state_policy,
                                    max_to_keep=max_to_keep, task_type=task_type, task_id=task_id,
                                    rank=rank, num_ranks=num_ranks, gather=gather)
        self.global_step = 0
        self._tracked.before_first_read = self.restore

    @property
    def hook(self) -> CheckpointInputPipelineHook:
        """The underlying CheckpointInputPipelineHook (stats, checkpoints(), ...)."""
        return self._tracked.hook

    def restore(self, model_step: int | None = None) -> int | None:
        """Restores the input checkpoint of `model_step` (else the newest before it), or the
        newest valid one when no model step is given; returns the step restored (None: nothing
        restored, the start is saved). Call before fit."""
        restored = self._tracked.begin(0, model_step=model_step)
        self.global_step = restored or 0
        return restored

    def batches(self) -> _Iterator[Any]:
        """What to pass to fit as x: the iterator's batches."""
        return self._tracked.batches()

    def on_train_begin(self, logs: dict | None = None) -> None:
        if not self._tracked.began:
            self.restore()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._tracked.trained()
        self.global_step += 1
        self._tracked.hook.after_step(self.global_step)

    def on_train_end(self, logs: dict | None = None) -> None:
        self._tracked.hook.end(self.global_step)
