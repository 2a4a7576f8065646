"""Numba twins of :mod:`fastgrad.reference.nets`: ``SimpleNet`` and ``TwoLayerNet``.

The numerical gradients compute the book's central difference
``(L(theta + h e_p) - L(theta - h e_p)) / (2h)`` for every parameter ``p``, but never run a
whole forward pass per parameter. The structure of the network does the work
(``docs/design.md``, "Why the network kernels are thousands of times faster"):

- ``L = mean_n l_n`` and a nudge of ``W1[i, j]`` by ``d`` changes only hidden unit ``j`` of the
  rows with ``x[n, i] != 0``: ``a1[n, j] += d x[n, i]``, then ``z1[n, j]``, then the logits of
  row ``n`` along ``W2[j, :]`` (a rank-one change). Rows with ``x[n, i] == 0`` are unchanged
  exactly and are skipped. ``b1[j]`` is the same with ``x = 1``; ``W2[j, k]`` and ``b2[k]``
  move the single logit ``k`` of each row by ``d z1[n, j]`` or ``d``.
- So the loss difference is a sum over rows of ``F_nj(+y) - F_nj(-y)``, where ``F_nj(y)`` is
  the change of the row loss when unit ``j``'s pre-activation moves by ``y = h x[n, i]``
  (``l_n`` of ``sigmoid``, softmax and the book's ``-log(p + 1e-7)``, composed). ``F_nj``
  does not depend on ``i``: its Taylor coefficients are computed once per (row, unit) by
  power-series arithmetic, and the central difference keeps only the odd ones, exactly
  (the even terms cancel between ``+y`` and ``-y``). One perturbed-loss difference then costs
  a degree-7 odd polynomial per non-zero row: no ``exp``, no ``log``, no division.

Precision. The series are truncated after order ``ORDER = 7``; the first neglected odd term
is of order 9. A Cauchy bound on a disk where every piece is analytic (sigmoid: radius >= pi,
``|Delta z| <= 2 |y|`` for ``|y| <= 1``; the log-partition along ``W2[j, :]``: zero-free while
``|Delta z| R_j <= 1/2``, ``R_j`` the range of ``W2[j, :]``; the ``+ 1e-7`` logarithm:
bounded by about 5 there) gives a remainder below ``5 * ratio**9`` per row for
``ratio = h max|x| max(1, 4 R_j)``. The series path is taken only where
``ratio <= SERIES_RATIO_MAX = 0.008`` (remainder < 7e-19 per row, < 1e-14 on the gradient;
for the book's ``h`` and inputs in [0, 1] that allows ``R_j`` up to 20); elsewhere (large
``h``, unnormalised inputs, huge weights) the kernel falls back
to exact evaluation of the perturbed row losses. Either path sums row differences
``l_n(+) - l_n(-)`` instead of subtracting two rounded batch losses, so it is more accurate
than the reference, whose own rounding noise is about ``eps * L / h`` (about 1e-12).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import prange

from .._config import PARALLEL_LOCK, jit, jit_parallel
from ..reference.nets import PARAM_NAMES
from .functions import CROSS_ENTROPY_DELTA, _softmax_rows
from .functions import _labels as _target_labels

__all__ = ["SimpleNet", "TwoLayerNet", "PARAM_NAMES", "ORDER", "SERIES_RATIO_MAX"]


#: Taylor order of the per-row loss series: the odd terms 1, 3, 5, 7 survive the central
#: difference (``_odd_poly`` is written out for this order).
ORDER = 7
_N_ODD = (ORDER + 1) // 2
#: Largest ``h * max|x| * max(1, 4 R_j)`` for which the series path is used (see module doc).
SERIES_RATIO_MAX = 0.008

_INV_FACT = np.array([1.0 / np.prod(np.arange(1.0, p + 1.0)) for p in range(ORDER + 1)])


# -- truncated power series, a block of rows at a time ----------------------------------
#
# A block is an array (ORDER + 1, B): coefficient p of the series of each of B rows, the
# constant term first. Every loop runs innermost over the rows, so LLVM vectorises it. The
# order is read from the array shape, not the constant ORDER: with a constant trip count LLVM
# unrolled every nested coefficient loop and one cold compile took minutes.

#: Rows per block: the scratch of one block stays in the L1/L2 cache.
_BLOCK = 64


@jit
def _blk_log1p(u, out):
    """``log(1 + u)`` for series with ``u[0] == 0``: from ``(1 + u) f' = u'``."""
    P1 = u.shape[0]  # ORDER + 1, read at run time: no full unrolling
    B = u.shape[1]
    out[0, :B] = 0.0
    for p in range(1, P1):
        out[p, :B] = u[p, :B]
        for k in range(1, p):
            c = k / p
            for r in range(B):
                out[p, r] -= c * out[k, r] * u[p - k, r]


@jit
def _blk_expm1(v, out):
    """``exp(v) - 1`` for series with ``v[0] == 0``: from ``E' = v' E``, ``E[0] = 1``."""
    P1 = v.shape[0]  # ORDER + 1, read at run time: no full unrolling
    B = v.shape[1]
    out[0, :B] = 1.0
    for p in range(1, P1):
        out[p, :B] = 0.0
        for k in range(1, p + 1):
            c = k / p
            for r in range(B):
                out[p, r] += c * v[k, r] * out[p - k, r]
    out[0, :B] = 0.0


@jit
def _blk_loss_change(log_ratio, q, tmp, out):
    """Series of the row-loss change ``-log(p + eps) + log(p0 + eps)`` from the series of
    ``log(p / p0)``: with ``q = p0 / (p0 + eps)``, it is ``-log(1 + q (p / p0 - 1))``."""
    P1 = log_ratio.shape[0]  # ORDER + 1, read at run time: no full unrolling
    B = log_ratio.shape[1]
    _blk_expm1(log_ratio, tmp)
    for p in range(1, P1):
        for r in range(B):
            tmp[p, r] *= q[r]
    _blk_log1p(tmp, out)
    for p in range(1, P1):
        for r in range(B):
            out[p, r] = -out[p, r]


@jit
def _unit_series(w2j, s, t, q, a1j, z1j, lo, scratch, coef):
    """Odd Taylor coefficients of ``F_nj(y)``, rows ``lo:lo+B``, into ``coef[:, lo:lo+B]``.

    ``F_nj(y)`` is the change of row loss ``l_n`` when hidden unit ``j``'s pre-activation
    moves by ``y``: the sigmoid, then the logits along ``W2[j, :]``, then softmax and the
    book's ``-log(p + 1e-7)``, composed as power series.
    """
    P1 = scratch[0].shape[0]  # ORDER + 1, read at run time: no full unrolling
    B = min(_BLOCK, s.shape[0] - lo)
    m, lg, g, dz, acc, tmp = scratch[0], scratch[1], scratch[2], scratch[3], scratch[4], scratch[5]
    K = w2j.shape[0]
    # M(D) - 1 = sum_k s_k (exp(D (w_k - w_t)) - 1): the logits centred at the target's
    # (softmax is shift invariant), so that log(p(D) / p0) = -log(M(D))
    for p in range(P1):
        m[p, :B] = 0.0
    for r in range(B):
        n = lo + r
        wt = w2j[t[n]]
        for k in range(K):
            w = w2j[k] - wt
            pw = s[n, k]
            for p in range(1, P1):
                pw *= w
                m[p, r] += pw * _INV_FACT[p]
    _blk_log1p(m, lg)
    for p in range(1, P1):
        for r in range(B):
            lg[p, r] = -lg[p, r]
    _blk_loss_change(lg, q[lo : lo + B], tmp, g)
    # Delta z(y) = sigmoid(a + y) - sigmoid(a): S' = S (1 - S), with 1 - S carried as its own
    # series C, C[0] = sigmoid(-a) computed directly (no cancellation near saturation)
    for r in range(B):
        a = a1j[lo + r]
        dz[0, r] = z1j[lo + r]
        tmp[0, r] = 1.0 / (1.0 + np.exp(a))
    for p in range(1, P1):
        for r in range(B):
            acc[0, r] = 0.0
        for k in range(p):
            for r in range(B):
                acc[0, r] += dz[k, r] * tmp[p - 1 - k, r]
        for r in range(B):
            dz[p, r] = acc[0, r] / p
            tmp[p, r] = -dz[p, r]
    dz[0, :B] = 0.0
    # F = g o Delta z, by Horner: acc = (...((g_P dz + g_{P-1}) dz + ...) + g_1) dz
    for p in range(P1):
        acc[p, :B] = 0.0
    for p in range(P1 - 1, 0, -1):
        for r in range(B):
            acc[0, r] = g[p, r]
        _blk_mul_const(acc, dz, tmp)
        for pp in range(P1):
            acc[pp, :B] = tmp[pp, :B]
    for i in range(_N_ODD):
        coef[i, lo : lo + B] = acc[2 * i + 1, :B]


@jit
def _blk_mul_const(a, b, out):
    """Truncated product for ``a`` with a constant term and ``b`` without one."""
    P1 = a.shape[0]  # ORDER + 1, read at run time: no full unrolling
    B = a.shape[1]
    out[0, :B] = 0.0
    for p in range(1, P1):
        out[p, :B] = 0.0
        for k in range(p):
            for r in range(B):
                out[p, r] += a[k, r] * b[p - k, r]


@jit
def _logit_row_series(s, t, q, k, lo, scratch, coef):
    """Odd Taylor coefficients of the change of row loss when logit ``k`` moves by ``u``,
    rows ``lo:lo+B``, into ``coef[:, lo:lo+B]``."""
    P1 = scratch[0].shape[0]  # ORDER + 1, read at run time: no full unrolling
    B = min(_BLOCK, s.shape[0] - lo)
    e, lg, g, tmp = scratch[0], scratch[1], scratch[2], scratch[3]
    # log(p(u) / p0) = [k == t] u - log(1 + s_k (exp(u) - 1))
    for r in range(B):
        e[0, r] = 0.0
        for p in range(1, P1):
            e[p, r] = s[lo + r, k] * _INV_FACT[p]
    _blk_log1p(e, lg)
    for p in range(1, P1):
        for r in range(B):
            lg[p, r] = -lg[p, r]
    for r in range(B):
        if t[lo + r] == k:
            lg[1, r] += 1.0
    _blk_loss_change(lg, q[lo : lo + B], tmp, g)
    for i in range(_N_ODD):
        coef[i, lo : lo + B] = g[2 * i + 1, :B]


@jit
def _odd_poly(c0, c1, c2, c3, y):
    """``c0 y + c1 y^3 + c2 y^5 + c3 y^7`` (written out for ``ORDER = 7``): half the central
    difference ``F(+y) - F(-y)`` of one row's loss change."""
    y2 = y * y
    return y * (c0 + y2 * (c1 + y2 * (c2 + y2 * c3)))


