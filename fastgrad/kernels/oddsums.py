"""The central differences of a layer's weights as BLAS products, ``sum_n x^(2p+1) c_p``.

A nudge ``y = h v[n, i]`` of the weight from input ``i`` into unit ``u`` changes row ``n``'s
loss by an odd series in ``y`` whose coefficients ``c_p[n, u]`` do not depend on ``i``. Half
the central difference over ``2h``, summed over rows, is then ``sum_p h^(2p) (v^(2p+1))^T
c_p``: backprop's ``x^T delta`` (``c_0`` is backprop's ``delta``) plus one product per higher
term. The two-layer kernel (``nets``) and the first layer of the multilayer kernel
(``multilayer``) hand their coefficients here; coefficients beyond a unit's truncation order
are exactly zero, so one product per term serves units of any lower order.

Each product covers a fixed block of inputs and runs on one BLAS thread (the caller holds
BLAS at one thread), so the sums do not depend on the Numba thread count. A higher term's
product runs in float32 where its rounding bound stays within the truncation's own
(:func:`in_float32`; ``docs/design.md``, "Single-precision corrections").
"""

from __future__ import annotations

import numpy as np
from numba import prange

from .._config import jit, jit_parallel, next_task
from .series import N_ODD, REMAINDER_MAX, SERIES_ORDERS

__all__ = [
    "F32_BUDGET",
    "INPUT_BLOCK",
    "bias_sums",
    "block_sums",
    "by_order",
    "group_sums",
    "in_float32",
    "odd_sums",
    "single_group",
]


#: Inputs per task of the sums: enough rows for a BLAS product to pay off; each row of
#: coefficients is read once per block.
INPUT_BLOCK = 64


#: float32's unit roundoff.
U32 = 2.0**-24
#: The float32 rounding one correction term may add to a row loss's odd part: the
#: truncation's own bound, shared by the ``N_ODD - 1`` terms that may run in float32.
F32_BUDGET = REMAINDER_MAX / (N_ODD - 1)


@jit
def in_float32(y, t, s, N):
    """Whether term ``t >= 1`` of a block's product may run in float32: ``y = h max|v|`` over
    the block, ``s`` the largest column mean of ``|c_t|``, ``N`` rows. Rounding ``v (h v)^(2t)``
    and ``c_t`` to float32 and summing ``N`` products in float32 moves a row loss's odd part
    by at most ``gamma_(N+2) y^(2t+1) s`` (Higham's bound, in row-loss units), plus ``2^-150
    (2 + N s)`` for results below float32's normal range; both must stay within
    :data:`F32_BUDGET`. Small ``y < 1`` and ``N s < 2^64`` keep every value in range."""
    if not (y < 1.0 and N * s < 2.0**64):
        return False
    gamma = (N + 2) * U32 / (1.0 - (N + 2) * U32)
    return gamma * y ** (2 * t + 1) * s + 2.0**-150 * (2.0 + N * s) <= F32_BUDGET


@jit
def group_sums(v, i0, cols, c, h, acc):
    """``acc[r, col] = sum_n v[n, i] (c[0] + y^2 c[1] + ...)[n, col]``, ``y = h v[n, i]``,
    for the inputs ``i = i0 + cols[r]``: one order's columns, ``c.shape[0]`` odd terms, as
    one BLAS product per term, ``P_t^T c[t]`` with ``P_t[n, r] = v (h v)^(2t)`` (the caller
    holds BLAS at one thread, so each Numba thread runs its own product). A higher term runs
    in float32 where :func:`in_float32` allows it for the largest column mean of
    ``|c[t]|``. Returns the number of float32 products."""
    N = v.shape[0]
    m = cols.shape[0]
    w = c.shape[2]
    p = np.empty((m, N))
    y2 = np.empty((m, N))
    big = 0.0
    for r in range(m):
        for n in range(N):
            xv = np.float64(v[n, i0 + cols[r]])
            p[r, n] = xv
            y2[r, n] = (h * xv) * (h * xv)
            big = max(big, abs(xv))
    np.dot(p, c[0], acc)
    tmp = np.empty((m, w))
    p32 = np.empty((m, N), dtype=np.float32)
    c32 = np.empty((N, w), dtype=np.float32)
    tmp32 = np.empty((m, w), dtype=np.float32)
    singles = 0
    for t in range(1, c.shape[0]):
        for r in range(m):  # P_t from P_(t-1)
            for n in range(N):
                p[r, n] *= y2[r, n]
                p32[r, n] = p[r, n]
        # the largest column mean of |c_t|, and c_t in float32: each block redoes this for
        # its group (N w values), which a copy per call would spare; that copy, made once in
        # the driver, was 27 us faster a call on one thread (597 against 570 us for the
        # sums) and cost a list-typed argument and 19 lines
        s = 0.0
        for k in range(w):
            col = 0.0
            for n in range(N):
                col += abs(c[t, n, k])
                c32[n, k] = c[t, n, k]
            s = max(s, col / N)
        single = in_float32(h * big, t, s, N)
        if single:
            np.dot(p32, c32, tmp32)
            singles += 1
        else:
            np.dot(p, c[t], tmp)
        for r in range(m):
            for k in range(w):
                acc[r, k] += tmp32[r, k] if single else tmp[r, k]
    return singles


