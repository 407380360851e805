"""By index, every rank computes only its own records (docs/distributed.md): the preprocessing
before distribute() / shard(elastic=True) runs for this rank's elements alone, none of another
rank's, none consumed before a resize. A map logs each record it is called on."""

import os
import threading
import time

import numpy as np

import inputpipe


def _logged_csv(tmp_path, n, log):
    path = tmp_path / "records.csv"
    path.write_text("id,x\n" + "".join(f"{i},{i * 0.5}\n" for i in range(n)))

    def seen(record_id, x):
        log.append(int(record_id))
        return record_id, x

    # An indexed CSV file is random-access; the map after it is too.
    return (inputpipe.CsvDataset([str(path)], record_defaults=[np.int64, np.float32],
                                 header=True, index=True)
            .shuffle(seed=3).map(seen))


def test_distribute_computes_only_this_ranks_rows(tmp_path):
    log: list = []
    n, batch, world = 96, 12, 3
    global_batches = [b[0].tolist() for b in
                      _logged_csv(tmp_path, n, []).batch(batch)]
    for rank in range(world):
        log.clear()
        rows = [b[0].tolist() for b in
                _logged_csv(tmp_path, n, log).batch(batch).distribute(num_ranks=world, rank=rank)]
        mine: list = sum((g[rank * 4:(rank + 1) * 4] for g in global_batches), [])
        assert sum(rows, []) == mine
        assert log == mine  # read and preprocessed: exactly its 4 rows of each global batch


def test_elastic_shard_computes_only_this_ranks_records_across_a_resize(tmp_path):
    log: list = []
    n = 60
    states, delivered = [], []
    for rank in range(2):  # 2 ranks, 7 records each
        log.clear()
        it = iter(_logged_csv(tmp_path, n, log).shard(2, rank, elastic=True))
        got = [int(next(it)[0]) for _ in range(7)]
        assert log == got
        delivered += got
        states.append(it.save())
    for rank in range(3):  # resumed on 3 ranks: the rest, each record once, read once
        log.clear()
        it = iter(_logged_csv(tmp_path, n, log).shard(3, rank, elastic=True))
        it.restore(inputpipe.distributed.reshard_states(states, rank, 3))
        got = [int(r[0]) for r in it]
        assert log == got
        delivered += got
    assert sorted(delivered) == list(range(n))


def test_by_index_follows_each_epochs_reshuffle():
    # shuffle(seed) reshuffles each epoch under repeat; the ranks' rows follow it.
    def stream():
        return inputpipe.Dataset.range(12).shuffle(seed=7).repeat(3).map(lambda x: x).batch(6)

    single = [b.tolist() for b in stream()]
    assert single[0] != single[2]  # epoch 1 is another permutation
    for world in (1, 2, 3):
        per_rank = [[b.tolist() for b in stream().distribute(num_ranks=world, rank=r)]
                    for r in range(world)]
        assert [sum((p[k] for p in per_rank), []) for k in range(len(single))] == single
    records = inputpipe.Dataset.range(12).shuffle(seed=7).repeat(3)
    sharded = [int(x) for x in records.shard(2, 1, elastic=True)]
    assert sharded == [int(x) for x in inputpipe.Dataset.range(12).shuffle(seed=7).repeat(3)][1::2]


def _overlapping(log):
    """A function that logs each record and how many calls were running when it started."""
    lock, running = threading.Lock(), [0]

    def fn(x):
        with lock:
            running[0] += 1
            log.append((int(x), running[0]))
        time.sleep(0.005)  # releases the GIL: calls on other threads overlap
        with lock:
            running[0] -= 1
        return x
    return fn


def test_distribute_runs_a_parallel_map_under_the_batch_on_threads():
    # By index no map iterator exists, so the map's own threads do not either: distribute
    # computes the rank's rows on as many threads of its own, this rank's rows only.
    n, batch, world = 96, 12, 2
    global_batches = [b.tolist() for b in
                      inputpipe.Dataset.range(n).shuffle(seed=3).batch(batch)]
    for rank in range(world):
        log: list = []
        ds = (inputpipe.Dataset.range(n).shuffle(seed=3)
              .map(_overlapping(log), num_parallel_calls=3).batch(batch))
        rows = [b.tolist() for b in ds.distribute(num_ranks=world, rank=rank)]
        mine = [g[rank * 6:(rank + 1) * 6] for g in global_batches]
        assert rows == mine
        assert sorted(x for x, _ in log) == sorted(sum(mine, []))  # its rows, each once
        assert max(running for _, running in log) >= 2  # and not one at a time


def _pid(x):
    time.sleep(0.02)  # long enough for the rank's two threads to hold a worker each
    return np.int64(os.getpid())


def test_distribute_over_a_processes_map_uses_its_workers_and_resumes_into_another_count():
    def pipeline(workers):
        return (inputpipe.Dataset.range(64).shuffle(seed=5)
                .map(lambda x: (x, _pid(x)), num_parallel_calls=workers, processes=True)
                .batch(8).distribute(num_ranks=2, rank=1))
    it = iter(pipeline(2))
    first = [next(it) for _ in range(3)]
    state = it.save()
    rest = [b[0].tolist() for b in it]
    assert len({int(p) for b in first for p in b[1]} | {os.getpid()}) >= 3  # both workers ran
    for workers in (1, 3):
        resumed = iter(pipeline(workers))
        resumed.restore(state)
        assert [b[0].tolist() for b in resumed] == rest
