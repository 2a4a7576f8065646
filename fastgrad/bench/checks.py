"""The checks a result passes before it is timed: the tolerances, named once, and the
difference they bound.

The structure-aware TwoLayerNet kernel must match the reference's central difference to
1e-10 (the measured difference is a few 1e-12). The generic kernel runs the same compiled
``f`` at the same points as the reference, so it must match bit for bit; 1e-10 is the bar
it is held to here and the measured figure is printed. Element-wise functions differ from
NumPy by rounding only. The analytic gradient differs from any central difference by
O(h^2) and by the book's 1e-7 guard in the log, hence the loose bound that only catches a
broken run. A forward difference (SciPy's approx_fprime) is O(h) off.

The toolkit group checks every gradient it times against the analytic gradient, relative to
``max(1, |g|)`` element by element (:func:`max_rel_error`): first-order methods (forward,
backward) to ``TOL_FIRST_ORDER``, every other method to ``TOL_HIGHER_ORDER``. Both are about
100x the errors these methods make on the workloads with their usual steps (the accuracy
section of the group measures them: about 1e-7 and below 1e-9 there), while a wrong stencil,
step or sign is off by 1e-3 or more. The Hessian's second differences at ``eps^(1/4)`` are
off by about ``eps^(1/2)`` relative, hence ``TOL_HESSIAN``.
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
    "TOL_FIRST_ORDER",
    "TOL_HIGHER_ORDER",
    "TOL_HESSIAN",
    "max_abs_diff",
    "max_rel_error",
    "tolerance_of",
]

TOL_KERNEL = 1e-10
TOL_GENERIC = 1e-10
TOL_FUNCTIONS = 1e-12
TOL_ANALYTIC = 1e-6
TOL_CENTRAL_PEER = 1e-9
TOL_FORWARD_PEER = 1e-3
TOL_FIRST_ORDER = 1e-5
TOL_HIGHER_ORDER = 1e-7
TOL_HESSIAN = 1e-5


def tolerance_of(method: str) -> float:
    """The toolkit's check tolerance for a gradient of ``method``."""
    return TOL_FIRST_ORDER if method in ("forward", "backward") else TOL_HIGHER_ORDER


def max_abs_diff(
    got: NDArray | Mapping[str, NDArray], expected: NDArray | Mapping[str, NDArray]
) -> float:
    """``max |got - expected|``, over every array when both are ``{name: array}``."""
    if isinstance(got, Mapping):
        return max(max_abs_diff(got[name], expected[name]) for name in got)
    return float(np.max(np.abs(got - expected)))


def max_rel_error(got: NDArray, expected: NDArray) -> float:
    """``max |got - expected| / max(1, |expected|)``, element by element."""
    got, expected = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    return float(np.max(np.abs(got - expected) / np.maximum(1.0, np.abs(expected))))
