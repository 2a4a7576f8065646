"""The numerical gradient against backprop: fastgrad's numerical gradient (the default,
adaptive thread count, and every thread) beside the reference's backprop (the book's NumPy
``gradient``) for each network of the family at batch 100, in one process, and its largest
difference from the reference's numerical gradient on a random sample of parameters.

The sides run in alternate blocks of ``--calls`` calls, ``--rounds`` times, so that the
machine's drift hits both alike; each side's figure is its fastest call, and the median of
its calls beside it. The first calls of a block, where the other side's threads may still
be spinning, are part of the block. Set glibc's ``MALLOC_MMAP_THRESHOLD_`` and
``MALLOC_TRIM_THRESHOLD_`` for the process: the reference's backprop otherwise changes from
one process to the next.

Run it alone on the machine:
``MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=67108864 python benchmarks/floor.py``
"""

from __future__ import annotations

import statistics
import sys
import time

import numpy as np

import fastgrad
from fastgrad.bench.workloads import NETWORKS, multilayer_case, two_layer_case

SUBSET = 60


def _block(fn, calls: int) -> list[float]:
    out = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def compare(case, calls: int, rounds: int) -> str:
    ref, net = case.reference(), case.net("numba")
    x, t = case.x, case.t
    diff = case.reference_subset(SUBSET, np.random.default_rng(1)).max_abs_diff(
        net.numerical_gradient(x, t)
    )
    ref.gradient(x, t)
    every = fastgrad.get_num_threads()
    sides: dict[str, list[float]] = {"backprop": [], "default": [], f"{every} threads": []}
    for _ in range(rounds):
        sides["backprop"] += _block(lambda: ref.gradient(x, t), calls)
        sides["default"] += _block(lambda: net.numerical_gradient(x, t), calls)
        with fastgrad.threads(every):
            sides[f"{every} threads"] += _block(lambda: net.numerical_gradient(x, t), calls)
    best = {k: min(v) for k, v in sides.items()}
    med = {k: statistics.median(v) for k, v in sides.items()}
    bp = f"backprop {best['backprop'] * 1e3:.3f} ms (median {med['backprop'] * 1e3:.3f})"
    rows = [
        f"  numerical, {k}: {best[k] * 1e3:.3f} ms (median {med[k] * 1e3:.3f}): "
        f"{best[k] / best['backprop']:.2f}x best, {med[k] / med['backprop']:.2f}x median"
        for k in sides
        if k != "backprop"
    ]
    return "\n".join([f"{case.label}: {bp}; max |diff| {diff:.1e}", *rows])


def main(calls: int = 100, rounds: int = 5) -> None:
    cases = [two_layer_case(784, 50, 10, 100, inputs, 0) for inputs in ("dense", "sparse")]
    cases += [multilayer_case(*network, 0) for network in NETWORKS]
    print(f"batch 100; {rounds} rounds of {calls} calls per side, alternated; max |diff| from "
          f"the reference's numerical gradient on {SUBSET} parameters")
    for case in cases:
        print(compare(case, calls, rounds), flush=True)


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
