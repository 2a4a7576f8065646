"""Activation and loss functions, as in *Deep Learning from Scratch* (``common/functions.py``).

Pure NumPy, the book's operations in the book's order: this module is the oracle that
:mod:`fastgrad.kernels.functions` is checked against. Nothing here validates its input beyond
what the book does; the package root (``fastgrad``) is the front door that does.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "identity_function",
    "step_function",
    "sigmoid",
    "sigmoid_grad",
    "relu",
    "relu_grad",
    "softmax",
    "sum_squared_error",
    "cross_entropy_error",
    "softmax_loss",
]

#: The book's guard inside the log of the cross-entropy error (section 4.2.2).
CROSS_ENTROPY_DELTA = 1e-7


def identity_function(x: ArrayLike) -> ArrayLike:
    """Return ``x`` unchanged: the output activation of a regression network (section 3.5.1).

    Parameters
    ----------
    x : array_like, any shape

    Returns
    -------
    array_like
        ``x`` itself.

    Examples
    --------
    >>> identity_function(np.array([1.0, -2.0]))
    array([ 1., -2.])
    """
    return x


def step_function(x: ArrayLike) -> NDArray[np.int_]:
    """Heaviside step: 1 where ``x > 0``, else 0 (section 3.2.3).

    Parameters
    ----------
    x : array_like, any shape

    Returns
    -------
    ndarray of int, same shape as ``x``

    Examples
    --------
    >>> step_function(np.array([-1.0, 0.0, 2.0]))
    array([0, 0, 1])
    """
    return np.array(np.asarray(x) > 0, dtype=int)


def sigmoid(x: ArrayLike) -> NDArray[np.floating]:
    """Logistic sigmoid ``1 / (1 + exp(-x))`` (section 3.2.4).

    Parameters
    ----------
    x : array_like, any shape

    Returns
    -------
    ndarray, same shape as ``x``

    Notes
    -----
    As in the book, ``exp(-x)`` overflows to ``inf`` (with a NumPy warning) for ``x < -709``
    and the result is then exactly 0.

    Examples
    --------
    >>> sigmoid(np.array([0.0, 2.0]))
    array([0.5       , 0.88079708])
    """
    return 1 / (1 + np.exp(-x))


def sigmoid_grad(x: ArrayLike) -> NDArray[np.floating]:
    """Derivative of :func:`sigmoid`, ``(1 - sigmoid(x)) * sigmoid(x)`` (section 5.5.2).

    Parameters
    ----------
    x : array_like, any shape

    Returns
    -------
    ndarray, same shape as ``x``

    Examples
    --------
    >>> sigmoid_grad(np.array([0.0]))
    array([0.25])
    """
    return (1.0 - sigmoid(x)) * sigmoid(x)


def relu(x: ArrayLike) -> NDArray:
    """Rectified linear unit ``max(0, x)`` (section 3.2.7).

    Parameters
    ----------
    x : array_like, any shape

    Returns
    -------
    ndarray, same shape as ``x``

    Examples
    --------
    >>> relu(np.array([-1.0, 0.5]))
    array([0. , 0.5])
    """
    return np.maximum(0, x)


def relu_grad(x: ArrayLike) -> NDArray:
    """Derivative of :func:`relu`, taken as 1 at ``x == 0`` (the book's ``common/functions.py``).

    Parameters
    ----------
    x : array_like, any shape

    Returns
    -------
    ndarray, same shape and dtype as ``x``

    Examples
    --------
    >>> relu_grad(np.array([-1.0, 0.0, 3.0]))
    array([0., 1., 1.])
    """
    grad = np.zeros_like(x)
    grad[x >= 0] = 1
    return grad


def softmax(x: ArrayLike) -> NDArray[np.floating]:
    """Softmax over the last axis, overflow-safe by subtracting the row maximum (section 3.5.2).

    Parameters
    ----------
    x : array_like, shape (..., n)

    Returns
    -------
    ndarray, same shape as ``x``
        Non-negative, each row along the last axis sums to 1.

    Examples
    --------
    >>> softmax(np.array([0.3, 2.9, 4.0]))
    array([0.01821127, 0.24519181, 0.73659691])
    >>> float(softmax(np.array([1010.0, 1000.0])).sum())
    1.0
    """
    x = x - np.max(x, axis=-1, keepdims=True)
    return np.exp(x) / np.sum(np.exp(x), axis=-1, keepdims=True)


def sum_squared_error(y: ArrayLike, t: ArrayLike) -> float:
    """Sum of squared errors ``0.5 * sum((y - t)**2)`` (section 4.2.1).

    Parameters
    ----------
    y : array_like, any shape
        Network output.
    t : array_like, same shape as ``y``
        Target, one-hot in the book's examples.

    Returns
    -------
    float

    Examples
    --------
    >>> t = [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
    >>> y = [0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0]
    >>> round(float(sum_squared_error(np.array(y), np.array(t))), 12)
    0.0975
    """
    return 0.5 * np.sum((y - t) ** 2)


def cross_entropy_error(y: ArrayLike, t: ArrayLike) -> float:
    """Mean cross-entropy ``-sum(log(y[n, t_n] + 1e-7)) / batch`` (sections 4.2.2-4.2.4).

    Parameters
    ----------
    y : ndarray, shape (n_classes,) or (batch, n_classes)
        Probabilities, e.g. the output of :func:`softmax`.
    t : ndarray, shape like ``y`` (one-hot) or (batch,) / scalar (integer labels)
        Targets. One-hot rows are turned into labels with ``argmax``, as in the book.

    Returns
    -------
    float
        The loss averaged over the batch.

    Notes
    -----
    The ``+ 1e-7`` keeps ``log(0)`` finite; it is part of the loss that the book's numerical
    gradients differentiate, so every backend keeps it.

    Examples
    --------
    >>> y = np.array([0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0])
    >>> t = np.array([0, 0, 1, 0, 0, 0, 0, 0, 0, 0])
    >>> round(float(cross_entropy_error(y, t)), 8)
    0.51082546
    >>> round(float(cross_entropy_error(y, np.array(2))), 8)
    0.51082546
    """
    y = np.asarray(y)
    t = np.asarray(t)
    if y.ndim == 1:
        t = t.reshape(1, t.size)
        y = y.reshape(1, y.size)

    # one-hot targets become label indices
    if t.size == y.size:
        t = t.argmax(axis=1)

    batch_size = y.shape[0]
    t = t.reshape(batch_size)
    return -np.sum(np.log(y[np.arange(batch_size), t] + CROSS_ENTROPY_DELTA)) / batch_size


def softmax_loss(X: ArrayLike, t: ArrayLike) -> float:
    """Cross-entropy of the softmax of the scores ``X``: ``cross_entropy_error(softmax(X), t)``.

    Parameters
    ----------
    X : ndarray, shape (n_classes,) or (batch, n_classes)
        Scores (logits).
    t : ndarray
        One-hot rows or integer labels, as in :func:`cross_entropy_error`.

    Returns
    -------
    float

    Examples
    --------
    >>> round(float(softmax_loss(np.array([[0.0, 0.0]]), np.array([1]))), 8)
    0.69314698
    """
    y = softmax(X)
    return cross_entropy_error(y, t)
