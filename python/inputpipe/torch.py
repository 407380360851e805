"""PyTorch outputs: batches as torch tensors without copies, and prefetching to a device.

    import inputpipe.torch as ipt

    for batch in ipt.as_torch(ds.batch(32)):          # torch tensors sharing numpy's memory
        ...
    feed = ipt.prefetch_to_device(ds.batch(32), "cuda", buffer_size=2)
    with feed.checkpoint_hook("ckpt/", save_steps=100) as hook:
        for step, batch in enumerate(feed, start=(hook.restored_step or 0) + 1):
            train(batch)
            hook.after_step(step)
    state = feed.save()      # the position after the last batch handed out, not of those ahead

Elements come out of an iterator as numpy arrays (one copy out of the engine: the arrays are
the user's to write to); as_torch wraps them with torch.from_numpy, which shares their memory,
so no further copy happens. bfloat16 (an ml_dtypes array) is reinterpreted as torch.bfloat16,
also without a copy. Strings stay bytes / numpy object arrays: torch has no string tensors.

pin_memory=True pins each batch (page-locked memory, for faster, asynchronous copies to a GPU).
Pinning needs an accelerator; where torch has none (a CPU-only build or no GPU), the option is
ignored with one UserWarning, as torch's DataLoader does.

torch is imported when one of these functions runs: it is not a dependency of inputpipe.
"""

import queue
import threading
import warnings

import numpy as np

__all__ = ["DevicePrefetcher", "as_torch", "prefetch_to_device", "to_torch"]


def _torch():
    try:
        import torch
    except ImportError as e:  # pragma: no cover - the message is the point
        raise ImportError("inputpipe.torch needs PyTorch: pip install torch") from e
    return torch


def _can_pin(torch):
    try:
        return torch.cuda.is_available() or bool(
            getattr(torch, "accelerator", None) and torch.accelerator.is_available())
    except Exception:  # noqa: BLE001 - a broken accelerator setup means: cannot pin
        return False


def _leaf_to_torch(torch, value, pin):
    if isinstance(value, (bytes, str)):
        return value
    if isinstance(value, np.generic) and not isinstance(value, np.ndarray):
        value = np.asarray(value)  # numpy scalars (rank-0 elements) as 0-d arrays
    if not isinstance(value, np.ndarray):
        return value
    if value.dtype.kind in "OSU":
        return value  # strings: no torch dtype
    if value.dtype.name == "bfloat16":
        t = torch.from_numpy(value.view(np.uint16)).view(torch.bfloat16)
    else:
        t = torch.from_numpy(value)
    return t.pin_memory() if pin else t


def to_torch(element, pin_memory=False):
    """One element (tensor, tuple or dict of them) as torch tensors sharing the arrays'
    memory; with pin_memory=True, pinned (a copy into page-locked memory) where torch can."""
    torch = _torch()
    pin = bool(pin_memory) and _can_pin(torch)
    if pin_memory and not pin:
        _warn_no_pinning()
    return _convert(torch, element, pin)


def _convert(torch, element, pin):
    if isinstance(element, tuple):
        return tuple(_convert(torch, e, pin) for e in element)
    if isinstance(element, dict):
        return {k: _convert(torch, v, pin) for k, v in element.items()}
    return _leaf_to_torch(torch, element, pin)


_warned_no_pinning = False


def _warn_no_pinning():
    global _warned_no_pinning
    if not _warned_no_pinning:
        _warned_no_pinning = True
        warnings.warn("inputpipe.torch: pin_memory=True is ignored: torch has no accelerator here "
                      "(pinned memory needs one); batches are ordinary CPU tensors",
                      UserWarning, stacklevel=3)


def _as_iterator(source, what):
    import inputpipe
    if isinstance(source, inputpipe.Iterator):
        return source
    if hasattr(source, "_handle"):  # a Dataset
        return iter(source)
    if hasattr(source, "__next__") and hasattr(source, "save"):
        return source
    raise TypeError(f"{what}: expected an inputpipe.Dataset or Iterator, got "
                    f"{type(source).__name__}")


class TorchIterator:
    """An inputpipe iterator whose elements come out as torch tensors (see to_torch).
    save() / restore() are the wrapped iterator's: a torch iterator is checkpointed as it."""

    def __init__(self, source, pin_memory=False):
        self.iterator = _as_iterator(source, "as_torch")
        torch = _torch()
        self._torch = torch
        self._pin = bool(pin_memory) and _can_pin(torch)
        if pin_memory and not self._pin:
            _warn_no_pinning()

    def __iter__(self):
        return self

    def __next__(self):
        return _convert(self._torch, next(self.iterator), self._pin)

    def save(self, external_state_policy="fail"):
        return self.iterator.save(external_state_policy)

    def restore(self, state, allow_changes=False):
        self.iterator.restore(state, allow_changes=allow_changes)


def as_torch(source, pin_memory=False):
    """Iterates `source` (a Dataset or Iterator) giving torch tensors (see the module doc)."""
    return TorchIterator(source, pin_memory=pin_memory)


_END = object()


