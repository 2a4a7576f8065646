"""Thread scaling, shared by the groups: the result must not depend on the thread count, to
the bit; the counts are then timed interleaved, so that a change in load hits all alike."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

from ... import threads
from ..checks import max_abs_diff
from ..recorder import Recorder, Row
from ..settings import Settings
from ..timing import measure_interleaved


def thread_scaling(rec: Recorder, s: Settings, row: Row, call: Callable[[], Any], series: str):
    """Rows like ``row``, ``"{backend}, n thread(s)"`` for n = 1 .. ``s.threads``, each
    checked against the 1-thread result with tolerance 0, then timed; scaling as ``series``."""
    with threads(1):
        g1 = call()
    counts, rows = range(1, s.threads + 1), []
    for n in counts:
        with threads(n):
            diff = max_abs_diff(call(), g1)
        backend = f"{row.backend}, {n} thread{'s' * (n > 1)}"
        rows.append(rec.add(dataclasses.replace(row, backend=backend)))
        rec.check(rows[-1], diff, 0.0)
    if all(r.check_passed for r in rows):
        contexts = [functools.partial(threads, n) for n in counts]
        timings = measure_interleaved(
            [call] * len(rows), contexts, repeat=max(5, s.repeat // 2), budget=s.budget
        )
        for n, r, t in zip(counts, rows, timings, strict=True):
            r.timing = t
            rec.scaling_point(series, n, t, timings[0])
