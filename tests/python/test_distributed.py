"""Many ranks (docs/distributed.md): rank_and_world, distribute(), shard(elastic=True), the hook
on W ranks, and real torch.distributed process groups (gloo on 127.0.0.1) resized between runs
2 -> 3 -> 1 -> 4 with every rank SIGKILLed between runs."""

import os
import signal
import socket
import subprocess
import sys
import traceback
import warnings

import numpy as np
import pytest

import inputpipe
from inputpipe import distributed

# ---- rank_and_world ---------------------------------------------------------------------


def _run_python(code, env=None):
    full_env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE")}
    full_env.update(env or {})
    out = subprocess.run([sys.executable, "-c", code], env=full_env, capture_output=True,
                         text=True, timeout=60, check=True)
    return out.stdout.strip()


def test_rank_and_world_from_the_environment_without_importing_frameworks():
    code = ("import sys, inputpipe; print(inputpipe.distributed.rank_and_world(), "
            "'torch' in sys.modules, 'jax' in sys.modules)")
    assert _run_python(code) == "(0, 1) False False"
    assert _run_python(code, {"RANK": "2", "WORLD_SIZE": "3"}) == "(2, 3) False False"
    with pytest.raises(subprocess.CalledProcessError) as e:
        _run_python(code, {"RANK": "3", "WORLD_SIZE": "3"})
    assert "RANK=3 is not in [0, WORLD_SIZE=3)" in e.value.stderr


def test_rank_and_world_from_an_initialised_jax_runtime():
    # JAX is not installed on this machine: its runtime is stood in for by modules with the
    # attributes rank_and_world reads (jax.process_index / process_count, and the distributed
    # client that jax.distributed.initialize sets). Uninitialised, the environment decides.
    code = """
import sys, types
jax = types.ModuleType("jax"); src = types.ModuleType("jax._src")
dist = types.ModuleType("jax._src.distributed")
dist.global_state = types.SimpleNamespace(client=None)
jax.process_index = lambda: 1; jax.process_count = lambda: 2; jax._src = src; src.distributed = dist
sys.modules.update({"jax": jax, "jax._src": src, "jax._src.distributed": dist})
import inputpipe
before = inputpipe.distributed.rank_and_world()
dist.global_state.client = object()   # what jax.distributed.initialize leaves
print(before, inputpipe.distributed.rank_and_world())
"""
    assert _run_python(code, {"RANK": "0", "WORLD_SIZE": "4"}) == "(0, 4) (1, 2)"


def test_explicit_rank_and_num_ranks_win():
    ds = inputpipe.Dataset.range(8).batch(4).distribute(num_ranks=2, rank=1)
    assert [b.tolist() for b in ds] == [[2, 3], [6, 7]]
    with pytest.raises(ValueError, match="num_ranks=3 is not this job's world size"):
        inputpipe.Dataset.range(8).batch(6).distribute(num_ranks=3)


# ---- global-batch mode ------------------------------------------------------------------


def _global(n=96, batch=12):
    return inputpipe.Dataset.range(n).shuffle(seed=3).batch(batch)


def test_distribute_union_of_ranks_is_the_global_batch():
    single = [b.tolist() for b in _global()]
    for w in (1, 2, 3, 4):
        per_rank = [[b.tolist() for b in _global().distribute(num_ranks=w, rank=r)]
                    for r in range(w)]
        union: list = [sum((per_rank[r][k] for r in range(w)), []) for k in range(len(single))]
        assert union == single


def test_a_global_batch_the_ranks_do_not_divide_names_both_numbers():
    with pytest.raises(ValueError, match=r"global batch size 12 is not divisible by num_ranks=5"):
        _global().distribute(num_ranks=5, rank=0)


# ---- the hook on W ranks in one process (each rank its own files) -------------------------


