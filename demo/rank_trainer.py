"""One rank of the demo's data-parallel job (run_demo.py --ranks W starts W of them).

    RANK=r WORLD_SIZE=W python demo/rank_trainer.py WORKDIR --port P --steps 200 --save-steps 20

Every rank joins a torch.distributed process group (gloo on 127.0.0.1:P), builds the same
pipeline as demo/trainer.py with a global batch of GLOBAL_BATCH rows and `.distribute()`, so
rank r of W gets rows [r*B/W, (r+1)*B/W) of every global batch, computed by index (no rank reads
or preprocesses another's rows). The model is demo/trainer.py's linear model, trained as DDP
does: each rank's gradient over its rows is summed over the ranks with one all_reduce, so every
rank holds the same weights. Rank 0 writes the model's checkpoints; the input hook gathers every
rank's state at a save step (one gather_object) and rank 0 writes ONE file per step holding all
W. On start every rank restores the newest step both saved, whatever W the checkpoint was
written with (a resize): each new rank gets its rows of the global batches after it.

Output: rank 0 prints "STARTED 0" / "RESUMED <step>", "STEP <step> <loss>" and "STATS {...}";
every rank appends "<step> <record ids>" to WORKDIR/delivered.<W>ranks.rank<r>.log.
"""

import argparse
import datetime
import json
import os
import sys
import time

import numpy as np
import torch
import torch.distributed as dist

import inputpipe
import trainer

GLOBAL_BATCH = 48  # divisible by 1, 2, 3, 4, 6 and 8 ranks
LEARNING_RATE = 0.05


def train_step(weights, batch, num_ranks):
    """DDP's step for the linear model: the squared error's gradient over this rank's rows,
    summed over the ranks (all_reduce), scaled by the global batch size. float64, so that the
    weights agree with the single-process run to rounding."""
    _, x, y = batch
    x, y = x.astype(np.float64), y.astype(np.float64)
    error = x @ weights - y
    local = np.concatenate([x.T @ error, [np.sum(error ** 2)]])
    total = torch.from_numpy(local)
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    grad, sum_sq = total[:-1].numpy(), float(total[-1])
    weights = weights - LEARNING_RATE * (2.0 / GLOBAL_BATCH) * grad
    return weights, sum_sq / GLOBAL_BATCH


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("workdir")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--save-steps", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--step-ms", type=float, default=4.0)
    args = parser.parse_args(argv)
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{args.port}", rank=rank,
                            world_size=world, timeout=datetime.timedelta(seconds=120))
    assert inputpipe.distributed.rank_and_world() == (rank, world)

    ckpt_dir = os.path.join(args.workdir, "ckpt")
    os.makedirs(ckpt_dir, exist_ok=True)
    # The global pipeline, then this rank's rows of each global batch (rank and world from the
    # process group), then a prefetch of this rank's batches.
    global_batches = trainer.make_pipeline(os.path.join(args.workdir, "records.csv"), args.seed,
                                           batch=GLOBAL_BATCH, prefetch=False)
    it = iter(global_batches.distribute().prefetch(4))
    # gather='auto' (the default) finds the process group: one file per step for all ranks.
    hook = inputpipe.CheckpointInputPipelineHook(it, ckpt_dir, save_steps=args.save_steps,
                                                 max_to_keep=3)

    weights = np.zeros(trainer.FEATURES + 1, np.float64)
    common = sorted(set(trainer.model_steps(ckpt_dir)) & {s for s, _ in hook.checkpoints()})
    step = 0
    if common:
        restored = hook.restore_for_model_step(common[-1])
        assert restored is not None, "a step both the model and the pipeline saved"
        step = restored
        weights = trainer.load_model(ckpt_dir, step).astype(np.float64)
    if rank == 0:
        print(f"RESUMED {step}" if common else "STARTED 0", flush=True)
    hook.begin(step)
    if step == 0 and rank == 0:
        trainer.save_model(ckpt_dir, 0, weights)

    save_step_seconds = []  # hook.after_step's time at each save step, on this rank
    log_path = os.path.join(args.workdir, f"delivered.{world}ranks.rank{rank}.log")
    with open(log_path, "a") as log:
        while step < args.steps:
            batch = next(it)
            weights, loss = train_step(weights, batch, world)
            time.sleep(args.step_ms / 1000.0)
            step += 1
            log.write(f"{step} {' '.join(map(str, batch[0].tolist()))}\n")
            log.flush()
            if rank == 0 and step % args.save_steps == 0:
                trainer.save_model(ckpt_dir, step, weights)
            started = time.perf_counter()
            hook.after_step(step)  # at a save step: capture, then the gather to rank 0
            if step % args.save_steps == 0:
                save_step_seconds.append(time.perf_counter() - started)
            if rank == 0:
                print(f"STEP {step} {loss:.5f}", flush=True)
    hook.end()
    if rank == 0:
        trainer.save_model(ckpt_dir, step, weights)
        np.save(os.path.join(args.workdir, "final_weights.npy"), weights)
        stats = dict(hook.stats, save_step_seconds=save_step_seconds)
        print("STATS " + json.dumps(stats), flush=True)
    dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
