"""Many ranks: who am I, and the process group's one collective per save (docs/distributed.md).

    rank, world = inputpipe.distributed.rank_and_world()
    # global-batch mode: every rank gets its rows of each global batch
    ds = records.shuffle(seed=7).map(decode).batch(256).distribute()
    # sharded-input mode: every rank its part of the input, the rest per rank
    ds = files.shard(world, rank, elastic=True).interleave(read).map(parse).batch(32)
    it = iter(ds)
    with inputpipe.CheckpointInputPipelineHook(it, "ckpt/", save_steps=100) as hook:
        ...                                  # one checkpoint file per step holds every rank

rank_and_world() asks, in this order: an initialised torch.distributed process group, JAX's
multi-process runtime once it is initialised, the RANK / WORLD_SIZE environment (torchrun), and
else says (0, 1). It never imports torch or jax: only a framework the program already imported
is asked.
"""

import os
import sys

__all__ = ["even_out", "rank_and_world", "reshard_states"]


def _torch_group():
    """(rank, world) of an initialised torch.distributed default group, else None."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    dist = getattr(torch, "distributed", None)
    if dist is None or not dist.is_available() or not dist.is_initialized():
        return None
    return dist.get_rank(), dist.get_world_size()


def _jax_processes():
    """(process_index, process_count) once JAX's distributed runtime is initialised, else None.

    jax.process_count() would start a backend (and pick an accelerator) as a side effect, so the
    runtime's own flag is asked first; a single-process JAX answers None, which leaves the
    environment to decide."""
    jax = sys.modules.get("jax")
    if jax is None:
        return None
    try:
        from jax._src import distributed as jax_distributed  # noqa: PLC0415
        state = getattr(jax_distributed, "global_state", None)
        if state is None or getattr(state, "client", None) is None:
            return None
        return int(jax.process_index()), int(jax.process_count())
    except Exception:  # noqa: BLE001 (an older or newer JAX without that module)
        return None


def _environment():
    rank, world = os.environ.get("RANK"), os.environ.get("WORLD_SIZE")
    if rank is None or world is None:
        return None
    try:
        rank, world = int(rank), int(world)
    except ValueError:
        raise ValueError(f"inputpipe.distributed: RANK={os.environ['RANK']!r} and WORLD_SIZE="
                         f"{os.environ['WORLD_SIZE']!r} must be integers") from None
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"inputpipe.distributed: RANK={rank} is not in [0, WORLD_SIZE={world})")
    return rank, world


def rank_and_world():
    """(rank, world size) of this process: torch.distributed, else JAX, else RANK/WORLD_SIZE,
    else (0, 1)."""
    for source in (_torch_group, _jax_processes, _environment):
        found = source()
        if found is not None:
            return found
    return 0, 1


def resolve(rank, num_ranks, who):
    """The explicit rank / num_ranks, completed from rank_and_world(); ValueError naming `who`
    when they do not fit together."""
    if rank is None or num_ranks is None:
        found_rank, found_world = rank_and_world()
        if num_ranks is None:
            num_ranks = found_world
        if rank is None:
            rank = found_rank if num_ranks == found_world else None
            if rank is None:
                raise ValueError(f"{who}: num_ranks={num_ranks} is not this job's world size "
                                 f"({found_world}): give rank= too")
    if isinstance(rank, bool) or isinstance(num_ranks, bool):
        raise TypeError(f"{who}: rank and num_ranks must be ints")
    rank, num_ranks = int(rank), int(num_ranks)
    if num_ranks < 1 or not 0 <= rank < num_ranks:
        raise ValueError(f"{who}: rank must be in [0, num_ranks), num_ranks >= 1; got "
                         f"rank={rank}, num_ranks={num_ranks}")
    return rank, num_ranks


def torch_gather(num_ranks):
    """The hook's gather over the default torch.distributed group when it is initialised with
    `num_ranks` processes, else None (each rank then writes its own files)."""
    found = _torch_group()
    if found is None or found[1] != num_ranks:
        return None
    import torch.distributed as dist  # noqa: PLC0415 (already imported: _torch_group saw it)

    def gather(payload, to_all):
        # gather_object pickles; bytes of a few hundred per rank. All ranks on the first save,
        # so that every one of them checks the pipelines.
        if to_all:
            out = [None] * num_ranks
            dist.all_gather_object(out, payload)
            return out
        out = [None] * num_ranks if dist.get_rank() == 0 else None
        dist.gather_object(payload, out, dst=0)
        return out if out is not None else []

    return gather


def jax_gather(num_ranks):
    """The hook's gather over JAX's multi-process runtime when it is initialised with
    `num_ranks` processes, else None. JAX gathers arrays of one shape, so a save step makes two
    jax.experimental.multihost_utils.process_allgather calls: the payloads' lengths, then every
    payload padded to the longest, which every process receives."""
    found = _jax_processes()
    if found is None or found[1] != num_ranks:
        return None
    import numpy as np  # noqa: PLC0415
    from jax.experimental import multihost_utils  # noqa: PLC0415 (jax is imported: it answered)
    rank = found[0]

    def gather(payload, to_all):
        data = np.frombuffer(bytes(payload), dtype=np.uint8)
        lengths = np.asarray(multihost_utils.process_allgather(np.int64(data.size)))
        padded = np.zeros(int(lengths.max()), dtype=np.uint8)
        padded[:data.size] = data
        rows = np.asarray(multihost_utils.process_allgather(padded))  # every process's, in order
        if not to_all and rank != 0:
            return []
        return [rows[r, :int(lengths[r])].tobytes() for r in range(num_ranks)]

    return gather


def reshard_states(states, rank, num_ranks):
    """The state rank `rank` of `num_ranks` restores from one iterator's states saved by each
    rank of a checkpoint (bytes, in rank order): states[rank] for as many ranks, else the new
    split of the shard(elastic=True) ops (RuntimeError naming an op that forbids it). The hook
    does this itself; for loops that keep their own states."""
    from inputpipe import _core  # noqa: PLC0415
    return _core.reshard_states([bytes(s) for s in states], int(rank), int(num_ranks))


def even_out(iterable, group=None):
    """Yields the elements of `iterable` until the first rank runs out: every rank of the
    torch.distributed group stops at the same step (sharded-input mode, where filter and the
    split leave ranks with different numbers of batches).

    The cost: one all_reduce of one integer per step, the collective DDP's own Join would make.
    The elements a rank had read when another ran out are not delivered; like drop_remainder,
    they count as consumed (a checkpoint after the stop does not hand them out again). Without
    an initialised torch.distributed group, `iterable` is yielded unchanged."""
    if _torch_group() is None:
        yield from iterable
        return
    import torch  # noqa: PLC0415 (already imported: _torch_group saw it)
    import torch.distributed as dist  # noqa: PLC0415
    it = iter(iterable)
    while True:
        try:
            item, more = next(it), 1
        except StopIteration:
            item, more = None, 0
        flag = torch.tensor([more], dtype=torch.int64)
        dist.all_reduce(flag, op=dist.ReduceOp.MIN, group=group)
        if int(flag.item()) == 0:
            return
        yield item