def _run_ranks(make, ckpt, w, steps, save_steps=2, end=False):
    """One run on w ranks, in this process: each rank restores (its hook finds the step), runs
    `steps` steps (all when None) and saves; returns (restored step, per-rank batches)."""
    its = [iter(make(r, w)) for r in range(w)]
    hooks = [inputpipe.CheckpointInputPipelineHook(its[r], ckpt, save_steps=save_steps, rank=r,
                                                   num_ranks=w, gather=None) for r in range(w)]
    restored = [h.begin() for h in hooks]
    assert len(set(restored)) == 1
    step = restored[0] or 0
    out: list[list] = [[] for _ in range(w)]
    done = False
    while not done and (steps is None or step < (restored[0] or 0) + steps):
        batches = [next(it, None) for it in its]
        if any(b is None for b in batches):
            done = True
            for r, b in enumerate(batches):  # what the ranks that still had data hold
                if b is not None:
                    out[r].append(("tail", b.tolist()))
            break
        step += 1
        for r in range(w):
            out[r].append((step, batches[r].tolist()))  # type: ignore[union-attr]
            hooks[r].after_step(step)
    for r in range(w):
        if end:
            for b in its[r]:
                out[r].append(("tail", b.tolist()))
            hooks[r].end()
        else:
            hooks[r].flush()
    return restored[0], out


def test_hook_per_rank_files_resize_in_both_modes(tmp_path):
    # Global-batch mode: 2 -> 3 -> 1 -> 4 ranks; each step's rows equal the single process's.
    single = [b.tolist() for b in _global()]
    ckpt = str(tmp_path / "global")
    make = lambda r, w: _global().distribute(num_ranks=w, rank=r)  # noqa: E731
    rows_at: dict = {}
    plan = [(2, 3), (3, 2), (1, 1), (4, None)]
    prev = None
    for w, steps in plan:
        restored, out = _run_ranks(make, ckpt, w, steps, end=steps is None)
        if prev is not None:
            assert restored == prev
        for k in [s for s in rows_at if restored is not None and s > restored]:
            del rows_at[k]  # redone after the restore (the model restores there too)
        for r in range(w):
            for step, rows in out[r]:
                if step != "tail":
                    rows_at.setdefault(step, {})[r] = rows
        prev = max(rows_at) // 2 * 2  # the last save step
    assert sorted(rows_at) == list(range(1, len(single) + 1))
    for step, by_rank in rows_at.items():
        assert sum((by_rank[r] for r in sorted(by_rank)), []) == single[step - 1]
    names = sorted(os.listdir(ckpt))
    assert any(n.endswith(".rank-3-of-4") for n in names), names

    # Sharded-input mode with a filter: every element exactly once over the resizes.
    n = 240
    ckpt = str(tmp_path / "sharded")

    def make_sharded(r, w):
        return (inputpipe.Dataset.range(n).shard(w, r, elastic=True)
                .filter(_not_multiple_of_5).batch(4))

    seen: dict = {}
    prev = None
    for w, steps in [(2, 4), (3, 3), (1, 5), (4, None)]:
        restored, out = _run_ranks(make_sharded, ckpt, w, steps, end=steps is None)
        for k in [s for s in seen if restored is not None and s != "tail" and s > restored]:
            del seen[k]
        for r in range(w):
            for step, rows in out[r]:
                seen.setdefault(step, []).extend(rows)
        prev = restored
    got = sorted(sum(seen.values(), []))
    assert got == [i for i in range(n) if i % 5 != 0]
    assert prev is not None


def _not_multiple_of_5(x):
    return x % 5 != 0


def test_a_step_missing_a_rank_is_not_restored(tmp_path):
    ckpt = str(tmp_path)
    make = lambda r, w: _global().distribute(num_ranks=w, rank=r)  # noqa: E731
    _run_ranks(make, ckpt, 2, 4)
    os.remove(os.path.join(ckpt, "input.ckpt-4.rank-1-of-2"))
    with pytest.warns(RuntimeWarning, match=r"step 4: the file of rank\(s\) 1 of 2 is missing"):
        restored, _ = _run_ranks(make, ckpt, 2, 0)
    assert restored == 2
    for name in os.listdir(ckpt):
        if name.endswith("rank-1-of-2"):
            os.remove(os.path.join(ckpt, name))
    with pytest.raises(inputpipe.DataLossError, match=r"rank\(s\) 1 of 2 is missing"):
        with pytest.warns(RuntimeWarning):
            _run_ranks(make, ckpt, 2, 0)


