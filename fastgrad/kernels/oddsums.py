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
from .series import N_ODD, REMAINDER_MAX

__all__ = [
    "F32_BUDGET",
    "INPUT_BLOCK",
    "bias_sums",
    "block_inputs",
    "block_sums",
    "by_top_term",
    "in_float32",
    "odd_power",
    "odd_sums",
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
def by_top_term(C, unit):
    """The columns of ``C`` (``(N_ODD, N, columns)``, column ``c`` summed into output column
    ``unit[c]``) grouped by the highest term any of their rows uses: a term beyond it is 0
    in every row and adds nothing, so group ``g`` runs ``g + 1`` products (units of order 3
    do not pay for a unit of order 5 beside them). Group ``g`` is ``flat[off[g]:off[g + 1]]``
    shaped ``(g + 1, N, lo[g + 1] - lo[g])``, its terms ``t >= 1`` also in float32 in
    ``flat32``, its columns summed into output columns ``into[lo[g]:lo[g + 1]]``;
    ``scale[g, t]`` is the largest column mean of ``|c_t|`` (:func:`in_float32`'s ``s``).
    Made once per call for every block of :func:`odd_sums`."""
    T, N, W = C.shape
    top = np.zeros(W, dtype=np.int64)
    for t in range(1, T):
        for n in range(N):
            for k in range(W):
                if C[t, n, k] != 0.0:
                    top[k] = t
    lo = np.zeros(T + 1, dtype=np.int64)
    for k in range(W):
        lo[top[k] + 1] += 1
    off = np.zeros(T + 1, dtype=np.int64)
    for g in range(T):
        off[g + 1] = off[g] + (g + 1) * N * lo[g + 1]
        lo[g + 1] += lo[g]
    into = np.empty(W, dtype=np.int64)
    source = np.empty(W, dtype=np.int64)
    fill = lo[:T].copy()
    for k in range(W):  # stable: unit order within a group
        source[fill[top[k]]] = k
        into[fill[top[k]]] = unit[k]
        fill[top[k]] += 1
    flat = np.empty(off[T])
    flat32 = np.empty(off[T], dtype=np.float32)
    scale = np.zeros((T, T))
    for g in range(T):
        w = lo[g + 1] - lo[g]
        c = flat[off[g] : off[g + 1]].reshape((g + 1, N, w))
        c32 = flat32[off[g] : off[g + 1]].reshape((g + 1, N, w))
        col = np.empty(w)
        for t in range(g + 1):
            col[:] = 0.0
            for n in range(N):
                for k in range(w):
                    value = C[t, n, source[lo[g] + k]]
                    c[t, n, k] = value
                    c32[t, n, k] = value
                    col[k] += abs(value)
            for k in range(w):
                scale[g, t] = max(scale[g, t], col[k] / N)
    return flat, flat32, off, lo, into, scale


@jit
def block_inputs(v, i0, m):
    """Inputs ``i0:i0 + m`` of ``v`` that are nonzero in some row, as the float64 rows of a
    ``(used, N)`` matrix (BLAS's fastest layout for ``P^T c``), their offsets in the block,
    and their ``max |v|``. An input that is zero in every row leaves every row loss
    unchanged, exactly: it adds 0, as in the reference, and it is left out of the products
    (MNIST's border pixels). ``v``'s rows are read contiguously."""
    N = v.shape[0]
    i0 = max(i0, 0)
    cols = np.empty(m, dtype=np.int64)
    used = 0
    for ii in range(m):
        for n in range(N):
            if v[n, i0 + ii] != 0.0:
                cols[used] = ii
                used += 1
                break
    P = np.empty((used, N))
    big = 0.0
    for n in range(N):
        row = v[n, i0 : i0 + m]
        for r in range(used):
            xv = np.float64(row[cols[r]])
            P[r, n] = xv
            big = max(big, abs(xv))
    return P, cols[:used], big


@jit
def odd_power(P, h, t, out):
    """``out = P (h P)^(2t)``, elementwise (``out`` float64 or float32)."""
    used, N = P.shape
    for r in range(used):
        for n in range(N):
            y2 = (h * P[r, n]) * (h * P[r, n])
            yt = y2
            for _ in range(1, t):
                yt *= y2
            out[r, n] = P[r, n] * yt


@jit
def block_sums(v, groups, h, out, i0):
    """Rows ``i0:i0 + INPUT_BLOCK`` of :func:`odd_sums`'s ``out``, added to it, from the
    coefficients as :func:`by_top_term` groups them; returns the number of float32 products.

    Per group ``g`` and term ``t``, one BLAS product ``P_t^T c_t`` over the block's used
    inputs (:func:`block_inputs`), ``P_t[n, r] = v (h v)^(2t)``, formed once per block for
    every group. A term ``t >= 1`` runs in float32 where :func:`in_float32` allows it for
    the block's ``h max|v|`` and the group's ``scale[g, t]``."""
    flat, flat32, off, lo, into, scale = groups
    N = v.shape[0]
    T = lo.shape[0] - 1
    P, cols, big = block_inputs(v, i0, min(INPUT_BLOCK, v.shape[1] - i0))
    used = cols.shape[0]
    if used == 0 or lo[T] == 0:
        return 0
    acc = np.empty(used * lo[T])  # group g's sums at acc[used * lo[g]:], (used, w)
    tmp = np.empty(used * lo[T])
    tmp32 = np.empty(used * lo[T], dtype=np.float32)
    P64 = np.empty((used, N))
    P32 = np.empty((used, N), dtype=np.float32)
    singles = 0
    for t in range(T):
        made64 = made32 = False
        for g in range(t, T):
            w = lo[g + 1] - lo[g]
            if w == 0:
                continue
            a = acc[used * lo[g] : used * lo[g + 1]]
            c = flat[off[g] : off[g + 1]].reshape((g + 1, N, w))
            if t == 0:
                np.dot(P, c[0], a.reshape((used, w)))
            elif in_float32(h * big, t, scale[g, t], N):
                if not made32:
                    odd_power(P, h, t, P32)
                    made32 = True
                c32 = flat32[off[g] : off[g + 1]].reshape((g + 1, N, w))
                b32 = tmp32[: used * w]
                np.dot(P32, c32[t], b32.reshape((used, w)))
                for i in range(used * w):
                    a[i] += b32[i]
                singles += 1
            else:
                if not made64:
                    odd_power(P, h, t, P64)
                    made64 = True
                b = tmp[: used * w]
                np.dot(P64, c[t], b.reshape((used, w)))
                for i in range(used * w):
                    a[i] += b[i]
    inv = 1.0 / N
    for g in range(T):
        w = lo[g + 1] - lo[g]
        a = acc[used * lo[g] : used * lo[g + 1]].reshape((used, w))
        for r in range(used):
            for k in range(w):
                out[i0 + cols[r], into[lo[g] + k]] += a[r, k] * inv
    return singles


@jit_parallel
def odd_sums(x, C1, unit1, gW1, z1, C2, unit2, gW2, h):
    """``out[i, unit[c]] += mean_n v[n, i] (C0 + y^2 C1 + y^4 C2 + y^6 C3)[n, c]`` with
    ``y = h v[n, i]``, for two layers in one parallel call: ``v = x`` into ``out = gW1`` and
    ``v = z1`` into ``out = gW2`` (the multilayer kernel passes a ``z1`` with no columns, so
    one compiled driver serves both kernels): the central difference of every weight into
    column ``c``'s unit, ``C`` (``(N_ODD, N, columns)``) the odd coefficients of its row
    losses, exactly 0 beyond the column's order. Half the difference
    ``F(+y) - F(-y) = 2 y (C0 + y^2 C1 + ...)``, over ``2h``, is ``v (C0 + y^2 C1 + ...)``.

    Backprop's ``x^T delta`` product (``C0`` is backprop's ``delta``), plus one such product
    per higher term for the columns that use it (:func:`by_top_term`), each a BLAS product
    over a block of inputs (:func:`block_sums`), in float32 where :func:`in_float32` allows.
    Returns the number of float32 products.
    """
    nb1 = (x.shape[1] + INPUT_BLOCK - 1) // INPUT_BLOCK
    n_tasks = nb1 + (z1.shape[1] + INPUT_BLOCK - 1) // INPUT_BLOCK
    groups1 = by_top_term(C1, unit1)
    groups2 = by_top_term(C2, unit2)
    singles = np.zeros(n_tasks, dtype=np.int64)
    counter = np.zeros(1, dtype=np.int64)
    # task b writes only its block of rows of gW1 or gW2 and singles[b], from products of
    # fixed shapes whichever thread runs it; tasks are claimed dynamically (_config)
    for _ in prange(n_tasks):
        b = next_task(counter)
        while b < n_tasks:
            if b < nb1:
                singles[b] = block_sums(x, groups1, h, gW1, b * INPUT_BLOCK)
            else:
                singles[b] = block_sums(z1, groups2, h, gW2, (b - nb1) * INPUT_BLOCK)
            b = next_task(counter)
    return singles.sum()


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
