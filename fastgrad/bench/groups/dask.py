"""Group ``dask``: ``numerical_gradient(backend="dask")`` on a 2-worker ``LocalCluster``
against the serial and the local numba backends, the per-task overhead, and a projection of
the time on more workers (issue 12).

The workload is :func:`sweep`, a Numba-compiled ``f`` (``nogil=True``: it releases the GIL,
though no two calls share a process here) that really computes: ``reps`` passes of ``sin``
over ``x``, ``reps`` calibrated at the start of the run so that one evaluation takes about
:data:`COST` seconds (:data:`COST_QUICK` with ``--quick``), on :data:`PARAMS` parameters
(:data:`PARAMS_QUICK`). It is timed

- serially: ``backend="numpy"``, one evaluation at a time in this process (what one worker
  process with one thread does, minus Dask's overhead: the 2x target's baseline);
- on the local numba backend (the parallel kernel on this machine's threads);
- on a ``LocalCluster(n_workers=2, threads_per_worker=1)`` on 127.0.0.1, started by the group
  and closed after, through ``numerical_gradient(backend="dask")``.

Every result is checked against the local numba result bit for bit before it is timed. The
per-task overhead is the wall time of many trivial one-parameter tasks through the same
cluster, divided by their number.

The projection (:func:`project`) is the model

``T(W) = ceil(n_tasks(W) / W) * chunk(W) * K * c + n_tasks(W) * o + s + 2 c``

with ``c`` the measured cost of one evaluation, ``K = 2`` evaluations per parameter (central
differences), ``chunk(W)`` the backend's own task size (:func:`fastgrad._dask.task_size`) and
``n_tasks(W) = ceil(n / chunk(W))``, ``o`` the measured per-task overhead charged serially (the
scheduler is one process: conservative), ``s`` the measured scatter of ``f``, ``x`` and
``args`` (taken as constant in ``W``: Dask broadcasts in a tree), and ``2 c`` the two
evaluations the caller makes locally (``f(x)`` and the timing of ``f``). Every worker is
assumed to have one thread and a core of its own.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numba
import numpy as np

import fastgrad

from ... import _dask
from ..recorder import Recorder, Row, relate
from ..settings import H, Settings
from ..timing import Timing

GROUP = "dask"
#: Seconds of one evaluation of f, and parameters (full run / --quick).
COST, COST_QUICK = 0.010, 0.002
PARAMS, PARAMS_QUICK = 400, 40
#: Trivial tasks timed for the per-task overhead (full run / --quick).
OVERHEAD_TASKS, OVERHEAD_TASKS_QUICK = 1_000, 200
#: The cluster's workers, and the worker counts of the projection.
WORKERS = 2
PROJECTED = (8, 64, 512)
#: Evaluations per parameter (central differences).
K = 2

SERIAL = "numpy, serial (one evaluation at a time)"
NUMBA = "numba (local kernel)"
CLUSTER = f"dask, LocalCluster {WORKERS} workers x 1 thread"
OVERHEAD = "dask: trivial one-parameter tasks"
OVERHEAD_BACKEND = f"per task, LocalCluster {WORKERS} workers"
SCATTER = "dask: scatter f, x, args to every worker"
#: The goals (issue 12): the cluster's speedup over serial within this fraction of ideal,
#: and the per-task overhead on loopback under this many seconds.
EFFICIENCY_GOAL = 0.85
OVERHEAD_GOAL = 5e-3


def work(n: int, cost: float) -> str:
    """The rows' work: ``f`` of ``cost`` seconds and ``n`` parameters."""
    return f"sin sweep, {cost * 1e3:g} ms per f, {n:,} params"


def projected(workers: int) -> str:
    """The backend column of a projected row."""
    return f"projected, {workers} workers x 1 thread"


@numba.njit(cache=True, nogil=True)
def sweep(v, reps):
    """``mean_r sum_i sin(v_i (1 + r / 1000))``: ``reps`` passes over ``v``, real work."""
    acc = 0.0
    for r in range(reps):
        s = 1.0 + r * 1e-3
        for i in range(v.size):
            acc += math.sin(v[i] * s)
    return acc / reps


def trivial_range(x, start, stop):
    """On a worker: a task that does nothing (the overhead measurement)."""
    return stop - start


def calibrate(x: np.ndarray, cost: float) -> tuple[int, float]:
    """``reps`` such that ``sweep(x, reps)`` takes about ``cost`` seconds, and its measured
    cost (median of a few calls)."""
    sweep(x, 1)  # compile (or load from the cache)
    reps = 16
    while True:
        t0 = time.perf_counter()
        sweep(x, reps)
        dt = time.perf_counter() - t0
        if dt >= cost / 4 or reps > 1 << 24:
            break
        reps *= 4
    reps = max(1, round(reps * cost / dt))
    samples = []
    for _ in range(7):
        t0 = time.perf_counter()
        sweep(x, reps)
        samples.append(time.perf_counter() - t0)
    return reps, float(np.median(samples))


def _time(fn: Callable[[], object], repeat: int) -> Timing:
    """``repeat`` calls of ``fn``, one sample each (a call here lasts from milliseconds to
    seconds: no inner loop, no budget)."""
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return Timing.from_samples(samples)


