"""inputpipe's demo: a training job is killed with SIGKILL at a random step, restarted, and
continues exactly where its last checkpoint left it — no record lost, none repeated.

    bash tools/demo.sh                 # installs everything, then runs this
    .venv/bin/python demo/run_demo.py [--steps 300] [--save-steps 20] [--seed N] [--workdir DIR]
    bash tools/demo.sh --ranks 2       # on 2 torch.distributed ranks, resumed on 3 (ranks_demo.py)

What it does:
  1. writes a CSV data set (2,400 records: id, four features, a label);
  2. trains demo/trainer.py's numpy linear model once without interruption (the reference);
  3. trains again from scratch, SIGKILLs the trainer at a random step, copies its data and
     checkpoints to another directory (new paths, new modification times: a job restarted on
     another node) and restarts it there: the restarted job restores its model and its input
     pipeline (global shuffle, parallel map, batch, prefetch) from the checkpoints saved every
     --save-steps steps;
  4. prints the evidence: the step it resumed from, the checkpoint sizes, the time each save
     cost the training loop, and a record-by-record comparison with the reference run.
Needs only numpy and inputpipe.
"""

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
TRAINER = os.path.join(HERE, "trainer.py")
NUM_RECORDS = 2400


def write_csv(path, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(NUM_RECORDS, 4)).astype(np.float32)
    true_w = np.array([1.5, -2.0, 0.5, 3.0], np.float32)
    y = x @ true_w / 4.0 + 0.7 + rng.normal(scale=0.05, size=NUM_RECORDS)
    with open(path, "w") as f:
        f.write("id,x0,x1,x2,x3,label\n")
        for i in range(NUM_RECORDS):
            f.write(f"{i}," + ",".join(f"{v:.6f}" for v in x[i]) + f",{y[i]:.6f}\n")


def progress(step, total, note=""):
    """A bar redrawn in place on a terminal; a line every 50 steps in a log."""
    if sys.stdout.isatty():
        width = 40
        done = int(width * step / total)
        sys.stdout.write(f"\r    [{'#' * done}{'.' * (width - done)}] step {step:4d}/{total} {note:<28}")
        sys.stdout.flush()
    elif step % 50 == 0 or step == total:
        print(f"    step {step:4d}/{total} {note}", flush=True)


def relay(lines, args, kill_at, kill):
    """Reads a trainer's report lines (STARTED / RESUMED step, STEP step loss, STATS json),
    relaying its progress; calls kill() and stops once it reports step `kill_at`.
    Returns (how it started, last step reported, its STATS dict or None, killed?)."""
    started, step, stats = None, 0, None
    for line in lines:
        kind, _, rest = line.strip().partition(" ")
        if kind in ("STARTED", "RESUMED"):
            started = (kind, int(rest))
            step = int(rest)
        elif kind == "STEP":
            step = int(rest.split()[0])
            if step % 5 == 0 or step == args.steps:
                progress(step, args.steps, f"loss {float(rest.split()[1]):.4f}")
            if kill_at is not None and step >= kill_at:
                kill()
                return started, step, stats, True
        elif kind == "STATS":
            stats = json.loads(rest)
    return started, step, stats, False


def run_trainer(workdir, args, kill_at=None):
    """Runs the trainer, relaying its progress; SIGKILLs it once it reports step `kill_at`.
    Returns (how it started, last step reported, its STATS dict or None, killed?)."""
    cmd = [sys.executable, TRAINER, workdir, "--steps", str(args.steps),
           "--save-steps", str(args.save_steps)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, bufsize=1)
    assert proc.stdout is not None  # stdout=PIPE
    started, step, stats, killed = relay(proc.stdout, args, kill_at,
                                         lambda: proc.send_signal(signal.SIGKILL))
    proc.wait()
    if sys.stdout.isatty():
        print()
    if not killed and proc.returncode != 0:
        raise SystemExit(f"trainer failed with exit code {proc.returncode}")
    return started, step, stats, killed


