"""The front door of the networks: validate once, pick the backend twin, hand it plain arrays.

``backend="numpy"`` is :mod:`fastgrad.reference` (the book, the oracle); ``backend="numba"``
is :mod:`fastgrad.kernels`. More backends plug into :data:`BACKENDS` later. The backend
registry and the thread controls live here too; the differentiation of arbitrary functions
(``fastgrad.numerical_gradient``, ``jacobian``, ``hessian``, ``check_gradient``) is
:mod:`fastgrad._differentiate`.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any, Literal

import numba
import numpy as np
from numpy.typing import ArrayLike, NDArray
from threadpoolctl import ThreadpoolController

from . import kernels, reference
from ._config import PARALLEL_LOCK
from ._validation import (
    as_batch,
    as_labels,
    as_params_array,
    check_h,
    check_positive_int,
    check_step,
)
from .reference.nets import PARAM_NAMES

__all__ = [
    "BACKENDS",
    "Backend",
    "SimpleNet",
    "TwoLayerNet",
    "threads",
    "get_num_threads",
    "set_num_threads",
]

Backend = Literal["numpy", "numba"]

#: Backend name -> the module of twins that implements it.
BACKENDS: dict[str, Any] = {"numpy": reference, "numba": kernels}


def resolve_backend(backend: str) -> str:
    """Return a registered backend name, or raise ``ValueError`` listing the choices."""
    if not isinstance(backend, str) or backend not in BACKENDS:
        choices = ", ".join(repr(b) for b in BACKENDS)
        raise ValueError(f"unknown backend {backend!r}; choose one of {choices}")
    return backend


# -- threads --------------------------------------------------------------------------------

_blas = None
_blas_lock = threading.Lock()


def _blas_controller() -> ThreadpoolController:
    global _blas
    with _blas_lock:
        if _blas is None:
            _blas = ThreadpoolController()
        return _blas


@contextlib.contextmanager
def _kernel_region() -> Iterator[None]:
    """Hold BLAS to one thread while Numba's threads run a user's ``f`` (which may call BLAS:
    the two pools oversubscribe the cores, docs/design.md "Pitfalls"), and serialise the call
    where the threading layer needs it (``_config.PARALLEL_LOCK``). The network kernels call
    no BLAS and need no such region; switching costs about 60 us."""
    with PARALLEL_LOCK, _blas_controller().limit(limits=1, user_api="blas"):
        yield


def get_num_threads() -> int:
    """The number of threads the kernels use in this Python thread (Numba's setting)."""
    return numba.get_num_threads()


def set_num_threads(n: int) -> None:
    """Set the kernels' thread count for this Python thread, 1 to ``NUMBA_NUM_THREADS``."""
    n = check_positive_int(n, "threads")
    if n > numba.config.NUMBA_NUM_THREADS:
        raise ValueError(
            f"threads={n} exceeds the {numba.config.NUMBA_NUM_THREADS} threads Numba started "
            "with; set NUMBA_NUM_THREADS before importing fastgrad to allow more"
        )
    numba.set_num_threads(n)


@contextlib.contextmanager
def threads(n: int | None) -> Iterator[int]:
    """Run a block with ``n`` kernel threads (``None``: all), restoring the count afterwards.

    Examples
    --------
    >>> with threads(1):
    ...     get_num_threads()
    1
    """
    before = numba.get_num_threads()
    try:
        set_num_threads(numba.config.NUMBA_NUM_THREADS if n is None else n)
        yield numba.get_num_threads()
    finally:
        numba.set_num_threads(before)


def _max_abs(arr: NDArray) -> float:
    """``max |arr|``, the scale of the parameters a step is checked against."""
    return float(max(np.max(arr), -np.min(arr)))


# -- networks -------------------------------------------------------------------------------


def _batch_labels(x: NDArray, t: ArrayLike, n_out: int) -> NDArray:
    return as_labels(t, x.shape[0] if x.ndim == 2 else None, n_out).astype(np.int64, copy=False)


class SimpleNet:
    """The book's ``simpleNet`` (section 4.4.2) on a chosen backend.

    Parameters
    ----------
    W : array_like, shape (2, 3), optional
        Initial weights (copied). Default: standard normal draws from ``rng``.
    backend : {"numba", "numpy"}
    rng : int or numpy.random.Generator, optional

    Attributes
    ----------
    W : ndarray of float64, shape (2, 3)
        Read at every call; assign a new array between calls as in the book.

    Examples
    --------
    >>> net = SimpleNet(W=[[0.81712406, 0.99336792, 0.80548288],
    ...                    [0.74296342, 0.23464375, 0.46333048]], backend="numpy")
    >>> net.numerical_gradient(np.array([0.6, 0.9]), np.array([0, 0, 1])).round(8)
    array([[ 0.24237012,  0.17049818, -0.4128683 ],
           [ 0.36355518,  0.25574726, -0.61930245]])
    """

    def __init__(self, W: ArrayLike | None = None, *, backend: Backend = "numba", rng: Any = None):
        self.backend = resolve_backend(backend)
        self.W = reference.SimpleNet(W, rng=rng).W

    def _impl(self) -> Any:
        # the reference copies W (it perturbs its own array in place); kernels only read it
        return BACKENDS[self.backend].SimpleNet(as_params_array(self.W, (2, 3), "W"))

    def predict(self, x: ArrayLike) -> NDArray:
        """Scores ``x @ W``; ``x`` of shape (2,) or (batch, 2)."""
        return self._impl().predict(as_batch(x, 2))

    def loss(self, x: ArrayLike, t: ArrayLike) -> float:
        """Cross-entropy of ``softmax(x @ W)`` against one-hot rows or labels ``t``."""
        x = as_batch(x, 2)
        return float(self._impl().loss(x, _batch_labels(x, t, 3)))

    def numerical_gradient(self, x: ArrayLike, t: ArrayLike, h: float = 1e-4) -> NDArray:
        """Central-difference gradient of :meth:`loss` with respect to ``W``, shaped like ``W``."""
        net = self._impl()
        h = check_step(check_h(h), _max_abs(net.W))
        x = as_batch(x, 2)
        return net.numerical_gradient(x, _batch_labels(x, t, 3), h)


class TwoLayerNet:
    """The book's two-layer network (section 4.5) on a chosen backend.

    Parameters
    ----------
    input_size, hidden_size, output_size : int
    weight_init_std : float, default 0.01
    backend : {"numba", "numpy"}, default "numba"
    rng : int or numpy.random.Generator, optional
        The same seed gives the same initial parameters on every backend.

    Attributes
    ----------
    params : dict of str to ndarray of float64
        ``W1`` (input_size, hidden_size), ``b1``, ``W2`` (hidden_size, output_size), ``b2``.
        Read at every call: assign or update them between calls as in the book.

    Notes
    -----
    Each method validates its input once and hands float64, C-ordered arrays to the backend.
    ``numerical_gradient`` on ``"numba"`` is the structure-aware kernel of
    :mod:`fastgrad.kernels.nets` (thousands of times faster than the reference's two forward
    passes per parameter, and within 1e-10 of it); on ``"numpy"`` it is the book's loop.

    Examples
    --------
    >>> net = TwoLayerNet(4, 3, 2, rng=0)
    >>> x, t = np.ones((5, 4)), np.array([0, 1, 1, 0, 1])
    >>> grads = net.numerical_gradient(x, t)
    >>> sorted(grads), grads["W1"].shape
    (['W1', 'W2', 'b1', 'b2'], (4, 3))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        weight_init_std: float = 0.01,
        *,
        backend: Backend = "numba",
        rng: Any = None,
    ) -> None:
        self.backend = resolve_backend(backend)
        self.params = reference.TwoLayerNet(
            input_size, hidden_size, output_size, weight_init_std, rng=rng
        ).params
        self._shapes = {k: v.shape for k, v in self.params.items()}

    def _checked_params(self) -> dict[str, NDArray]:
        params = self.params
        if not isinstance(params, dict) or set(params) != set(PARAM_NAMES):
            raise ValueError(f"params must be a dict with keys {PARAM_NAMES}")
        n_in, n_hidden = self._shapes["W1"]
        n_out = self._shapes["b2"][0]
        net = f"this {n_in}-{n_hidden}-{n_out} network"
        return {k: as_params_array(params[k], self._shapes[k], k, net) for k in PARAM_NAMES}

    def _prepare(self, x: ArrayLike, t: ArrayLike | None = None, *, copy: bool = False):
        params = self._checked_params()
        if copy:
            params = {k: v.copy() if v is self.params[k] else v for k, v in params.items()}
        x = as_batch(x, params["W1"].shape[0])
        labels = None if t is None else _batch_labels(x, t, params["W2"].shape[1])
        if self.backend == "numba":
            x = np.ascontiguousarray(x, dtype=np.float64)
        return BACKENDS[self.backend].TwoLayerNet.from_params(params), x, labels

    def predict(self, x: ArrayLike) -> NDArray:
        """Softmax output, shape (batch, output_size), or (output_size,) for a 1-D ``x``."""
        net, x, _ = self._prepare(x)
        return net.predict(x)

    def loss(self, x: ArrayLike, t: ArrayLike) -> float:
        """The book's loss: mean of ``-log(y[n, t_n] + 1e-7)``."""
        net, x, t = self._prepare(x, t)
        return float(net.loss(x, t))

    def accuracy(self, x: ArrayLike, t: ArrayLike) -> float:
        """Fraction of rows whose largest output is the target class."""
        net, x, t = self._prepare(x, t)
        return float(net.accuracy(x, t))

    def numerical_gradient(self, x: ArrayLike, t: ArrayLike, h: float = 1e-4) -> dict[str, NDArray]:
        """Central-difference gradient of :meth:`loss`, a dict shaped like ``params``.

        ``h`` must lie within ``[100 eps, 0.1] * max(1, max|params|)``: smaller steps are lost
        to rounding in the reference, larger ones measure a secant.
        """
        h = check_h(h)
        net, x, t = self._prepare(x, t, copy=self.backend == "numpy")
        h = check_step(h, max(_max_abs(v) for v in net.params.values()))
        return net.numerical_gradient(x, t, h)

    def gradient(self, x: ArrayLike, t: ArrayLike) -> dict[str, NDArray]:
        """The analytic gradient by backprop (the book's ``gradient``), a dict like ``params``."""
        net, x, t = self._prepare(x, t)
        return net.gradient(x, t)
