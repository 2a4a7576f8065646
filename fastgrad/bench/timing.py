"""The timer: repeated calls of warm, checked work; median, quartiles and best-of.

>>> t = measure(lambda: sum(range(100)), repeat=3, budget=0.05)
>>> t.n >= 3 and t.q1 <= t.median <= t.q3
True
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Timing", "measure", "measure_blocks", "measure_interleaved", "timed_call"]


@dataclass(frozen=True)
class Timing:
    """Seconds per call: median, quartiles, best of ``n`` samples; ``extrapolated`` when
    scaled up from a part of the work (a parameter sample)."""

    median: float
    q1: float
    q3: float
    best: float
    n: int
    extrapolated: bool = False

    @classmethod
    def from_samples(cls, samples: Sequence[float]) -> Timing:
        q1, med, q3 = np.percentile(samples, [25, 50, 75])
        return cls(float(med), float(q1), float(q3), float(np.min(samples)), len(samples))

    @property
    def spread(self) -> float:
        """Half the interquartile range, relative to the median."""
        return (self.q3 - self.q1) / 2 / self.median if self.median > 0 else 0.0

    def scaled(self, factor: float) -> Timing:
        """The timing of ``factor`` times the work: an extrapolation."""
        q = (self.median, self.q1, self.q3, self.best)
        return Timing(*(v * factor for v in q), self.n, extrapolated=True)


def timed_call(fn: Callable[[], Any]) -> tuple[Any, float]:
    """``(fn(), seconds)``."""
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def measure(
    fn: Callable[[], Any], *, repeat: int = 9, budget: float = 2.0, first: float | None = None
) -> Timing:
    """Time the warm ``fn()``: :func:`measure_interleaved` of one function. ``first``: the
    time of a warm call just made; a call longer than ``budget`` is the only sample."""
    if first is not None and first >= budget:
        return Timing.from_samples([first])
    return measure_interleaved([fn], [contextlib.nullcontext], repeat=repeat, budget=budget)[0]


def measure_interleaved(
    fns: Sequence[Callable[[], Any]],
    contexts: Sequence[Callable[[], contextlib.AbstractContextManager]],
    *,
    repeat: int = 9,
    budget: float = 2.0,
) -> list[Timing]:
    """Time the warm ``fns``, one sample of each in turn, so that a change in the machine's
    load hits all alike; ``contexts[i]()`` is entered around every sample of ``fns[i]``.
    A sample is enough calls to last 5 ms (from the best of up to 3 calls); sampling stops
    after ``repeat`` rounds, or after 3 once ``budget`` seconds per function are spent.
    Garbage collection is off meanwhile, as in :mod:`timeit`."""
    numbers = []
    for fn, ctx in zip(fns, contexts, strict=True):
        with ctx():
            calls = [timed_call(fn)[1]]
            while len(calls) < 3 and sum(calls) < budget / 4:
                calls.append(timed_call(fn)[1])
        numbers.append(max(1, int(0.005 / max(min(calls), 1e-9))))
    samples: list[list[float]] = [[] for _ in fns]
    with _gc_off():
        deadline = time.perf_counter() + budget * len(fns)
        while len(samples[0]) < 3 or (len(samples[0]) < repeat and time.perf_counter() < deadline):
            for out, fn, ctx, number in zip(samples, fns, contexts, numbers, strict=True):
                with ctx():
                    t0 = time.perf_counter()
                    for _ in range(number):
                        fn()
                    out.append((time.perf_counter() - t0) / number)
    return [Timing.from_samples(s) for s in samples]


def measure_blocks(
    fns: Sequence[Callable[[], Any]],
    contexts: Sequence[Callable[[], contextlib.AbstractContextManager]],
    *,
    rounds: int = 5,
    block: float = 0.1,
) -> list[Timing]:
    """Time the warm ``fns`` in alternate blocks of calls, ``rounds`` times, each block about
    ``block`` seconds long, ``contexts[i]()`` entered around each block of ``fns[i]``; every
    call is a sample. Where :func:`measure_interleaved` alternates every few milliseconds,
    thread pools woken by one side (OpenBLAS's after NumPy products, Numba's) are still
    spinning when the other side starts, and slow most of its samples; in a block only its
    first calls meet them, and the best call and the median do not. Garbage collection is
    off meanwhile."""
    numbers = [max(1, int(block / max(timed_call(fn)[1], 1e-9))) for fn in fns]
    samples: list[list[float]] = [[] for _ in fns]
    with _gc_off():
        for _ in range(rounds):
            for out, fn, ctx, number in zip(samples, fns, contexts, numbers, strict=True):
                with ctx():
                    for _ in range(number):
                        out.append(timed_call(fn)[1])
    return [Timing.from_samples(s) for s in samples]


@contextlib.contextmanager
def _gc_off() -> Iterator[None]:
    """Garbage collection off for a measurement, as in :mod:`timeit`; restored after."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
