"""The differentiation toolkit: every method's reference against its kernel twin, against
analytic derivatives, and against SciPy and numdifftools as independent oracles."""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

import fastgrad
from fastgrad._differentiate import METHODS
from fastgrad.reference import differentiate as RD

from .conftest import THREAD_COUNTS


@numba.njit
def wavy(x):
    # smooth, every derivative of order 1-7 of size ~1 near the points used below
    return np.sum(np.exp(0.5 * x) * np.sin(x) + np.cos(x) ** 2)


def wavy_grad(x):
    return 0.5 * np.exp(0.5 * x) * np.sin(x) + np.exp(0.5 * x) * np.cos(x) - np.sin(2 * x)


@numba.njit
def bilinear_vec(x):
    out = np.empty(3, dtype=x.dtype)
    out[0] = x[0] * x[1]
    out[1] = np.sin(x[0]) + x[1] ** 2
    out[2] = np.exp(x[1] - x[0])
    return out


def bilinear_jac(x):
    a, b = x
    return np.array([[b, a], [np.cos(a), 2 * b], [-np.exp(b - a), np.exp(b - a)]])


@numba.njit
def rosen(x):
    total = 0.0
    for i in range(x.size - 1):
        total += 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return total


def rosen_hess(x):
    n = x.size
    H = np.zeros((n, n))
    for i in range(n - 1):
        H[i, i] += 1200 * x[i] ** 2 - 400 * x[i + 1] + 2
        H[i + 1, i + 1] += 200
        H[i, i + 1] += -400 * x[i]
        H[i + 1, i] += -400 * x[i]
    return H


# -- the twins: same compiled f, same numbers ----------------------------------------------


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    method=st.sampled_from(METHODS),
    shape=st.sampled_from([(1,), (7,), (3, 4), (2, 3, 2)]),
    dtype=st.sampled_from([np.float64, np.float32]),
    layout=st.sampled_from(["C", "F", "strided", "readonly"]),
    h=st.sampled_from(["auto", 1e-3]),
    seed=st.integers(0, 2**32 - 1),
)
def test_kernel_equals_reference_bit_for_bit(method, shape, dtype, layout, h, seed):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, size=shape).astype(dtype)
    if layout == "F":
        x = np.asfortranarray(x)
    elif layout == "strided":
        wide = np.zeros(shape[:-1] + (2 * shape[-1],), dtype=dtype)
        wide[..., ::2] = x
        x = wide[..., ::2]
    elif layout == "readonly":
        x.flags.writeable = False
    before = x.copy()
    kw = dict(h=h, method=method, full_output=True)
    got, info = fastgrad.numerical_gradient(wavy, x, backend="numba", **kw)
    fastgrad.numerical_gradient(wavy, x, backend="numpy", **kw)  # in place where it can
    assert_array_equal(x, before)
    # the kernel nudges C-ordered copies; f's own sums depend on the layout, so the
    # reference is run on the same layout for the bitwise comparison
    ref, ref_info = fastgrad.numerical_gradient(wavy, np.array(x, order="C"), backend="numpy", **kw)
    assert_array_equal(got, ref)
    assert_array_equal(info.error, ref_info.error)
    assert info.nfev == ref_info.nfev
    assert got.shape == x.shape and got.dtype == np.float64
    assert_array_equal(x, before)


@pytest.mark.parametrize("method", METHODS)
def test_identical_for_any_thread_count(method, num_threads, rng):
    x = rng.uniform(-1, 1, size=301)
    runs = []
    for n in THREAD_COUNTS:
        num_threads(n)
        runs.append(fastgrad.numerical_gradient(wavy, x, h="auto", method=method))
    for other in runs[1:]:
        assert_array_equal(other, runs[0])


