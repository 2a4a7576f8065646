"""The differentiation toolkit: every method of ``fastgrad.numerical_gradient`` against each
peer library's equivalent, the Hessian, ``vectorized=True``, thread scaling.

The workloads are ``fastgrad bench``'s ``toolkit`` group's (:mod:`fastgrad.bench.groups.toolkit`):
the extended Rosenbrock function of 1,000 parameters (MGH 21), compiled with Numba for the
kernels and the peers, written in NumPy for ``vectorized=True``; the Hessian at 200
parameters. Every result is checked against the analytic gradient (or Hessian) with the
group's tolerances before it is timed. numdifftools' Hessian is timed on a block of
parameters and extrapolated (``extra_info``, the notes). The accuracy of every method on the
Moré-Garbow-Hillstrom functions is a test, not a timing: ``tests/test_testfunctions.py``.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import fastgrad
from fastgrad._differentiate import METHODS
from fastgrad.bench.checks import TOL_HESSIAN, max_rel_error, tolerance_of
from fastgrad.bench.groups import toolkit as tk
from fastgrad.bench.peers import HESSIAN_PEERS, METHOD_PEERS
from fastgrad.bench.workloads import (
    extended_rosenbrock,
    extended_rosenbrock_gradient,
    extended_rosenbrock_hessian,
    extended_rosenbrock_stack,
    extended_rosenbrock_start,
)

BLOCK = tk.QUICK_HESSIAN_BLOCK


def _group(method: str) -> str:
    return f"toolkit: gradient, ext. Rosenbrock {tk.N:,} params, {method}"


@pytest.mark.parametrize("method", METHODS)
def test_toolkit_kernel(benchmark, method):
    benchmark.group = _group(method)
    x = extended_rosenbrock_start(tk.N)
    call = functools.partial(
        fastgrad.numerical_gradient, extended_rosenbrock, x, h="auto", method=method
    )
    assert max_rel_error(call(), extended_rosenbrock_gradient(x)) <= tolerance_of(method)
    benchmark(call)


@pytest.mark.parametrize(
    ("peer", "method"),
    [(p, m) for p in METHOD_PEERS for m in p.methods[:1]],
    ids=[p.name.replace(" ", "-") for p in METHOD_PEERS],
)
def test_toolkit_peer(benchmark, peer, method):
    pytest.importorskip(peer.module, reason=f"{peer.module} not installed")
    benchmark.group = _group(method)
    x = extended_rosenbrock_start(tk.N)
    fn = peer.make(extended_rosenbrock, x)
    got = np.ravel(fn())
    assert max_rel_error(got, extended_rosenbrock_gradient(x)) <= tolerance_of(method)
    benchmark.pedantic(fn, rounds=3)


@pytest.mark.parametrize("nthreads", [1, 2], ids=lambda t: f"{t}thread")
@pytest.mark.parametrize("method", METHODS)
def test_toolkit_threads(benchmark, threads, method, nthreads):
    import numba

    if nthreads > numba.config.NUMBA_NUM_THREADS:
        pytest.skip(f"Numba started with {numba.config.NUMBA_NUM_THREADS} threads")
    benchmark.group = f"{_group(method)}, thread scaling"
    x = extended_rosenbrock_start(tk.N)
    call = functools.partial(
        fastgrad.numerical_gradient, extended_rosenbrock, x, h="auto", method=method
    )
    threads(1)
    g1 = call()
    threads(nthreads)
    np.testing.assert_array_equal(call(), g1)  # to the bit, for any thread count
    benchmark(call)


def test_toolkit_hessian_kernel(benchmark):
    benchmark.group = f"toolkit: Hessian, ext. Rosenbrock {tk.HESSIAN_N} params"
    x = extended_rosenbrock_start(tk.HESSIAN_N)
    call = functools.partial(fastgrad.hessian, extended_rosenbrock, x)
    assert max_rel_error(call(), extended_rosenbrock_hessian(x)) <= TOL_HESSIAN
    benchmark(call)


@pytest.mark.parametrize("peer", HESSIAN_PEERS, ids=lambda p: p.name.split(" (")[0])
def test_toolkit_hessian_peer(benchmark, extrapolate, peer):
    pytest.importorskip(peer.module, reason=f"{peer.module} not installed")
    benchmark.group = f"toolkit: Hessian, ext. Rosenbrock {tk.HESSIAN_N} params"
    x = extended_rosenbrock_start(tk.HESSIAN_N)
    work = x.copy()

    def block(v):  # the first BLOCK parameters; the evaluations cost what the full ones do
        work[:BLOCK] = v
        return extended_rosenbrock(work)

    fn = peer.make(block, x[:BLOCK].copy())
    assert max_rel_error(fn(), extended_rosenbrock_hessian(x)[:BLOCK, :BLOCK]) <= TOL_HESSIAN
    benchmark.pedantic(fn, rounds=3)
    factor = (tk.HESSIAN_N / BLOCK) ** 2
    extrapolate(benchmark, factor, f"toolkit: {peer.name}, {tk.HESSIAN_N} params")


@pytest.mark.parametrize("vectorized", [False, True], ids=["per-parameter-loop", "vectorized"])
def test_toolkit_vectorized(benchmark, vectorized):
    benchmark.group = f"toolkit: NumPy ext. Rosenbrock {tk.N:,} params, central"
    x = extended_rosenbrock_start(tk.N)
    call = functools.partial(
        fastgrad.numerical_gradient, extended_rosenbrock_stack, x, h="auto", vectorized=vectorized
    )
    assert max_rel_error(call(), extended_rosenbrock_gradient(x)) <= tolerance_of("central")
    benchmark(call)
