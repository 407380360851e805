"""The benchmark suite: inputpipe, tf.data, Grain and torchdata on the same data, in one run.

    bench/run.sh [--quick]                   # set-up (bench/.venv) + this script
    bench/.venv/bin/python bench/suite.py [--quick] [--workloads a,b] [--libs inputpipe,tfdata]
                                          [--docs docs/benchmarks.md]

Each measurement runs in its own process (worker.py), libraries and repetitions interleaved so
that a change in the machine's load hits every library alike. Results go to
bench/results/<full|quick>/: results.json (every raw number), results.md (the tables printed at
the end) and the PNG plots. --docs rewrites the generated part of docs/benchmarks.md (between
its BEGIN/END GENERATED markers) and copies the plots next to it, in docs/benchmarks/.
"""

import argparse
import datetime
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common  # noqa: E402
import remote  # noqa: E402  (workload "s": local vs S3 on loopback, its own table)

LIBS = ["inputpipe", "tfdata", "grain", "torchdata"]
LIB_NAMES = {"inputpipe": "inputpipe", "tfdata": "tf.data", "grain": "Grain",
             "torchdata": "torchdata"}
RESTORE_POINTS = [0.1, 0.5, 0.9]

# Workload keys: a-d (common.WORKLOADS), r, the readers alone (common.READERS), s, remote files
# (remote.WORKLOADS), p, the Parquet / Arrow sources (bench/parquet.py, its own table, run as
# its own process), e, a Python function per record (bench/python_fn.py, run last), and w,
# W data-parallel ranks on torch.distributed (bench/ranks.py, its own table and processes).
ALL_WORKLOADS = list(common.WORKLOADS) + ["r"] + list(remote.WORKLOADS) + ["p", "e", "w"]

# buffer_reps: throughput repetitions of workload a's buffered-shuffle variants (their table);
# table); other_buffers: also measure the state at buffers 1k/10k/100k in workloads b, c, d;
# reader_time_cap: workload r's time cap, long enough to read the whole epoch.
FULL = dict(n=1_000_000, reps=3, buffer_reps=1, time_cap=8.0, n_saves=50, save_budget_s=15.0,
            restore_reps=3, restore_budget_s=10.0, short_saves=20, other_buffers=False,
            reader_time_cap=60.0, timeout=900)
QUICK = dict(n=100_000, reps=1, buffer_reps=0, time_cap=3.0, n_saves=12, save_budget_s=3.0,
             restore_reps=1, restore_budget_s=3.0, short_saves=6, other_buffers=False,
             reader_time_cap=20.0, timeout=300)


# ---- running workers --------------------------------------------------------------------

def run_worker(task, timeout, log):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONWARNINGS="ignore")
    t = time.time()
    try:
        p = subprocess.run([sys.executable, os.path.join(HERE, "worker.py"), json.dumps(task)],
                           capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired as e:
        log.write(f"\n### {json.dumps(task)}\nTIMEOUT after {timeout}s\n{e.stderr or ''}\n")
        return dict(status="error", why=f"timed out after {timeout}s")
    log.write(f"\n### {json.dumps(task)} ({time.time() - t:.1f}s)\n{p.stderr[-4000:]}\n")
    log.flush()
    for line in reversed(p.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    return dict(status="error", why=f"worker exited {p.returncode} without a result "
                                    f"(see log): {p.stderr.strip().splitlines()[-1:]}")


def ensure_data(data_dir, n, need, log):
    os.makedirs(data_dir, exist_ok=True)
    jobs = []
    if "csv" in need and not os.path.exists(common.csv_path(data_dir, n)):
        jobs.append(("CSV", f"common.write_csv({common.csv_path(data_dir, n)!r}, {n})"))
    if "tfrecord" in need and not os.path.exists(common.tfrecord_path(data_dir, n)):
        jobs.append(("TFRecord", f"common.write_tfrecord({common.tfrecord_path(data_dir, n)!r}, {n})"))
    # Workload r's shard files: the same records as the one file, split (after it is written).
    for src, path in (("csv", common.csv_path(data_dir, n)), ("tfrecord", common.tfrecord_path(data_dir, n))):
        if f"{src}_shards" in need and not all(map(os.path.exists, common.shard_paths(path))):
            jobs.append((f"{src} shard", f"common.write_shards({path!r}, {n})"))
    for what, code in jobs:
        t = time.time()
        print(f"-- writing the {what} file ({n} records)...", flush=True)
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
        p = subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {HERE!r}); "
                            f"import common; {code}"], capture_output=True, text=True, env=env)
        log.write(p.stderr)
        if p.returncode:
            raise SystemExit(f"writing the {what} file failed:\n{p.stderr[-3000:]}")
        print(f"   done in {time.time() - t:.0f}s", flush=True)


