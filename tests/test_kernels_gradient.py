"""The generic parallel numerical gradient against the reference, and its front door."""

from __future__ import annotations

import concurrent.futures

import numba
import numpy as np
import pytest
from numpy.testing import assert_array_equal

import fastgrad
from fastgrad import kernels as K
from fastgrad import reference as R

from .conftest import THREAD_COUNTS


@numba.njit
def sum_squares(x):
    return np.sum(x**2)


@numba.njit
def rosenbrock(x):
    total = 0.0
    for i in range(x.size - 1):
        total += 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return total


@numba.njit
def weighted_cubes(x, a, scale):
    return scale * np.sum(a * x**3)


@numba.njit
def mlp_loss(w, x, t):
    # a small MLP written as one function: the book's network on a flat parameter vector
    n_in, n_out = x.shape[1], 3
    hidden = (w.size - n_out) // (n_in + 1 + n_out)
    W1 = w[: n_in * hidden].reshape(n_in, hidden)
    b1 = w[n_in * hidden : n_in * hidden + hidden]
    W2 = w[n_in * hidden + hidden : n_in * hidden + hidden + hidden * n_out].reshape(hidden, n_out)
    b2 = w[-n_out:]
    a2 = K.sigmoid(x @ W1 + b1) @ W2 + b2
    return K.cross_entropy_error(K.softmax(a2), t)


def test_bitwise_equal_to_reference_for_the_same_compiled_f(rng):
    for f, x in [
        (sum_squares, rng.normal(size=7)),
        (rosenbrock, rng.normal(size=(30,))),
        (sum_squares, rng.normal(size=(3, 4, 5))),
    ]:
        assert_array_equal(K.numerical_gradient(f, x), R.numerical_gradient(f, x.copy()))


def test_args_are_passed(rng):
    x, a = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    got = K.numerical_gradient(weighted_cubes, x, (a, 2.0))
    ref = R.numerical_gradient(lambda v: weighted_cubes(v, a, 2.0), x.copy())
    assert_array_equal(got, ref)
    got_front = fastgrad.numerical_gradient(weighted_cubes, x, args=(a, 2.0))
    assert_array_equal(got_front, ref)


def test_mlp_as_one_function(rng):
    n_in, hidden = 4, 5
    w = rng.normal(size=n_in * hidden + hidden + hidden * 3 + 3) * 0.5
    x, t = rng.random((6, n_in)), rng.integers(0, 3, 6)
    assert_array_equal(
        fastgrad.numerical_gradient(mlp_loss, w, args=(x, t)),
        R.numerical_gradient(lambda v: mlp_loss(v, x, t), w.copy()),
    )


def test_identical_for_any_thread_count(rng, num_threads):
    x = rng.normal(size=1001)
    runs = []
    for n in THREAD_COUNTS:
        num_threads(n)
        runs.append(K.numerical_gradient(rosenbrock, x))
    for other in runs[1:]:
        assert_array_equal(other, runs[0])


def test_threads_context_manager(rng):
    x = rng.normal(size=300)
    before = fastgrad.get_num_threads()
    with fastgrad.threads(1) as n:
        assert n == 1 and fastgrad.get_num_threads() == 1
        one = fastgrad.numerical_gradient(rosenbrock, x)
    assert fastgrad.get_num_threads() == before
    assert_array_equal(one, fastgrad.numerical_gradient(rosenbrock, x))
    with pytest.raises(ValueError, match="NUMBA_NUM_THREADS"):
        with fastgrad.threads(numba.config.NUMBA_NUM_THREADS + 1):
            pass
    assert fastgrad.get_num_threads() == before


def test_x_never_modified_and_layouts(rng):
    base = rng.normal(size=(6, 8))
    for x in (base, np.asfortranarray(base), base[:, ::2], base.astype(np.float32)):
        x_before = x.copy()
        got = fastgrad.numerical_gradient(sum_squares, x)
        assert_array_equal(x, x_before)
        assert got.shape == x.shape and got.dtype == np.float64
    ro = base.copy()
    ro.flags.writeable = False
    fastgrad.numerical_gradient(sum_squares, ro)
    fastgrad.numerical_gradient(lambda v: float(np.sum(v**2)), ro)


