"""next() on large elements: the zero-copy hand-over of numpy arrays against a copy.

    .venv/bin/python bench/micro_zero_copy.py [--mb 16] [--elements 200] [--reps 5]
    /work/main/.venv/bin/python bench/micro_zero_copy.py     # an older build: always a copy

Two pipelines over one float32 tensor of --mb megabytes, each timed over --elements next()
calls, median of --reps repetitions, in microseconds per element:
  fresh:  from_tensors(x).repeat(n).batch(1): batch allocates a new buffer per element, which
          the iterator hands to Python as the array's memory (a build without the hand-over
          copies it once more);
  shared: from_tensors(x).repeat(n): the element is the dataset's constant, still shared, so
          it is copied in both builds (the control: the copy's cost on this machine).
Prints which inputpipe it imported, and whether the fresh arrays are views.
"""

import argparse
import statistics
import time

import numpy as np

import inputpipe


def per_element_us(ds, n):
    it = iter(ds)
    next(it)  # warm: the first element pays for the iterator's start
    start = time.perf_counter()
    for _ in range(n):
        a = next(it)
        del a
    return (time.perf_counter() - start) / n * 1e6


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=16)
    parser.add_argument("--elements", type=int, default=200)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    x = np.ones(args.mb * (1 << 20) // 4, dtype=np.float32)
    base = inputpipe.Dataset.from_tensors(x).repeat(args.elements + 1)
    fresh, shared = base.batch(1), base
    view = next(iter(fresh)).base is not None
    runs = {"fresh": [], "shared": []}
    for _ in range(args.reps):
        runs["fresh"].append(per_element_us(fresh, args.elements))
        runs["shared"].append(per_element_us(shared, args.elements))
    print(f"inputpipe {inputpipe.__file__}; fresh arrays are views: {view}")
    for name, values in runs.items():
        print(f"{name:7s} {args.mb} MB: median {statistics.median(values):9.1f} us/element "
              f"(min {min(values):.1f}, max {max(values):.1f})")


if __name__ == "__main__":
    main()
