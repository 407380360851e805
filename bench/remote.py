"""Local files against the same files served by S3 on loopback: MB/s of each reader over one
file, local disk (page cache warm) vs a moto S3 server on 127.0.0.1 (a child process, as the
tests start it: tests/python/s3_server.py), read through inputpipe.remote (fsspec + s3fs) with
the engine's block reads and read-ahead (inputpipe/remote_file.h). The target: remote >= 0.5x
local on loopback (docs/remote.md says what loopback does not show: real latency).

    .venv/bin/python bench/remote.py [--mb 64] [--reps 3]      # standalone, the project's venv
    bench/.venv/bin/python bench/suite.py --workloads s         # in the suite (workload "s")

Formats: FORMATS below; TFRecord (records of 1 KiB, raw: no parse, so the number is the I/O
path's) and Parquet when inputpipe.ParquetDataset and pyarrow are installed (the Parquet/Arrow
sources; until then its row says "not available"). Each cell is the best of --reps epochs: the
machine is shared, the best epoch is the least disturbed one. Every epoch also times a save
on the consumer's thread after every SAVE_EVERY-th batch (median / p99 in the table, local and
S3). Needs moto[server], s3fs, boto3 (tests/python/requirements-remote.txt; bench/setup.sh
installs them into bench/.venv).
"""

import argparse
import json
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "python"))

# Suite registration (bench/suite.py): the workload key this file adds, and its title.
WORKLOADS = {"s": "local vs S3 on loopback (moto), MB/s per reader: remote >= 0.5x local"}
TARGET = 0.5
RECORD_BYTES = 1024
SAVE_EVERY = 4  # batches between timed saves (the first save after work, as in training)


