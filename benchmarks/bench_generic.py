"""The generic ``numerical_gradient`` on functions compiled with ``numba.njit``.

- quadratic, Rosenbrock and a small MLP (one njit function) at about 10, 1,000 and 100,000
  parameters, reference against kernel. The reference at 100,000 parameters is timed on a
  random subset of parameters and extrapolated (see ``extra_info`` and the notes). The
  kernel at 100,000 parameters costs 2n evaluations of an O(n) function (seconds a call;
  benchmarks/README.md quotes the measured time) and runs only with ``--bench-large``.
- 1 against 2 threads on a 10,000-parameter Rosenbrock function.
- the kernel's overhead per evaluation beyond ``f`` itself: the same 2n evaluations in a
  serial compiled loop (:func:`f_alone`) against the kernel on one thread.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numba
import numpy as np
import pytest
from numpy.typing import NDArray

from fastgrad import kernels, reference
from fastgrad.bench.checks import TOL_GENERIC
from fastgrad.bench.settings import H
from fastgrad.bench.subset import reference_subset

# -- generic workloads: scalar functions compiled with numba.njit --------------------------------
# Plain njit, as a user would write them: strict IEEE semantics, so that the kernel and the
# reference evaluate the very same floating-point function.


@numba.njit(cache=True)
def quadratic(x):  # pragma: no cover - compiled
    """``sum(x**2)``."""
    s = 0.0
    for i in range(x.size):
        s += x[i] * x[i]
    return s


@numba.njit(cache=True)
def rosenbrock(x):  # pragma: no cover - compiled
    """The n-dimensional Rosenbrock function."""
    s = 0.0
    for i in range(x.size - 1):
        a = x[i + 1] - x[i] * x[i]
        b = 1.0 - x[i]
        s += 100.0 * a * a + b * b
    return s


@numba.njit(cache=True)
def mlp_loss(theta, X, t, n_hidden):  # pragma: no cover - compiled
    """Mean cross-entropy of a tanh MLP; ``theta = [W1 (D*H), b1 (H), W2 (H*K), b2 (K)]``."""
    N, D = X.shape
    Hh = n_hidden
    K = (theta.size - D * Hh - Hh) // (Hh + 1)
    o_b1 = D * Hh
    o_w2 = o_b1 + Hh
    o_b2 = o_w2 + Hh * K
    z = np.empty(Hh)
    a = np.empty(K)
    total = 0.0
    for n in range(N):
        for j in range(Hh):
            s = theta[o_b1 + j]
            for i in range(D):
                s += X[n, i] * theta[i * Hh + j]
            z[j] = np.tanh(s)
        m = -np.inf
        for k in range(K):
            s = theta[o_b2 + k]
            for j in range(Hh):
                s += z[j] * theta[o_w2 + j * K + k]
            a[k] = s
            m = max(m, s)
        lse = 0.0
        for k in range(K):
            lse += np.exp(a[k] - m)
        total += m + np.log(lse) - a[t[n]]
    return total / N


@numba.njit(nogil=True)
def f_alone(f, x, args, h):  # pragma: no cover - compiled
    """The ``2 * x.size`` evaluations of ``f`` that a numerical gradient makes, serially, with
    nothing else: each element nudged by ``+h`` then ``-h`` and restored (``x`` is changed
    and restored in place: pass a copy). The yardstick for the generic kernel's overhead.

    It is compiled, like the kernel it measures, and so cannot call the reference's
    :func:`~fastgrad.reference.gradient.central_difference`; it computes no gradient."""
    flat = x.reshape(x.size)
    acc = 0.0
    for p in range(flat.size):
        tmp_val = flat[p]
        flat[p] = tmp_val + h
        acc += f(x, *args)
        flat[p] = tmp_val - h
        acc -= f(x, *args)
        flat[p] = tmp_val
    return acc


def call_with_args(f: Callable, args: tuple, x: NDArray) -> float:
    """``f(x, *args)``: a generic case's function as the reference calls it, ``f(x)``."""
    return f(x, *args)


#: MLP shapes (inputs, hidden, outputs, batch) for about 10, 1,000 and 100,000 parameters.
MLP_SHAPES = {10: (1, 2, 2, 8), 1_000: (20, 40, 4, 8), 100_000: (784, 126, 10, 1)}
GENERIC_FUNCTIONS = ("quadratic", "rosenbrock", "mlp")


