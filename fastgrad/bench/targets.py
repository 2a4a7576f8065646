"""The targets: what the bench measures against a goal, declared in one table.

Each :class:`Target` names a figure, states its goal, and says how the figure is read from
a finished run (``measure``: the value and how it is shown, or ``None`` when the run did not
measure it) and when it meets the goal (``met``). :func:`evaluate` reads every target of
:data:`TARGETS` from a run, in the table's order; the text report prints the result and the
JSON carries it under ``"targets"``, from which ``fastgrad.bench.readme`` renders the
README's table. Targets are reported, never asserted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .._differentiate import METHODS
from .fmt import fmt_diff, fmt_ratio, fmt_time
from .groups import GROUPS
from .groups import dask as dg
from .groups import multilayer as ml
from .groups import toolkit as tk
from .groups import twolayer as tl
from .groups._scaling import busy_row
from .groups.generic import F_ALONE, KERNEL_1, OVERHEAD_WORK, per_evaluation
from .groups.simplenet import WORK as SIMPLENET
from .groups.twolayer import ANALYTIC, KERNEL, REFERENCE
from .recorder import Recorder, Row

__all__ = [
    "Run",
    "Target",
    "TARGETS",
    "TOOLKIT_TARGETS",
    "MULTILAYER_TARGETS",
    "DASK_TARGETS",
    "SPEED_PUSH_TARGETS",
    "FIRST_GRADIENT",
    "QUICK_WALL",
    "evaluate",
]


@dataclass(frozen=True)
class Run:
    """A finished run, as the targets read it."""

    rec: Recorder
    quick: bool
    groups: Sequence[str]
    wall: float


@dataclass(frozen=True)
class Target:
    """A goal: ``name``, the ``goal`` in words, ``measure(run) -> (value, shown) | None``,
    and ``met(value)``."""

    name: str
    goal: str
    measure: Callable[[Run], tuple[float, str] | None]
    met: Callable[[float], bool]

    def evaluate(self, run: Run) -> dict[str, Any] | None:
        figure = self.measure(run)
        if figure is None:
            return None
        value, shown = figure
        return {
            "target": self.name,
            "value": value,
            "goal": self.goal,
            "met": self.met(value),
            "shown": shown,
            "command": "",
        }


def _at_least(limit: float) -> Callable[[float], bool]:
    return lambda v: v >= limit


def _at_most(limit: float) -> Callable[[float], bool]:
    return lambda v: v <= limit


def _below(limit: float) -> Callable[[float], bool]:
    return lambda v: v < limit


# -- how each figure is read from a run ----------------------------------------------------------


def _generic_two_threads(run: Run) -> tuple[float, str] | None:
    two = [p for p in run.rec.scaling if p["work"].startswith("generic") and p["threads"] == 2]
    if not two:
        return None
    return two[0]["speedup"], (
        f"{two[0]['speedup']:.2f}x on medians, {two[0]['speedup_best']:.2f}x on best-of"
    )


def _generic_overhead(run: Run) -> tuple[float, str] | None:
    work = OVERHEAD_WORK.format(1_000)
    alone, kernel = run.rec.find("generic", work, F_ALONE), run.rec.find("generic", work, KERNEL_1)
    if alone is None or kernel is None or alone.timing is None or kernel.timing is None:
        return None
    per_eval = per_evaluation(kernel.timing.median, alone.timing.median, 1_000)
    per_eval_best = per_evaluation(kernel.timing.best, alone.timing.best, 1_000)
    return per_eval * 1e9, (
        f"{per_eval * 1e9:.1f} ns on medians, {per_eval_best * 1e9:.1f} ns on best-of"
    )


def _simplenet(run: Run) -> tuple[float, str] | None:
    front = run.rec.find("simplenet", SIMPLENET, "numba (front door)")
    twin = run.rec.find("simplenet", SIMPLENET, "numba (kernel twin)")
    if not (front and front.timing and twin and twin.timing):
        return None
    return front.timing.median, (
        f"front door {fmt_time(front.timing.median)}, kernel twin {fmt_time(twin.timing.median)}"
    )


def _twolayer(inputs: str, figure: str) -> Callable[[Run], tuple[float, str] | None]:
    """One of the twolayer group's figures on ``inputs``: "ratio" (numba numgrad / reference
    analytic), "speedup" (over the reference numgrad) or "diff" (from the reference)."""

    def measure(run: Run) -> tuple[float, str] | None:
        work = f"784-50-10 b100 {inputs}"
        nb, an = run.rec.find("twolayer", work, KERNEL), run.rec.find("twolayer", work, ANALYTIC)
        ref = run.rec.find("twolayer", work, REFERENCE)
        if nb is None or an is None or ref is None or nb.timing is None or an.timing is None:
            return None
        if figure == "ratio":
            best = nb.timing.best / an.timing.best
            return nb.ratio_to_analytic, (
                f"{fmt_ratio(nb.ratio_to_analytic)} on medians, {fmt_ratio(best)} on best-of"
            )
        if figure == "speedup":
            best = ref.timing.best / nb.timing.best
            return nb.speedup_vs_reference, (
                f"{fmt_ratio(nb.speedup_vs_reference)} on medians, {fmt_ratio(best)} on "
                f"best-of ({ref.note.split(';')[0]})"
            )
        return nb.max_abs_diff, fmt_diff(nb.max_abs_diff)

    return measure


def _multilayer(network: ml.Network, figure: str) -> Callable[[Run], tuple[float, str] | None]:
    """One of the multilayer group's figures for ``network``: "ratio" (numba numgrad /
    reference backprop), "speedup" (over the reference numgrad, extrapolated) or "diff"
    (from the reference numgrad on the sampled parameters)."""

    def measure(run: Run) -> tuple[float, str] | None:
        nb = run.rec.find(ml.GROUP, network.work, ml.KERNEL)
        if figure == "diff":
            if nb is None or nb.max_abs_diff is None:
                return None
            return nb.max_abs_diff, fmt_diff(nb.max_abs_diff)
        # the timings: the kernel timed alone with BLAS held at 1 (groups.multilayer.run)
        nb = run.rec.find(ml.GROUP, network.work, ml.KERNEL_BLAS1) or nb
        other = run.rec.find(
            ml.GROUP, network.work, ml.ANALYTIC if figure == "ratio" else ml.REFERENCE
        )
        if nb is None or other is None or nb.timing is None or other.timing is None:
            return None
        if figure == "ratio":
            return _ratio(nb, other)
        return _ratio(other, nb)

    return measure


#: The multilayer group's targets (issue 10), network by network.
MULTILAYER_TARGETS: tuple[Target, ...] = tuple(
    target
    for network in ml.NETWORKS
    for target in (
        Target(
            f"MultiLayerNet {network.work}: numba numgrad / reference backprop",
            f"<= {network.ratio_goal:g}x",
            _multilayer(network, "ratio"),
            _at_most(network.ratio_goal),
        ),
        Target(
            f"MultiLayerNet {network.work}: speedup vs reference numgrad",
            f">= {ml.SPEEDUP_GOAL:,}x",
            _multilayer(network, "speedup"),
            _at_least(ml.SPEEDUP_GOAL),
        ),
        Target(
            f"MultiLayerNet {network.work}: max abs diff vs reference numgrad",
            f"<= {ml.DIFF_GOAL:g}",
            _multilayer(network, "diff"),
            _at_most(ml.DIFF_GOAL),
        ),
    )
)


def _fastest_peer(run: Run) -> tuple[float, str] | None:
    work = "784-50-10 b100 dense"
    kernel = run.rec.find("peers", work, KERNEL)
    timed = [
        r
        for r in run.rec.rows
        if r.group == "peers" and r.timing is not None and r.backend not in (REFERENCE, KERNEL)
    ]
    if not timed or kernel is None or kernel.timing is None:
        return None
    fastest = min(timed, key=lambda r: r.timing.median)
    slower = fastest.timing.median / kernel.timing.median
    slower_best = fastest.timing.best / kernel.timing.best
    return slower, (
        f"{fastest.backend}: {fmt_ratio(slower)} slower on medians, "
        f"{fmt_ratio(slower_best)} on best-of"
    )


def _toolkit_accuracy(method: str) -> Callable[[Run], tuple[float, str] | None]:
    def measure(run: Run) -> tuple[float, str] | None:
        a = next((a for a in run.rec.accuracy if a["method"] == method), None)
        if a is None:
            return None
        return a["median_rel_error"], (
            f"{a['median_rel_error']:.1e} ({a['elements']:,} elements; MGH "
            f"{a['median_rel_error_mgh']:.1e}, hard points {a['median_rel_error_hard']:.1e})"
        )

    return measure


def _toolkit_coverage(methods: Sequence[str]) -> Callable[[Run], tuple[float, str] | None]:
    """The smallest share, over ``methods``, of elements whose estimate bounds the error."""

    def measure(run: Run) -> tuple[float, str] | None:
        got = [a for a in run.rec.accuracy if a["method"] in methods]
        if not got:
            return None
        shares = ", ".join(f"{a['method']} {100 * a['estimate_covers']:.1f}%" for a in got)
        return min(a["estimate_covers"] for a in got), shares

    return measure


def _toolkit_scipy(run: Run) -> tuple[float, str] | None:
    if not run.rec.agreement:
        return None
    worst = max(a["max_rel_diff"] for a in run.rec.agreement)
    pairs = ", ".join(
        f"{a['method']}/{a['scipy_method']} {fmt_diff(a['max_rel_diff'])}"
        for a in run.rec.agreement
    )
    return worst, f"{fmt_diff(worst)} ({pairs}; {run.rec.agreement[0]['elements']} elements each)"


def _ratio(slow: Row, fast: Row) -> tuple[float, str]:
    """``slow / fast`` on medians, with the best-of ratio and the slow row's name."""
    med = slow.timing.median / fast.timing.median
    best = slow.timing.best / fast.timing.best
    star = "*" if slow.timing.extrapolated else ""
    return med, (
        f"{fmt_ratio(med)} on medians, {fmt_ratio(best)} on best-of ({slow.backend}{star})"
    )


