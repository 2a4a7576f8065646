"""SimpleNet (the book's section 4.4.2): numerical gradient of the 2x3 network, per backend."""

from __future__ import annotations

import numpy as np
import pytest

import fastgrad
from fastgrad import kernels, reference
from fastgrad.bench.checks import TOL_KERNEL
from fastgrad.bench.workloads import simplenet_example

W, X, T = simplenet_example()

IMPLS = {
    "numpy-reference": lambda: reference.SimpleNet(W.copy()),
    "numpy-frontdoor": lambda: fastgrad.SimpleNet(W, backend="numpy"),
    "numba-frontdoor": lambda: fastgrad.SimpleNet(W, backend="numba"),
    "numba-twin": lambda: kernels.SimpleNet(W),
}


@pytest.mark.parametrize("impl", list(IMPLS))
def test_simplenet_numerical_gradient(benchmark, impl):
    benchmark.group = "simplenet: numerical gradient, the book's example"
    net = IMPLS[impl]()
    expected = reference.SimpleNet(W.copy()).numerical_gradient(X, T)
    assert np.max(np.abs(net.numerical_gradient(X, T) - expected)) <= TOL_KERNEL
    benchmark(net.numerical_gradient, X, T)