@jit
def _odd_poly_sum_const(coef, y):
    """``sum_n odd_poly(coef[:, n], y)`` for the same nudge ``y`` in every row (a bias)."""
    total = 0.0
    for n in range(coef.shape[1]):
        total += _odd_poly(coef[0, n], coef[1, n], coef[2, n], coef[3, n], y)
    return total


@jit
def _odd_poly_sum(coef, y):
    """``sum_n odd_poly(coef[:, n], y[n])`` over a dense ``y`` (vectorised over rows)."""
    total = 0.0
    for n in range(y.shape[0]):
        total += _odd_poly(coef[0, n], coef[1, n], coef[2, n], coef[3, n], y[n])
    return total


# -- exact evaluation of one perturbed row loss (the fallback path) ------------------------


@jit
def _row_loss_along(a2_row, w2j, dz, label):
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
def _row_loss_logit(a2_row, k_moved, delta, label):
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
def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


@jit
def _unit_loss_delta_exact(a1_nj, z_nj, a2_row, w2j, label, d):
    """``l_n(+d) - l_n(-d)`` when unit j's pre-activation moves by ``+-d``, evaluated directly."""
    lp = _row_loss_along(a2_row, w2j, _sigmoid(a1_nj + d) - z_nj, label)
    lm = _row_loss_along(a2_row, w2j, _sigmoid(a1_nj - d) - z_nj, label)
    return lp - lm