def _toolkit_speed(method: str) -> Callable[[Run], tuple[float, str] | None]:
    def measure(run: Run) -> tuple[float, str] | None:
        kernel = run.rec.find(tk.GROUP, tk.GRADIENT_WORK.format(method), tk.KERNEL)
        fastest = tk.fastest_peer(run.rec, method)
        if kernel is None or kernel.timing is None or fastest is None:
            return None
        return _ratio(fastest, kernel)

    return measure


def _toolkit_hessian(run: Run) -> tuple[float, str] | None:
    rows = [r for r in run.rec.rows if r.group == tk.GROUP and r.work == tk.HESSIAN_WORK]
    kernel = next((r for r in rows if r.backend == tk.KERNEL and r.timing), None)
    peers = [r for r in rows if r.backend != tk.KERNEL and r.timing]
    if kernel is None or not peers:
        return None
    return _ratio(min(peers, key=lambda r: r.timing.median), kernel)


def _toolkit_vectorized(run: Run) -> tuple[float, str] | None:
    loop = run.rec.find(tk.GROUP, tk.VECTORIZED_WORK, tk.LOOP)
    vec = run.rec.find(tk.GROUP, tk.VECTORIZED_WORK, tk.VECTORIZED)
    if not (loop and loop.timing and vec and vec.timing):
        return None
    return _ratio(loop, vec)


