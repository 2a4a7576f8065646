"""Shared fixtures and the tolerances of the harness, each justified once here."""

from __future__ import annotations

import numba
import numpy as np
import pytest

import fastgrad

EPS = np.finfo(np.float64).eps

#: Element-wise twins (sigmoid, softmax, cross-entropy): NumPy and LLVM use different, both
#: faithful (< 1 ulp) exp/log routines, and softmax/cross-entropy sums run in a different
#: order (NumPy: pairwise; kernels: sequential), which costs a few ulps more.
FUNC_RTOL = 16 * EPS
FUNC_ATOL = 16 * EPS


def reference_noise(loss: float, h: float) -> float:
    """Rounding noise of the reference's central difference ``(L(+) - L(-)) / 2h``.

    Each of ``L(+)`` and ``L(-)`` is a float64 batch mean of row losses, rounded to a few
    ulps of ``|L|`` (pairwise summation over at most a few thousand rows: < 16 ulps); their
    difference keeps that absolute error and the division by ``2h`` magnifies it. The kernels
    sum exact per-row differences and are far more accurate, so this bounds the gap.
    """
    return 32 * EPS * max(1.0, abs(loss)) / (2 * h)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(params=[b for b in fastgrad.BACKENDS if b != "dask"])  # dask: test_dask.py
def backend(request):
    return request.param


@pytest.fixture
def num_threads():
    """Yields a setter for the kernels' thread count, restored afterwards."""
    before = numba.get_num_threads()
    try:
        yield numba.set_num_threads
    finally:
        numba.set_num_threads(before)


THREAD_COUNTS = sorted({1, 2, numba.config.NUMBA_NUM_THREADS})
