"""The timer and its statistics.

Every measurement follows the same three steps: run the work once (this also compiles it),
check the result against the reference, and only then time it with :func:`measure`
(repeated calls, median and interquartile range) or, for work whose variants must see the
same machine load, :func:`measure_interleaved`.

Examples
--------
>>> t = measure(lambda: sum(range(100)), repeat=3, budget=0.05)
>>> t.n >= 3 and t.q1 <= t.median <= t.q3
True
"""

from __future__ import annotations

import contextlib
import gc
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Timing", "measure", "measure_interleaved", "timed_call"]


@dataclass(frozen=True)
class Timing:
    """Per-call seconds: median, quartiles, best of ``n`` samples.

    ``extrapolated`` is True when the figures were scaled up from a parameter subset.
    """

    median: float
    q1: float
    q3: float
    best: float
    n: int
    extrapolated: bool = False

    @classmethod
    def from_samples(cls, samples: Sequence[float]) -> Timing:
        s = np.asarray(samples, dtype=float)
        q1, med, q3 = np.percentile(s, [25, 50, 75])
        return cls(float(med), float(q1), float(q3), float(s.min()), int(s.size))

    @property
    def spread(self) -> float:
        """Half the interquartile range, relative to the median."""
        return (self.q3 - self.q1) / 2 / self.median if self.median > 0 else 0.0

    def scaled(self, factor: float) -> Timing:
        """The same timing for ``factor`` times the work (an extrapolation)."""
        return Timing(
            self.median * factor,
            self.q1 * factor,
            self.q3 * factor,
            self.best * factor,
            self.n,
            extrapolated=True,
        )


def measure(
    fn: Callable[[], Any],
    *,
    repeat: int = 9,
    budget: float = 2.0,
    min_sample: float = 0.005,
    first: float | None = None,
) -> Timing:
    """Time ``fn()``: ``repeat`` samples (at least 3 unless one call exceeds ``budget``).

    Each sample runs ``fn`` enough times to last ``min_sample`` seconds and records the mean
    per call; sampling stops early once ``budget`` seconds are spent (after 3 samples). ``fn``
    must already be warm (compiled). ``first``: the duration of a warm call just made, used
    to calibrate (and as the only sample when it exceeds ``budget``); without it the best of
    up to 3 calls calibrates. Garbage collection is off while timing, as in :mod:`timeit`.
    """
    if first is None:  # calibrate on the best of up to 3 calls: one stall must not decide
        calls: list[float] = []
        while len(calls) < 3 and sum(calls) < budget / 4:
            t0 = time.perf_counter()
            fn()
            calls.append(time.perf_counter() - t0)
        first = min(calls)
    if first >= budget:
        return Timing.from_samples([first])
    (samples,) = _sample(
        [fn], [contextlib.nullcontext], [_number(min_sample, first)], repeat, budget
    )
    return Timing.from_samples(samples)


def measure_interleaved(
    fns: Sequence[Callable[[], Any]],
    contexts: Sequence[Callable[[], contextlib.AbstractContextManager]] | None = None,
    *,
    repeat: int = 9,
    budget: float = 2.0,
    min_sample: float = 0.005,
) -> list[Timing]:
    """Time several warm functions in alternation, one sample of each in turn, so that a
    change in the machine's load during the measurement hits all of them alike.

    ``contexts[i]()`` is entered around every sample of ``fns[i]`` (e.g. a thread count).
    Calibration and stopping rules as in :func:`measure`; ``budget`` is per function.
    """
    contexts = list(contexts or [contextlib.nullcontext] * len(fns))
    numbers = []
    for fn, ctx in zip(fns, contexts, strict=True):
        with ctx():
            best = math.inf
            for _ in range(3):
                t0 = time.perf_counter()
                fn()
                best = min(best, time.perf_counter() - t0)
        numbers.append(_number(min_sample, best))
    samples = _sample(fns, contexts, numbers, repeat, budget * len(fns))
    return [Timing.from_samples(s) for s in samples]


def _number(min_sample: float, call: float) -> int:
    """Calls per sample, so that a sample lasts ``min_sample`` seconds at ``call`` per call."""
    return max(1, int(min_sample / max(call, 1e-9)))


def _sample(
    fns: Sequence[Callable[[], Any]],
    contexts: Sequence[Callable[[], contextlib.AbstractContextManager]],
    numbers: Sequence[int],
    repeat: int,
    budget: float,
) -> list[list[float]]:
    """Per-call seconds of each of ``fns``, one sample of each in turn (``numbers[i]`` calls
    inside ``contexts[i]()``), until ``repeat`` rounds (at least 3) or, after 3 rounds, once
    ``budget`` seconds are spent. Garbage collection is off meanwhile."""
    samples: list[list[float]] = [[] for _ in fns]
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        deadline = time.perf_counter() + budget
        while len(samples[0]) < max(repeat, 3):
            for i, (fn, ctx, number) in enumerate(zip(fns, contexts, numbers, strict=True)):
                with ctx():
                    t0 = time.perf_counter()
                    for _ in range(number):
                        fn()
                    samples[i].append((time.perf_counter() - t0) / number)
            if len(samples[0]) >= 3 and time.perf_counter() > deadline:
                break
    finally:
        if gc_was_enabled:
            gc.enable()
    return samples


def timed_call(fn: Callable[[], Any]) -> tuple[Any, float]:
    """``(fn(), seconds)``."""
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0