def test_a_resize_through_a_buffered_shuffle_names_the_op(tmp_path):
    ckpt = str(tmp_path)

    def make(r, w):
        return inputpipe.Dataset.range(100).shard(w, r, elastic=True).shuffle(8, seed=1).batch(2)

    _run_ranks(make, ckpt, 2, 3)
    _run_ranks(make, ckpt, 2, 1)  # the same rank count restores
    with pytest.raises(RuntimeError, match=r"from 2 to 3 ranks: op 'shuffle'"):
        _run_ranks(make, ckpt, 3, 1)


def test_reshard_states_is_public():
    its = [iter(inputpipe.Dataset.range(20).shard(2, r, elastic=True)) for r in range(2)]
    for it in its:
        next(it)
    states = [it.save() for it in its]
    rest = []
    for r in range(3):
        it = iter(inputpipe.Dataset.range(20).shard(3, r, elastic=True))
        it.restore(distributed.reshard_states(states, r, 3))
        rest += [int(x) for x in it]
    assert sorted(rest) == list(range(2, 20))


# ---- real torch.distributed process groups ------------------------------------------------

N_GLOBAL, B_GLOBAL = 288, 12  # 24 global steps
N_SHARD = 400


def _global_dataset():
    return inputpipe.Dataset.range(N_GLOBAL).shuffle(seed=5).batch(B_GLOBAL).distribute()


def _shard_dataset():
    return (inputpipe.Dataset.range(N_SHARD).shard(None, None, elastic=True)
            .filter(_not_multiple_of_5).batch(4))


