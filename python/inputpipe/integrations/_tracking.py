"""The read-ahead bookkeeping shared by the framework callbacks."""

import warnings
from typing import Any, Callable

from inputpipe.hook import CheckpointInputPipelineHook


class TrackedHook:
    """A CheckpointInputPipelineHook over one iterator that a framework reads ahead of training.

    batches() yields the iterator's batches and saves its state after each read (about as cheap
    as the hook's own capture); trained(n) tells how many batches have been trained on; a save
    writes the state recorded after the n-th read.
    """

    NAME = "iterator"

    def __init__(self, iterator, checkpoint_dir, save_steps=None, save_secs=None,
                 external_state_policy=None, max_to_keep=5, task_type=None, task_id=None,
                 rank=None, num_ranks=None, gather="auto"):
        self.iterator = iterator
        kwargs = dict(save_steps=save_steps, save_secs=save_secs,
                      external_state_policy=external_state_policy, max_to_keep=max_to_keep,
                      task_type=task_type, task_id=task_id, _capture=self._capture)
        ranks = dict(rank=rank, num_ranks=num_ranks, gather=gather)
        finds_ranks = rank is None and num_ranks is None
        finds_group = gather == "auto" and num_ranks is not None and num_ranks > 1
        if task_type is None and (finds_ranks or finds_group):
            # Many ranks (docs/distributed.md): a framework starts its process group after the
            # callback is made (Lightning's DDP in trainer.fit), so the hook that finds the
            # ranks, or the group to gather over, is made at the first read; its arguments are
            # checked now, without a group.
            CheckpointInputPipelineHook(iterator, checkpoint_dir, rank=0 if finds_ranks else rank,
                                        num_ranks=1 if finds_ranks else num_ranks, gather=None,
                                        **kwargs)
            self._make = lambda: CheckpointInputPipelineHook(iterator, checkpoint_dir, **ranks,
                                                             **kwargs)
            self._hook = None
        else:
            self._hook = CheckpointInputPipelineHook(iterator, checkpoint_dir, **ranks, **kwargs)
        self._read = 0          # batches read from the iterator since begin
        self._trained = 0       # batches trained on since begin
        self._after_read = {}   # n -> (state after the n-th read, warnings issued then)
        self.began = False
        # Called at the first read when begin() has not run yet: frameworks read batches before
        # their "training starts" callbacks, so this is the last moment a restore can happen.
        self.before_first_read: Callable[[], Any] = self.begin

    @property
    def hook(self):
        """The CheckpointInputPipelineHook (made at the first use when it finds the ranks)."""
        if self._hook is None:
            self._hook = self._make()
        return self._hook

    def begin(self, global_step=0, model_step=None):
        """Restores the checkpoint matching `model_step` (else the newest one before it), or
        with no model step the newest valid one; with nothing to restore, saves the start at
        `global_step`. Returns the step restored, or None. Must run before the framework reads
        a batch."""
        if self.began:
            return self.hook.restored_step
        restored = None
        if model_step is not None:
            restored = self.hook.restore_for_model_step(model_step)
        elif self.hook.checkpoints():
            newest = max(step for step, _ in self.hook.checkpoints())
            restored = self.hook.restore_for_model_step(newest)  # skips corrupt ones, warning
        # The state before any read, for a save before the first trained batch. The hook's
        # calls hold the iterator's lock, so the capture function must never save it itself.
        self._after_read[0] = self._save_now()
        self.hook.begin(restored if restored is not None else global_step)
        self.began = True
        return restored

    def batches(self):
        """The iterator's batches, for the framework to read."""
        if not self.began:
            self.before_first_read()
        while True:
            try:
                batch = next(self.iterator)
            except StopIteration:
                return
            self._read += 1
            self._after_read[self._read] = self._save_now()
            yield batch

    def trained(self, count=1):
        self._trained += count
        for n in [n for n in self._after_read if n < self._trained]:
            del self._after_read[n]

    def _save_now(self):
        # Under 'warn', the warnings are replayed when the state is written, not at every read.
        with warnings.catch_warnings(record=True) as issued:
            warnings.simplefilter("always")
            state = self.iterator.save(self.hook._policy)
        return state, issued

    def _capture(self, policy):
        state, issued = self._after_read[self._trained]
        for w in issued:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        return {self.NAME: state}
