"""Input checks shared by the reference nets and the front door.

They run once per public call, cost O(batch) at most, and turn what would be a bare NumPy
broadcasting error (or, worse, a silently wrong number) into a message that names the argument
and says what to do.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._labels import LABELS_COUNT, LABELS_OK, LABELS_RANGE, label_status

#: dtype kinds accepted as real numbers: float, signed and unsigned integer (not bool).
_REAL_KINDS = "fiu"


#: Up to this many elements, Python's own loop beats a NumPy call (about 1 us each, whatever
#: the size): SimpleNet's 6 weights are checked on every call.
SMALL = 64


def _all_finite(a: NDArray) -> bool:
    """True when no element is NaN or infinite (integers always are finite)."""
    if a.dtype.kind != "f":
        return True
    if a.size <= SMALL:
        return all(map(math.isfinite, a.ravel().tolist()))
    return bool(np.isfinite(a).all())


def check_positive_float(value: float, name: str) -> float:
    """Return ``value`` as a float, or raise if it is not a finite number > 0."""
    if type(value) is float and 0.0 < value < math.inf:  # the common case, 0.1 us
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a positive float, got {type(value).__name__}")
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    return value


def check_h(h: float) -> float:
    """Return the step ``h`` as a float, or raise if it is not a finite number > 0."""
    return check_positive_float(h, "h")


#: The nudge must be resolved to 1% on the largest parameter: ``x + h`` is rounded to within
#: ``eps * |x|``, so ``h >= 100 eps max(1, |x|)`` (about 2.2e-14 for parameters up to 1).
#: Below it the reference's difference is lost to rounding (the book's lesson in section
#: 4.3.1: ``h = 1e-50`` gives 0) while a structure-aware kernel, which never forms ``x + h``,
#: would still return the derivative: the backends would disagree silently.
EPS64 = float(np.finfo(np.float64).eps)
STEP_MIN_FACTOR = 100 * EPS64
#: Above a tenth of the parameters' scale ``max(1, |x|)`` a central difference measures a
#: secant over a wide interval, not a derivative.
STEP_MAX_FACTOR = 0.1


def check_step(h: float, scale: float, eps: float = EPS64) -> float:
    """Check the step ``h`` against the magnitude of the parameters it nudges.

    Parameters
    ----------
    h : float
        The step, already a positive finite float (:func:`check_h`).
    scale : float
        ``max |x|`` over the parameters that are nudged.
    eps : float, optional
        The working precision's machine epsilon (float64's by default).

    Returns
    -------
    float
        ``h`` unchanged.

    Raises
    ------
    ValueError
        If ``h`` lies outside ``[STEP_MIN_FACTOR, STEP_MAX_FACTOR] * max(1, scale)``, with
        the range that works.
    """
    unit = max(1.0, float(scale))
    lo, hi = STEP_MIN_FACTOR * (eps / EPS64) * unit, STEP_MAX_FACTOR * unit
    if h < lo:
        raise ValueError(
            f"h={h!r} is too small for parameters as large as {scale:.3g}: the nudge x + h is "
            f"lost to rounding (the book's section 4.3.1), so the difference would be "
            f"rounding noise; use h in [{lo:.3g}, {hi:.3g}] (the book's 1e-4 is a good default)"
        )
    if h > hi:
        raise ValueError(
            f"h={h!r} is too large for parameters of scale max(1, {scale:.3g}): the central "
            f"difference over +-h would measure a secant, not a derivative; use h in "
            f"[{lo:.3g}, {hi:.3g}] (the book's 1e-4 is a good default)"
        )
    return h


def check_int(value: int, name: str, minimum: int = 1) -> int:
    """Return ``value`` as an int, or raise if it is not an integer ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def check_bool(value: bool, name: str) -> bool:
    """Return ``value``, or raise if it is not a bool (``"no"`` is truthy: never guess)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_init_std(value: float) -> float:
    """Return a numeric ``weight_init_std`` as a float, or raise if it is not finite and
    ``>= 0`` (a standard deviation)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"weight_init_std must be a number >= 0, got {type(value).__name__}")
    std = float(value)
    if not (math.isfinite(std) and std >= 0):
        raise ValueError(f"weight_init_std must be a finite standard deviation >= 0, got {value!r}")
    return std