# -- the parallel driver ----------------------------------------------------------------


@jit_parallel
def _forward(W1, b1, W2, b2, x):
    """The book's forward pass, ``a1 = x W1 + b1``, ``z1 = sigmoid(a1)``, ``a2 = z1 W2 + b2``,
    ``softmax(a2)``, in parallel over rows.

    No BLAS here on purpose: OpenBLAS's own threads spin after a call and fought Numba's
    threads for the two cores (``docs/design.md``, "Pitfalls"), and holding BLAS to one
    thread around every call cost more than it saved. Zero inputs are skipped (80% of MNIST pixels).
    """
    N, I = x.shape
    H = W1.shape[1]
    K = W2.shape[1]
    a1 = np.empty((N, H))
    z1 = np.empty((N, H))
    a2 = np.empty((N, K))
    # iteration n writes only row n of a1, z1 and a2
    for n in prange(N):
        for j in range(H):
            a1[n, j] = 0.0
        for i in range(I):
            v = x[n, i]
            if v != 0.0:
                for j in range(H):
                    a1[n, j] += v * W1[i, j]
        for j in range(H):
            a1[n, j] += b1[j]
            z1[n, j] = 1.0 / (1.0 + np.exp(-a1[n, j]))
        for k in range(K):
            a2[n, k] = 0.0
        for j in range(H):
            zj = z1[n, j]
            for k in range(K):
                a2[n, k] += zj * W2[j, k]
        for k in range(K):
            a2[n, k] += b2[k]
    return a1, z1, a2, _softmax_rows(a2)


