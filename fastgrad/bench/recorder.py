"""The recorder: the rows of the results table, the checks that failed, and the other
figures a run collects (thread scaling, sweeps, projections, compile times, memory, the
differentiation toolkit's accuracy and its agreement with SciPy).

A group adds a :class:`Row` per piece of work and backend, checks it against the reference
with :meth:`Recorder.check` (a failed check empties the row's timing and is listed in
:attr:`Recorder.failures`), then times it; :func:`relate` fills in the ratios.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .timing import Timing

__all__ = ["Row", "Recorder", "relate"]


@dataclass
class Row:
    """One line of the results table."""

    group: str
    work: str
    backend: str
    timing: Timing | None
    params: int | None = None
    max_abs_diff: float | None = None
    #: reference time / this time: how many times faster than the reference.
    speedup_vs_reference: float | None = None
    #: this time / the reference analytic gradient's time.
    ratio_to_analytic: float | None = None
    note: str = ""
    #: for plots and exponents: {"series": ..., "dim": ..., "value": ...}
    meta: dict[str, Any] = field(default_factory=dict)
    check_passed: bool | None = None

    def as_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["timing"] = None if self.timing is None else asdict(self.timing)
        return d


def relate(rows: Sequence[Row], reference: Row | None, analytic: Row | None = None) -> None:
    """Fill in each timed row's speedup over ``reference`` and ratio to ``analytic``."""
    for r in rows:
        if r.timing is None:
            continue
        if reference is not None and reference.timing is not None:
            r.speedup_vs_reference = reference.timing.median / r.timing.median
        if analytic is not None and analytic.timing is not None:
            r.ratio_to_analytic = r.timing.median / analytic.timing.median


class Recorder:
    """Rows, failures, skips and notes, and the figures that are not rows."""

    def __init__(self, out: Callable[[str], None] = print) -> None:
        self.out = out
        self.rows: list[Row] = []
        self.failures: list[str] = []
        self.skipped: list[str] = []
        self.notes: list[str] = []
        self.scaling: list[dict[str, Any]] = []
        self.exponents: list[dict[str, Any]] = []
        self.sweep_points: list[dict[str, Any]] = []
        self.projections: list[dict[str, Any]] = []
        self.compile: list[dict[str, Any]] = []
        self.memory: dict[str, Any] | None = None
        self.first_gradient: dict[str, dict[str, Any]] = {}
        #: the default ``fastgrad train`` job, run by the training group (not with --quick)
        self.training_job: dict[str, Any] = {}
        #: the test suite's compile share, measured by the compile group (not with --quick)
        self.suite_compile: dict[str, Any] = {}
        #: the toolkit's accuracy on the test-function suite, one entry per method
        self.accuracy: list[dict[str, Any]] = []
        #: the toolkit against SciPy where the definitions coincide, one entry per method
        self.agreement: list[dict[str, Any]] = []
        #: filled by :func:`fastgrad.bench.targets.evaluate` once the groups have run
        self.targets: list[dict[str, Any]] = []

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        return row

    def find(self, group: str, work: str, backend: str) -> Row | None:
        """The row of ``group``, ``work`` and ``backend``, if recorded."""
        for r in self.rows:
            if (r.group, r.work, r.backend) == (group, work, backend):
                return r
        return None

    def check(self, row: Row, diff: float, tol: float, what: str) -> bool:
        """Record ``row``'s difference from the reference; past ``tol`` the row is failed
        (no timing, a note, a line in :attr:`failures`). Returns whether it passed."""
        row.max_abs_diff = float(diff)
        row.check_passed = bool(diff <= tol)
        if not row.check_passed:
            row.timing = None
            row.note = (row.note + "; " if row.note else "") + f"CHECK FAILED (> {tol:g})"
            self.fail(f"{row.group}: {what} {row.backend}: max abs diff {diff:.3g} > {tol:g}")
        return row.check_passed

    def fail(self, what: str) -> None:
        self.failures.append(what)

    def skip(self, what: str) -> None:
        line = f"skipped: {what}"
        self.skipped.append(line)
        self.out(line)

    def note(self, text: str) -> None:
        self.notes.append(text)

    def scaling_point(self, work: str, nt: int, t: Timing, base: Timing | None) -> None:
        """Thread scaling: ``work`` on ``nt`` threads took ``t``, on one thread ``base``."""
        if base is None:
            return
        sp = base.median / t.median
        self.scaling.append(
            {
                "work": work,
                "threads": nt,
                "median_s": t.median,
                "best_s": t.best,
                "speedup": sp,
                "efficiency": sp / nt,
                "speedup_best": base.best / t.best,
            }
        )

    def project(self, what: str, t: Timing) -> None:
        """The book's 10,000-iteration loop at ``t`` per gradient or iteration."""
        self.projections.append(
            {
                "what": what,
                "per_gradient_s": t.median,
                "loop_s": t.median * 10_000,
                "extrapolated": t.extrapolated,
            }
        )
