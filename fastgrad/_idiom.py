"""The book's idiom: ``f`` reads the array being nudged instead of its argument.

Section 4.4.2 of the book differentiates ``f = lambda w: net.loss(x, t)`` with respect to
``net.W``: ``f`` ignores ``w`` and reads ``net.W``, which ``numerical_gradient`` nudges in
place. fastgrad honours it on the numpy backend (:mod:`fastgrad._differentiate`): the
caller's own array is nudged and restored bit for bit. This module holds the rule for when
that happens, the error for an ``f`` that ignores a copied argument, and the lock that lets
one thread at a time nudge a caller's array (``docs/design.md``, "The public contract").
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["nudged_in_place", "reject_ignored_argument", "nudging"]


def nudged_in_place(x: ArrayLike, dtype: np.dtype) -> bool:
    """Whether the caller's own array can be nudged, as the book does: a writable ndarray of
    the working dtype (any memory layout)."""
    return isinstance(x, np.ndarray) and x.dtype == dtype and x.flags.writeable


def _why_copied(x: Any) -> str:
    if not isinstance(x, np.ndarray):
        return f"x is a {type(x).__name__}, not an array"
    if not x.flags.writeable:
        return "x is read-only"
    return (
        f"x has dtype {x.dtype}; only float64 arrays are nudged in place (and float32 "
        "arrays with h='auto', which differentiates them in float32)"
    )


def reject_ignored_argument(f: Callable[[NDArray], Any], v: NDArray, x: Any) -> None:
    """Raise when ``f`` ignores its argument ``v``, a private copy of the caller's ``x``: the
    book's idiom ``lambda w: net.loss(x, t)`` reads the array being nudged instead, and on a
    copy it would see no nudge."""
    base = np.asarray(f(v))
    try:
        moved = np.asarray(f(v + np.where(v == 0, 1, v)))  # every element doubled (or 0 -> 1)
    except Exception:  # f cannot even be evaluated there: it does use its argument
        return
    if np.array_equal(moved, base):
        raise ValueError(
            "f did not change when its argument changed, so every difference is 0. "
            f"{_why_copied(x)}, so fastgrad nudged a private copy, and f does not read it: "
            "it seems to read another array, as the book's idiom f = lambda w: net.loss(x, t) "
            "reads the array being nudged. Pass that array itself as a writable float64 array "
            "(it is nudged in place and restored bit for bit), e.g. "
            "numerical_gradient(f, net.W), or make f use its argument."
        )


#: Held while a caller's array is nudged in place: by one thread at a time in the process.
#: Not keyed by the array: the idiom's ``f`` reads arrays other than the one nudged (the
#: book's ``net.loss`` reads ``W1, b1, W2, b2`` while one of them is nudged), so two threads
#: nudging different arrays of one network would still read each other's nudges. Reentrant:
#: an ``f`` may differentiate inside, on its own thread.
_NUDGE_LOCK = threading.RLock()


def nudging(a: NDArray | None) -> contextlib.AbstractContextManager:
    """Hold the process's in-place nudges while the caller's array ``a`` is nudged: another
    thread's in-place nudge waits until ``a`` is restored; ``None`` (a private copy is
    nudged, which no other thread reads): nothing to hold."""
    return contextlib.nullcontext() if a is None else _NUDGE_LOCK
