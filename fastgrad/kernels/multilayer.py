"""Numba twin of :mod:`fastgrad.reference.multilayer`: ``MultiLayerNet`` of any depth.

The numerical gradient is the book's central difference for every parameter, computed from
the network's structure instead of two whole losses per parameter (``docs/multilayer.md``
derives all of this):

- A nudge of ``W_l[i, j]`` by ``d`` moves only unit ``j``'s pre-activation in layer ``l``, by
  ``y = d z_{l-1}[n, i]`` in row ``n`` (``b_l[j]``: input 1). Per (row, unit) the change of the
  row loss is one function ``F_nj(y)``, shared by every input ``i``; the central difference
  keeps its odd Taylor coefficients (``kernels.nets``: ``F(+y) - F(-y) = 2 (c1 y + c3 y^3 +
  c5 y^5 + c7 y^7 + ...)``), so each parameter costs one odd polynomial per non-zero row.
- **ReLU.** Downstream of the nudged unit everything is piecewise linear in ``y``. Within the
  *kink radius* ``r_nj`` (no pre-activation, the nudged unit's included, changes sign) the
  logits move along one direction ``v_nj`` (a chain of masked mat-vecs), and ``F_nj(y)`` is
  the softmax cross-entropy along ``v_nj``. ``r_nj`` is computed exactly from the
  pre-activations and the direction vectors of each layer.
- **Sigmoid.** The change is carried as a truncated Taylor series through each layer
  (univariate Taylor mode): every unit's sigmoid coefficients are computed once, the next
  layer's change is composed through the shared powers of the nudged unit's series, deeper
  layers through the ODE ``Z' = Z (1 - Z) u'``; then the log-partition of the logits.
- **Guards.** ``rho`` is the radius of a disk of complex ``y`` on which ``F`` is analytic and
  bounded by 5 (ReLU: per row and unit, from the direction; sigmoid: per unit, from ``|W|``).
  Each block of rows is truncated at the lowest order ``P`` (3, 5 or 7) whose Cauchy
  remainder at the block's largest nudge stays below the two-layer kernel's bound
  (``5 * 0.008**9`` per row, ``_ORDER_RATIO``). A nudge takes the series path only where
  ``|y| < tau``: ReLU, ``tau = min(r_nj (1 - KINK_MARGIN), R_P rho_nj)``; sigmoid,
  ``tau = R_P rho_j``. Every other nudge (a possible kink crossing, large ``h``, large inputs
  or weights) has its two perturbed row losses evaluated exactly, through the layers below
  the nudged unit: at a kink that is the reference's central difference, not the
  derivative. :func:`nudge_limits` exposes the decision.
- Weight decay's share of a weight's difference is ``lambda * w`` exactly; the output layer's
  tasks are the two-layer kernel's logit tasks (``kernels.nets._logit_series``).

One ``prange`` over units (every hidden unit of every layer, then the logits), interleaved so
that each thread's share of the work is even; each task writes only its own unit's gradient
and scratch, so the result is bitwise the same at any thread count. No BLAS (docs/design.md,
"Pitfalls"); zero inputs are skipped.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import prange

from .._config import PARALLEL_LOCK, jit, jit_parallel
from ..reference.functions import CROSS_ENTROPY_DELTA
from ..reference.multilayer import MultiLayerNet as _Reference
from ..reference.multilayer import check_activation, param_names
from .functions import _softmax_rows
from .nets import (
    _BLOCK,
    _INV_FACT,
    _N_ODD,
    ORDER,
    SERIES_RATIO_MAX,
    _blk_expm1,
    _blk_log1p,
    _blk_loss_change,
    _labels,
    _logit_exact,
    _logit_series,
    _odd_poly,
    _row_loss_along,
    _rows,
    _sigmoid,
)

__all__ = ["MultiLayerNet", "KINK_MARGIN", "SIGMOID_LIPSCHITZ", "nudge_limits"]

#: A ReLU nudge takes the linear path only while ``|y| < r_nj (1 - KINK_MARGIN)``, ``r_nj`` the
#: computed kink radius: a safety margin against the rounding of ``r_nj`` (which, ReLU being
#: continuous, could only cost an error of the size of that rounding anyway).
KINK_MARGIN = 1e-6
#: ``|sigmoid(a + u) - sigmoid(a)| <= SIGMOID_LIPSCHITZ |u|`` for real ``a`` and complex
#: ``|u| <= 1``: ``|sigmoid'(z)| = 1 / |4 cosh(z / 2)^2| <= 1 / (4 cos(1/2)^2) = 0.3246`` on the
#: strip ``|Im z| <= 1``.
SIGMOID_LIPSCHITZ = 1.0 / 3.0

#: Rows per block of series arithmetic (``(ORDER + 1, B)`` arrays, rows innermost).
_RELU_BLOCK = 64
_SIGMOID_BLOCK = 32

#: Truncation orders, and the largest ``|y| / rho`` for each: the remainder bound
#: ``5 ratio^(P+2) / (1 - ratio^2)`` of order ``P`` at that ratio is the bound of ``ORDER`` at
#: ``SERIES_RATIO_MAX`` (about 7e-19 per row): ``SERIES_RATIO_MAX ** ((ORDER + 2) / (P + 2))``.
_ORDERS = np.array([3, 5, ORDER])
_ORDER_RATIO = SERIES_RATIO_MAX ** ((ORDER + 2) / (_ORDERS + 2.0))


# -- the inputs of the first layer's sums ------------------------------------------------


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


# -- flat storage: every layer's arrays in one buffer, addressed by offsets ----------------
#
# The depth is data, not type: one compiled kernel serves every architecture. ``sizes`` is
# ``[I, H1, ..., HL, K]``; ``W_l`` (``sizes[l-1] x sizes[l]``) starts at ``woff[l]`` of ``Wf``
# and ``b_l`` at ``boff[l]`` of ``bf``; per-row arrays of layer ``l`` (``N x sizes[l]``, or
# transposed) start at ``aoff[l]``.


@jit
def _view(flat, off, rows, cols):
    return flat[off : off + rows * cols].reshape((rows, cols))


@jit
def _act(v, relu):
    """The hidden activation: the book's ReLU (0 where ``v <= 0``) or sigmoid."""
    if relu:
        return v if v > 0.0 else 0.0
    return _sigmoid(v)


@jit
def _row_offsets(sizes, N):
    """Offsets of the per-row arrays of layers ``1..L+1`` in a flat buffer (``aoff[L+2]`` is
    the total)."""
    L = sizes.shape[0] - 2
    aoff = np.zeros(L + 3, dtype=np.int64)
    for l in range(1, L + 2):
        aoff[l + 1] = aoff[l] + N * sizes[l]
    return aoff


