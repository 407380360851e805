"""The demo's training job: a linear model trained with numpy on a CSV data set, with its input
pipeline saved by CheckpointInputPipelineHook beside the model's own checkpoints.

    python demo/trainer.py WORKDIR --steps 300 --save-steps 20

WORKDIR/records.csv is the data set (run_demo.py writes it); WORKDIR/ckpt/ holds both kinds of
checkpoint: the model's `model.ckpt-<step>.npz` (written here, crash-safely) and the input
pipeline's `input.ckpt-<step>` + `checkpoint_input` (written by the hook). On start the job
restores the newest step for which both exist, so model and data agree. It prints progress lines
("step 40/300 loss 0.53") and appends "<step> <record ids>" per step to WORKDIR/delivered.log,
which run_demo.py compares with an uninterrupted run.
"""

import argparse
import json
import os
import sys
import time

import numpy as np

import inputpipe

BATCH = 32
EPOCHS = 4
FEATURES = 4
LEARNING_RATE = 0.05


def featurize(record_id, x0, x1, x2, x3, label):
    """The per-record preprocessing, run on worker threads: the scaled features plus a bias
    input, as one float32 vector."""
    features = np.array([x0, x1, x2, x3, 4.0], np.float32) / 4.0
    return record_id, features, np.float32(label)


def augment(record_id, features, label, rng):
    """Random augmentation, the stand-in for an image's random crop and flip: with probability
    1/2 a random "crop" (one of the four features, at a random place, zeroed) and small noise
    on the features. `rng` is the numpy Generator map(seed=...) derives from the seed and the
    element's position, so the resumed run draws exactly what the uninterrupted one drew (a
    global np.random here would not resume: it is external state)."""
    features = features.copy()
    if rng.random() < 0.5:
        features[rng.integers(FEATURES)] = 0.0
    features[:FEATURES] += rng.normal(0.0, 0.01, FEATURES).astype(np.float32)
    return record_id, features, label


def make_pipeline(csv_path, seed, batch=BATCH, prefetch=True):
    """The job's input pipeline. demo/rank_trainer.py takes it with another global batch and
    no prefetch, and adds .distribute() (each rank its rows of every batch) and the prefetch."""
    records = inputpipe.CsvDataset(
        [csv_path], record_defaults=[np.int64] + [np.float32] * (FEATURES + 1), header=True,
        index=True)                                    # indexed: random-access, so ...
    ds = (records
          .shuffle(seed=seed)                        # ... a global shuffle: a permutation, no buffer
          .repeat(EPOCHS)                            # reshuffled each epoch, deterministically
          .map(featurize, num_parallel_calls=4)      # parallel map
          .map(augment, seed=seed, num_parallel_calls=2)  # random, yet resumes exactly
          .batch(batch, drop_remainder=True))
    return ds.prefetch(4) if prefetch else ds


# ---- The model and its checkpoints ----------------------------------------------------------


def model_path(ckpt_dir, step):
    return os.path.join(ckpt_dir, f"model.ckpt-{step}.npz")


def save_model(ckpt_dir, step, weights):
    """Crash-safe like the hook: temporary file, fsync, rename, directory fsync."""
    final = model_path(ckpt_dir, step)
    temp = final + ".tmp"
    with open(temp, "wb") as f:
        np.savez(f, weights=weights, step=step)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temp, final)
    fd = os.open(ckpt_dir, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    # Keep the model's retention in step with the hook's (max_to_keep=3).
    for old in model_steps(ckpt_dir)[:-3]:
        os.remove(model_path(ckpt_dir, old))


def model_steps(ckpt_dir):
    steps = []
    for name in os.listdir(ckpt_dir):
        if name.startswith("model.ckpt-") and name.endswith(".npz"):
            try:
                steps.append(int(name[len("model.ckpt-"):-len(".npz")]))
            except ValueError:
                pass
    return sorted(steps)


def load_model(ckpt_dir, step):
    with np.load(model_path(ckpt_dir, step)) as data:
        return data["weights"].copy()


def train_step(weights, batch):
    _, x, y = batch
    error = x @ weights - y
    loss = float(np.mean(error ** 2))
    weights = weights - LEARNING_RATE * (2.0 / len(y)) * (x.T @ error)
    return weights, loss


# ---- The job ----------------------------------------------------------------------------------


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("workdir")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--save-steps", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--step-ms", type=float, default=4.0,
                        help="extra time per step, standing in for a real model's compute")
    args = parser.parse_args(argv)

    ckpt_dir = os.path.join(args.workdir, "ckpt")
    os.makedirs(ckpt_dir, exist_ok=True)
    it = iter(make_pipeline(os.path.join(args.workdir, "records.csv"), args.seed))
    hook = inputpipe.CheckpointInputPipelineHook(it, ckpt_dir, save_steps=args.save_steps,
                                                 max_to_keep=3)

    # Resume at the newest step that both the model and the input pipeline saved.
    weights = np.zeros(FEATURES + 1, np.float32)
    common = sorted(set(model_steps(ckpt_dir)) & {s for s, _ in hook.checkpoints()})
    step = 0
    if common:
        restored = hook.restore_for_model_step(common[-1])
        assert restored is not None, "a step both the model and the pipeline saved"
        step = restored
        weights = load_model(ckpt_dir, step)
        print(f"RESUMED {step}", flush=True)
    else:
        print("STARTED 0", flush=True)
    hook.begin(step)
    if step == 0:
        save_model(ckpt_dir, 0, weights)

    with open(os.path.join(args.workdir, "delivered.log"), "a") as log:
        while step < args.steps:
            batch = next(it)
            weights, loss = train_step(weights, batch)
            time.sleep(args.step_ms / 1000.0)
            step += 1
            log.write(f"{step} {' '.join(map(str, batch[0].tolist()))}\n")
            log.flush()
            if step % args.save_steps == 0:
                save_model(ckpt_dir, step, weights)
            hook.after_step(step)
            print(f"STEP {step} {loss:.5f}", flush=True)
    hook.end()
    save_model(ckpt_dir, step, weights)
    np.save(os.path.join(args.workdir, "final_weights.npy"), weights)
    print("STATS " + json.dumps(hook.stats), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
