"""The numerical gradient against backprop: fastgrad's numerical gradient (the default,
adaptive thread count, and every thread) beside the reference's backprop (the book's NumPy
``gradient``) for each network of the family at batch 100, in one process, and its largest
difference from the reference's numerical gradient on a random sample of parameters; and,
as a third side, the bare matrix products such a gradient needs (:func:`bare_products`).

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


def bare_products(case):
    """The matrix products a backprop-shaped numerical gradient cannot do without, in NumPy on
    the case's shapes: per weight matrix the forward product and backprop's ``v^T delta``,
    and the ``h^2`` term's ``(v^3)^T c`` in float32. The rest of fastgrad's time is what it
    adds beyond them (the coefficients, the guards, the calls between steps)."""
    weights = sorted((k for k in case.params if k.startswith("W")), key=lambda k: int(k[1:]))
    Ws = [case.params[k] for k in weights]
    rng = np.random.default_rng(0)
    inputs, v = [], np.asarray(case.x, dtype=np.float64)
    for W in Ws:
        inputs.append(v)
        v = np.maximum(v @ W, 0.0)
    deltas = [rng.standard_normal((v.shape[0], W.shape[1])) for W in Ws]
    cubes = [(u**3).astype(np.float32) for u in inputs]
    deltas32 = [d.astype(np.float32) for d in deltas]

    def run():
        v = np.asarray(case.x, dtype=np.float64)
        for W in Ws:
            v = v @ W
        for u, d, u3, d32 in zip(inputs, deltas, cubes, deltas32, strict=True):
            u.T @ d
            u3.T @ d32

    return run


def compare(case, calls: int, rounds: int) -> str:
    ref, net = case.reference(), case.net("numba")
    x, t = case.x, case.t
    diff = case.reference_subset(SUBSET, np.random.default_rng(1)).max_abs_diff(
        net.numerical_gradient(x, t)
    )
    ref.gradient(x, t)
    every = fastgrad.get_num_threads()
    products = bare_products(case)
    sides: dict[str, list[float]] = {"backprop": [], "default": [], f"{every} threads": []}
    sides["products alone"] = []
    for _ in range(rounds):
        sides["backprop"] += _block(lambda: ref.gradient(x, t), calls)
        sides["products alone"] += _block(products, calls)
        sides["default"] += _block(lambda: net.numerical_gradient(x, t), calls)
        with fastgrad.threads(every):
            sides[f"{every} threads"] += _block(lambda: net.numerical_gradient(x, t), calls)
    best = {k: min(v) for k, v in sides.items()}
    med = {k: statistics.median(v) for k, v in sides.items()}
    bp = f"backprop {best['backprop'] * 1e3:.3f} ms (median {med['backprop'] * 1e3:.3f})"
    name = {k: k if k == "products alone" else f"numerical, {k}" for k in sides}
    rows = [
        f"  {name[k]}: {best[k] * 1e3:.3f} ms (median {med[k] * 1e3:.3f}): "
        f"{best[k] / best['backprop']:.2f}x best, {med[k] / med['backprop']:.2f}x median"
        for k in sides
        if k != "backprop"
    ]
    return "\n".join([f"{case.label}: {bp}; max |diff| {diff:.1e}", *rows])


def main(calls: int = 100, rounds: int = 5) -> None:
    cases = [two_layer_case(784, 50, 10, 100, inputs, 0) for inputs in ("dense", "sparse")]
    cases += [multilayer_case(*network, 0) for network in NETWORKS]
    print(
        f"batch 100; {rounds} rounds of {calls} calls per side, alternated; max |diff| from "
        f"the reference's numerical gradient on {SUBSET} parameters"
    )
    for case in cases:
        print(compare(case, calls, rounds), flush=True)


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