def plan(workloads, libs, cfg):
    """The list of measurements: (key, task) in execution order."""
    tasks = []
    for w in workloads:
        if w in remote.WORKLOADS:  # run by remote.run, in this process
            continue
        if w == "r":  # the readers alone: throughput only, the two libraries interleaved
            for r in range(cfg["reps"]):
                for key, wl in common.READERS.items():
                    for lib in [l for l in libs if l in common.READER_LIBS]:
                        tasks.append(((key, lib, "None", "throughput", r),
                                      dict(lib=lib, workload=key, shuffle=None, role="main",
                                           phase="throughput", time_cap=cfg["reader_time_cap"])))
            continue
        wl = common.WORKLOADS[w]
        main = wl["shuffle"]
        configs = [("main", main)]
        if w == "a" or cfg["other_buffers"]:
            configs += [("buffer", b) for b in common.BUFFERS if b != main]
        for role, shuffle in configs:
            # Restores at 10/50/90% for the main configuration; at 50% for workload a's
            # buffered variants (their table); none (state size and saves only) otherwise.
            restore_points = RESTORE_POINTS if role == "main" else ([0.5] if w == "a" else [])
            reps = cfg["reps"] if role == "main" else (cfg["buffer_reps"] if w == "a" else 0)
            for r in range(reps):
                for lib in libs:
                    tasks.append(((w, lib, str(shuffle), "throughput", r),
                                  dict(lib=lib, workload=w, shuffle=shuffle, role=role,
                                       phase="throughput")))
            for lib in libs:
                tasks.append(((w, lib, str(shuffle), "checkpoint", 0),
                              dict(lib=lib, workload=w, shuffle=shuffle, role=role,
                                   phase="checkpoint",
                                   restore_points=restore_points,
                                   n_saves=cfg["n_saves"] if restore_points else cfg["short_saves"])))
    return tasks


def run_all(workloads, libs, cfg, out_dir, data_dir):
    log = open(os.path.join(out_dir, "workers.log"), "w")
    need = {common.WORKLOADS[w]["source"] for w in workloads if w in common.WORKLOADS}
    if "r" in workloads:
        need |= {"csv", "tfrecord", "csv_shards", "tfrecord_shards"}
    ensure_data(data_dir, cfg["n"], need, log)
    tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
    results = {}
    skip = {}  # (w, lib, shuffle) -> a result that makes the other measurements pointless
    tasks = plan(workloads, libs, cfg)
    t_start = time.time()
    for k, (key, task) in enumerate(tasks):
        w, lib, shuffle, phase, rep = key
        if (w, lib, shuffle) in skip:
            results["|".join(map(str, key))] = skip[(w, lib, shuffle)]
            continue
        task = dict(dict(n=cfg["n"], threads=cfg["threads"], data_dir=data_dir, tmp_dir=tmp_dir,
                         time_cap=cfg["time_cap"], save_budget_s=cfg["save_budget_s"],
                         restore_reps=cfg["restore_reps"],
                         restore_budget_s=cfg["restore_budget_s"]), **task)
        t = time.time()
        res = run_worker(task, cfg["timeout"], log)
        res["load"] = os.getloadavg()[0]
        results["|".join(map(str, key))] = res
        brief = res.get("why", "")
        if res["status"] == "ok" and phase == "throughput":
            brief = f"{res['throughput']:,.0f} rec/s, first batch {res['ttfb_s'] * 1e3:.0f} ms"
        elif res["status"] == "ok":
            brief = f"state {np.median(res['state_bytes']):,.0f} B, save {np.median(res['save_s']) * 1e3:.2f} ms"
        print(f"[{k + 1}/{len(tasks)} {time.time() - t_start:5.0f}s] {w} {LIB_NAMES[lib]:9s} "
              f"shuffle={shuffle:7s} {phase:10s} #{rep}: {res['status']} {brief} "
              f"({time.time() - t:.1f}s)", flush=True)
        if res["status"] in ("not_expressible", "pending"):
            skip[(w, lib, shuffle)] = res
    log.close()
    return results


# ---- summarising ------------------------------------------------------------------------

def med(xs):
    return float(np.median(xs)) if len(xs) else math.nan


def p99(xs):
    return float(np.percentile(xs, 99)) if len(xs) else math.nan


