#!/usr/bin/env python3
"""Kill campaign: SIGKILL a training process at N random moments, restart it, and check that
every record was delivered exactly once (docs/reliability.md).

    .venv/bin/python tools/kill_campaign.py                 # the full campaign: 200 kills
    .venv/bin/python tools/kill_campaign.py --kills 20      # what CI runs (test_reliability_kill.py)

The trainer (this file, run with --worker) reads TFRecord files through interleave (parallel),
a buffered shuffle, a parallel map and batch + prefetch, and saves its position with
CheckpointInputPipelineHook every --save-steps steps. It logs, flushed before the hook sees the
step:
    R <step>              restarted from <step> (0: a fresh start)
    S <step> <ids...>     the record ids of training step <step>
    C <step>              a save of <step> was captured (its background write may be running)
    D <step>              the hook reported the save of <step> durable
    DONE                  the epoch ended cleanly
The driver kills the trainer after a random number of steps plus a random sub-step delay, so
kills land anywhere: inside GetNext, between a capture and its durable write ("during a save"),
in the middle of a log line. When an epoch ends before the kills are spent, the next epoch
starts in a fresh directory. Each epoch is checked:
  - every restart resumes at a save step (or the last step, saved by hook.end()), never before the last step reported durable, and
    never after the last step trained;
  - a step replayed after a restart has exactly the records it had before the kill;
  - over the epoch's final timeline every record id appears exactly once, none missing.
Prints: kills survived (how many landed before the last captured save was reported durable, and
how many left a half-written temporary file: killed inside the write itself), restarts, records checked, lost,
duplicated. Exits non-zero on any violation.
"""

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

BATCH = 8


# ---- The trainer ---------------------------------------------------------------------------
def make_dataset(files):
    import inputpipe

    return (inputpipe.Dataset.from_tensor_slices(files)
            .interleave(lambda f: inputpipe.TFRecordDataset(f), cycle_length=3, block_length=2,
                        num_parallel_calls=2)
            .shuffle(64, seed=2026)
            .map(lambda record: int(record), num_parallel_calls=2)
            .batch(BATCH)
            .prefetch(2))


def worker(data_dir, ckpt_dir, log_path, save_steps, step_sleep):
    import inputpipe

    files = sorted(os.path.join(data_dir, f) for f in os.listdir(data_dir))
    it = iter(make_dataset(files))
    hook = inputpipe.CheckpointInputPipelineHook(it, ckpt_dir, save_steps=save_steps, max_to_keep=3)
    step = hook.begin() or 0
    durable = hook.stats["last_committed_step"]
    with open(log_path, "a") as log:
        def write(line):
            log.write(line + "\n")
            log.flush()

        write(f"R {step}")
        for batch in it:
            time.sleep(step_sleep)  # the "model"
            step += 1
            write(f"S {step} " + " ".join(str(int(v)) for v in batch))
            hook.after_step(step)
            stats = hook.stats
            if stats["last_captured_step"] == step:
                write(f"C {step}")
            if stats["last_committed_step"] > durable:
                durable = stats["last_committed_step"]
                write(f"D {durable}")
        hook.end()
        write(f"D {hook.stats['last_committed_step']}")
        write("DONE")


# ---- The driver ----------------------------------------------------------------------------
def write_data(data_dir, records, files):
    import inputpipe

    os.makedirs(data_dir, exist_ok=True)
    for f in range(files):
        writer = inputpipe.TFRecordWriter(os.path.join(data_dir, f"part-{f:03d}.tfrecord"))
        for i in range(f, records, files):
            writer.write(str(i))
        writer.close()


def count_lines(path):
    try:
        with open(path, "rb") as f:
            return f.read().count(b"\n")
    except FileNotFoundError:
        return 0


def truncate_partial_line(path):
    """A kill can land in the middle of a log line: cut it, so the next run starts a new one."""
    with open(path, "rb+") as f:
        data = f.read()
        end = data.rfind(b"\n") + 1
        f.truncate(end)


class Violation(Exception):
    pass