@jit_parallel
def _split_columns(x, h, dense_min):
    """Split the inputs for the W1 sums: columns with at least ``dense_min`` non-zeros are
    kept dense (``dense_cols``, ``hx_dense = h * x[:, dense_cols].T``); the non-zeros of the
    other columns are listed by row (CSR: ``rowptr``, ``cols``, ``hv = h * value``).
    All-zero columns appear in neither: their gradient is exactly 0, as in the reference.
    Also returns ``max(1, max|x|)`` for the truncation guard."""
    N, I = x.shape
    nnz = np.zeros(I, dtype=np.int64)
    col_max = np.zeros(I)
    # iteration i writes only nnz[i] and col_max[i]
    for i in prange(I):
        for n in range(N):
            v = x[n, i]
            if v != 0.0:
                nnz[i] += 1
                col_max[i] = max(col_max[i], abs(v))
    xmax = max(1.0, np.max(col_max))
    is_dense = nnz >= dense_min
    dense_cols = np.nonzero(is_dense)[0]
    hx_dense = np.empty((dense_cols.shape[0], N))
    # iteration d writes only row d of hx_dense
    for d in prange(dense_cols.shape[0]):
        for n in range(N):
            hx_dense[d, n] = h * x[n, dense_cols[d]]
    counts = np.zeros(N + 1, dtype=np.int64)
    # iteration n writes only counts[n + 1], then only its own slice of cols and hv
    for n in prange(N):
        c = 0
        for i in range(I):
            if x[n, i] != 0.0 and not is_dense[i]:
                c += 1
        counts[n + 1] = c
    rowptr = np.cumsum(counts)
    cols = np.empty(rowptr[N], dtype=np.int64)
    hv = np.empty(rowptr[N])
    for n in prange(N):
        e = rowptr[n]
        for i in range(I):
            if x[n, i] != 0.0 and not is_dense[i]:
                cols[e] = i
                hv[e] = h * x[n, i]
                e += 1
    return (dense_cols, hx_dense, rowptr, cols, hv), xmax


#: A column with at least this fraction of non-zeros is summed densely (vectorised), the
#: zeros contributing exactly 0; sparser columns are summed over their non-zeros only.
_DENSE_FRACTION = 0.25