def write_tfrecord(path, mb):
    import inputpipe
    payload = bytes(range(256)) * (RECORD_BYTES // 256)
    with inputpipe.TFRecordWriter(path) as w:
        for i in range(mb * 1024 * 1024 // (RECORD_BYTES + 16)):
            w.write(i.to_bytes(8, "little") + payload[8:])


def read_tfrecord(path, saves):
    import inputpipe
    return read_timing_saves(inputpipe.TFRecordDataset(path).batch(256), len, saves)


def write_parquet(path, mb):
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    rows = mb * 1024 * 1024 // (8 * 17)
    cols = {"id": np.arange(rows, dtype=np.int64)}
    rng = np.random.default_rng(1234)
    for c in range(16):
        cols[f"x{c}"] = rng.standard_normal(rows)
    pq.write_table(pa.table(cols), path, row_group_size=64 * 1024, compression="NONE")


def read_parquet(path, saves):
    import inputpipe
    return read_timing_saves(inputpipe.ParquetDataset(path).batch(1024),
                             lambda batch: len(batch["id"]), saves)


def read_timing_saves(ds, records_of, saves):
    """Records of one epoch of `ds`; a save after every SAVE_EVERY-th batch, timed on this (the
    consumer's) thread as bench/parquet.py times them, its seconds appended to `saves`."""
    it = iter(ds)
    n = 0
    for k, batch in enumerate(it, 1):
        n += records_of(batch)
        if k % SAVE_EVERY == 0:
            t = time.perf_counter()
            it.save()
            saves.append(time.perf_counter() - t)
    return n


def parquet_available():
    try:
        import pyarrow  # noqa: F401
        import inputpipe
        return hasattr(inputpipe, "ParquetDataset")
    except ImportError:
        return False


# name -> (write(path, mb), read(path, saves) -> records, available() -> bool)
FORMATS = {
    "tfrecord": (write_tfrecord, read_tfrecord, lambda: True),
    "parquet": (write_parquet, read_parquet, parquet_available),
}


def best_mb_per_s(read, path, size, reps, saves):
    """(best MB/s, records, least client CPU s/GB) over `reps` epochs; every epoch's save
    seconds go to `saves`. The CPU is this process's, all its threads (moto's is its own
    process's): what a loaded machine blurs least."""
    best, records, cpu = 0.0, None, float("inf")
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        n = read(path, saves)
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        if records is not None and n != records:
            raise SystemExit(f"{path}: {n} records, then {records}")
        records = n
        best = max(best, size / dt / 1e6)
        cpu = min(cpu, dc / size * 1e9)
    return best, records, cpu


# Block sizes of the remote reads measured: the default, and one block per 32 MiB (what moto,
# whose every ranged GET costs time in proportion to the whole object, needs; docs/benchmarks.md).
BLOCKS_MIB = [8, 32]


def server_ceiling(fs, key, size, block, reps):
    """MB/s of the server alone: one GET of the whole object (a presigned URL read with
    http.client into a buffer of `block` bytes, the bytes dropped), what any client of this
    server gets at best from one stream."""
    import http.client
    import urllib.parse
    url = urllib.parse.urlsplit(fs.url(key, expires=3600))
    buffer = memoryview(bytearray(block))
    best = 0.0
    for _ in range(reps):
        t0 = time.perf_counter()
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
        conn.request("GET", f"{url.path}?{url.query}")
        resp = conn.getresponse()
        got = 0
        while k := resp.readinto(buffer):
            got += k
        conn.close()
        if got != size:
            raise SystemExit(f"{key}: {got} of {size} bytes from the server")
        best = max(best, size / (time.perf_counter() - t0) / 1e6)
    return best


def measure(mb=64, reps=3, data_dir=None, socket_reads=True):
    """-> {format: {local_mb_s, local_cpu, remote: {block MiB: MB/s}, remote_cpu: {block MiB:
    s/GB}, ceiling: {...}, bytes, records, local_saves: [seconds], remote_saves: {block MiB:
    [seconds]}} or {why}}. socket_reads False: bodies read with http.client's readinto, not by
    the engine from the socket (the store's socket_streams)."""
    import inputpipe
    import s3_server

    data_dir = data_dir or os.path.join(HERE, "results", "data")
    os.makedirs(data_dir, exist_ok=True)
    os.environ.update({k: v for k, v in s3_server.CREDENTIALS.items()})
    out = {}
    with s3_server.MotoServer() as moto:
        s3_server.create_bucket(moto.url, "bench")
        for name, (write, read, available) in FORMATS.items():
            if not available():
                out[name] = {"why": "not available (inputpipe.ParquetDataset / pyarrow missing)"}
                continue
            path = os.path.join(data_dir, f"remote-{name}-{mb}mb.{name}")
            if not os.path.exists(path):
                write(path, mb)
            size = os.path.getsize(path)
            key = f"bench/{os.path.basename(path)}"
            local_saves = []
            local_mb_s, n_local, local_cpu = best_mb_per_s(read, path, size, reps, local_saves)
            r = dict(local_mb_s=local_mb_s, local_cpu=local_cpu, remote={}, remote_cpu={},
                     ceiling={}, bytes=size, records=n_local, local_saves=local_saves,
                     remote_saves={})
            for mib in BLOCKS_MIB:
                store = inputpipe.remote.FsspecFileSystem("s3", **s3_server.storage_options(moto.url))
                store.read_block_size = mib << 20
                store.socket_streams = socket_reads
                inputpipe.register_file_system("s3", store)
                fs = store._filesystem()
                if not fs.exists(key):
                    fs.put_file(path, key)
                remote_saves = r["remote_saves"][mib] = []
                remote_mb_s, n_remote, r["remote_cpu"][mib] = best_mb_per_s(
                    read, f"s3://{key}", size, reps, remote_saves)
                if n_local != n_remote:
                    raise SystemExit(f"{name}: {n_local} records locally, {n_remote} from S3")
                r["remote"][mib] = remote_mb_s
                r["ceiling"][mib] = server_ceiling(fs, key, size, mib << 20, reps)
            out[name] = r
        inputpipe.remote.register("s3")
    return out


def table(results):
    """The markdown table of measure()'s results."""
    md = ["#### Remote files: local vs S3 on loopback (moto)", "",
          f"Save = `it.save()` on the consumer's thread after every {SAVE_EVERY}th batch of "
          "every epoch, median / p99.", "",
          "| format | file | local MB/s | S3 block | S3 MB/s (inputpipe) | server alone MB/s "
          "| inputpipe / server | S3 / local (target >= 0.5x) | client CPU s/GB, local / S3 "
          "| save local | save S3 |",
          "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        if "why" in r:
            md.append(f"| {name} | {r['why']} | | | | | | | | | |")
            continue
        for mib, remote in r["remote"].items():
            ratio = remote / r["local_mb_s"]
            ok = "met" if ratio >= TARGET else "**missed**"
            ceiling = r["ceiling"][mib]
            md.append(f"| {name} | {r['bytes'] / 1e6:.0f} MB, {r['records']:,} records | "
                      f"{r['local_mb_s']:,.0f} | {mib} MiB | {remote:,.0f} | {ceiling:,.0f} | "
                      f"{remote / ceiling:.2f}x | {ratio:.2f}x: {ok} | "
                      f"{r['local_cpu']:.2f} / {r['remote_cpu'][mib]:.2f} | "
                      f"{save_cell(r.get('local_saves'))} | "
                      f"{save_cell(r.get('remote_saves', {}).get(mib))} |")
    return "\n".join(md)


def save_cell(saves):
    """"median / p99 µs" of save seconds (results from before the save column: "–")."""
    if not saves:
        return "–"
    import numpy as np
    median, p99 = np.percentile(saves, [50, 99]) * 1e6
    return f"{median:.0f} / {p99:.0f} µs"


# ---- the suite's hooks (bench/suite.py, workload "s") ---------------------------------------

def run(workloads, cfg, data_dir):
    """The suite's results entries for workload "s" (none when it was not asked for)."""
    if "s" not in workloads:
        return {}
    mb = 32 if cfg.get("quick") else 128
    reps = 1 if cfg.get("quick") else 3
    try:
        return {"s|remote": dict(status="ok", formats=measure(mb, reps, data_dir))}
    except ImportError as e:
        return {"s|remote": dict(status="not installed", why=f"{e} (pip install -r "
                                 "tests/python/requirements-remote.txt)")}


def suite_table(results, workloads):
    r = results.get("s|remote")
    if "s" not in workloads or r is None:
        return ""
    if r["status"] != "ok":
        return f"#### Remote files: local vs S3 on loopback (moto)\n\n{r['status']}: {r['why']}\n"
    return table(r["formats"]) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=int, default=64, help="file size per format")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--no-socket-reads", action="store_true",
                    help="read S3 bodies with http.client's readinto, not from the socket in C++")
    ap.add_argument("--gil-hog", action="store_true",
                    help="a Python thread computing meanwhile, as a training step holding the "
                         "GIL would: what the body reads compete with for the GIL")
    args = ap.parse_args()
    import inputpipe
    print(f"inputpipe from {os.path.dirname(inputpipe.__file__)}; load {os.getloadavg()[0]:.1f}")
    stop = threading.Event()
    if args.gil_hog:
        def hog():
            while not stop.is_set():
                sum(range(10_000))
        threading.Thread(target=hog, daemon=True).start()
    try:
        results = measure(args.mb, args.reps, socket_reads=not args.no_socket_reads)
    finally:
        stop.set()
    print(table(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
