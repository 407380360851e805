"""Feeding a torch model on a GPU: inputpipe.torch.prefetch_to_device vs torch's DataLoader.

    python bench/gpu_feed.py [--steps 300] [--batch 256] [--workers 2] [--device cuda]

Both feeds give the same batches (synthetic images of --size x --size x 3 uint8 decoded from
random bytes, normalised on the host) to the same small convolutional model trained with SGD.
Reported per feed: samples/s, and GPU idle time: the share of wall time the training loop
waited for its next batch (the GPU had no work queued, as the loop synchronises each step),
measured with the loop's own clock after a warm-up.

Where torch or a CUDA GPU is missing it prints why and exits 0: it is not part of the quick
suite (bench/suite.py) and CI never runs it.
"""

import argparse
import sys
import time

import numpy as np


def _host_batch_fn(size):
    def decode(seed):
        rng = np.random.default_rng(int(seed))
        img = rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)
        x = (img.astype(np.float32) / 255.0 - 0.5).transpose(2, 0, 1)  # CHW
        return x, np.int64(seed % 10)
    return decode


def _model(torch, size):
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4),
        nn.Flatten(), nn.Linear(64 * 16, 10))


def _train(torch, feed, model, device, steps, warmup):
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    loss_fn = torch.nn.CrossEntropyLoss()
    waited = 0.0
    samples = 0
    it = iter(feed)
    start = None
    for step in range(steps + warmup):
        if step == warmup:
            torch.cuda.synchronize(device)
            start = time.perf_counter()
            waited = 0.0
            samples = 0
        t0 = time.perf_counter()
        x, y = next(it)
        x = x.to(device, non_blocking=True)
        y = y.to(device, non_blocking=True)
        waited += time.perf_counter() - t0
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        torch.cuda.synchronize(device)  # the step is done: waiting for data now idles the GPU
        samples += x.shape[0]
    wall = time.perf_counter() - start
    return samples / wall, waited / wall


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--workers", type=int, default=2, help="DataLoader workers; inputpipe map "
                   "threads")
    p.add_argument("--device", default="cuda")
    args = p.parse_args(argv)
    try:
        import torch
    except ImportError:
        print("gpu_feed: torch is not installed; nothing to measure")
        return 0
    if not torch.cuda.is_available():
        print("gpu_feed: no CUDA GPU here (torch.cuda.is_available() is False); nothing to "
              "measure")
        return 0
    import inputpipe
    import inputpipe.torch as ipt

    device = torch.device(args.device)
    n = (args.steps + args.warmup) * args.batch
    decode = _host_batch_fn(args.size)

    ds = (inputpipe.Dataset.range(n)
          .map(decode, num_parallel_calls=args.workers)
          .batch(args.batch, drop_remainder=True)
          .prefetch(2))

    class Synthetic(torch.utils.data.Dataset):
        def __len__(self):
            return n

        def __getitem__(self, i):
            x, y = decode(i)
            return torch.from_numpy(x), torch.tensor(y)

    loader = torch.utils.data.DataLoader(Synthetic(), batch_size=args.batch, drop_last=True,
                                         num_workers=args.workers, pin_memory=True,
                                         persistent_workers=args.workers > 0)
    results = {}
    for name, make_feed in [
        ("inputpipe prefetch_to_device", lambda: ipt.prefetch_to_device(ds, device,
                                                                       buffer_size=2)),
        ("torch DataLoader (pin_memory)", lambda: loader),
    ]:
        torch.manual_seed(0)
        model = _model(torch, args.size).to(device)
        rate, idle = _train(torch, make_feed(), model, device, args.steps, args.warmup)
        results[name] = (rate, idle)
        print(f"{name:32s} {rate:10.0f} samples/s   GPU idle {100 * idle:5.1f}% of wall time",
              flush=True)
    print(f"device: {torch.cuda.get_device_name(device)}; batch {args.batch}, "
          f"{args.size}x{args.size}x3, {args.workers} workers, {args.steps} steps")
    return 0


if __name__ == "__main__":
    sys.exit(main())