def summarise(results, workloads, libs):
    """-> {w: {lib: {shuffle: {...medians...}}}}; workload r: {"r": {lib: {reader key: ...}}}"""
    out = {}
    if "r" in workloads:
        out["r"] = summarise_readers(results, libs)
    for w in [w for w in workloads if w in common.WORKLOADS]:
        wl = common.WORKLOADS[w]
        shuffles = [str(wl["shuffle"])] + [str(b) for b in common.BUFFERS if b != wl["shuffle"]]
        shuffles = [s for s in shuffles if any(k.startswith(f"{w}|") and k.split("|")[2] == s
                                               and v["status"] != "skipped"
                                               for k, v in results.items())]
        out[w] = {}
        for lib in libs:
            out[w][lib] = {}
            for s in shuffles:
                thr = [v for k, v in results.items()
                       if k.startswith(f"{w}|{lib}|{s}|throughput|")]
                ck = results.get(f"{w}|{lib}|{s}|checkpoint|0")
                entry = {}
                bad = [r for r in thr + ([ck] if ck else []) if r["status"] != "ok"]
                if bad:
                    entry["status"], entry["why"] = bad[0]["status"], bad[0].get("why", "")
                ok = [r for r in thr if r["status"] == "ok"]
                if ok:
                    entry.update(
                        throughput=med([r["throughput"] for r in ok]),
                        ttfb_s=med([r["ttfb_s"] for r in ok]),
                        pss_mb=max(r["rss_tree_mb"] for r in ok),
                        rss_self_mb=max(r["rss_self_mb"] for r in ok),
                        reps=len(ok), complete=all(r["epoch_complete"] for r in ok),
                        correct=all(r["duplicates"] == 0 and r.get("missing", 0) == 0 for r in ok),
                        note=ok[0].get("note", ""), versions=ok[0].get("versions", {}))
                if ck and ck["status"] == "ok":
                    entry.update(
                        state_bytes=med(ck["state_bytes"]), state_max=max(ck["state_bytes"]),
                        save_med_s=med(ck["save_s"]), save_p99_s=p99(ck["save_s"]),
                        n_saves=len(ck["save_s"]),
                        restore={f: med(v["times"]) for f, v in ck["restores"].items()},
                        exact=all(v["exact"] for v in ck["restores"].values()),
                        note=entry.get("note") or ck.get("note", ""),
                        versions=entry.get("versions") or ck.get("versions", {}))
                if ok or (ck and ck["status"] == "ok"):
                    entry.setdefault("status", "ok")
                out[w][lib][s] = entry
    return out


def summarise_readers(results, libs):
    """Workload r: per library and READERS key, the median rows/s and MB/s (file bytes x rows/s
    / rows) over the repetitions, and whether every record came exactly once."""
    out = {}
    for lib in [l for l in libs if l in common.READER_LIBS]:
        out[lib] = {}
        for key in common.READERS:
            runs = [v for k, v in results.items() if k.startswith(f"{key}|{lib}|None|throughput|")]
            if not runs:
                continue
            entry = {}
            bad = [r for r in runs if r["status"] != "ok"]
            if bad:
                entry["status"], entry["why"] = bad[0]["status"], bad[0].get("why", "")
            ok = [r for r in runs if r["status"] == "ok"]
            if ok:
                entry.update(
                    status=entry.get("status", "ok"),
                    throughput=med([r["throughput"] for r in ok]),
                    mb_s=med([r["throughput"] * r["file_bytes"] / r["file_rows"] / 1e6 for r in ok]),
                    file_bytes=ok[0]["file_bytes"], rows=ok[0]["file_rows"],
                    ttfb_s=med([r["ttfb_s"] for r in ok]),
                    reps=len(ok), complete=all(r["epoch_complete"] for r in ok),
                    correct=all(r["duplicates"] == 0 and r.get("missing", 0) == 0 for r in ok),
                    note=ok[0].get("note", ""), versions=ok[0].get("versions", {}))
            out[lib][key] = entry
    return out


# ---- formatting -------------------------------------------------------------------------

def fmt_rate(x):
    return "–" if x is None or math.isnan(x) else f"{x:,.0f}"


def fmt_mb(x):
    return "–" if x is None or math.isnan(x) else f"{x:,.1f}"


def fmt_s(x):
    if x is None or math.isnan(x):
        return "–"
    if x < 1e-3:
        return f"{x * 1e6:.0f} µs"
    if x < 1:
        return f"{x * 1e3:.1f} ms"
    return f"{x:.2f} s"


def fmt_bytes(x):
    if x is None or math.isnan(x):
        return "–"
    for unit, f in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if x >= f:
            return f"{x / f:.1f} {unit}"
    return f"{x:.0f} B"


def ratio(a, b):
    if a is None or b is None or not b or math.isnan(a) or math.isnan(b):
        return "–"
    r = a / b
    if r < 0.1:
        return f"1/{1 / r:,.0f}"
    return f"{r:.2f}×"


