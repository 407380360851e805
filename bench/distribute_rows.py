"""A rank's rows by index with a parallel map below: one rank of distribute() (and one shard of
shard(elastic=True)), sequential map against num_parallel_calls=2, threads and processes.

    bench/.venv/bin/python bench/distribute_rows.py [--records 192] [--ms 10]

The function sleeps --ms (releasing the GIL, as I/O or numpy would) or, for processes, burns the
same CPU time in pure Python. Rows by index make no iterator of the map, so the distribute or shard
iterator computes them on threads of its own, as many as the map's num_parallel_calls. Before that,
they were computed one at a time. Prints seconds per rank's epoch and the ratio, and checks that
the rows equal those of the global stream. One process, no torch.distributed: the rows of one rank
are what is timed.
"""

import argparse
import time

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=192)
    ap.add_argument("--ms", type=float, default=10.0)
    args = ap.parse_args()
    import inputpipe as ip
    seconds = args.ms / 1000

    def sleeps(x):
        time.sleep(seconds)
        return x

    def burns(x):
        end = time.process_time() + seconds
        while time.process_time() < end:
            pass
        return x

    def epoch(ds):
        t0 = time.perf_counter()
        rows = [np.asarray(b).tolist() for b in ds]
        return time.perf_counter() - t0, rows

    print(f"{args.records} records, {args.ms:g} ms per record, rank 0 of 2")
    print("| pipeline | map | sequential | num_parallel_calls=2 | speed-up |")
    print("|---|---|---:|---:|---:|")
    for label, fn, kw in [("threads", sleeps, {}), ("processes", burns, {"processes": True})]:
        for op in ("distribute", "shard(elastic=True)"):
            times, results = [], []
            for parallel in (None, 2):
                extra = dict(kw, num_parallel_calls=2) if parallel else {}
                mapped = ip.Dataset.range(args.records).shuffle(seed=3).map(fn, **extra)
                ds = (mapped.batch(8).distribute(2, 0) if op == "distribute"
                      else mapped.shard(2, 0, elastic=True))
                dt, rows = epoch(ds)
                times.append(dt)
                results.append(rows)
            assert results[0] == results[1], f"{op} {label}: the rows differ"
            print(f"| {op} | {label} | {times[0]:.2f} s | {times[1]:.2f} s | "
                  f"{times[0] / times[1]:.2f}x |")


if __name__ == "__main__":
    main()