@jit
def _hidden_unit_series(j, W2, s, t, q, a1T, z1T, h, split, scratch, coef, acc, gW1T, gb1):
    """Worker: ``gW1[:, j]`` and ``gb1[j]`` from the odd series of each row's loss change."""
    dense_cols, hx_dense, rowptr, cols, hv = split
    N = s.shape[0]
    scale = 1.0 / (N * h)  # (sum_n [F(+y) - F(-y)] / N) / (2h), and F(+y) - F(-y) = 2 odd(y)
    for lo in range(0, N, _BLOCK):
        _unit_series(W2[j], s, t, q, a1T[j], z1T[j], lo, scratch, coef)
    gb1[j] = _odd_poly_sum_const(coef, h) * scale  # b1[j]: the input is 1 in every row
    # sparse columns, row by row; acc[i] adds its rows in increasing n
    acc[:] = 0.0
    for n in range(N):
        c0, c1, c2, c3 = coef[0, n], coef[1, n], coef[2, n], coef[3, n]
        for e in range(rowptr[n], rowptr[n + 1]):
            acc[cols[e]] += _odd_poly(c0, c1, c2, c3, hv[e])
    for i in range(acc.shape[0]):
        gW1T[j, i] = acc[i] * scale
    for d in range(dense_cols.shape[0]):
        gW1T[j, dense_cols[d]] = _odd_poly_sum(coef, hx_dense[d]) * scale


@jit
def _hidden_unit_exact(j, W2, a1, z1, a2, t, x, h, gW1T, gb1):
    """Worker, fallback: ``gW1[:, j]`` and ``gb1[j]`` from directly evaluated row losses."""
    N, I = x.shape
    w2j = W2[j]
    acc_b = 0.0
    for n in range(N):
        acc_b += _unit_loss_delta_exact(a1[n, j], z1[n, j], a2[n], w2j, t[n], h)
    gb1[j] = acc_b / (2 * h) / N
    gW1T[j, :] = 0.0
    for n in range(N):
        for i in range(I):
            if x[n, i] != 0.0:  # a zero input leaves the row unchanged, exactly
                d = h * x[n, i]
                gW1T[j, i] += _unit_loss_delta_exact(a1[n, j], z1[n, j], a2[n], w2j, t[n], d)
    for i in range(I):
        gW1T[j, i] = gW1T[j, i] / (2 * h) / N


@jit
def _logit_series(k, s, t, q, z1T, h, scratch, coef, gW2T, gb2):
    """Worker: ``gW2[:, k]`` and ``gb2[k]`` from the odd series of each row's loss change."""
    N = s.shape[0]
    scale = 1.0 / (N * h)
    for lo in range(0, N, _BLOCK):
        _logit_row_series(s, t, q, k, lo, scratch, coef)
    gb2[k] = _odd_poly_sum_const(coef, h) * scale
    for j in range(z1T.shape[0]):
        total = 0.0
        for n in range(N):
            total += _odd_poly(coef[0, n], coef[1, n], coef[2, n], coef[3, n], h * z1T[j, n])
        gW2T[k, j] = total * scale


@jit
def _logit_exact(k, a2, z1T, t, h, gW2T, gb2):
    """Worker, fallback: ``gW2[:, k]`` and ``gb2[k]`` from directly evaluated row losses."""
    N = a2.shape[0]
    acc = 0.0
    for n in range(N):
        acc += _row_loss_logit(a2[n], k, h, t[n]) - _row_loss_logit(a2[n], k, -h, t[n])
    gb2[k] = acc / (2 * h) / N
    for j in range(z1T.shape[0]):
        acc = 0.0
        for n in range(N):
            d = h * z1T[j, n]
            acc += _row_loss_logit(a2[n], k, d, t[n]) - _row_loss_logit(a2[n], k, -d, t[n])
        gW2T[k, j] = acc / (2 * h) / N


