"""run_demo.py --ranks W: the demo on W data-parallel ranks, pre-empted, resumed on W' ranks.

    .venv/bin/python demo/run_demo.py --ranks 2 [--resume-ranks 3] [--steps 200] [--seed N]

What it does:
  1. writes the demo's CSV data set and computes the reference in this process: the global
     batches of the single-process pipeline (GLOBAL_BATCH rows each) and the model trained on
     them;
  2. starts W processes of demo/rank_trainer.py, a real torch.distributed group (gloo on
     127.0.0.1): each takes its rows of every global batch through .distribute(), the gradient
     is all_reduced, the input hook gathers the W states into one checkpoint file per step;
  3. SIGKILLs every rank at a random step (a pre-emption), copies the data and checkpoints
     elsewhere, and restarts the job on W' ranks (default: another count that divides the
     global batch, e.g. 2 -> 3): every new rank restores its part of the W-rank checkpoint;
  4. prints the evidence: per step, the union of the ranks' rows against the single-process
     global batch; every record seen once per epoch; the checkpoint files (one per step, W
     states in each); the save step's cost on the training thread, gather included.
Needs numpy, torch and inputpipe (tools/demo.sh --ranks W installs torch).
"""

import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np

import run_demo

HERE = os.path.dirname(os.path.abspath(__file__))
RANK_TRAINER = os.path.join(HERE, "rank_trainer.py")
GLOBAL_BATCH = 48  # rank_trainer.GLOBAL_BATCH (not imported: that imports torch)
RANK_COUNTS = [w for w in range(1, 9) if GLOBAL_BATCH % w == 0]  # 1, 2, 3, 4, 6, 8


def default_resume_ranks(world):
    """Another rank count dividing the global batch: the next larger one (2 -> 3), else the
    next smaller."""
    larger = [w for w in RANK_COUNTS if w > world]
    return larger[0] if larger else max(w for w in RANK_COUNTS if w < world)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def reference_run(csv_path, steps):
    """The single-process run: record ids of every global batch, and the weights that
    rank_trainer's update reaches on them (the same float64 formula over the whole batch)."""
    import trainer  # noqa: PLC0415 (imports inputpipe)
    weights = np.zeros(trainer.FEATURES + 1, np.float64)
    batches = []
    for step, (ids, x, y) in enumerate(trainer.make_pipeline(csv_path, 7, batch=GLOBAL_BATCH,
                                                             prefetch=False)):
        if step == steps:
            break
        batches.append([str(i) for i in ids.tolist()])
        x, y = x.astype(np.float64), y.astype(np.float64)
        error = x @ weights - y
        weights = weights - 0.05 * (2.0 / GLOBAL_BATCH) * (x.T @ error)
    return batches, weights


def run_ranks(workdir, world, args, kill_at=None):
    """Runs `world` ranks, relaying rank 0's progress; SIGKILLs every rank once rank 0 reports
    step `kill_at`. Returns (how it started, last step reported, rank 0's STATS or None)."""
    port = free_port()
    procs = []
    for rank in range(world):
        env = dict(os.environ, RANK=str(rank), WORLD_SIZE=str(world))
        cmd = [sys.executable, RANK_TRAINER, workdir, "--port", str(port), "--steps",
               str(args.steps), "--save-steps", str(args.save_steps)]
        procs.append(subprocess.Popen(cmd, env=env, text=True, bufsize=1,
                                      stdout=subprocess.PIPE if rank == 0 else subprocess.DEVNULL))
    killed = False
    try:
        assert procs[0].stdout is not None  # stdout=PIPE

        def kill_all():  # every rank at once, as a pre-emption does
            for p in procs:
                p.send_signal(signal.SIGKILL)

        started, step, stats, killed = run_demo.relay(procs[0].stdout, args, kill_at, kill_all)
        for p in procs:
            p.wait(timeout=None if killed else 180)
    finally:
        for p in procs:  # a rank left waiting in a collective when another failed
            if p.poll() is None:
                p.kill()
                p.wait()
    if sys.stdout.isatty():
        print()
    if not killed and any(p.returncode != 0 for p in procs):
        codes = [p.returncode for p in procs]
        raise SystemExit(f"a rank failed: exit codes by rank {codes}")
    return started, step, stats


