"""Exact evaluation of perturbed row losses: the fallback of the series path
(:mod:`fastgrad.kernels.series`) where its bound does not hold (large ``h``, unnormalised
inputs, huge weights), shared by the network kernels. Each function evaluates the book's
``-log(softmax(...)[t] + 1e-7)`` of one row directly, with the logits moved.
"""

from __future__ import annotations

import numpy as np

from .._config import jit
from .functions import CROSS_ENTROPY_DELTA


@jit
def row_loss_along(a2_row, w2j, dz, label):
    """``-log(softmax(a2_row + dz * w2j)[label] + eps)``, evaluated directly."""
    K = a2_row.shape[0]
    mx = a2_row[0] + dz * w2j[0]
    for k in range(1, K):
        mx = max(mx, a2_row[k] + dz * w2j[k])
    s = 0.0
    for k in range(K):
        s += np.exp(a2_row[k] + dz * w2j[k] - mx)
    p = np.exp(a2_row[label] + dz * w2j[label] - mx) / s
    return -np.log(p + CROSS_ENTROPY_DELTA)


@jit
def row_loss_logit(a2_row, k_moved, delta, label):
    """``-log(softmax(a2_row + delta e_k)[label] + eps)``, evaluated directly."""
    K = a2_row.shape[0]
    mx = -np.inf
    for k in range(K):
        v = a2_row[k] + delta if k == k_moved else a2_row[k]
        mx = max(mx, v)
    s = 0.0
    for k in range(K):
        v = a2_row[k] + delta if k == k_moved else a2_row[k]
        s += np.exp(v - mx)
    v = a2_row[label] + delta if label == k_moved else a2_row[label]
    return -np.log(np.exp(v - mx) / s + CROSS_ENTROPY_DELTA)


@jit
def sigmoid1(a):
    """The sigmoid of one number."""
    return 1.0 / (1.0 + np.exp(-a))


@jit
def unit_loss_delta_exact(a1_nj, z_nj, a2_row, w2j, label, d):
    """``l_n(+d) - l_n(-d)`` when unit j's pre-activation moves by ``+-d``, evaluated directly."""
    lp = row_loss_along(a2_row, w2j, sigmoid1(a1_nj + d) - z_nj, label)
    lm = row_loss_along(a2_row, w2j, sigmoid1(a1_nj - d) - z_nj, label)
    return lp - lm


@jit
def logit_exact(k, a2, z1T, t, h, gW2T, gb2):
    """Worker, fallback: ``gW2[:, k]`` and ``gb2[k]`` from directly evaluated row losses."""
    N = a2.shape[0]
    acc = 0.0
    for n in range(N):
        acc += row_loss_logit(a2[n], k, h, t[n]) - row_loss_logit(a2[n], k, -h, t[n])
    gb2[k] = acc / (2 * h) / N
    for j in range(z1T.shape[0]):
        acc = 0.0
        for n in range(N):
            d = h * z1T[j, n]
            acc += row_loss_logit(a2[n], k, d, t[n]) - row_loss_logit(a2[n], k, -d, t[n])
        gW2T[k, j] = acc / (2 * h) / N
