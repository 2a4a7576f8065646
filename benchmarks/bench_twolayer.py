"""TwoLayerNet (the book's section 4.5): the numerical gradient, reference against kernel.

- 784-50-10 at batch 100, dense inputs (float32 uniform [0, 1)) and MNIST-like sparse inputs
  (real digits from the offline sample that ships with fastgrad): the reference numerical
  gradient (timed on a random parameter subset and extrapolated), the Numba kernel, and the
  analytic ``gradient`` of both backends as the yardstick.
- sweeps over hidden size, batch and input size (kernel and analytic gradients).
- the kernel's peak extra memory at hidden 1,000, batch 1,000, in a fresh process
  (``benchmarks/probes.py``).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from probes import run_probe

from fastgrad.bench.checks import TOL_ANALYTIC, TOL_KERNEL
from fastgrad.bench.subset import reference_subset
from fastgrad.bench.workloads import two_layer_case

SUBSET = 40
METHODS = ["numpy-numgrad-subset", "numba-numgrad", "numpy-analytic", "numba-analytic"]


@functools.cache
def _case(n_in=784, n_hidden=50, batch=100, inputs="dense"):
    return two_layer_case(n_in, n_hidden, 10, batch, inputs)


@functools.cache
def _reference(n_in=784, n_hidden=50, batch=100, inputs="dense", k=SUBSET):
    return _case(n_in, n_hidden, batch, inputs).reference_subset(k, np.random.default_rng(1))


def _run(benchmark, extrapolate, case, sub, method):
    x, t = case.x, case.t
    if method == "numpy-numgrad-subset":
        ref = case.reference()
        loss = functools.partial(ref.loss, x, t)
        benchmark.pedantic(
            reference_subset, args=(loss, ref.params, sub.k, np.random.default_rng(1)), rounds=3
        )
        extrapolate(benchmark, case.n_params / sub.k, f"{case.label}: numpy reference numgrad")
        return
    if method.startswith("numpy"):
        net = case.reference()
    else:
        net = case.net("numba")
    fn = net.numerical_gradient if method.endswith("numgrad") else net.gradient
    g = fn(x, t)  # compiles (or loads the cache)
    tol = TOL_KERNEL if method.endswith("numgrad") else TOL_ANALYTIC
    assert sub.max_abs_diff(g) <= tol
    benchmark(fn, x, t)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("inputs", ["dense", "mnist"])
def test_two_layer_784_50_10(benchmark, extrapolate, inputs, method):
    case = _case(inputs=inputs)
    benchmark.group = f"twolayer: {case.label} ({case.description})"
    _run(benchmark, extrapolate, case, _reference(inputs=inputs), method)


SWEEP = (
    [pytest.param(784, h, 100, id=f"hidden{h}") for h in (10, 100, 1000)]
    + [pytest.param(784, 50, b, id=f"batch{b}") for b in (1, 10, 1000)]
    + [pytest.param(i, 50, 100, id=f"input{i}") for i in (16, 64, 256)]
)


@pytest.mark.parametrize("method", ["numba-numgrad", "numpy-analytic", "numba-analytic"])
@pytest.mark.parametrize(("n_in", "n_hidden", "batch"), SWEEP)
def test_two_layer_sweep(benchmark, extrapolate, n_in, n_hidden, batch, method):
    case = _case(n_in, n_hidden, batch)
    benchmark.group = f"sweep: {case.label}"
    _run(benchmark, extrapolate, case, _reference(n_in, n_hidden, batch, k=8), method)


def test_peak_memory_hidden1000_batch1000(note):
    m = run_probe("peak-memory", "1000", "1000")
    bound = "" if m["exact"] else " (upper bound)"
    note(
        f"peak extra memory, TwoLayerNet kernel 784-1000-10 batch 1000: {m['extra_mib']:.1f} "
        f"MiB{bound}, of which {m['result_mib']:.1f} MiB is the gradient"
    )
    assert m["extra_mib"] < 4096