def generic_case(name: str, n: int, seed: int = 0) -> tuple[Callable, NDArray, tuple]:
    """``(f, x, args)`` for a generic benchmark: ``f(x, *args) -> float`` compiled with njit.

    ``name`` is "quadratic", "rosenbrock" or "mlp"; ``n`` the parameter count (for "mlp" one
    of :data:`MLP_SHAPES`, and the count is then approximate: 10, 1,004 or 100,180).
    """
    rng = np.random.default_rng(seed)
    if name == "quadratic":
        return quadratic, rng.standard_normal(n), ()
    if name == "rosenbrock":
        return rosenbrock, rng.uniform(-1.0, 1.5, n), ()
    if name == "mlp":
        D, Hh, K, N = MLP_SHAPES[n]
        theta = 0.3 * rng.standard_normal(D * Hh + Hh + Hh * K + K)
        X = rng.random((N, D))
        t = rng.integers(0, K, N).astype(np.int64)
        return mlp_loss, theta, (X, t, Hh)
    raise ValueError(f"unknown generic function {name!r}; choose one of {GENERIC_FUNCTIONS}")


SUBSET = 50


def _sizes():
    for n in (10, 1_000, 100_000):
        yield pytest.param(n, id=f"n{n}")


@pytest.mark.parametrize("n", list(_sizes()))
@pytest.mark.parametrize("fname", GENERIC_FUNCTIONS)
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_generic(benchmark, blas1, extrapolate, request, backend, fname, n):
    if backend == "numba" and n == 100_000 and not request.config.getoption("--bench-large"):
        pytest.skip("generic kernel at 100,000 parameters: seconds a call; pass --bench-large")
    f, x, args = generic_case(fname, n)
    benchmark.group = f"generic: {fname}, {x.size:,} params"
    fpy = functools.partial(call_with_args, f, args)
    fpy(x.copy())  # compile f
    if n > 1_000:  # the reference on a subset, the kernel checked on that subset
        xr = x.copy()
        rng = np.random.default_rng(0)
        sub = reference_subset(functools.partial(fpy, xr), {"x": xr}, SUBSET, rng)
        check = sub.max_abs_diff
    else:
        expected = reference.numerical_gradient(fpy, x.copy(), H)

        def check(g):
            return float(np.max(np.abs(g - expected)))

    if backend == "numba":
        g = kernels.numerical_gradient(f, x, args, H)  # compiles
        assert check(g) <= TOL_GENERIC
        if n > 1_000:
            benchmark.pedantic(kernels.numerical_gradient, args=(f, x, args, H), rounds=1)
        else:
            benchmark(kernels.numerical_gradient, f, x, args, H)
    elif n > 1_000:
        xr = x.copy()
        benchmark.pedantic(
            reference_subset,
            args=(functools.partial(fpy, xr), {"x": xr}, SUBSET, np.random.default_rng(0)),
            rounds=3,
        )
        extrapolate(benchmark, x.size / SUBSET, f"generic {fname} {x.size:,}: numpy reference")
    else:
        xr = x.copy()
        benchmark(reference.numerical_gradient, fpy, xr, H)


@pytest.mark.parametrize("nthreads", [1, 2], ids=lambda t: f"{t}thread")
def test_generic_threads(benchmark, blas1, threads, nthreads):
    import numba

    if nthreads > numba.config.NUMBA_NUM_THREADS:
        pytest.skip(f"Numba started with {numba.config.NUMBA_NUM_THREADS} threads")
    benchmark.group = "generic: rosenbrock 10,000 params, thread scaling"
    f, x, args = generic_case("rosenbrock", 10_000)
    threads(1)
    g1 = kernels.numerical_gradient(f, x, args, H)
    threads(nthreads)
    # the result must not depend on the thread count, to the bit
    np.testing.assert_array_equal(kernels.numerical_gradient(f, x, args, H), g1)
    benchmark(kernels.numerical_gradient, f, x, args, H)


@pytest.mark.parametrize("what", ["f-alone-2n-serial", "kernel-1thread"])
def test_generic_overhead(benchmark, blas1, threads, what):
    benchmark.group = "generic: quadratic 1,000 params, overhead beyond f"
    f, x, args = generic_case("quadratic", 1_000)
    threads(1)
    expected = reference.numerical_gradient(functools.partial(call_with_args, f, args), x.copy(), H)
    assert np.array_equal(kernels.numerical_gradient(f, x, args, H), expected)
    if what == "f-alone-2n-serial":
        xa = x.copy()
        f_alone(f, xa, args, H)
        benchmark(f_alone, f, xa, args, H)
    else:
        benchmark(kernels.numerical_gradient, f, x, args, H)
    benchmark.extra_info["evaluations"] = 2 * x.size