@jit_parallel
def _numgrad_tasks(
    W2,
    s,
    t,
    q,
    a1,
    z1,
    a2,
    a1T,
    z1T,
    x,
    h,
    split,
    series_unit,
    series_logits,
    order,
    gW1T,
    gb1,
    gW2T,
    gb2,
):
    """Parallel driver: task ``j < H`` is hidden unit ``j`` (``gW1[:, j]``, ``gb1[j]``), task
    ``H + k`` is output logit ``k`` (``gW2[:, k]``, ``gb2[k]``), run in the given ``order``.
    One parallel region, so one parallel compile."""
    N, I = x.shape
    H = W2.shape[0]
    # task j writes only gW1T[j] and gb1[j]; task H + k only gW2T[k] and gb2[k]; each
    # allocates its own scratch
    for r in prange(H + W2.shape[1]):
        task = order[r]
        if task < H:
            if series_unit[task]:
                scratch = np.empty((6, ORDER + 1, _BLOCK))
                coef = np.empty((_N_ODD, N))
                acc = np.empty(I)
                _hidden_unit_series(
                    task, W2, s, t, q, a1T, z1T, h, split, scratch, coef, acc, gW1T, gb1
                )
            else:
                _hidden_unit_exact(task, W2, a1, z1, a2, t, x, h, gW1T, gb1)
        elif series_logits:
            scratch = np.empty((4, ORDER + 1, _BLOCK))
            coef = np.empty((_N_ODD, N))
            _logit_series(task - H, s, t, q, z1T, h, scratch, coef, gW2T, gb2)
        else:
            _logit_exact(task - H, a2, z1T, t, h, gW2T, gb2)


@jit
def _task_order(H, K):
    """Hidden units with the K cheap logit tasks spread evenly among them: prange hands each
    thread one contiguous block of iterations, and this keeps the blocks' costs even."""
    order = np.empty(H + K, dtype=np.int64)
    j = 0
    k = 0
    for r in range(H + K):
        # logit k goes at position about (k + 1/2) (H + K) / K
        if k < K and r >= (2 * k + 1) * (H + K) // (2 * K):
            order[r] = H + k
            k += 1
        else:
            order[r] = j
            j += 1
    return order


@jit
def _series_guard(W2, h, xmax, force_exact):
    """The truncation guard of the module docstring: whether each hidden unit's tasks, and the
    logits' tasks, may take the series path (``xmax = max(1, max|x|)``)."""
    H = W2.shape[0]
    series_unit = np.empty(H, dtype=np.bool_)
    for j in range(H):
        spread = np.max(W2[j]) - np.min(W2[j])
        series_unit[j] = not force_exact and h * xmax * max(1.0, 4.0 * spread) <= SERIES_RATIO_MAX
    series_logits = not force_exact and 2.0 * h <= SERIES_RATIO_MAX
    return series_unit, series_logits


@jit
def _numgrad_two_layer(W1, b1, W2, b2, x, t, h, force_exact):
    """The book's central difference for every parameter of TwoLayerNet: one forward pass,
    the guards, then the parallel driver."""
    N, I = x.shape
    H = W1.shape[1]
    K = W2.shape[1]
    a1, z1, a2, s = _forward(W1, b1, W2, b2, x)
    q = np.empty(N)
    for n in range(N):
        p0 = s[n, t[n]]
        q[n] = p0 / (p0 + CROSS_ENTROPY_DELTA)
    a1T = np.ascontiguousarray(a1.T)
    z1T = np.ascontiguousarray(z1.T)
    split, xmax = _split_columns(x, h, _DENSE_FRACTION * N)  # xmax >= 1: b1's input is 1

    series_unit, series_logits = _series_guard(W2, h, xmax, force_exact)

    gW1T = np.empty((H, I))
    gb1 = np.empty(H)
    gW2T = np.empty((K, H))
    gb2 = np.empty(K)
    _numgrad_tasks(
        W2,
        s,
        t,
        q,
        a1,
        z1,
        a2,
        a1T,
        z1T,
        x,
        h,
        split,
        series_unit,
        series_logits,
        _task_order(H, K),
        gW1T,
        gb1,
        gW2T,
        gb2,
    )
    return np.ascontiguousarray(gW1T.T), gb1, np.ascontiguousarray(gW2T.T), gb2


# -- forward, loss and backprop ---------------------------------------------------------


@jit
def _predict(W1, b1, W2, b2, x):
    return _forward(W1, b1, W2, b2, x)[3]


@jit
def _loss_two_layer(W1, b1, W2, b2, x, t):
    s = _forward(W1, b1, W2, b2, x)[3]
    acc = 0.0
    for n in range(x.shape[0]):
        acc += np.log(s[n, t[n]] + CROSS_ENTROPY_DELTA)
    return -acc / x.shape[0]


