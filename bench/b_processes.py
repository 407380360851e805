"""Workload b's pipeline (in-memory array -> global shuffle -> map(b's Python fn) -> batch(256)
-> prefetch) with the map on 2 threads, in 2 worker processes, and torch's DataLoader with 2
workers running the same function in its Dataset's __getitem__ (it collates in the workers).
Not a suite row: a side-by-side the suite's b lacks (its inputpipe row runs threads).

    bench/.venv/bin/python bench/b_processes.py [--records N] [--reps R]

Prints records/s after the first batch, the median of R repetitions, interleaved.
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import lib_inputpipe  # noqa: E402

import inputpipe as ip  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=50_000)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    n = args.records
    x, ids = common.make_array(n)
    x, ids = x.view(), ids.view()
    x.setflags(write=False)
    ids.setflags(write=False)

    def inputpipe_rows(processes):
        ds = ip.Dataset.from_tensor_slices((x, ids)).shuffle(seed=1)
        ds = ds.map(lib_inputpipe.map_python, num_parallel_calls=2, processes=processes)
        return iter(ds.batch(256).prefetch(ip.AUTOTUNE))

    def torch_rows():
        from torch.utils.data import DataLoader, Dataset

        class Rows(Dataset):
            def __len__(self):
                return n

            def __getitem__(self, i):
                return lib_inputpipe.map_python(x[i], ids[i])

        return iter(DataLoader(Rows(), batch_size=256, shuffle=True, num_workers=2))

    rows = {"inputpipe threads (2)": lambda: inputpipe_rows(False),
            "inputpipe processes (2)": lambda: inputpipe_rows(True),
            "torch DataLoader (2)": torch_rows}
    rates = {name: [] for name in rows}
    for _ in range(args.reps):
        for name, make in rows.items():
            it = make()
            first = next(it)
            seen = len(np.asarray(first[1]))
            start, count = time.perf_counter(), 0
            for batch in it:
                count += len(np.asarray(batch[1]))
            assert seen + count == n, (name, seen + count)
            rates[name].append(count / (time.perf_counter() - start))
    best = max(statistics.median(v) for v in rates.values())
    for name, v in rates.items():
        m = statistics.median(v)
        print(f"{name:26s} {m:10,.0f} records/s  {m / best:5.2f}x the fastest")


if __name__ == "__main__":
    main()