def _toolkit_threads(run: Run) -> tuple[float, str] | None:
    two = {
        m: p
        for m in METHODS
        for p in run.rec.scaling
        if p["work"] == tk.SCALING_SERIES.format(m) and p["threads"] == 2
    }
    if not two:
        return None
    shown = ", ".join(f"{m} {p['speedup']:.2f}x [{p['speedup_best']:.2f}x]" for m, p in two.items())
    return min(p["speedup"] for p in two.values()), (
        f"{shown} (on medians [best-of]; the smallest counts)"
    )


def _dask_speedup(run: Run) -> tuple[float, str] | None:
    """The 2-worker cluster's speedup over the serial run (one process, one evaluation at a
    time: one worker process's work without Dask's overhead), on medians."""
    for serial in (r for r in run.rec.rows if r.group == dg.GROUP and r.backend == dg.SERIAL):
        cluster = run.rec.find(dg.GROUP, serial.work, dg.CLUSTER)
        if serial.timing is None or cluster is None or cluster.timing is None:
            return None
        sp = serial.timing.median / cluster.timing.median
        return sp, (
            f"{sp:.2f}x ({serial.work}: serial {fmt_time(serial.timing.median)}, "
            f"{dg.WORKERS} workers {fmt_time(cluster.timing.median)})"
        )
    return None


