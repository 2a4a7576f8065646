"""The change of a deep network's row loss when one hidden unit moves: its odd Taylor
coefficients and the largest nudge for which they are used (:func:`unit_plan`), for the
multilayer kernel (:mod:`fastgrad.kernels.multilayer`).

ReLU: downstream of the unit the logits move along one direction per row until some
pre-activation changes sign (the kink radius); the loss along it is a series of the
two-layer kernel's kind. Sigmoid: the change is carried as a truncated Taylor series through
every layer below (univariate Taylor mode). Each block of rows takes the lowest order of
:mod:`fastgrad.kernels.series`'s table whose remainder bound holds on a disk of radius
``rho`` where the loss is analytic. Derivation and bounds: ``docs/multilayer.md``.
"""

from __future__ import annotations

import numpy as np

from .._config import jit
from .functions import CROSS_ENTROPY_DELTA
from .powersums import BLOCK_ROWS, power_block, sums_view
from .series import (
    CLOSED_UNIT_ORDER,
    INV_FACT,
    N_ODD,
    ORDER,
    blk_expm1,
    blk_log1p,
    blk_loss_change,
    loss_derivatives,
    order_for,
    order_ratio,
    unit_closed,
)

__all__ = [
    "unit_plan",
    "sigmoid_radius",
    "sigmoid_order_max",
    "layer_series",
    "blk_sigmoid_change",
    "view",
    "KINK_MARGIN",
    "SIGMOID_LIPSCHITZ",
    "LOWEST_ORDER",
]

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
_SIGMOID_BLOCK = BLOCK_ROWS

#: The lowest truncation order of a hidden unit's series (the table is the two-layer
#: kernel's, :data:`fastgrad.kernels.series.SERIES_ORDERS`).
LOWEST_ORDER = 3


@jit
def view(flat, off, rows, cols):
    """The ``(rows, cols)`` matrix stored at ``flat[off:]`` (the kernels' flat storage of a
    network's per-layer arrays)."""
    return flat[off : off + rows * cols].reshape((rows, cols))


# -- the series of F_nj: directions (ReLU) and Taylor mode (sigmoid) ------------------------
#
# Blocks of B rows, rows innermost, as in ``kernels.nets``. Every index below is provably
# non-negative to LLVM (loop variables, or ``max(., 0)``): a possibly negative index makes
# Numba emit wrap-around code that stopped these loops from vectorising (8x slower here).


