"""Numba twins of :mod:`fastgrad.reference.differentiate`: the stencils on all cores.

Only the evaluation is compiled: :func:`stencil_values` and :func:`hessian_values` call a
Numba-compiled ``f`` at every stencil point, in parallel over chunks of parameters (or of
pairs), each chunk on private copies of ``x`` and of the arrays in ``args``, as
:func:`fastgrad.kernels.numerical_gradient` does (and for the same reasons: the caller's
arrays are never touched, an ``f`` may use ``args`` as scratch, and every value is computed by
exactly one iteration from ``x`` with only its own elements changed, so the result does not
depend on the thread count). The combination of the values is the reference's own
(:func:`fastgrad.reference.differentiate.combine`): it is cheap array arithmetic, and sharing
it keeps the twins equal bit for bit for the same compiled ``f``.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from .._config import jit_generic, jit_generic_parallel
from .gradient import _n_chunks, _private, _stencil

__all__ = ["stencil_values", "hessian_values"]


@jit_generic
def stencil_values(f, x, offsets, h, args, values, start=0):
    """Fill ``values[p - start, k]`` (or ``values[p - start, k, :]`` for a vector ``f``) with
    ``f(x + offsets[k] h[p] e_p, *args)`` for ``start <= p < start + values.shape[0]``, in
    parallel; twin of :func:`fastgrad.reference.differentiate.stencil_values`.

    ``x``: a C-contiguous array (float64, float32 or complex), copied, never modified;
    ``offsets``: array of multiples of the step, of ``x``'s kind; ``h``: flat steps (all of
    ``x``'s); ``values``: the output, preallocated by the caller with ``f``'s result type,
    ``x.size`` rows for every parameter.
    """
    _stencil(f, x, offsets, h, args, values, _n_chunks(values.shape[0]), start)
    return values


@jit_generic_parallel
def _hessian_pairs(f, x, h, args, f0, pi, pj, values, n_chunks, first):
    size = x.size
    n_pairs = pi.shape[0]
    chunk = (n_pairs + n_chunks - 1) // n_chunks
    # each chunk owns private copies of x and args and writes only the pairs it owns
    for c in prange(n_chunks):
        start = c * chunk
        stop = min(start + chunk, n_pairs)
        if start < stop:
            xp = x.copy()
            ap = _private(args)
            flat = xp.reshape(size)
            for r in range(start, stop):
                i = pi[r]
                j = pj[r]
                xi = flat[i]
                row = i - first
                if i == j:
                    flat[i] = xi + 2 * h[i]
                    values[row, i, 0] = f(xp, *ap)
                    flat[i] = xi - 2 * h[i]
                    values[row, i, 3] = f(xp, *ap)
                    values[row, i, 1] = f0
                    values[row, i, 2] = f0
                else:
                    xj = flat[j]
                    flat[i] = xi + h[i]
                    flat[j] = xj + h[j]
                    values[row, j, 0] = f(xp, *ap)
                    flat[j] = xj - h[j]
                    values[row, j, 1] = f(xp, *ap)
                    flat[i] = xi - h[i]
                    flat[j] = xj + h[j]
                    values[row, j, 2] = f(xp, *ap)
                    flat[j] = xj - h[j]
                    values[row, j, 3] = f(xp, *ap)
                    flat[j] = xj
                flat[i] = xi


@jit_generic
def hessian_values(f, x, h, args, f0, start=0, stop=-1):
    """The second-difference values of every pair ``i <= j`` (of ``start <= i < stop``;
    ``stop=-1``: ``x.size``), each pair filled once, in parallel, in rows ``i - start``; twin
    of :func:`fastgrad.reference.differentiate.hessian_values`."""
    n = x.size
    stop = n if stop < 0 else stop
    n_pairs = 0
    for i in range(start, stop):
        n_pairs += n - i
    pi = np.empty(n_pairs, dtype=np.int64)
    pj = np.empty(n_pairs, dtype=np.int64)
    r = 0
    for i in range(start, stop):
        for j in range(i, n):
            pi[r] = i
            pj[r] = j
            r += 1
    values = np.zeros((stop - start, n, 4))
    _hessian_pairs(f, x, h, args, f0, pi, pj, values, _n_chunks(n_pairs), start)
    return values
