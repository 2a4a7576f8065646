"""``fastgrad.check_gradient``: a gradient function against the numerical gradient, element
by element or along random directions (two evaluations each, PyTorch's fast mode), with the
book's idiom honoured on every path (:mod:`fastgrad._idiom`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _dask
from ._differentiate import Method, numerical_gradient
from ._idiom import nudging
from ._problem import Problem, checked_float_array, prepare
from ._validation import check_int

__all__ = ["GradientCheck", "check_gradient"]


def _directional_derivatives(problem: Problem, u: NDArray, h: Any, method: str) -> NDArray:
    """The derivatives of ``s -> f(x + s u_d)`` at 0 for each row ``u_d`` of ``u``, evaluated
    locally whatever the backend (a few evaluations each). Like :func:`numerical_gradient`, it
    moves the caller's own array when the numpy backend may (the book's idiom: ``f`` may read
    that array instead of its argument) and restores it bit for bit; on a copy, an ``f``
    that ignores its argument is an error."""
    v, in_place = problem.working_array(False)
    in_place = in_place and method != "complex"  # a complex point needs a complex copy
    out = np.empty(u.shape[0])
    with problem.held():
        saved = np.array(v, dtype=np.float64).reshape(-1)
        try:
            for d in range(u.shape[0]):
                along = _along(problem, v if in_place else None, saved, u[d])
                out[d] = numerical_gradient(along, np.zeros(1), h=h, method=method)[0]
        finally:
            if in_place:
                np.copyto(v, saved.reshape(v.shape), casting="same_kind")
    problem.reject_if_ignored(out, in_place)
    return out


def _along(problem: Problem, v: NDArray | None, saved: NDArray, u: NDArray) -> Callable:
    """``s -> f(x + s u)``, written into ``v`` (the caller's array) or, for ``None``, into a
    new array of the working dtype (complex for a complex ``s``)."""
    shape, dtype = problem.arr.shape, problem.dtype

    def along(s: NDArray) -> Any:
        point = (saved + s[0] * u).reshape(shape)
        if v is None:
            return problem.call(point.astype(np.result_type(dtype, point.dtype)))
        np.copyto(v, point, casting="same_kind")
        return problem.call(v)

    return along


@dataclass(frozen=True)
class GradientCheck:
    """The result of :func:`check_gradient`: truthy when every element passes.

    Attributes
    ----------
    ok : bool
        ``|g - n| <= atol + rtol |n|`` for every element (or direction).
    max_abs_error, max_rel_error : float
        Largest ``|g - n|`` and ``|g - n| / max(|n|, tiny)``.
    worst : tuple of int
        Index (into ``x``, or ``(direction,)``) of the largest ``|g - n| - rtol |n|``.
    analytic, numerical : ndarray
        The compared values: the gradient elements, or the directional derivatives.
    rtol, atol : float
    directions : int or None
    """

    ok: bool
    max_abs_error: float
    max_rel_error: float
    worst: tuple[int, ...]
    analytic: NDArray[np.float64]
    numerical: NDArray[np.float64]
    rtol: float
    atol: float
    directions: int | None

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        what = f"{self.directions} random directions" if self.directions else "every element"
        lines = [
            f"gradient check ({what}, |g - n| <= {self.atol:g} + {self.rtol:g} |n|): "
            + ("passed" if self.ok else "FAILED"),
            f"max abs error {self.max_abs_error:.3e}, max rel error {self.max_rel_error:.3e}",
            f"{'index':>16} {'analytic':>14} {'numerical':>14} {'abs error':>10}",
        ]
        err = np.abs(self.analytic - self.numerical)
        order = np.argsort(-err, axis=None)[:5]
        for flat in order:
            idx = np.unravel_index(flat, err.shape)
            lines.append(
                f"{str(tuple(int(i) for i in idx)):>16} {self.analytic[idx]:>14.6e} "
                f"{self.numerical[idx]:>14.6e} {err[idx]:>10.2e}"
            )
        return "\n".join(lines)


def check_gradient(
    f: Callable[..., float],
    grad: Callable[..., ArrayLike],
    x: ArrayLike,
    *,
    args: tuple = (),
    rtol: float = 1e-5,
    atol: float = 1e-8,
    method: Method = "central",
    h: float | Literal["auto"] = "auto",
    directions: int | None = None,
    backend: Literal["auto", "numpy", "numba", "dask"] = "auto",
    seed: int = 0,
    client: Any = None,
    progress: bool | None = None,
) -> GradientCheck:
    """Compare a gradient function with the numerical gradient, element by element or along
    ``directions`` random directions (two evaluations each, PyTorch's fast mode).

    Parameters
    ----------
    f : callable
        ``f(x, *args) -> float``.
    grad : callable
        ``grad(x, *args) -> ndarray`` shaped like ``x``: the gradient to check.
    x : ndarray of float
    rtol, atol : float
        An element passes when ``|g - n| <= atol + rtol |n|``.
    method, h, backend, args, client, progress
        As for :func:`numerical_gradient` (``h`` defaults to ``"auto"`` here). With
        ``directions``, the few directional derivatives are evaluated locally on any
        backend.
    directions : int, optional
        Check ``directions`` directional derivatives ``g . u`` along random unit vectors
        ``u`` (seeded by ``seed``) instead of every element.

    Returns
    -------
    GradientCheck
        Truthy when every element (or direction) passes; ``str()`` is a small table.

    Examples
    --------
    >>> x = np.array([1.0, 2.0])
    >>> bool(check_gradient(lambda v: np.sum(v**3), lambda v: 3 * v**2, x))
    True
    >>> bool(check_gradient(lambda v: np.sum(v**3), lambda v: 3 * v, x))
    False
    """
    rtol, atol = _check_tolerances(rtol, atol)
    if not callable(grad):
        raise TypeError(f"grad must be callable, got {type(grad).__name__}")
    arr = checked_float_array(x)
    _dask.check_client_argument(client, backend)
    _dask.check_progress_argument(progress, backend)
    # grad may read the array being nudged, as f may (the book's idiom): both under the lock
    with nudging(x if isinstance(x, np.ndarray) and x.flags.writeable else None):
        g = np.asarray(grad(np.array(arr, dtype=np.float64), *args), dtype=np.float64)
        if g.shape != arr.shape:
            raise ValueError(f"grad returned shape {g.shape}, but x has shape {arr.shape}")
        if directions is None:
            kw = dict(h=h, method=method, args=args, backend=backend, client=client)
            analytic, numerical = g, numerical_gradient(f, x, progress=progress, **kw)
        else:
            k = check_int(directions, "directions", 1)
            problem = prepare(f, x, args, backend, False, False, h, method, client=client)
            u = np.random.default_rng(seed).standard_normal((k, arr.size))
            u /= np.linalg.norm(u, axis=1, keepdims=True)
            numerical = _directional_derivatives(problem, u, h, method)
            analytic = u @ g.reshape(-1)
    return _compared(analytic, numerical, rtol, atol, directions)


def _check_tolerances(rtol: Any, atol: Any) -> tuple[float, float]:
    rtol, atol = float(rtol), float(atol)
    if not (np.isfinite(rtol) and rtol >= 0 and np.isfinite(atol) and atol >= 0):
        raise ValueError(f"rtol and atol must be finite and >= 0, got {rtol!r}, {atol!r}")
    return rtol, atol


def _compared(analytic, numerical, rtol: float, atol: float, directions) -> GradientCheck:
    err = np.abs(analytic - numerical)
    excess = err - (atol + rtol * np.abs(numerical))
    worst_flat = int(np.argmax(excess))
    worst = tuple(int(i) for i in np.unravel_index(worst_flat, np.shape(numerical)))
    rel = err / np.maximum(np.abs(numerical), np.finfo(np.float64).tiny)
    return GradientCheck(
        ok=bool(np.all(excess <= 0)),
        max_abs_error=float(err.max()),
        max_rel_error=float(rel.max()),
        worst=worst,
        analytic=np.asarray(analytic, dtype=np.float64),
        numerical=np.asarray(numerical, dtype=np.float64),
        rtol=rtol,
        atol=atol,
        directions=None if directions is None else int(directions),
    )
