"""What one run of the bench is configured with, and the helpers that follow from it.

:class:`Settings` holds the quick or full settings (repeats, time budget, size of the
reference's parameter sample), the kernel thread count and the seed; its helpers give every
group the same seeded generators, the same timer and the same way of holding BLAS to one
thread. :data:`H` is the book's step, used by every workload.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from threadpoolctl import ThreadpoolController

from .timing import Timing, measure

__all__ = ["H", "Settings"]

#: The book's step.
H = 1e-4


@dataclass
class Settings:
    """The settings of a run: ``quick`` (a smoke run) or the full one."""

    quick: bool
    threads: int
    repeat: int
    budget: float
    subset: int
    seed: int = 0
    #: one controller per run, made when the run starts (it lists the BLAS libraries loaded)
    _blas: ThreadpoolController = field(
        default_factory=ThreadpoolController, repr=False, compare=False
    )

    @classmethod
    def make(cls, quick: bool, threads: int, seed: int = 0) -> Settings:
        if quick:
            return cls(True, threads, repeat=5, budget=0.25, subset=30, seed=seed)
        return cls(False, threads, repeat=11, budget=2.0, subset=200, seed=seed)

    def rng(self, salt: int = 0) -> np.random.Generator:
        """A generator for one use in a group: the run's seed and a salt of its own."""
        return np.random.default_rng([self.seed, salt])

    def timeit(self, fn: Callable[[], Any], first: float | None = None, **kw: Any) -> Timing:
        """:func:`~fastgrad.bench.timing.measure` with the run's repeats and budget."""
        kw.setdefault("repeat", self.repeat)
        kw.setdefault("budget", self.budget)
        return measure(fn, first=first, **kw)

    def time_in_turn(self, calls: Any) -> None:
        """Time each ``(row, call)`` whose check passed, one after the other, not interleaved:
        OpenBLAS's threads keep spinning for a while after a NumPy call and would steal the
        core from the kernel that follows."""
        for row, call in calls:
            if row.check_passed:
                row.timing = self.timeit(call)

    @contextlib.contextmanager
    def blas1(self) -> Iterator[None]:
        """BLAS held to one thread around direct kernel calls (Numba and BLAS threads would
        oversubscribe the cores), as the front door does around the generic kernel."""
        with self._blas.limit(limits=1, user_api="blas"):
            yield