def shuffle_label(s):
    if s == "global":
        return "global"
    if s == "None":
        return "none"
    return f"buffer {int(s) // 1000}k"


def status_cell(e):
    if e.get("status") == "not_expressible":
        return "not expressible: " + e.get("why", "")
    if e.get("status") == "pending":
        return "pending: " + e.get("why", "")
    if e.get("status") == "error":
        return "error: " + e.get("why", "")
    return None


def tables(summary, workloads, libs):
    md = []
    for w in [w for w in workloads if w in common.WORKLOADS]:
        wl = common.WORKLOADS[w]
        main = str(wl["shuffle"])
        md.append(f"### Workload {w}: {wl['title']}\n")
        md.append("Throughput and start-up (main configuration, median of the repetitions; "
                  "ratio = inputpipe / peer, above 1 means inputpipe is faster; RSS from ru_maxrss; PSS sampled every 50 ms, shared pages split between processes):\n")
        md.append("| library | records/s | inputpipe/peer | time to first batch | peak RSS, main process | peak PSS, with workers | every record once | notes |")
        md.append("|---|---:|---:|---:|---:|---:|:---:|---|")
        ip = summary[w].get("inputpipe", {}).get(main, {})
        for lib in libs:
            e = summary[w][lib].get(main, {})
            bad = status_cell(e)
            if bad and "throughput" not in e:
                md.append(f"| {LIB_NAMES[lib]} | {bad} | | | | | | |")
                continue
            once = "yes" if e.get("correct") else "**no**"
            if not e.get("complete"):
                once += " (epoch cut at the time cap)"
            md.append(f"| {LIB_NAMES[lib]} | {fmt_rate(e.get('throughput'))} | "
                      f"{'' if lib == 'inputpipe' else ratio(ip.get('throughput'), e.get('throughput'))} | "
                      f"{fmt_s(e.get('ttfb_s'))} | {e.get('rss_self_mb', 0):,.0f} MB | "
                      f"{e.get('pss_mb', 0):,.0f} MB | {once} | "
                      f"{e.get('note', '')}{' — ' + bad if bad else ''} |")
        md.append("")
        md.append("Checkpoints (state = the bytes a save produces; save = time on the training "
                  "thread, median and p99; restore = build the pipeline + restore + first batch, "
                  "at 10/50/90% of the epoch; ratio = inputpipe / peer on the same row "
                  "configuration, below 1 means inputpipe is smaller/faster):\n")
        md.append("| library | shuffle | state | state ratio | save median | save p99 | save ratio | restore 10% | restore 50% | restore 90% | resumes exactly |")
        md.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|:---:|")
        shuffles = list(summary[w][libs[0]].keys())
        for s in shuffles:
            ip = summary[w].get("inputpipe", {}).get(s, {})
            for lib in libs:
                e = summary[w][lib].get(s, {})
                bad = status_cell(e)
                if bad and "state_bytes" not in e:
                    md.append(f"| {LIB_NAMES[lib]} | {shuffle_label(s)} | {bad} | | | | | | | | |")
                    continue
                rs = e.get("restore", {})
                r = [fmt_s(rs.get(str(f))) for f in RESTORE_POINTS]
                if "short" in rs:
                    r = ["–", f"{fmt_s(rs['short'])} (after {e.get('n_saves')} batches)", "–"]
                md.append(
                    f"| {LIB_NAMES[lib]} | {shuffle_label(s)} | {fmt_bytes(e.get('state_bytes'))} | "
                    f"{'' if lib == 'inputpipe' else ratio(ip.get('state_bytes'), e.get('state_bytes'))} | "
                    f"{fmt_s(e.get('save_med_s'))} | {fmt_s(e.get('save_p99_s'))} | "
                    f"{'' if lib == 'inputpipe' else ratio(ip.get('save_med_s'), e.get('save_med_s'))} | "
                    f"{r[0]} | {r[1]} | {r[2]} | {'yes' if e.get('exact') else '**no**'} |")
        md.append("")
    if "a" in workloads and "inputpipe" in libs and "tfdata" in libs:
        md.append("### Buffered shuffle + parallel map + prefetch, inputpipe vs tf.data\n")
        md.append("Workload a's pipeline with shuffle(buffer_size) in place of the global shuffle. "
                  "Restore = to the first element after restoring at 50% of the epoch. "
                  "Ratios are inputpipe / tf.data.\n")
        md.append("| buffer | state inputpipe | state tf.data | ratio | save median ip | save median tf | ratio | save p99 ip | save p99 tf | restore ip | restore tf | ratio | records/s ip | records/s tf | ratio |")
        md.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for b in common.BUFFERS:
            i = summary["a"]["inputpipe"].get(str(b), {})
            t = summary["a"]["tfdata"].get(str(b), {})
            ir, tr = i.get("restore", {}).get("0.5"), t.get("restore", {}).get("0.5")
            md.append(
                f"| {b:,} | {fmt_bytes(i.get('state_bytes'))} | {fmt_bytes(t.get('state_bytes'))} | "
                f"{ratio(i.get('state_bytes'), t.get('state_bytes'))} | {fmt_s(i.get('save_med_s'))} | "
                f"{fmt_s(t.get('save_med_s'))} | {ratio(i.get('save_med_s'), t.get('save_med_s'))} | "
                f"{fmt_s(i.get('save_p99_s'))} | {fmt_s(t.get('save_p99_s'))} | {fmt_s(ir)} | "
                f"{fmt_s(tr)} | {ratio(ir, tr)} | {fmt_rate(i.get('throughput'))} | "
                f"{fmt_rate(t.get('throughput'))} | {ratio(i.get('throughput'), t.get('throughput'))} |")
        md.append("")
    if "r" in workloads and "r" in summary:
        md.append(readers_table(summary["r"], libs))
    return "\n".join(md)