def _dask_overhead(run: Run) -> tuple[float, str] | None:
    row = run.rec.find(dg.GROUP, dg.OVERHEAD, dg.OVERHEAD_BACKEND)
    if row is None or row.timing is None:
        return None
    return row.timing.median, (
        f"{fmt_time(row.timing.median)} on medians, {fmt_time(row.timing.best)} best-of "
        f"({row.params:,} tasks)"
    )


#: The dask group's targets (issue 12).
DASK_TARGETS: tuple[Target, ...] = (
    Target(
        f"dask: {dg.WORKERS}-worker LocalCluster / serial, f of ~10 ms (--quick: ~2 ms)",
        f">= {dg.WORKERS * dg.EFFICIENCY_GOAL:g}x (within {1 - dg.EFFICIENCY_GOAL:.0%} of "
        f"the ideal {dg.WORKERS}x)",
        _dask_speedup,
        _at_least(dg.WORKERS * dg.EFFICIENCY_GOAL),
    ),
    Target(
        "dask: overhead per task, loopback",
        f"< {dg.OVERHEAD_GOAL * 1e3:g} ms",
        _dask_overhead,
        _below(dg.OVERHEAD_GOAL),
    ),
)


def _speed_push_ratio(work: str) -> Callable[[Run], tuple[float, str] | None]:
    """The kernel with BLAS held at one thread against the reference backprop on ``work``:
    the kernel's products are single-threaded BLAS calls, and the hold keeps the reference's
    idle OpenBLAS threads from
    spinning on its cores (the row without the hold is printed beside it)."""

    def measure(run: Run) -> tuple[float, str] | None:
        nb = run.rec.find("twolayer", work, tl.KERNEL_BLAS1)
        an = run.rec.find("twolayer", work, ANALYTIC)
        if nb is None or an is None or nb.timing is None or an.timing is None:
            return None
        return _ratio(nb, an)

    return measure


def _speed_push_diff(run: Run) -> tuple[float, str] | None:
    rows = [
        r
        for r in run.rec.rows
        if r.group == "twolayer" and r.backend == KERNEL and r.max_abs_diff is not None
    ]
    if not rows:
        return None
    worst = max(rows, key=lambda r: r.max_abs_diff)
    shown = f"{fmt_diff(worst.max_abs_diff)} (the worst of {len(rows)} workloads: {worst.work})"
    return worst.max_abs_diff, shown


def _idle_scaling(run: Run) -> tuple[float, str] | None:
    two = [p for p in run.rec.scaling if p["work"] == tl.SCALING_SERIES and p["threads"] == 2]
    if not two:
        return None
    return two[0]["speedup"], (
        f"{two[0]['speedup']:.2f}x on medians, {two[0]['speedup_best']:.2f}x on best-of"
    )


def _busy(figure: str) -> Callable[[Run], tuple[float, str] | None]:
    """With one core busy: "ratio" (2-thread median / 1-thread median) or "worst" (the
    slowest 2-thread call / the 2-thread median)."""

    def measure(run: Run) -> tuple[float, str] | None:
        work = "784-50-10 b100 dense"
        one = run.rec.find("twolayer", work, busy_row(KERNEL, 1))
        two = run.rec.find("twolayer", work, busy_row(KERNEL, 2))
        if one is None or two is None or one.timing is None or two.timing is None:
            return None
        if figure == "ratio":
            r = two.timing.median / one.timing.median
            return r, (
                f"{r:.2f} (2 threads {fmt_time(two.timing.median)}, 1 thread "
                f"{fmt_time(one.timing.median)}, medians of {two.timing.n} calls)"
            )
        w = two.meta["max_over_median"]
        return w, f"{w:.1f}x (1 thread: {one.meta['max_over_median']:.1f}x)"

    return measure