def _worker(rank, world, port, run_dir, plan):
    """One rank of one run. plan: {"global": stop step or None, "shard": stop or None,
    "mismatch": bool}. Logs every batch; SIGKILLs itself after the stops unless it is the
    final run (both None)."""
    log = open(os.path.join(run_dir, f"rank{rank}.log"), "w")

    def record(*fields):
        log.write(" ".join(str(f) for f in fields) + "\n")
        log.flush()

    try:
        import torch.distributed as dist
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                                world_size=world)
        assert distributed.rank_and_world() == (rank, world)
        root = os.path.dirname(run_dir)
        if plan.get("mismatch"):
            bad = inputpipe.Dataset.range(24 + rank).batch(4).distribute()
            try:
                inputpipe.CheckpointInputPipelineHook(iter(bad), os.path.join(root, "bad"),
                                                      save_steps=1).begin()
                record("mismatch", "none")
            except inputpipe.PipelineMismatchError as e:
                record("mismatch", str(e).replace("\n", " "))
        final = plan["global"] is None
        hooks = []
        for mode, ds in (("global", _global_dataset()), ("shard", _shard_dataset())):
            it = iter(ds)
            hook = inputpipe.CheckpointInputPipelineHook(it, os.path.join(root, mode),
                                                         save_steps=3)
            hooks.append(hook)
            step = hook.begin() or 0
            record("restored", mode, step)
            batches = it if mode == "global" else distributed.even_out(it)
            for batch in batches:
                step += 1
                record(mode, step, *batch.tolist())
                hook.after_step(step)
                if step == plan[mode]:
                    break
            if final:
                for batch in it:  # what even_out held back: the uneven ranks' remainder
                    record("tail", *batch.tolist())
                hook.end()
            else:
                hook.flush()
        dist.barrier()
        if not final:
            os.kill(os.getpid(), signal.SIGKILL)
        dist.destroy_process_group()
    except BaseException:
        record("error", traceback.format_exc().replace("\n", " | "))
        raise


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spawn(world, run_dir, plan):
    import torch.multiprocessing as mp
    os.makedirs(run_dir)
    ctx = mp.get_context("spawn")
    port = _free_port()
    procs = [ctx.Process(target=_worker, args=(r, world, port, run_dir, plan))
             for r in range(world)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    logs = []
    for r in range(world):
        with open(os.path.join(run_dir, f"rank{r}.log")) as f:
            logs.append([line.split(" ") for line in f.read().splitlines()])
        errors = [" ".join(line) for line in logs[r] if line[0] == "error"]
        assert not errors, errors
    want = 0 if plan["global"] is None else -signal.SIGKILL
    assert [p.exitcode for p in procs] == [want] * world
    return logs


def test_torch_distributed_resize_with_sigkill(tmp_path):
    pytest.importorskip("torch")
    runs = [(2, {"global": 8, "shard": 8, "mismatch": True}), (3, {"global": 14, "shard": 13}),
            (1, {"global": 20, "shard": 18}), (4, {"global": None, "shard": None})]
    all_logs = []
    for i, (world, plan) in enumerate(runs):
        all_logs.append((world, _spawn(world, str(tmp_path / f"run{i}"), plan)))

    # The first save compared the ranks' pipelines: every rank names rank 1 and its op.
    for line in (l for l in all_logs[0][1][0] + all_logs[0][1][1] if l[0] == "mismatch"):
        text = " ".join(line)
        assert "rank 1 of 2" in text and "range(" in text, text

    single = [b.tolist() for b in inputpipe.Dataset.range(N_GLOBAL).shuffle(seed=5)
              .batch(B_GLOBAL)]
    rows_at: dict = {}
    seen: dict = {}
    for world, logs in all_logs:
        restored = {mode: {int(l[2]) for log in logs for l in log if l[:2] == ["restored", mode]}
                    for mode in ("global", "shard")}
        assert all(len(v) == 1 for v in restored.values()), restored
        g, s = restored["global"].pop(), restored["shard"].pop()
        for k in [k for k in rows_at if k > g]:
            del rows_at[k]
        for k in [k for k in seen if k > s]:
            del seen[k]
        for r, log in enumerate(logs):
            for line in log:
                if line[0] == "global":
                    rows_at.setdefault(int(line[1]), {})[r] = [int(x) for x in line[2:]]
                elif line[0] == "shard":
                    seen.setdefault(int(line[1]), []).extend(int(x) for x in line[2:])
                elif line[0] == "tail":
                    seen.setdefault(10**9, []).extend(int(x) for x in line[1:])
    # Global-batch mode: every step once, and its ranks' rows together the single process's.
    assert sorted(rows_at) == list(range(1, len(single) + 1))
    for step, by_rank in rows_at.items():
        assert sum((by_rank[r] for r in sorted(by_rank)), []) == single[step - 1], step
    # Sharded-input mode: every element exactly once, by some rank.
    assert sorted(sum(seen.values(), [])) == [i for i in range(N_SHARD) if i % 5 != 0]
    # One file per step holds every rank (rank 0 wrote it); no per-rank files.
    names = os.listdir(tmp_path / "global")
    assert names and not any(".rank-" in n for n in names), names


def test_a_resized_run_replaces_the_steps_of_the_run_it_restored_before(tmp_path):
    """Run A (3 ranks) saves steps 2 and 4; run B (2 ranks) restores the model's step 2 and saves
    step 4 again; run C (2 ranks) must continue from B's step 4, not A's: every element exactly
    once over the timeline that survived."""
    ckpt = str(tmp_path / "ckpt")
    log: dict = {}  # step -> the elements of that step, in the timeline that survives

    def run(w, steps, model_step=None):
        its = [iter(inputpipe.Dataset.range(400).shard(w, r, elastic=True).batch(2)) for r in range(w)]
        hooks = [inputpipe.CheckpointInputPipelineHook(its[r], ckpt, save_steps=2, rank=r,
                                                       num_ranks=w, gather=None)
                 for r in range(w)]
        if model_step is None:
            restored = [h.begin() for h in hooks]
        else:
            restored = [h.restore_for_model_step(model_step) for h in hooks]
            for h in hooks:
                h.begin()
        step = restored[0] or 0
        for k in [s for s in log if s > step]:
            del log[k]
        for _ in range(steps):
            step += 1
            log[step] = sum((next(it).tolist() for it in its), [])
            for h in hooks:
                h.after_step(step)
        for h in hooks:
            h.flush()
        return restored[0]

    run(3, 4)
    assert run(2, 2, model_step=2) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing of run A's step 4 is left to warn about
        assert run(2, 10) == 4
    seen: list = sum(log.values(), [])
    assert len(seen) == len(set(seen)), "an element repeated"
    assert sorted(seen) == list(range(len(seen))), "an element lost"