@jit_parallel
def _forward(sizes, Wf, woff, bf, boff, x, relu):
    """The book's forward pass in parallel over rows: ``a_l = z_{l-1} W_l + b_l`` (zero inputs
    skipped), ``z_l = act(a_l)``; returns the pre-activations ``Af`` (layers 1..L+1, the last
    being the scores), the activations ``Zf`` (1..L), their offsets and the softmax."""
    N = x.shape[0]
    L = sizes.shape[0] - 2
    aoff = _row_offsets(sizes, N)
    Af = np.empty(aoff[L + 2])
    Zf = np.empty(aoff[L + 1])
    # iteration n writes only row n of every layer
    for n in prange(N):
        for l in range(1, L + 2):
            Hp = sizes[l - 1]
            H = sizes[l]
            W = _view(Wf, woff[l], Hp, H)
            a = Af[aoff[l] + n * H : aoff[l] + (n + 1) * H]
            a[:] = 0.0
            prev = x[n] if l == 1 else Zf[aoff[l - 1] + n * Hp : aoff[l - 1] + (n + 1) * Hp]
            for i in range(Hp):
                v = prev[i]
                if v != 0.0:
                    for k in range(H):
                        a[k] += v * W[i, k]
            for k in range(H):
                a[k] += bf[boff[l] + k]
            if l <= L:
                z = Zf[aoff[l] + n * H : aoff[l] + (n + 1) * H]
                for k in range(H):
                    z[k] = _act(a[k], relu)
    s = _softmax_rows(_view(Af, aoff[L + 1], N, sizes[L + 1]))
    return Af, Zf, aoff, s


@jit
def _transposed(Ff, aoff, sizes, N, last):
    """Per-row arrays of layers ``1..last`` transposed (``sizes[l] x N`` each), same offsets."""
    out = np.empty(aoff[last + 1])
    for l in range(1, last + 1):
        src = _view(Ff, aoff[l], N, sizes[l])
        dst = _view(out, aoff[l], sizes[l], N)
        for n in range(N):
            for k in range(sizes[l]):
                dst[k, n] = src[n, k]
    return out


# -- exact evaluation of one perturbed row loss ------------------------------------------


@jit
def _nudged_row_loss(l, j, n, y, sizes, Wf, woff, Af, aoff, t, relu, buf):
    """Row ``n``'s loss when unit ``j`` of layer ``l`` has its pre-activation moved by ``y``,
    evaluated directly through the layers below it (the changes are propagated, not the
    values recomputed, so no rounding of unchanged units enters)."""
    N = t.shape[0]
    L = sizes.shape[0] - 2
    K = sizes[L + 1]
    a = Af[aoff[l] + n * sizes[l] + j]
    d = _act(a + y, relu) - _act(a, relu)
    logits = _view(Af, aoff[L + 1], N, K)[n]
    if l == L:
        return _row_loss_along(logits, _view(Wf, woff[L + 1], sizes[L], K)[j], d, t[n])
    c = 0
    W = _view(Wf, woff[l + 1], sizes[l], sizes[l + 1])
    for k in range(sizes[l + 1]):
        buf[c, k] = d * W[j, k]
    for m in range(l + 1, L + 1):
        Hn = sizes[m + 1]
        Wn = _view(Wf, woff[m + 1], sizes[m], Hn)
        am = _view(Af, aoff[m], N, sizes[m])[n]
        for k2 in range(Hn):
            buf[1 - c, k2] = 0.0
        for k in range(sizes[m]):
            dk = buf[c, k]
            if dk != 0.0:
                dz = _act(am[k] + dk, relu) - _act(am[k], relu)
                if dz != 0.0:
                    for k2 in range(Hn):
                        buf[1 - c, k2] += dz * Wn[k, k2]
        c = 1 - c
    return _row_loss_along(logits, buf[c, :K], 1.0, t[n])


@jit
def _exact_half_difference(l, j, n, y, ex):
    """``(l_n(+y) - l_n(-y)) / 2``: what the odd polynomial gives on the series path.
    ``ex = (sizes, Wf, woff, Af, aoff, t, relu, buf)``."""
    sizes, Wf, woff, Af, aoff, t, relu, buf = ex
    lp = _nudged_row_loss(l, j, n, y, sizes, Wf, woff, Af, aoff, t, relu, buf)
    lm = _nudged_row_loss(l, j, n, -y, sizes, Wf, woff, Af, aoff, t, relu, buf)
    return 0.5 * (lp - lm)


# -- the series of F_nj: directions (ReLU) and Taylor mode (sigmoid) ------------------------
#
# Blocks of B rows, rows innermost, as in ``kernels.nets``. Every index below is provably
# non-negative to LLVM (loop variables, or ``max(., 0)``): a possibly negative index makes
# Numba emit wrap-around code that stopped these loops from vectorising (8x slower here).


@jit
def _blk_sigmoid_change(u, P1, z0, c0, G, out):
    """Series of ``sigmoid(a + u(y)) - sigmoid(a)`` for a series ``u`` with ``u[0] == 0``, per
    row: ``z0 = sigmoid(a)``, ``c0 = sigmoid(-a)``. From ``Z' = G u'`` with ``G = Z (1 - Z)``;
    ``1 - Z`` is carried as its own series (constant term ``c0``, computed directly: no
    cancellation near saturation), so ``G_p = Z_p (c0 - z0) - sum_{0<i<p} Z_i Z_{p-i}``. Order
    ``P1 - 1``."""
    B = u.shape[1]
    for r in range(B):
        out[0, r] = z0[r]
        G[0, r] = z0[r] * c0[r]
    for p in range(1, P1):
        for r in range(B):
            out[p, r] = 0.0
        for m in range(1, p + 1):
            pm = max(p - m, 0)
            for r in range(B):
                out[p, r] += m * u[m, r] * G[pm, r]
        inv = 1.0 / p
        for r in range(B):
            out[p, r] *= inv
            G[p, r] = out[p, r] * (c0[r] - z0[r])
        for i in range(1, p):
            pi = max(p - i, 0)
            for r in range(B):
                G[p, r] -= out[i, r] * out[pi, r]
    for r in range(B):
        out[0, r] = 0.0


@jit
def _series_order(ratio):
    """The smallest odd truncation order (3, 5 or 7) whose remainder bound
    ``5 ratio^(P+2) / (1 - ratio^2)`` stays below the one of ``ORDER`` at
    ``SERIES_RATIO_MAX``, ``ratio = |y|max / rho``; 7 (and exact evaluation of the nudges
    beyond the guard) when none does."""
    for i in range(_ORDERS.shape[0]):
        if ratio <= _ORDER_RATIO[i]:
            return _ORDERS[i]
    return ORDER


