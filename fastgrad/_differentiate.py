"""The front door of numerical differentiation: ``fastgrad.numerical_gradient`` (the book's
central difference and five more methods), ``fastgrad.jacobian`` and ``fastgrad.hessian``.

Each entry point validates its input once (:func:`fastgrad._problem.prepare`), chooses the
steps, evaluates the stencil on the chosen backend (the NumPy reference,
:mod:`fastgrad.reference.differentiate`, its Numba twin, :mod:`fastgrad.kernels.differentiate`,
or a Dask cluster) and combines the values. The methods, their steps and their error
estimates are described in :mod:`fastgrad.reference.differentiate`; the book's idiom in
:mod:`fastgrad._idiom`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._problem import (
    METHODS,
    Problem,
    hessian_points,
    located,
    prepare,
    raise_again,
    reject_real_only,
    steps_for,
)
from ._threads import function_site, region
from .kernels import differentiate as kd
from .reference import differentiate as rd

__all__ = [
    "METHODS",
    "DerivativeInfo",
    "numerical_gradient",
    "jacobian",
    "hessian",
]


Method = Literal["central", "forward", "backward", "central4", "complex", "richardson"]


@dataclass(frozen=True)
class DerivativeInfo:
    """What ``full_output=True`` returns beside the derivative.

    Attributes
    ----------
    error : ndarray of float64
        Per-element error estimate, shaped like the result (module docstring of
        :mod:`fastgrad.reference.differentiate`: two steps, or the Richardson table, plus the
        rounding bound).
    nfev : int
        Evaluations of ``f``: ``f(x)`` once (it checks what ``f`` returns, and the one-sided
        methods use it), the stencil's, and the error estimate's.
    h : ndarray of float64
        The step of each element of ``x``.
    method : str
    """

    error: NDArray[np.float64]
    nfev: int
    h: NDArray[np.float64]
    method: str


def _warn_non_finite(result: NDArray, what: str) -> None:
    """One ``RuntimeWarning`` per call when elements of ``result`` are NaN or infinite (``f``
    returned NaN or inf at some stencil point): the values are kept, as NumPy keeps the
    result of an invalid operation, but never silently."""
    bad = ~np.isfinite(result)
    if bad.any():
        first = tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), result.shape))
        warnings.warn(
            f"{int(bad.sum())} of {result.size} elements of the {what} are NaN or infinite, "
            f"the first at index {first}: f returned NaN or inf at some of the points it was "
            "evaluated at (a step across a pole or outside f's domain?)",
            RuntimeWarning,
            stacklevel=3,
        )


def _differentiate(problem: Problem, method: str, h: Any, full_output: bool):
    with problem.held():
        return _derivative_and_info(problem, method, h, full_output)


def _derivative_and_info(problem: Problem, method: str, h: Any, full_output: bool):
    steps = steps_for(h, method, problem.arr, problem.dtype)
    try:
        d, extrapolation, rounding = problem.derivative(method, steps, rounding=full_output)
    except Exception:
        if method == "complex":
            reject_real_only(problem)
        raise
    if not full_output:
        return d, None
    if extrapolation is None:
        d2, _, _ = problem.derivative(method, 2 * steps, rounding=False)
        # |D(h) - D(2h)| is (2^order - 1) times D(h)'s truncation error: at least twice it
        order = rd.STENCILS[method].order
        error = np.abs(d - d2) * max(1.0, 2.0 / (2.0**order - 1.0)) + rounding
    else:
        error = extrapolation + rounding
    info = DerivativeInfo(error, problem.nfev, steps.astype(np.float64), method)
    return d, info


def numerical_gradient(
    f: Callable[..., float],
    x: ArrayLike,
    *,
    h: float | Literal["auto"] = 1e-4,
    method: Method = "central",
    args: tuple = (),
    backend: Literal["auto", "numpy", "numba", "dask"] = "auto",
    full_output: bool = False,
    vectorized: bool = False,
    client: Any = None,
    progress: bool | None = None,
) -> NDArray[np.float64] | tuple[NDArray[np.float64], DerivativeInfo]:
    """Numerical gradient of a scalar function; by default the book's central difference.

    Parameters
    ----------
    f : callable
        ``f(x, *args) -> float``; compiled with ``numba.njit`` for ``backend="numba"``.
    x : ndarray of float, any shape
        The parameters. The numpy backend nudges a writable float64 ``x`` in place and
        restores it bit for bit, so that the book's ``f = lambda w: net.loss(x, t)`` sees
        every nudge; any other ``x`` is copied, and an ``f`` that then ignores its argument
        is an error (``docs/design.md``, "The public contract", also on threads and float32).
    h : float or "auto", default 1e-4
        The book's absolute step, within ``[100 eps, 0.1] * max(1, max|x|)``; or ``"auto"``:
        per element, the method's power of ``eps`` times ``max(1, |x_p|)``.
    method : {"central", "forward", "backward", "central4", "complex", "richardson"}
    args : tuple
        Extra arguments of ``f``; the numba backend gives each chunk of parameters its own
        copies of the arrays in it (``f`` may use them as scratch).
    backend : {"auto", "numpy", "numba", "dask"}
        ``"auto"``: the parallel kernel for a Numba-compiled ``f``, the reference otherwise.
        ``"dask"``: ranges of parameters on a Dask cluster, bit for bit the local result.
    full_output : bool, default False
        Also return a :class:`DerivativeInfo` (per-element error estimate, evaluations).
    vectorized : bool, default False
        NumPy backend: ``f`` maps a stack of points ``(k, *x.shape)`` to ``(k,)`` and may be
        called from several threads at once (:mod:`fastgrad._stacks`).
    client, progress
        ``backend="dask"`` only: the client or scheduler address (default: the current
        client), and a progress bar (``None``: only for long calls).

    Returns
    -------
    ndarray of float64, shaped like ``x`` (and a :class:`DerivativeInfo` if ``full_output``)

    Notes
    -----
    Section 4.4 of the book. The numba backend's result does not depend on the thread count
    and equals the reference bit for bit for the same compiled ``f``. An exception of ``f``
    reaches the caller naming the parameter; NaN or inf elements are kept, with a warning.

    Examples
    --------
    >>> numerical_gradient(lambda x: (x**2).sum(), np.array([3.0, 4.0]))
    array([6., 8.])
    >>> g, info = numerical_gradient(np.exp, np.array(1.0), method="richardson", h="auto",
    ...                              full_output=True)
    >>> bool(abs(g - np.e) < 1e-12), bool(info.error >= abs(g - np.e)), info.nfev  # f(x) + 6
    (True, True, 7)
    """
    problem = prepare(
        f, x, args, backend, vectorized, False, h, method, full_output, client, progress
    )
    d, info = _differentiate(problem, method, h, full_output)
    grad = np.asarray(d, dtype=np.float64).reshape(problem.arr.shape)
    _warn_non_finite(grad, "gradient")
    if info is None:
        return grad
    return grad, DerivativeInfo(
        info.error.reshape(problem.arr.shape),
        info.nfev,
        info.h.reshape(problem.arr.shape),
        method,
    )


def jacobian(
    f: Callable[..., ArrayLike],
    x: ArrayLike,
    *,
    h: float | Literal["auto"] = 1e-4,
    method: Method = "central",
    args: tuple = (),
    backend: Literal["auto", "numpy", "numba", "dask"] = "auto",
    full_output: bool = False,
    vectorized: bool = False,
    client: Any = None,
    progress: bool | None = None,
) -> NDArray[np.float64] | tuple[NDArray[np.float64], DerivativeInfo]:
    """Numerical Jacobian of ``f: R^n -> R^m``, shape ``(m, *x.shape)``.

    The same parameters as :func:`numerical_gradient`; ``f(x, *args)`` returns a 1-D array of
    ``m`` values (with ``vectorized=True``: ``(k, m)`` for a stack of ``k`` points).

    Examples
    --------
    >>> J = jacobian(lambda v: np.array([v[0] * v[1], v[0] + v[1] ** 2]), np.array([2.0, 3.0]),
    ...              h="auto", method="central4")
    >>> J.round(8)
    array([[3., 2.],
           [1., 6.]])
    """
    problem = prepare(
        f, x, args, backend, vectorized, True, h, method, full_output, client, progress
    )
    d, info = _differentiate(problem, method, h, full_output)  # (n, m)
    shape = (d.shape[1], *problem.arr.shape)
    J = np.ascontiguousarray(np.asarray(d, dtype=np.float64).T).reshape(shape)
    _warn_non_finite(J, "Jacobian")
    if info is None:
        return J
    error = np.ascontiguousarray(info.error.T).reshape(shape)
    return J, DerivativeInfo(error, info.nfev, info.h.reshape(problem.arr.shape), method)


def hessian(
    f: Callable[..., float],
    x: ArrayLike,
    *,
    h: float | Literal["auto"] = "auto",
    method: Literal["central"] = "central",
    args: tuple = (),
    backend: Literal["auto", "numpy", "numba", "dask"] = "auto",
    full_output: bool = False,
    client: Any = None,
    progress: bool | None = None,
) -> NDArray[np.float64] | tuple[NDArray[np.float64], DerivativeInfo]:
    """Numerical Hessian of a scalar ``f``, shape ``(n, n)`` for ``n = x.size``, symmetric.

    Second central differences, ``(f(+i+j) - f(+i-j) - f(-i+j) + f(-i-j)) / (4 h_i h_j)``
    (on the diagonal, steps of ``2 h_i``): ``1 + 2n + 2n(n-1)`` evaluations; the parallel
    kernel fills each pair ``i <= j`` once. ``h="auto"`` is ``eps^(1/4) max(1, |x_p|)``.
    ``backend="dask"`` (with ``client=`` and ``progress=``, as for
    :func:`numerical_gradient`) evaluates ranges
    of rows ``i`` on the workers, the result equal bit for bit to the local backend's.

    Examples
    --------
    >>> hessian(lambda v: v[0] ** 2 * v[1], np.array([1.0, 2.0])).round(6)
    array([[4., 2.],
           [2., 0.]])
    """
    if method != "central":
        raise ValueError(f"hessian supports method='central' (second differences), got {method!r}")
    problem = prepare(f, x, args, backend, False, False, h, None, full_output, client, progress)
    with problem.held():
        steps = _hessian_steps(problem, h)
        H, values = _second_differences(problem, steps)
        _warn_non_finite(H, "Hessian")
        if not full_output:
            return H
        H2, _ = _second_differences(problem, 2 * steps)
    eps = float(np.finfo(problem.dtype).eps)
    mag = float(np.max(np.abs(values)))
    hs = steps.astype(np.float64)
    error = np.abs(H - H2) + 4 * eps * mag / np.outer(hs, hs)
    return H, DerivativeInfo(error, problem.nfev, hs.reshape(problem.arr.shape), method)


def _hessian_steps(problem: Problem, h: Any) -> NDArray:
    if isinstance(h, str) and h == "auto":
        return rd.auto_step("central", problem.arr, problem.dtype, rd.HESSIAN_POWER).reshape(-1)
    return steps_for(h, "central", problem.arr, problem.dtype)


def _second_differences(problem: Problem, hs: NDArray) -> tuple[NDArray, NDArray]:
    """The Hessian with steps ``hs`` on the problem's backend, and its second-difference
    values."""
    in_place = False
    if problem.backend == "numpy":
        v, in_place = problem.working_array(False)
        if not v.flags.c_contiguous:
            v, in_place = v.copy(), False
        values = rd.hessian_values(located(problem.call, v), v, hs, problem.base())
    elif problem.backend == "dask":
        v = np.array(problem.arr, dtype=problem.dtype, order="C")
        values = problem.hessian_values_dask(v, hs)
    else:
        v = np.array(problem.arr, dtype=problem.dtype, order="C")
        f0 = float(problem.base())
        with region(function_site("hessian", problem.f, v, v.size), blas=True):
            values, i, j = kd.hessian_values(problem.f, v, hs, problem.args, f0)
        if i >= 0:
            raise_again(problem, v, hessian_points(v, hs, i, j))
        n = v.size
        problem.nfev += 2 * n + 2 * n * (n - 1)
    with np.errstate(invalid="ignore", over="ignore"):  # _warn_non_finite says it once
        H = rd.combine_hessian(values, hs)
    problem.reject_if_ignored(H, in_place)
    return H, values