def test_concurrent_python_threads(rng):
    xs = [rng.normal(size=500) for _ in range(8)]
    expected = [K.numerical_gradient(rosenbrock, x) for x in xs]
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(lambda x: K.numerical_gradient(rosenbrock, x), xs))
    for g, e in zip(got, expected, strict=True):
        assert_array_equal(g, e)


def test_numerical_diff_and_gradient_descent_twins():
    f = numba.njit(lambda x: 0.01 * x**2 + 0.1 * x)
    assert K.numerical_diff(f, 5.0) == R.numerical_diff(f, 5.0)
    x, hist = K.gradient_descent(sum_squares, np.array([-3.0, 4.0]), 0.1, 100)
    x_ref, hist_ref = R.gradient_descent(sum_squares, np.array([-3.0, 4.0]), 0.1, 100)
    assert_array_equal(x, x_ref)
    assert_array_equal(hist, hist_ref)


def test_auto_backend_choice(monkeypatch, rng):
    from fastgrad.kernels import differentiate as KD

    calls = []
    monkeypatch.setattr(KD, "stencil_values", lambda *a: calls.append(a) or -1)  # no failure
    fastgrad.numerical_gradient(sum_squares, np.ones(2))
    assert len(calls) == 1
    fastgrad.numerical_gradient(lambda v: float(np.sum(v)), np.ones(2))
    assert len(calls) == 1


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"f": lambda v: 1.0, "backend": "numba"}, TypeError, "numba.njit"),
        ({"f": numba.njit(lambda v: v * 2)}, TypeError, "real scalar"),
        ({"f": lambda v: v * 2, "backend": "numpy"}, TypeError, "real scalar"),
        ({"x": np.array([1, 2])}, TypeError, "integer dtype"),
        ({"x": np.array([1.0, np.nan])}, ValueError, "NaN"),
        ({"x": np.array([])}, ValueError, "empty"),
        ({"h": 0.0}, ValueError, "h must be"),
        ({"h": -1e-4}, ValueError, "h must be"),
        ({"h": float("nan")}, ValueError, "h must be"),
        ({"h": "1e-4"}, TypeError, "h must be"),
        ({"backend": "cuda"}, ValueError, "'numpy', 'numba', 'dask'$"),
        ({"args": [1]}, TypeError, "tuple"),
        ({"f": 3}, TypeError, "callable"),
    ],
)
def test_bad_input(kwargs, error, match):
    call = {"f": sum_squares, "x": np.array([1.0, 2.0])} | kwargs
    x = call.pop("x")
    x_before = np.array(x, copy=True)
    with pytest.raises(error, match=match):
        fastgrad.numerical_gradient(call.pop("f"), x, **call)
    assert_array_equal(x, x_before)  # the very array passed in, unchanged


# -- args are private to each chunk --------------------------------------------------------


@numba.njit
def squares_via_scratch(x, scratch, scale):
    # a common Numba pattern: an array passed in args used as a work buffer
    for i in range(x.size):
        scratch[i] = x[i] * x[i]
    return scale * np.sum(scratch)


def test_f_writing_a_scratch_array_in_args(rng, num_threads):
    x = rng.normal(size=4000)
    scratch = np.zeros(4000)
    ref = R.numerical_gradient(lambda v: squares_via_scratch(v, np.zeros(4000), 1.0), x.copy())
    for n in THREAD_COUNTS:
        num_threads(n)
        assert_array_equal(K.numerical_gradient(squares_via_scratch, x, (scratch, 1.0)), ref)
        got = fastgrad.numerical_gradient(squares_via_scratch, x, args=(scratch, 1.0))
        assert_array_equal(got, ref)
    assert_array_equal(scratch, 0.0)  # the caller's array is never written


def test_args_aliasing_x_is_an_error(rng):
    x = rng.normal(size=10)
    with pytest.raises(ValueError, match="shares memory with x"):
        fastgrad.numerical_gradient(weighted_cubes, x, args=(x, 1.0))