def check_positive_int(value: int, name: str) -> int:
    """Return ``value`` as an int, or raise if it is not an integer ``>= 1``."""
    return check_int(value, name, 1)


def max_abs(arr: NDArray) -> float:
    """``max |arr|``, the scale of the parameters a step is checked against (finite)."""
    if arr.size <= SMALL:  # Python's loop: a NumPy reduction costs 1 us whatever the size
        return float(max(map(abs, arr.ravel().tolist())))
    return float(max(arr.max(), -arr.min()))


def as_batch(x: ArrayLike, n_inputs: int, name: str = "x", *, check_finite: bool = True) -> NDArray:
    """Check a network input: shape ``(batch, n_inputs)`` or ``(n_inputs,)``, real and, unless
    the caller checks it itself (``check_finite=False``), finite.

    Returns the array as given (no copy, no cast) so that the reference computes in the
    book's dtypes; the kernels' front door casts separately.
    """
    x = np.asarray(x)
    if x.dtype.kind not in _REAL_KINDS:
        raise TypeError(f"{name} must be a real numeric array, got dtype {x.dtype}")
    if x.ndim not in (1, 2):
        raise ValueError(
            f"{name} must have shape (batch, {n_inputs}) or ({n_inputs},), got {x.shape}"
        )
    if x.shape[-1] != n_inputs:
        raise ValueError(
            f"{name} has shape {x.shape} but the network expects {n_inputs} inputs per row"
        )
    if x.ndim == 2 and x.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch (0 rows); pass at least one row")
    if check_finite and not _all_finite(x):
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def as_labels(t: ArrayLike, batch: int | None, n_classes: int, name: str = "t") -> NDArray:
    """Check targets and return them as integer labels, shape ``(batch,)``.

    The rule is the one every backend uses, :func:`fastgrad._labels.label_status`
    (the book's: as many entries as the output means one-hot rows, turned into labels with
    ``argmax``; else one integer label per row). Here it gets the front door's errors, and
    one-hot targets must also have the output's shape ``(batch, n_classes)`` (or
    ``(n_classes,)`` for a single sample) so that a transposed array is not misread. ``batch``
    is ``None`` for a 1-D input (one sample).
    """
    t = np.asarray(t)
    rows = 1 if batch is None else batch
    if t.dtype.kind not in _REAL_KINDS:
        raise TypeError(f"{name} must be integer labels or one-hot rows, got dtype {t.dtype}")
    if not _all_finite(t):
        raise ValueError(f"{name} contains NaN or infinite values")
    if t.ndim > 2 or (t.ndim == 2 and t.shape != (rows, n_classes)):
        raise ValueError(
            f"{name} has one-hot shape {t.shape} but the network expects "
            f"({rows}, {n_classes}): {rows} rows of {n_classes} classes"
        )
    labels, status, index = label_status(t, rows, n_classes)
    if status == LABELS_COUNT:
        raise ValueError(
            f"{name} has shape {t.shape}; expected {rows} integer labels or one-hot rows "
            f"of shape ({rows}, {n_classes})"
        )
    if status == LABELS_RANGE:
        bad = t.reshape(-1)[index]
        raise ValueError(
            f"{name} holds label {bad} out of range; labels must lie in [0, {n_classes})"
        )
    if status != LABELS_OK:  # LABELS_NON_INTEGER
        raise ValueError(f"{name} holds non-integer labels; pass integer class indices")
    return labels


def as_params_array(
    value: ArrayLike,
    shape: tuple[int, ...],
    name: str,
    owner: str = "the network",
    *,
    check_finite: bool = True,
) -> NDArray:
    """Check one parameter array (shape, real and, unless the caller checks it itself
    (``check_finite=False``), finite); return it as float64, C-ordered."""
    arr = np.asarray(value)
    if arr.dtype.kind not in _REAL_KINDS:
        raise TypeError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    if arr.shape != shape:
        raise ValueError(f"{name} has shape {arr.shape}, but {owner} needs {shape}")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if check_finite and not _all_finite(arr):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr
