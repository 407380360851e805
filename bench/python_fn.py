"""Workload e: a Python function per record, run sequentially, in threads and in worker processes,
inputpipe against Grain, torch's DataLoader, torchdata's StatefulDataLoader and tf.data.

    bench/.venv/bin/python bench/python_fn.py [--quick] [--libs inputpipe,grain,torch,tfdata]
                                              [--variants text,image] [--out DIR]
    bench/.venv/bin/python bench/suite.py --workloads e [--quick]      # the same, from the suite

Two variants of the per-record function, the same code for every library (records_fn below):
  text   a line of ~1100 words tokenised with Python string operations and a dict lookup per
         word, padded to int32[128]: about 1 ms of pure Python per record, all of it under the GIL;
  image  a 224x224x3 uint8 image "decoded" (zlib.decompress of its stored bytes) and augmented
         with numpy (random crop, flip, brightness, resize back by index arithmetic) into
         uint8[224, 224, 3]: about 2.5 ms of CPU, much of it in numpy and zlib (they release
         the GIL).
The pipeline: in-memory records -> global shuffle (seed) -> map(fn) -> batch(32) -> a read-ahead
of 2 batches (prefetch(2); DataLoader's prefetch_factor=2 per worker; Grain's
prefetch_buffer_size=2), written in each library's own way (the rows say how). Rows per
variant: inputpipe sequential, 2 threads, processes at 1, 2 (and 8 for text) workers
(`map(fn, num_parallel_calls=N, processes=True)`; "not available" where the installed inputpipe
has no `processes=`), Grain `mp_prefetch` at 1 and 2 (8) workers, torch DataLoader and torchdata
StatefulDataLoader with num_workers 1 and 2 (8), tf.data `py_function` in
`map(num_parallel_calls=2)`. --quick: the image variant at 2 workers only, the 8-worker row for
inputpipe only, tf.data for text only (its start-up and the peers' 8 workers take 10-30 s each
on 2 cores).

The prefetch table (inputpipe only; `--prefetch-only` runs it alone, e.g. to compare two builds):
`map(fn[, num_parallel_calls=2]).batch(32)` with and without `prefetch(2)`, consumed with no work
or with a training step that releases the GIL, for a function that holds the GIL.

Checkpoint rows (text variant, 2 workers where the library has workers): the state's bytes, the
save median on the training thread, and restore + first batch at 90% of the epoch (building the
pipeline, restoring, taking one batch), checked against the batch the uninterrupted run gave.

Each measurement runs in its own process (worker_main(task) of this file); results go to
bench/results/<quick|full>/python_fn.json and .md. A measurement that fails reports its error in
its row; one that cannot be expressed says why. The machine's load changes these numbers: run
on an idle machine for anything but an indication.
"""

import argparse
import json
import math
import os
import pickle
import subprocess
import sys
import time
import traceback
import zlib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import common  # noqa: E402

SEED = 1234
BATCH = 32
PREFETCH = 2  # batches read ahead, in every library (see GrainPipe)
TOKENS = 128
SIZE = 224
VARIANTS = {
    "text": "tokenise a ~1100-word line (str ops + dict lookups, ~1 ms pure Python) -> int32[128]",
    "image": "zlib-decode a 224x224x3 uint8 image + numpy augment (crop, flip, resize, "
             "brightness) -> uint8[224,224,3]",
}
FULL = dict(n_text=6000, n_image=4000, time_cap=10.0, reps=2, timeout=300, n_saves=30,
            n_prefetch=640, prefetch_reps=5)
QUICK = dict(n_text=1200, n_image=600, time_cap=2.0, reps=1, timeout=120, n_saves=10,
             n_prefetch=320, prefetch_reps=3)
LIBS = ["inputpipe", "grain", "torch", "tfdata"]


# ---- the records and the per-record functions (identical in every library) -------------------

_WORDS = None


def _vocab():
    global _WORDS
    if _WORDS is None:
        rng = np.random.default_rng(SEED)
        letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
        words = sorted({"".join(rng.choice(letters, rng.integers(2, 9))) for _ in range(6000)})
        _WORDS = (words, {w: i + 1 for i, w in enumerate(words)})
    return _WORDS


# Built at import (~0.2 s), not on a worker's first call: a worker that imports this module or
# is forked from a process that did (inputpipe's fork server, torch's fork) has it; built lazily,
# every fresh worker paid it inside the first batch, which the restore row times.
_vocab()


class TextRecords:
    """Record i: a line of ~1100 words (some capitalised, with punctuation), made on demand from
    a seed: cheap, picklable (workers rebuild it), the same bytes in every process."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def line(self, i):
        words = _vocab()[0]
        rng = np.random.default_rng((SEED, int(i)))
        picks = rng.integers(0, len(words), 1100)
        punct = rng.integers(0, 12, 1100)
        parts = []
        for w, p in zip(picks.tolist(), punct.tolist()):
            w = words[w]
            parts.append(w.capitalize() + "," if p == 0 else (w + "." if p == 1 else w))
        return " ".join(parts)


def tokenize(line):
    """~1 ms of pure Python: lower, split, strip punctuation, one dict lookup per word and per
    bigram, pad to TOKENS."""
    vocab = _vocab()[1]
    ids, prev = [], 0
    for w in line.lower().split():
        w = w.strip(".,;:!?")
        t = vocab.get(w, 0)
        ids.append(t)
        ids.append(vocab.get(w[:3], 0) ^ prev)  # a cheap "bigram" feature: one more lookup
        prev = t
    out = np.zeros(TOKENS, dtype=np.int32)
    n = min(TOKENS, len(ids))
    out[:n] = ids[:n]
    return out


_IMAGES = None


def _images():
    """Eight stored images (zlib-compressed 224x224x3 uint8 with smooth content, so that they
    compress as photographs roughly do); record i is image i % 8."""
    global _IMAGES
    if _IMAGES is None:
        rng = np.random.default_rng(SEED)
        yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
        out = []
        for k in range(8):
            a, b, c = rng.uniform(0.01, 0.08, 3)
            img = np.stack([np.sin(xx * a + k), np.cos(yy * b - k), np.sin((xx + yy) * c)], -1)
            img = ((img + 1) * 127.5 + rng.normal(0, 3, img.shape)).clip(0, 255).astype(np.uint8)
            out.append(zlib.compress(img.tobytes(), 1))
        _IMAGES = out
    return _IMAGES


def decode_augment(i):
    """Decode record i's image, then a random crop (seeded by i), flip, a nearest-neighbour resize
    back to 224x224 by index arithmetic and a brightness change, all numpy."""
    raw = zlib.decompress(_images()[i % 8])
    img = np.frombuffer(raw, dtype=np.uint8).reshape(SIZE, SIZE, 3)
    rng = np.random.default_rng((SEED, int(i)))
    ch = int(rng.integers(160, SIZE + 1))
    y0, x0 = rng.integers(0, SIZE - ch + 1, 2)
    crop = img[y0:y0 + ch, x0:x0 + ch]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    idx = np.arange(SIZE) * ch // SIZE
    out = crop[idx][:, idx].astype(np.uint16)
    out *= int(rng.integers(200, 300))  # brightness: x * k / 256, saturated
    out >>= 8
    return np.minimum(out, 255).astype(np.uint8)


class Work:
    """The per-record function of a variant, as a picklable callable: id -> (payload, id)."""

    def __init__(self, variant, n):
        self.variant, self.n = variant, n
        self.text = TextRecords(n) if variant == "text" else None

    def __call__(self, i):
        i = int(i)
        if self.variant == "text":
            return tokenize(self.text.line(i)), np.int64(i)
        return decode_augment(i), np.int64(i)


def records_fn(variant, n):
    return Work(variant, n)


# ---- one library's pipeline -------------------------------------------------------------------
# Each builder returns an object with iterator(), next(it), ids(batch), save(it) -> bytes,
# restore(blob) -> iterator, close(it), note. Raise NotExpressible / NotAvailable with a reason.

class NotExpressible(Exception):
    pass


class NotAvailable(Exception):
    pass


class InputpipePipe:
    def __init__(self, variant, n, mode, workers):
        import inputpipe as ip
        self.ip = ip
        fn = records_fn(variant, n)
        ds = ip.Dataset.range(n).shuffle(seed=SEED)
        if mode == "sequential":
            ds = ds.map(fn)
            self.note = "map(fn)"
        elif mode == "threads":
            ds = ds.map(fn, num_parallel_calls=workers)
            self.note = f"map(fn, num_parallel_calls={workers}) (threads, GIL)"
        else:
            try:
                ds = ds.map(fn, num_parallel_calls=workers, processes=True)
            except TypeError as e:
                if "processes" in str(e):
                    raise NotAvailable("map(processes=True) is not in the installed inputpipe "
                                       "(worker processes not merged yet)")
                raise
            self.note = f"map(fn, num_parallel_calls={workers}, processes=True)"
        self.ds = ds.batch(BATCH).prefetch(PREFETCH)
        self.note += f" -> batch -> prefetch({PREFETCH})"

    def iterator(self):
        return iter(self.ds)

    def next(self, it):
        return next(it)

    def ids(self, b):
        return np.asarray(b[1])

    def save(self, it):
        return it.save()

    def restore(self, blob):
        it = iter(self.ds)
        it.restore(blob)
        return it

    def close(self, it):
        pass


class GrainSource:
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return i


class GrainPipe(common.GrainState):
    def __init__(self, variant, n, mode, workers):
        import grain
        fn = records_fn(variant, n)
        ds = grain.MapDataset.source(GrainSource(n)).shuffle(seed=SEED).map(fn).batch(BATCH)
        # One read thread per worker process and a read-ahead of PREFETCH batches, as the other
        # rows have (Grain's defaults, 16 threads and 500 elements, would fill the read-ahead with
        # the whole quick epoch before the first batch, and time only its draining).
        ds = ds.to_iter_dataset(grain.ReadOptions(num_threads=1, prefetch_buffer_size=PREFETCH))
        if mode != "processes":
            raise NotExpressible("only mp_prefetch rows are measured for Grain")
        self.ds = ds.mp_prefetch(grain.MultiprocessingOptions(num_workers=workers))
        self.note = (f"to_iter_dataset(ReadOptions(num_threads=1, prefetch_buffer_size={PREFETCH}))"
                     f".mp_prefetch(num_workers={workers})")

    def iterator(self):
        return iter(self.ds)

    def next(self, it):
        return next(it)

    def ids(self, b):
        return np.asarray(b[1])


class TorchDataset:
    def __init__(self, variant, n):
        self.fn, self.n = records_fn(variant, n), n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        import torch
        x, j = self.fn(i)
        return torch.from_numpy(np.ascontiguousarray(x)), int(j)


class TorchPipe:
    def __init__(self, variant, n, mode, workers, stateful):
        import torch
        self.torch = torch
        self.stateful = stateful
        self.args = dict(dataset=TorchDataset(variant, n), batch_size=BATCH, shuffle=True,
                         num_workers=workers if mode == "processes" else 0,
                         generator=torch.Generator().manual_seed(SEED),
                         persistent_workers=False)
        if mode == "processes":
            self.args["prefetch_factor"] = PREFETCH  # batches read ahead per worker (the default)
        self.loader = self._loader()
        kind = "StatefulDataLoader" if stateful else "DataLoader"
        self.note = f"{kind}(num_workers={self.args['num_workers']})"

    def _loader(self):
        if self.stateful:
            from torchdata.stateful_dataloader import StatefulDataLoader
            return StatefulDataLoader(**self.args)
        from torch.utils.data import DataLoader
        return DataLoader(**self.args)

    def iterator(self):
        return iter(self.loader)

    def next(self, it):
        return next(it)

    def ids(self, b):
        return b[1].numpy()

    def save(self, it):
        if not self.stateful:
            raise NotExpressible("torch DataLoader has no state (StatefulDataLoader has)")
        return pickle.dumps(self.loader.state_dict())

    def restore(self, blob):
        self.args["generator"] = self.torch.Generator().manual_seed(SEED)
        self.loader = self._loader()
        self.loader.load_state_dict(pickle.loads(blob))
        return iter(self.loader)

    def close(self, it):
        shutdown = getattr(it, "_shutdown_workers", None)
        if shutdown:
            shutdown()


class TfPipe:
    def __init__(self, variant, n, mode, workers):
        import tensorflow as tf
        fn = records_fn(variant, n)
        shape = [TOKENS] if variant == "text" else [SIZE, SIZE, 3]
        dtype = tf.int32 if variant == "text" else tf.uint8

        def call(i):
            x, j = fn(int(i.numpy()))
            return x, j

        def mapped(i):
            x, j = tf.py_function(call, [i], [dtype, tf.int64])
            x.set_shape(shape)
            j.set_shape([])
            return x, j

        ds = tf.data.Dataset.range(n).shuffle(n, seed=SEED)
        ds = ds.map(mapped, num_parallel_calls=workers if mode == "threads" else None)
        self.ds = ds.batch(BATCH).prefetch(PREFETCH)
        self.note = (f"tf.py_function in map(num_parallel_calls={workers})" if mode == "threads"
                     else "tf.py_function in map()")

    def iterator(self):
        return iter(self.ds)

    def next(self, it):
        return next(it)

    def ids(self, b):
        return b[1].numpy()

    def save(self, it):
        raise NotExpressible("a tf.py_function pipeline cannot be checkpointed "
                             "(py_function is stateful external state)")

    def restore(self, blob):
        raise NotExpressible("see save")

    def close(self, it):
        pass


def build(task):
    lib, variant, mode, workers = task["lib"], task["variant"], task["mode"], task["workers"]
    n = task["n"]
    if lib == "inputpipe":
        return InputpipePipe(variant, n, mode, workers)
    if lib == "grain":
        return GrainPipe(variant, n, mode, workers)
    if lib in ("torch", "torchdata"):
        return TorchPipe(variant, n, mode, workers, stateful=lib == "torchdata")
    if lib == "tfdata":
        if mode == "processes":
            raise NotExpressible("tf.data has no worker processes")
        return TfPipe(variant, n, mode, workers)
    raise ValueError(lib)


def versions(lib):
    from importlib.metadata import version
    names = {"inputpipe": ["inputpipe"], "grain": ["grain"], "torch": ["torch"],
             "torchdata": ["torch", "torchdata"], "tfdata": ["tensorflow-cpu"]}[lib]
    out = {}
    for m in names:
        try:
            out[m] = version(m)
        except Exception:  # noqa: BLE001 - a version is only informative
            pass
    return out


# ---- the measurements (in a worker process) --------------------------------------------------

def measure_throughput(task):
    t0 = time.perf_counter()
    pipe = build(task)
    it = pipe.iterator()
    b = pipe.next(it)
    t1 = time.perf_counter()
    cpu0 = time.process_time()  # this process only: the consumer's and the engine's threads
    out = common.timed_epoch(lambda: pipe.next(it), pipe.ids, b, task["n"], task["time_cap"], t1)
    timed = max(1, out["records"] - len(pipe.ids(b)))
    out["parent_cpu_us"] = (time.process_time() - cpu0) / timed * 1e6
    pipe.close(it)
    del out["seconds"]
    out.update(ttfb_s=t1 - t0, note=pipe.note)
    return out


class GilHeld:
    """A stand-in for a 1 ms pure-Python function that does not need the CPU: libc usleep called
    through ctypes.PyDLL, which keeps the GIL. On a loaded machine the text function's times
    follow the machine's load; this one's follow the GIL hand-offs only."""

    def __init__(self, us):
        import ctypes
        self.us, self.libc = us, ctypes.PyDLL(None)

    def __call__(self, i):
        self.libc.usleep(self.us)
        return i


def measure_prefetch(task):
    """Does a prefetch after a Python map help? Epoch time of the text function's pipeline,
    inputpipe only, with and without prefetch, consumed by a loop that does `step` per batch:
    nothing, or a training step that releases the GIL (time.sleep: as a framework's step does),
    of `step_ms` per batch. Median of `reps` epochs."""
    import inputpipe as ip
    n, step, step_s = task["n"], task["step"], task["step_ms"] / 1e3
    fn = records_fn("text", n) if task["fn"] == "text" else GilHeld(1000)
    base = ip.Dataset.range(n)
    ds = base.map(fn, num_parallel_calls=task["workers"]) if task["workers"] else base.map(fn)
    ds = ds.batch(BATCH)
    if task["prefetch"]:
        ds = ds.prefetch(task["prefetch"])
    times = []
    for _ in range(task["reps"]):
        t = time.perf_counter()
        for _b in ds:
            if step == "sleep":
                time.sleep(step_s)
        times.append(time.perf_counter() - t)
    return dict(epoch_s=float(np.median(times)), epochs=times)


def digest(ids):
    return hash(tuple(np.asarray(ids, dtype=np.int64).tolist()))


def measure_checkpoint(task):
    """Saves spread over 90% of an epoch (times on this thread, sizes), keeps the state at 90%,
    then (in this process) builds a fresh pipeline, restores it and takes one batch."""
    n = task["n"]
    batches = math.ceil(n / BATCH)
    at = max(1, int(0.9 * batches))
    saves = set(np.linspace(1, at, task["n_saves"]).round().astype(int).tolist())
    pipe = build(task)
    it = pipe.iterator()
    times, sizes, kept, expected = [], [], None, None
    for count in range(1, at + 2):
        b = pipe.next(it)
        if count == at + 1:
            expected = digest(pipe.ids(b))
            break
        if count in saves:
            t = time.perf_counter()
            blob = pipe.save(it)
            times.append(time.perf_counter() - t)
            sizes.append(len(blob))
            if count == at:
                kept = blob
    pipe.close(it)
    del it
    t = time.perf_counter()
    p2 = build(task)
    it2 = p2.restore(kept)
    b = p2.next(it2)
    restore_s = time.perf_counter() - t
    exact = digest(p2.ids(b)) == expected
    p2.close(it2)
    return dict(save_s=times, state_bytes=sizes, restore_s=restore_s, exact=exact,
                note=pipe.note, state_hex=kept.hex() if task.get("keep_state") else None)


def worker_main(task):
    try:
        fn = {"checkpoint": measure_checkpoint, "prefetch": measure_prefetch}.get(
            task["phase"], measure_throughput)
        out = fn(task)
        out["versions"] = versions(task["lib"])
        out["status"] = "ok"
    except (NotExpressible,) as e:
        out = dict(status="not_expressible", why=str(e))
    except (NotAvailable, ImportError) as e:
        out = dict(status="not_available", why=str(e))
    except Exception as e:  # noqa: BLE001 - reported in the table, traceback on stderr
        traceback.print_exc()
        msg = str(e).splitlines()[0][:160] if str(e) else ""
        out = dict(status="error", why=f"{type(e).__name__}: {msg}")
    sys.stdout.flush()
    print("RESULT " + json.dumps(out), flush=True)
    os._exit(0)  # worker threads/processes of some libraries can hold the interpreter at exit


# ---- the plan, the runs, the tables ----------------------------------------------------------

def plan(variants, libs, quick):
    """(row label, task) in execution order."""
    rows = []

    def add(variant, lib, mode, workers, label):
        if lib in libs or (lib == "torchdata" and "torch" in libs):
            rows.append((variant, label, dict(lib=lib, variant=variant, mode=mode,
                                              workers=workers, phase="throughput")))

    for v in variants:
        # --quick: the image variant at 2 workers only (the 1-worker rows are the text's job).
        counts = (2,) if quick and v == "image" else (1, 2)
        add(v, "inputpipe", "sequential", 0, "inputpipe sequential")
        add(v, "inputpipe", "threads", 2, "inputpipe threads (2)")
        for w in counts:
            add(v, "inputpipe", "processes", w, f"inputpipe processes ({w})")
        for w in counts:
            add(v, "grain", "processes", w, f"Grain mp_prefetch ({w})")
        for w in counts:
            add(v, "torch", "processes", w, f"torch DataLoader ({w})")
        for w in counts:
            add(v, "torchdata", "processes", w, f"torchdata StatefulDataLoader ({w})")
        if not (quick and v == "image"):  # tf.data starts in ~5 s: once in --quick
            add(v, "tfdata", "threads", 2, "tf.data py_function (2 threads)")
        if v == "text":  # the 8-worker rows: 2 cores, it cannot scale; it must not fall over
            add(v, "inputpipe", "processes", 8, "inputpipe processes (8)")
            if not quick:  # the peers' 8 workers start in 10-30 s on 2 cores
                add(v, "grain", "processes", 8, "Grain mp_prefetch (8)")
                add(v, "torch", "processes", 8, "torch DataLoader (8)")
    ck = []
    if "text" in variants:
        for lib, mode, w, label in [("inputpipe", "sequential", 0, "inputpipe sequential"),
                                    ("inputpipe", "threads", 2, "inputpipe threads (2)"),
                                    ("inputpipe", "processes", 2, "inputpipe processes (2)"),
                                    ("grain", "processes", 2, "Grain mp_prefetch (2)"),
                                    ("torchdata", "processes", 2,
                                     "torchdata StatefulDataLoader (2)")]:
            if lib in libs or (lib == "torchdata" and "torch" in libs):
                ck.append(("text", label, dict(lib=lib, variant="text", mode=mode, workers=w,
                                               phase="checkpoint", keep_state=lib == "inputpipe")))
    pf = []
    if "inputpipe" in libs and "text" in variants:
        for fn in ("gil", "text") if not quick else ("gil",):
            for step in ("none", "sleep"):
                for workers in (0, 2):
                    for prefetch in (0, PREFETCH):
                        pf.append(("text", f"fn={fn} step={step} workers={workers} "
                                           f"prefetch={prefetch}",
                                   dict(lib="inputpipe", variant="text", phase="prefetch",
                                        fn=fn, step=step, step_ms=32.0, workers=workers,
                                        prefetch=prefetch, mode="prefetch")))
    return rows, ck, pf


def run_task(task, timeout, log):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONWARNINGS="ignore")
    code = (f"import sys; sys.path.insert(0, {HERE!r}); import python_fn, json; "
            f"python_fn.worker_main(json.loads(sys.argv[1]))")
    t = time.time()
    try:
        p = subprocess.run([sys.executable, "-c", code, json.dumps(task)], capture_output=True,
                           text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired as e:
        log.write(f"\n### {json.dumps(task)}\nTIMEOUT after {timeout}s\n{e.stderr or ''}\n")
        return dict(status="error", why=f"timed out after {timeout}s")
    log.write(f"\n### {json.dumps(task)} ({time.time() - t:.1f}s)\n{p.stderr[-3000:]}\n")
    log.flush()
    for line in reversed(p.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    return dict(status="error", why=f"worker exited {p.returncode} without a result "
                                    f"{p.stderr.strip().splitlines()[-1:]}")


def run(variants, libs, quick, out_dir, prefetch_only=False):
    cfg = dict(QUICK if quick else FULL)
    os.makedirs(out_dir, exist_ok=True)
    rows, ck, pf = plan(variants, libs, quick)
    if prefetch_only:
        rows, ck = [], []
    log = open(os.path.join(out_dir, "python_fn.log"), "w")
    results = {"throughput": [], "checkpoint": [], "prefetch": []}
    t_start = time.time()
    total = len(rows) * cfg["reps"] + len(ck) + len(pf)
    k = 0
    for rep in range(cfg["reps"]):  # repetitions interleaved: load changes hit every row alike
        for variant, label, task in rows:
            task = dict(task, n=cfg[f"n_{variant}"], time_cap=cfg["time_cap"])
            res = run_task(task, cfg["timeout"], log)
            res["load"] = os.getloadavg()[0]
            results["throughput"].append(dict(variant=variant, label=label, rep=rep, task=task,
                                              result=res))
            k += 1
            brief = (f"{res['throughput']:,.0f} rec/s, first batch {res['ttfb_s']:.2f} s"
                     if res["status"] == "ok" else f"{res['status']}: {res.get('why', '')}")
            print(f"[e {k}/{total} {time.time() - t_start:4.0f}s] {variant:5s} {label:34s} "
                  f"{brief}", flush=True)
    for variant, label, task in ck:
        task = dict(task, n=cfg[f"n_{variant}"], n_saves=cfg["n_saves"])
        res = run_task(task, cfg["timeout"], log)
        res["load"] = os.getloadavg()[0]
        results["checkpoint"].append(dict(variant=variant, label=label, task=task, result=res))
        k += 1
        brief = (f"state {np.median(res['state_bytes']):,.0f} B, save "
                 f"{np.median(res['save_s']) * 1e3:.2f} ms, restore {res['restore_s']:.2f} s"
                 if res["status"] == "ok" else f"{res['status']}: {res.get('why', '')}")
        print(f"[e {k}/{total} {time.time() - t_start:4.0f}s] ckpt  {label:34s} {brief}",
              flush=True)
    for variant, label, task in pf:
        task = dict(task, n=cfg["n_prefetch"], reps=cfg["prefetch_reps"])
        res = run_task(task, cfg["timeout"], log)
        res["load"] = os.getloadavg()[0]
        results["prefetch"].append(dict(variant=variant, label=label, task=task, result=res))
        k += 1
        brief = (f"epoch {res['epoch_s']:.3f} s" if res["status"] == "ok"
                 else f"{res['status']}: {res.get('why', '')}")
        print(f"[e {k}/{total} {time.time() - t_start:4.0f}s] pf    {label:34s} {brief}",
              flush=True)
    log.close()
    loads = [r["result"]["load"] for rs in results.values() for r in rs]
    meta = dict(quick=quick, config=cfg, wall_s=time.time() - t_start, cores=os.cpu_count(),
                load_median=float(np.median(loads)) if loads else None,
                load_max=float(max(loads)) if loads else None, variants=variants, libs=libs)
    saved = dict(meta=meta, results=results)
    with open(os.path.join(out_dir, "python_fn.json"), "w") as f:
        json.dump(saved, f, indent=1, default=str)
    md = tables(saved)
    with open(os.path.join(out_dir, "python_fn.md"), "w") as f:
        f.write(md + "\n")
    return saved, md


def _cell(res):
    return f"{res['status'].replace('_', ' ')}: {res.get('why', '')}"


def fmt_s(x):
    return "–" if x is None else (f"{x * 1e6:.0f} µs" if x < 1e-3 else
                                  (f"{x * 1e3:.1f} ms" if x < 1 else f"{x:.2f} s"))


def tables(saved):
    meta, results = saved["meta"], saved["results"]
    cfg = meta["config"]
    md = [f"### Workload e: a Python function per record\n",
          f"- {'--quick' if meta['quick'] else 'full'} run, {meta['wall_s'] / 60:.1f} min; "
          f"{meta['cores']} cores; load average (1 min) during the rows: median "
          f"{meta['load_median']:.1f}, max {meta['load_max']:.1f}; records per row: text "
          f"{cfg['n_text']:,}, image {cfg['n_image']:,}; throughput = records/s after the first "
          f"batch, over the epoch or at most {cfg['time_cap']:g} s, median of {cfg['reps']} "
          "repetition(s); first batch includes building the pipeline and starting its workers.",
          "- The pipeline: in-memory records → global shuffle → map(fn) → batch(32) → a "
          f"read-ahead of {PREFETCH} batches, "
          "in each library's own way (notes column). Ratios: inputpipe processes at the same "
          "worker count / the row (above 1: inputpipe faster); scaling: the row / its 1-worker "
          "row. Parent CPU per record: the CPU time of the consumer's process (all its "
          "threads; not the workers') over the timed records: what a worker count leaves of "
          "the cores.",
          ""]
    by = {}
    for r in results["throughput"]:
        by.setdefault((r["variant"], r["label"]), []).append(r["result"])
    for variant in meta["variants"]:
        md.append(f"#### e-{variant}: {VARIANTS[variant]}\n")
        md.append("| row | records/s | vs inputpipe processes, same workers | vs its 1 worker | "
                  "first batch | parent CPU per record | every record once | notes |")
        md.append("|---|---:|---:|---:|---:|---:|:---:|---|")
        labels = [l for (v, l) in by if v == variant]

        def rate(label):
            ok = [x for x in by.get((variant, label), []) if x["status"] == "ok"]
            return float(np.median([x["throughput"] for x in ok])) if ok else None

        for label in labels:
            runs = by[(variant, label)]
            ok = [x for x in runs if x["status"] == "ok"]
            if not ok:
                md.append(f"| {label} | {_cell(runs[0])} | | | | | | |")
                continue
            thr = rate(label)
            workers = label.rsplit("(", 1)[-1].rstrip(")") if "(" in label else None
            numbered = bool(workers and workers.isdigit())
            ipr = rate(f"inputpipe processes ({workers})") if numbered else None
            vs = f"{ipr / thr:.2f}×" if ipr and not label.startswith("inputpipe processes") else ""
            one = label.rsplit("(", 1)[0] + "(1)" if workers and workers.isdigit() else None
            base = rate(one) if one and one != label else None
            scale = f"{thr / base:.2f}×" if base else ""
            once = all(x["duplicates"] == 0 and x.get("missing", 0) == 0 for x in ok)
            cut = "" if all(x["complete"] for x in ok) else " (cut at the time cap)"
            cpu = [x["parent_cpu_us"] for x in ok if "parent_cpu_us" in x]
            md.append(f"| {label} | {thr:,.0f} | {vs} | {scale} | "
                      f"{fmt_s(float(np.median([x['ttfb_s'] for x in ok])))} | "
                      f"{f'{np.median(cpu):.0f} µs' if cpu else ''} | "
                      f"{'yes' if once else '**no**'}{cut} | {ok[0].get('note', '')} |")
        md.append("")
    if results["checkpoint"]:
        md.append("#### e-text checkpoints: state, save, restore at 90% of the epoch\n")
        md.append("State = the bytes a save produces (inputpipe `Iterator.save()`; Grain "
                  "`get_state()` as JSON; torchdata `state_dict()` pickled); save = median time "
                  "on the training thread over the saves spread across the epoch; restore = build "
                  "the pipeline + restore + first batch, in a process that already imported the "
                  "library.\n")
        md.append("| row | state | state identical to inputpipe sequential | save median | "
                  "save p99 | save vs inputpipe sequential | restore + first batch at 90% | "
                  "resumes exactly |")
        md.append("|---|---:|:---:|---:|---:|---:|---:|:---:|")
        seq = next((c["result"] for c in results["checkpoint"]
                    if c["label"] == "inputpipe sequential" and c["result"]["status"] == "ok"),
                   None)
        for c in results["checkpoint"]:
            r = c["result"]
            if r["status"] != "ok":
                md.append(f"| {c['label']} | {_cell(r)} | | | | | | |")
                continue
            same = ""
            if c["task"]["lib"] == "inputpipe" and seq and r.get("state_hex"):
                same = "yes" if r["state_hex"] == seq.get("state_hex") else "**no**"
            sm = float(np.median(r["save_s"]))
            ratio = f"{sm / np.median(seq['save_s']):.2f}×" if seq else ""
            md.append(f"| {c['label']} | {np.median(r['state_bytes']):,.0f} B | {same} | "
                      f"{fmt_s(sm)} | {fmt_s(float(np.percentile(r['save_s'], 99)))} | {ratio} | "
                      f"{fmt_s(r['restore_s'])} | {'yes' if r['exact'] else '**no**'} |")
        md.append("")
    if results.get("prefetch"):
        md.append("#### Prefetch after a Python map (inputpipe)\n")
        md.append("`range(n).map(fn[, num_parallel_calls=2]).batch(32)[.prefetch(2)]`, epoch "
                  f"time (median of {cfg['prefetch_reps']}, {cfg['n_prefetch']} records), "
                  "consumed by a loop with no work or with a 32 ms training step per batch that "
                  "releases the GIL (`time.sleep`, as a framework's step does). fn: `gil` = 1 ms "
                  "holding the GIL without using the CPU (libc usleep through ctypes.PyDLL: the "
                  "GIL hand-offs alone, whatever the machine's load), `text` = the e-text "
                  "function (CPU: follows the load). A prefetch should never be slower, and "
                  "should hide the step (ideal: max(step, 32 calls) per batch).\n")
        md.append("| fn | consumer step | map threads | epoch, no prefetch | epoch, prefetch(2) | "
                  "prefetch / none |")
        md.append("|---|---|---:|---:|---:|---:|")
        got = {(c["task"]["fn"], c["task"]["step"], c["task"]["workers"], c["task"]["prefetch"]):
               c["result"] for c in results["prefetch"]}
        for (fn, step, workers, prefetch), r in got.items():
            if prefetch:
                continue
            r2 = got.get((fn, step, workers, PREFETCH), {})
            label = f"| {fn} | {'none' if step == 'none' else '32 ms, GIL released'} | "
            if r.get("status") != "ok" or r2.get("status") != "ok":
                md.append(label + f"{workers} | {_cell(r)} | {_cell(r2) if r2 else ''} | |")
                continue
            md.append(label + f"{workers or 'sequential'} | {fmt_s(r['epoch_s'])} | "
                      f"{fmt_s(r2['epoch_s'])} | {r2['epoch_s'] / r['epoch_s']:.2f}× |")
        md.append("")
    return "\n".join(md)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--libs", default=",".join(LIBS),
                    help="inputpipe,grain,torch (torch DataLoader and torchdata),tfdata")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--out", help="results folder (default bench/results/<quick|full>)")
    ap.add_argument("--from-json", help="only re-render the tables of a python_fn.json")
    ap.add_argument("--prefetch-only", action="store_true",
                    help="only the prefetch table (inputpipe; e.g. to compare two builds)")
    args = ap.parse_args()
    if args.from_json:
        print(tables(json.load(open(args.from_json))))
        return
    out = args.out or os.path.join(HERE, "results", "quick" if args.quick else "full")
    _, md = run(args.variants.split(","), args.libs.split(","), args.quick, out,
                args.prefetch_only)
    print("\n" + md)


if __name__ == "__main__":
    main()
