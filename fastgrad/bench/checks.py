"""The checks a result passes before it is timed: the tolerances, named once, and the
difference they bound.

The structure-aware TwoLayerNet kernel must match the reference's central difference to
1e-10 (the measured difference is a few 1e-12). The generic kernel runs the same compiled
``f`` at the same points as the reference, so it must match bit for bit; 1e-10 is the bar
it is held to here and the measured figure is printed. Element-wise functions differ from
NumPy by rounding only. The analytic gradient differs from any central difference by
O(h^2) and by the book's 1e-7 guard in the log, hence the loose bound that only catches a
broken run. A forward difference (SciPy's approx_fprime) is O(h) off.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "TOL_KERNEL",
    "TOL_GENERIC",
    "TOL_FUNCTIONS",
    "TOL_ANALYTIC",
    "TOL_CENTRAL_PEER",
    "TOL_FORWARD_PEER",
    "max_abs_diff",
]

TOL_KERNEL = 1e-10
TOL_GENERIC = 1e-10
TOL_FUNCTIONS = 1e-12
TOL_ANALYTIC = 1e-6
TOL_CENTRAL_PEER = 1e-9
TOL_FORWARD_PEER = 1e-3


def max_abs_diff(
    got: NDArray | Mapping[str, NDArray], expected: NDArray | Mapping[str, NDArray]
) -> float:
    """``max |got - expected|``, over every array when both are ``{name: array}``."""
    if isinstance(got, Mapping):
        return max(max_abs_diff(got[name], expected[name]) for name in got)
    return float(np.max(np.abs(got - expected)))
