"""Group ``toolkit``: the numerical differentiation toolkit (``fastgrad.numerical_gradient``
with each of its methods, ``fastgrad.hessian``, ``vectorized=True``) against analytic
derivatives and against the peer libraries, side by side in one run.

- Accuracy: every method with ``h="auto"`` on the test-function suite
  (:data:`fastgrad.bench.testfunctions.SUITE`: Moré-Garbow-Hillstrom functions at their
  standard starting points and one or two other points, and hard points of ``exp``, ``log``,
  ``sin``): the relative error of every gradient element against the analytic gradient
  computed in long double, and how often the ``full_output`` error estimate is at least the
  actual error.
- Agreement with SciPy's ``approx_derivative`` where the definitions coincide: the same
  stencil at the same points. That needs a step ``h`` with ``x +- h`` exact (SciPy divides
  by the realised ``(x + h) - (x - h)``, fastgrad by ``2h``), hence dyadic points (the MGH
  points rounded to multiples of 1/64) and a power-of-two ``abs_step``.
- Speed, on the extended Rosenbrock function of 1,000 parameters (MGH 21, a Numba-compiled
  loop of about a microsecond): every method's kernel against each peer's equivalent
  (:data:`fastgrad.bench.peers.METHOD_PEERS`); 2 threads against 1 for every method; the
  Hessian of 200 parameters against numdifftools (on a block of parameters, extrapolated,
  with ``--quick``); ``vectorized=True`` against the per-parameter loop for the same function
  written in NumPy.

Every timed gradient is checked before it is timed: the numpy reference (the same compiled
``f``, one point at a time) and every peer against the analytic gradient, relative to
``max(1, |g|)`` (:func:`~fastgrad.bench.checks.tolerance_of`), the kernel against the
reference (bit for bit in fact), thread counts against one thread to the bit.
"""

from __future__ import annotations

import functools
import importlib.util
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

import fastgrad

from ..._differentiate import METHODS
from ..checks import (
    TOL_GENERIC,
    TOL_HESSIAN,
    max_rel_error,
    tolerance_of,
)
from ..peers import HESSIAN_PEERS, METHOD_PEERS, NO_EQUIVALENT, MethodPeer
from ..recorder import Recorder, Row, relate
from ..settings import Settings
from ..testfunctions import (
    MGH,
    SUITE,
    TRUTH_DTYPE,
    Problem,
    extended_rosenbrock,
    extended_rosenbrock_gradient,
    extended_rosenbrock_hessian,
    extended_rosenbrock_stack,
    extended_rosenbrock_start,
)
from ..timing import timed_call
from ._scaling import thread_scaling

GROUP = "toolkit"
#: Parameters of the gradient workloads and of the Hessian's.
N = 1_000
HESSIAN_N = 200
#: The Hessian peer's block with ``--quick`` (timed, then extrapolated to ``HESSIAN_N``).
QUICK_HESSIAN_BLOCK = 50

#: The rows' work, per method, and their backends.
GRADIENT_WORK = "gradient, ext. Rosenbrock n=1,000: {}"
HESSIAN_WORK = "Hessian, ext. Rosenbrock n=200"
VECTORIZED_WORK = "gradient, ext. Rosenbrock n=1,000 in NumPy: central"
KERNEL = "fastgrad (numba)"
REFERENCE = "fastgrad (numpy reference)"
LOOP = "fastgrad (numpy, per-parameter loop)"
VECTORIZED = "fastgrad (numpy, vectorized=True)"
#: The peers' rows' backends.
PEER_NAMES = frozenset(p.name for p in (*METHOD_PEERS, *HESSIAN_PEERS))
#: Thread-scaling series, per method.
SCALING_SERIES = "toolkit {}, ext. Rosenbrock n=1,000"

#: What each method's ``full_output`` error estimate is made of.
ESTIMATES = {
    "richardson": "Richardson table",
    "complex": "8 eps x the largest derivative",
}
TWO_STEP = "two steps, h and 2h"
#: The methods whose estimate is the two-step one.
TWO_STEP_METHODS = tuple(m for m in METHODS if m not in ESTIMATES)

#: fastgrad's method, SciPy's, and the power of eps of the power-of-two step.
SCIPY_PAIRS = (
    ("forward", "2-point", 1 / 2),
    ("central", "3-point", 1 / 3),
    ("complex", "cs", 1 / 3),
)

