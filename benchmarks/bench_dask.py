"""backend="dask": numerical_gradient on a 2-worker LocalCluster on 127.0.0.1
against the serial and the local numba backends, and the per-task overhead.

A smoke-sized version of the ``dask`` group of ``fastgrad bench`` (which uses an ``f`` of
~10 ms and 400 parameters, and projects to more workers): here an ``f`` of ~1 ms
(:func:`fastgrad.bench.groups.dask.sweep`, Numba-compiled, ``nogil=True``) and 16 parameters,
so that CI runs it in seconds. Every gradient is checked against the local numba result, bit
for bit, before it is timed. Skipped without Dask distributed.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import fastgrad
from fastgrad import _dask
from fastgrad.bench.groups import dask as dg

distributed = pytest.importorskip(
    "distributed", reason='backend="dask" needs Dask distributed: pip install "fastgrad[dask]"'
)

N = 16
COST = 1e-3
TASKS = 50
WAIT = 60


@functools.cache
def _case():
    x = np.random.default_rng(12).uniform(-1.0, 1.0, N)
    reps, _ = dg.calibrate(x, COST)
    return x, reps


@pytest.fixture(scope="module")
def client():
    cluster = _dask.local_cluster(dg.WORKERS)  # 127.0.0.1 only
    try:
        client = distributed.Client(cluster, timeout=WAIT, set_as_default=False)
        try:
            client.wait_for_workers(dg.WORKERS, timeout=WAIT)
            yield client
        finally:
            client.close(timeout=WAIT)
    finally:
        cluster.close(timeout=WAIT)


def _gradient(backend, client=None):
    x, reps = _case()
    return fastgrad.numerical_gradient(
        dg.sweep, x, args=(reps,), backend=backend, client=client, progress=False
    )


@pytest.mark.parametrize("backend", ["numpy", "numba", "dask"])
def test_dask_numerical_gradient(benchmark, backend, request):
    benchmark.group = f"dask: numerical gradient, f of ~{COST * 1e3:g} ms, {N} params"
    client = request.getfixturevalue("client") if backend == "dask" else None
    expected = _gradient("numba")
    np.testing.assert_array_equal(_gradient(backend, client), expected)  # bit for bit
    benchmark.pedantic(_gradient, args=(backend, client), rounds=3, iterations=1)


def test_dask_overhead_per_task(benchmark, client):
    benchmark.group = f"dask: {TASKS} trivial one-parameter tasks, {dg.WORKERS} workers"
    x, _ = _case()
    run = functools.partial(_dask.map_ranges, client, dg.trivial_range, TASKS, 1, shared=(x,))
    assert sum(run()) == TASKS
    benchmark.pedantic(run, rounds=3, iterations=1)
