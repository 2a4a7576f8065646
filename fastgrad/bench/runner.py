"""A run of the bench: the chosen groups, in the registry's order, under the run's kernel
and BLAS thread counts; then the machine's description, the wall time and the targets."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .groups import GROUPS, load
from .machine import machine_info
from .recorder import Recorder
from .settings import Settings
from .targets import Run, evaluate

__all__ = ["Result", "run"]


@dataclass
class Result:
    """What a run recorded, under which settings, on which machine, in how long."""

    rec: Recorder
    settings: Settings
    groups: list[str]
    machine: dict[str, Any]
    wall: float


def run(groups: Sequence[str], settings: Settings, blas_threads: int | None = None) -> Result:
    """Run ``groups`` (in the order of :data:`~fastgrad.bench.groups.GROUPS`) with
    ``settings.threads`` kernel threads and, when given, ``blas_threads`` BLAS threads
    for the whole run; progress goes to stderr."""
    import fastgrad

    t_start = time.perf_counter()
    rec = Recorder()
    blas = contextlib.nullcontext()
    if blas_threads is not None:
        from threadpoolctl import threadpool_limits

        blas = threadpool_limits(limits=blas_threads, user_api="blas")
    with fastgrad.threads(settings.threads), blas:
        for name in GROUPS:
            if name in groups:
                t0 = time.perf_counter()
                load(name)(rec, settings)
                print(f"[{name}] done in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        machine = machine_info()
    wall = time.perf_counter() - t_start
    rec.targets = evaluate(Run(rec, settings.quick, groups, wall))
    return Result(rec, settings, list(groups), machine, wall)