@jit
def blk_sigmoid_change(u, P1, z0, c0, G, out):
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
def _loss_series_tail(mm, q, lo, nb, sf, qb, coef):
    """From the series of ``M - 1`` (``M`` the log-partition along the change, centred at the
    target logit: ``log(p / p0) = -log(M)``) to the odd coefficients of the row-loss change,
    with the book's ``-log(p + 1e-7)`` (``series.blk_loss_change``), rows ``lo:lo+nb``."""
    P1 = mm.shape[0]
    B = mm.shape[1]
    lo = max(lo, 0)
    lg = view(sf, 3 * P1 * B, P1, B)
    g = view(sf, 4 * P1 * B, P1, B)
    tmp = view(sf, 5 * P1 * B, P1, B)
    blk_log1p(mm, lg)
    for p in range(1, P1):
        for r in range(B):
            lg[p, r] = -lg[p, r]
    for r in range(B):
        qb[r] = q[lo + r] if r < nb else 0.0
    blk_loss_change(lg, qb, tmp, g)
    for i in range(N_ODD):
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
    ``sum_k s_k (v_k - v_t)^p / p!``: ``series.unit_series``'s log-partition, with a direction
    per row. Order ``P1 - 1``."""
    K, B = V.shape
    lo = max(lo, 0)
    mm = view(sf, 0, P1, B)
    aux = view(sf, P1 * B, P1, B)  # rows: w, w^p s_k, v_t (P1 >= 4)
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
            c = INV_FACT[p]
            for r in range(nb):
                aux[1, r] *= aux[0, r]
                mm[p, r] += aux[1, r] * c
    _loss_series_tail(mm, q, lo, nb, sf, qb, coef)


@jit
def _relu_loss_closed(V, sT, t, q, lo, nb, P, mom, coef):
    """:func:`_relu_loss_series` in closed form for ``P <= CLOSED_UNIT_ORDER``: the logits move
    by ``y V[:, r]``, linearly, so the coefficients are the loss change's own derivatives along
    that direction (:func:`fastgrad.kernels.series.loss_derivatives`, from the moments of
    ``V[:, r] - V[t, r]`` under the softmax): ``c1 = G1``, ``c3 = G3 / 3!``, ``c5 = G5 / 5!``,
    the rest 0. ``mom``: scratch, ``(6, B)``, rows innermost."""
    K = V.shape[0]
    lo = max(lo, 0)
    for i in range(6):
        for r in range(nb):
            mom[i, r] = 0.0
    for r in range(nb):
        mom[5, r] = V[max(t[lo + r], 0), r]
    for k in range(K):
        for r in range(nb):
            mom[0, r] += sT[k, lo + r] * (V[k, r] - mom[5, r])
    if P >= 3:  # the 4th and 5th central moments only where c5 needs them
        for k in range(K):
            for r in range(nb):
                e = (V[k, r] - mom[5, r]) - mom[0, r]
                se2 = sT[k, lo + r] * e * e
                mom[1, r] += se2
                mom[2, r] += se2 * e
                if P >= 5:
                    mom[3, r] += se2 * e * e
                    mom[4, r] += se2 * e * e * e
    for r in range(nb):
        n = lo + r
        qc = CROSS_ENTROPY_DELTA / (sT[max(t[n], 0), n] + CROSS_ENTROPY_DELTA)  # 1 - q
        G1, _, G3, _, G5 = loss_derivatives(
            q[n], qc, mom[0, r], mom[1, r], mom[2, r], mom[3, r], mom[4, r]
        )
        coef[0, n] = G1
        coef[1, n] = G3 / 6.0 if P >= 3 else 0.0
        coef[2, n] = G5 / 120.0 if P >= 5 else 0.0
        for i in range(3, N_ODD):
            coef[i, n] = 0.0


@jit
def _sigmoid_loss_series(D, sT, t, q, lo, nb, P1, sf, qb, coef):
    """Sigmoid: ``M - 1 = sum_k s_k (exp(D_k - D_t) - 1)`` from the series ``D`` of the logits'
    change (``K x (ORDER + 1) x B``, no constant term), order ``P1 - 1``."""
    K = D.shape[0]
    B = D.shape[2]
    lo = max(lo, 0)
    mm = view(sf, 0, P1, B)
    dv = view(sf, P1 * B, P1, B)
    e = view(sf, 2 * P1 * B, P1, B)
    for p in range(P1):
        for r in range(B):
            mm[p, r] = 0.0
            dv[p, r] = 0.0
    for k in range(K):
        for p in range(1, P1):
            for r in range(nb):
                dv[p, r] = D[k, p, r] - D[max(t[lo + r], 0), p, r]
        blk_expm1(dv, e)
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
    ATl = view(ATf, aoff[l], sizes[l], N)
    arow = ATl[j, lo : lo + nb]
    for r in range(nb):
        rad[r] = abs(arow[r])
    W = view(Wf, woff[l + 1], sizes[l], sizes[l + 1])
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
        ATm = view(ATf, aoff[m], sizes[m], N)
        Hn = sizes[m + 1]
        Wn = view(Wf, woff[m + 1], sizes[m], Hn)
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
def _quotient_radius(arow, AT, w, lo, nb, rad):
    """``rad[r] = min(rad[r], min_k |AT[k, lo + r]| / |w[k]|)`` where the unit is on
    (``arow[r] > 0``): where it is on, the next layer's unit ``k`` moves by ``y w[k]``. Each
    quotient as a product by the weight's reciprocal, within 2 ulps of it."""
    lo = max(lo, 0)
    for k in range(w.shape[0]):
        am = AT[k, lo : lo + nb]
        wk = abs(w[k])
        if wk == 0.0:
            continue
        inv = 1.0 / wk
        if inv < np.inf:
            for r in range(nb):
                rad[r] = min(rad[r], abs(am[r]) * inv) if arow[r] > 0.0 else rad[r]
        else:  # a subnormal weight: 1 / w overflows
            for r in range(nb):
                rad[r] = min(rad[r], abs(am[r]) / wk) if arow[r] > 0.0 else rad[r]