@jit
def _loss_series_tail(mm, q, lo, nb, sf, qb, coef):
    """From the series of ``M - 1`` (``M`` the log-partition along the change, centred at the
    target logit: ``log(p / p0) = -log(M)``) to the odd coefficients of the row-loss change,
    with the book's ``-log(p + 1e-7)`` (``nets._blk_loss_change``), rows ``lo:lo+nb``."""
    P1 = mm.shape[0]
    B = mm.shape[1]
    lo = max(lo, 0)
    lg = _view(sf, 3 * P1 * B, P1, B)
    g = _view(sf, 4 * P1 * B, P1, B)
    tmp = _view(sf, 5 * P1 * B, P1, B)
    _blk_log1p(mm, lg)
    for p in range(1, P1):
        for r in range(B):
            lg[p, r] = -lg[p, r]
    for r in range(B):
        qb[r] = q[lo + r] if r < nb else 0.0
    _blk_loss_change(lg, qb, tmp, g)
    for i in range(_N_ODD):
        if 2 * i + 1 < P1:
            for r in range(nb):
                coef[i, lo + r] = g[2 * i + 1, r]
        else:
            for r in range(nb):
                coef[i, lo + r] = 0.0


@jit
def _relu_loss_series(V, sT, t, q, lo, nb, P1, sf, qb, coef):
    """ReLU: the logits move by ``y V[:, r]`` (exactly, inside the kink radius), so
    ``M - 1 = sum_k s_k (exp(y (v_k - v_t)) - 1)`` has the closed-form coefficients
    ``sum_k s_k (v_k - v_t)^p / p!``: ``nets._unit_series``'s log-partition, with a direction
    per row. Order ``P1 - 1``."""
    K, B = V.shape
    lo = max(lo, 0)
    mm = _view(sf, 0, P1, B)
    aux = _view(sf, P1 * B, P1, B)  # rows: w, w^p s_k, v_t (P1 >= 4)
    for p in range(P1):
        for r in range(B):
            mm[p, r] = 0.0
    for r in range(nb):
        aux[2, r] = V[max(t[lo + r], 0), r]
    for k in range(K):
        for r in range(nb):
            aux[0, r] = V[k, r] - aux[2, r]
            aux[1, r] = sT[k, lo + r]
        for p in range(1, P1):
            c = _INV_FACT[p]
            for r in range(nb):
                aux[1, r] *= aux[0, r]
                mm[p, r] += aux[1, r] * c
    _loss_series_tail(mm, q, lo, nb, sf, qb, coef)


@jit
def _sigmoid_loss_series(D, sT, t, q, lo, nb, P1, sf, qb, coef):
    """Sigmoid: ``M - 1 = sum_k s_k (exp(D_k - D_t) - 1)`` from the series ``D`` of the logits'
    change (``K x (ORDER + 1) x B``, no constant term), order ``P1 - 1``."""
    K = D.shape[0]
    B = D.shape[2]
    lo = max(lo, 0)
    mm = _view(sf, 0, P1, B)
    dv = _view(sf, P1 * B, P1, B)
    e = _view(sf, 2 * P1 * B, P1, B)
    for p in range(P1):
        for r in range(B):
            mm[p, r] = 0.0
            dv[p, r] = 0.0
    for k in range(K):
        for p in range(1, P1):
            for r in range(nb):
                dv[p, r] = D[k, p, r] - D[max(t[lo + r], 0), p, r]
        _blk_expm1(dv, e)
        for p in range(1, P1):
            for r in range(nb):
                mm[p, r] += sT[k, lo + r] * e[p, r]
    _loss_series_tail(mm, q, lo, nb, sf, qb, coef)


@jit
def _relu_block(l, j, lo, nb, sizes, Wf, woff, ATf, aoff, N, cur, nxt, rad, V):
    """ReLU: the direction ``V[:, r]`` of the logits when unit ``j`` of layer ``l`` moves by
    ``y`` in row ``lo + r``, and the kink radius ``rad[r]``: the largest ``|y|`` for which no
    pre-activation, the unit's own included, can change sign. Inside it the row's logits move
    by ``y V[:, r]`` exactly (a chain of masked mat-vecs)."""
    L = sizes.shape[0] - 2
    K = sizes[L + 1]
    lo = max(lo, 0)
    j = max(j, 0)
    ATl = _view(ATf, aoff[l], sizes[l], N)
    arow = ATl[j, lo : lo + nb]
    for r in range(nb):
        rad[r] = abs(arow[r])
    W = _view(Wf, woff[l + 1], sizes[l], sizes[l + 1])
    if l == L:
        for k in range(K):
            w = W[j, k]
            for r in range(nb):
                V[k, r] = w if arow[r] > 0.0 else 0.0
        return
    for k in range(sizes[l + 1]):
        w = W[j, k]
        for r in range(nb):
            cur[k, r] = w if arow[r] > 0.0 else 0.0
    for m in range(l + 1, L + 1):
        ATm = _view(ATf, aoff[m], sizes[m], N)
        Hn = sizes[m + 1]
        Wn = _view(Wf, woff[m + 1], sizes[m], Hn)
        for k in range(sizes[m]):
            am = ATm[k, lo : lo + nb]
            for r in range(nb):
                v = cur[k, r]
                lim = abs(am[r]) / abs(v)  # inf (or nan, discarded) where v == 0
                rad[r] = min(rad[r], lim) if v != 0.0 else rad[r]
                cur[k, r] = v if am[r] > 0.0 else 0.0
        out = V if m == L else nxt
        for k2 in range(Hn):
            for r in range(nb):
                out[k2, r] = 0.0
        for k in range(sizes[m]):
            for k2 in range(Hn):
                w = Wn[k, k2]
                for r in range(nb):
                    out[k2, r] += cur[k, r] * w
        cur, nxt = nxt, cur


@jit
def _layer_series(dTf, aoff, sizes, l, N):
    """Layer ``l``'s sigmoid Taylor coefficients ``dT[k, p, n] = sigma^(p)(a_l[n, k]) / p!``."""
    PM = ORDER + 1
    return dTf[aoff[l] * PM : aoff[l + 1] * PM].reshape((sizes[l], PM, N))


