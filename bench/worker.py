"""Runs one measurement of one library in this process and prints it as JSON.

    python bench/worker.py '{"lib": "tfdata", "workload": "a", "phase": "throughput", ...}'

The suite (suite.py) starts one worker per measurement, so each library runs alone in its own
process: imports do not mix, and the peak RSS read at the end (ru_maxrss) is that library's.

Phases:
  throughput  build the pipeline, time to the first batch, then records/s until the end of the
              epoch or `time_cap` seconds; checks that every record came exactly once.
  checkpoint  iterate, saving the state at many points (the time of each save, on this thread,
              and the state's size), keep the states taken at `restore_points` (fractions of an
              epoch), then for each: build a fresh pipeline, restore, take the first batch (timed)
              and compare it with the batch the original iterator gave after the save.
"""

import gc
import importlib
import json
import math
import os
import resource
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

import common  # noqa: E402

LIBS = {"inputpipe": "lib_inputpipe", "tfdata": "lib_tfdata", "grain": "lib_grain",
        "torchdata": "lib_torchdata"}


def rss_mb():
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return self_kb / 1024, child_kb / 1024


class TreeRss:
    """Samples the proportional set size (PSS: each shared page divided among the processes
    sharing it) of this process and all its descendants (worker processes) every 50 ms;
    `peak_mb` is the largest sum seen. PSS, not RSS, so that the pages a forked worker shares
    with its parent are not counted twice."""

    def __init__(self):
        import threading
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        import psutil
        me = psutil.Process()
        while not self._stop.wait(0.05):
            total = 0
            for p in [me] + me.children(recursive=True):
                try:
                    total += p.memory_full_info().pss
                except psutil.Error:
                    pass
            self.peak_mb = max(self.peak_mb, total / 2**20)

    def stop(self):
        self._stop.set()
        self._thread.join()
        return self.peak_mb


def throughput(lib, task):
    wl = common.workload(task["workload"])
    n = task["n"]
    sampler = TreeRss()
    t0 = time.perf_counter()
    pipe = lib.build(wl, task["shuffle"], task)
    it = pipe.iterator()
    b = pipe.next(it)
    t1 = time.perf_counter()
    out = common.timed_epoch(lambda: pipe.next(it), pipe.batch_ids, b, n, task["time_cap"], t1)
    out["epoch_complete"] = out.pop("complete")
    out.update(ttfb_s=t1 - t0, note=pipe.note())
    if "reader_threads" in wl:  # the readers table gives MB/s: the bytes of the files read
        out["file_bytes"] = sum(os.path.getsize(p)
                                for p in common.reader_files(task["data_dir"], n, wl))
        out["file_rows"] = n
    out["rss_tree_mb"] = sampler.stop()
    pipe.close(it)
    del it, b
    pipe.cleanup()
    del pipe
    gc.collect()
    out["rss_self_mb"], out["rss_children_mb"] = rss_mb()
    return out


SLOW_SAVE_S = 20.0


def checkpoint(lib, task):
    wl = common.workload(task["workload"])
    n, bs = task["n"], wl["batch"]
    batches = math.ceil(n / bs)
    pipe = lib.build(wl, task["shuffle"], task)
    note = pipe.note()
    points = {}  # batch count after which a state is kept for restoring -> fraction
    for f in task["restore_points"]:
        points[max(1, min(batches - 1, round(f * batches)))] = f
    if points:
        last = max(points)
        saves = set(np.linspace(1, last, task["n_saves"]).round().astype(int).tolist()) | set(points)
    else:  # short run: consecutive saves once the shuffle buffer is full
        last = task["n_saves"]
        saves = set(range(1, last + 1))
        points[last] = "short"
    sizes, times, kept, expected = [], [], {}, {}
    spent = 0.0
    it = pipe.iterator()
    count = 0
    while count <= last:
        b = pipe.next(it)
        count += 1
        if count - 1 in points:  # the batch that follows a kept state
            expected[points[count - 1]] = common.ids_digest(pipe.batch_ids(b))
        if count in saves and (count in points or spent < task["save_budget_s"]):
            t = time.perf_counter()
            blob = pipe.save(it)
            dt = time.perf_counter() - t
            spent += dt
            times.append(dt)
            sizes.append(pipe.state_size(blob))
            if count in points:
                kept[points[count]] = blob
                if dt > SLOW_SAVE_S and any(c > count for c in points):
                    # A state this slow to save (whole buffers of the data set in it): keep the
                    # 50% point only, so that the run ends in bounded time. The table shows "–"
                    # for the points skipped.
                    for c in [c for c in points if c > count and points[c] != 0.5]:
                        del points[c]
                    last = max(points)
            else:
                pipe.discard(blob)
    pipe.close(it)
    del it
    restores = {}
    for f, blob in kept.items():
        runs = []
        exact = True
        for rep in range(task["restore_reps"]):
            if rep and sum(runs) > task.get("restore_budget_s", 10.0):
                break  # slow restores (whole buffers in the state): fewer repetitions
            t = time.perf_counter()
            p2 = lib.build(wl, task["shuffle"], task)
            it2 = p2.restore(blob)
            b = p2.next(it2)
            runs.append(time.perf_counter() - t)
            exact = exact and common.ids_digest(p2.batch_ids(b)) == expected[f]
            p2.close(it2)
            del it2, b
            p2.cleanup()
            del p2
            gc.collect()
        restores[str(f)] = dict(times=runs, exact=exact)
    pipe.cleanup()
    return dict(state_bytes=sizes, save_s=times, restores=restores, note=note)


def main():
    task = json.loads(sys.argv[1])
    try:
        lib = importlib.import_module(LIBS[task["lib"]])
        if common.workload(task["workload"])["source"] == "array":
            common.make_array(task["n"])  # the in-memory data exists before the clock starts
        out = {"throughput": throughput, "checkpoint": checkpoint}[task["phase"]](lib, task)
        out["versions"] = lib.versions()
        out["status"] = "ok"
    except common.NotExpressible as e:
        out = dict(status="not_expressible", why=str(e))
    except (common.Pending, ImportError) as e:
        out = dict(status="pending", why=str(e))
    except Exception as e:  # the suite reports it in the table; the traceback goes to stderr
        traceback.print_exc()
        out = dict(status="error", why=f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}")
    sys.stdout.flush()
    print("RESULT " + json.dumps(out), flush=True)
    # Also appended to a journal next to the data folder, so that an interrupted suite run
    # keeps what it measured (suite.py --from-journal renders it).
    try:
        with open(os.path.join(os.path.dirname(os.path.abspath(task["data_dir"])),
                               "journal.jsonl"), "a") as f:
            f.write(json.dumps(dict(task=task, result=out, load=os.getloadavg()[0])) + "\n")
    except OSError:
        pass
    # Worker threads/processes of some libraries can hold the interpreter at exit.
    os._exit(0)


if __name__ == "__main__":
    main()