def check_epoch(log_path, records, save_steps):
    """Replays one epoch's log (see the module docstring). Returns (restarts, kills during a
    save) and raises Violation on the first problem."""
    total_steps = -(-records // BATCH)
    timeline = {}       # step -> ids, the final timeline
    last_step = 0       # the last step trained
    durable = -1        # the last step reported durable
    captured = -1
    restarts = 0
    done = False
    with open(log_path) as f:
        lines = f.read().splitlines()
    for n, line in enumerate(lines):
        kind, *rest = line.split()
        if kind == "R":
            step = int(rest[0])
            # Saves are every save_steps steps, plus hook.end()'s at the epoch's last step.
            if step % save_steps != 0 and step != total_steps:
                raise Violation(f"line {n}: resumed at {step}, not a save step")
            if step < durable:
                raise Violation(f"line {n}: resumed at {step}, but step {durable} was reported durable")
            if step > last_step:
                raise Violation(f"line {n}: resumed at {step}, after only {last_step} steps trained")
            restarts += 1
            last_step = step
        elif kind == "S":
            step, ids = int(rest[0]), [int(v) for v in rest[1:]]
            if step != last_step + 1:
                raise Violation(f"line {n}: step {step} after step {last_step}")
            if step in timeline and timeline[step] != ids:
                raise Violation(f"line {n}: step {step} replayed with other records: "
                                f"{timeline[step]} then {ids}")
            timeline[step] = ids
            last_step = step
        elif kind == "C":
            captured = int(rest[0])
        elif kind == "D":
            durable = max(durable, int(rest[0]))
        elif kind == "DONE":
            done = True
    if not done:
        raise Violation("the epoch did not end")
    seen = {}
    for step in range(1, last_step + 1):
        for i in timeline.get(step, []):
            seen[i] = seen.get(i, 0) + 1
    duplicated = sorted(i for i, c in seen.items() if c > 1)
    missing = sorted(set(range(records)) - set(seen))
    if duplicated or missing or max(timeline) != last_step:
        raise Violation(f"records duplicated: {duplicated[:10]} ({len(duplicated)}), "
                        f"missing: {missing[:10]} ({len(missing)})")
    return restarts - 1, sum(1 for _ in seen)


def run_campaign(kills, records, files, save_steps, seed, workdir, step_sleep, max_steps_between,
                 quiet=False):
    rng = random.Random(seed)
    script = os.path.abspath(__file__)
    data_dir = os.path.join(workdir, "data")
    write_data(data_dir, records, files)
    totals = dict(kills=0, kills_during_save=0, kills_mid_write=0, restarts=0, records_checked=0, epochs=0,
                  lost=0, duplicated=0)
    epoch = 0
    start = time.time()
    while totals["kills"] < kills:
        epoch += 1
        ckpt = os.path.join(workdir, f"epoch-{epoch}", "ckpt")
        log = os.path.join(workdir, f"epoch-{epoch}", "log")
        os.makedirs(os.path.dirname(log), exist_ok=True)
        while True:
            before = count_lines(log)
            proc = subprocess.Popen(
                [sys.executable, script, "--worker", data_dir, ckpt, log, str(save_steps),
                 str(step_sleep)], stderr=subprocess.PIPE)
            if totals["kills"] >= kills:
                target = None  # kills spent: let this run finish the epoch
            else:
                target = before + 1 + rng.randint(0, max_steps_between)
            while proc.poll() is None and (target is None or count_lines(log) < target):
                time.sleep(0.0005)
            if proc.poll() is None:
                time.sleep(rng.random() * step_sleep * 2)  # anywhere inside a step
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                if proc.returncode != -signal.SIGKILL:  # it ended just before the kill
                    pass
                else:
                    totals["kills"] += 1
                    with open(log) as f:
                        tail = [l.split() for l in f.read().splitlines() if l[:1] in ("C", "D")]
                    c = max([int(l[1]) for l in tail if l[0] == "C"], default=-1)
                    d = max([int(l[1]) for l in tail if l[0] == "D"], default=-1)
                    if c > d:
                        totals["kills_during_save"] += 1
                    if os.path.isdir(ckpt) and any(n.endswith(".tmp") for n in os.listdir(ckpt)):
                        totals["kills_mid_write"] += 1
                    truncate_partial_line(log)
                    continue
            stderr = proc.stderr.read().decode(errors="replace")
            if proc.returncode != 0:
                raise Violation(f"epoch {epoch}: the trainer failed (exit {proc.returncode}):\n{stderr}")
            break
        restarts, checked = check_epoch(log, records, save_steps)
        totals["restarts"] += restarts
        totals["records_checked"] += checked
        totals["epochs"] += 1
        if not quiet:
            print(f"epoch {epoch}: {restarts} restarts, {checked} records each delivered once "
                  f"({totals['kills']}/{kills} kills, {time.time() - start:.0f} s)", flush=True)
    return totals


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--worker":
        data_dir, ckpt, log, save_steps, step_sleep = argv[1:6]
        worker(data_dir, ckpt, log, int(save_steps), float(step_sleep))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=200, help="SIGKILLs to survive (default 200)")
    parser.add_argument("--records", type=int, default=4000, help="records per epoch")
    parser.add_argument("--files", type=int, default=7, help="TFRecord files")
    parser.add_argument("--save-steps", type=int, default=3)
    parser.add_argument("--max-steps-between", type=int, default=30,
                        help="a kill lands after 1..N+1 logged lines of a run")
    parser.add_argument("--step-sleep", type=float, default=0.001, help="seconds per model step")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--workdir", default=None, help="kept when given; else a temporary one")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    workdir = args.workdir or tempfile.mkdtemp(prefix="inputpipe_kills_")
    print(f"kill campaign: {args.kills} kills, seed {seed}, in {workdir}", flush=True)
    try:
        totals = run_campaign(args.kills, args.records, args.files, args.save_steps, seed, workdir,
                              args.step_sleep, args.max_steps_between)
    except Violation as e:
        print(f"FAILED (seed {seed}, kept {workdir}): {e}", file=sys.stderr)
        return 1
    print(f"kills survived: {totals['kills']} ({totals['kills_during_save']} before the last "
          f"captured save was reported durable, {totals['kills_mid_write']} left a half-written "
          f"temporary file), "
          f"restarts: {totals['restarts']}, epochs: {totals['epochs']}, records checked: "
          f"{totals['records_checked']}, lost: 0, duplicated: 0")
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
