"""Many ranks: throughput, save and restore of one input checkpoint for W data-parallel ranks.

    .venv/bin/python bench/ranks.py [--ranks 1,2,4] [--records 200000] [--out ranks.md]
    bench/.venv/bin/python bench/suite.py --workloads w      # the same, as the suite's workload w

For each rank count W (default 1, 2 and 4) and each mode, W processes form a torch.distributed
group (gloo on 127.0.0.1) and run one epoch of the same global stream:
  - global-batch mode: from_tensor_slices(float32[N, 32]) -> global shuffle -> map(x * 2 + 1, a
    Python function) -> batch(256) -> distribute(): rank r computes its 256/W rows of each
    global batch by index;
  - sharded-input mode: the same records -> shard(W, r, elastic=True) -> map -> batch(64).
Each rank runs the hook with save_steps=--save-steps (one gather to rank 0 per save step, one
file per step holding every rank's state); the ranks meet at a barrier before each save step,
as DDP's per-step all_reduce makes them, so that a save is not charged for waiting for a slower
rank. Measured per W:
  - throughput: records of the whole group per second (the slowest rank's time), and over W = 1;
  - save: hook.after_step at a save step on the training thread (the state's capture plus the
    gather of the W states; rank 0 then writes on its background thread), median and p99 over
    every save of every rank; the one file's size;
  - restore: on every rank, building the pipeline and the hook, restoring the newest step and
    taking the first batch (slowest rank, median of --restores); and the same from the
    checkpoint of the previous W (a resize: W/2 -> W, the elastic shard's reshard included).
The machine is shared: the numbers are indicative (they say how it scales and what a save
costs, not a peak).
"""

import argparse
import datetime
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
GLOBAL_BATCH = 256
RANK_BATCH = 64  # sharded-input mode
FEATURES = 32


def transform(x):
    return x * 2.0 + 1.0


def pipeline(mode, n, rank, world):
    import numpy as np  # noqa: PLC0415

    import inputpipe  # noqa: PLC0415
    data = np.arange(n * FEATURES, dtype=np.float32).reshape(n, FEATURES)
    records = inputpipe.Dataset.from_tensor_slices(data)
    if mode == "global":
        return (records.shuffle(seed=7).map(transform).batch(GLOBAL_BATCH)
                .distribute(num_ranks=world, rank=rank))
    # A per-rank batch that does not depend on W: a resize keeps the pipeline (and its
    # fingerprint) unchanged.
    return records.shard(world, rank, elastic=True).map(transform).batch(RANK_BATCH)


def rank_main(task):
    """One rank: an epoch with the hook, then the restores. Writes its numbers as JSON."""
    import torch.distributed as dist  # noqa: PLC0415

    import inputpipe  # noqa: PLC0415
    rank, world = task["rank"], task["world"]
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{task['port']}", rank=rank,
                            world_size=world, timeout=datetime.timedelta(seconds=300))
    mode, n, ckpt = task["mode"], task["records"], task["ckpt"]
    out = {"rank": rank}

    it = iter(pipeline(mode, n, rank, world))
    hook = inputpipe.CheckpointInputPipelineHook(it, ckpt, save_steps=task["save_steps"],
                                                 max_to_keep=2)
    hook.begin()
    dist.barrier()
    saves, rows, step = [], 0, 0
    t0 = time.perf_counter()
    # even_out: every rank stops at the same step (an elastic shard's split can leave one rank
    # a batch more), so that the save steps' gathers pair up.
    for batch in inputpipe.distributed.even_out(it):
        rows += len(batch)
        step += 1
        if step % task["save_steps"] == 0:
            # The ranks meet here first, as DDP's gradient all_reduce makes them meet every
            # step: the time below is the save's (capture + gather), not one rank waiting for a
            # slower one (on a loaded machine, tens of ms).
            dist.barrier()
            t = time.perf_counter()
            hook.after_step(step)
            saves.append(time.perf_counter() - t)
        else:
            hook.after_step(step)
        if step == task["steps"]:
            break
    out.update(epoch_s=time.perf_counter() - t0, rows=rows, steps=step, saves=saves)
    hook.flush()
    dist.barrier()

    def restore_once(directory):
        t = time.perf_counter()
        it2 = iter(pipeline(mode, n, rank, world))
        h = inputpipe.CheckpointInputPipelineHook(it2, directory, save_steps=task["save_steps"],
                                                  max_to_keep=2)
        restored = h.begin()
        next(it2)
        elapsed = time.perf_counter() - t
        assert restored is not None, f"rank {rank}: nothing restored from {directory}"
        return elapsed, restored

    out["restore"] = [restore_once(ckpt)[0] for _ in range(task["restores"])]
    if task.get("resize_from"):
        out["resize"] = [restore_once(task["resize_from"])[0] for _ in range(task["restores"])]
    with open(task["result"], "w") as f:
        json.dump(out, f)
    dist.barrier()
    dist.destroy_process_group()


