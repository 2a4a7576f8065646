"""Numerical differentiation beyond the book's one method: the NumPy oracle.

Every method here evaluates ``f`` at a *stencil* of points around ``x`` for each parameter
(or pair of parameters) and combines the values. The stencils are one table,
:data:`STENCILS`; the evaluation is one loop per kind (:func:`stencil_values` for gradients
and Jacobians, :func:`hessian_values` for second differences), nudging the caller's array in
place and restoring it bit for bit, as the book's ``numerical_gradient`` does; the
combination (:func:`combine`, :func:`combine_hessian`) is plain array arithmetic that the
Numba twins (:mod:`fastgrad.kernels.differentiate`) share. The front door
(``fastgrad.numerical_gradient(..., method=...)``, ``fastgrad.jacobian``,
``fastgrad.hessian``) chooses the steps and validates.

Methods (``h`` the step of parameter ``p``, ``f_k = f(x + o_k h e_p)``):

========== ====================================== ===== ==============================
method     formula                                order steps ``h="auto"``
========== ====================================== ===== ==============================
forward    ``(f(x+h) - f(x)) / h``                1     ``eps^(1/2) max(1, |x_p|)``
backward   ``(f(x) - f(x-h)) / h``                1     ``eps^(1/2) max(1, |x_p|)``
central    ``(f(x+h) - f(x-h)) / 2h`` (the book)  2     ``eps^(1/3) max(1, |x_p|)``
central4   ``(-f(x+2h) + 8f(x+h) - 8f(x-h)        4     ``eps^(1/5) max(1, |x_p|)``
           + f(x-2h)) / 12h``
complex    ``Im f(x + ih) / h``                   2     ``eps max(1, |x_p|)``
richardson central at ``h, h/2, h/4``,            6     ``eps^(1/7) max(1, |x_p|)``
           extrapolated (two Richardson steps)
========== ====================================== ===== ==============================

``eps`` is the working precision's (float32 for float32 ``x``). The powers balance the
truncation error ``~h^order`` against the rounding error ``~eps |f| / h``; the complex step
has no subtraction, hence no rounding error to balance, and takes a step far below the
truncation scale. Richardson's order is that of its final extrapolation.

Error estimates (``full_output``): for the difference methods, ``|D(h) - D(2h)|``, which is
``2^order - 1`` times the truncation error of ``D(h)`` (doubled for the first-order methods,
where that factor is 1, so that the estimate keeps a margin), plus the rounding bound
``sum|w_k| eps max|f_k| / h``; for Richardson, the difference between the last two
extrapolations plus the same rounding bound; for the complex step, which subtracts nothing,
``8 eps`` times the largest derivative (the size of the terms ``Im f`` is made of).

Limits: the rounding bound assumes ``f`` is accurate to a few ``eps |f|``; an ``f`` that
cancels internally (``log(1 + exp(-15))``) is less accurate than that, and its estimate is
too small. The steps scale with ``max(1, |x_p|)``, as SciPy's relative steps do, which is too
large for a function that varies on a scale much finer than ``|x_p|`` (``sin`` at ``x = 1000``);
the estimates then flag a large error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "STENCILS",
    "Stencil",
    "stencil_values",
    "hessian_values",
    "combine",
    "combine_hessian",
    "auto_step",
]


@dataclass(frozen=True)
class Stencil:
    """Where a method evaluates ``f`` and how it combines the values.

    Attributes
    ----------
    offsets : tuple
        Multiples of the step ``h`` at which ``f`` is evaluated (complex for the complex
        step); ``x`` itself is not listed: ``uses_f0`` says whether ``f(x)`` is needed.
    weights : tuple of float
        ``derivative = (sum_k weights[k] * f_k + f0_weight * f(x)) / h`` (unused by the
        complex step and Richardson, which combine on their own).
    order : int
        Order of the truncation error, ``O(h^order)``.
    power : float
        ``h="auto"`` is ``eps**power * max(1, |x_p|)``.
    """

    offsets: tuple
    weights: tuple[float, ...]
    order: int
    power: float
    uses_f0: bool = False
    f0_weight: float = 0.0


STENCILS: dict[str, Stencil] = {
    "forward": Stencil((1.0,), (1.0,), 1, 1 / 2, uses_f0=True, f0_weight=-1.0),
    "backward": Stencil((-1.0,), (-1.0,), 1, 1 / 2, uses_f0=True, f0_weight=1.0),
    "central": Stencil((1.0, -1.0), (0.5, -0.5), 2, 1 / 3),
    "central4": Stencil((2.0, 1.0, -1.0, -2.0), (-1 / 12, 8 / 12, -8 / 12, 1 / 12), 4, 1 / 5),
    "complex": Stencil((1j,), (1.0,), 2, 1.0),
    "richardson": Stencil((1.0, -1.0, 0.5, -0.5, 0.25, -0.25), (), 6, 1 / 7),
}

#: Hessian steps for ``h="auto"``: second differences balance ``h^2`` against ``eps / h^2``.
HESSIAN_POWER = 1 / 4


def auto_step(method: str, x: NDArray, dtype: np.dtype, power: float | None = None) -> NDArray:
    """Per-element steps ``eps**power * max(1, |x|)``, made exactly representable.

    ``(x + h) - x`` is the step the arithmetic really takes; using it as ``h`` removes the
    step's rounding from the result (the complex step does not round ``x``: it is kept).
    """
    eps = np.finfo(dtype).eps
    power = STENCILS[method].power if power is None else power
    xs = np.asarray(x, dtype=dtype)
    h = (eps**power * np.maximum(1.0, np.abs(xs))).astype(dtype)
    if method != "complex":
        h = (xs + h) - xs
    return h


def stencil_values(
    f: Callable[[NDArray], object],
    x: NDArray,
    offsets: tuple,
    h: NDArray,
    start: int = 0,
    stop: int | None = None,
) -> NDArray:
    """``f`` at ``x + offsets[k] * h[p] * e_p`` for every parameter ``p`` and offset ``k``.

    The book's loop generalised: ``x`` (writable, any shape) is nudged in place one element
    at a time and restored bit for bit, also when ``f`` raises. For the complex step ``x``
    must be a complex array. ``start`` and ``stop`` restrict ``p`` to ``[start, stop)`` in
    C order (a task of the dask backend evaluates one such range).

    Parameters
    ----------
    f : callable, ndarray -> scalar or 1-D array
    x : ndarray
        Nudged in place and restored.
    offsets : tuple
        Multiples of the step (:attr:`Stencil.offsets`).
    h : ndarray, shape like ``x``
        The step of each element.

    Returns
    -------
    ndarray, shape ``(n, len(offsets))`` or ``(n, len(offsets), m)``
        For a scalar or an ``m``-vector ``f``; ``n = stop - start`` (``x.size`` by default),
        row ``i`` for parameter ``start + i``.

    Examples
    --------
    >>> v = stencil_values(lambda x: np.sum(x**2), np.array([3.0]), (1.0, -1.0), np.array([0.5]))
    >>> v.tolist()
    [[12.25, 6.25]]
    """
    flat_h = np.asarray(h).reshape(-1)
    stop = x.size if stop is None else stop
    values = None
    for p in range(start, stop):
        idx = np.unravel_index(p, x.shape)  # C order, whatever x's memory layout
        tmp_val = x[idx]
        try:
            for k, offset in enumerate(offsets):
                x[idx] = tmp_val + offset * flat_h[p]
                value = np.asarray(f(x))
                if values is None:
                    shape = (stop - start, len(offsets), *value.shape)
                    values = np.empty(shape, dtype=value.dtype)
                values[p - start, k] = value
        finally:
            x[idx] = tmp_val  # restore, even when f raised
    return values


def hessian_values(
    f: Callable[[NDArray], float],
    x: NDArray,
    h: NDArray,
    f0: float | None = None,
    start: int = 0,
    stop: int | None = None,
) -> NDArray:
    """The four values of the second difference of every pair ``i <= j``.

    ``values[i, j] = [f(+i +j), f(+i -j), f(-i +j), f(-i -j)]`` with ``+i`` meaning
    ``x_i + h_i`` (on the diagonal, ``x_i +- 2 h_i`` and the two middle values are ``f(x)``),
    for ``i <= j``; the entries below the diagonal are not computed. ``x`` is nudged in place
    and restored bit for bit. ``f0`` is ``f(x)``, evaluated here if not given. ``start`` and
    ``stop`` restrict ``i`` to ``[start, stop)`` (a task of the dask backend).

    Returns
    -------
    ndarray, shape ``(stop - start, n, 4)`` (``(n, n, 4)`` by default), with ``n = x.size``;
    row ``r`` for ``i = start + r``
    """
    flat = x.reshape(-1)  # a view for the writable C arrays the front door passes
    hf = np.asarray(h).reshape(-1)
    n = flat.size
    stop = n if stop is None else stop
    values = np.zeros((stop - start, n, 4))
    f0 = f(x) if f0 is None else f0
    for i in range(start, stop):
        row = values[i - start]
        xi = flat[i]
        try:
            for j in range(i, n):
                if i == j:
                    flat[i] = xi + 2 * hf[i]
                    plus = f(x)
                    flat[i] = xi - 2 * hf[i]
                    minus = f(x)
                    row[i] = (plus, f0, f0, minus)
                    continue
                xj = flat[j]
                try:
                    for s, (si, sj) in enumerate(((1, 1), (1, -1), (-1, 1), (-1, -1))):
                        flat[i] = xi + si * hf[i]
                        flat[j] = xj + sj * hf[j]
                        row[j, s] = f(x)
                finally:
                    flat[j] = xj
        finally:
            flat[i] = xi
    return values


def combine(
    method: str, values: NDArray, h: NDArray, f0: object = None
) -> tuple[NDArray, NDArray | None]:
    """Combine stencil values into derivatives, with the extrapolation error for Richardson.

    Parameters
    ----------
    method : str
        A key of :data:`STENCILS`.
    values : ndarray, shape ``(n, K)`` or ``(n, K, m)``
        From :func:`stencil_values` (or its Numba twin).
    h : ndarray, shape ``(n,)``
        The steps.
    f0 : scalar or ndarray, optional
        ``f(x)``, for the methods that use it.

    Returns
    -------
    derivative : ndarray, shape ``(n,)`` or ``(n, m)``
    extrapolation_error : ndarray or None
        Richardson only: the difference of its last two extrapolations.
    """
    st = STENCILS[method]
    hb = np.asarray(h, dtype=np.float64).reshape((-1,) + (1,) * (values.ndim - 2))
    if method == "central":  # the book's formula, bit for bit
        return (values[:, 0] - values[:, 1]) / (2 * hb), None
    if method == "complex":
        return np.imag(values[:, 0]) / hb, None
    if method == "richardson":
        d1 = (values[:, 0] - values[:, 1]) / (2 * hb)  # central at h, h/2, h/4
        d2 = (values[:, 2] - values[:, 3]) / hb
        d3 = (values[:, 4] - values[:, 5]) / (hb / 2)
        e1 = (4 * d2 - d1) / 3  # the h^2 terms eliminated
        e2 = (4 * d3 - d2) / 3
        r = (16 * e2 - e1) / 15  # and the h^4 terms
        return r, np.abs(r - e2)
    total = sum(w * values[:, k] for k, w in enumerate(st.weights))
    if st.uses_f0:
        total = total + st.f0_weight * np.asarray(f0)
    return total / hb, None


def rounding_bound(method: str, values: NDArray, h: NDArray, f0: object, eps: float) -> NDArray:
    """``sum|w_k| eps max|f| / h``: the rounding error the subtraction of the values can make."""
    st = STENCILS[method]
    hb = np.asarray(h, dtype=np.float64).reshape((-1,) + (1,) * (values.ndim - 2))
    mag = np.max(np.abs(values), axis=1)
    if f0 is not None:
        mag = np.maximum(mag, np.abs(np.asarray(f0, dtype=np.float64)))
    if method == "complex":  # no subtraction: the rounding of Im f itself, on the scale of
        d = np.abs(np.imag(values[:, 0])) / hb  # the largest derivative (its terms' size)
        return 8 * eps * np.maximum(d, np.max(d, axis=0))
    weight = {"richardson": 8.0}.get(method, sum(abs(w) for w in st.weights) + abs(st.f0_weight))
    return weight * eps * mag / hb


def combine_hessian(values: NDArray, h: NDArray) -> NDArray:
    """The symmetric Hessian from :func:`hessian_values`:
    ``(f(+i+j) - f(+i-j) - f(-i+j) + f(-i-j)) / (4 h_i h_j)``, mirrored below the diagonal."""
    hf = np.asarray(h, dtype=np.float64).reshape(-1)
    num = values[..., 0] - values[..., 1] - values[..., 2] + values[..., 3]
    H = num / (4 * np.outer(hf, hf))
    upper = np.triu(H)
    return upper + np.triu(H, 1).T