def project(
    n: int, cost: float, overhead: float, scatter: float, workers: int
) -> tuple[float, int, int]:
    """The model's time on ``workers`` one-thread workers (module docstring), its tasks and
    parameters per task."""
    chunk = _dask.task_size(n, cost, K, workers)
    tasks = math.ceil(n / chunk)
    t = math.ceil(tasks / workers) * chunk * K * cost + tasks * overhead + scatter + 2 * cost
    return t, tasks, chunk


def run(rec: Recorder, s: Settings) -> None:
    try:
        import distributed  # noqa: F401
    except ImportError:
        rec.skip('dask: Dask distributed is not installed (pip install "fastgrad[dask]")')
        return
    n = PARAMS_QUICK if s.quick else PARAMS
    x = s.rng(12).uniform(-1.0, 1.0, n)
    reps, cost = calibrate(x, COST_QUICK if s.quick else COST)
    w = work(n, COST_QUICK if s.quick else COST)
    repeat = s.repeat if s.quick else 3  # a full serial gradient is ~8 s
    meta = {"cost_s": cost, "reps": reps, "evaluations_per_param": K}

    def gradient(backend: str, client=None) -> np.ndarray:  # noqa: ANN001
        return fastgrad.numerical_gradient(
            sweep, x, h=H, args=(reps,), backend=backend, client=client, progress=False
        )

    expected = gradient("numba")
    serial = rec.add(Row(GROUP, w, SERIAL, None, n, meta=dict(meta)))
    if rec.check(serial, float(np.max(np.abs(gradient("numpy") - expected))), 0.0, w):
        serial.timing = _time(lambda: gradient("numpy"), repeat)
    local = rec.add(Row(GROUP, w, NUMBA, None, n, 0.0, meta=dict(meta)))
    local.timing = _time(lambda: gradient("numba"), repeat)

    cluster = _dask.local_cluster(WORKERS)  # 127.0.0.1 only, dashboard included
    try:
        client = distributed.Client(cluster, timeout=60, set_as_default=False)
        try:
            client.wait_for_workers(WORKERS, timeout=60)
            on_cluster = rec.add(Row(GROUP, w, CLUSTER, None, n, meta=dict(meta)))
            diff = float(np.max(np.abs(gradient("dask", client) - expected)))
            if rec.check(on_cluster, diff, 0.0, w):
                on_cluster.timing = _time(lambda: gradient("dask", client), repeat)
            relate([serial, local, on_cluster], serial)
            overhead, scatter = _overheads(rec, s, client, x)
        finally:
            client.close(timeout=60)
    finally:
        cluster.close(timeout=60)
    if overhead is None or scatter is None:
        return
    model = (
        "T(W) = ceil(n_tasks(W)/W) * chunk(W) * 2 * c + n_tasks(W) * o + s + 2 c, "
        f"c = {cost * 1e3:.2f} ms per f, o = {overhead * 1e3:.2f} ms per task, "
        f"s = {scatter * 1e3:.1f} ms scatter; chunk(W) = fastgrad._dask.task_size"
    )
    for workers in (WORKERS, *PROJECTED):
        t, tasks, chunk = project(n, cost, overhead, scatter, workers)
        speedup = serial.timing.median / t if serial.timing else None
        rec.add(
            Row(
                GROUP,
                w,
                projected(workers),
                Timing(t, t, t, t, 1, extrapolated=True),
                n,
                speedup_vs_reference=speedup,
                note=f"model: {tasks} tasks of {chunk} params",
                meta={**meta, "workers": workers, "tasks": tasks, "chunk": chunk, "model": model},
            )
        )
    rec.note(
        f"dask projection ({w}): {model}; the {WORKERS}-worker row checks it against the "
        "measured cluster time"
    )


def _overheads(
    rec: Recorder, s: Settings, client: object, x: np.ndarray
) -> tuple[float | None, float | None]:
    """The per-task overhead (wall time of many trivial tasks / their number) and the time of
    scattering ``f``, ``x`` and ``args`` to every worker, recorded as rows."""
    tasks = OVERHEAD_TASKS_QUICK if s.quick else OVERHEAD_TASKS
    got = _dask.map_ranges(client, trivial_range, tasks, 1, shared=(x,))
    row = rec.add(Row(GROUP, OVERHEAD, OVERHEAD_BACKEND, None, tasks, meta={"tasks": tasks}))
    if not rec.check(row, float(sum(got) != tasks), 0.0, OVERHEAD):
        return None, None
    total = _time(lambda: _dask.map_ranges(client, trivial_range, tasks, 1, shared=(x,)), 3)
    row.timing = Timing(
        total.median / tasks, total.q1 / tasks, total.q3 / tasks, total.best / tasks, total.n
    )

    def scatter_once() -> None:
        futures = client.scatter([sweep, x, (1,)], broadcast=True, hash=False)
        client.cancel(futures)

    scatter = rec.add(Row(GROUP, SCATTER, f"LocalCluster {WORKERS} workers", None, x.size))
    scatter.timing = _time(scatter_once, 5)
    return row.timing.median, scatter.timing.median
