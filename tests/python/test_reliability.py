"""Reliability from Python (docs/reliability.md): a state restored in a fresh process into the
identical pipeline is accepted and exact; into a pipeline differing in one thing it is rejected
with an error naming the difference; corrupt state bytes are a DataLossError, never a restore.
The C++ side (src/reliability/*_test.cc) has the full fault, corruption and soak tests."""

import json
import os
import random
import subprocess
import sys

import pytest

import inputpipe

HERE = os.path.dirname(os.path.abspath(__file__))
# The child rebuilds the pipeline from this module, so that the map function has the same name
# ("test_reliability.triple") in both processes: functions are fingerprinted by name.
CHILD = r"""
import json, sys
sys.path.insert(0, sys.argv[3])
import inputpipe
from test_reliability import _pipeline
config = json.loads(sys.argv[1])
state = open(sys.argv[2], "rb").read()
it = iter(_pipeline(config))
try:
    it.restore(state)
except inputpipe.PipelineMismatchError as e:
    print(json.dumps({"error": "PipelineMismatchError", "message": str(e)}))
    sys.exit(0)
print(json.dumps({"next": [[int(v) for v in next(it)] for _ in range(5)]}))
"""

BASE = {"seed": 1, "buffer": 50, "workers": 2, "batch": 8}


def triple(x):
    return x * 3


def _pipeline(config):
    return (inputpipe.Dataset.range(2000)
            .shuffle(config["buffer"], seed=config["seed"])
            .map(triple, num_parallel_calls=config["workers"])
            .batch(config["batch"])
            .prefetch(2))


def _child(config, state_path):
    out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(config), str(state_path), HERE],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    it = iter(_pipeline(BASE))
    for _ in range(11):
        next(it)
    state = it.save()
    expected = [[int(v) for v in next(it)] for _ in range(5)]
    path = tmp_path_factory.mktemp("state") / "state.bin"
    path.write_bytes(state)
    return path, state, expected


def test_fresh_process_identical_pipeline_is_accepted_and_exact(saved):
    path, _, expected = saved
    assert _child(BASE, path) == {"next": expected}


def test_fresh_process_other_worker_count_is_accepted_and_exact(saved):
    # num_parallel_calls changes how, not what: not in the fingerprint (docs/reliability.md).
    path, _, expected = saved
    assert _child(dict(BASE, workers=4), path) == {"next": expected}


@pytest.mark.parametrize("change, named", [
    ({"seed": 2}, "seed=2"),
    ({"buffer": 51}, "buffer_size=51"),
    ({"batch": 9}, "batch_size=9"),
])
def test_fresh_process_one_difference_is_rejected_naming_it(saved, change, named):
    path, _, _ = saved
    result = _child(dict(BASE, **change), path)
    assert result["error"] == "PipelineMismatchError"
    assert named in result["message"], result["message"]


def test_flipped_bits_and_truncations_are_data_loss_errors(saved):
    _, state, expected = saved
    rng = random.Random(7)
    bits = [rng.randrange(len(state) * 8) for _ in range(300)]
    tried = 0
    for bit in bits:
        corrupt = bytearray(state)
        corrupt[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(inputpipe.DataLossError):
            iter(_pipeline(BASE)).restore(bytes(corrupt))
        tried += 1
    for n in range(len(state)):
        with pytest.raises(inputpipe.DataLossError):
            iter(_pipeline(BASE)).restore(state[:n])
        tried += 1
    # The intact state still restores exactly.
    it = iter(_pipeline(BASE))
    it.restore(state)
    assert [[int(v) for v in next(it)] for _ in range(5)] == expected
    print(f"\n[reliability] python: {tried} corrupt states, all DataLossError")