@jit
def block_sums(v, groups, h, unit, out, i0):
    """Rows ``i0:i0 + INPUT_BLOCK`` of :func:`odd_sums`'s ``out``, added to it; returns the
    number of float32 products. An input that is zero in every row leaves every row loss
    unchanged, exactly: it adds 0, as in the reference, and it is left out of the products
    (MNIST's border pixels)."""
    N, I = v.shape
    m = min(INPUT_BLOCK, I - i0)
    cols = np.empty(m, dtype=np.int64)
    used = 0
    for ii in range(m):
        for n in range(N):
            if v[n, i0 + ii] != 0.0:
                cols[used] = ii
                used += 1
                break
    cols = cols[:used]
    inv = 1.0 / N
    lo = 0
    singles = 0
    for c in groups:
        w = c.shape[2]
        if w > 0 and used > 0:
            acc = np.empty((used, w))
            singles += group_sums(v, i0, cols, c, h, acc)
            for r in range(used):
                for k in range(w):
                    out[i0 + cols[r], unit[lo + k]] += acc[r, k] * inv
        lo += w
    return singles


@jit_parallel
def odd_sums(x, groups1, unit1, gW1, z1, groups2, unit2, gW2, h):
    """``out[i, unit[col]] += mean_n v[n, i] (C0 + y^2 C1 + y^4 C2 + y^6 C3)[n, col]`` with
    ``y = h v[n, i]``, for two layers in one parallel call: ``v = x`` into ``out = gW1`` and
    ``v = z1`` into ``out = gW2`` (the multilayer kernel passes a ``z1`` with no columns, so
    one compiled driver serves both kernels): the central difference of every weight into
    column ``col``'s
    unit (``C`` the odd coefficients of its row losses), the polynomial cut at the column's
    order. ``groups`` holds the coefficients one order at a time (shape
    ``(terms, N, columns)``, :func:`by_order`), the columns numbered across them.
    Half the difference ``F(+y) - F(-y) = 2 y (C0 + y^2 C1 + ...)``, over ``2h``, is
    ``v (C0 + y^2 C1 + ...)``.

    Backprop's ``x^T delta`` product (``C0`` is backprop's ``delta``), plus one such product
    per higher term, each a BLAS product over a block of inputs (:func:`group_sums`), in
    float32 where :func:`in_float32` allows. Inputs that are zero in every row are left out
    (:func:`block_sums`). Returns the number of float32 products.
    """
    nb1 = (x.shape[1] + INPUT_BLOCK - 1) // INPUT_BLOCK
    n_tasks = nb1 + (z1.shape[1] + INPUT_BLOCK - 1) // INPUT_BLOCK
    singles = np.zeros(n_tasks, dtype=np.int64)
    counter = np.zeros(1, dtype=np.int64)
    # task b writes only its block of rows of gW1 or gW2 and singles[b], from products of
    # fixed shapes whichever thread runs it; tasks are claimed dynamically (_config)
    for _ in prange(n_tasks):
        b = next_task(counter)
        while b < n_tasks:
            if b < nb1:
                i0 = b * INPUT_BLOCK
                singles[b] = block_sums(x, groups1, h, unit1, gW1, i0)
            else:
                i0 = (b - nb1) * INPUT_BLOCK
                singles[b] = block_sums(z1, groups2, h, unit2, gW2, i0)
            b = next_task(counter)
    return singles.sum()


def by_order(C, bounds):
    """The columns of ``C`` (``(N_ODD, N, columns)``) split by order, each group with only
    its own terms, C-contiguous."""
    lo = np.concatenate(([0], bounds[:-1]))
    return tuple(
        np.ascontiguousarray(C[: g + 1, :, lo[g] : bounds[g]]) for g in range(SERIES_ORDERS.size)
    )


def single_group(C):
    """The coefficients ``C`` (``(N_ODD, N, columns)``) as :func:`by_order` groups them, every
    column in the group of the highest term any column uses (the terms beyond a column's
    order are exactly 0, so they add nothing), or in none if all are 0."""
    terms = C.shape[0]
    while terms > 0 and not C[terms - 1].any():
        terms -= 1
    top = terms - 1 if terms else SERIES_ORDERS.size
    return by_order(C, np.where(np.arange(SERIES_ORDERS.size) < top, 0, C.shape[2]))


@jit
def bias_sums(C, h, unit, out):
    """``out[unit[c]]``: :func:`odd_sums` for an input of 1 in every row (a bias). The
    coefficients beyond a column's order are exactly zero, so the full polynomial is its
    truncated one."""
    y2 = h * h
    N = C.shape[1]
    for c in range(unit.size):
        acc = 0.0
        for n in range(N):
            acc += C[0, n, c] + y2 * (C[1, n, c] + y2 * (C[2, n, c] + y2 * C[3, n, c]))
        out[unit[c]] = acc / N