@jit
def _relu_next_block(l, j, lo, nb, sizes, Wf, woff, ATf, aoff, N, E, floor, ymax, rad, V):
    """:func:`_relu_block` for a unit of layer ``L - 1``: the direction read from the power
    sums ``E_1`` (:mod:`fastgrad.kernels.powersums`, with ``d_k1`` the mask of layer ``L``):
    ``V[:, r] = E_1[j, lo + r]`` where the unit is on; and a kink radius that decides as the
    chain's does. Layer ``L``'s part of it, ``min_k |a_L[n, k]| / |W_L[j, k]|``, is at least
    ``floor[n] / max_k |W_L[j, k]|`` (``floor[n] = min_k |a_L[n, k]|``); where that bound
    keeps every nudge of the block's rows (at most ``ymax[n]``) inside the margin, it stands
    for the radius (no nudge decides otherwise), else the quotients are taken one by one."""
    K = sizes[l + 2]
    H = sizes[l + 1]
    lo = max(lo, 0)
    j = max(j, 0)
    arow = view(ATf, aoff[l], sizes[l], N)[j, lo : lo + nb]
    W = view(Wf, woff[l + 1], sizes[l], H)
    wmax = 0.0
    for k in range(H):
        wmax = max(wmax, abs(W[j, k]))
    bounded = wmax > 0.0
    for r in range(nb):
        rad[r] = abs(arow[r])
        bounded = bounded and floor[lo + r] / wmax * (1.0 - KINK_MARGIN) > ymax[lo + r]
    if bounded:
        for r in range(nb):
            rad[r] = min(rad[r], floor[lo + r] / wmax) if arow[r] > 0.0 else rad[r]
    else:
        _quotient_radius(arow, view(ATf, aoff[l + 1], H, N), W[j], lo, nb, rad)
    for sb in range(lo, lo + nb, BLOCK_ROWS):  # the power sums' blocks within this one
        snb = min(BLOCK_ROWS, lo + nb - sb)
        e1 = sums_view(E, 1, sizes[l], K, sb, snb)[j]
        for k2 in range(K):
            for r in range(snb):
                V[k2, sb - lo + r] = e1[k2 * snb + r] if arow[sb - lo + r] > 0.0 else 0.0


@jit
def layer_series(dTf, aoff, sizes, l, N):
    """Layer ``l``'s sigmoid Taylor coefficients ``dT[k, p, n] = sigma^(p)(a_l[n, k]) / p!``."""
    PM = ORDER + 1
    return dTf[aoff[l] * PM : aoff[l + 1] * PM].reshape((sizes[l], PM, N))


@jit
def _store_block(cb, lo, nb, P, coef):
    """Rows ``0:nb`` of a block's closed-form coefficients into ``coef[:, lo:lo+nb]``; the
    terms beyond order ``P`` zero."""
    lo = max(lo, 0)
    for i in range(N_ODD):
        for r in range(nb):
            coef[i, lo + r] = cb[i, r] if 2 * i + 1 <= P else 0.0


