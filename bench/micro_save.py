"""The save on the training thread, inputpipe against Grain, with more saves than the suite takes.

    bench/.venv/bin/python bench/micro_save.py [--workloads a,b,c,d] [--saves 300] [--reps 2]
    bench/.venv/bin/python bench/micro_save.py --workloads a@100000   # a with shuffle(100000)
    bench/.venv/bin/python bench/micro_save.py --every 8    # the suite's spacing: cold caches

For each workload of the suite (common.WORKLOADS, their main configuration, the suite's data in
bench/results/data; run the suite once first for workloads c and d) and each library, one
process builds the pipeline the suite builds (lib_inputpipe.py, lib_grain.py), takes a batch,
times one save exactly as worker.py does (`pipe.save(it)`: inputpipe `Iterator.save()`, Grain
`get_state()` as JSON), and repeats that after every batch, up to --saves saves: every save
lands while the pipeline's threads (or worker processes) are busy filling their buffers, which
is the benchmark's setting and a training loop's. Libraries and repetitions are interleaved so
that a change in machine load affects both alike. Prints median, p90, p99 and max of every save
of every repetition per library and workload, inputpipe's median and p99 over Grain's, and the
median of a second save taken at once after each (the same save with its working set in cache).

To measure a build other than the one installed in bench/.venv: `PYTHONPATH=<its site dir>`
(the workers inherit it; it prints which inputpipe it imported).
"""

import argparse
import importlib
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

import common  # noqa: E402

LIBS = {"inputpipe": "lib_inputpipe", "grain": "lib_grain"}


def one(lib_name, wl_key, saves, n, data_dir, every=1):
    """In a worker process: the save times (seconds) of one pipeline, one save per `every`
    batches, each followed by a second save at once: (first saves, second saves)."""
    lib = importlib.import_module(LIBS[lib_name])
    wl_key, _, buffer = wl_key.partition("@")  # "a@100000": workload a with shuffle(100000)
    wl = common.workload(wl_key)
    shuffle = int(buffer) if buffer else wl["shuffle"]
    if wl["source"] == "array":
        common.make_array(n)
    cfg = dict(n=n, threads=os.cpu_count(), data_dir=data_dir, tmp_dir="/tmp")
    pipe = lib.build(wl, shuffle, cfg)
    it = pipe.iterator()
    batches = -(-n // wl["batch"])
    times, again = [], []
    for i in range(min(saves * every, batches - 1)):
        pipe.next(it)
        if i % every:
            continue
        t = time.perf_counter()
        blob = pipe.save(it)
        times.append(time.perf_counter() - t)
        pipe.discard(blob)
        t = time.perf_counter()  # the same save with its working set in cache
        blob = pipe.save(it)
        again.append(time.perf_counter() - t)
        pipe.discard(blob)
    pipe.close(it)
    return times, again


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workloads", default="a,b,c,d")
    ap.add_argument("--libs", default="inputpipe,grain")
    ap.add_argument("--saves", type=int, default=300, help="saves per process (one per batch)")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--every", type=int, default=1,
                    help="batches per save (the suite saves about every 8)")
    ap.add_argument("--n", type=int, default=100_000, help="records (the quick suite's data)")
    ap.add_argument("--data-dir", default=os.path.join(HERE, "results", "data"))
    ap.add_argument("--one", nargs=2, metavar=("LIB", "WORKLOAD"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(*args.one, args.saves, args.n, args.data_dir, args.every)))
        return

    import inputpipe
    print(f"inputpipe from {os.path.dirname(inputpipe.__file__)}; "
          f"load average {os.getloadavg()[0]:.1f} at the start")
    workloads, libs = args.workloads.split(","), args.libs.split(",")
    times = {(w, lib): [] for w in workloads for lib in libs}
    again = {(w, lib): [] for w in workloads for lib in libs}
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONWARNINGS="ignore")
    for rep in range(args.reps):
        for w in workloads:
            for lib in (libs if rep % 2 == 0 else libs[::-1]):
                p = subprocess.run([sys.executable, __file__, "--one", lib, w, "--saves",
                                    str(args.saves), "--n", str(args.n), "--data-dir",
                                    args.data_dir, "--every", str(args.every)], capture_output=True, text=True, env=env)
                if p.returncode != 0:
                    sys.exit(f"{lib} on {w} failed:\n{p.stderr[-2000:]}")
                first, second = json.loads(p.stdout.strip().splitlines()[-1])
                times[(w, lib)] += first
                again[(w, lib)] += second
    print(f"load average {os.getloadavg()[0]:.1f} at the end\n")
    print("| workload | library | saves | median | p90 | p99 | max | median ratio | p99 ratio | "
          "median of a second save at once |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for w in workloads:
        stats = {}
        for lib in libs:
            t = np.array(times[(w, lib)]) * 1e6
            stats[lib] = (np.median(t), np.percentile(t, 90), np.percentile(t, 99), t.max(), len(t))
        for lib in libs:
            med, p90, p99, mx, count = stats[lib]
            ratio = ""
            if lib == "inputpipe" and "grain" in stats:
                ratio = f"{med / stats['grain'][0]:.2f}× | {p99 / stats['grain'][2]:.2f}×"
            else:
                ratio = " | "
            print(f"| {w} | {lib} | {count} | {med:.1f} µs | {p90:.1f} µs | {p99:.1f} µs | "
                  f"{mx:.0f} µs | {ratio} | {np.median(again[(w, lib)]) * 1e6:.1f} µs |")


if __name__ == "__main__":
    main()
