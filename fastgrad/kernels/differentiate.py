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
from .gradient import chunk_count, evaluated, private_copies, stencil

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

    Returns the first parameter at which ``f`` raised (its values are then incomplete), or
    -1: Numba cannot carry ``f``'s exception out of the parallel loop, so the caller raises
    it again by evaluating ``f`` there (the front door does).
    """
    return stencil(f, x, offsets, h, args, values, chunk_count(values.shape[0]), start)


@jit_generic_parallel
def _hessian_pairs(f, x, h, args, f0, pi, pj, values, n_chunks, first):
    size = x.size
    n_pairs = pi.shape[0]
    chunk = (n_pairs + n_chunks - 1) // n_chunks
    failed = np.full(n_chunks, -1, dtype=np.int64)
    # each chunk owns private copies of x and args and writes only the pairs it owns and
    # failed[c]; it stops at the first pair where f raised
    for c in prange(n_chunks):
        start = c * chunk
        stop = min(start + chunk, n_pairs)
        if start < stop:
            xp = x.copy()
            ap = private_copies(args)
            flat = xp.reshape(size)
            for r in range(start, stop):
                if not _pair(f, xp, flat, ap, h, f0, pi[r], pj[r], values, pi[r] - first):
                    failed[c] = r
                    break
    for r in failed:  # chunks hold increasing pairs: the first failure is the smallest
        if r >= 0:
            return r
    return -1


@jit_generic
def _pair(f, xp, flat, ap, h, f0, i, j, values, row):
    """The four second-difference values of the pair ``(i, j)`` (on the diagonal, steps of
    ``2 h_i``), ``flat`` (a view of ``xp``) restored after; False when ``f`` raised."""
    xi = flat[i]
    ok = True
    if i == j:
        flat[i] = xi + 2 * h[i]
        ok = evaluated(f, xp, ap, values[row], i, 0)
        flat[i] = xi - 2 * h[i]
        ok = ok and evaluated(f, xp, ap, values[row], i, 3)
        values[row, i, 1] = f0
        values[row, i, 2] = f0
    else:
        xj = flat[j]
        for s in range(4):
            flat[i] = xi + h[i] if s < 2 else xi - h[i]
            flat[j] = xj + h[j] if s % 2 == 0 else xj - h[j]
            ok = ok and evaluated(f, xp, ap, values[row], j, s)
        flat[j] = xj
    flat[i] = xi
    return ok


@jit_generic
def hessian_values(f, x, h, args, f0, start=0, stop=-1):
    """The second-difference values of every pair ``i <= j`` (of ``start <= i < stop``;
    ``stop=-1``: ``x.size``), each pair filled once, in parallel, in rows ``i - start``; twin
    of :func:`fastgrad.reference.differentiate.hessian_values`.

    Returns ``(values, i, j)``: ``(i, j)`` is the first pair at which ``f`` raised (the
    values are then incomplete), ``(-1, -1)`` when it never did (:func:`stencil_values`)."""
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
    failed = _hessian_pairs(f, x, h, args, f0, pi, pj, values, chunk_count(n_pairs), start)
    return values, -1 if failed < 0 else pi[failed], -1 if failed < 0 else pj[failed]
