"""The generic ``numerical_gradient`` on functions compiled with ``numba.njit``.

- quadratic, Rosenbrock and a small MLP (one njit function) at about 10, 1,000 and 100,000
  parameters, reference against kernel. The reference at 100,000 parameters is timed on a
  random subset of parameters and extrapolated (see ``extra_info`` and the notes). The
  kernel at 100,000 parameters costs 2n evaluations of an O(n) function (seconds a call;
  benchmarks/README.md quotes the measured time) and runs only with ``--bench-large``.
- 1 against 2 threads on a 10,000-parameter Rosenbrock function.
- the kernel's overhead per evaluation beyond ``f`` itself: the same 2n evaluations in a
  serial compiled loop (``fastgrad.bench.workloads.f_alone``) against the kernel on one
  thread.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from fastgrad import kernels, reference
from fastgrad.bench.checks import TOL_GENERIC
from fastgrad.bench.settings import H
from fastgrad.bench.subset import reference_subset
from fastgrad.bench.workloads import GENERIC_FUNCTIONS, call_with_args, f_alone, generic_case

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
