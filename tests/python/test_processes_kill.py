"""Kill campaign with worker processes: hook_trainer.py's loop, its map run by 2 processes
(saving every 3 steps), SIGKILLed at random moments and restarted, as test_hook_kill.py does
with threads. Every restart resumes from a valid checkpoint, the records over the whole run
equal an uninterrupted run (none lost, none repeated), and after each kill no worker process
of the killed trainer survives it.

CI runs 8 kills (each restart starts a fork server: about a second on a loaded 2-core machine).
More kills: INPUTPIPE_PROCESS_KILLS=50 .venv/bin/python -m pytest -q -s \
    tests/python/test_processes_kill.py
"""

import os
import random
import signal
import subprocess
import sys
import time

import hook_trainer
import test_hook_kill
from procfs import alive, descendants

HERE = os.path.dirname(os.path.abspath(__file__))
KILLS = int(os.environ.get("INPUTPIPE_PROCESS_KILLS", "8"))

# hook_trainer's loop with its map in 2 worker processes (same function, so the same records).
TRAINER = r'''
import sys
import hook_trainer, inputpipe

def make_dataset(total_steps):
    return (inputpipe.Dataset.range(total_steps * hook_trainer.BATCH)
            .shuffle(seed=2026)
            .map(hook_trainer.scramble, num_parallel_calls=2, processes=True)
            .batch(hook_trainer.BATCH, drop_remainder=True)
            .prefetch(2))

hook_trainer.make_dataset = make_dataset
hook_trainer.main(sys.argv[1:])
'''


def _start(ckpt, log, total_steps):
    env = dict(os.environ, PYTHONPATH=HERE + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen(
        [sys.executable, "-c", TRAINER, str(ckpt), str(log), str(total_steps),
         str(test_hook_kill.SAVE_STEPS)],
        env=env, stderr=subprocess.PIPE)


def test_sigkill_with_process_workers_loses_repeats_and_leaves_nothing(tmp_path):
    rng = random.Random(20261201)
    total_steps = KILLS * 20
    ckpt, log = tmp_path / "ckpt", tmp_path / "log"
    log.touch()
    kills = 0
    orphans = []
    while True:
        offset = log.stat().st_size
        proc = _start(ckpt, log, total_steps)
        if kills < KILLS and test_hook_kill._wait_for_steps(
                proc, log, offset, rng.randint(0, 2 * test_hook_kill.SAVE_STEPS + 8)):
            time.sleep(rng.uniform(0, 0.002))
            below = descendants(proc.pid)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
            deadline = time.monotonic() + 5
            while any(alive(p) for p in below) and time.monotonic() < deadline:
                time.sleep(0.02)
            orphans += [p for p in below if alive(p)]
            continue
        _, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr.decode()
        break
    assert not orphans, f"processes outlived their killed trainer by 5 s: {orphans}"
    records, restarts = test_hook_kill._check_log(log, total_steps)
    assert sorted(records) == list(range(1, total_steps + 1))
    reference_it = iter(hook_trainer.make_dataset(total_steps))
    reference = [[str(int(v)) for v in next(reference_it)] for _ in range(total_steps)]
    assert [records[s] for s in range(1, total_steps + 1)] == reference
    assert kills == KILLS
    print(f"\nprocess kill test: {kills} SIGKILLs, {len(restarts)} runs, no orphans, "
          f"{total_steps} steps checked")