# The readers' targets: inputpipe / tf.data throughput, per file format.
READER_TARGETS = {"csv": 3.0, "tfrecord": 1.0}


def readers_table(rs, libs):
    """The readers table: the readers alone, inputpipe vs tf.data, at 1 and 2 threads."""
    ip, tf = rs.get("inputpipe", {}), rs.get("tfdata", {})
    any_e = next((e for lib in rs.values() for e in lib.values() if "reps" in e), {})
    size = {src: next((e["file_bytes"] for lib in rs.values() for k, e in lib.items()
                       if "file_bytes" in e and common.READERS[k]["source"] == src), None)
            for src in READER_TARGETS}
    rows = any_e.get("rows")
    md = ["### The readers table: file readers, inputpipe vs tf.data\n",
          f"The readers alone, over the files of workloads c and d ({fmt_rate(rows) if rows else 'N'} "
          f"rows): CSV of 20 numeric columns ({fmt_bytes(size['csv'])}) → parse → batch(1024), "
          f"and TFRecord of tf.train.Example {{x: float[20], id: int64}} "
          f"({fmt_bytes(size['tfrecord'])}) → batch(1024) → parse_example (vectorised), "
          "no shuffle and no prefetch in either library. "
          "**1 thread** = one reader over the one file, parse and batch on the consumer's "
          "thread: tf.data `CsvDataset(file, [tf.float32]*20).batch(1024)` / "
          "`TFRecordDataset(file).batch(1024).map(parse_example)`; inputpipe "
          "`CsvDataset(file, [np.float32]*20).batch(1024)` (its batch is fused into the reader) / "
          "`TFRecordDataset(file).batch(1024).apply(parse_example_fn(features))`. "
          f"**{common.READER_SHARDS} threads** = the same rows written as {common.READER_SHARDS} "
          "files (first half, second half, byte for byte the same records), read by "
          f"`Dataset.from_tensor_slices(files).interleave(lambda f: <the 1-thread pipeline over f>, "
          f"cycle_length={common.READER_SHARDS}, num_parallel_calls={common.READER_SHARDS})` in both "
          "libraries: each worker thread reads, batches and parses one file, the consumer takes "
          "the batches in order. tf.data's default rewrites that would add threads or a "
          "buffer are off (`map_parallelization`, `inject_prefetch`, and "
          "`max_intra_op_parallelism=1` so that parse_example does not spread a batch over the "
          "intra-op pool). rows/s after the first batch over the whole epoch, median of "
          f"{any_e.get('reps', '?')} repetition(s), each batch's id column read as numpy (the "
          "exactly-once check), as in the rest of the suite; MB/s = file bytes × rows/s ÷ rows; ratio = inputpipe / tf.data; target = "
          "the readers' targets (≥ 3× on CSV, ≥ 1× on TFRecord + parse).\n",
          "| data | threads | rows/s inputpipe | rows/s tf.data | ratio | target | MB/s inputpipe | MB/s tf.data | every record once (inputpipe / tf.data) |",
          "|---|---:|---:|---:|---:|---|---:|---:|:---:|"]

    def once(e):
        if not e.get("reps"):
            return "–"
        return ("yes" if e.get("correct") else "**no**") + ("" if e.get("complete") else " (cut at the time cap)")

    for key, wl in common.READERS.items():
        i, t = ip.get(key, {}), tf.get(key, {})
        cells = []
        for e in (i, t):
            bad = status_cell(e)
            cells.append(bad if bad and "throughput" not in e else fmt_rate(e.get("throughput")))
        r = (i.get("throughput") / t["throughput"]
             if i.get("throughput") and t.get("throughput") else None)
        goal = READER_TARGETS[wl["source"]]
        target = f"≥ {goal:g}×" + ("" if r is None else (": met" if r >= goal else ": **not met**"))
        md.append(f"| {'CSV' if wl['source'] == 'csv' else 'TFRecord + parse'} | "
                  f"{wl['reader_threads']} | {cells[0]} | {cells[1]} | "
                  f"{ratio(i.get('throughput'), t.get('throughput'))} | {target} | "
                  f"{fmt_mb(i.get('mb_s'))} | {fmt_mb(t.get('mb_s'))} | {once(i)} / {once(t)} |")
    md.append("")
    return "\n".join(md)