def _training_job(run: Run) -> tuple[float, str] | None:
    job = run.rec.training_job
    if not job:
        return None
    return job["wall_time_s"], (
        f"{job['wall_time_s']:.1f} s of training, test accuracy {job['test_acc']:.3f}"
    )


def _cold_first_call(run: Run) -> tuple[float, str] | None:
    cold = run.rec.first_gradient.get("cold")
    if cold is None:
        return None
    return cold["first_call_s"], (
        f"{fmt_time(cold['first_call_s'])} (import {fmt_time(cold['import_s'])} besides)"
    )


#: The speed push's targets (issue 13).
SPEED_PUSH_TARGETS: tuple[Target, ...] = (
    *(
        Target(
            f"TwoLayerNet {work}: numba numgrad (BLAS held at 1) / reference backprop",
            f"<= {goal:g}x",
            _speed_push_ratio(work),
            _at_most(goal),
        )
        for work, goal in (
            ("784-50-10 b100 dense", 2.5),
            ("784-50-10 b100 mnist", 2.5),
            ("784-50-10 b100 sparse", 3.0),
            ("784-50-10 b1000 dense", 3.0),
            ("784-300-10 b100 dense", 3.0),
            ("784-1000-10 b100 dense", 3.0),
        )
    ),
    Target(
        "TwoLayerNet: max abs diff of the numba numgrad from the reference, every workload",
        "<= 1e-10",
        _speed_push_diff,
        _at_most(1e-10),
    ),
    Target(
        "TwoLayerNet kernel: 2 threads vs 1, idle machine",
        ">= 1.85x",
        _idle_scaling,
        _at_least(1.85),
    ),
    Target(
        "TwoLayerNet kernel, one core busy: 2-thread median / 1-thread median",
        "<= 1 (2 threads no slower)",
        _busy("ratio"),
        _at_most(1.0),
    ),
    Target(
        "TwoLayerNet kernel, one core busy: slowest 2-thread call / median",
        "<= 3x",
        _busy("worst"),
        _at_most(3.0),
    ),
    Target(
        "fastgrad train default job (10,000 iterations, MNIST sample): training time",
        "< 20 s, test accuracy unchanged",
        _training_job,
        _below(20.0),
    ),
    Target(
        "cold start: the first TwoLayerNet numerical gradient on an empty Numba cache",
        "< 10 s",
        _cold_first_call,
        _below(10.0),
    ),
)


def _first_gradient(run: Run) -> tuple[float, str] | None:
    warm = run.rec.first_gradient.get("warm")
    if warm is None:
        return None
    return warm["total_s"], (
        f"{fmt_time(warm['total_s'])} (import {fmt_time(warm['import_s'])}"
        f", first call {fmt_time(warm['first_call_s'])})"
    )


def _quick_wall(run: Run) -> tuple[float, str] | None:
    if not (run.quick and set(run.groups) == set(GROUPS)):
        return None
    return run.wall, f"{run.wall:.1f} s"


# -- the table ----------------------------------------------------------------------------------

FIRST_GRADIENT = Target(
    "first TwoLayerNet numerical gradient in a fresh process, warm cache, import fastgrad included",
    "< 0.5 s",
    _first_gradient,
    _below(0.5),
)
QUICK_WALL = Target("fastgrad bench --quick, total wall time", "< 60 s", _quick_wall, _below(60))

