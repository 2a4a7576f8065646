"""The test functions of ``tests/testfunctions.py`` and the bench's extended Rosenbrock
workload: every analytic gradient agrees with numerical ones, and with values worked out by
hand.

Two numerical oracles, each with a tolerance that follows from its own error:

- Richardson extrapolation with ``h="auto"`` (order 6): on the well-scaled functions its
  error is about 1e-13 of the gradient's largest element, and 1e-8 of it leaves a margin of
  10^5. Where ``h="auto"``'s ``max(1, |x|)`` scale is far from the function's own (Osborne 1:
  ``exp(-t x)`` with ``t`` up to 320; Brown's 1e6 offsets) the extrapolation table knows it:
  twice the ``full_output`` estimate is added to the bound (the measured error stays below
  0.3 of the bound everywhere). A wrong term of an analytic gradient moves an element by
  about its own size, far beyond both.
- The complex step, which subtracts nothing: its error is the rounding of ``Im f`` itself, a
  few ``eps`` of the gradient's scale (measured: at most 4e-16), hence 1e-13 at every point,
  hard points included.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import fastgrad
from fastgrad.bench import workloads as W

from . import testfunctions as T

RICHARDSON_RTOL = 1e-8
COMPLEX_RTOL = 1e-13


def _scale(g: np.ndarray) -> float:
    return max(1.0, float(np.max(np.abs(g))))


@pytest.mark.parametrize("problem", T.MGH, ids=lambda p: p.name)
def test_analytic_gradient_against_richardson(problem):
    for x in problem.points:
        analytic = problem.gradient(x)
        numerical, info = fastgrad.numerical_gradient(
            problem.f, x, h="auto", method="richardson", backend="numpy", full_output=True
        )
        bound = RICHARDSON_RTOL * _scale(analytic) + 2 * info.error
        assert np.all(np.abs(analytic - numerical) <= bound), (problem.name, x)


@pytest.mark.parametrize("problem", T.SUITE, ids=lambda p: p.name)
def test_analytic_gradient_against_the_complex_step(problem):
    for x in problem.points:
        analytic = problem.gradient(x)
        numerical = fastgrad.numerical_gradient(
            problem.f, x, h="auto", method="complex", backend="numpy"
        )
        assert np.max(np.abs(analytic - numerical)) <= COMPLEX_RTOL * _scale(analytic), (
            problem.name,
            x,
        )


@pytest.mark.parametrize(
    ("name", "x", "want"),
    [
        # 100 (x2 - x1^2)^2 + (1 - x1)^2 at (-1.2, 1): x2 - x1^2 = -0.44, so
        # d/dx1 = -400 x1 (-0.44) - 2 (2.2) = -211.2 - 4.4, d/dx2 = 200 (-0.44)
        ("Rosenbrock", [-1.2, 1.0], [-215.6, -88.0]),
        # at (1, 1) every 1 - x2^i vanishes: r = y = (1.5, 2.25, 2.625), dr_i/dx1 = 0,
        # dr_i/dx2 = i x1 x2^(i-1) = i, so the gradient is 2 (0, 1.5 + 4.5 + 7.875)
        ("Beale", [1.0, 1.0], [0.0, 27.75]),
        # x2 - x1^2 = x4 - x3^2 = -10, x2 + x4 - 2 = -4, x2 - x4 = 0:
        # d/dx1 = -400 x1 (-10) - 2 (1 - x1) = -12000 - 8, d/dx2 = 200 (-10) + 20 (-4),
        # d/dx3 = -360 x3 (-10) - 2 (1 - x3) = -10800 - 8, d/dx4 = 180 (-10) + 20 (-4)
        ("Wood", [-3.0, -1.0, -3.0, -1.0], [-12008.0, -2080.0, -10808.0, -1880.0]),
    ],
)
def test_hand_computed_gradients(name, x, want):
    p = T.PROBLEMS[name]
    x = np.array(x)
    assert_allclose(p.gradient(x), want, rtol=1e-14, atol=1e-12)
    assert_array_equal(x, p.points[0])  # the paper's standard starting point


def test_the_reference_is_long_double():
    p = T.PROBLEMS["Meyer"]
    g = p.gradient(p.points[0], T.TRUTH_DTYPE)
    assert g.dtype == np.longdouble
    assert_allclose(g.astype(np.float64), p.gradient(p.points[0]), rtol=1e-12)


def test_the_suite():
    assert len(T.MGH) >= 10
    numbers = [int(p.source.removeprefix("MGH ")) for p in T.MGH]
    assert len(set(numbers)) == len(numbers)
    for name in ("Rosenbrock", "Powell singular", "Wood", "Beale", "Helical valley"):
        assert name in T.PROBLEMS
    assert {p.name for p in T.HARD_POINTS} >= {"exp(x)", "log(x)", "sin(x)"}
    for p in T.SUITE:
        assert len(p.points) >= 1 and all(x.dtype == np.float64 for x in p.points)
    for p in T.MGH:  # the standard start, and a couple of other points
        assert len(p.points) >= 2
    assert sum(p.elements for p in T.SUITE) > 250


def test_extended_rosenbrock_workloads():
    x = W.extended_rosenbrock_start(10)
    rng = np.random.default_rng(0)
    stack = x + 0.1 * rng.standard_normal((4, 10))
    assert_allclose(W.extended_rosenbrock_stack(stack), [W.extended_rosenbrock(v) for v in stack])
    assert W.extended_rosenbrock_stack(x) == pytest.approx(W.extended_rosenbrock(x), rel=1e-15)
    g = fastgrad.numerical_gradient(W.extended_rosenbrock, x, h="auto", method="complex")
    assert_allclose(g, W.extended_rosenbrock_gradient(x), rtol=1e-14)
    H = fastgrad.hessian(W.extended_rosenbrock, stack[0], backend="numpy")
    want = W.extended_rosenbrock_hessian(stack[0])
    assert np.max(np.abs(H - want)) <= 1e-6 * np.max(np.abs(want))
    with pytest.raises(ValueError, match="even n"):
        W.extended_rosenbrock_start(7)