def test_central_is_the_books_numerical_gradient(rng):
    x = rng.normal(size=(4, 5))
    assert_array_equal(
        fastgrad.numerical_gradient(wavy, x, method="central"),
        fastgrad.reference.numerical_gradient(wavy, x.copy()),
    )
    assert_array_equal(
        fastgrad.numerical_gradient(wavy, x, method="central", backend="numba"),
        fastgrad.kernels.numerical_gradient(wavy, x),
    )


# -- accuracy against analytic derivatives ---------------------------------------------------

#: The relative error each method reaches with h="auto" on wavy near [-1.5, 1.5]: the
#: truncation and rounding terms balanced at the method's step (reference/differentiate.py)
#: give about eps^(order/(order+1)): forward 1.5e-8, central 6e-11, central4 3e-13,
#: richardson (order 6) 3e-14 with its constants, complex a few eps. Each bound below is
#: 100x that, so a method using the wrong step or stencil (errors 1e3x larger) fails.
AUTO_RTOL = {
    "forward": 2e-6,
    "backward": 2e-6,
    "central": 1e-8,
    "central4": 1e-10,
    "richardson": 1e-10,
    "complex": 1e-13,
}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_methods_against_analytic_derivatives(method, backend, rng):
    x = rng.uniform(-1.5, 1.5, size=40)
    want = wavy_grad(x)
    got, info = fastgrad.numerical_gradient(
        wavy, x, h="auto", method=method, backend=backend, full_output=True
    )
    scale = np.maximum(np.abs(want), 1.0)
    assert np.max(np.abs(got - want) / scale) <= AUTO_RTOL[method]
    # the error estimate bounds the actual error on (at least) 95% of the elements
    assert np.mean(info.error >= np.abs(got - want)) >= 0.95


@pytest.mark.parametrize("method", METHODS)
def test_float32_is_differentiated_in_float32(method):
    x = np.linspace(-1, 1, 9, dtype=np.float32)
    got = fastgrad.numerical_gradient(wavy, x, h="auto", method=method)
    assert got.dtype == np.float64
    # float32 steps: rounding of f (eps32 ~ 1.2e-7) limits the accuracy, as it should
    eps32 = float(np.finfo(np.float32).eps)
    tol = {"forward": 3e-3, "backward": 3e-3}.get(method, 3e-4 if method != "complex" else 1e-5)
    assert np.max(np.abs(got - wavy_grad(x.astype(np.float64)))) <= tol
    if method != "complex":  # float64 steps would be far smaller than float32 can resolve
        h = RD.auto_step(method, x, np.dtype(np.float32))
        assert np.all(h >= eps32 ** RD.STENCILS[method].power * 0.5)


# -- SciPy and numdifftools as independent oracles ------------------------------------------


@pytest.mark.parametrize(
    ("method", "scipy_method"), [("forward", "2-point"), ("central", "3-point"), ("complex", "cs")]
)
def test_equals_scipy_where_the_definitions_coincide(method, scipy_method):
    from scipy.optimize._numdiff import approx_derivative

    # dyadic points and a power-of-two step: x +- h is exact, so SciPy's df / (x2 - x1) and
    # our df / 2h are the same formula on the same values
    x = np.array([0.5, -1.25, 0.75, 1.0])
    h = 2.0**-17
    ours = fastgrad.numerical_gradient(wavy.py_func, x, h=h, method=method)
    theirs = approx_derivative(wavy.py_func, x, method=scipy_method, abs_step=h)
    assert_allclose(ours, theirs, rtol=0, atol=1e-12)


def test_richardson_and_hessian_against_numdifftools():
    nd = pytest.importorskip("numdifftools")
    x = np.array([0.3, -0.7, 1.1])
    ours = fastgrad.numerical_gradient(wavy, x, h="auto", method="richardson")
    assert_allclose(ours, nd.Gradient(wavy.py_func)(x), rtol=1e-9, atol=1e-12)
    x = np.array([1.2, 0.8, -0.4])
    assert_allclose(fastgrad.hessian(rosen, x), nd.Hessian(rosen.py_func)(x), rtol=1e-6, atol=1e-6)


