"""The tolerances of the checks a result passes before it is timed, and the differences.

The kernels must match the reference's central difference to 1e-10 (measured: a few 1e-12;
the generic kernel is bit for bit); functions differ from NumPy by rounding. An analytic
gradient differs from a central difference by O(h^2) and the book's 1e-7 guard in the log, a
forward difference by O(h). The toolkit's gradients are checked against the analytic one
relative to ``max(1, |g|)``: about 100x the errors the methods make with their usual steps,
far below the 1e-3 of a wrong stencil; a Hessian at ``eps^(1/4)`` is off by ``eps^(1/2)``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

TOL_KERNEL = TOL_GENERIC = 1e-10
TOL_FUNCTIONS = 1e-12
TOL_ANALYTIC = 1e-6
TOL_CENTRAL_PEER, TOL_FORWARD_PEER = 1e-9, 1e-3
TOL_FIRST_ORDER, TOL_HIGHER_ORDER, TOL_HESSIAN = 1e-5, 1e-7, 1e-5


def tolerance_of(method: str) -> float:
    """The check tolerance of a toolkit gradient by ``method``."""
    return TOL_FIRST_ORDER if method in ("forward", "backward") else TOL_HIGHER_ORDER


def max_abs_diff(got: NDArray | Mapping, expected: NDArray | Mapping) -> float:
    """``max |got - expected|``, over every array when both are ``{name: array}``."""
    if isinstance(got, Mapping):
        return max(max_abs_diff(got[name], expected[name]) for name in got)
    return float(np.max(np.abs(np.asarray(got) - expected)))


def max_rel_error(got: NDArray, expected: NDArray) -> float:
    """``max |got - expected| / max(1, |expected|)``, element by element."""
    got, expected = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    return float(np.max(np.abs(got - expected) / np.maximum(1.0, np.abs(expected))))