_EPS = float(np.finfo(np.float64).eps)
SUITE_NAME = "the MGH functions and hard points of fastgrad.bench.testfunctions"

#: The goals (fastgrad.bench.targets): median relative error per method with h="auto"; the
#: share of elements whose error estimate is at least the actual error; agreement with SciPy;
#: speed-ups over the fastest peer, over numdifftools' Hessian, over the per-parameter loop;
#: 2 threads over 1.
ACCURACY_GOALS = {
    "forward": 1e-6,
    "backward": 1e-6,
    "central": 1e-9,
    "central4": 1e-11,
    "richardson": 1e-11,
    "complex": 1e-14,
}
COVERAGE_GOAL = 0.95
SCIPY_GOAL = 1e-12
SPEEDUP_GOAL = 10.0
THREADS_GOAL = 1.8


def run(rec: Recorder, s: Settings) -> None:
    _accuracy(rec)
    _agreement(rec)
    _gradients(rec, s)
    for method in METHODS:
        thread_scaling(
            rec,
            s,
            group=GROUP,
            work=GRADIENT_WORK.format(method),
            backend=KERNEL,
            params=N,
            call=_kernel_call(method),
            series=SCALING_SERIES.format(method),
            repeat=max(5, s.repeat // 2),
        )
    _hessian(rec, s)
    _vectorized(rec, s)


# -- accuracy ------------------------------------------------------------------------------------


@dataclass
class _Tally:
    """One method's errors over the suite."""

    rel: list[float] = field(default_factory=list)
    mgh: list[bool] = field(default_factory=list)
    covered: list[bool] = field(default_factory=list)
    zeros: int = 0
    nfev: int = 0
    worst: tuple[float, str] = (-1.0, "")

    def add(self, p: Problem, k: int, g: NDArray, error: NDArray, truth: NDArray) -> None:
        actual = np.abs(g.astype(TRUTH_DTYPE) - truth).astype(np.float64)
        self.covered += list(error >= actual)
        # a derivative of 0 to double precision (|g*| <= eps max|g*|: exactly 0, or 0 by a
        # symmetry that long double rounds to 1e-20) has no relative error in float64
        nonzero = np.abs(truth) > _EPS * np.max(np.abs(truth))
        self.zeros += int(np.sum(~nonzero))
        rel = actual[nonzero] / np.abs(truth[nonzero]).astype(np.float64)
        rel = np.where(np.isfinite(rel), rel, np.inf)
        self.rel += list(rel)
        self.mgh += [p.source != "hard point"] * rel.size
        if rel.size and rel.max() > self.worst[0]:
            where = f"{p.name} at point {k}, element {int(np.flatnonzero(nonzero)[rel.argmax()])}"
            self.worst = (float(rel.max()), where)

    def summary(self, method: str) -> dict[str, Any]:
        rel, mgh = np.array(self.rel), np.array(self.mgh, dtype=bool)
        return {
            "method": method,
            "suite": SUITE_NAME,
            "mgh_functions": len(MGH),
            "hard_points": sum(len(p.points) for p in SUITE if p not in MGH),
            "h": "auto",
            "elements": len(self.covered),
            "zero_elements": self.zeros,
            "median_rel_error": float(np.median(rel)),
            "median_rel_error_mgh": float(np.median(rel[mgh])),
            "median_rel_error_hard": float(np.median(rel[~mgh])),
            "p90_rel_error": float(np.percentile(rel, 90)),
            "max_rel_error": float(rel.max()),
            "worst": self.worst[1],
            "estimate": ESTIMATES.get(method, TWO_STEP),
            "estimate_covers": float(np.mean(self.covered)),
            "nfev": self.nfev,
        }


def _accuracy(rec: Recorder) -> None:
    """Every method with ``h="auto"`` at every point of the suite, on the numpy backend (the
    kernel equals it bit for bit, and a kernel per function would be a compilation each)."""
    tallies = {m: _Tally() for m in METHODS}
    for p in SUITE:
        for k, x in enumerate(p.points):
            truth = p.gradient(x, TRUTH_DTYPE)
            for method, tally in tallies.items():
                g, info = fastgrad.numerical_gradient(
                    p.f, x, h="auto", method=method, backend="numpy", full_output=True
                )
                tally.add(p, k, g, info.error, truth)
                tally.nfev += info.nfev
    rec.accuracy += [tally.summary(m) for m, tally in tallies.items()]


def _agreement(rec: Recorder) -> None:
    if importlib.util.find_spec("scipy") is None:
        rec.skip("toolkit: scipy not installed, no agreement check")
        return
    from scipy.optimize._numdiff import approx_derivative  # peers.py says why

    eps = float(np.finfo(np.float64).eps)
    for method, scipy_method, power in SCIPY_PAIRS:
        worst, elements = 0.0, 0
        for p in MGH:
            for x in p.points:
                xd = np.round(x * 64) / 64  # dyadic: x +- h is exact
                h = 2.0 ** math.floor(math.log2(eps**power * max(1.0, float(np.max(np.abs(xd))))))
                ours = fastgrad.numerical_gradient(p.f, xd, h=h, method=method, backend="numpy")
                theirs = approx_derivative(p.f, xd, method=scipy_method, abs_step=h)
                worst = max(worst, max_rel_error(ours, theirs))
                elements += xd.size
        rec.agreement.append(
            {
                "method": method,
                "scipy_method": scipy_method,
                "elements": elements,
                "max_rel_diff": worst,
                "points": "the MGH points rounded to multiples of 1/64",
                "step": f"2^floor(log2(eps^{power:.3g} max(1, max|x|)))",
            }
        )


# -- speed ---------------------------------------------------------------------------------------


def _warm(fn: Callable[[], Any]) -> tuple[Any, float]:
    """``(fn(), seconds)`` of a second call: the first compiles, loads caches, imports, and
    touches fresh memory, none of which a timing should see."""
    fn()
    return timed_call(fn)


def _kernel_call(method: str) -> Callable[[], NDArray]:
    return functools.partial(
        fastgrad.numerical_gradient,
        extended_rosenbrock,
        extended_rosenbrock_start(N),
        h="auto",
        method=method,
        backend="numba",
    )


def _make_peer(rec: Recorder, peer: MethodPeer, f: Callable, x: NDArray) -> Callable | None:
    try:
        return peer.make(f, x)
    except ImportError:
        rec.skip(f"toolkit: {peer.name}: {peer.module} not installed")
    except Exception as exc:  # noqa: BLE001 - an optional peer must not stop the run
        rec.skip(f"toolkit: {peer.name}: {type(exc).__name__}: {exc}")
    return None


def _gradients(rec: Recorder, s: Settings) -> None:
    x = extended_rosenbrock_start(N)
    truth = extended_rosenbrock_gradient(x)
    refs: dict[str, Row] = {}
    for method in METHODS:
        work = GRADIENT_WORK.format(method)
        ref_call = functools.partial(
            fastgrad.numerical_gradient,
            extended_rosenbrock,
            x.copy(),
            h="auto",
            method=method,
            backend="numpy",
        )
        expected, t_first = _warm(ref_call)
        ref = rec.add(Row(GROUP, work, REFERENCE, None, N, note="vs analytic"))
        if rec.check(ref, max_rel_error(expected, truth), tolerance_of(method), work):
            ref.timing = s.timeit(ref_call, t_first, repeat=3)
        refs[method] = ref
        call = _kernel_call(method)
        g, t_first = _warm(call)
        row = rec.add(Row(GROUP, work, KERNEL, None, N, note=f"{s.threads} threads"))
        if rec.check(row, max_rel_error(g, expected), TOL_GENERIC, work):
            row.timing = s.timeit(call, t_first)
    for peer in METHOD_PEERS:
        fn = _make_peer(rec, peer, extended_rosenbrock, x.copy())
        if fn is None:
            continue
        got, t_first = _warm(fn)
        timing = None
        for i, method in enumerate(peer.methods):
            work = GRADIENT_WORK.format(method)
            note = "vs analytic" + (f"; the same call as the {peer.methods[0]} row" if i else "")
            row = rec.add(Row(GROUP, work, peer.name, None, N, note=note))
            if rec.check(row, max_rel_error(np.ravel(got), truth), tolerance_of(method), work):
                timing = timing or s.timeit(fn, t_first, repeat=3)
                row.timing = timing
    for module, why in NO_EQUIVALENT.items():
        installed = importlib.util.find_spec(module) is not None
        rec.skip(f"toolkit: {module}: {why}" if installed else f"toolkit: {module} not installed")
    for method, ref in refs.items():
        rows = [r for r in rec.rows if r.group == GROUP and r.work == ref.work]
        relate(rows, ref)
        kernel = rec.find(GROUP, ref.work, KERNEL)
        fastest = fastest_peer(rec, method)
        if kernel and kernel.timing and fastest:
            kernel.note += (
                f"; {fastest.timing.median / kernel.timing.median:.1f}x faster than the fastest "
                f"peer ({fastest.backend})"
            )


def fastest_peer(rec: Recorder, method: str) -> Row | None:
    """The fastest timed peer row of ``method``'s gradient, if any."""
    work = GRADIENT_WORK.format(method)
    timed = [
        r
        for r in rec.rows
        if r.group == GROUP and r.work == work and r.timing is not None and r.backend in PEER_NAMES
    ]
    return min(timed, key=lambda r: r.timing.median) if timed else None


def _hessian(rec: Recorder, s: Settings) -> None:
    x = extended_rosenbrock_start(HESSIAN_N)
    truth = extended_rosenbrock_hessian(x)
    call = functools.partial(fastgrad.hessian, extended_rosenbrock, x, backend="numba")
    H, t_first = _warm(call)
    row = rec.add(Row(GROUP, HESSIAN_WORK, KERNEL, None, HESSIAN_N, note=f"{s.threads} threads"))
    if rec.check(row, max_rel_error(H, truth), TOL_HESSIAN, HESSIAN_WORK):
        row.timing = s.timeit(call, t_first)
    k = QUICK_HESSIAN_BLOCK if s.quick else HESSIAN_N
    work_x = x.copy()

    def block(v: NDArray) -> float:  # f of the first k parameters, the others held at x
        work_x[:k] = v
        return extended_rosenbrock(work_x)

    rows = [row]
    for peer in HESSIAN_PEERS:
        fn = _make_peer(rec, peer, block if k < HESSIAN_N else extended_rosenbrock, x[:k].copy())
        if fn is None:
            continue
        got, t_first = _warm(fn)
        note = "vs analytic" + (
            f"; extrapolated from the {k}x{k} block (evaluations x ({HESSIAN_N}/{k})^2)"
            if k < HESSIAN_N
            else ""
        )
        prow = rec.add(Row(GROUP, HESSIAN_WORK, peer.name, None, HESSIAN_N, note=note))
        if rec.check(prow, max_rel_error(got, truth[:k, :k]), TOL_HESSIAN, HESSIAN_WORK):
            prow.timing = s.timeit(fn, t_first, repeat=3)
            if k < HESSIAN_N:
                prow.timing = prow.timing.scaled((HESSIAN_N / k) ** 2)
        rows.append(prow)
    relate(rows, None)


def _vectorized(rec: Recorder, s: Settings) -> None:
    x = extended_rosenbrock_start(N)
    truth = extended_rosenbrock_gradient(x)
    calls = {
        LOOP: functools.partial(
            fastgrad.numerical_gradient, extended_rosenbrock_stack, x.copy(), h="auto"
        ),
        VECTORIZED: functools.partial(
            fastgrad.numerical_gradient, extended_rosenbrock_stack, x, h="auto", vectorized=True
        ),
    }
    expected, t_first = _warm(calls[LOOP])
    loop = rec.add(Row(GROUP, VECTORIZED_WORK, LOOP, None, N, note="vs analytic"))
    if rec.check(loop, max_rel_error(expected, truth), tolerance_of("central"), VECTORIZED_WORK):
        loop.timing = s.timeit(calls[LOOP], t_first, repeat=3)
    got, t_first = _warm(calls[VECTORIZED])
    budget = fastgrad._differentiate.VECTORIZED_BUDGET >> 20
    note = f"stacks of up to {budget} MiB on {s.threads} threads"
    vec = rec.add(Row(GROUP, VECTORIZED_WORK, VECTORIZED, None, N, note=note))
    if rec.check(vec, max_rel_error(got, expected), TOL_GENERIC, VECTORIZED_WORK):
        vec.timing = s.timeit(calls[VECTORIZED], t_first)
    relate([loop, vec], loop)