# -- Jacobian and Hessian --------------------------------------------------------------------


@pytest.mark.parametrize("method", ["central", "central4", "richardson", "complex"])
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_jacobian(method, backend):
    x = np.array([0.4, -0.9])
    J = fastgrad.jacobian(bilinear_vec, x, h="auto", method=method, backend=backend)
    assert J.shape == (3, 2)
    assert_allclose(J, bilinear_jac(x), rtol=AUTO_RTOL[method] * 10, atol=1e-12)
    ref = fastgrad.jacobian(bilinear_vec, x, h="auto", method=method, backend="numpy")
    assert_array_equal(J, ref)


def test_jacobian_shape_follows_x():
    x = np.ones((2, 3))
    J = fastgrad.jacobian(lambda v: np.array([v.sum(), (v**2).sum()]), x, h="auto")
    assert J.shape == (2, 2, 3)
    assert_allclose(J[1], 2 * x, rtol=1e-8)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_hessian_against_analytic(backend, rng):
    x = rng.uniform(-1.2, 1.2, size=6)
    H, info = fastgrad.hessian(rosen, x, backend=backend, full_output=True)
    want = rosen_hess(x)
    assert_array_equal(H, H.T)
    # second differences at h = eps^(1/4): error ~ eps^(1/2) |f| scale, about 1e-7 here
    assert_allclose(H, want, rtol=1e-6, atol=1e-5)
    assert np.all(info.error >= np.abs(H - want) - 1e-12)
    n = x.size
    assert info.nfev == 1 + 2 * (2 * n + 2 * n * (n - 1))  # f(x) once, two steps


def test_hessian_kernel_equals_reference(rng):
    x = rng.uniform(-1, 1, size=9)
    assert_array_equal(
        fastgrad.hessian(rosen, x, backend="numba"), fastgrad.hessian(rosen, x, backend="numpy")
    )


# -- vectorized functions --------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_vectorized_equals_one_point_at_a_time(method, rng):
    x = rng.uniform(-1, 1, size=(3, 5))

    def f_stack(X):
        return np.sum(np.exp(0.5 * X) * np.sin(X) + np.cos(X) ** 2, axis=(1, 2))

    one, info1 = fastgrad.numerical_gradient(
        wavy.py_func, x, h="auto", method=method, full_output=True
    )
    stacked, info2 = fastgrad.numerical_gradient(
        f_stack, x, h="auto", method=method, vectorized=True, full_output=True
    )
    assert_allclose(stacked, one, rtol=1e-13, atol=1e-13)  # sums in another order
    assert info1.nfev == info2.nfev


def test_vectorized_jacobian_and_wrong_shapes(rng):
    x = rng.uniform(-1, 1, size=2)
    J = fastgrad.jacobian(
        lambda X: np.stack(
            [X[:, 0] * X[:, 1], np.sin(X[:, 0]) + X[:, 1] ** 2, np.exp(X[:, 1] - X[:, 0])], axis=1
        ),
        x,
        h="auto",
        vectorized=True,
    )
    assert_allclose(J, bilinear_jac(x), rtol=1e-8)
    with pytest.raises(ValueError, match=r"vectorized f must map a stack of \d+ points"):
        fastgrad.numerical_gradient(lambda X: X.sum(), x, vectorized=True)
    with pytest.raises(ValueError, match="vectorized f must map"):
        fastgrad.numerical_gradient(lambda X: X, x, vectorized=True)


@pytest.fixture
def small_stacks(monkeypatch):
    """Stacks of a few points, so that a small problem makes many (each a worker's task)."""
    monkeypatch.setattr(fastgrad._stacks, "VECTORIZED_BUDGET", 2 * 8 * 40 * 3)


