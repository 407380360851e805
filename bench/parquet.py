"""Workload p: the Parquet and Arrow sources, against pyarrow itself and HuggingFace datasets.

    bench/.venv/bin/python bench/parquet.py [--rows 1000000] [--reps 3] [--out results.md]
    bench/.venv/bin/python bench/suite.py --workloads p       # the same, from the suite

Rows/s, each the best of --reps passes (interleaved across the readers) on one thread, no
prefetch, over the same file
(--rows rows: an int64 id, 16 float32 columns and a short string; row groups of 64k rows;
written once to bench/results/data/ with pyarrow):

    pyarrow    ParquetFile.iter_batches(1024) -> a dict of numpy columns per batch
    inputpipe  ParquetDataset(path).batch(1024)              (fused: one slice per batch)
    hf         datasets.Dataset.from_parquet(path).with_format("numpy").iter(batch_size=1024)
               (HuggingFace datasets, when installed; its Arrow cache is built before timing)
    arrow      ArrowDataset(stream file).batch(1024)   (the IPC stream format HF caches use)

and the shuffles over Parquet, each with the restore time (building the pipeline, restoring a
state saved at 10/50/90% of the epoch, taking one batch) and the state's size:

    global     ParquetDataset(path).shuffle(seed) (global).batch(1024)   (exact, any order)
    windowed   ParquetDataset(path, shuffle_seed, shuffle_window=4).batch(1024)
               (row-group-aware: row groups permuted, rows permuted within 4 row groups)
    full       the same with shuffle_window = every row group: an exact uniform shuffle of
               all rows, computed in index space, batches gathered 1024 rows at a time

A global shuffle reads one row at a time from any row group (a Python call per row, and a
decoded row group per cache miss of the 8-row-group cache): it is the slow one, by design of
the access pattern; the windowed shuffle decodes each row group once per epoch.
"""

import argparse
import os
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
BATCH = 1024
ROW_GROUP = 65536
FLOATS = 16
SEED = 20261201
SAVE_EVERY = 4  # batches between timed saves (the first save after work, as in training)


def data_paths(data_dir, rows):
    return (os.path.join(data_dir, f"table_{rows}.parquet"),
            os.path.join(data_dir, f"table_{rows}.arrow"))


def write_data(data_dir, rows):
    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet, arrow = data_paths(data_dir, rows)
    if os.path.exists(parquet) and os.path.exists(arrow):
        return parquet, arrow
    os.makedirs(data_dir, exist_ok=True)
    rng = np.random.default_rng(SEED)
    cols = {"id": pa.array(np.arange(rows, dtype=np.int64))}
    for c in range(FLOATS):
        cols[f"f{c}"] = pa.array(rng.standard_normal(rows, dtype=np.float32))
    cols["tag"] = pa.array([f"t{i % 1000}" for i in range(rows)])
    table = pa.table(cols)
    pq.write_table(table, parquet + ".tmp", row_group_size=ROW_GROUP)
    os.replace(parquet + ".tmp", parquet)
    with pa.ipc.new_stream(arrow + ".tmp", table.schema) as w:
        for batch in table.to_batches(max_chunksize=ROW_GROUP):
            w.write_batch(batch)
    os.replace(arrow + ".tmp", arrow)
    return parquet, arrow


def rate(run, rows, reps):
    """Best rows/s of `reps` passes of run() (which returns the rows it read)."""
    best = 0.0
    for _ in range(reps):
        t = time.perf_counter()
        got = run()
        best = max(best, got / (time.perf_counter() - t))
        assert got == rows, f"read {got} rows, expected {rows}"
    return best


def pyarrow_rows(path):
    import pyarrow.parquet as pq

    n = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=BATCH):
        cols = {name: batch.column(i).to_numpy(zero_copy_only=False)
                for i, name in enumerate(batch.schema.names)}
        n += len(cols["id"])
    return n


def inputpipe_rows(ds):
    n = 0
    for b in ds:
        n += len(b["id"])
    return n


def hf_dataset(path, cache_dir):
    try:
        import datasets
    except ImportError:
        return None
    datasets.disable_progress_bars()
    return datasets.Dataset.from_parquet(path, cache_dir=cache_dir).with_format("numpy")


def hf_rows(ds):
    n = 0
    for b in ds.iter(batch_size=BATCH):
        n += len(b["id"])
    return n


