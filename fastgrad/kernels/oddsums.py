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
    "block_inputs",
    "block_sums",
    "in_float32",
    "odd_power",
    "odd_sums",
    "term_columns",
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
def term_columns(C):
    """For each term ``t >= 1`` of ``C`` (``(N_ODD, N, columns)``), the columns that use it
    (nonzero in some row; a term beyond a column's order is 0 in every row and adds
    nothing, so a unit of order 5 beside units of order 3 costs a product over its own
    column only): ``cols[lo[t]:lo[t + 1]]``; their coefficients in float32 at
    ``flat32[off[t]:off[t + 1]]`` shaped ``(N, lo[t + 1] - lo[t])``, and in float64 at the
    same place in ``flat`` where not every column uses the term (else ``C[t]`` serves);
    ``scale[t]``, the largest column mean of ``|c_t|`` (:func:`in_float32`'s ``s``). Term 0
    (backprop's product) covers every column. Made once per call for every block of
    :func:`odd_sums`."""
    T, N, W = C.shape
    mean = np.zeros((T, W))
    for t in range(1, T):
        for n in range(N):
            for k in range(W):
                mean[t, k] += abs(C[t, n, k])
    scale = np.zeros(T)
    lo = np.zeros(T + 1, dtype=np.int64)
    cols = np.empty(T * W, dtype=np.int64)
    for t in range(1, T):
        lo[t + 1] = lo[t]
        for k in range(W):
            scale[t] = max(scale[t], mean[t, k] / N)
            if mean[t, k] != 0.0:  # NaN included: never left out
                cols[lo[t + 1]] = k
                lo[t + 1] += 1
    off = N * lo
    flat = np.empty(off[T])
    flat32 = np.empty(off[T], dtype=np.float32)
    for t in range(1, T):
        w = lo[t + 1] - lo[t]
        c = flat[off[t] : off[t + 1]].reshape((N, w))
        c32 = flat32[off[t] : off[t + 1]].reshape((N, w))
        for n in range(N):
            if w == W:
                for k in range(W):
                    c32[n, k] = C[t, n, k]
            else:
                for k in range(w):
                    c[n, k] = C[t, n, cols[lo[t] + k]]
                    c32[n, k] = c[n, k]
    return flat, flat32, off, lo, cols[: lo[T]], scale


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
def block_sums(v, C, terms, h, unit, out, i0):
    """Rows ``i0:i0 + INPUT_BLOCK`` of :func:`odd_sums`'s ``out``, added to it; returns the
    number of float32 products. ``terms``: :func:`term_columns` of ``C``.

    Per term ``t``, one BLAS product ``P_t^T c_t`` over the block's used inputs
    (:func:`block_inputs`) and the columns that use the term, ``P_t[n, r] = v (h v)^(2t)``.
    A term ``t >= 1`` runs in float32 where :func:`in_float32` allows it for the block's
    ``h max|v|`` and the term's scale."""
    flat, flat32, off, lo, cols, scale = terms
    N, W = C.shape[1], C.shape[2]
    P, inputs, big = block_inputs(v, i0, min(INPUT_BLOCK, v.shape[1] - i0))
    used = inputs.shape[0]
    if used == 0 or W == 0:
        return 0
    acc = np.empty((used, W))
    np.dot(P, C[0], acc)
    whole = acc.reshape(used * W)
    Pt = np.empty((used, N))
    Pt32 = np.empty((used, N), dtype=np.float32)
    tmp = np.empty(used * W)
    tmp32 = np.empty(used * W, dtype=np.float32)
    singles = 0
    for t in range(1, lo.shape[0] - 1):
        w = lo[t + 1] - lo[t]
        if w == 0:
            continue
        if in_float32(h * big, t, scale[t], N):
            odd_power(P, h, t, Pt32)
            c32 = flat32[off[t] : off[t + 1]].reshape((N, w))
            np.dot(Pt32, c32, tmp32[: used * w].reshape((used, w)))
            for i in range(used * w):
                tmp[i] = tmp32[i]
            singles += 1
        else:
            odd_power(P, h, t, Pt)
            c = C[t] if w == W else flat[off[t] : off[t + 1]].reshape((N, w))
            np.dot(Pt, c, tmp[: used * w].reshape((used, w)))
        if w == W:
            for i in range(used * W):
                whole[i] += tmp[i]
        else:
            for r in range(used):
                for k in range(w):
                    acc[r, cols[lo[t] + k]] += tmp[r * w + k]
    inv = 1.0 / N
    identity = W == out.shape[1]
    for k in range(W):
        identity &= unit[k] == k
    for r in range(used):
        row = out[i0 + inputs[r]]
        if identity:  # a loop LLVM vectorises: no exact units, the columns in order
            for k in range(W):
                row[k] += acc[r, k] * inv
        else:
            for k in range(W):
                row[unit[k]] += acc[r, k] * inv
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
    per higher term over the columns that use it (:func:`term_columns`), each a BLAS product
    over a block of inputs (:func:`block_sums`), in float32 where :func:`in_float32` allows.
    Returns the number of float32 products.
    """
    nb1 = (x.shape[1] + INPUT_BLOCK - 1) // INPUT_BLOCK
    n_tasks = nb1 + (z1.shape[1] + INPUT_BLOCK - 1) // INPUT_BLOCK
    terms1 = term_columns(C1)
    terms2 = term_columns(C2)
    singles = np.zeros(n_tasks, dtype=np.int64)
    counter = np.zeros(1, dtype=np.int64)
    # task b writes only its block of rows of gW1 or gW2 and singles[b], from products of
    # fixed shapes whichever thread runs it; tasks are claimed dynamically (_config)
    for _ in prange(n_tasks):
        b = next_task(counter)
        while b < n_tasks:
            if b < nb1:
                singles[b] = block_sums(x, C1, terms1, h, unit1, gW1, b * INPUT_BLOCK)
            else:
                singles[b] = block_sums(z1, C2, terms2, h, unit2, gW2, (b - nb1) * INPUT_BLOCK)
            b = next_task(counter)
    return singles.sum()