def f_stack_jac(X):
    return np.stack([np.sum(np.sin(X) * X[:, ::-1], axis=1), np.sum(np.exp(0.1 * X), axis=1)], 1)


@pytest.mark.parametrize("method", ["central", "richardson"])
def test_vectorized_does_not_depend_on_the_thread_count(method, rng, num_threads, small_stacks):
    # 40 parameters in stacks of 3 points: 14+ stacks, claimed by the workers in turn
    x = rng.uniform(-1, 1, size=40)
    results = {}
    for n in THREAD_COUNTS:
        num_threads(n)
        g, info = fastgrad.numerical_gradient(
            lambda X: np.sum(np.sin(X) * X[:, ::-1], axis=1),
            x,
            method=method,
            vectorized=True,
            full_output=True,
        )
        J = fastgrad.jacobian(f_stack_jac, x, method=method, vectorized=True)
        results[n] = (g, J, info.nfev)
    for g, J, nfev in results.values():
        assert_array_equal(g, results[1][0])
        assert_array_equal(J, results[1][1])
        assert nfev == results[1][2]
    # d/dx_k of sum_i sin(x_i) x_(n-1-i): the terms i = k and i = n-1-k
    assert_allclose(results[1][0], np.cos(x) * x[::-1] + np.sin(x[::-1]), rtol=1e-8)


def test_vectorized_f_gets_private_args_on_every_worker(rng, num_threads, small_stacks):
    # f accumulates into args[0] as scratch, 50 times: workers sharing it would mix their
    # stacks (NumPy releases the GIL between and inside the additions)
    x = rng.uniform(-1, 1, size=40)
    scratch = np.zeros((6, 40))

    def f(X, buf):
        out = buf[: X.shape[0]]
        out[...] = 0.0
        for _ in range(50):
            np.add(out, X * X, out=out)
        return out.sum(axis=1) / 50

    num_threads(max(THREAD_COUNTS))
    for _ in range(5):
        g = fastgrad.numerical_gradient(f, x, args=(scratch,), vectorized=True)
        assert_allclose(g, 2 * x, rtol=1e-8)
    assert not scratch.any()  # the caller's array is never written


def test_vectorized_f_raising_on_a_worker(rng, num_threads, small_stacks):
    x = rng.uniform(-1, 1, size=40)
    calls = []

    def f(X):
        calls.append(X.shape[0])
        if len(calls) == 5:
            raise ZeroDivisionError("raised by f")
        return np.sum(X * X, axis=1)

    num_threads(max(THREAD_COUNTS))
    with pytest.raises(ZeroDivisionError, match="raised by f"):
        fastgrad.numerical_gradient(f, x, vectorized=True)
    assert len(calls) <= 5 + max(THREAD_COUNTS)  # f(x), 4 stacks, and one in flight a worker
    # and the workers serve the next call
    assert_allclose(fastgrad.numerical_gradient(lambda X: np.sum(X * X, 1), x, vectorized=True),
                    2 * x, rtol=1e-8)  # fmt: skip


@pytest.mark.timeout(120, method="thread")  # the failure is a deadlock: end the run, say so
def test_vectorized_f_that_differentiates_inside(rng, num_threads, small_stacks):
    # f's own vectorized call runs on the worker that called it: waiting for the pool, whose
    # every worker would be waiting in f the same way, would never return
    x = rng.uniform(-1, 1, size=40)
    num_threads(max(THREAD_COUNTS))

    def f(X):
        inner = fastgrad.numerical_gradient(lambda Y: np.sum(Y**3, axis=1), np.ones(40),
                                            vectorized=True)  # fmt: skip
        return np.sum(X * X, axis=1) * inner[0] / 3

    assert_allclose(fastgrad.numerical_gradient(f, x, vectorized=True), 2 * x, rtol=1e-7)


# -- gradient checks -------------------------------------------------------------------------


