"""Numba twins of :mod:`fastgrad.reference.gradient`: central differences on all cores.

``numerical_gradient(f, x, args=(), h=1e-4)`` takes a Numba-compiled scalar function
``f(x, *args) -> float`` and perturbs the parameters concurrently. Each chunk of parameters
works on its own private copy of ``x``, nudging one element by ``+h`` then ``-h`` and
restoring it exactly, and on its own copies of the arrays in ``args``, so:

- the caller's ``x`` and ``args`` are never touched, and an ``f`` that uses an array of
  ``args`` as scratch space never races with another thread (``f`` must not rely on what an
  earlier call left in it: the reference calls ``f`` in sequence on one copy, the kernel on
  one copy per chunk);
- every ``grad[p]`` is computed by exactly one iteration from ``x`` with only element ``p``
  changed, so the result does not depend on the number of threads or on the chunking;
- with the same compiled ``f``, the result equals the reference's bit for bit.

These kernels take a compiled function as an argument and so cannot be cached on disk
(``_config.jit_generic``): the first call in each process compiles them.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange, types
from numba.extending import overload

from .._config import end_claims, jit_generic, jit_generic_parallel, next_task

__all__ = ["numerical_diff", "numerical_gradient", "gradient_descent"]

#: Chunks per thread: a few, so that a slow ``f`` on some parameters balances out.
CHUNKS_PER_THREAD = 4


@jit_generic
def numerical_diff(f, x, h=1e-4):
    """``(f(x + h) - f(x - h)) / (2h)`` for a compiled scalar ``f`` (twin of
    :func:`fastgrad.reference.numerical_diff`)."""
    return (f(x + h) - f(x - h)) / (2 * h)


def private_copies(args):
    """``args`` with every array copied (compiled code only: see the overload)."""


def _copy_if_array(a):
    """``a.copy()`` for an array, ``a`` itself otherwise (compiled code only)."""


@overload(_copy_if_array, jit_options={"fastmath": False})
def _copy_if_array_overload(a):
    if isinstance(a, types.Array):
        return lambda a: a.copy()
    return lambda a: a


@overload(private_copies, jit_options={"fastmath": False})
def _private_copies_overload(args):
    if len(args) == 0:
        return lambda args: ()
    # a tuple of mixed types cannot be rebuilt in a loop: spell it out for this length
    items = ", ".join(f"_copy_if_array(args[{i}])" for i in range(len(args)))
    scope = {"_copy_if_array": _copy_if_array}
    exec(f"def impl(args):\n    return ({items},)", scope)
    return scope["impl"]


@jit_generic
def _call(f, x, args):
    return f(x, *args)


@jit_generic
def evaluated(f, x, args, values, row, k):
    """``values[row, k] = f(x, *args)`` (a row for a vector ``f``); False when ``f`` raised.

    An exception cannot leave a parallel loop: Numba drops it (the value stays uninitialised
    and the call returns as if nothing happened), so the loops catch it here, record where,
    and the Python caller evaluates ``f`` there again to raise the user's own exception."""
    try:
        values[row, k] = _call(f, x, args)
    except Exception:
        return False
    return True


@jit_generic_parallel
def stencil(f, x, offsets, h, args, values, n_chunks, first=0):
    """Worker and driver: ``values[p - first, k] = f(x + offsets[k] h[p] e_p, *args)`` (a row
    of ``values`` for a vector ``f``) for the parameters ``first <= p < first +
    values.shape[0]`` (all of them by default), in ``n_chunks`` chunks; the book's loop with
    any stencil (``kernels.differentiate`` evaluates every method with it).

    Returns the first parameter at which ``f`` raised, or -1. After a failure no chunk is
    claimed; the chunks claimed before it (chunks are claimed in order, so every chunk of
    smaller parameters) run to their own first failure, so the parameter returned is the
    smallest one at which ``f`` raises, whatever the thread count."""
    size = x.size
    count = values.shape[0]
    chunk = (count + n_chunks - 1) // n_chunks
    counter = np.zeros(1, dtype=np.int64)
    failed = np.full(n_chunks, -1, dtype=np.int64)
    # each chunk owns private copies of x and of the arrays in args, and writes only
    # values[start:stop] and failed[c]; chunks are claimed dynamically (_config.next_task)
    for _ in prange(n_chunks):
        c = next_task(counter)
        while c < n_chunks:
            start = c * chunk
            stop = min(start + chunk, count)
            if start < stop:
                xp = x.copy()
                ap = private_copies(args)
                flat = xp.reshape(size)
                for p in range(first + start, first + stop):
                    tmp_val = flat[p]
                    for k in range(offsets.shape[0]):
                        flat[p] = tmp_val + offsets[k] * h[p]
                        if failed[c] < 0 and not evaluated(f, xp, ap, values, p - first, k):
                            failed[c] = p
                            end_claims(counter, n_chunks)
                    flat[p] = tmp_val
                    if failed[c] >= 0:
                        break
            c = next_task(counter)
    return _first_failure(failed)


@jit_generic
def _first_failure(failed):
    for p in failed:
        if p >= 0:
            return p
    return -1


#: The book's stencil: ``x + h`` then ``x - h``.
_CENTRAL = np.array([1.0, -1.0])


@jit_generic
def _central(f, x, h, args):
    """The book's central difference of every parameter of a C-ordered float64 ``x``."""
    size = x.size
    values = np.empty((size, 2))
    failed = stencil(f, x, _CENTRAL, np.full(size, h), args, values, chunk_count(size))
    if failed >= 0:
        # compiled code cannot re-raise f's own exception: fastgrad.numerical_gradient does
        raise RuntimeError("f raised an exception at this flat parameter index", failed)
    grad = np.empty(size)
    for p in range(size):
        grad[p] = (values[p, 0] - values[p, 1]) / (2 * h)
    return grad.reshape(x.shape)


@jit_generic
def chunk_count(size):
    return max(1, min(size, CHUNKS_PER_THREAD * numba.get_num_threads()))


@jit_generic
def numerical_gradient(f, x, args=(), h=1e-4):
    """Central-difference gradient of a compiled ``f(x, *args) -> float``, in parallel.

    Twin of :func:`fastgrad.reference.numerical_gradient`; ``x`` (float64, any shape) is
    copied, never modified, and each chunk of parameters gets its own copies of the arrays in
    ``args`` (module docstring). Returns a float64 array shaped like ``x``. If ``f``
    raises, a ``RuntimeError`` names the first parameter where it did (Numba cannot carry
    ``f``'s own exception out of the parallel loop; the front door,
    :func:`fastgrad.numerical_gradient`, raises ``f``'s own).
    """
    xc = np.ascontiguousarray(x).astype(np.float64)
    return _central(f, xc, h, args)


@jit_generic
def gradient_descent(f, init_x, lr=0.01, step_num=100):
    """Gradient descent with the parallel :func:`numerical_gradient` (twin of
    :func:`fastgrad.reference.gradient_descent`); returns ``(x, history)``."""
    x = np.ascontiguousarray(init_x).astype(np.float64)
    history = np.empty((step_num,) + x.shape, dtype=np.float64)
    for i in range(step_num):
        history[i] = x
        grad = _central(f, x, 1e-4, ())
        x -= lr * grad
    return x, history