@jit
def _next_closed(E, mu, Hp, j, lo, nb, zT, cT, sT, t, q, mom, coef):
    """Sigmoid, unit ``j`` of layer ``L - 1`` (``Hp`` units): ``c1`` and ``c3`` of rows
    ``lo:lo+nb`` in closed form (order 3) from the power sums ``E`` and ``mu``
    (:func:`fastgrad.kernels.powersums.power_sums`). The logits move by ``D(sigma) = E_1 sigma
    + E_2 sigma^2 + E_3 sigma^3``, ``sigma`` the unit's change. The loss change in ``sigma`` has
    ``G1 = Phi1[E_1]``, ``G2 = Phi2[E_1, E_1] + 2 Phi1[E_2]``, ``G3 = Phi3[E_1, E_1, E_1] +
    6 Phi2[E_1, E_2] + 6 Phi1[E_3]`` (``Phi`` the loss change's derivatives in the logits:
    ``Phi1[a] = q mu_a``, ``Phi2[a, b] = q cov(a, b) - q (1 - q) mu_a mu_b``, means and
    covariances of ``a - a_t`` under the softmax, and along ``E_1``
    :func:`fastgrad.kernels.series.loss_derivatives`), composed with the sigmoid's change as
    :func:`fastgrad.kernels.series.unit_closed` does. ``mom``: ``(7, B)`` scratch."""
    K = sT.shape[0]
    lo = max(lo, 0)
    j = max(j, 0)
    e1 = sums_view(E, 1, Hp, K, lo, nb)[j]
    e2 = sums_view(E, 2, Hp, K, lo, nb)[j]
    for i in range(5):
        for r in range(nb):
            mom[i, r] = 0.0
    for r in range(nb):  # the target's E_1, E_2 (rows 5, 6)
        tk = max(t[lo + r], 0) * nb + r
        mom[5, r] = e1[tk]
        mom[6, r] = e2[tk]
    for k in range(K):  # the means of E_m - E_m[t] under the softmax (rows 0, 1)
        for r in range(nb):
            sk = sT[k, lo + r]
            mom[0, r] += sk * (e1[k * nb + r] - mom[5, r])
            mom[1, r] += sk * (e2[k * nb + r] - mom[6, r])
    for k in range(K):  # var and third moment of E_1, cov(E_1, E_2) (rows 2-4)
        for r in range(nb):
            sk = sT[k, lo + r]
            d1 = (e1[k * nb + r] - mom[5, r]) - mom[0, r]
            d2 = (e2[k * nb + r] - mom[6, r]) - mom[1, r]
            mom[2, r] += sk * d1 * d1
            mom[3, r] += sk * d1 * d1 * d1
            mom[4, r] += sk * d1 * d2
    for r in range(nb):
        n = lo + r
        qn = q[n]
        qc = CROSS_ENTROPY_DELTA / (sT[max(t[n], 0), n] + CROSS_ENTROPY_DELTA)  # 1 - q
        G1, G2, G3, _, _ = loss_derivatives(qn, qc, mom[0, r], mom[2, r], mom[3, r], 0.0, 0.0)
        G2 += 2.0 * qn * mom[1, r]
        G3 += 6.0 * (qn * mom[4, r] - qn * qc * mom[0, r] * mom[1, r]) + 6.0 * qn * mu[j, n]
        z = zT[n]
        zc = cT[n]
        v = z * zc
        coef[0, n] = G1 * v
        coef[1, n] = (G1 * v * (1.0 - 6.0 * v) + 3.0 * G2 * v * v * (zc - z) + G3 * v**3) / 6.0
        for i in range(2, N_ODD):
            coef[i, n] = 0.0


@jit
def _sigmoid_block(l, j, lo, nb, P1, net, fw, work, blk, zb, cb, D):
    """Sigmoid: the series ``D`` (order ``P1 - 1``) of the logits' change when unit ``j`` of
    layer ``l`` moves by ``y``, rows ``lo:lo+nb``, carried through every layer below.

    The unit's change is its Taylor series ``S`` (precomputed, ``dTf``). Each unit ``k`` of
    the next layer moves by ``w_k S`` and changes by ``sum_m d_km w_k^m S^m``: the powers
    ``S^m`` are shared by all ``k`` and the ``d_km`` precomputed, so when the next layer feeds
    the logits its contribution is summed per power first, for every unit and row at once
    (the power sums ``fw[13]``, ``fw[14]``: :mod:`fastgrad.kernels.powersums`); otherwise
    :func:`_next_layer` carries it, and further layers take a general series through the
    sigmoid's ODE (:func:`_deeper_layers`).
    """
    sizes, Wf, woff = net[0], net[1], net[2]
    aoff, ZTf, CTf, dTf = fw[2], fw[7], fw[8], fw[10]
    N = fw[12].shape[0]
    cur, nxt, Q = work
    L = sizes.shape[0] - 2
    B = D.shape[2]
    lo = max(lo, 0)
    j = max(j, 0)
    S = Q[1]
    dT = layer_series(dTf, aoff, sizes, l, N)
    for p in range(P1):
        for r in range(B):
            S[p, r] = 0.0
    for p in range(1, P1):
        for r in range(nb):
            S[p, r] = dT[j, p, lo + r]
    W = view(Wf, woff[l + 1], sizes[l], sizes[l + 1])
    if l == L:
        for k in range(sizes[L + 1]):
            w = W[j, k]
            for p in range(P1):
                for r in range(B):
                    D[k, p, r] = w * S[p, r]
        return
    _powers(Q, P1)
    if l + 1 < L:
        _next_layer(l, j, lo, nb, P1, sizes, Wf, woff, dTf, aoff, N, Q, blk, nxt)
    else:  # D_k2 = sum_m E[k2, m] S^m, the power sums E computed for every unit at once
        power_block(fw[13], sizes[l], j, lo, nb, P1, D)
        for k2 in range(sizes[L + 1]):
            for p in range(P1 - 1, 0, -1):
                for r in range(B):
                    D[k2, p, r] *= Q[p, p, r]
                for m in range(1, p):
                    for r in range(B):
                        D[k2, p, r] += D[k2, m, r] * Q[m, p, r]
        return
    _deeper_layers(l, lo, nb, P1, sizes, Wf, woff, ZTf, CTf, aoff, N, nxt, cur, blk, zb, cb, D)