@jit
def _sigmoid_block(
    l, j, lo, nb, P1, sizes, Wf, woff, dTf, ZTf, CTf, aoff, N, cur, nxt, Q, blk, zb, cb, D
):
    """Sigmoid: the series ``D`` (order ``P1 - 1``) of the logits' change when unit ``j`` of
    layer ``l`` moves by ``y``, rows ``lo:lo+nb``, carried through every layer below.

    The unit's change is its Taylor series ``S`` (precomputed, ``dTf``). Each unit ``k`` of
    the next layer moves by ``w_k S`` and changes by ``sum_m d_km w_k^m S^m``: the powers
    ``S^m`` are shared by all ``k`` and the ``d_km`` precomputed, so when the next layer feeds
    the logits its contribution is summed per power first. Further layers take a general
    series through the sigmoid's ODE (``_blk_sigmoid_change``).
    """
    L = sizes.shape[0] - 2
    K = sizes[L + 1]
    B = D.shape[2]
    lo = max(lo, 0)
    j = max(j, 0)
    S = Q[1]
    dT = _layer_series(dTf, aoff, sizes, l, N)
    for p in range(P1):
        for r in range(B):
            S[p, r] = 0.0
    for p in range(1, P1):
        for r in range(nb):
            S[p, r] = dT[j, p, lo + r]
    W = _view(Wf, woff[l + 1], sizes[l], sizes[l + 1])
    if l == L:
        for k in range(K):
            w = W[j, k]
            for p in range(P1):
                for r in range(B):
                    D[k, p, r] = w * S[p, r]
        return
    for m in range(2, P1):  # S^m = S^(m-1) S, truncated; S^m starts at order m
        for p in range(P1):
            for r in range(B):
                Q[m, p, r] = 0.0
        for p in range(m, P1):
            for i in range(1, p - m + 2):
                pi = max(p - i, 0)
                for r in range(B):
                    Q[m, p, r] += S[i, r] * Q[m - 1, pi, r]
    dTn = _layer_series(dTf, aoff, sizes, l + 1, N)
    c = blk[2]
    for p in range(P1):
        for r in range(B):
            c[p, r] = 0.0
    Hn = sizes[l + 2]
    Wn = _view(Wf, woff[l + 2], sizes[l + 1], Hn)
    # E[k2, m] = sum_k Wn[k, k2] d_km w_k^m (next layer = logits) or the changes dz_k
    # accumulated into the layer after (deeper networks)
    E = D if l + 1 == L else nxt
    for k2 in range(Hn):
        for p in range(P1):
            for r in range(B):
                E[k2, p, r] = 0.0
    dz = blk[3]
    for k in range(sizes[l + 1]):
        w = W[j, k]
        if w == 0.0:
            continue
        wp = 1.0
        for m in range(1, P1):
            wp *= w
            for r in range(nb):
                c[m, r] = wp * dTn[k, m, lo + r]
        src = c
        if l + 1 < L:  # dz_k = sum_m c_m S^m, a series of its own
            for p in range(P1):
                for r in range(B):
                    dz[p, r] = 0.0
            for m in range(1, P1):
                for p in range(m, P1):
                    for r in range(B):
                        dz[p, r] += c[m, r] * Q[m, p, r]
            src = dz
        for k2 in range(Hn):
            w2 = Wn[k, k2]
            for p in range(1, P1):
                for r in range(B):
                    E[k2, p, r] += w2 * src[p, r]
    if l + 1 == L:  # D_k2 = sum_m E[k2, m] S^m
        for k2 in range(K):
            for p in range(P1 - 1, 0, -1):
                for r in range(B):
                    D[k2, p, r] *= Q[p, p, r]
                for m in range(1, p):
                    for r in range(B):
                        D[k2, p, r] += D[k2, m, r] * Q[m, p, r]
        return
    cur, nxt = nxt, cur
    u, G = blk[0], blk[1]
    for m in range(l + 2, L + 1):
        Hn = sizes[m + 1]
        Wn = _view(Wf, woff[m + 1], sizes[m], Hn)
        out = D if m == L else nxt
        for k2 in range(Hn):
            for p in range(P1):
                for r in range(B):
                    out[k2, p, r] = 0.0
        for k in range(sizes[m]):
            uk = cur[k]
            _load_sigmoid_base(m, k, lo, nb, sizes, ZTf, CTf, aoff, N, zb, cb)
            _blk_sigmoid_change(uk, P1, zb, cb, G, u)
            for k2 in range(Hn):
                w2 = Wn[k, k2]
                for p in range(1, P1):
                    for r in range(B):
                        out[k2, p, r] += w2 * u[p, r]
        cur, nxt = nxt, cur


@jit
def _load_sigmoid_base(m, k, lo, nb, sizes, ZTf, CTf, aoff, N, zb, cb):
    """``sigmoid(a)`` and ``sigmoid(-a)`` of unit ``k`` of layer ``m``, rows ``lo:lo+nb``;
    zero in the padding (a zero series there)."""
    lo = max(lo, 0)
    k = max(k, 0)
    zrow = _view(ZTf, aoff[m], sizes[m], N)[k, lo : lo + nb]
    crow = _view(CTf, aoff[m], sizes[m], N)[k, lo : lo + nb]
    for r in range(zb.shape[0]):
        zb[r] = 0.0
        cb[r] = 0.0
    for r in range(nb):
        zb[r] = zrow[r]
        cb[r] = crow[r]


@jit
def _sigmoid_radius(l, j, sizes, Wf, woff, ebuf):
    """Radius ``rho`` of a disk of complex ``y`` on which ``F_nj`` (sigmoid network) is
    analytic and bounded by 5, for every row: ``|Delta a| <= 1`` at every sigmoid (so each
    multiplies a change by at most ``SIGMOID_LIPSCHITZ``) and ``|Delta_k - Delta_t| <= 1/2``
    at the logits (the log-partition has no zero there). Bounds propagate with ``|W|``."""
    L = sizes.shape[0] - 2
    K = sizes[L + 1]
    worst = 1.0  # the nudged unit's own |Delta a| = |y|
    c = 0
    W = _view(Wf, woff[l + 1], sizes[l], sizes[l + 1])
    for k in range(sizes[l + 1]):
        ebuf[c, k] = SIGMOID_LIPSCHITZ * abs(W[j, k])
    for m in range(l + 1, L + 1):
        Hn = sizes[m + 1]
        Wn = _view(Wf, woff[m + 1], sizes[m], Hn)
        for k2 in range(Hn):
            ebuf[1 - c, k2] = 0.0
        for k in range(sizes[m]):
            e = ebuf[c, k]
            worst = max(worst, e)
            for k2 in range(Hn):
                ebuf[1 - c, k2] += SIGMOID_LIPSCHITZ * e * abs(Wn[k, k2])
        c = 1 - c
    for k in range(K):
        worst = max(worst, 4.0 * ebuf[c, k])
    return 1.0 / worst


