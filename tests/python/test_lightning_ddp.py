"""PyTorch Lightning's own DDP strategy (CPU, gloo on 127.0.0.1) with the Lightning callback:
2 ranks train on an elastic shard and stop mid-epoch; 3 ranks resume from the model's
checkpoint; every record is consumed exactly once over the union of ranks and runs.

Lightning's "ddp" strategy starts rank 0 in this script's process and relaunches the script
for the other ranks (LOCAL_RANK set), so the training runs in a script of its own (_SCRIPT);
each rank logs the records it trained on. Skipped without torch and lightning
(tests/python/requirements-integrations.txt)."""

import os
import subprocess
import sys

import pytest

N = 48      # records: 2 ranks x 3 steps x 2 consume 12; the other 36 split 3 x 6 x 2
STOP = 3    # the first run's last step (mid-epoch) and the checkpoint step

_SCRIPT = r'''
import os, sys
import lightning as L
import torch
import inputpipe
from inputpipe.integrations.lightning import InputPipelineCheckpoint

devices, max_steps, ckpt_dir, log_dir = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
resume = sys.argv[5] if len(sys.argv) > 5 else None
rank = int(os.environ.get("LOCAL_RANK", "0"))   # set by Lightning for the relaunched ranks

class Model(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(1, 1)
        self.log_file = open(os.path.join(log_dir, f"rank{rank}.log"), "w")

    def training_step(self, batch, batch_idx):
        self.log_file.write(f"{self.global_step} " + " ".join(str(int(v)) for v in batch) + "\n")
        self.log_file.flush()
        x = batch.float().reshape(-1, 1)
        return torch.nn.functional.mse_loss(self.layer(x), x)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.0)

ds = inputpipe.Dataset.range(%(n)d).shard(devices, rank, elastic=True).batch(2)
callback = InputPipelineCheckpoint(iter(ds), ckpt_dir, save_steps=%(stop)d, max_to_keep=None,
                                   rank=rank, num_ranks=devices)
model_ckpt = L.pytorch.callbacks.ModelCheckpoint(dirpath=ckpt_dir, filename="model-{step}",
                                                 every_n_train_steps=%(stop)d, save_top_k=-1)
trainer = L.Trainer(strategy="ddp", accelerator="cpu", devices=devices, max_epochs=1,
                    max_steps=max_steps, callbacks=[callback, model_ckpt], logger=False,
                    enable_progress_bar=False, enable_model_summary=False,
                    enable_checkpointing=True, default_root_dir=ckpt_dir)
trainer.fit(Model(), train_dataloaders=callback.dataloader(), ckpt_path=resume)
with open(os.path.join(log_dir, f"rank{rank}.done"), "w") as f:
    f.write(f"{callback.hook.restored_step} {trainer.global_step}\n")
''' % {"n": N, "stop": STOP}


def _run(tmp_path, name, devices, max_steps, resume=None):
    log_dir = tmp_path / name
    log_dir.mkdir()
    script = tmp_path / "train.py"
    script.write_text(_SCRIPT)
    env = dict(os.environ, PL_DISABLE_FORK="1", OMP_NUM_THREADS="1")
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    env["MASTER_ADDR"] = "127.0.0.1"
    args = [sys.executable, str(script), str(devices), str(max_steps), str(tmp_path / "ckpt"),
            str(log_dir)] + ([resume] if resume else [])
    proc = subprocess.run(args, env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=180)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    logs, done = [], []
    for r in range(devices):
        with open(log_dir / f"rank{r}.log") as f:
            logs.append([[int(v) for v in line.split()] for line in f.read().splitlines()])
        with open(log_dir / f"rank{r}.done") as f:
            done.append(f.read().split())
    return logs, done


def test_lightning_ddp_two_ranks_resume_on_three_exactly(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("lightning")
    first, _ = _run(tmp_path, "run2", devices=2, max_steps=STOP)
    assert [len(log) for log in first] == [STOP, STOP]
    # The model's step-STOP checkpoint (written by rank 0) is what the second run resumes from.
    resume = str(tmp_path / "ckpt" / f"model-step={STOP}.ckpt")
    assert os.path.exists(resume), os.listdir(tmp_path / "ckpt")
    second, done = _run(tmp_path, "run3", devices=3, max_steps=-1, resume=resume)
    # Every rank of the resized run restored the input checkpoint of the model's step.
    assert [d[0] for d in done] == [str(STOP)] * 3, done
    assert all(line[0] >= STOP for log in second for line in log)
    # Steps: each rank of each run trained on the same global steps (DDP needs it).
    assert {tuple(line[0] for line in log) for log in first} == {tuple(range(STOP))}
    assert len({tuple(line[0] for line in log) for log in second}) == 1
    records = [v for log in first + second for line in log for v in line[1:]]
    assert sorted(records) == list(range(N)), sorted(records)
    # The callback is built before trainer.fit creates the process group; its hook, made at the
    # first read, gathers over that group: one file per step, written by rank 0.
    inputs = {n for n in os.listdir(tmp_path / "ckpt") if n.startswith("input")}
    assert {f"input.ckpt-{STOP}", f"input.ckpt-{2 * STOP}"} <= inputs, inputs
    assert not any(".rank-" in n for n in inputs), inputs