@jit
def _powers(Q, P1):
    """``Q[m] = S^m`` for ``m = 2 .. P1 - 1`` from ``S = Q[1]``, truncated at order ``P1 - 1``
    (``S^m`` starts at order ``m``)."""
    S = Q[1]
    B = S.shape[1]
    for m in range(2, P1):
        for p in range(P1):
            for r in range(B):
                Q[m, p, r] = 0.0
        for p in range(m, P1):
            for i in range(1, p - m + 2):
                pi = max(p - i, 0)
                for r in range(B):
                    Q[m, p, r] += S[i, r] * Q[m - 1, pi, r]


@jit
def _next_layer(l, j, lo, nb, P1, sizes, Wf, woff, dTf, aoff, N, Q, blk, E):
    """``E[k2]``: the layer after next's pre-activation changes ``sum_k Wn[k, k2] dz_k``, with
    ``dz_k = sum_m d_km w_k^m S^m``, for a layer ``l + 1`` that does not feed the logits
    (those take :func:`fastgrad.kernels.powersums.power_sums`)."""
    B = E.shape[2]
    W = view(Wf, woff[l + 1], sizes[l], sizes[l + 1])
    dTn = layer_series(dTf, aoff, sizes, l + 1, N)
    c = blk[2]
    for p in range(P1):
        for r in range(B):
            c[p, r] = 0.0
    Hn = sizes[l + 2]
    Wn = view(Wf, woff[l + 2], sizes[l + 1], Hn)
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
        for p in range(P1):  # dz_k = sum_m c_m S^m
            for r in range(B):
                dz[p, r] = 0.0
        for m in range(1, P1):
            for p in range(m, P1):
                for r in range(B):
                    dz[p, r] += c[m, r] * Q[m, p, r]
        for k2 in range(Hn):
            w2 = Wn[k, k2]
            for p in range(1, P1):
                for r in range(B):
                    E[k2, p, r] += w2 * dz[p, r]


@jit
def _deeper_layers(l, lo, nb, P1, sizes, Wf, woff, ZTf, CTf, aoff, N, cur, nxt, blk, zb, cb, D):
    """Layers ``l + 2 .. L``: each unit's change ``cur[k]`` through its sigmoid (the ODE,
    :func:`blk_sigmoid_change`), accumulated through ``W`` into the next layer, the last into
    the logits' ``D``."""
    L = sizes.shape[0] - 2
    B = D.shape[2]
    u, G = blk[0], blk[1]
    for m in range(l + 2, L + 1):
        Hn = sizes[m + 1]
        Wn = view(Wf, woff[m + 1], sizes[m], Hn)
        out = D if m == L else nxt
        for k2 in range(Hn):
            for p in range(P1):
                for r in range(B):
                    out[k2, p, r] = 0.0
        for k in range(sizes[m]):
            uk = cur[k]
            _load_sigmoid_base(m, k, lo, nb, sizes, ZTf, CTf, aoff, N, zb, cb)
            blk_sigmoid_change(uk, P1, zb, cb, G, u)
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
    zrow = view(ZTf, aoff[m], sizes[m], N)[k, lo : lo + nb]
    crow = view(CTf, aoff[m], sizes[m], N)[k, lo : lo + nb]
    for r in range(zb.shape[0]):
        zb[r] = 0.0
        cb[r] = 0.0
    for r in range(nb):
        zb[r] = zrow[r]
        cb[r] = crow[r]


