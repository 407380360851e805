"""The CSV reader's per-row path, inputpipe against tf.data: rows/s of

    fused     CsvDataset -> batch(1024)                    (inputpipe parses straight into batches)
    shuffled  CsvDataset -> shuffle(10000) -> batch(1024)  (every row an element: workload c's core)

both on one thread, no prefetch, over the same file (1M rows x 20 float32 columns, made by
bench/common.py's writer if missing). Each cell is the best of --reps passes (the machine is
shared: the best pass is the least disturbed one).

    PYTHONPATH=/tmp/my-site bench/.venv/bin/python bench/micro_csv.py [--rows 1000000] [--reps 3]

bench/.venv has tensorflow; PYTHONPATH points it at the inputpipe build to measure (the script
prints which one it imported). --libs inputpipe skips tf.data.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

import common  # noqa: E402

BATCH = 1024
BUFFER = 10_000
PIPELINES = ["fused", "shuffled"]


def inputpipe_dataset(path, pipeline):
    import inputpipe as ip
    ds = ip.CsvDataset(path, record_defaults=[np.float32] * common.CSV_COLUMNS)
    if pipeline == "shuffled":
        ds = ds.shuffle(BUFFER, seed=common.SEED)
    return ds.batch(BATCH)


def tfdata_dataset(path, pipeline):
    import tensorflow as tf
    ds = tf.data.experimental.CsvDataset(path, [tf.float32] * common.CSV_COLUMNS)
    if pipeline == "shuffled":
        ds = ds.shuffle(BUFFER, seed=common.SEED)
    ds = ds.batch(BATCH)
    # One thread, as inputpipe's pipeline here: no injected prefetch, no intra-op pool.
    opts = tf.data.Options()
    opts.experimental_optimization.inject_prefetch = False
    opts.threading.max_intra_op_parallelism = 1
    return ds.with_options(opts)


def rows_per_second(make, rows):
    ds = make()
    t0 = time.perf_counter()
    n = 0
    for b in ds:
        n += len(b[0])
    dt = time.perf_counter() - t0
    if n != rows:
        raise SystemExit(f"read {n} rows, expected {rows}")
    return rows / dt


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--libs", default="inputpipe,tfdata")
    ap.add_argument("--data-dir", default=os.path.join(os.path.dirname(__file__), "results", "data"))
    args = ap.parse_args()
    libs = args.libs.split(",")

    path = common.csv_path(args.data_dir, args.rows)
    if not os.path.exists(path):
        os.makedirs(args.data_dir, exist_ok=True)
        common.write_csv(path, args.rows)
    import inputpipe
    print(f"inputpipe from {os.path.dirname(inputpipe.__file__)}")
    print(f"file: {path} ({os.path.getsize(path) / 1e6:.0f} MB), best of {args.reps}")

    makers = {"inputpipe": inputpipe_dataset, "tfdata": tfdata_dataset}
    best = {}
    for _ in range(args.reps):  # interleaved: a change in load hits every cell alike
        for pipeline in PIPELINES:
            for lib in libs:
                r = rows_per_second(lambda: makers[lib](path, pipeline), args.rows)
                best[lib, pipeline] = max(best.get((lib, pipeline), 0.0), r)

    print(f"\n| pipeline | " + " | ".join(f"{lib} rows/s" for lib in libs) +
          (" | inputpipe / tf.data |" if "tfdata" in libs and "inputpipe" in libs else " |"))
    print("|---" * (len(libs) + 1 + ("tfdata" in libs and "inputpipe" in libs)) + "|")
    titles = {"fused": f"CsvDataset -> batch({BATCH})",
              "shuffled": f"CsvDataset -> shuffle({BUFFER}) -> batch({BATCH})"}
    for pipeline in PIPELINES:
        cells = [f"{best[lib, pipeline]:,.0f}" for lib in libs]
        if "tfdata" in libs and "inputpipe" in libs:
            cells.append(f"{best['inputpipe', pipeline] / best['tfdata', pipeline]:.2f}x")
        print(f"| {titles[pipeline]} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
