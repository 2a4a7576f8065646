"""What the network kernels' classes do to their inputs before a compiled call: rows of
float64 (or float32, kept), and labels by the one rule of :mod:`fastgrad._labels`. Only what
keeps a kernel inside its arrays; the front door (:mod:`fastgrad._api`) validates."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._labels import labels_or_raise

__all__ = ["as_rows", "as_labels"]


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