@jit
def sigmoid_radius(l, j, sizes, Wf, woff, ebuf):
    """Radius ``rho`` of a disk of complex ``y`` on which ``F_nj`` (sigmoid network) is
    analytic and bounded by 5, for every row: ``|Delta a| <= 1`` at every sigmoid (so each
    multiplies a change by at most ``SIGMOID_LIPSCHITZ``) and ``|Delta_k - Delta_t| <= 1/2``
    at the logits (the log-partition has no zero there). Bounds propagate with ``|W|``."""
    L = sizes.shape[0] - 2
    K = sizes[L + 1]
    worst = 1.0  # the nudged unit's own |Delta a| = |y|
    c = 0
    W = view(Wf, woff[l + 1], sizes[l], sizes[l + 1])
    for k in range(sizes[l + 1]):
        ebuf[c, k] = SIGMOID_LIPSCHITZ * abs(W[j, k])
    for m in range(l + 1, L + 1):
        Hn = sizes[m + 1]
        Wn = view(Wf, woff[m + 1], sizes[m], Hn)
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
def sigmoid_order_max(l, sizes, Wf, woff, ymax):
    """The highest truncation order that :func:`unit_plan` takes for any block of rows of a
    unit of sigmoid layer ``l`` (``ymax``: the layer's largest nudge per row)."""
    ebuf = np.empty((2, _widest(sizes)))
    worst = 0.0
    for j in range(sizes[l]):
        rho_j = sigmoid_radius(l, j, sizes, Wf, woff, ebuf)
        for n in range(ymax.shape[0]):
            worst = max(worst, ymax[n] / rho_j)
    return order_for(worst, LOWEST_ORDER)


@jit
def unit_plan(l, j, net, fw, relu, force_exact, tau, coef):
    """The path decision and the series of unit ``j`` of layer ``l``: for each row ``n``,
    ``tau[n]``, the largest ``|y|`` for which the series path is used (nudges with
    ``|y| >= tau[n]`` are evaluated exactly), and the odd coefficients ``coef[:, n]``.
    ``ymaxf[l - 1, n]`` is the largest nudge of row ``n`` (``h max(1, max_i |z_{l-1}[n, i]|)``),
    which sets the truncation order of each block of rows. ``net`` (the flat parameters) and
    ``fw`` (the forward pass) as the multilayer kernel's ``_hidden_unit`` passes them."""
    if force_exact:
        tau[:] = 0.0
        return
    if relu:
        _relu_plan(l, j, net, fw, tau, coef)
    else:
        _sigmoid_plan(l, j, net, fw, tau, coef)
    for n in range(tau.shape[0]):  # a series that overflowed is not used
        ok = True
        for i in range(N_ODD):
            ok = ok and np.isfinite(coef[i, n])
        if not ok:
            tau[n] = 0.0


@jit
def _widest(sizes):
    """The widest layer after the input."""
    hmax = 1
    for m in range(1, sizes.shape[0]):
        hmax = max(hmax, sizes[m])
    return hmax


