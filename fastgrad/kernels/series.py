"""The series path shared by the network kernels: truncated Taylor series of one row's loss
change, their closed forms, and the one table that picks a truncation order from the bound.

A nudge ``y`` of one pre-activation changes a row's loss by ``F(y)``; the central difference
keeps its odd terms, ``F(y) - F(-y) = 2 (c1 y + c3 y^3 + ...)``. The coefficients come from
power-series arithmetic on blocks of rows (``blk_*``, :func:`unit_series`,
:func:`logit_row_series`) or, up to order 5, in closed form (:func:`unit_closed`,
:func:`logit_closed`). A Cauchy bound on the remainder chooses the lowest order that keeps it
below the guard's 7e-19 per row (:data:`SERIES_ORDERS`, :func:`series_order`,
:func:`order_for`). Derivation and bound: ``docs/design.md``, "The series path" and "The
truncation order"; the deeper networks' use: ``docs/multilayer.md``.
"""

from __future__ import annotations

import numpy as np

from .._config import jit
from .functions import CROSS_ENTROPY_DELTA

#: The highest truncation order: the odd terms 1, 3, 5, 7 (:func:`odd_poly` is written out
#: for it).
ORDER = 7
#: Odd coefficients per row: ``c1, c3, c5, c7``.
N_ODD = (ORDER + 1) // 2
#: Largest ``h * max|x| * max(1, 4 R_j)`` for which the series path is used: the remainder
#: of order ``ORDER`` is then below ``5 * 0.008**9 = 7e-19`` per row.
SERIES_RATIO_MAX = 0.008
#: The bound every order keeps on a row's neglected terms, ``6.7e-19``.
REMAINDER_MAX = 5 * SERIES_RATIO_MAX ** (ORDER + 2) / (1 - SERIES_RATIO_MAX**2)
#: ``1 / p!`` for ``p = 0 .. ORDER``.
INV_FACT = np.array([1.0 / np.prod(np.arange(1.0, p + 1.0)) for p in range(ORDER + 1)])
#: Rows per block of the series arithmetic: the scratch of one block stays in L1/L2.
BLOCK = 64
#: The odd truncation orders, lowest first.
SERIES_ORDERS = np.array([1, 3, 5, ORDER])
#: For each order ``P``, the largest ratio at which its remainder bound
#: ``5 ratio^(P+2) / (1 - ratio^2)`` is at most the bound of ``ORDER`` at
#: ``SERIES_RATIO_MAX``: ``SERIES_RATIO_MAX ** ((ORDER + 2) / (P + 2))``.
SERIES_ORDER_RATIO = SERIES_RATIO_MAX ** ((ORDER + 2) / (SERIES_ORDERS + 2.0))
#: The order code of a task that takes the exact path.
EXACT = 0
#: The highest orders with closed-form coefficients (hidden units, logits); higher orders
#: take the series arithmetic, compiled on first need only.
CLOSED_UNIT_ORDER, CLOSED_LOGIT_ORDER = 5, 5


# -- the truncation order ---------------------------------------------------------------------


@jit
def series_order(ratio):
    """The lowest order of :data:`SERIES_ORDERS` whose remainder bound holds at ``ratio``
    (``docs/design.md``, "The truncation order"); ``EXACT`` where none does."""
    for i in range(SERIES_ORDERS.shape[0]):
        if ratio <= SERIES_ORDER_RATIO[i]:
            return SERIES_ORDERS[i]
    return EXACT


@jit
def order_for(ratio, lowest):
    """The lowest order of :data:`SERIES_ORDERS`, at least ``lowest``, whose remainder bound
    holds at ``ratio``; ``ORDER`` when none does (the caller then evaluates the nudges beyond
    :func:`order_ratio` exactly)."""
    for i in range(SERIES_ORDERS.shape[0]):
        if SERIES_ORDERS[i] >= lowest and ratio <= SERIES_ORDER_RATIO[i]:
            return SERIES_ORDERS[i]
    return ORDER


