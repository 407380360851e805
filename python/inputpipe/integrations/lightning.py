"""A PyTorch Lightning callback that checkpoints an inputpipe iterator beside the model.

    import lightning as L
    from inputpipe.integrations.lightning import InputPipelineCheckpoint

    ckpt = InputPipelineCheckpoint(iter(dataset), "ckpt/", save_steps=100)
    trainer = L.Trainer(max_steps=10_000, callbacks=[
        ckpt, L.pytorch.callbacks.ModelCheckpoint("ckpt/", every_n_train_steps=100,
                                                   save_top_k=-1)])
    trainer.fit(model, train_dataloaders=ckpt.dataloader(), ckpt_path=last_or_none)

When Lightning reads the first batch (after it restored the model, so trainer.global_step is
the model's step) the callback restores the input checkpoint of that step (else the newest
before it), or saves the start. Lightning fetches a batch ahead of the one it trains, so the data go through
`ckpt.dataloader()` (or `ckpt.batches()` in your own IterableDataset), which records the
iterator's position as each batch is read: a save holds the position of the last batch trained
on. Saves happen at trainer.global_step, so with the same save_steps as ModelCheckpoint's
every_n_train_steps both land on the same steps. Use num_workers=0: the iterator lives in the
training process (the pipeline runs its own threads).
"""

from __future__ import annotations

from typing import Any, Iterator as _Iterator

import lightning.pytorch as pl
import torch

from inputpipe._core import Iterator
from inputpipe._typing import StrPath
from inputpipe.hook import CheckpointInputPipelineHook
from inputpipe.integrations._tracking import TrackedHook


class _Batches(torch.utils.data.IterableDataset):
    def __init__(self, tracked):
        super().__init__()
        self._tracked = tracked

    def __iter__(self):
        return self._tracked.batches()


class InputPipelineCheckpoint(pl.Callback):
    """Saves `iterator` every `save_steps` global steps (or `save_secs` seconds) in
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

    @property
    def hook(self) -> CheckpointInputPipelineHook:
        """The underlying CheckpointInputPipelineHook (stats, checkpoints(), ...)."""
        return self._tracked.hook

    def batches(self) -> _Iterator[Any]:
        """The iterator's batches, for an IterableDataset of your own."""
        return self._tracked.batches()

    def dataloader(self) -> torch.utils.data.DataLoader:
        """A DataLoader over the iterator's batches (numpy arrays become tensors)."""
        return torch.utils.data.DataLoader(_Batches(self._tracked), batch_size=None, num_workers=0)

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        # Lightning fetches the first batch before on_train_start but after restoring the model
        # and the loops: that first read is when the input checkpoint of the model's step is
        # restored (trainer.global_step: 0 for a fresh model).
        def begin():
            step = trainer.global_step
            self._tracked.begin(step, model_step=step)

        self._tracked.before_first_read = begin

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self._tracked.began:
            step = trainer.global_step
            self._tracked.begin(step, model_step=step)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                           outputs: Any, batch: Any, batch_idx: int) -> None:
        self._tracked.trained()
        self._tracked.hook.after_step(trainer.global_step)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._tracked.hook.end(trainer.global_step)
