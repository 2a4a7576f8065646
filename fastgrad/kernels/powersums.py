"""The power sums of a network's second-to-last hidden layer, for every unit and row at once,
as BLAS products (``docs/multilayer.md``, "Power sums").

When unit ``j`` of layer ``L - 1`` changes by ``S(y)``, unit ``k`` of layer ``L`` moves by
``W_L[j, k] S`` and changes by ``sum_m d_km (W_L[j, k] S)^m``, and logit ``k2`` by
``sum_m E_m[j, n, k2] S^m`` with

    E_m[j, n, k2] = sum_k W_L[j, k]^m  d_km[n]  W_{L+1}[k, k2]

(sigmoid: ``d_km[n] = sigma^(m)(a_L[n, k]) / m!``; ReLU, inside the kink radius: ``d_k1`` is
the mask ``a_L > 0``, and ``E_1`` the direction of the logits). For each ``m`` that is one
product, ``W_L^m @ M_m`` with ``M_m[k, (n, k2)] = d_km[n] W_{L+1}[k, k2]``: ``H_{L-1} H_L N
K`` multiply-adds, the bulk of the layer's unit tasks, done by BLAS instead of one unit at a
time. The products cover fixed blocks of :data:`BLOCK_ROWS` rows, one BLAS thread each (the
caller holds BLAS at one thread), so the sums do not depend on the thread count.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from .._config import jit, jit_parallel, next_task

__all__ = ["BLOCK_ROWS", "power_sums", "power_block", "sums_view", "target_mean"]

#: Rows per block of the products, and per block of a sigmoid unit's series arithmetic: a
#: unit's task reads one block of every power sum as one contiguous piece (a ReLU unit's
#: blocks of 64 rows read two).
BLOCK_ROWS = 32


@jit
def sums_view(E, m, Hp, K, lo, nb):
    """Rows ``lo:lo+nb`` of ``E_m`` (``E`` from :func:`power_sums`): an ``Hp x (K nb)``
    matrix, ``[j, k2 nb + r]``, rows innermost."""
    off = Hp * K * lo
    return E[m - 1, off : off + Hp * nb * K].reshape((Hp, nb * K))


@jit
def _block_product(m, lo, nb, Wp, dT, Wn, out):
    """``out = W_L^m @ M_m`` on rows ``lo:lo+nb``: ``out[j, k2 nb + r] = E_m[j, lo + r, k2]``."""
    H, K = Wn.shape
    M = np.empty((H, K * nb))
    for k in range(H):
        for k2 in range(K):
            w = Wn[k, k2]
            for r in range(nb):
                M[k, k2 * nb + r] = dT[k, m, lo + r] * w
    np.dot(Wp[m - 1], M, out)


@jit_parallel
def power_sums(W, dT, Wn, P):
    """``E_m`` of the units of layer ``L - 1`` for ``m = 1 .. P``: ``W = W_L`` (``H_{L-1} x
    H_L``), ``dT[k, m, n] = d_km[n]`` (layer ``L``'s Taylor coefficients: the sigmoid's; for
    ReLU ``P = 1`` and ``d_k1`` the mask ``a_L > 0``), ``Wn = W_{L+1}``. Returns ``(P, H_{L-1}
    N K)``: ``E_m`` in row ``m - 1``, per block of rows the ``H_{L-1} x (K nb)`` matrix
    :func:`sums_view` addresses."""
    Hp, H = W.shape
    K = Wn.shape[1]
    N = dT.shape[2]
    Wp = np.empty((P, Hp, H))
    for j in range(Hp):
        for k in range(H):
            w = W[j, k]
            Wp[0, j, k] = w
            for m in range(1, P):
                Wp[m, j, k] = Wp[m - 1, j, k] * w
    E = np.empty((P, Hp * N * K))
    n_blocks = (N + BLOCK_ROWS - 1) // BLOCK_ROWS
    n_tasks = n_blocks * P
    counter = np.zeros(1, dtype=np.int64)
    # task (block, m) writes only its block of row m - 1 of E
    for _ in prange(n_tasks):
        task = next_task(counter)
        while task < n_tasks:
            b = task // P
            m = task - b * P + 1
            lo = b * BLOCK_ROWS
            nb = min(BLOCK_ROWS, N - lo)
            _block_product(m, lo, nb, Wp, dT, Wn, sums_view(E, m, Hp, K, lo, nb))
            task = next_task(counter)
    return E


@jit
def target_mean(W, dT, Wn, s, t):
    """``mu[j, n] = sum_k2 (s[n, k2] - [k2 == t[n]]) E_3[j, n, k2]``, ``E_3``'s mean against
    the target's under the softmax ``s`` (``t``: the labels), all a closed form of order 3
    needs of ``E_3``: one product ``K`` times smaller, ``W^3 @ u`` with ``u[k, n] = d_k3[n]
    (sum_k2 Wn[k, k2] s[n, k2] - Wn[k, t[n]])``."""
    H, K = Wn.shape
    N = s.shape[0]
    u = np.empty((H, N))
    for k in range(H):
        for n in range(N):
            acc = 0.0
            for k2 in range(K):
                acc += Wn[k, k2] * s[n, k2]
            u[k, n] = dT[k, 3, n] * (acc - Wn[k, max(t[n], 0)])
    return np.dot(W * W * W, u)


@jit
def power_block(E, Hp, j, lo, nb, P1, out):
    """Unit ``j``'s power sums (``E`` from :func:`power_sums`, ``Hp = H_{L-1}``) on rows
    ``lo:lo+nb`` into ``out[k2, m, r]`` for ``m = 1 .. P1 - 1``, as the series arithmetic of
    :mod:`fastgrad.kernels.unitseries` lays out a block; ``m = 0`` and the padding rows
    ``r >= nb`` are zero."""
    K, _, B = out.shape
    lo = max(lo, 0)
    j = max(j, 0)
    for k2 in range(K):
        for p in range(P1):
            for r in range(B):
                out[k2, p, r] = 0.0
    for m in range(1, P1):
        blk = sums_view(E, m, Hp, K, lo, nb)[j]
        for k2 in range(K):
            for r in range(nb):
                out[k2, m, r] = blk[k2 * nb + r]
