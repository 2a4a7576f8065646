"""Numerical differentiation, as in *Deep Learning from Scratch* chapter 4 (``common/gradient.py``).

The book's central difference, perturbing the caller's array in place and restoring it, so
that ``numerical_gradient(lambda w: net.loss(x, t), net.W)`` works as in the book. This is
the oracle for :mod:`fastgrad.kernels.gradient`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["numerical_diff", "numerical_gradient", "central_difference", "gradient_descent"]


def numerical_diff(f: Callable[[float], float], x: float, h: float = 1e-4) -> float:
    """Central difference ``(f(x + h) - f(x - h)) / (2h)`` of a scalar function (section 4.3.1).

    Parameters
    ----------
    f : callable, float -> float
    x : float
        Where to differentiate.
    h : float, default 1e-4
        Absolute step; the book's choice balances truncation against rounding error.

    Returns
    -------
    float

    Examples
    --------
    >>> round(numerical_diff(lambda x: 0.01 * x**2 + 0.1 * x, 5.0), 9)
    0.2
    """
    return (f(x + h) - f(x - h)) / (2 * h)


def numerical_gradient(f: Callable[[NDArray], float], x: NDArray, h: float = 1e-4) -> NDArray:
    """Central-difference gradient of ``f`` at ``x``, one element at a time (section 4.4).

    Parameters
    ----------
    f : callable, ndarray -> float
        Called as ``f(x)`` with ``x`` itself, one element nudged by ``+h`` then ``-h``.
    x : ndarray of float, any shape
        Perturbed in place and restored element by element, bit for bit, also when ``f``
        raises. It must be writable and of a floating dtype.
    h : float, default 1e-4

    Returns
    -------
    ndarray, same shape and dtype as ``x``
        ``grad[idx] = (f(x + h e_idx) - f(x - h e_idx)) / (2h)``.

    Notes
    -----
    Costs ``2 * x.size`` calls of ``f``. The book's ``lambda W: net.loss(x, t)`` idiom relies
    on ``x`` being the network's own parameter array, changed in place.

    Examples
    --------
    >>> numerical_gradient(lambda x: np.sum(x**2), np.array([3.0, 4.0]))
    array([6., 8.])
    """
    grad = np.zeros_like(x)

    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    while not it.finished:
        idx = it.multi_index
        grad[idx] = central_difference(f, x, idx, h)
        it.iternext()

    return grad


def central_difference(
    f: Callable[[NDArray], float], x: NDArray, idx: tuple[int, ...], h: float = 1e-4
) -> float:
    """One element of :func:`numerical_gradient`: nudge ``x[idx]`` in place by ``+h`` and
    ``-h``, evaluate ``f``, restore ``x[idx]`` bit for bit (also when ``f`` raises).

    The same steps, in the same order, as each iteration of the book's loop, so that a
    subset of a gradient (a benchmark of the reference on a sample of parameters, a test of
    a large network) is bitwise what the full reference gives.

    Parameters
    ----------
    f : callable, ndarray -> float
    x : ndarray of float
        Writable; nudged in place and restored.
    idx : tuple of int
        The element to nudge.
    h : float, default 1e-4

    Returns
    -------
    float
        ``(f(x + h e_idx) - f(x - h e_idx)) / (2h)``.

    Examples
    --------
    >>> round(float(central_difference(lambda x: np.sum(x**2), np.array([3.0, 4.0]), (1,))), 9)
    8.0
    """
    tmp_val = x[idx]
    try:
        x[idx] = float(tmp_val) + h
        fxh1 = f(x)  # f(x+h)

        x[idx] = tmp_val - h
        fxh2 = f(x)  # f(x-h)
    finally:
        x[idx] = tmp_val  # restore, even when f raised
    return (fxh1 - fxh2) / (2 * h)


def gradient_descent(
    f: Callable[[NDArray], float],
    init_x: ArrayLike,
    lr: float = 0.01,
    step_num: int = 100,
) -> tuple[NDArray, NDArray]:
    """Plain gradient descent with :func:`numerical_gradient` (section 4.4.1).

    Parameters
    ----------
    f : callable, ndarray -> float
    init_x : array_like of float
        Starting point; copied, never modified (the book updates it in place).
    lr : float, default 0.01
        Learning rate.
    step_num : int, default 100

    Returns
    -------
    x : ndarray
        The point after ``step_num`` steps.
    history : ndarray, shape (step_num, *init_x.shape)
        The point before each step.

    Examples
    --------
    >>> x, history = gradient_descent(lambda x: x[0]**2 + x[1]**2, [-3.0, 4.0], lr=0.1)
    >>> history.shape
    (100, 2)
    >>> bool(np.all(np.abs(x) < 1e-9))
    True
    """
    x = np.array(init_x, dtype=np.float64)
    x_history = []

    for _ in range(step_num):
        x_history.append(x.copy())

        grad = numerical_gradient(f, x)
        x -= lr * grad

    return x, np.array(x_history)