def ranks_in_file(path):
    """The rank count of a checkpoint file of several ranks (version 3, src/hook/
    checkpoint_file.h): "IPCK" | version | body length | body = step | rank count | ..."""
    data = open(path, "rb").read()

    def varint(pos):
        value, shift = 0, 0
        while True:
            byte = data[pos]
            value |= (byte & 0x7F) << shift
            pos += 1
            shift += 7
            if byte < 0x80:
                return value, pos

    version, pos = varint(4)
    if data[:4] != b"IPCK" or version != 3:
        return 1
    _, pos = varint(pos)  # body length
    _, pos = varint(pos)  # step
    return varint(pos)[0]


def read_logs(workdir, world):
    """step -> {rank: record ids} of one run's ranks, the last delivery of each step winning;
    and the steps a rank delivered twice with other records (replays must be identical)."""
    by_step: dict[int, dict[int, list[str]]] = {}
    mismatches = []
    for rank in range(world):
        path = os.path.join(workdir, f"delivered.{world}ranks.rank{rank}.log")
        if not os.path.exists(path):
            continue
        with open(path) as f:
            for line in f:
                first, *ids = line.split()
                step = int(first)
                seen = by_step.setdefault(step, {})
                if rank in seen and seen[rank] != ids:
                    mismatches.append((world, rank, step))
                seen[rank] = ids
    return by_step, mismatches