@jit
def _relu_plan(l, j, net, fw, tau, coef):
    """:func:`unit_plan` for ReLU: per block of rows, the directions and kink radii, the order
    from the largest ``|y| / rho`` (``rho = 1 / (2 max_k |v_k - v_t|)``, where the
    log-partition stays analytic), ``tau = min(r (1 - KINK_MARGIN), R_P rho)``; the
    coefficients in closed form up to ``CLOSED_UNIT_ORDER``, by series arithmetic beyond. The
    directions of layer ``L - 1`` come from the power sums (``fw[13]``), the deeper ones from
    the chain of masked mat-vecs."""
    sizes, Wf, woff, bf, boff = net
    Af, Zf, aoff, s, q, sT, ATf, ZTf, CTf, hZTf, dTf, ymaxf, t, Ef, muf = fw
    N = t.shape[0]
    L = sizes.shape[0] - 2
    K = sizes[L + 1]
    B = _RELU_BLOCK
    hmax = _widest(sizes)
    sf = np.empty(6 * (ORDER + 1) * B)
    qb = np.empty(B)
    ymax = ymaxf[l - 1]
    chain = hmax if l < L - 1 else 0  # the chain of mat-vecs runs below layer L - 1 only
    cur = np.empty((chain, B))
    nxt = np.empty((chain, B))
    V = np.empty((K, B))
    rad = np.empty(B)
    rho = np.empty(B)
    for lo in range(0, N, B):
        nb = min(B, N - lo)
        if l == L - 1:
            _relu_next_block(l, j, lo, nb, sizes, Wf, woff, ATf, aoff, N, Ef, muf[0], ymax, rad, V)
        else:
            _relu_block(l, j, lo, nb, sizes, Wf, woff, ATf, aoff, N, cur, nxt, rad, V)
        worst = 0.0
        for r in range(nb):
            spread = 0.0  # max_k |v_k - v_t|: the log-partition is analytic for
            vt = V[t[lo + r], r]  # |y| spread <= 1/2
            for k in range(K):
                spread = max(spread, abs(V[k, r] - vt))
            rho[r] = 0.5 / spread
            worst = max(worst, ymax[lo + r] / rho[r])
        P = order_for(worst, LOWEST_ORDER)
        ratio = order_ratio(P)
        for r in range(nb):
            tau[lo + r] = min(rad[r] * (1.0 - KINK_MARGIN), ratio * rho[r])
        if P <= CLOSED_UNIT_ORDER:
            _relu_loss_closed(V, sT, t, q, lo, nb, P, view(sf, 0, 6, B), coef)
        else:
            _relu_loss_series(V, sT, t, q, lo, nb, P + 1, sf, qb, coef)


@jit
def _sigmoid_plan(l, j, net, fw, tau, coef):
    """:func:`unit_plan` for the sigmoid: one radius per unit (:func:`sigmoid_radius`), the
    order per block of rows from its largest ``|y| / rho``, ``tau = R_P rho``; the
    coefficients in closed form for the last two hidden layers at the orders the book's step
    takes (the last: up to ``CLOSED_UNIT_ORDER``; the one before: 3), by series arithmetic
    otherwise."""
    sizes, Wf, woff, bf, boff = net
    Af, Zf, aoff, s, q, sT, ATf, ZTf, CTf, hZTf, dTf, ymaxf, t, Ef, muf = fw
    N = t.shape[0]
    K = sizes[sizes.shape[0] - 1]
    PM = ORDER + 1
    B = _SIGMOID_BLOCK
    hmax = _widest(sizes)
    sf = np.empty(6 * PM * B)
    qb = np.empty(B)
    ymax = ymaxf[l - 1]
    work = (np.empty((hmax, PM, B)), np.empty((hmax, PM, B)), np.empty((PM, PM, B)))
    D = np.empty((K, PM, B))
    zb = np.empty(B)
    cb = np.empty(B)
    rho_j = sigmoid_radius(l, j, sizes, Wf, woff, np.empty((2, hmax)))
    blk = np.empty((4, PM, B))
    L = sizes.shape[0] - 2
    zT = view(ZTf, aoff[l], sizes[l], N)[j]
    cT = view(CTf, aoff[l], sizes[l], N)[j]
    for lo in range(0, N, B):
        nb = min(B, N - lo)
        worst = 0.0
        for r in range(nb):
            worst = max(worst, ymax[lo + r] / rho_j)
        P = order_for(worst, LOWEST_ORDER)
        if l == L and P <= CLOSED_UNIT_ORDER:  # the two-layer kernel's closed form
            w = view(Wf, woff[L + 1], sizes[L], K)[j]
            unit_closed(w, sT[:, lo : lo + nb], t[lo : lo + nb], q[lo : lo + nb],
                        cT[lo : lo + nb], zT[lo : lo + nb], P, blk[0])  # fmt: skip
            _store_block(blk[0], lo, nb, P, coef)
        elif l == L - 1 and P == 3:  # closed form from the power sums
            _next_closed(Ef, muf, sizes[l], j, lo, nb, zT, cT, sT, t, q, blk[0], coef)
        else:
            _sigmoid_block(l, j, lo, nb, P + 1, net, fw, work, blk, zb, cb, D)
            _sigmoid_loss_series(D, sT, t, q, lo, nb, P + 1, sf, qb, coef)
        ratio = order_ratio(P)
        for r in range(nb):
            tau[lo + r] = ratio * rho_j