@jit_parallel
def _gradient_two_layer(W1, b1, W2, b2, x, t):
    """The book's backprop (section 5.7) for labels ``t``, in parallel, without BLAS."""
    N, I = x.shape
    H = W1.shape[1]
    K = W2.shape[1]
    a1, z1, a2, y = _forward(W1, b1, W2, b2, x)
    dy = np.empty((N, K))
    dz1 = np.empty((N, H))
    # iteration n writes only row n of dy and dz1
    for n in prange(N):
        for k in range(K):
            dy[n, k] = (y[n, k] - (1.0 if k == t[n] else 0.0)) / N
        for j in range(H):
            da = 0.0
            for k in range(K):
                da += dy[n, k] * W2[j, k]
            dz1[n, j] = (1.0 - z1[n, j]) * z1[n, j] * da
    xT = np.ascontiguousarray(x.T)
    gW1 = np.zeros((I, H))
    # iteration i writes only row i of gW1
    for i in prange(I):
        for n in range(N):
            v = xT[i, n]
            if v != 0.0:
                for j in range(H):
                    gW1[i, j] += v * dz1[n, j]
    gW2 = np.zeros((H, K))
    # iteration j writes only row j of gW2
    for j in prange(H):
        for n in range(N):
            zj = z1[n, j]
            for k in range(K):
                gW2[j, k] += zj * dy[n, k]
    gb1 = np.zeros(H)
    gb2 = np.zeros(K)
    for n in range(N):
        for j in range(H):
            gb1[j] += dz1[n, j]
        for k in range(K):
            gb2[k] += dy[n, k]
    return gW1, gb1, gW2, gb2


@jit
def _numgrad_simple(W, x, t, h):
    """SimpleNet: ``W[i, k] +- h`` moves logit ``k`` of row ``n`` by ``+-h x[n, i]``; each row
    loss is evaluated directly (6 parameters, nothing to gain from series)."""
    N = x.shape[0]
    K = W.shape[1]
    a = np.zeros((N, K))
    for n in range(N):
        for i in range(W.shape[0]):
            for k in range(K):
                a[n, k] += x[n, i] * W[i, k]
    grad = np.empty(W.shape)
    for i in range(W.shape[0]):
        for k in range(K):
            acc = 0.0
            for n in range(N):
                d = h * x[n, i]
                if d != 0.0:
                    acc += _row_loss_logit(a[n], k, d, t[n]) - _row_loss_logit(a[n], k, -d, t[n])
            grad[i, k] = acc / (2 * h) / N
    return grad


# -- the twin classes ------------------------------------------------------------------
#
# No validation beyond what memory safety needs (the package root validates): shapes that
# must agree for every index a kernel computes to stay inside its array, and labels in range
# (``functions._labels``). Each parallel call holds ``_config.PARALLEL_LOCK``.


def _rows(x: Any, n_inputs: int) -> np.ndarray:
    if not (type(x) is np.ndarray and x.dtype == np.float64 and x.flags.c_contiguous):
        x = np.ascontiguousarray(x, dtype=np.float64)
    if x.ndim not in (1, 2) or x.shape[-1] != n_inputs:
        raise ValueError(f"x has shape {x.shape}, expected (batch, {n_inputs}) or ({n_inputs},)")
    return x.reshape(-1, n_inputs)


def _labels(t: Any, batch: int, n_classes: int) -> np.ndarray:
    return _target_labels(np.asarray(t), batch, n_classes)


def _chained(params: dict[str, Any]) -> tuple[np.ndarray, ...]:
    """``W1, b1, W2, b2`` as float64 C arrays whose shapes chain; else ``ValueError``."""
    W1, b1, W2, b2 = (np.ascontiguousarray(params[k], dtype=np.float64) for k in PARAM_NAMES)
    if not (
        W1.ndim == W2.ndim == 2
        and b1.shape == (W1.shape[1],)
        and W2.shape[0] == W1.shape[1]
        and b2.shape == (W2.shape[1],)
    ):
        raise ValueError(
            f"params do not chain: W1 {W1.shape}, b1 {b1.shape}, W2 {W2.shape}, b2 {b2.shape}; "
            "expected (I, H), (H,), (H, K), (K,)"
        )
    return W1, b1, W2, b2