def final_timeline(log_path):
    """step -> record ids, the last delivery of each step winning (a restart replays the steps
    after its checkpoint, as the model does); also the replays that differed (must be none)."""
    records: dict[int, list[str]] = {}
    replay_mismatches = []
    with open(log_path) as f:
        for line in f:
            first, *ids = line.split()
            step = int(first)
            if step in records and records[step] != ids:
                replay_mismatches.append(step)
            records[step] = ids
    return records, replay_mismatches


def human(n):
    return f"{n} B" if n < 1024 else f"{n / 1024:.1f} KiB" if n < 1 << 20 else f"{n / (1 << 20):.1f} MiB"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=None,
                        help="default 300 (200 with --ranks: 4 epochs of global batches of 48)")
    parser.add_argument("--save-steps", type=int, default=20)
    parser.add_argument("--seed", type=int, default=None, help="picks the kill step (default: random)")
    parser.add_argument("--workdir", default=None, help="kept afterwards when given")
    parser.add_argument("--ranks", type=int, default=None,
                        help="run W torch.distributed ranks, pre-empt them all, resume on "
                             "--resume-ranks ranks (demo/ranks_demo.py)")
    parser.add_argument("--resume-ranks", type=int, default=None,
                        help="the rank count of the restart (default: another, e.g. 2 -> 3)")
    args = parser.parse_args()
    if args.ranks is not None:
        import ranks_demo  # noqa: PLC0415 (this directory; needs torch)
        return ranks_demo.main(args)
    if args.resume_ranks is not None:
        parser.error("--resume-ranks goes with --ranks")
    if args.steps is None:
        args.steps = 300
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    root = args.workdir or tempfile.mkdtemp(prefix="inputpipe_demo_")
    os.makedirs(root, exist_ok=True)
    reference_dir, run_dir = os.path.join(root, "reference"), os.path.join(root, "interrupted")
    for d in (reference_dir, run_dir):
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)

    print("inputpipe demo: kill a training job mid-run, restart it, check every record\n")
    csv_path = os.path.join(reference_dir, "records.csv")
    write_csv(csv_path, seed=2026)
    shutil.copy(csv_path, os.path.join(run_dir, "records.csv"))
    print(f"1. data set: {NUM_RECORDS} records in {csv_path} ({human(os.path.getsize(csv_path))})")
    print("   pipeline: CsvDataset (indexed, random-access) -> global shuffle (seed 7) -> repeat(4)"
          " -> parallel map (4 threads)\n             -> random augmentation (map with seed 7, 2 threads)"
          " -> batch(32) -> prefetch(4)")
    print(f"   training: {args.steps} steps, model and input checkpoints every {args.save_steps} steps\n")

    print("2. uninterrupted reference run")
    run_trainer(reference_dir, args)

    kill_at = rng.randint(args.save_steps + 1, args.steps - 2)
    print(f"\n3. the same job, SIGKILLed at step {kill_at} (chosen at random; --seed {seed} repeats it)")
    t0 = time.time()
    _, last_step, _, killed = run_trainer(run_dir, args, kill_at=kill_at)
    assert killed, "the trainer finished before the kill"
    ckpt_dir = os.path.join(run_dir, "ckpt")
    on_disk = sorted(os.listdir(ckpt_dir),
                     key=lambda n: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", n)])
    print(f"   killed at step {last_step}. Left in {ckpt_dir}:")
    for name in on_disk:
        note = ("  <- being written when the kill came: ignored, removed on restart"
                if name.endswith(".tmp") else "")
        print(f"     {name:<26} {human(os.path.getsize(os.path.join(ckpt_dir, name))):>8}{note}")

    # Restarted elsewhere, as after a pre-emption: the same bytes under other paths and mtimes.
    # The readers identify files by content, so the input checkpoint restores.
    moved_dir = os.path.join(root, "restarted_elsewhere")
    shutil.rmtree(moved_dir, ignore_errors=True)
    shutil.copytree(run_dir, moved_dir, copy_function=shutil.copy)  # copy: new mtimes
    run_dir, ckpt_dir = moved_dir, os.path.join(moved_dir, "ckpt")
    print(f"\n   restarting the job from a copy of its data and checkpoints in {moved_dir}")
    started, _, stats, _ = run_trainer(run_dir, args)
    elapsed = time.time() - t0
    kind, resumed = started
    assert kind == "RESUMED", "the restarted job did not find its checkpoints"

    print("\n4. evidence")
    lost = last_step - resumed
    print(f"   resumed from step {resumed} (killed at step {last_step}: the {lost} step{'s' * (lost != 1)} after "
          "the last common checkpoint trained again, as the model was restored to that step too)")
    input_ckpts = [n for n in os.listdir(ckpt_dir) if n.startswith("input.ckpt-")]
    model_ckpts = [n for n in os.listdir(ckpt_dir) if n.startswith("model.ckpt-")]
    input_size = max(os.path.getsize(os.path.join(ckpt_dir, n)) for n in input_ckpts)
    model_size = max(os.path.getsize(os.path.join(ckpt_dir, n)) for n in model_ckpts)
    print(f"   input checkpoint size: {human(input_size)} (a position: CSV file fingerprint and record "
          "index, shuffle seed, epoch, parallel map and prefetch positions — no records), model checkpoint "
          f"{human(model_size)}, data set {human(os.path.getsize(csv_path))}")
    saves = max(stats["saves_captured"], 1)
    print(f"   time per save on the training thread: mean {1e6 * stats['total_capture_seconds'] / saves:.0f} us, "
          f"max {1e6 * stats['max_capture_seconds']:.0f} us over {stats['saves_captured']} saves "
          f"(the file writes and fsyncs ran on the hook's background thread: "
          f"{1e3 * stats['total_write_seconds'] / max(stats['saves_committed'], 1):.2f} ms each)")

    reference, _ = final_timeline(os.path.join(reference_dir, "delivered.log"))
    interrupted, replay_mismatches = final_timeline(os.path.join(run_dir, "delivered.log"))
    ref_stream = [r for s in sorted(reference) for r in reference[s]]
    run_stream = [r for s in sorted(interrupted) for r in interrupted[s]]
    same = (sorted(interrupted) == list(range(1, args.steps + 1)) and run_stream == ref_stream
            and not replay_mismatches)
    counts: dict[str, int] = {}
    for r in run_stream:
        counts[r] = counts.get(r, 0) + 1
    expected_each = len(ref_stream) // NUM_RECORDS
    wrong = sum(1 for r in map(str, range(NUM_RECORDS)) if counts.get(r, 0) != expected_each)
    same_weights = np.array_equal(np.load(os.path.join(reference_dir, "final_weights.npy")),
                                  np.load(os.path.join(run_dir, "final_weights.npy")))
    print(f"   records delivered across the interruption: {len(run_stream)}, in the same order as the "
          f"uninterrupted run: {'yes' if run_stream == ref_stream else 'NO'}")
    print(f"   each of the {NUM_RECORDS} records seen exactly {expected_each} times (once per epoch): "
          f"{'yes' if wrong == 0 else f'NO ({wrong} records off)'}; replayed steps identical: "
          f"{'yes' if not replay_mismatches else 'NO'}")
    print(f"   final model weights bit-identical to the uninterrupted run: {'yes' if same_weights else 'NO'}")
    print(f"   (interrupted run + restart took {elapsed:.1f} s"
          + (f"; files kept in {root})" if args.workdir else ")"))
    if same and wrong == 0 and same_weights:
        print("\nOK: none lost, none repeated.")
        if args.workdir is None:
            shutil.rmtree(root, ignore_errors=True)
        return 0
    print("\nFAILED: the interrupted run differs from the uninterrupted one.")
    return 1


if __name__ == "__main__":
    sys.exit(main())