def run_group(mode, world, args, ckpt, resize_from):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    results_dir = tempfile.mkdtemp(prefix="ranks_bench_")
    steps = args.steps or -1  # -1: the whole epoch
    procs = []
    for rank in range(world):
        task = dict(rank=rank, world=world, port=port, mode=mode, records=args.records,
                    ckpt=ckpt, save_steps=args.save_steps, steps=steps, restores=args.restores,
                    resize_from=resize_from,
                    result=os.path.join(results_dir, f"rank{rank}.json"))
        procs.append(subprocess.Popen([sys.executable, os.path.abspath(__file__), "--rank-task",
                                       json.dumps(task)]))
    try:
        codes = [p.wait(timeout=args.timeout) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    if any(codes):
        raise SystemExit(f"ranks.py: {mode} mode on {world} ranks failed: exit codes {codes}")
    ranks = [json.load(open(os.path.join(results_dir, f"rank{r}.json"))) for r in range(world)]
    shutil.rmtree(results_dir, ignore_errors=True)
    files = [f for f in os.listdir(ckpt) if f.startswith("input.ckpt-") and not f.endswith(".tmp")]
    size = max(os.path.getsize(os.path.join(ckpt, f)) for f in files)
    saves = sorted(s for r in ranks for s in r["saves"])
    return dict(
        world=world, mode=mode,
        records_per_s=sum(r["rows"] for r in ranks) / max(r["epoch_s"] for r in ranks),
        save_median_us=1e6 * statistics.median(saves) if saves else float("nan"),
        save_p99_us=1e6 * saves[min(len(saves) - 1, int(0.99 * len(saves)))] if saves else
        float("nan"),
        n_saves=len(saves), file_bytes=size, files_per_step=1 if world == 1 or all(
            ".rank-" not in f for f in files) else world,
        restore_ms=1e3 * statistics.median(max(rs) for rs in zip(*(r["restore"] for r in ranks))),
        resize_ms=(1e3 * statistics.median(max(rs) for rs in zip(*(r["resize"] for r in ranks)))
                   if resize_from else None))


def table(rows):
    base = {r["mode"]: r["records_per_s"] for r in rows if r["world"] == 1}
    md = ["| mode | ranks | records/s (all ranks) | over 1 rank | save step on the training "
          "thread, median / p99 | checkpoint file (one per step) | restore to first batch | "
          "restore from W/2 ranks (resize) |",
          "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        over = r["records_per_s"] / base[r["mode"]] if r["mode"] in base else float("nan")
        resize = f"{r['resize_ms']:.1f} ms" if r["resize_ms"] is not None else "-"
        md.append(f"| {r['mode']} | {r['world']} | {r['records_per_s']:,.0f} | {over:.2f}x | "
                  f"{r['save_median_us']:.0f} / {r['save_p99_us']:.0f} us ({r['n_saves']} saves) | "
                  f"{r['file_bytes']:,} B | {r['restore_ms']:.1f} ms | {resize} |")
    return "\n".join(md)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ranks", default="1,2,4")
    ap.add_argument("--modes", default="global,sharded")
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--steps", type=int, default=0, help="at most this many steps (0: an epoch)")
    ap.add_argument("--save-steps", type=int, default=10)
    ap.add_argument("--restores", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--out", help="also write the table (markdown) here")
    ap.add_argument("--rank-task", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rank_task:
        rank_main(json.loads(args.rank_task))
        return 0
    try:
        import torch  # noqa: F401, PLC0415
    except ImportError:
        print("ranks.py: torch is not installed (torch.distributed, gloo); nothing to measure")
        return 0
    worlds = [int(w) for w in args.ranks.split(",")]
    for w in worlds:
        if GLOBAL_BATCH % w:
            ap.error(f"--ranks: {w} does not divide the global batch of {GLOBAL_BATCH}")
    root = tempfile.mkdtemp(prefix="ranks_bench_ckpt_")
    rows = []
    started = datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M")
    t0 = time.time()
    try:
        for mode in args.modes.split(","):
            previous = None
            for w in worlds:
                ckpt = os.path.join(root, f"{mode}-{w}")
                row = run_group(mode, w, args, ckpt, previous)
                rows.append(row)
                print(f"ranks.py: {mode} W={w}: {row['records_per_s']:,.0f} records/s, save "
                      f"{row['save_median_us']:.0f} us, restore {row['restore_ms']:.1f} ms",
                      flush=True)
                previous = ckpt
    finally:
        shutil.rmtree(root, ignore_errors=True)
    load = os.getloadavg()[0]
    body = (f"{started} UTC, {args.records:,} records of float32[{FEATURES}], global batch "
            f"{GLOBAL_BATCH}, save every {args.save_steps} steps, {os.cpu_count()} cores, load "
            f"average {load:.1f} at the end, {time.time() - t0:.0f} s; torch.distributed gloo "
            f"on 127.0.0.1, every rank a process.\n\n" + table(rows))
    print("\n" + body)
    if args.out:
        with open(args.out, "w") as f:
            f.write(body + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