class DevicePrefetcher:
    """Batches of `source` copied to `device` on a background thread, `buffer_size` ahead.

    Checkpoints hold the position of the last batch handed out: each prefetched batch travels
    with the state the source iterator had right after producing it, and save() returns that
    state of the last batch next() returned (the batches copied ahead are read again after a
    restore). restore() works on a prefetcher that has not yet handed out a batch, like
    Iterator.restore on a fresh iterator. checkpoint_hook() gives a CheckpointInputPipelineHook
    that saves these states.
    """

    def __init__(self, source, device, buffer_size=2, pin_memory=None,
                 external_state_policy="fail"):
        if isinstance(buffer_size, bool) or not isinstance(buffer_size, int) or buffer_size < 1:
            raise ValueError(f"prefetch_to_device: buffer_size must be an int >= 1, got "
                             f"{buffer_size!r}")
        self.iterator = _as_iterator(source, "prefetch_to_device")
        torch = _torch()
        self._torch = torch
        self.device = torch.device(device)
        if pin_memory is None:  # pinned host memory makes the copy to a GPU asynchronous
            pin_memory = self.device.type != "cpu" and _can_pin(torch)
        self._pin = bool(pin_memory) and _can_pin(torch)
        if pin_memory and not self._pin:
            _warn_no_pinning()
        self._policy = external_state_policy
        self._buffer_size = buffer_size
        self._queue = None
        self._thread = None
        self._stop = threading.Event()
        self._state = None       # the state after the last batch handed out; None: before any
        self._handed_out = 0
        self._done = False

    # ---- Iteration ----------------------------------------------------------------------

    def __iter__(self):
        return self

    def __next__(self):
        if self._done:
            raise StopIteration
        if self._thread is None:
            self._start()
        item = self._queue.get()
        if item is _END:
            self._done = True
            self._thread.join()
            raise StopIteration
        if isinstance(item, BaseException):
            self._done = True
            self._thread.join()
            raise item
        batch, state = item
        self._state = state
        self._handed_out += 1
        return batch

    def _start(self):
        if self._state is None:
            self._state = self.iterator.save(self._policy)  # the start, for a save before next
        self._queue = queue.Queue(maxsize=self._buffer_size)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="inputpipe-prefetch-to-device",
                                        daemon=True)
        self._thread.start()

    def _put(self, item):
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self):
        torch = self._torch
        try:
            stream = None
            if self.device.type == "cuda":
                stream = torch.cuda.Stream(device=self.device)
            while not self._stop.is_set():
                try:
                    element = next(self.iterator)
                except StopIteration:
                    self._put(_END)
                    return
                state = self.iterator.save(self._policy)  # right after producing this batch
                host = _convert(torch, element, self._pin)
                if stream is not None:
                    with torch.cuda.stream(stream):
                        batch = self._to_device(host, non_blocking=True)
                    stream.synchronize()  # the batch is complete on the device when handed out
                else:
                    batch = self._to_device(host, non_blocking=False)
                if not self._put((batch, state)):
                    return
        except BaseException as e:  # noqa: BLE001 - handed to the consumer, raised there
            self._put(e)

    def _to_device(self, value, non_blocking):
        if isinstance(value, tuple):
            return tuple(self._to_device(v, non_blocking) for v in value)
        if isinstance(value, dict):
            return {k: self._to_device(v, non_blocking) for k, v in value.items()}
        if isinstance(value, self._torch.Tensor):
            return value.to(self.device, non_blocking=non_blocking)
        return value

    def close(self):
        """Stops the background thread; the batches copied ahead are dropped."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
            self._queue = None

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    # ---- Checkpoints --------------------------------------------------------------------

    def save(self, external_state_policy=None):
        """The state after the last batch handed out (before any: the iterator's own)."""
        if self._state is None:
            return self.iterator.save(external_state_policy or self._policy)
        return self._state

    def restore(self, state, allow_changes=False):
        """Moves a prefetcher that has handed out no batch to the position in `state`."""
        if self._handed_out:
            raise RuntimeError("prefetch_to_device: restore() needs a fresh prefetcher (one "
                               f"that has handed out no batch; this one gave "
                               f"{self._handed_out}): make a new one over a new iterator")
        self.close()
        self.iterator.restore(state, allow_changes=allow_changes)
        self._state = None
        self._done = False

    def checkpoint_hook(self, checkpoint_dir, **kwargs):
        """A CheckpointInputPipelineHook (same arguments) whose saves hold this prefetcher's
        state: the position of the last batch handed out. Call its begin() before iterating."""
        from inputpipe.hook import CheckpointInputPipelineHook

        prefetcher = self

        class _PrefetchHook(CheckpointInputPipelineHook):
            # The hook captures states holding the iterator's lock, so the capture must never
            # save the iterator: its state after a restore is taken here, before begin saves.
            def begin(self, global_step=0):
                if self._began:  # `with hook:` began already
                    return self._restored_step
                prefetcher._before_hook_restore()
                restored = None
                if self.checkpoints():
                    newest = max(step for step, _ in self.checkpoints())
                    restored = super().restore_for_model_step(newest)
                prefetcher._state = prefetcher.iterator.save(self._policy)
                super().begin(restored if restored is not None else global_step)
                self._restored_step = restored
                return restored

            def restore_for_model_step(self, model_step):
                prefetcher._before_hook_restore()
                restored = super().restore_for_model_step(model_step)
                prefetcher._state = prefetcher.iterator.save(self._policy)
                return restored

        def capture(policy):
            if prefetcher._state is None:
                raise RuntimeError("prefetch_to_device: the hook saved before its begin()")
            return {"iterator": prefetcher._state}

        return _PrefetchHook(self.iterator, checkpoint_dir, _capture=capture, **kwargs)

    def _before_hook_restore(self):
        if self._handed_out:
            raise RuntimeError("prefetch_to_device: the hook's begin() / restore must run "
                               "before the first batch is taken")
        self.close()
        self._state = None
        self._done = False


def prefetch_to_device(source, device, buffer_size=2, pin_memory=None,
                       external_state_policy="fail"):
    """A DevicePrefetcher: `source`'s batches as torch tensors on `device`, `buffer_size`
    copied ahead on a background thread; its save() is the position of the last batch handed
    out. pin_memory: None pins where the device is an accelerator and torch can pin."""
    return DevicePrefetcher(source, device, buffer_size=buffer_size, pin_memory=pin_memory,
                            external_state_policy=external_state_policy)
