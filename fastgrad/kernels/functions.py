"""Numba twins of :mod:`fastgrad.reference.functions`: same names, same results.

Each function is a compiled dispatcher, callable from Python and from other compiled code (a
user's ``@numba.njit`` loss can call ``kernels.softmax``). Softmax and the cross-entropy run
in parallel over rows.

Precision: NumPy and LLVM evaluate ``exp``/``log`` with different (both faithful) routines and
sum in different orders, so results agree with the reference to a few ulps, not bit for bit;
``tests/test_kernels_functions.py`` names that tolerance once.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from .._config import jit, jit_parallel
from .._labels import labels_or_raise
from ..reference.functions import CROSS_ENTROPY_DELTA

__all__ = [
    "identity_function",
    "step_function",
    "sigmoid",
    "sigmoid_grad",
    "relu",
    "relu_grad",
    "softmax",
    "sum_squared_error",
    "cross_entropy_error",
    "softmax_loss",
]


@jit
def identity_function(x):
    """Return ``x`` (twin of :func:`fastgrad.reference.identity_function`)."""
    return x


@jit
def step_function(x):
    """1 where ``x > 0``, else 0, as int64 (twin of :func:`fastgrad.reference.step_function`)."""
    return (x > 0).astype(np.int64)


@jit
def sigmoid(x):
    """``1 / (1 + exp(-x))`` (twin of :func:`fastgrad.reference.sigmoid`)."""
    return 1 / (1 + np.exp(-x))


@jit
def sigmoid_grad(x):
    """``(1 - sigmoid(x)) * sigmoid(x)`` (twin of :func:`fastgrad.reference.sigmoid_grad`)."""
    return (1.0 - sigmoid(x)) * sigmoid(x)


@jit
def relu(x):
    """``max(0, x)`` (twin of :func:`fastgrad.reference.relu`)."""
    return np.maximum(0, x)


@jit
def relu_grad(x):
    """1 where ``x >= 0``, else 0, in ``x``'s dtype (twin of
    :func:`fastgrad.reference.relu_grad`)."""
    return (x >= 0).astype(x.dtype)


@jit_parallel
def softmax_rows(x2):
    out = np.empty(x2.shape, dtype=np.float64)
    # each iteration writes only its own row of out; float32 input is read as float64
    for n in prange(x2.shape[0]):
        m = np.float64(x2[n, 0])
        for k in range(1, x2.shape[1]):
            m = max(m, np.float64(x2[n, k]))
        s = 0.0
        for k in range(x2.shape[1]):
            e = np.exp(np.float64(x2[n, k]) - m)
            out[n, k] = e
            s += e
        for k in range(x2.shape[1]):
            out[n, k] /= s
    return out


@jit
def softmax(x):
    """Softmax over the last axis, overflow-safe (twin of :func:`fastgrad.reference.softmax`).

    Any rank; float32 input is read as float64; the result is float64 and C-ordered.
    """
    x2 = np.ascontiguousarray(x).reshape(-1, x.shape[-1])
    return softmax_rows(x2).reshape(x.shape)


@jit
def sum_squared_error(y, t):
    """``0.5 * sum((y - t)**2)`` (twin of :func:`fastgrad.reference.sum_squared_error`)."""
    return 0.5 * np.sum((y - t) ** 2)


@jit_parallel
def _cross_entropy_rows(y2, labels):
    batch = y2.shape[0]
    losses = np.empty(batch, dtype=np.float64)
    # each iteration writes only losses[n]; the sum is taken after the loop
    for n in prange(batch):
        losses[n] = np.log(y2[n, labels[n]] + CROSS_ENTROPY_DELTA)
    return -np.sum(losses) / batch


@jit
def cross_entropy_error(y, t):
    """Mean cross-entropy with the book's ``+ 1e-7`` (twin of
    :func:`fastgrad.reference.cross_entropy_error`).

    ``y`` of shape (n,) or (batch, n); ``t`` one-hot rows or integer labels.
    """
    y2 = np.ascontiguousarray(y).reshape(-1, y.shape[-1])
    labels = labels_or_raise(t, y2.shape[0], y2.shape[1])
    return _cross_entropy_rows(y2, labels)


@jit
def softmax_loss(X, t):
    """``cross_entropy_error(softmax(X), t)`` (twin of :func:`fastgrad.reference.softmax_loss`)."""
    y = softmax(X)
    return cross_entropy_error(y, t)