@jit
def order_ratio(P):
    """The largest ratio at which order ``P``'s remainder bound holds."""
    return SERIES_ORDER_RATIO[(P - 1) // 2]


# -- power series on blocks of rows ----------------------------------------------------------
#
# A block is an array (ORDER + 1, B): coefficient p of the series of each of B rows, the
# constant term first. Every loop runs innermost over the rows, so LLVM vectorises it. The
# order is read from the array shape, not the constant ORDER: with a constant trip count LLVM
# unrolled every nested coefficient loop and one cold compile took minutes.


@jit
def blk_log1p(u, out):
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
def blk_expm1(v, out):
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
def blk_loss_change(log_ratio, q, tmp, out):
    """Series of the row-loss change ``-log(p + eps) + log(p0 + eps)`` from the series of
    ``log(p / p0)``: with ``q = p0 / (p0 + eps)``, it is ``-log(1 + q (p / p0 - 1))``."""
    P1 = log_ratio.shape[0]  # ORDER + 1, read at run time: no full unrolling
    B = log_ratio.shape[1]
    blk_expm1(log_ratio, tmp)
    for p in range(1, P1):
        for r in range(B):
            tmp[p, r] *= q[r]
    blk_log1p(tmp, out)
    for p in range(1, P1):
        for r in range(B):
            out[p, r] = -out[p, r]


@jit
def unit_series(w2j, s, t, q, zcj, z1j, lo, scratch, coef):
    """Odd Taylor coefficients of ``F_nj(y)``, rows ``lo:lo+B``, into ``coef[:, lo:lo+B]``.

    ``F_nj(y)`` is the change of row loss ``l_n`` when hidden unit ``j``'s pre-activation
    moves by ``y``: the sigmoid, then the logits along ``W2[j, :]``, then softmax and the
    book's ``-log(p + 1e-7)``, composed as power series.
    """
    P1 = scratch[0].shape[0]  # ORDER + 1, read at run time: no full unrolling
    B = min(BLOCK, s.shape[0] - lo)
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
                m[p, r] += pw * INV_FACT[p]
    blk_log1p(m, lg)
    for p in range(1, P1):
        for r in range(B):
            lg[p, r] = -lg[p, r]
    blk_loss_change(lg, q[lo : lo + B], tmp, g)
    # Delta z(y) = sigmoid(a + y) - sigmoid(a): S' = S (1 - S), with 1 - S carried as its own
    # series C, C[0] = 1 - S from the forward pass (computed there without cancellation)
    for r in range(B):
        dz[0, r] = z1j[lo + r]
        tmp[0, r] = zcj[lo + r]
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
        blk_mul_const(acc, dz, tmp)
        for pp in range(P1):
            acc[pp, :B] = tmp[pp, :B]
    for i in range(P1 // 2):  # the odd coefficients up to the order; the caller zeroes the rest
        coef[i, lo : lo + B] = acc[2 * i + 1, :B]


@jit
def blk_mul_const(a, b, out):
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
def logit_row_series(s, t, q, k, lo, scratch, coef):
    """Odd Taylor coefficients of the change of row loss when logit ``k`` moves by ``u``,
    rows ``lo:lo+B``, into ``coef[:, lo:lo+B]``."""
    P1 = scratch[0].shape[0]  # ORDER + 1, read at run time: no full unrolling
    B = min(BLOCK, s.shape[0] - lo)
    e, lg, g, tmp = scratch[0], scratch[1], scratch[2], scratch[3]
    # log(p(u) / p0) = [k == t] u - log(1 + s_k (exp(u) - 1))
    for r in range(B):
        e[0, r] = 0.0
        for p in range(1, P1):
            e[p, r] = s[lo + r, k] * INV_FACT[p]
    blk_log1p(e, lg)
    for p in range(1, P1):
        for r in range(B):
            lg[p, r] = -lg[p, r]
    for r in range(B):
        if t[lo + r] == k:
            lg[1, r] += 1.0
    blk_loss_change(lg, q[lo : lo + B], tmp, g)
    for i in range(P1 // 2):  # the odd coefficients up to the order; the caller zeroes the rest
        coef[i, lo : lo + B] = g[2 * i + 1, :B]


@jit
def odd_poly(c0, c1, c2, c3, y):
    """``c0 y + c1 y^3 + c2 y^5 + c3 y^7`` (written out for ``ORDER = 7``): half the central
    difference ``F(+y) - F(-y)`` of one row's loss change."""
    y2 = y * y
    return y * (c0 + y2 * (c1 + y2 * (c2 + y2 * c3)))


@jit
def odd_poly_sum_const(coef, y):
    """``sum_n odd_poly(coef[:, n], y)`` for the same nudge ``y`` in every row (a bias)."""
    total = 0.0
    for n in range(coef.shape[1]):
        total += odd_poly(coef[0, n], coef[1, n], coef[2, n], coef[3, n], y)
    return total


# -- closed forms up to order 5 --------------------------------------------------------------


@jit
def faa5(o1, o2, o3, o4, o5, i1, i2, i3, i4, i5):
    """Derivatives 1 to 5 of ``outer(inner(y))`` at 0 from those of ``outer`` (at
    ``inner(0)``) and of ``inner`` (Faa di Bruno's formula)."""
    d1 = o1 * i1
    d2 = o1 * i2 + o2 * i1 * i1
    d3 = o1 * i3 + 3.0 * o2 * i1 * i2 + o3 * i1 * i1 * i1
    d4 = (
        o1 * i4
        + o2 * (4.0 * i1 * i3 + 3.0 * i2 * i2)
        + 6.0 * o3 * i1 * i1 * i2
        + o4 * i1 * i1 * i1 * i1
    )
    d5 = (
        o1 * i5
        + o2 * (5.0 * i1 * i4 + 10.0 * i2 * i3)
        + o3 * (10.0 * i1 * i1 * i3 + 15.0 * i1 * i2 * i2)
        + 10.0 * o4 * i1 * i1 * i1 * i2
        + o5 * i1 * i1 * i1 * i1 * i1
    )
    return d1, d2, d3, d4, d5


@jit
def loss_derivatives(qn, qc, mean, c2, c3, c4, c5):
    """Derivatives 1 to 5 at ``u = 0`` of one row's loss change when its logits move by
    ``u d``, from the mean and the central moments ``c2 .. c5`` of ``e_k = d_k - d_t`` under
    the row's softmax (``q = qn``, ``1 - q = qc``).

    The target's log-probability moves by ``l(u)`` with ``lm = -kappa_m``, the cumulants of
    ``e`` (``kappa1`` the mean, ``kappa2 = c2``, ``kappa3 = c3``, ``kappa4 = c4 - 3 c2^2``,
    ``kappa5 = c5 - 10 c2 c3``). The loss change is ``-B(l)`` with ``B`` the cumulant
    generating function of a Bernoulli(``q``) variable, ``q = p0 / (p0 + 1e-7)``
    (as in :func:`logit_closed`), composed by Faa di Bruno's formula (:func:`faa5`)."""
    w = qn * qc
    g1, g2, g3, g4, g5 = faa5(
        qn, w, w * (qc - qn), w * (1.0 - 6.0 * w), w * (qc - qn) * (1.0 - 12.0 * w),
        -mean, -c2, -c3, -(c4 - 3.0 * c2 * c2), -(c5 - 10.0 * c2 * c3),
    )  # fmt: skip
    return -g1, -g2, -g3, -g4, -g5


@jit
def unit_closed(w2j, sT, t, q, zcj, z1j, P, coef):
    """``c1``, ``c3`` and ``c5`` (up to order ``P <= 5``) of every row's ``F_nj``
    (:func:`unit_series`'s coefficients 0 to 2), in closed form: the orders the book's step
    needs, at a fraction of the cost of the series arithmetic.

    The logits move along ``W2[j, :]`` by ``D``, the sigmoid's change
    (:func:`loss_derivatives` gives the loss change's derivatives in ``D``). With
    ``v = z(1-z)``, ``D1 = v``, ``D2 = v (1-2z)``, ``D3 = v (1 - 6v)``,
    ``D4 = v (1-2z)(1 - 12v)``, ``D5 = v (1 - 30v + 120v^2)``. ``F`` is their composition by
    Faa di Bruno's formula (:func:`faa5`); ``c1 = F1``, ``c3 = F3 / 3!``, ``c5 = F5 / 5!``.
    ``1 - z`` comes from the forward pass, ``1 - q`` is computed directly (no cancellation).
    """
    K, N = sT.shape
    mom = np.zeros((7, N))  # rows innermost: the mean, the central moments, 1 - q, w_t
    for n in range(N):
        mom[6, n] = w2j[t[n]]
        mom[5, n] = CROSS_ENTROPY_DELTA / (sT[t[n], n] + CROSS_ENTROPY_DELTA)  # 1 - q
    for k in range(K):
        for n in range(N):
            mom[0, n] += sT[k, n] * (w2j[k] - mom[6, n])
    if P >= 3:  # the 4th and 5th central moments only where c5 needs them
        for k in range(K):
            for n in range(N):
                e = (w2j[k] - mom[6, n]) - mom[0, n]
                se2 = sT[k, n] * e * e
                mom[1, n] += se2
                mom[2, n] += se2 * e
                if P >= 5:
                    mom[3, n] += se2 * e * e
                    mom[4, n] += se2 * e * e * e
    for n in range(N):
        G1, G2, G3, G4, G5 = loss_derivatives(
            q[n], mom[5, n], mom[0, n], mom[1, n], mom[2, n], mom[3, n], mom[4, n]
        )
        z = z1j[n]
        zc = zcj[n]
        v = z * zc
        F1, _, F3, _, F5 = faa5(
            G1, G2, G3, G4, G5,
            v, v * (zc - z), v * (1.0 - 6.0 * v), v * (zc - z) * (1.0 - 12.0 * v),
            v * (1.0 - 30.0 * v + 120.0 * v * v),
        )  # fmt: skip
        coef[0, n] = F1
        if P >= 3:
            coef[1, n] = F3 / 6.0
        if P >= 5:
            coef[2, n] = F5 / 120.0


@jit
def logit_closed(s, t, q, k, P, coef):
    """``c1``, ``c3`` and ``c5`` (up to order ``P <= 5``) of the change of every row's loss
    when logit ``k`` moves by ``u`` (:func:`logit_row_series`'s coefficients), in closed
    form.

    The target's log-probability moves by ``l(u) = [k == t] u - A(u)``, with ``A`` the
    cumulant generating function of a Bernoulli(``s_k``) variable, so ``l1 = [k == t] - A1``
    and ``lm = -Am``: ``A1 = s``, ``A2 = s(1-s)``, ``A3 = A2 (1-2s)``,
    ``A4 = A2 (1 - 6 s(1-s))``, ``A5 = A3 (1 - 12 s(1-s))``. The loss change is
    ``g = -B(l)``, ``B`` the same function of Bernoulli(``q``), and Faa di Bruno's formula
    gives ``(B o l)1 = B1 l1``, ``(B o l)3 = B1 l3 + 3 B2 l1 l2 + B3 l1^3`` and
    ``(B o l)5 = B1 l5 + B2 (5 l1 l4 + 10 l2 l3) + B3 (10 l1^2 l3 + 15 l1 l2^2)
    + 10 B4 l1^3 l2 + B5 l1^5``; ``c1 = g1``, ``c3 = g3 / 3!``, ``c5 = g5 / 5!``.
    """
    N, K = s.shape
    for n in range(N):
        sk = s[n, k]
        sc = 1.0 - sk
        if sk > 0.5:  # 1 - s_k as the sum of the other probabilities: no cancellation
            sc = 0.0
            for i in range(K):
                if i != k:
                    sc += s[n, i]
        v = sk * sc
        l1 = (1.0 if t[n] == k else 0.0) - sk
        qn = q[n]
        qc = CROSS_ENTROPY_DELTA / (s[n, t[n]] + CROSS_ENTROPY_DELTA)  # 1 - q, directly
        w = qn * qc
        B1 = qn
        coef[0, n] = -B1 * l1
        if P >= 3:
            l2 = -v
            l3 = -v * (sc - sk)
            B2 = w
            B3 = w * (qc - qn)
            coef[1, n] = -(B1 * l3 + 3.0 * B2 * l1 * l2 + B3 * l1 * l1 * l1) / 6.0
            if P >= 5:
                l4 = -v * (1.0 - 6.0 * v)
                l5 = -v * (sc - sk) * (1.0 - 12.0 * v)
                B4 = w * (1.0 - 6.0 * w)
                B5 = w * (qc - qn) * (1.0 - 12.0 * w)
                g5 = (
                    B1 * l5
                    + B2 * (5.0 * l1 * l4 + 10.0 * l2 * l3)
                    + B3 * (10.0 * l1 * l1 * l3 + 15.0 * l1 * l2 * l2)
                    + 10.0 * B4 * l1 * l1 * l1 * l2
                    + B5 * l1 * l1 * l1 * l1 * l1
                )
                coef[2, n] = -g5 / 120.0
