"""Thread scaling, shared by the groups: the result must not depend on the thread count, to
the bit; then the thread counts are timed interleaved, so that a change in the machine's
load hits every count alike. :func:`busy_core_scaling` does the same with another process
keeping one core busy."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ... import threads
from ..checks import max_abs_diff
from ..recorder import Recorder, Row
from ..settings import Settings
from ..timing import Timing, measure_interleaved


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


#: A process that keeps one core busy: a pure-Python loop, no threads, no I/O.
BUSY_LOOP = "while True: pass"
#: How long the busy loop runs before the timing starts (the scheduler places it).
BUSY_SETTLE_S = 0.3


def busy_row(backend: str, nt: int) -> str:
    return f"{backend}, {nt} thread{'s' * (nt > 1)}, one core busy"


def busy_core_scaling(
    rec: Recorder,
    *,
    group: str,
    work: str,
    backend: str,
    params: int,
    call: Callable[[], Any],
    calls: int,
) -> None:
    """``call`` on 1 and 2 threads, alternating call by call, while a busy-loop process of
    the bench's own keeps one core busy; the process is ended by its pid however the timing
    ends. Every call is timed on its own (no averaging over calls), so that the rows can
    report the slowest call against the median (``meta["max_over_median"]``)."""
    per: dict[int, list[float]] = {1: [], 2: []}
    proc = subprocess.Popen([sys.executable, "-c", BUSY_LOOP])
    try:
        time.sleep(BUSY_SETTLE_S)
        for _ in range(calls):
            for nt in per:
                with threads(nt):
                    t0 = time.perf_counter()
                    call()
                    per[nt].append(time.perf_counter() - t0)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    for nt, samples in per.items():
        t = Timing.from_samples(samples)
        worst = float(np.max(samples)) / t.median
        rec.add(
            Row(
                group,
                work,
                busy_row(backend, nt),
                t,
                params,
                note=f"{calls} calls, slowest {worst:.1f}x the median; another process "
                "busy on one core",
                check_passed=True,
                meta={"max_over_median": worst, "threads": nt},
            )
        )