#: The toolkit group's targets (issue 11), in the order of its report.
TOOLKIT_TARGETS: tuple[Target, ...] = (
    *(
        Target(
            f"toolkit: median relative error, {method}, h='auto', test-function suite",
            f"<= {goal:g}",
            _toolkit_accuracy(method),
            _at_most(goal),
        )
        for method, goal in tk.ACCURACY_GOALS.items()
    ),
    Target(
        "toolkit: error estimate >= actual error, two-step estimate ("
        + ", ".join(tk.TWO_STEP_METHODS)
        + ")",
        f">= {tk.COVERAGE_GOAL:.0%} of elements, each method",
        _toolkit_coverage(tk.TWO_STEP_METHODS),
        _at_least(tk.COVERAGE_GOAL),
    ),
    Target(
        "toolkit: error estimate >= actual error, Richardson",
        f">= {tk.COVERAGE_GOAL:.0%} of elements",
        _toolkit_coverage(("richardson",)),
        _at_least(tk.COVERAGE_GOAL),
    ),
    Target(
        "toolkit: max difference from SciPy approx_derivative where the definitions coincide",
        f"<= {tk.SCIPY_GOAL:g} (relative to max(1, |g|))",
        _toolkit_scipy,
        _at_most(tk.SCIPY_GOAL),
    ),
    *(
        Target(
            f"toolkit: {method} gradient, njit f of 1,000 params: fastest peer / fastgrad",
            f">= {tk.SPEEDUP_GOAL:g}x",
            _toolkit_speed(method),
            _at_least(tk.SPEEDUP_GOAL),
        )
        for method in METHODS
    ),
    Target(
        "toolkit: Hessian, njit f of 200 params: numdifftools / fastgrad",
        f">= {tk.SPEEDUP_GOAL:g}x",
        _toolkit_hessian,
        _at_least(tk.SPEEDUP_GOAL),
    ),
    Target(
        "toolkit: vectorized=True / per-parameter loop, NumPy f of 1,000 params",
        f">= {tk.SPEEDUP_GOAL:g}x",
        _toolkit_vectorized,
        _at_least(tk.SPEEDUP_GOAL),
    ),
    Target(
        "toolkit: 2 threads vs 1, every method, njit f of 1,000 params",
        f">= {tk.THREADS_GOAL:g}x",
        _toolkit_threads,
        _at_least(tk.THREADS_GOAL),
    ),
)

#: Every target, in the order of the groups that measure them.
TARGETS: tuple[Target, ...] = (
    Target(
        "generic kernel: 2 threads vs 1 on 10,000 params",
        ">= 1.8x",
        _generic_two_threads,
        _at_least(1.8),
    ),
    Target(
        "generic kernel overhead beyond f (1 thread, quadratic 1,000)",
        "< 50 ns per evaluation",
        _generic_overhead,
        _below(50),
    ),
    Target("SimpleNet numerical gradient (numba)", "< 10 us per call", _simplenet, _below(10e-6)),
    *(
        target
        for inputs, goal in (("dense", 10), ("mnist", 5))
        for target in (
            Target(
                f"TwoLayerNet 784-50-10 b100 {inputs}: numba numgrad / reference analytic",
                f"<= {goal}x",
                _twolayer(inputs, "ratio"),
                _at_most(goal),
            ),
            Target(
                f"TwoLayerNet 784-50-10 b100 {inputs}: speedup vs reference numgrad",
                ">= 3,000x",
                _twolayer(inputs, "speedup"),
                _at_least(3000),
            ),
            Target(
                f"TwoLayerNet 784-50-10 b100 {inputs}: max abs diff vs reference",
                "<= 1e-10",
                _twolayer(inputs, "diff"),
                _at_most(1e-10),
            ),
        )
    ),
    *MULTILAYER_TARGETS,
    Target("fastest peer vs the numba kernel", ">= 1,000x slower", _fastest_peer, _at_least(1000)),
    *TOOLKIT_TARGETS,
    *DASK_TARGETS,
    *SPEED_PUSH_TARGETS,
    FIRST_GRADIENT,
    QUICK_WALL,
)


def evaluate(run: Run) -> list[dict[str, Any]]:
    """Every target that ``run`` measured: ``{"target", "value", "goal", "met", "shown",
    "command"}`` each, in the order of :data:`TARGETS`."""
    return [r for r in (t.evaluate(run) for t in TARGETS) if r is not None]
