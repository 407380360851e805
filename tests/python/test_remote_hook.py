"""Input checkpoints on S3 (moto on 127.0.0.1): one PUT per checkpoint, no rename, the index
after it, retention deleting old objects, the reader falling back past a corrupt or missing
newest object, and a training loop SIGKILLed while its PUTs are slowed, so that kills land in
the middle of writes: every restart resumes from a checkpoint that loads right."""

import os
import random
import signal
import subprocess
import sys
import time

import pytest

pytest.importorskip("moto")
pytest.importorskip("s3fs")

import hook_trainer  # noqa: E402
import inputpipe  # noqa: E402
import s3_server  # noqa: E402
from test_hook_kill import _check_log, _wait_for_steps  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
KILLS = int(os.environ.get("INPUTPIPE_REMOTE_KILLS", "5"))
SAVE_STEPS = 3


@pytest.fixture(scope="module")
def s3():
    mp = pytest.MonkeyPatch()
    for k, v in s3_server.CREDENTIALS.items():
        mp.setenv(k, v)
    with s3_server.MotoServer() as moto, s3_server.FaultProxy(moto.url) as proxy:
        store = inputpipe.remote.register("s3", **proxy.storage_options())
        proxy.fs = store._filesystem()
        s3_server.create_bucket(moto.url, "run")
        try:
            yield proxy
        finally:
            inputpipe.remote.register("s3")
            mp.undo()


def _objects(s3, prefix):
    s3.fs.invalidate_cache()
    return sorted(p.rsplit("/", 1)[-1] for p in s3.fs.find(prefix))


def test_checkpoints_are_single_objects_with_retention_and_fallback(s3):
    ckpt = "s3://run/basic/ckpt"
    ds = inputpipe.Dataset.range(100).batch(3)
    it = iter(ds)
    s3.clear()
    hook = inputpipe.CheckpointInputPipelineHook(it, ckpt, save_steps=1, max_to_keep=2)
    hook.begin()
    for step in range(1, 5):
        next(it)
        hook.after_step(step)
        hook.flush()
    hook.end()
    assert _objects(s3, "run/basic/ckpt") == ["checkpoint_input", "input.ckpt-3", "input.ckpt-4"]
    puts = [p for m, p, _ in s3.requests if m == "PUT"]
    assert not any(".tmp" in p for p in puts), puts  # no temporary object, no copy/rename
    assert not any(m == "POST" or "x-amz-copy-source" in p for m, p, _ in s3.requests)
    assert str(inputpipe.latest_input_checkpoint(ckpt)).endswith("input.ckpt-4")

    expected = list(iter(ds))[4:]
    it2 = iter(ds)
    hook2 = inputpipe.CheckpointInputPipelineHook(it2, ckpt, save_steps=1000)
    assert hook2.begin() == 4
    assert [x.tolist() for x in it2] == [x.tolist() for x in expected]

    # The newest object corrupt: step 3 is restored, with a warning.
    data = bytearray(s3.fs.cat_file("run/basic/ckpt/input.ckpt-4"))
    data[10] ^= 0xFF
    s3.fs.pipe_file("run/basic/ckpt/input.ckpt-4", bytes(data))
    it3 = iter(ds)
    with pytest.warns(RuntimeWarning, match="input.ckpt-4"):
        assert inputpipe.CheckpointInputPipelineHook(it3, ckpt, save_steps=1000).begin() == 3
    assert [x.tolist() for x in it3] == [x.tolist() for x in list(iter(ds))[3:]]
    # Missing (deleted under the index): still step 3.
    s3.fs.rm_file("run/basic/ckpt/input.ckpt-4")
    it4 = iter(ds)
    assert inputpipe.CheckpointInputPipelineHook(it4, ckpt, save_steps=1000).begin() == 3


def _start(url, ckpt, log, total_steps):
    env = s3_server.environment()
    env["PYTHONPATH"] = HERE + os.pathsep + env.get("PYTHONPATH", "")
    code = ("import inputpipe, s3_server, hook_trainer\n"
            f"inputpipe.remote.register('s3', **s3_server.storage_options({url!r}))\n"
            "hook_trainer.main()")
    return subprocess.Popen([sys.executable, "-c", code, ckpt, str(log), str(total_steps),
                             str(SAVE_STEPS)], env=env, stderr=subprocess.PIPE)


def test_sigkill_during_object_writes_never_leaves_a_bad_step(s3, tmp_path):
    rng = random.Random(20261201)
    total_steps = KILLS * 12
    ckpt, log = "s3://run/kill/ckpt", tmp_path / "log"
    log.touch()
    s3.clear()
    s3.inject("slow", times=-1, method="PUT", path="/run/kill/", delay=0.05)
    kills = mid_write = 0
    while True:
        offset = log.stat().st_size
        proc = _start(s3.url, ckpt, log, total_steps)
        if kills < KILLS and _wait_for_steps(proc, log, offset, rng.randint(2, 2 * SAVE_STEPS + 6)):
            time.sleep(rng.uniform(0, 0.06))  # inside a slowed PUT, often
            mid_write += s3.puts_in_flight > 0
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
            continue
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr.decode()
        break
    records, restarts = _check_log(log, total_steps)
    assert sorted(records) == list(range(1, total_steps + 1))
    reference_it = iter(hook_trainer.make_dataset(total_steps))
    reference = [[str(int(v)) for v in next(reference_it)] for _ in range(total_steps)]
    assert [records[s] for s in range(1, total_steps + 1)] == reference
    assert kills == KILLS and len(restarts) == KILLS + 1
    assert not any(name.endswith(".tmp") for name in _objects(s3, "run/kill/ckpt"))
    print(f"\nremote kill test: {kills} SIGKILLs, {mid_write} with a checkpoint PUT in flight")
