"""rank_and_world() under a real jax.distributed runtime: 2 CPU processes initialised with a
coordinator on 127.0.0.1, each reading JAX's process index and count, then a global-batch
pipeline (distribute() with its ranks from JAX) saved at a step and restored exactly: the hook
gathers both states over JAX (distributed.jax_gather) into one file per step, or with
gather=None writes one file per process; the gathered file then restores on one process.

Skipped without jax (tests/python/requirements-jax.txt: optional, not installed by the
project's scripts because of its size)."""

import json
import os
import socket
import subprocess
import sys

import pytest

import inputpipe

_CHILD = r'''
import json, os, sys
import jax
port, pid, ckpt, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
gather = None if mode == "none" else "auto"
import inputpipe
from inputpipe import distributed
before = distributed.rank_and_world()
jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}", num_processes=2,
                           process_id=pid)
after = distributed.rank_and_world()

def pipeline():
    return inputpipe.Dataset.range(96).shuffle(seed=3).batch(8).distribute()

it = iter(pipeline())
hook = inputpipe.CheckpointInputPipelineHook(it, ckpt, save_steps=3, gather=gather)
hook.begin()
ran = []
for step in range(1, 7):
    ran.append(next(it).tolist())
    hook.after_step(step)
hook.flush()
# Rank 0 writes the gathered file: every process restores after it is durable.
from jax.experimental import multihost_utils
multihost_utils.sync_global_devices("saved")
it2 = iter(pipeline())
hook2 = inputpipe.CheckpointInputPipelineHook(it2, ckpt, save_steps=3, gather=gather)
restored = hook2.begin()
resumed = [next(it2).tolist() for _ in range(3)]
full = [b.tolist() for b in pipeline()]   # this rank's uninterrupted run
print(json.dumps({"before": before, "after": after, "ran": ran, "restored": restored,
                  "resumed": resumed, "full": full, "files": sorted(os.listdir(ckpt))}))
jax.distributed.shutdown()
'''


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("mode", ["auto", "none"])
def test_rank_and_world_and_save_restore_under_jax_distributed(tmp_path, mode):
    pytest.importorskip("jax")
    port = str(_free_port())
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    for k in ("RANK", "WORLD_SIZE"):
        env.pop(k, None)
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    procs = [subprocess.Popen([sys.executable, str(script), port, str(i), str(tmp_path / "ckpt"), mode],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-3000:]
        outs.append(json.loads(out.strip().splitlines()[-1]))
    # Before initialize, the environment (nothing): (0, 1); after, JAX's process index / count.
    assert [o["before"] for o in outs] == [[0, 1], [0, 1]]
    assert [o["after"] for o in outs] == [[0, 2], [1, 2]]
    # The two processes' rows of each step are the single process's global batch.
    single = [b.tolist() for b in inputpipe.Dataset.range(96).shuffle(seed=3).batch(8)]
    assert [outs[0]["ran"][s] + outs[1]["ran"][s] for s in range(6)] == single[:6]
    # Restored at the newest step both processes saved (6), each exactly where it stopped.
    for o in outs:
        assert o["restored"] == 6
        assert o["ran"] == o["full"][:6] and o["resumed"] == o["full"][6:9]
    assert [outs[0]["resumed"][s] + outs[1]["resumed"][s] for s in range(3)] == single[6:9]
    files = [n for n in outs[0]["files"] if n.startswith("input.ckpt-")]
    if mode == "none":  # one file per process and step
        assert files and all(".rank-" in n for n in files), files
        return
    # Gathered over JAX: one file per step holding both states, which restores on one process
    # (the global batches after step 6, whole).
    assert files and not any(".rank-" in n for n in files), files
    it = iter(inputpipe.Dataset.range(96).shuffle(seed=3).batch(8).distribute(num_ranks=1, rank=0))
    hook = inputpipe.CheckpointInputPipelineHook(it, tmp_path / "ckpt", save_steps=3, rank=0,
                                                 num_ranks=1)
    assert hook.begin() == 6
    assert [next(it).tolist() for _ in range(3)] == single[6:9]
