"""Kill test: a training loop (hook_trainer.py) SIGKILLed at random moments, some during saves,
restarted each time. Every restart must resume from a valid checkpoint, and the records
delivered over the whole run, step by step, must equal an uninterrupted run: none lost, none
repeated, replayed steps identical.

CI runs 50 kills (about half a minute). The full campaign is one command:

    INPUTPIPE_KILLS=200 .venv/bin/python -m pytest -q -s tests/python/test_hook_kill.py
"""

import os
import random
import signal
import subprocess
import sys
import time

import hook_trainer

HERE = os.path.dirname(os.path.abspath(__file__))
KILLS = int(os.environ.get("INPUTPIPE_KILLS", "50"))
SAVE_STEPS = 3


def _start(ckpt, log, total_steps):
    env = dict(os.environ, PYTHONPATH=HERE + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen(
        [sys.executable, "-c", "import hook_trainer; hook_trainer.main()", str(ckpt), str(log),
         str(total_steps), str(SAVE_STEPS)],
        env=env, stderr=subprocess.PIPE)


def _wait_for_steps(proc, log, offset, steps):
    """Waits until this run logged its restart line and `steps` steps after it. Returns False
    if the run ended first."""
    seen = -1  # the restart line counts as step 0 of this run
    while seen < steps:
        if proc.poll() is not None:
            return False
        with open(log, "rb") as f:
            f.seek(offset)
            data = f.read()
        seen = data.count(b"\n") - 1
        time.sleep(0.0005)
    return True


def _check_log(log, total_steps):
    """Replays the log; returns (per-step records of the final timeline, restart steps)."""
    records: dict[int, list[str]] = {}
    restarts: list[int] = []
    current: int | None = None
    with open(log) as f:
        for line in f:
            kind, *rest = line.split()
            if kind == "R":
                step = int(rest[0])
                assert current is None or step <= current, f"resumed at {step}, after only {current}"
                assert not restarts or step >= restarts[-1], f"resumed at {step}, before {restarts[-1]}"
                assert step % SAVE_STEPS == 0 or step == total_steps, f"resumed at {step}: not a save step"
                restarts.append(step)
                current = step
            elif kind == "S":
                step, ids = int(rest[0]), rest[1:]
                assert current is not None, f"step {step} logged before any start"
                assert step == current + 1, f"step {step} logged after step {current}"
                if step in records:
                    assert records[step] == ids, f"replayed step {step} delivered other records"
                records[step] = ids
                current = step
            else:
                assert kind == "DONE" and current == total_steps
    return records, restarts


def test_sigkill_at_random_moments_loses_and_repeats_nothing(tmp_path):
    rng = random.Random(20261127)
    total_steps = KILLS * 20  # more than the kills can get through: the last run finishes it
    ckpt, log = tmp_path / "ckpt", tmp_path / "log"
    log.touch()
    kills = killed_mid_write = 0
    while True:
        offset = log.stat().st_size
        proc = _start(ckpt, log, total_steps)
        if kills < KILLS and _wait_for_steps(proc, log, offset, rng.randint(0, 2 * SAVE_STEPS + 8)):
            time.sleep(rng.uniform(0, 0.002))  # anywhere inside a step or a save
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
            killed_mid_write += any(n.endswith(".tmp") for n in os.listdir(ckpt)) if ckpt.exists() else 0
            continue
        _, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr.decode()
        break

    records, restarts = _check_log(log, total_steps)
    assert sorted(records) == list(range(1, total_steps + 1))
    reference_it = iter(hook_trainer.make_dataset(total_steps))
    reference = [[str(int(v)) for v in next(reference_it)] for _ in range(total_steps)]
    assert [records[s] for s in range(1, total_steps + 1)] == reference
    print(f"\nkill test: {kills} SIGKILLs ({killed_mid_write} with a checkpoint write in flight), "
          f"{len(restarts)} runs, resumed from steps {restarts[:8]}{'...' if len(restarts) > 8 else ''}, "
          f"{total_steps} steps / {total_steps * hook_trainer.BATCH} records checked: none lost, "
          "none repeated")
    assert kills == KILLS