@pytest.mark.parametrize("directions", [None, 4])
def test_check_gradient(directions, rng):
    x = rng.uniform(-1, 1, size=(3, 3))
    good = fastgrad.check_gradient(wavy, wavy_grad, x, directions=directions)
    assert good and good.max_abs_error < 1e-8
    wrong = lambda v: wavy_grad(v) * (1 + 1e-3 * (np.arange(v.size).reshape(v.shape) == 4))  # noqa: E731
    bad = fastgrad.check_gradient(wavy, wrong, x, directions=directions)
    assert not bad
    assert bad.max_abs_error > 1e-4
    if directions is None:
        assert bad.worst == (1, 1)
        assert "FAILED" in str(bad) and "(1, 1)" in str(bad)
    else:
        assert bad.analytic.shape == (4,)


def test_check_gradient_bad_grad_shape():
    with pytest.raises(ValueError, match=r"grad returned shape \(2,\), but x has shape \(3,\)"):
        fastgrad.check_gradient(wavy, lambda v: v[:2], np.ones(3))


# -- bad input ---------------------------------------------------------------------------------


#: compiled for real input only: a complex argument matches no signature
REAL_ONLY = numba.njit("float64(float64[::1])")(lambda v: np.sum(v * v))


def drops_imaginary(v):
    return float(np.sum(np.real(v) ** 2))


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (
            lambda: fastgrad.numerical_gradient(wavy, np.ones(2), method="five"),
            ValueError,
            "unknown method 'five'",
        ),
        (
            lambda: fastgrad.numerical_gradient(drops_imaginary, np.ones(2), method="complex"),
            ValueError,
            "drops it",
        ),
        (
            lambda: fastgrad.numerical_gradient(REAL_ONLY, np.ones(2), method="complex"),
            TypeError,
            "accepts complex input",
        ),
        (
            lambda: fastgrad.numerical_gradient(
                lambda v: np.sum(v.astype(np.float64, casting="safe") ** 2),
                np.ones(2),
                method="complex",
            ),
            TypeError,
            "accepts complex input",
        ),
        (
            lambda: fastgrad.numerical_gradient(
                lambda v: math.exp(v[0]), np.ones(2), method="complex"
            ),
            ValueError,
            "drops it",
        ),
        (
            lambda: fastgrad.numerical_gradient(wavy, np.ones(2), h="big"),
            TypeError,
            "positive float or 'auto'",
        ),
        (lambda: fastgrad.numerical_gradient(wavy, np.ones(2), h=-1.0), ValueError, "h must"),
        (
            lambda: fastgrad.numerical_gradient(lambda v: v, np.ones(2)),
            TypeError,
            "fastgrad.jacobian",
        ),
        (
            lambda: fastgrad.jacobian(lambda v: v.sum(), np.ones(2)),
            TypeError,
            "fastgrad.numerical_gradient",
        ),
        (
            lambda: fastgrad.hessian(wavy, np.ones(2), method="forward"),
            ValueError,
            "method='central'",
        ),
        (
            lambda: fastgrad.numerical_gradient(wavy, np.ones(2), vectorized=True, backend="numba"),
            ValueError,
            "backend='numpy'",
        ),
    ],
)
@pytest.mark.filterwarnings("ignore::numpy.exceptions.ComplexWarning")  # math.exp(complex)
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_nothing_passed_in_is_modified(rng):
    x = rng.normal(size=6)
    scratch = np.zeros(6)

    @numba.njit
    def f(v, s):
        s[:] = v * v
        return np.sum(s)

    before = x.copy()
    for backend in ("numpy", "numba"):
        for method in set(METHODS) - {"complex"}:  # a float scratch cannot hold complex
            fastgrad.numerical_gradient(
                f, x, method=method, h="auto", args=(scratch,), backend=backend
            )
        fastgrad.hessian(f, x, args=(scratch,), backend=backend)
    assert_array_equal(x, before)
    assert_array_equal(scratch, 0.0)
