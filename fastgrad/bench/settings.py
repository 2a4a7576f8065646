"""The settings of a run and the helpers every group shares. :data:`H` is the book's step."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .timing import Timing, measure

__all__ = ["H", "Settings"]

H = 1e-4


@dataclass
class Settings:
    """``quick``: fewer sizes, repeats and sampled parameters; ``subset``: how many parameters
    the reference's numerical gradient of a network is timed on."""

    quick: bool
    threads: int
    repeat: int
    budget: float
    subset: int
    seed: int = 0

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
        return measure(fn, first=first, **{"repeat": self.repeat, "budget": self.budget, **kw})
