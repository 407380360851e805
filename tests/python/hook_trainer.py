"""The training loop that test_hook_kill.py SIGKILLs over and over.

    python -c "import hook_trainer; hook_trainer.main()" CKPT_DIR LOG TOTAL_STEPS SAVE_STEPS

Each run restores the newest input checkpoint (or starts at step 0), logs "R <step>" (the step
it resumed from), then one line "S <step> <record ids>" per training step, flushed before the
hook sees the step, and "DONE" at the end. A RuntimeWarning (a corrupt checkpoint skipped: a
torn write) is an error here, so a run only starts from a valid checkpoint.
"""

import sys
import time
import warnings

import inputpipe

BATCH = 4


def scramble(x):
    return x * 7 + 3


def make_dataset(total_steps):
    """Global shuffle, parallel map, batch, prefetch: every kind of state the engine has."""
    return (inputpipe.Dataset.range(total_steps * BATCH)
            .shuffle(seed=2026)
            .map(scramble, num_parallel_calls=2)
            .batch(BATCH, drop_remainder=True)
            .prefetch(2))


def main(argv=None):
    ckpt_dir, log_path, total_steps, save_steps = (argv or sys.argv[1:])[:4]
    total_steps, save_steps = int(total_steps), int(save_steps)
    warnings.simplefilter("error", RuntimeWarning)
    it = iter(make_dataset(total_steps))
    hook = inputpipe.CheckpointInputPipelineHook(it, ckpt_dir, save_steps=save_steps, max_to_keep=3)
    step = hook.begin() or 0
    with open(log_path, "a") as log:
        log.write(f"R {step}\n")
        log.flush()
        while step < total_steps:
            batch = next(it)
            time.sleep(0.0005)  # the "model": long enough for kills to land anywhere
            step += 1
            log.write(f"S {step} {' '.join(str(int(v)) for v in batch)}\n")
            log.flush()
            hook.after_step(step)
        hook.end()
        log.write("DONE\n")


if __name__ == "__main__":
    main()