def main(args):
    world = args.ranks
    resume = args.resume_ranks if args.resume_ranks is not None else default_resume_ranks(world)
    for w in (world, resume):
        if w < 1 or GLOBAL_BATCH % w:
            raise SystemExit(f"--ranks/--resume-ranks {w}: the global batch of {GLOBAL_BATCH} rows "
                             f"must divide evenly over the ranks (use one of {RANK_COUNTS})")
    try:
        import torch  # noqa: F401
    except ImportError:
        raise SystemExit("--ranks needs torch (torch.distributed with gloo): "
                         "bash tools/demo.sh --ranks W installs it") from None
    steps_per_run = 4 * run_demo.NUM_RECORDS // GLOBAL_BATCH
    if args.steps is None:
        args.steps = steps_per_run
    if not 2 * args.save_steps < args.steps <= steps_per_run:
        raise SystemExit(f"--steps must be in ({2 * args.save_steps}, {steps_per_run}] with "
                         f"--ranks (4 epochs of {run_demo.NUM_RECORDS} records, "
                         f"{GLOBAL_BATCH} a step)")
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    root = args.workdir or tempfile.mkdtemp(prefix="inputpipe_demo_ranks_")
    run_dir = os.path.join(root, "interrupted")
    moved_dir = os.path.join(root, "restarted_elsewhere")
    for d in (run_dir, moved_dir):
        shutil.rmtree(d, ignore_errors=True)
    os.makedirs(run_dir)

    print(f"inputpipe demo on {world} ranks: pre-empt a data-parallel job, resume it on {resume} "
          "ranks, check every record\n")
    csv_path = os.path.join(run_dir, "records.csv")
    run_demo.write_csv(csv_path, seed=2026)
    print(f"1. data set: {run_demo.NUM_RECORDS} records "
          f"({run_demo.human(os.path.getsize(csv_path))}); the demo's pipeline with a global batch "
          f"of {GLOBAL_BATCH},\n   then .distribute(): rank r of W computes only rows "
          f"[r*{GLOBAL_BATCH}/W, (r+1)*{GLOBAL_BATCH}/W) of every global batch, by index")
    print(f"   reference: the single-process pipeline's {args.steps} global batches, computed here")
    reference, reference_weights = reference_run(csv_path, args.steps)

    kill_at = rng.randint(args.save_steps + 1, args.steps - 2)
    print(f"\n2. {world} ranks (torch.distributed, gloo on 127.0.0.1), SIGKILLed together at step "
          f"{kill_at} (chosen at random; --seed {seed} repeats it)")
    t0 = time.time()
    _, last_step, _ = run_ranks(run_dir, world, args, kill_at=kill_at)
    ckpt_dir = os.path.join(run_dir, "ckpt")
    on_disk = sorted(os.listdir(ckpt_dir),
                     key=lambda n: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", n)])
    print(f"   killed at step {last_step}. Left in {ckpt_dir}:")
    for name in on_disk:
        path = os.path.join(ckpt_dir, name)
        note = ""
        if name.endswith(".tmp"):
            note = "  <- being written when the kill came: ignored, removed on restart"
        elif name.startswith("input.ckpt-"):
            note = f"  <- one file, the states of all {ranks_in_file(path)} ranks"
        print(f"     {name:<26} {run_demo.human(os.path.getsize(path)):>8}{note}")

    shutil.copytree(run_dir, moved_dir, copy_function=shutil.copy)  # new paths, new mtimes
    print(f"\n3. the job restarted on {resume} ranks from a copy in {moved_dir}")
    started, _, stats = run_ranks(moved_dir, resume, args)
    elapsed = time.time() - t0
    assert started is not None and started[0] == "RESUMED", "the restarted job found no checkpoint"
    resumed = started[1]

    print("\n4. evidence")
    print(f"   resumed from step {resumed} on {resume} ranks (the checkpoint of {world} ranks; "
          f"killed "
          f"at step {last_step}, the steps after {resumed} trained again, as the model restored "
          "there too)")
    first, mismatches_a = read_logs(moved_dir, world)
    second, mismatches_b = read_logs(moved_dir, resume)
    # step -> the union of the ranks' rows, in rank order; the restart wins
    timeline: dict[int, list[str]] = {}
    for runs_world, by_step in ((world, first), (resume, second)):
        for step, by_rank in by_step.items():
            if sorted(by_rank) != list(range(runs_world)):
                continue  # a step some rank had not finished when the kill came: replayed
            union: list[str] = sum((by_rank[r] for r in range(runs_world)), [])
            if step in timeline and timeline[step] != union:
                mismatches_a.append(("replay", step))
            timeline[step] = union
    steps_ok = sorted(timeline) == list(range(1, args.steps + 1))
    union_ok = steps_ok and all(timeline[s] == reference[s - 1] for s in timeline)
    print(f"   steps 1..{args.steps}: the union of the ranks' rows equals the single-process "
          f"global batch at every step: {'yes' if union_ok else 'NO'}")
    stream = [r for s in sorted(timeline) for r in timeline[s]]
    counts: dict[str, int] = {}
    for r in stream:
        counts[r] = counts.get(r, 0) + 1
    epochs = args.steps * GLOBAL_BATCH / run_demo.NUM_RECORDS
    full = args.steps == steps_per_run
    wrong = (sum(1 for r in map(str, range(run_demo.NUM_RECORDS)) if counts.get(r, 0) != 4)
             if full else 0)
    if full:
        print(f"   each of the {run_demo.NUM_RECORDS} records seen exactly 4 times (once per "
              f"epoch) over both runs: {'yes' if wrong == 0 else f'NO ({wrong} records off)'}")
    else:
        print(f"   records delivered: {len(stream)} ({epochs:.2f} epochs), duplicates within an "
              f"epoch: none (the union equals the reference)")
    replays_ok = not mismatches_a and not mismatches_b
    print(f"   steps replayed after the restore identical to their first delivery: "
          f"{'yes' if replays_ok else 'NO'}")
    weights = np.load(os.path.join(moved_dir, "final_weights.npy"))
    diff = float(np.max(np.abs(weights - reference_weights)))
    print(f"   final weights against the single-process run: max difference {diff:.1e} (the ranks "
          "sum their gradients in another order)")
    if stats is not None and stats.get("save_step_seconds"):
        us = [1e6 * t for t in stats["save_step_seconds"]]
        print(f"   save step on rank 0's training thread (capture + gather of {resume} states): "
              f"median {sorted(us)[len(us) // 2]:.0f} us, max {max(us):.0f} us over {len(us)} "
              "saves")
    print(f"   (pre-empted run + restart took {elapsed:.1f} s"
          + (f"; files kept in {root})" if args.workdir else ")"))
    if union_ok and wrong == 0 and replays_ok and diff < 1e-9:
        print("\nOK: none lost, none repeated, across the resize.")
        if args.workdir is None:
            shutil.rmtree(root, ignore_errors=True)
        return 0
    print("\nFAILED: the resumed run differs from the single-process one.")
    return 1
