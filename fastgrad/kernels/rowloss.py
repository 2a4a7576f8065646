"""Exact evaluation of perturbed row losses: the fallback of the series path
(:mod:`fastgrad.kernels.series`) where its bound does not hold (large ``h``, unnormalised
inputs, huge weights, a ReLU kink within reach), shared by the network kernels. Each function
evaluates the book's ``-log(softmax(...)[t] + 1e-7)`` of one row directly, with the logits
moved; :func:`nudged_row_loss` first carries a hidden unit's change through the layers below
it (``docs/multilayer.md``, "The exact path").
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


@jit
def act(v, relu):
    """The hidden activation: the book's ReLU (0 where ``v <= 0``) or sigmoid."""
    if relu:
        return v if v > 0.0 else 0.0
    return sigmoid1(v)


@jit
def nudged_row_loss(l, j, n, y, sizes, Wf, woff, Af, aoff, t, relu, buf):
    """Row ``n``'s loss when unit ``j`` of hidden layer ``l`` has its pre-activation moved by
    ``y``, evaluated directly through the layers below it (the changes are propagated, not the
    values recomputed, so no rounding of unchanged units enters). The multilayer kernel's flat
    storage: ``W_m`` at ``Wf[woff[m]:]`` (``sizes[m-1] x sizes[m]``), row ``n`` of ``a_m`` at
    ``Af[aoff[m] + n sizes[m]:]``; ``buf``: ``(2, widest layer)`` scratch."""
    L = sizes.shape[0] - 2
    K = sizes[L + 1]
    a = Af[aoff[l] + n * sizes[l] + j]
    d = act(a + y, relu) - act(a, relu)
    logits = Af[aoff[L + 1] + n * K : aoff[L + 1] + (n + 1) * K]
    w0 = woff[l + 1] + j * sizes[l + 1]  # row j of W_{l+1}
    if l == L:
        return row_loss_along(logits, Wf[w0 : w0 + K], d, t[n])
    c = 0
    for k in range(sizes[l + 1]):
        buf[c, k] = d * Wf[w0 + k]
    for m in range(l + 1, L + 1):
        Hn = sizes[m + 1]
        for k2 in range(Hn):
            buf[1 - c, k2] = 0.0
        for k in range(sizes[m]):
            dk = buf[c, k]
            am = Af[aoff[m] + n * sizes[m] + k]
            if dk != 0.0:
                dz = act(am + dk, relu) - act(am, relu)
                if dz != 0.0:
                    wk = woff[m + 1] + k * Hn  # row k of W_{m+1}
                    for k2 in range(Hn):
                        buf[1 - c, k2] += dz * Wf[wk + k2]
        c = 1 - c
    return row_loss_along(logits, buf[c, :K], 1.0, t[n])


@jit
def exact_half_difference(l, j, n, y, ex):
    """``(l_n(+y) - l_n(-y)) / 2`` by :func:`nudged_row_loss`: what the odd polynomial gives
    on the series path. ``ex = (sizes, Wf, woff, Af, aoff, t, relu, buf)``."""
    sizes, Wf, woff, Af, aoff, t, relu, buf = ex
    lp = nudged_row_loss(l, j, n, y, sizes, Wf, woff, Af, aoff, t, relu, buf)
    lm = nudged_row_loss(l, j, n, -y, sizes, Wf, woff, Af, aoff, t, relu, buf)
    return 0.5 * (lp - lm)


@jit
def exact_half_differences(l, j, n, ys, ex):
    """:func:`exact_half_difference` for every nudge ``ys[i]`` of row ``n`` at once: the
    changes are carried through the layers below as a matrix with the nudges innermost, so
    the loops vectorise (a row near a kink may send hundreds of its nudges here)."""
    sizes, Wf, woff, Af, aoff, t, relu, buf = ex
    L = sizes.shape[0] - 2
    K = sizes[L + 1]
    M = ys.shape[0]
    a = Af[aoff[l] + n * sizes[l] + j]
    base = act(a, relu)
    d = np.empty(2 * M)  # the unit's change at +y, then at -y
    for i in range(M):
        d[i] = act(a + ys[i], relu) - base
        d[M + i] = act(a - ys[i], relu) - base
    w0 = woff[l + 1] + j * sizes[l + 1]  # row j of W_{l+1}
    cur = np.empty((sizes[l + 1], 2 * M))
    for k in range(sizes[l + 1]):
        w = Wf[w0 + k]
        for i in range(2 * M):
            cur[k, i] = d[i] * w
    for m in range(l + 1, L + 1):
        Hn = sizes[m + 1]
        nxt = np.zeros((Hn, 2 * M))
        dz = np.empty(2 * M)
        for k in range(sizes[m]):
            am = Af[aoff[m] + n * sizes[m] + k]
            zm = act(am, relu)
            for i in range(2 * M):
                dz[i] = act(am + cur[k, i], relu) - zm
            wk = woff[m + 1] + k * Hn  # row k of W_{m+1}
            for k2 in range(Hn):
                w = Wf[wk + k2]
                for i in range(2 * M):
                    nxt[k2, i] += dz[i] * w
        cur = nxt
    logits = Af[aoff[L + 1] + n * K : aoff[L + 1] + (n + 1) * K]
    col = np.empty(K)
    out = np.empty(M)
    for i in range(M):
        for k2 in range(K):
            col[k2] = cur[k2, i]
        lp = row_loss_along(logits, col, 1.0, t[n])
        for k2 in range(K):
            col[k2] = cur[k2, M + i]
        out[i] = 0.5 * (lp - row_loss_along(logits, col, 1.0, t[n]))
    return out
