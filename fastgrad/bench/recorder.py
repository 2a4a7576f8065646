"""What a run records: the rows of the results table, the checks that failed, skips, notes
and thread scaling.

A group adds a :class:`Row` per piece of work and backend and calls :meth:`Recorder.check`
with the row's difference from the reference: a row within tolerance is then timed, a row
past it is marked failed, left untimed and listed in :attr:`Recorder.failures`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .timing import Timing

__all__ = ["Row", "Recorder", "relate"]


@dataclass
class Row:
    """One line of the results table. ``speedup_vs_reference``: the reference's time / this
    time; ``ratio_to_analytic``: this time / the reference's analytic gradient's time;
    ``meta["series"]``: the row's series in the plot."""

    group: str
    work: str
    backend: str
    timing: Timing | None = None
    params: int | None = None
    max_abs_diff: float | None = None
    speedup_vs_reference: float | None = None
    ratio_to_analytic: float | None = None
    note: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    check_passed: bool | None = None


def relate(rows: Sequence[Row], reference: Row | None, analytic: Row | None = None) -> None:
    """Fill in each timed row's speedup over ``reference`` (medians) and ratio to
    ``analytic`` (best samples: the rows a group times in turn)."""
    for r in rows:
        if r.timing is not None and reference is not None and reference.timing is not None:
            r.speedup_vs_reference = reference.timing.median / r.timing.median
        if r.timing is not None and analytic is not None and analytic.timing is not None:
            r.ratio_to_analytic = r.timing.best / analytic.timing.best


class Recorder:
    """Rows, failures, skips, notes, thread scaling; ``out`` receives progress lines."""

    def __init__(self, out: Callable[[str], None] = lambda line: print(line, file=sys.stderr)):
        self.out = out
        self.rows: list[Row] = []
        self.failures: list[str] = []
        self.skipped: list[str] = []
        self.notes: list[str] = []
        self.scaling: list[dict[str, Any]] = []

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        return row

    def find(self, group: str, work: str, backend: str) -> Row | None:
        """The row of ``group``, ``work`` and ``backend``, if recorded."""
        return next(
            (r for r in self.rows if (r.group, r.work, r.backend) == (group, work, backend)), None
        )

    def check(
        self, row: Row, diff: float, tol: float, time: Callable[[], Timing] | None = None
    ) -> bool:
        """Record ``row``'s difference from the reference; within ``tol``, ``row.timing =
        time()``; past it, the row is failed: no timing, a note, a line in :attr:`failures`."""
        row.max_abs_diff, row.check_passed = float(diff), bool(diff <= tol)
        if row.check_passed and time is not None:
            row.timing = time()
        elif not row.check_passed:
            row.timing = None
            row.note = (row.note + "; " if row.note else "") + f"CHECK FAILED (> {tol:g})"
            self.failures.append(f"{row.group}: {row.work}, {row.backend}: {diff:.3g} > {tol:g}")
        return row.check_passed

    def skip(self, what: str) -> None:
        self.skipped.append(f"skipped: {what}")
        self.out(self.skipped[-1])

    def scaling_point(self, series: str, threads: int, t: Timing, base: Timing) -> None:
        """Thread scaling: ``series`` took ``t`` on ``threads`` threads, ``base`` on one."""
        speedup = base.median / t.median
        self.scaling.append(
            {"work": series, "threads": threads, "median_s": t.median, "speedup": speedup,
             "efficiency": speedup / threads, "speedup_best": base.best / t.best}
        )  # fmt: skip