class SimpleNet:
    """Twin of :class:`fastgrad.reference.SimpleNet` on compiled kernels."""

    def __init__(self, W: Any = None, *, rng: Any = None) -> None:
        if W is None:
            rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
            W = rng.standard_normal((2, 3))
        self.W = np.ascontiguousarray(W, dtype=np.float64)  # kernels never write to W

    def _w(self) -> np.ndarray:
        W = np.ascontiguousarray(self.W, dtype=np.float64)
        if W.ndim != 2:
            raise ValueError(f"W must be 2-D, got shape {W.shape}")
        return W

    def predict(self, x: Any) -> np.ndarray:
        W = self._w()
        out = np.dot(_rows(x, W.shape[0]), W)
        return out.reshape(np.shape(x)[:-1] + (W.shape[1],))

    def loss(self, x: Any, t: Any) -> float:
        from .functions import softmax_loss

        W = self._w()
        scores = np.dot(_rows(x, W.shape[0]), W)
        labels = _labels(t, scores.shape[0], scores.shape[1])
        with PARALLEL_LOCK:
            return float(softmax_loss(scores, labels))

    def numerical_gradient(self, x: Any, t: Any, h: float = 1e-4) -> np.ndarray:
        W = self._w()
        x2 = _rows(x, W.shape[0])
        return _numgrad_simple(W, x2, _labels(t, x2.shape[0], W.shape[1]), float(h))


class TwoLayerNet:
    """Twin of :class:`fastgrad.reference.TwoLayerNet` on compiled kernels.

    Same constructor and methods; ``numerical_gradient`` is the structure-aware kernel
    described in the module docstring (``exact=True`` forces the direct evaluation of every
    perturbed row loss). ``h`` is not checked here: :class:`fastgrad.TwoLayerNet` rejects
    steps the reference cannot resolve.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        weight_init_std: float = 0.01,
        *,
        rng: Any = None,
    ) -> None:
        from ..reference.nets import TwoLayerNet as _Reference

        ref = _Reference(input_size, hidden_size, output_size, weight_init_std, rng=rng)
        self.params = ref.params

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> TwoLayerNet:
        """A network that uses ``params`` as given (float64, C-ordered arrays)."""
        net = cls.__new__(cls)
        net.params = dict(params)
        return net

    def _prepare(self, x: Any, t: Any = None) -> tuple[tuple[np.ndarray, ...], np.ndarray, Any]:
        p = _chained(self.params)
        x2 = _rows(x, p[0].shape[0])
        return p, x2, None if t is None else _labels(t, x2.shape[0], p[2].shape[1])

    def predict(self, x: Any) -> np.ndarray:
        p, x2, _ = self._prepare(x)
        with PARALLEL_LOCK:
            y = _predict(*p, x2)
        return y.reshape(np.shape(x)[:-1] + (y.shape[1],))

    def loss(self, x: Any, t: Any) -> float:
        p, x2, labels = self._prepare(x, t)
        with PARALLEL_LOCK:
            return float(_loss_two_layer(*p, x2, labels))

    def accuracy(self, x: Any, t: Any) -> float:
        p, x2, labels = self._prepare(x, t)
        with PARALLEL_LOCK:
            y = _predict(*p, x2)
        return float(np.sum(np.argmax(y, axis=1) == labels) / float(x2.shape[0]))

    def numerical_gradient(
        self, x: Any, t: Any, h: float = 1e-4, *, exact: bool = False
    ) -> dict[str, np.ndarray]:
        p, x2, labels = self._prepare(x, t)
        with PARALLEL_LOCK:
            grads = _numgrad_two_layer(*p, x2, labels, float(h), exact)
        return dict(zip(PARAM_NAMES, grads, strict=True))

    def gradient(self, x: Any, t: Any) -> dict[str, np.ndarray]:
        p, x2, labels = self._prepare(x, t)
        with PARALLEL_LOCK:
            grads = _gradient_two_layer(*p, x2, labels)
        return dict(zip(PARAM_NAMES, grads, strict=True))