def machine(summary, cfg):
    info = {}
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu"] = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        info["cpu"] = platform.processor()
    info["cores"] = os.cpu_count()
    try:
        with open("/proc/meminfo") as f:
            kb = int(next(l for l in f if l.startswith("MemTotal")).split()[1])
        info["memory"] = f"{kb / 2**20:.1f} GiB"
    except (OSError, StopIteration):
        info["memory"] = "?"
    info["os"] = platform.platform()
    info["python"] = platform.python_version()
    versions = {"numpy": np.__version__}
    for w in summary.values():
        for lib in w.values():
            for e in lib.values():
                versions.update(e.get("versions", {}))
    info["versions"] = versions
    info["threads"] = cfg["threads"]
    return info


def machine_md(m, cfg, started, wall, loads):
    vs = ", ".join(f"{k} {v}" for k, v in sorted(m["versions"].items()))
    return "\n".join([
        f"- Run: {started} UTC, {'--quick' if cfg['quick'] else 'full'}, "
        f"{'?' if math.isnan(wall) else f'{wall / 60:.0f}'} min; "
        f"{cfg['n']:,} records per data set; {cfg['reps']} repetitions of each throughput "
        f"measurement (medians), {cfg['restore_reps']} of each restore.",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['memory']} memory; {m['os']}; "
        f"Python {m['python']}.",
        f"- Parallelism for every library: {m['threads']} (map threads / worker processes / "
        f"reader threads).",
        f"- Load average (1 min) during the measurements: median {np.median(loads):.1f}, "
        f"max {max(loads):.1f}.",
        f"- Versions: {vs}.",
    ])


# ---- plots ------------------------------------------------------------------------------

COLORS = {"inputpipe": "#d62728", "tfdata": "#ff7f0e", "grain": "#2ca02c", "torchdata": "#1f77b4"}


