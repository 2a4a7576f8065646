"""The reference's numerical gradient on a sample of parameters, extrapolated to all of them.

The reference's numerical gradient of a network is far too slow to run in full (79,520
forward passes for the book's 784-50-10 network at batch 100), so :func:`reference_subset`
runs its step, :func:`fastgrad.reference.gradient.central_difference`, on a random sample of
parameters, timing each; the values are bitwise the reference's and check the other backends.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from ..reference.gradient import central_difference
from .settings import H
from .timing import Timing

__all__ = ["SubsetGradient", "reference_subset"]


@dataclass
class SubsetGradient:
    """The reference's central difference on a sample of parameters, timed per parameter."""

    names: list[str]
    indices: list[tuple[int, ...]]
    values: NDArray[np.float64]
    seconds: NDArray[np.float64]
    total: int

    @property
    def k(self) -> int:
        return len(self.values)

    @property
    def label(self) -> str:
        all_ = self.k >= self.total
        return "all params" if all_ else f"extrapolated from {self.k:,} of {self.total:,} params"

    def estimate(self) -> Timing:
        """Median per-parameter time x parameter count (all parameters cost the same loss)."""
        t = Timing.from_samples(self.seconds).scaled(self.total)
        return t if self.k < self.total else replace(t, extrapolated=False)

    def max_abs_diff(self, grads: Mapping[str, NDArray] | NDArray) -> float:
        """Largest ``|grads[name][idx] - reference|`` over the sample."""
        if not isinstance(grads, Mapping):
            grads = {self.names[0]: grads} if self.names else {}
        pairs = zip(self.names, self.indices, strict=True)
        got = np.array([grads[n][i] for n, i in pairs], dtype=float)
        return float(np.max(np.abs(got - self.values))) if self.k else 0.0


def reference_subset(
    loss: Callable[[], float],
    arrays: Mapping[str, NDArray],
    k: int,
    rng: np.random.Generator,
    h: float = H,
) -> SubsetGradient:
    """Central differences of ``loss()``, which must read ``arrays``, for ``k`` parameters
    drawn uniformly without replacement over all of ``arrays`` (all of them when ``k`` is at
    least their number): each nudged in place by ``+h`` then ``-h`` and restored, as
    :func:`fastgrad.reference.numerical_gradient` does, and its two evaluations timed."""
    names = list(arrays)
    offsets = np.cumsum([0] + [arrays[n].size for n in names])
    total = int(offsets[-1])
    flat = np.arange(total) if k >= total else np.sort(rng.choice(total, size=k, replace=False))
    picked: list[tuple[str, tuple[int, ...]]] = []
    values, seconds = np.empty(len(flat)), np.empty(len(flat))
    for m, p in enumerate(flat):
        a = int(np.searchsorted(offsets, p, side="right") - 1)
        x = arrays[names[a]]
        idx = tuple(int(i) for i in np.unravel_index(int(p - offsets[a]), x.shape))
        t0 = time.perf_counter()
        values[m] = central_difference(lambda _: loss(), x, idx, h)
        seconds[m] = time.perf_counter() - t0
        picked.append((names[a], idx))
    return SubsetGradient([n for n, _ in picked], [i for _, i in picked], values, seconds, total)
