"""MultiLayerNet (the book's chapter 6): the numerical gradient, reference against
kernel, and both backends' backprop as the yardstick.

The group ``multilayer`` of ``fastgrad bench`` measures the same three networks at batch 100
on MNIST sample digits: ``[100, 100]`` ReLU, the
chapter-5 ``[50]`` ReLU, and ``[100, 100]`` sigmoid with weight decay 0.1. The reference
numerical gradient is timed on a random parameter subset and extrapolated. Every result is
checked against the reference before it is timed.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from fastgrad.bench.checks import TOL_ANALYTIC, TOL_KERNEL, max_abs_diff
from fastgrad.bench.subset import reference_subset
from fastgrad.bench.workloads import NETWORKS, multilayer_case

SUBSET = 12
METHODS = ["numpy-numgrad-subset", "numba-numgrad", "numpy-analytic", "numba-analytic"]
#: The networks' labels (``multilayer_case(...).label``), the ids of earlier saved runs.
IDS = [
    f"{'-'.join(map(str, (784, *h, 10)))} {a}{f' wd{d:g}' if d else ''} b100 mnist"
    for h, a, d in NETWORKS
]


@functools.cache
def _case(index):
    return multilayer_case(*NETWORKS[index])


@functools.cache
def _reference(index):
    case = _case(index)
    ref = case.reference()
    return reference_subset(
        functools.partial(ref.loss, case.x, case.t), ref.params, SUBSET, np.random.default_rng(1)
    )


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("index", range(len(NETWORKS)), ids=IDS)
def test_multilayer(benchmark, extrapolate, index, method):
    case, sub = _case(index), _reference(index)
    benchmark.group = f"multilayer: {case.label} ({case.description})"
    x, t = case.x, case.t
    if method == "numpy-numgrad-subset":
        ref = case.reference()
        loss = functools.partial(ref.loss, x, t)
        benchmark.pedantic(
            reference_subset, args=(loss, ref.params, SUBSET, np.random.default_rng(1)), rounds=3
        )
        extrapolate(benchmark, case.n_params / SUBSET, f"{case.label}: numpy reference numgrad")
        return
    net = case.reference() if method.startswith("numpy") else case.net("numba")
    fn = net.numerical_gradient if method.endswith("numgrad") else net.gradient
    g = fn(x, t)  # compiles (or loads the cache)
    if method == "numba-analytic":
        assert max_abs_diff(g, case.reference().gradient(x, t)) <= TOL_KERNEL
    else:
        assert sub.max_abs_diff(g) <= (TOL_KERNEL if method.endswith("numgrad") else TOL_ANALYTIC)
    benchmark(fn, x, t)
