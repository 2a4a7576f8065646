"""Thread scaling, shared by the groups: the result must not depend on the thread count, to
the bit; then the thread counts are timed interleaved, so that a change in the machine's
load hits every count alike."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from ... import threads
from ..checks import max_abs_diff
from ..recorder import Recorder, Row
from ..settings import Settings
from ..timing import measure_interleaved


def thread_scaling(
    rec: Recorder,
    s: Settings,
    *,
    group: str,
    work: str,
    backend: str,
    params: int,
    call: Callable[[], Any],
    series: str,
    repeat: int,
) -> None:
    """Rows ``"{backend}, n thread(s)"`` for n = 1 .. ``s.threads``, each checked against
    the 1-thread result with tolerance 0, then timed; scaling points under ``series``."""
    counts = list(range(1, s.threads + 1))
    rows = []
    with threads(1):
        g1 = call()
    for nt in counts:
        with threads(nt):
            g = call()
        rows.append(
            rec.add(
                Row(
                    group,
                    work,
                    f"{backend}, {nt} thread{'s' * (nt > 1)}",
                    None,
                    params,
                    note="thread scaling, interleaved",
                )
            )
        )
        # the result must not depend on the thread count, to the bit
        rec.check(rows[-1], max_abs_diff(g, g1), 0.0, work)
    if all(r.check_passed for r in rows):
        timings = measure_interleaved(
            [call] * len(counts),
            [functools.partial(threads, nt) for nt in counts],
            repeat=repeat,
            budget=s.budget,
        )
        for nt, row, t in zip(counts, rows, timings, strict=True):
            row.timing = t
            rec.scaling_point(series, nt, t, timings[0])
