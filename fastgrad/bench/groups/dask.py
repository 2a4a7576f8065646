"""Group ``dask``: ``numerical_gradient(backend="dask")`` on a 2-worker ``LocalCluster``
(127.0.0.1, one thread a worker) against ``backend="numpy"`` (one evaluation at a time) and
the local numba kernel, every gradient checked against the numba one bit for bit; the
overhead per task and the scatter of ``f``, ``x``, ``args``; then :func:`project`'s time on
more workers. ``f`` is :func:`sweep`, calibrated to about :data:`COST` seconds a call.
"""

from __future__ import annotations

import functools
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
#: Seconds of one evaluation of f, parameters, trivial tasks timed (full run / --quick).
COST, COST_QUICK = 0.010, 0.002
PARAMS, PARAMS_QUICK = 400, 40
OVERHEAD_TASKS, OVERHEAD_TASKS_QUICK = 1_000, 200
#: The cluster's workers, the projected worker counts, evaluations per parameter.
WORKERS, PROJECTED, K = 2, (8, 64, 512), 2
SERIAL = "numpy, serial (one evaluation at a time)"
NUMBA = "numba (local kernel)"
CLUSTER = f"dask, LocalCluster {WORKERS} workers x 1 thread"
OVERHEAD_BACKEND = f"per task, LocalCluster {WORKERS} workers"


@numba.njit(cache=True, nogil=True)
def sweep(v, reps):  # pragma: no cover - compiled
    """``mean_r sum_i sin(v_i (1 + r / 1000))``: ``reps`` passes over ``v``, real work."""
    acc = 0.0
    for r in range(reps):
        s = 1.0 + r * 1e-3
        for i in range(v.size):
            acc += math.sin(v[i] * s)
    return acc / reps


def trivial_range(x, start, stop):
    """A task that does nothing (the overhead measurement)."""
    return stop - start


def _time(fn: Callable[[], object], repeat: int, per: int = 1) -> Timing:
    """``repeat`` calls of ``fn`` (milliseconds to seconds each), one sample each, over
    ``per`` (the units of work in a call)."""
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) / per)
    return Timing.from_samples(samples)


def calibrate(x: np.ndarray, cost: float) -> tuple[int, float]:
    """``reps`` such that ``sweep(x, reps)`` takes about ``cost`` seconds, and its measured
    cost (median of 7 calls)."""
    sweep(x, 1)  # compile (or load from the cache)
    reps, dt = 4, 0.0
    while dt < cost / 4 and reps < 1 << 24:
        reps *= 4
        dt = _time(functools.partial(sweep, x, reps), 1).median
    reps = max(1, round(reps * cost / dt))
    return reps, _time(functools.partial(sweep, x, reps), 7).median


def project(
    n: int, cost: float, overhead: float, scatter: float, workers: int
) -> tuple[float, int, int]:
    """``(seconds, tasks, parameters per task)`` of the model ``T(W) = ceil(tasks / W) chunk
    K c + tasks o + s + 2 c``: ``c`` the cost of ``f``, ``K`` evaluations per parameter,
    ``chunk`` the backend's task size, ``o`` the overhead per task (charged serially: one
    scheduler), ``s`` the scatter, ``2 c`` the evaluations the caller makes itself."""
    chunk = _dask.task_size(n, cost, K, workers)
    tasks = math.ceil(n / chunk)
    t = math.ceil(tasks / workers) * chunk * K * cost + tasks * overhead + scatter + 2 * cost
    return t, tasks, chunk


def run(rec: Recorder, s: Settings) -> None:
    try:
        import distributed
    except ImportError:
        rec.skip('dask: Dask distributed is not installed (pip install "fastgrad[dask]")')
        return
    n, cost = (PARAMS_QUICK, COST_QUICK) if s.quick else (PARAMS, COST)
    x = s.rng(12).uniform(-1.0, 1.0, n)
    reps, c = calibrate(x, cost)
    work, meta = f"sin sweep, {cost * 1e3:g} ms per f", {"cost_s": c, "reps": reps}
    gradient = functools.partial(fastgrad.numerical_gradient, sweep, x, h=H, args=(reps,))
    expected, rows = gradient(backend="numba"), []
    repeat = s.repeat if s.quick else 3  # a full serial gradient is ~8 s

    def row(label: str, **kw: object) -> None:
        call = functools.partial(gradient, progress=False, **kw)
        rows.append(rec.add(Row(GROUP, work, label, params=n, meta=dict(meta))))
        diff = float(np.max(np.abs(call() - expected)))
        rec.check(rows[-1], diff, 0.0, lambda: _time(call, repeat))

    row(SERIAL, backend="numpy")
    row(NUMBA, backend="numba")
    with _dask.local_cluster(WORKERS) as cluster:
        with distributed.Client(cluster, timeout=60, set_as_default=False) as client:
            client.wait_for_workers(WORKERS, timeout=60)
            row(CLUSTER, backend="dask", client=client)
            overhead, scatter = _overheads(rec, s, client, x)
    relate(rows, rows[0])
    if rows[0].timing is None or overhead is None:
        return
    for workers in (WORKERS, *PROJECTED):
        t, tasks, chunk = project(n, c, overhead, scatter, workers)
        r = rec.add(Row(GROUP, work, f"projected, {workers} workers x 1 thread", params=n))
        r.timing, r.note = Timing(t, t, t, t, 1, True), f"model: {tasks} tasks of {chunk} params"
        r.speedup_vs_reference = rows[0].timing.median / t
        r.meta = {**meta, "workers": workers, "tasks": tasks, "chunk": chunk}
    model = f"f {c * 1e3:.2f} ms, {overhead * 1e3:.2f} ms a task, {scatter * 1e3:.1f} ms scatter"
    rec.notes.append(
        f"dask: projected rows: the model of fastgrad.bench.groups.dask.project, {model}"
    )


def _overheads(rec: Recorder, s: Settings, client: object, x: np.ndarray) -> tuple:
    """Rows of the overhead per task (many trivial tasks' wall time / their number) and of the
    scatter of ``f``, ``x`` and ``args`` to every worker; their medians."""
    tasks = OVERHEAD_TASKS_QUICK if s.quick else OVERHEAD_TASKS
    row = rec.add(Row(GROUP, f"{tasks} trivial one-parameter tasks", OVERHEAD_BACKEND))

    def trivial() -> list:
        return _dask.map_ranges(client, trivial_range, tasks, 1, shared=(x,))

    if not rec.check(row, float(sum(trivial()) != tasks), 0.0, lambda: _time(trivial, 3, tasks)):
        return None, None
    scatter = rec.add(Row(GROUP, "scatter f, x, args to every worker", f"{WORKERS} workers"))
    scatter.timing = _time(
        lambda: client.cancel(client.scatter([sweep, x, (1,)], broadcast=True, hash=False)), 5
    )
    return row.timing.median, scatter.timing.median