def plots(summary, workloads, libs, out_dir):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    files = []
    workloads = [w for w in workloads if w in common.WORKLOADS]  # r: its table only
    if not workloads:
        return files

    def grouped(metric, ylabel, fname, title, log=True, scale=1.0):
        fig, ax = plt.subplots(figsize=(8, 4.2))
        width = 0.8 / len(libs)
        plotted = False
        for j, lib in enumerate(libs):
            xs, ys = [], []
            for i, w in enumerate(workloads):
                e = summary[w][lib].get(str(common.WORKLOADS[w]["shuffle"]), {})
                v = e.get(metric)
                if v is not None and not math.isnan(v):
                    xs.append(i + (j - (len(libs) - 1) / 2) * width)
                    ys.append(v * scale)
            ax.bar(xs, ys, width, label=LIB_NAMES[lib], color=COLORS[lib])
            plotted = plotted or bool(ys)
        ax.set_xticks(range(len(workloads)))
        ax.set_xticklabels([f"{w}: {common.WORKLOADS[w]['source']}"
                            f"{' + ' + common.WORKLOADS[w]['map'] + ' map' if common.WORKLOADS[w]['map'] else ''}"
                            for w in workloads], fontsize=8)
        if log and plotted:
            ax.set_yscale("log")
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        path = os.path.join(out_dir, fname)
        fig.savefig(path, dpi=110)
        plt.close(fig)
        files.append(path)

    grouped("throughput", "records / s (log)", "throughput.png",
            "Throughput, main configuration of each workload (missing bar = not expressible)")
    grouped("ttfb_s", "seconds (log)", "first_batch.png", "Time to first batch (build + first batch)")
    grouped("pss_mb", "MB", "peak_memory.png",
            "Peak memory (PSS summed over the process and its workers)", log=False)

    # State size and save time against the shuffle buffer, one panel per workload.
    for metric, ylabel, fname, scale in (("state_bytes", "state bytes (log)", "state_size.png", 1.0),
                                         ("save_med_s", "save median, ms (log)", "save_time.png", 1e3)):
        with_buffers = [w for w in workloads
                        if sum(str(b) in summary[w][libs[0]] for b in common.BUFFERS) >= 2]
        if not with_buffers:
            continue
        fig, axes = plt.subplots(1, len(with_buffers), figsize=(3.6 * len(with_buffers), 3.6),
                                 squeeze=False)
        for ax, w in zip(axes[0], with_buffers):
            for lib in libs:
                xs, ys = [], []
                for b in common.BUFFERS:
                    e = summary[w][lib].get(str(b), {})
                    if "in place of" in e.get("note", ""):
                        continue  # not a buffered shuffle (torchdata's global sampler)
                    v = e.get(metric)
                    if v is not None and not math.isnan(v):
                        xs.append(b)
                        ys.append(max(v * scale, 1e-6))
                if xs:
                    ax.plot(xs, ys, "o-", label=LIB_NAMES[lib], color=COLORS[lib])
            if ax.lines:
                ax.set_xscale("log")
                ax.set_yscale("log")
            ax.set_xlabel("shuffle buffer")
            ax.set_title(f"workload {w}", fontsize=9)
            ax.grid(alpha=0.3)
        axes[0][0].set_ylabel(ylabel)
        axes[0][0].legend(fontsize=7)
        fig.tight_layout()
        path = os.path.join(out_dir, fname)
        fig.savefig(path, dpi=110)
        plt.close(fig)
        files.append(path)

    # Restore-to-first-batch at 10/50/90% of the epoch, main configuration.
    fig, axes = plt.subplots(1, len(workloads), figsize=(3.2 * len(workloads), 3.6), squeeze=False)
    for ax, w in zip(axes[0], workloads):
        for lib in libs:
            e = summary[w][lib].get(str(common.WORKLOADS[w]["shuffle"]), {})
            rs = e.get("restore", {})
            pts = [(f * 100, rs[str(f)]) for f in RESTORE_POINTS if str(f) in rs]
            if pts:
                ax.plot(*zip(*pts), "o-", label=LIB_NAMES[lib], color=COLORS[lib])
        if ax.lines:
            ax.set_yscale("log")
        ax.set_xlabel("% of the epoch")
        ax.set_title(f"workload {w}", fontsize=9)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("restore to first batch, s (log)")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    path = os.path.join(out_dir, "restore.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    files.append(path)
    return files


# ---- docs -------------------------------------------------------------------------------

BEGIN = "<!-- BEGIN GENERATED by bench/suite.py --docs: do not edit by hand -->"
END = "<!-- END GENERATED -->"


def update_docs(doc_path, body, plot_files):
    img_dir = os.path.join(os.path.dirname(doc_path), "benchmarks")
    os.makedirs(img_dir, exist_ok=True)
    for p in plot_files:
        shutil.copy(p, img_dir)
    imgs = "\n\n".join(f"![{os.path.basename(p)[:-4]}](benchmarks/{os.path.basename(p)})"
                       for p in plot_files)
    block = f"{BEGIN}\n\n{body}\n\n#### Plots\n\n{imgs}\n\n{END}"
    text = open(doc_path).read() if os.path.exists(doc_path) else "# Benchmarks\n\n"
    if BEGIN in text and END in text:
        pre, rest = text.split(BEGIN, 1)
        post = rest.split(END, 1)[1]
        text = pre + block + post
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    with open(doc_path, "w") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="100k records, fewer repetitions")
    ap.add_argument("--workloads", default=",".join(ALL_WORKLOADS),
                    help="a,b,c,d (see README), r (the readers alone, the readers table) and e "
                    "(a Python function per record: bench/python_fn.py)")
    ap.add_argument("--libs", default=",".join(LIBS))
    ap.add_argument("--all-buffers", action="store_true",
                    help="also measure the state at shuffle buffers 1k/10k/100k in workloads b, c "
                    "and d (by default only workload a's buffered variants are run: the shuffle "
                    "op is the same, and the full run stays under an hour on 2 cores)")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--n", type=int, help="records per data set (default 1M, --quick 100k)")
    ap.add_argument("--out", help="results folder (default bench/results/full or quick)")
    ap.add_argument("--docs", help="rewrite the generated part of this markdown file")
    ap.add_argument("--from-json", help="only re-render tables/plots from a results.json")
    ap.add_argument("--from-journal", help="render what an interrupted run measured, from the "
                    "workers' journal (bench/results/journal.jsonl)")
    ap.add_argument("--merge", help="a results.json to update: this run's measurements replace "
                    "its ones with the same keys (e.g. rerun one library), the rest is kept")
    args = ap.parse_args()
    cfg = dict(QUICK if args.quick else FULL, quick=args.quick, threads=args.threads)
    if args.n:
        cfg["n"] = args.n
    if args.all_buffers:
        cfg["other_buffers"] = True
    workloads = args.workloads.split(",")
    unknown = [w for w in workloads if w not in ALL_WORKLOADS]
    if unknown:
        ap.error(f"unknown workloads {unknown}: choose from {','.join(ALL_WORKLOADS)}")
    libs = args.libs.split(",")
    run_e = "e" in workloads and not (args.from_json or args.from_journal)
    workloads = [w for w in workloads if w != "e"]
    out_dir = args.out or os.path.join(HERE, "results", "quick" if args.quick else "full")
    os.makedirs(out_dir, exist_ok=True)
    if "p" in workloads:  # bench/parquet.py: its table is printed and written on its own
        workloads.remove("p")
        subprocess.run([sys.executable, os.path.join(HERE, "parquet.py"), "--rows",
                        str(cfg["n"]), "--reps", str(cfg["reps"]), "--out",
                        os.path.join(out_dir, "parquet.md")], check=False)
        if not workloads and not run_e:
            return
    if "w" in workloads:  # bench/ranks.py: W rank processes; its table is written on its own
        workloads.remove("w")
        subprocess.run([sys.executable, os.path.join(HERE, "ranks.py"), "--records",
                        str(cfg["n"] if args.quick else cfg["n"] // 5), "--out",
                        os.path.join(out_dir, "ranks.md")], check=False)
        if not workloads and not run_e:
            return
    if args.from_journal:
        results, seen = {}, {}
        for line in open(args.from_journal):
            e = json.loads(line)
            t = e["task"]
            if t["n"] != cfg["n"]:
                continue
            k = (t["workload"], t["lib"], str(t["shuffle"]), t["phase"])
            rep = seen[k] = seen.get(k, -1) + 1
            results["|".join(map(str, k + (rep,)))] = dict(e["result"], load=e["load"])
        workloads = [w for w in workloads
                     if any(k.startswith(w + "|") or (w == "r" and k.startswith("r-")) for k in results)]
        started, wall = "(from the journal of an interrupted run)", float("nan")
    elif args.from_json:
        saved = json.load(open(args.from_json))
        results, cfg, started, wall = saved["results"], saved["config"], saved["started"], saved["wall_s"]
        workloads, libs = saved["workloads"], saved["libs"]
    else:
        started = datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M")
        t0 = time.time()
        print(f"== inputpipe benchmark suite ({'quick' if args.quick else 'full'}): "
              f"{cfg['n']:,} records, workloads {workloads}, libraries {libs}", flush=True)
        results = run_all(workloads, libs, cfg, out_dir, os.path.join(HERE, "results", "data"))
        results.update(remote.run(workloads, cfg, os.path.join(HERE, "results", "data")))
        wall = time.time() - t0
        if args.merge:
            saved = json.load(open(args.merge))
            merged = dict(saved["results"])
            merged.update(results)
            results = merged
            workloads = [w for w in ALL_WORKLOADS if w in set(workloads) | set(saved["workloads"])]
            libs = [l for l in LIBS if l in set(libs) | set(saved["libs"])]
            started = f"{saved['started']} (+ {args.libs} on {args.workloads} rerun {started})"
            wall = saved["wall_s"] + wall
    summary = summarise(results, workloads, libs)
    loads = [r["load"] for r in results.values() if "load" in r] or [float("nan")]
    m = machine(summary, cfg)
    body = ("#### Machine and run\n\n" + machine_md(m, cfg, started, wall, loads) + "\n\n" +
            tables(summary, workloads, libs) + remote.suite_table(results, workloads))
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump(dict(config=cfg, started=started, wall_s=wall, workloads=workloads, libs=libs,
                       machine=m, results=results, summary=summary), f, indent=1, default=str)
    with open(os.path.join(out_dir, "results.md"), "w") as f:
        f.write(body + "\n")
    files = plots(summary, workloads, libs, out_dir)
    print("\n" + body)
    print(f"\nresults: {out_dir}/results.md, results.json, " + ", ".join(os.path.basename(p) for p in files))
    if args.docs:
        update_docs(args.docs, body, files)
        print(f"updated {args.docs}")
    if run_e:  # workload e: its own rows and tables (python_fn.json / .md in the same folder)
        import python_fn
        e_libs = [{"torchdata": "torch"}.get(l, l) for l in libs]
        print("\n" + python_fn.run(list(python_fn.VARIANTS), e_libs, args.quick, out_dir)[1])


if __name__ == "__main__":
    main()
