"""The reference's numerical gradient on a sample of parameters, extrapolated to all of them.

The reference's numerical gradient of a real network is far too slow to run in full (79,520
forward passes for the book's 784-50-10 network at batch 100), so :func:`reference_subset`
runs the reference's own step, :func:`fastgrad.reference.gradient.central_difference`, on a
random sample of parameters and times each one; :meth:`SubsetGradient.estimate` multiplies
the median per-parameter time by the parameter count. Rows built from it say so
("extrapolated from k of P params"). The sampled values are bitwise the reference's and
check the accelerated backends on the same parameters (:meth:`SubsetGradient.max_abs_diff`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

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
        if self.k >= self.total:
            return "all params"
        return f"extrapolated from {self.k:,} of {self.total:,} params"

    def estimate(self) -> Timing:
        """Median per-parameter time x parameter count (all parameters cost the same loss)."""
        t = Timing.from_samples(self.seconds).scaled(self.total)
        return t if self.k < self.total else dataclasses.replace(t, extrapolated=False)

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
    """Central differences of ``loss()`` for ``k`` random parameters of ``arrays``.

    Each parameter goes through :func:`~fastgrad.reference.gradient.central_difference`,
    the step of :func:`fastgrad.reference.numerical_gradient`: nudged in place by ``+h``
    then ``-h`` and restored; ``loss`` must read ``arrays``. The parameters are drawn
    uniformly without replacement over all arrays (all of them when ``k`` is at least their
    number), and each one's two evaluations are timed.
    """
    names = list(arrays)
    sizes = np.array([arrays[n].size for n in names])
    total = int(sizes.sum())
    if k >= total:
        flat = np.arange(total)
    else:
        flat = np.sort(rng.choice(total, size=k, replace=False))
    offsets = np.concatenate([[0], np.cumsum(sizes)])

    def f(_: NDArray) -> float:  # ``loss`` reads the nudged array itself
        return loss()

    picked_names: list[str] = []
    picked_idx: list[tuple[int, ...]] = []
    values = np.empty(len(flat))
    seconds = np.empty(len(flat))
    for m, p in enumerate(flat):
        a = int(np.searchsorted(offsets, p, side="right") - 1)
        name = names[a]
        x = arrays[name]
        idx = tuple(int(i) for i in np.unravel_index(int(p - offsets[a]), x.shape))
        t0 = time.perf_counter()
        values[m] = central_difference(f, x, idx, h)
        seconds[m] = time.perf_counter() - t0
        picked_names.append(name)
        picked_idx.append(idx)
    return SubsetGradient(picked_names, picked_idx, values, seconds, total)