def shuffle_run(make, rows):
    """(rows/s over one epoch, {fraction: restore seconds}, state bytes, save seconds): a save
    after every SAVE_EVERY-th batch during the timed pass, each timed on the consumer's thread
    (a save is microseconds); those at 10/50/90% are then each restored into a freshly built
    pipeline, which takes one batch."""
    batches = -(-rows // BATCH)
    at = {int(batches * f): f for f in (0.1, 0.5, 0.9)}
    states, saves = {}, []
    it = iter(make())
    n, k, t = 0, 0, time.perf_counter()
    for b in it:
        n += len(b["id"])
        k += 1
        if k in at or k % SAVE_EVERY == 0:
            t_save = time.perf_counter()
            state = it.save()
            saves.append(time.perf_counter() - t_save)
            if k in at:
                states[at[k]] = state
    throughput = n / (time.perf_counter() - t)
    assert n == rows, f"read {n} rows, expected {rows}"
    restores = {}
    for fraction, state in states.items():
        t = time.perf_counter()
        resumed = iter(make())
        resumed.restore(state)
        next(resumed)
        restores[fraction] = time.perf_counter() - t
    return throughput, restores, max(len(s) for s in states.values()), saves


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--data", default=os.path.join(HERE, "results", "data"))
    ap.add_argument("--out", help="also write the markdown table here")
    args = ap.parse_args()

    import inputpipe
    import pyarrow

    print(f"inputpipe from {os.path.dirname(inputpipe.__file__)}, pyarrow {pyarrow.__version__}",
          file=sys.stderr)
    parquet, arrow = write_data(args.data, args.rows)
    rows, reps = args.rows, args.reps
    with tempfile.TemporaryDirectory(prefix="inputpipe-hf-") as cache:
        hf = hf_dataset(parquet, cache)
        runs = {"pyarrow": lambda: pyarrow_rows(parquet),
                "inputpipe": lambda: inputpipe_rows(inputpipe.ParquetDataset(parquet)
                                                    .batch(BATCH)),
                "arrow": lambda: inputpipe_rows(inputpipe.ArrowDataset(arrow).batch(BATCH)),
                "hf": (lambda: hf_rows(hf)) if hf is not None else None}
        # Passes interleaved (pyarrow, inputpipe, arrow, hf, pyarrow, ...): a change in the
        # machine's load hits every reader alike.
        results = {k: (None if run is None else 0.0) for k, run in runs.items()}
        for _ in range(reps):
            for k, run in runs.items():
                if run is not None:
                    results[k] = max(results[k], rate(run, rows, 1))

    def global_shuffle():
        return inputpipe.ParquetDataset(parquet).shuffle(seed=SEED).batch(BATCH)

    def windowed():
        return inputpipe.ParquetDataset(parquet, shuffle_seed=SEED, shuffle_window=4).batch(BATCH)

    def full_window():
        groups = -(-rows // ROW_GROUP)
        return inputpipe.ParquetDataset(parquet, shuffle_seed=SEED,
                                        shuffle_window=groups).batch(BATCH)

    shuffles = {"shuffle(seed) (global) .batch(1024)": shuffle_run(global_shuffle, rows),
                "shuffle_seed, shuffle_window=4, batch fused": shuffle_run(windowed, rows),
                "shuffle_seed, shuffle_window=all row groups (a full shuffle), batch fused":
                    shuffle_run(full_window, rows)}
    md = table(results, shuffles, rows)
    print(md)
    if args.out:
        with open(args.out, "w") as f:
            f.write(md + "\n")
    return md


def table(r, shuffles, rows):
    py = r["pyarrow"]
    out = [f"Parquet / Arrow ({rows:,} rows: int64 id, {FLOATS} float32, a string; row groups "
           f"of {ROW_GROUP:,}; batch {BATCH}; one thread, best of the passes)", "",
           "| reader | rows/s | vs pyarrow iter_batches |", "| --- | ---: | ---: |"]
    names = {"pyarrow": "pyarrow ParquetFile.iter_batches -> numpy",
             "inputpipe": "inputpipe ParquetDataset.batch(1024)",
             "arrow": "inputpipe ArrowDataset(stream).batch(1024)",
             "hf": "HF datasets with_format('numpy').iter"}
    for k in ("pyarrow", "inputpipe", "arrow", "hf"):
        v = r.get(k)
        out.append(f"| {names[k]} | {'not installed' if v is None else f'{v:,.0f}'} | "
                   f"{'' if v is None else f'{v / py:.2f}x'} |")
    if r.get("hf"):
        out.append(f"\ninputpipe / HF datasets: {r['inputpipe'] / r['hf']:.2f}x")
    out += ["", "| shuffle over Parquet | rows/s | restore at 10% | 50% | 90% | state "
            "| save median | save p99 |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for k, (thr, restores, size, saves) in shuffles.items():
        median, p99 = np.percentile(saves, [50, 99]) * 1e6
        out.append(f"| {k} | {thr:,.0f} | " + " | ".join(f"{restores[f] * 1e3:.0f} ms"
                                                        for f in (0.1, 0.5, 0.9)) +
                   f" | {size} B | {median:.0f} µs | {p99:.0f} µs |")
    return "\n".join(out)


if __name__ == "__main__":
    main()