@jit
def _unit_plan(l, j, net, fw, relu, force_exact, tau, coef):
    """The path decision and the series of unit ``j`` of layer ``l``: for each row ``n``,
    ``tau[n]``, the largest ``|y|`` for which the series path is used (nudges with
    ``|y| >= tau[n]`` are evaluated exactly), and the odd coefficients ``coef[:, n]``.
    ``ymaxf[l - 1, n]`` is the largest nudge of row ``n`` (``h max(1, max_i |z_{l-1}[n, i]|)``),
    which sets the truncation order of each block of rows. ``net`` and ``fw`` as for
    :func:`_hidden_unit`."""
    sizes, Wf, woff, bf, boff = net
    Af, Zf, aoff, s, q, sT, ATf, ZTf, CTf, hZTf, dTf, ymaxf, t = fw
    N = t.shape[0]
    if force_exact:
        tau[:] = 0.0
        return
    L = sizes.shape[0] - 2
    K = sizes[L + 1]
    PM = ORDER + 1
    hmax = 1
    for m in range(1, L + 2):
        hmax = max(hmax, sizes[m])
    B = _RELU_BLOCK if relu else _SIGMOID_BLOCK
    sf = np.empty(6 * PM * B)
    qb = np.empty(B)
    ymax = ymaxf[l - 1]
    if relu:
        cur = np.empty((hmax, B))
        nxt = np.empty((hmax, B))
        V = np.empty((K, B))
        rad = np.empty(B)
        rho = np.empty(B)
        for lo in range(0, N, B):
            nb = min(B, N - lo)
            _relu_block(l, j, lo, nb, sizes, Wf, woff, ATf, aoff, N, cur, nxt, rad, V)
            worst = 0.0
            for r in range(nb):
                spread = 0.0  # max_k |v_k - v_t|: the log-partition is analytic for
                vt = V[t[lo + r], r]  # |y| spread <= 1/2
                for k in range(K):
                    spread = max(spread, abs(V[k, r] - vt))
                rho[r] = 0.5 / spread
                worst = max(worst, ymax[lo + r] / rho[r])
            P = _series_order(worst)
            ratio = _ORDER_RATIO[(P - 3) // 2]
            for r in range(nb):
                tau[lo + r] = min(rad[r] * (1.0 - KINK_MARGIN), ratio * rho[r])
            _relu_loss_series(V, sT, t, q, lo, nb, P + 1, sf, qb, coef)
    else:
        cur3 = np.empty((hmax, PM, B))
        nxt3 = np.empty((hmax, PM, B))
        Q = np.empty((PM, PM, B))
        D = np.empty((K, PM, B))
        zb = np.empty(B)
        cb = np.empty(B)
        rho_j = _sigmoid_radius(l, j, sizes, Wf, woff, np.empty((2, hmax)))
        blk = np.empty((4, PM, B))
        for lo in range(0, N, B):
            nb = min(B, N - lo)
            worst = 0.0
            for r in range(nb):
                worst = max(worst, ymax[lo + r] / rho_j)
            P = _series_order(worst)
            _sigmoid_block(
                l,
                j,
                lo,
                nb,
                P + 1,
                sizes,
                Wf,
                woff,
                dTf,
                ZTf,
                CTf,
                aoff,
                N,
                cur3,
                nxt3,
                Q,
                blk,
                zb,
                cb,
                D,
            )
            _sigmoid_loss_series(D, sT, t, q, lo, nb, P + 1, sf, qb, coef)
            ratio = _ORDER_RATIO[(P - 3) // 2]
            for r in range(nb):
                tau[lo + r] = ratio * rho_j
    for n in range(N):  # a series that overflowed is not used
        ok = True
        for i in range(_N_ODD):
            ok = ok and np.isfinite(coef[i, n])
        if not ok:
            tau[n] = 0.0


# -- the sums over inputs -------------------------------------------------------------------


@jit
def _guarded_sum(coef, tau, y):
    """``sum_n odd_poly(coef[:, n], y[n])`` over the rows whose nudge takes the series path
    (``|y| < tau``; ``y = 0`` adds 0, the coefficients being finite wherever ``tau > 0``),
    and the number of non-zero nudges that do not. Two loops: with both reductions in one,
    LLVM did not vectorise it (4x slower here)."""
    total = 0.0
    for n in range(y.shape[0]):
        yn = y[n]
        v = _odd_poly(coef[0, n], coef[1, n], coef[2, n], coef[3, n], yn)
        total += v if abs(yn) < tau[n] else 0.0
    nbad = 0
    for n in range(y.shape[0]):
        nbad += 1 if (y[n] != 0.0) & (abs(y[n]) >= tau[n]) else 0
    return total, nbad


@jit
def _column_sum(l, j, coef, tau, y, ex):
    """Half the sum over rows of the central differences of one parameter whose nudge moves
    row ``n`` of unit ``j`` by ``y[n]``: the series rows, then the exact ones, in row order."""
    total, nbad = _guarded_sum(coef, tau, y)
    if nbad > 0:
        for n in range(y.shape[0]):
            yn = y[n]
            if yn != 0.0 and abs(yn) >= tau[n]:
                total += _exact_half_difference(l, j, n, yn, ex)
    return total


@jit
def _hidden_unit(l, j, net, fw, h, lam, relu, force_exact, split, gWTf, gbf):
    """Worker: ``gW_l[:, j]`` (into row ``j`` of the transposed block) and ``gb_l[j]``.

    ``net = (sizes, Wf, woff, bf, boff)``; ``fw``: what :func:`_prepare` computed."""
    sizes, Wf, woff, bf, boff = net
    Af, Zf, aoff, s, q, sT, ATf, ZTf, CTf, hZTf, dTf, ymaxf, t = fw
    N = t.shape[0]
    L = sizes.shape[0] - 2
    hmax = 1
    for m in range(1, L + 2):
        hmax = max(hmax, sizes[m])
    Hp = sizes[l - 1]
    tau = np.empty(N)
    coef = np.empty((_N_ODD, N))
    buf = np.empty((2, hmax))
    _unit_plan(l, j, net, fw, relu, force_exact, tau, coef)
    scale = 1.0 / (N * h)  # (sum_n [F(+y) - F(-y)] / N) / (2h), F(+y) - F(-y) = 2 odd(y)
    hb = np.empty(N)
    hb[:] = h  # the bias: input 1 in every row
    ex = (sizes, Wf, woff, Af, aoff, t, relu, buf)  # what an exact evaluation reads
    gbf[boff[l] + j] = _column_sum(l, j, coef, tau, hb, ex) * scale
    gWT = _view(gWTf, woff[l], sizes[l], Hp)
    W = _view(Wf, woff[l], Hp, sizes[l])
    if l == 1:
        dense_cols, hx_dense, rowptr, cols, hv = split
        acc = np.zeros(Hp)
        # sparse columns, row by row; acc[i] adds its series rows in increasing n, then its
        # exact ones (a second pass, rare: it keeps the exact path out of the hot loop)
        nbad = 0
        for n in range(N):
            c0, c1, c2, c3 = coef[0, n], coef[1, n], coef[2, n], coef[3, n]
            tn = tau[n]
            for e in range(rowptr[n], rowptr[n + 1]):
                y = hv[e]
                ok = abs(y) < tn
                acc[cols[e]] += _odd_poly(c0, c1, c2, c3, y) if ok else 0.0
                nbad += 0 if ok else 1
        if nbad > 0:
            for n in range(N):
                for e in range(rowptr[n], rowptr[n + 1]):
                    if abs(hv[e]) >= tau[n]:
                        acc[cols[e]] += _exact_half_difference(l, j, n, hv[e], ex)
        for d in range(dense_cols.shape[0]):
            acc[dense_cols[d]] = _column_sum(l, j, coef, tau, hx_dense[d], ex)
    else:
        hZT = _view(hZTf, aoff[l - 1], Hp, N)
        acc = np.empty(Hp)
        for i in range(Hp):
            acc[i] = _column_sum(l, j, coef, tau, hZT[i], ex)
    for i in range(Hp):
        gWT[j, i] = acc[i] * scale + lam * W[i, j]


@jit
def _logit_task(k, net, fw, h, lam, series_logits, gWTf, gbf):
    """Worker: ``gW_{L+1}[:, k]`` and ``gb_{L+1}[k]``: the two-layer kernel's logit task
    (``nets._logit_series`` or ``nets._logit_exact``) on the last hidden layer, plus decay."""
    sizes, Wf, woff, bf, boff = net
    Af, aoff, s, q, ZTf, t = fw[0], fw[2], fw[3], fw[4], fw[7], fw[12]
    N = t.shape[0]
    L = sizes.shape[0] - 2
    K = sizes[L + 1]
    HL = sizes[L]
    gWT = _view(gWTf, woff[L + 1], K, HL)
    gb = gbf[boff[L + 1] : boff[L + 1] + K]
    zLT = _view(ZTf, aoff[L], HL, N)
    if series_logits:
        scratch = np.empty((4, ORDER + 1, _BLOCK))
        coef = np.empty((_N_ODD, N))
        _logit_series(k, s, t, q, zLT, h, scratch, coef, gWT, gb)
    else:
        _logit_exact(k, _view(Af, aoff[L + 1], N, K), zLT, t, h, gWT, gb)
    W = _view(Wf, woff[L + 1], HL, K)
    for i in range(HL):
        gWT[k, i] += lam * W[i, k]


@jit_parallel
def _numgrad_tasks(
    order, task_layer, net, fw, h, lam, relu, force_exact, split, series_logits, gWTf, gbf
):
    """Parallel driver: task ``order[r]`` is a unit of layer ``task_layer[task]`` (layers
    ``1..L``: hidden units; ``L+1``: the logits). One parallel region, one parallel compile."""
    sizes = net[0]
    L = sizes.shape[0] - 2
    first = np.zeros(L + 2, dtype=np.int64)  # index of each layer's first task
    for l in range(1, L + 1):
        first[l + 1] = first[l] + sizes[l]
    # task (l, j) writes only row j of layer l's transposed weight gradient and b_l[j]; each
    # allocates its own scratch
    for r in prange(order.shape[0]):
        task = order[r]
        l = task_layer[task]
        j = task - first[l]
        if l <= L:
            _hidden_unit(l, j, net, fw, h, lam, relu, force_exact, split, gWTf, gbf)
        else:
            _logit_task(j, net, fw, h, lam, series_logits, gWTf, gbf)


@jit
def _task_order(sizes):
    """Every layer's tasks spread evenly over the run (layer of each task, and the order):
    task ``k`` of a layer with ``c`` tasks sits at about ``(k + 1/2) / c`` of the way, so each
    thread's contiguous share of the ``prange`` holds its share of every layer's work."""
    L = sizes.shape[0] - 2
    T = 0
    for l in range(1, L + 2):
        T += sizes[l]
    task_layer = np.empty(T, dtype=np.int64)
    key = np.empty(T)
    i = 0
    for l in range(1, L + 2):
        for k in range(sizes[l]):
            task_layer[i] = l
            key[i] = (k + 0.5) / sizes[l]
            i += 1
    return np.argsort(key, kind="mergesort"), task_layer


@jit
def _prepare(sizes, Wf, woff, bf, boff, x, t, h, relu):
    """Forward pass and everything the tasks read, as one tuple ``fw``: the pre-activations
    and activations (and transposed), ``sigmoid(-a)`` and each sigmoid unit's Taylor
    coefficients, the softmax (and transposed) and ``q = p0 / (p0 + eps)`` per row, ``h z`` of
    the hidden layers, and each layer's largest nudge per row."""
    N = x.shape[0]
    L = sizes.shape[0] - 2
    PM = ORDER + 1
    Af, Zf, aoff, s = _forward(sizes, Wf, woff, bf, boff, x, relu)
    q = np.empty(N)
    for n in range(N):
        p0 = s[n, t[n]]
        q[n] = p0 / (p0 + CROSS_ENTROPY_DELTA)
    sT = np.ascontiguousarray(s.T)
    ATf = _transposed(Af, aoff, sizes, N, L)
    ZTf = _transposed(Zf, aoff, sizes, N, L)
    CTf = np.empty(0)
    dTf = np.empty(0)
    if not relu:
        CTf = np.empty(ATf.shape[0])
        for e in range(ATf.shape[0]):
            CTf[e] = 1.0 / (1.0 + np.exp(ATf[e]))  # sigmoid(-a), directly
        dTf = np.empty(ATf.shape[0] * PM)
        u = np.zeros((PM, N))
        u[1, :] = 1.0
        G = np.empty((PM, N))
        for l in range(1, L + 1):
            dT = _layer_series(dTf, aoff, sizes, l, N)
            ZT = _view(ZTf, aoff[l], sizes[l], N)
            CT = _view(CTf, aoff[l], sizes[l], N)
            for k in range(sizes[l]):
                _blk_sigmoid_change(u, PM, ZT[k], CT[k], G, dT[k])
    hZTf = h * ZTf
    ymaxf = np.empty((L, N))
    for n in range(N):
        m = 1.0
        for i in range(x.shape[1]):
            m = max(m, abs(x[n, i]))
        ymaxf[0, n] = h * m
    for l in range(1, L):
        Z = _view(Zf, aoff[l], N, sizes[l])
        for n in range(N):
            m = 1.0
            for i in range(sizes[l]):
                m = max(m, abs(Z[n, i]))
            ymaxf[l, n] = h * m
    return Af, Zf, aoff, s, q, sT, ATf, ZTf, CTf, hZTf, dTf, ymaxf, t


@jit
def _logits_series_ok(sizes, Zf, aoff, h, force_exact):
    """The logit tasks move logit ``k`` by ``h z_L[n, j]`` (biases: ``h``); their series is the
    two-layer kernel's, valid for ``2 h max(1, |z_L|) <= SERIES_RATIO_MAX``."""
    L = sizes.shape[0] - 2
    zmax = 1.0
    for e in range(aoff[L], aoff[L + 1]):
        zmax = max(zmax, abs(Zf[e]))
    return not force_exact and 2.0 * h * zmax <= SERIES_RATIO_MAX


@jit
def _numgrad(sizes, Wf, woff, bf, boff, x, t, h, lam, relu, force_exact):
    """The book's central difference for every parameter: one forward pass, the guards, then
    the parallel driver. Returns the weight gradients transposed (flat) and the biases'."""
    N = x.shape[0]
    net = (sizes, Wf, woff, bf, boff)
    fw = _prepare(sizes, Wf, woff, bf, boff, x, t, h, relu)
    split, _ = _split_columns(x, h, _DENSE_FRACTION * N)
    series_logits = _logits_series_ok(sizes, fw[1], fw[2], h, force_exact)
    order, task_layer = _task_order(sizes)
    gWTf = np.empty(Wf.shape[0])
    gbf = np.empty(bf.shape[0])
    _numgrad_tasks(
        order, task_layer, net, fw, h, lam, relu, force_exact, split, series_logits, gWTf, gbf
    )
    return gWTf, gbf


@jit
def _limits(sizes, Wf, woff, bf, boff, x, t, h, relu, force_exact):
    """Every hidden unit's ``tau`` (flat, ``N x H_l`` per layer at ``aoff[l]``), by the
    kernel's own :func:`_unit_plan`, and whether the logit tasks take the series path."""
    N = x.shape[0]
    L = sizes.shape[0] - 2
    net = (sizes, Wf, woff, bf, boff)
    fw = _prepare(sizes, Wf, woff, bf, boff, x, t, h, relu)
    Zf, aoff = fw[1], fw[2]
    out = np.empty(aoff[L + 1])
    coef = np.empty((_N_ODD, N))
    tau = np.empty(N)
    for l in range(1, L + 1):
        T = _view(out, aoff[l], N, sizes[l])
        for j in range(sizes[l]):
            _unit_plan(l, j, net, fw, relu, force_exact, tau, coef)
            for n in range(N):
                T[n, j] = tau[n]
    return out, aoff, _logits_series_ok(sizes, Zf, aoff, h, force_exact)


# -- forward, loss and backprop ---------------------------------------------------------


@jit
def _scores(sizes, Wf, woff, bf, boff, x, relu):
    Af, Zf, aoff, s = _forward(sizes, Wf, woff, bf, boff, x, relu)
    L = sizes.shape[0] - 2
    return _view(Af, aoff[L + 1], x.shape[0], sizes[L + 1]).copy()


@jit
def _weight_decay(sizes, Wf, woff, lam):
    """``sum_l 0.5 lambda sum(W_l ** 2)``, layer by layer as the book accumulates it."""
    L = sizes.shape[0] - 2
    wd = 0.0
    for l in range(1, L + 2):
        acc = 0.0
        for e in range(woff[l], woff[l] + sizes[l - 1] * sizes[l]):
            acc += Wf[e] * Wf[e]
        wd += 0.5 * lam * acc
    return wd


@jit
def _loss(sizes, Wf, woff, bf, boff, x, t, relu, lam):
    s = _forward(sizes, Wf, woff, bf, boff, x, relu)[3]
    acc = 0.0
    for n in range(x.shape[0]):
        acc += np.log(s[n, t[n]] + CROSS_ENTROPY_DELTA)
    return -acc / x.shape[0] + _weight_decay(sizes, Wf, woff, lam)


@jit_parallel
def _gradient(sizes, Wf, woff, bf, boff, x, t, relu, lam):
    """The book's backprop (sections 5.7 and 6.4.1) for labels ``t``, in parallel, no BLAS:
    weight gradients plus ``lambda W``; the ReLU derivative is 0 where ``a <= 0``."""
    N = x.shape[0]
    L = sizes.shape[0] - 2
    K = sizes[L + 1]
    Af, Zf, aoff, s = _forward(sizes, Wf, woff, bf, boff, x, relu)
    hmax = 1
    for m in range(1, L + 2):
        hmax = max(hmax, sizes[m])
    gWf = np.empty(Wf.shape[0])
    gbf = np.empty(bf.shape[0])
    delta = np.empty((N, hmax))
    dprev = np.empty((N, hmax))
    # iteration n writes only row n
    for n in prange(N):
        for k in range(K):
            delta[n, k] = (s[n, k] - (1.0 if k == t[n] else 0.0)) / N
    for l in range(L + 1, 0, -1):
        H = sizes[l]
        Hp = sizes[l - 1]
        W = _view(Wf, woff[l], Hp, H)
        gW = _view(gWf, woff[l], Hp, H)
        if l == 1:
            inT = np.ascontiguousarray(x.T)
        else:
            inT = np.ascontiguousarray(_view(Zf, aoff[l - 1], N, Hp).T)
        # iteration i writes only row i of gW
        for i in prange(Hp):
            for k in range(H):
                gW[i, k] = 0.0
            for n in range(N):
                v = inT[i, n]
                if v != 0.0:
                    for k in range(H):
                        gW[i, k] += v * delta[n, k]
            for k in range(H):
                gW[i, k] += lam * W[i, k]
        for k in range(H):
            gbf[boff[l] + k] = 0.0
        for n in range(N):
            for k in range(H):
                gbf[boff[l] + k] += delta[n, k]
        if l > 1:
            Ap = _view(Af, aoff[l - 1], N, Hp)
            Zp = _view(Zf, aoff[l - 1], N, Hp)
            # iteration n writes only row n of dprev
            for n in prange(N):
                for i in range(Hp):
                    acc = 0.0
                    for k in range(H):
                        acc += delta[n, k] * W[i, k]
                    if relu:
                        dprev[n, i] = acc if Ap[n, i] > 0.0 else 0.0
                    else:
                        dprev[n, i] = acc * (1.0 - Zp[n, i]) * Zp[n, i]
            delta, dprev = dprev, delta
    return gWf, gbf


# -- the twin class ---------------------------------------------------------------------
#
# No validation beyond what memory safety needs (the front door validates): the parameter
# shapes must chain, ``x`` must match the first layer, labels must be in range. Each parallel
# call holds ``_config.PARALLEL_LOCK``.


def _flat(params: dict[str, Any]) -> tuple[np.ndarray, ...]:
    """``sizes, Wf, woff, bf, boff`` from ``W1, b1, ..., W{L+1}, b{L+1}``; ``ValueError`` if the
    keys or shapes do not chain."""
    n_layers = sum(1 for k in params if isinstance(k, str) and k.startswith("W"))
    names = param_names(n_layers)
    if n_layers < 2 or set(params) != set(names):
        raise ValueError(
            f"params must hold W1, b1, ..., Wn, bn for n >= 2 layers, got keys {sorted(params)}"
        )
    Ws = [np.ascontiguousarray(params[f"W{i}"], dtype=np.float64) for i in range(1, n_layers + 1)]
    bs = [np.ascontiguousarray(params[f"b{i}"], dtype=np.float64) for i in range(1, n_layers + 1)]
    ok = all(W.ndim == 2 for W in Ws)
    ok = ok and all(b.shape == (W.shape[1],) for W, b in zip(Ws, bs, strict=True))
    ok = ok and all(Ws[i].shape[0] == Ws[i - 1].shape[1] for i in range(1, n_layers))
    ok = ok and all(W.size > 0 for W in Ws)
    if not ok:
        shapes = ", ".join(f"{k} {np.shape(params[k])}" for k in names)
        raise ValueError(
            f"params do not chain: {shapes}; expected W_l (n_{{l-1}}, n_l) and b_l (n_l,)"
        )
    sizes = np.array([Ws[0].shape[0]] + [W.shape[1] for W in Ws], dtype=np.int64)
    woff = np.zeros(n_layers + 2, dtype=np.int64)
    boff = np.zeros(n_layers + 2, dtype=np.int64)
    for i in range(1, n_layers + 1):
        woff[i + 1] = woff[i] + Ws[i - 1].size
        boff[i + 1] = boff[i] + bs[i - 1].size
    Wf = np.concatenate([W.ravel() for W in Ws])
    bf = np.concatenate(bs)
    return sizes, Wf, woff, bf, boff


def _unflat(
    sizes: np.ndarray, gWf: np.ndarray, woff: np.ndarray, gbf: np.ndarray, boff, *, transposed: bool
) -> dict[str, np.ndarray]:
    grads = {}
    for l in range(1, sizes.shape[0]):
        block = gWf[woff[l] : woff[l] + sizes[l - 1] * sizes[l]]
        if transposed:
            grads[f"W{l}"] = np.ascontiguousarray(block.reshape(sizes[l], sizes[l - 1]).T)
        else:
            grads[f"W{l}"] = block.reshape(sizes[l - 1], sizes[l]).copy()
        grads[f"b{l}"] = gbf[boff[l] : boff[l] + sizes[l]].copy()
    return grads


def nudge_limits(
    params: dict[str, Any],
    x: Any,
    t: Any,
    h: float = 1e-4,
    activation: str = "relu",
    *,
    exact: bool = False,
) -> tuple[dict[int, np.ndarray], bool]:
    """The kernel's path decision, for tests and diagnostics.

    Returns ``({l: tau_l}, logits_series)``: ``tau_l[n, j]`` is the largest ``|y|`` for which
    a nudge moving unit ``j`` of hidden layer ``l`` by ``y`` in row ``n`` takes the series
    path (``y = h z_{l-1}[n, i]`` for ``W_l[i, j]``, ``h`` for ``b_l[j]``; other nudges, and
    zero ones, are evaluated exactly or skipped), and whether the output layer's tasks take
    the series path. Computed by the same function the kernel calls per unit.
    """
    sizes, Wf, woff, bf, boff = _flat(params)
    x2 = _rows(x, int(sizes[0]))
    labels = _labels(t, x2.shape[0], int(sizes[-1]))
    with PARALLEL_LOCK:
        out, aoff, logits = _limits(
            sizes, Wf, woff, bf, boff, x2, labels, float(h), activation == "relu", exact
        )
    N = x2.shape[0]
    taus = {
        l: out[aoff[l] : aoff[l] + N * sizes[l]].reshape(N, sizes[l])
        for l in range(1, sizes.shape[0] - 1)
    }
    return taus, bool(logits)


class MultiLayerNet:
    """Twin of :class:`fastgrad.reference.MultiLayerNet` on compiled kernels.

    Same constructor and methods; ``numerical_gradient`` is the structure-aware kernel of the
    module docstring (``exact=True`` evaluates every perturbed row loss directly). ``h`` is
    not checked here: :class:`fastgrad.MultiLayerNet` rejects steps the reference cannot
    resolve.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size_list: Any,
        output_size: int,
        activation: str = "relu",
        weight_init_std: float | str = "relu",
        weight_decay_lambda: float = 0,
        *,
        rng: Any = None,
    ) -> None:
        ref = _Reference(
            input_size,
            hidden_size_list,
            output_size,
            activation,
            weight_init_std,
            weight_decay_lambda,
            rng=rng,
        )
        self.params = ref.params
        self.activation = ref.activation
        self.weight_decay_lambda = ref.weight_decay_lambda
        self.hidden_layer_num = ref.hidden_layer_num

    #: A network that uses ``params`` as given (float64, C-ordered arrays): the reference's.
    from_params = classmethod(_Reference.from_params.__func__)

    def _prepare(self, x: Any, t: Any = None) -> tuple[tuple[np.ndarray, ...], np.ndarray, Any]:
        check_activation(self.activation)
        p = _flat(self.params)
        x2 = _rows(x, int(p[0][0]))
        if not x2.flags.writeable:  # a read-only array would compile every kernel again
            x2 = x2.copy()
        return p, x2, None if t is None else _labels(t, x2.shape[0], int(p[0][-1]))

    @property
    def _relu(self) -> bool:
        return self.activation == "relu"

    def predict(self, x: Any) -> np.ndarray:
        """Scores of the last affine layer (logits)."""
        p, x2, _ = self._prepare(x)
        with PARALLEL_LOCK:
            y = _scores(*p, x2, self._relu)
        return y.reshape(np.shape(x)[:-1] + (y.shape[1],))

    def loss(self, x: Any, t: Any) -> float:
        """Softmax cross-entropy plus ``0.5 lambda sum(W ** 2)`` over the weight matrices."""
        p, x2, labels = self._prepare(x, t)
        with PARALLEL_LOCK:
            return float(_loss(*p, x2, labels, self._relu, self.weight_decay_lambda))

    def accuracy(self, x: Any, t: Any) -> float:
        p, x2, labels = self._prepare(x, t)
        with PARALLEL_LOCK:
            y = _scores(*p, x2, self._relu)
        return float(np.sum(np.argmax(y, axis=1) == labels) / float(x2.shape[0]))

    def numerical_gradient(
        self, x: Any, t: Any, h: float = 1e-4, *, exact: bool = False
    ) -> dict[str, np.ndarray]:
        p, x2, labels = self._prepare(x, t)
        with PARALLEL_LOCK:
            gWT, gb = _numgrad(
                *p, x2, labels, float(h), self.weight_decay_lambda, self._relu, bool(exact)
            )
        return _unflat(p[0], gWT, p[2], gb, p[4], transposed=True)

    def gradient(self, x: Any, t: Any) -> dict[str, np.ndarray]:
        p, x2, labels = self._prepare(x, t)
        with PARALLEL_LOCK:
            gW, gb = _gradient(*p, x2, labels, self._relu, self.weight_decay_lambda)
        return _unflat(p[0], gW, p[2], gb, p[4], transposed=False)
