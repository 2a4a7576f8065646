"""What the network kernels' classes do to their inputs before a compiled call: rows of
float64 (or float32, kept), and labels by the one rule of :mod:`fastgrad._labels`. Only what
keeps a kernel inside its arrays; the front door (:mod:`fastgrad._api`) validates, and
:func:`max_magnitude` gives it one compiled pass for an array's finiteness and scale. And
:func:`abs_max`, a row's ``max |v|`` in compiled code: the kernels' guards on their inputs."""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import types
from numba.extending import overload

from .._config import FASTMATH, jit
from .._labels import labels_or_raise

__all__ = ["as_rows", "as_labels", "abs_max", "max_magnitude"]


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


def abs_max(v):
    """``max |v|`` of a 1-D float64 or float32 array, as float64 (0 if empty; NaN or an
    infinity if ``v`` holds one). Compiled code only: see the overload."""


@overload(abs_max, jit_options={"fastmath": FASTMATH})
def _abs_max_overload(v):
    # |v|'s order is that of its bit patterns with the sign cleared, read as integers (NaN's
    # above infinity's), and an integer max vectorises where a float max does not without
    # fastmath's nnan: faster on the guards' rows of 784 inputs (float64 25 -> 19 us for 100
    # rows, float32 36 -> 14 us, measured here)
    if v.layout != "C":

        def plain(v):
            m = 0.0
            for i in range(v.shape[0]):
                m = max(m, abs(v[i]))
            return m

        return plain
    bits, mask = (
        (np.int64, 0x7FFFFFFFFFFFFFFF) if v.dtype == types.float64 else (np.int32, 0x7FFFFFFF)
    )
    dtype = np.float64 if v.dtype == types.float64 else np.float32

    def impl(v):
        b = v.view(bits)
        m = 0
        for i in range(b.shape[0]):
            m = max(m, b[i] & mask)
        return np.float64(np.array([m], dtype=bits).view(dtype)[0])

    return impl


@jit
def _flat_abs_max(v):
    return abs_max(v)


def max_magnitude(a: np.ndarray) -> float:
    """``max |a|`` of a real array, NaN or an infinity where ``a`` holds one: the kernels'
    front door checks finiteness and takes the step's scale from it. One compiled pass for
    float64 (:func:`abs_max`; 784 x 50 weights in 4 us, where
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
