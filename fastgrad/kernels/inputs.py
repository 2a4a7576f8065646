"""What the network kernels' classes do to their inputs before a compiled call: rows of
float64 (or float32, kept), and labels by the one rule of :mod:`fastgrad._labels`. Only what
keeps a kernel inside its arrays; the front door (:mod:`fastgrad._api`) validates, and
:func:`max_magnitude` gives it one compiled pass for an array's finiteness and scale."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._config import jit
from .._labels import labels_or_raise
from .oddsums import abs_max

__all__ = ["as_rows", "as_labels", "max_magnitude"]


def as_rows(x: Any, n_inputs: int, keep_float32: bool = False) -> np.ndarray:
    """``x`` as C-ordered rows of float64 or, with ``keep_float32``, float32 kept as it is
    (the TwoLayerNet kernels read it as float64 in registers: converting the book's float32
    MNIST batch first cost 6% of a gradient)."""
    dtype = np.float32 if keep_float32 and getattr(x, "dtype", None) == np.float32 else np.float64
    if not (type(x) is np.ndarray and x.dtype == dtype and x.flags.c_contiguous):
        x = np.ascontiguousarray(x, dtype=dtype)
    if x.ndim not in (1, 2) or x.shape[-1] != n_inputs:
        raise ValueError(f"x has shape {x.shape}, expected (batch, {n_inputs}) or ({n_inputs},)")
    return x.reshape(-1, n_inputs)


def as_labels(t: Any, batch: int, n_classes: int) -> np.ndarray:
    """``t`` as ``batch`` integer labels by the one rule (:mod:`fastgrad._labels`), or
    ``ValueError``."""
    return labels_or_raise(np.asarray(t), batch, n_classes)


@jit
def _flat_abs_max(v):
    return abs_max(v)


def max_magnitude(a: np.ndarray) -> float:
    """``max |a|`` of a real array, NaN or an infinity where ``a`` holds one: the kernels'
    front door checks finiteness and takes the step's scale from it. One compiled pass for
    float64 (:func:`fastgrad.kernels.oddsums.abs_max`; 784 x 50 weights in 4 us, where
    NumPy's ``isfinite`` and then ``max`` and ``min`` took 30 us here); NumPy's ``max`` and
    ``min`` for other floats (as fast as a compiled pass for float32 here, and one
    specialisation less to compile on a cold start), integers as float64."""
    if a.size == 0:
        return 0.0
    if a.dtype == np.float64:
        return float(_flat_abs_max(a.reshape(-1)))
    if a.dtype.kind == "f":  # NaN propagates through max and min
        return float(max(np.max(a), -np.min(a)))
    return float(np.max(np.abs(a.astype(np.float64))))
