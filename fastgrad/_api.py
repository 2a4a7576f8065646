"""The front door of the networks: validate once, pick the backend twin, hand it plain arrays.

``backend="numpy"`` is :mod:`fastgrad.reference` (the book, the oracle); ``backend="numba"``
is :mod:`fastgrad.kernels`. More backends plug into :data:`BACKENDS` later. The backend
registry and the thread controls live here too; the differentiation of arbitrary functions
(``fastgrad.numerical_gradient``, ``jacobian``, ``hessian``, ``check_gradient``) is
:mod:`fastgrad._differentiate`.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numba
import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _dask, kernels, reference
from ._validation import (
    as_batch,
    as_labels,
    as_params_array,
    check_h,
    check_positive_float,
    check_positive_int,
    check_step,
    max_abs,
)
from .kernels.inputs import max_magnitude
from .reference.multilayer import check_activation, check_weight_decay, param_names
from .reference.nets import PARAM_NAMES

__all__ = [
    "BACKENDS",
    "Backend",
    "SimpleNet",
    "TwoLayerNet",
    "MultiLayerNet",
    "gradient_check",
    "NetworkGradientCheck",
    "ParamCheck",
    "threads",
    "get_num_threads",
    "set_num_threads",
]

Backend = Literal["numpy", "numba", "dask"]

#: Backend name -> the module of twins that implements it. ``"dask"`` runs the kernels' twins
#: on a Dask cluster for the gradients (:mod:`fastgrad._dask`) and locally for the rest.
BACKENDS: dict[str, Any] = {"numpy": reference, "numba": kernels, "dask": kernels}


def resolve_backend(backend: str) -> str:
    """Return a registered backend name, or raise ``ValueError`` listing the choices."""
    if not isinstance(backend, str) or backend not in BACKENDS:
        choices = ", ".join(repr(b) for b in BACKENDS)
        raise ValueError(f"unknown backend {backend!r}; choose one of {choices}")
    return backend


# -- threads --------------------------------------------------------------------------------


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


# -- networks -------------------------------------------------------------------------------


def _batch_labels(x: NDArray, t: ArrayLike, n_out: int) -> NDArray:
    return as_labels(t, x.shape[0] if x.ndim == 2 else None, n_out).astype(np.int64, copy=False)


def _finite_scale(arrays: Mapping[str, NDArray]) -> float:
    """``max |value|`` over the named arrays, or ``ValueError`` naming the first that holds
    NaN or an infinity: on the kernels' backend, one compiled pass per array checks
    finiteness and gives the step's scale (:func:`fastgrad.kernels.inputs.max_magnitude`)."""
    scale = 0.0
    for name, a in arrays.items():
        m = max_magnitude(a)
        if not math.isfinite(m):
            raise ValueError(f"{name} contains NaN or infinite values")
        scale = max(scale, m)
    return scale


def _checked_params(
    params: Any, shapes: Mapping[str, tuple], names: Sequence[str], owner: str, backend: str
) -> tuple[dict[str, NDArray], float | None]:
    """The parameters checked (keys, shapes, real and finite values) as float64 C arrays; on
    ``"numba"`` also ``max |value|`` over them (:func:`_finite_scale`), elsewhere ``None``
    (NumPy's ``isfinite`` checks them, as the reference does)."""
    if not isinstance(params, dict) or set(params) != set(names):
        raise ValueError(f"params must be a dict with keys {names}")
    compiled = backend == "numba"
    checked = {
        k: as_params_array(params[k], shapes[k], k, owner, check_finite=not compiled) for k in names
    }
    return checked, _finite_scale(checked) if compiled else None


def _kernel_batch(x: NDArray, keep_float32: bool) -> NDArray:
    """A batch that :func:`as_batch` checked but for its finiteness, as the kernels' C-ordered
    float64 (or float32, kept) array, its finiteness checked by one compiled pass."""
    dtype = np.float32 if keep_float32 and x.dtype == np.float32 else np.float64
    x = np.ascontiguousarray(x, dtype=dtype)
    _finite_scale({"x": x})
    return x


def _step(h: float, params: Mapping[str, NDArray], scale: float | None) -> float:
    """``h`` (checked by :func:`check_h`) against the parameters' scale (:func:`check_step`),
    ``scale`` where :func:`_checked_params` gave it."""
    if scale is None:
        scale = max(max_abs(v) for v in params.values())
    return check_step(h, scale)


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
        if self.backend == "dask":
            raise ValueError(
                "SimpleNet has 6 parameters: nothing to gain from a cluster; use backend='numba'"
            )
        self.W = reference.SimpleNet(W, rng=rng).W

    def __repr__(self) -> str:
        return f"{type(self).__name__}(2 -> 3, backend={self.backend!r})"

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
        W = as_params_array(self.W, (2, 3), "W")
        h = check_step(check_h(h), max_abs(W))
        x = as_batch(x, 2)
        labels = _batch_labels(x, t, 3)
        if self.backend == "numba":
            # checked above, so the kernel itself rather than its twin class, which checks
            # again: with 6 parameters the checks are most of the call
            rows = np.ascontiguousarray(x, dtype=np.float64).reshape(-1, 2)
            return kernels.nets.numgrad_simple(W, rows, labels, h)
        return reference.SimpleNet(W).numerical_gradient(x, labels, h)


class TwoLayerNet:
    """The book's two-layer network (section 4.5) on a chosen backend.

    Parameters
    ----------
    input_size, hidden_size, output_size : int
    weight_init_std : float, default 0.01
    backend : {"numba", "numpy", "dask"}, default "numba"
        ``"dask"``: ``numerical_gradient`` and ``gradient`` split the rows of the batch across
        the workers of a Dask cluster, each running the numba kernel on its rows; the partial
        gradients are combined in a fixed order, within 1e-12 (relative) of ``"numba"``'s
        (another summation order, so not bit for bit). ``predict``, ``loss`` and ``accuracy``
        run locally on the kernels.
    rng : int or numpy.random.Generator, optional
        The same seed gives the same initial parameters on every backend.
    client : distributed.Client or str, optional
        ``backend="dask"`` only: the client or a scheduler address; default, the current one
        (``distributed.get_client()``) at each call.

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
        client: Any = None,
    ) -> None:
        self.backend = resolve_backend(backend)
        _dask.check_client_argument(client, self.backend)
        self.client = client
        self.params = reference.TwoLayerNet(
            input_size, hidden_size, output_size, weight_init_std, rng=rng
        ).params
        self._shapes = {k: v.shape for k, v in self.params.items()}

    def __repr__(self) -> str:
        (n_in, n_hidden), n_out = self._shapes["W1"], self._shapes["b2"][0]
        return f"{type(self).__name__}({n_in}, {n_hidden}, {n_out}, backend={self.backend!r})"

    def _prepare(self, x: ArrayLike, t: ArrayLike | None = None, *, copy: bool = False):
        """The backend's twin on the checked parameters, ``x``, the labels and, on
        ``"numba"``, the parameters' scale (:func:`_checked_params`)."""
        (n_in, n_hidden), n_out = self._shapes["W1"], self._shapes["b2"][0]
        net = f"this {n_in}-{n_hidden}-{n_out} network"
        params, scale = _checked_params(self.params, self._shapes, PARAM_NAMES, net, self.backend)
        if copy:
            params = {k: v.copy() if v is self.params[k] else v for k, v in params.items()}
        x = as_batch(x, n_in, check_finite=self.backend != "numba")
        labels = None if t is None else _batch_labels(x, t, n_out)
        if self.backend == "numba":  # float32 stays float32: the kernels read it as float64
            x = _kernel_batch(x, keep_float32=True)
        return BACKENDS[self.backend].TwoLayerNet.from_params(params), x, labels, scale

    def predict(self, x: ArrayLike) -> NDArray:
        """Softmax output, shape (batch, output_size), or (output_size,) for a 1-D ``x``."""
        net, x, _, _ = self._prepare(x)
        return net.predict(x)

    def loss(self, x: ArrayLike, t: ArrayLike) -> float:
        """The book's loss: mean of ``-log(y[n, t_n] + 1e-7)``."""
        net, x, t, _ = self._prepare(x, t)
        return float(net.loss(x, t))

    def accuracy(self, x: ArrayLike, t: ArrayLike) -> float:
        """Fraction of rows whose largest output is the target class."""
        net, x, t, _ = self._prepare(x, t)
        return float(net.accuracy(x, t))

    def numerical_gradient(self, x: ArrayLike, t: ArrayLike, h: float = 1e-4) -> dict[str, NDArray]:
        """Central-difference gradient of :meth:`loss`, a dict shaped like ``params``.

        ``h`` must lie within ``[100 eps, 0.1] * max(1, max|params|)``: smaller steps are lost
        to rounding in the reference, larger ones measure a secant.
        """
        h = check_h(h)
        net, x, t, scale = self._prepare(x, t, copy=self.backend == "numpy")
        h = _step(h, net.params, scale)
        if self.backend == "dask":
            client = _dask.get_client(getattr(self, "client", None))
            return _dask.row_split(client, net, "numerical_gradient", x, t, (h,))
        return net.numerical_gradient(x, t, h)

    def gradient(self, x: ArrayLike, t: ArrayLike) -> dict[str, NDArray]:
        """The analytic gradient by backprop (the book's ``gradient``), a dict like ``params``."""
        net, x, t, _ = self._prepare(x, t)
        if self.backend == "dask":
            client = _dask.get_client(getattr(self, "client", None))
            return _dask.row_split(client, net, "gradient", x, t)
        return net.gradient(x, t)


class MultiLayerNet:
    """The book's fully connected network of any depth (chapter 6, ``MultiLayerNet``) on a
    chosen backend: ReLU or sigmoid hidden layers, He/Xavier initialisation, weight decay.

    Parameters
    ----------
    input_size : int
    hidden_size_list : list of int
        Widths of the hidden layers, at least one, e.g. ``[100, 100]``.
    output_size : int
        At least 2.
    activation : {"relu", "sigmoid"}, default "relu"
    weight_init_std : {"relu", "he", "sigmoid", "xavier"} or float, default "relu"
        ``"relu"``/``"he"``: ``sqrt(2 / fan_in)``; ``"sigmoid"``/``"xavier"``:
        ``sqrt(1 / fan_in)``; a number: that standard deviation.
    weight_decay_lambda : float, default 0
        The loss adds ``0.5 * lambda * sum(W ** 2)`` for every weight matrix.
    backend : {"numba", "numpy"}, default "numba"
    rng : int or numpy.random.Generator, optional
        The same seed gives the same initial parameters on every backend.

    Attributes
    ----------
    params : dict of str to ndarray of float64
        ``W1, b1, ..., W{L+1}, b{L+1}``. Read at every call: assign or update them between
        calls as in the book; their shapes are fixed at construction.
    activation : str
    weight_decay_lambda : float

    Notes
    -----
    The chapter-5 two-layer ReLU network of the book's ``gradient_check.py`` is
    ``MultiLayerNet(784, [50], 10, weight_init_std=0.01)``.

    ``predict`` returns the last affine layer's scores (logits), as the book's layered
    networks do. ``numerical_gradient`` on ``"numba"`` is the structure-aware kernel of
    :mod:`fastgrad.kernels.multilayer` (within the reference's own rounding of its numbers,
    kinks of the ReLU included); on ``"numpy"`` it is the book's loop, two losses per
    parameter.

    Examples
    --------
    >>> net = MultiLayerNet(4, [3, 3], 2, rng=0)
    >>> x, t = np.ones((5, 4)), np.array([0, 1, 1, 0, 1])
    >>> grads = net.numerical_gradient(x, t)
    >>> sorted(grads), grads["W2"].shape
    (['W1', 'W2', 'W3', 'b1', 'b2', 'b3'], (3, 3))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size_list: Sequence[int],
        output_size: int,
        activation: str = "relu",
        weight_init_std: float | str = "relu",
        weight_decay_lambda: float = 0,
        *,
        backend: Backend = "numba",
        rng: Any = None,
    ) -> None:
        self.backend = resolve_backend(backend)
        ref = reference.MultiLayerNet(
            input_size,
            hidden_size_list,
            output_size,
            activation,
            weight_init_std,
            weight_decay_lambda,
            rng=rng,
        )
        self.params = ref.params
        self.activation = ref.activation
        self.weight_decay_lambda = ref.weight_decay_lambda
        self._names = param_names(ref.hidden_layer_num + 1)
        self._shapes = {k: v.shape for k, v in self.params.items()}
        sizes = [ref.input_size, *ref.hidden_size_list, ref.output_size]
        self._sizes = tuple(int(s) for s in sizes)
        self._what = f"this {'-'.join(str(s) for s in sizes)} network"

    def __repr__(self) -> str:
        n_in, *hidden, n_out = self._sizes
        lam = self.weight_decay_lambda
        lam = lam.item() if isinstance(lam, np.generic) else lam
        extra = f", weight_decay_lambda={lam!r}" if lam else ""
        return (
            f"{type(self).__name__}({n_in}, {hidden}, {n_out}, activation={self.activation!r}"
            f"{extra}, backend={self.backend!r})"
        )

    def _prepare(self, x: ArrayLike, t: ArrayLike | None = None, *, copy: bool = False):
        """As :meth:`TwoLayerNet._prepare`, with the activation and the decay checked."""
        activation = check_activation(self.activation)
        lam = check_weight_decay(self.weight_decay_lambda)
        params, scale = _checked_params(
            self.params, self._shapes, self._names, self._what, self.backend
        )
        if copy:
            params = {k: v.copy() if v is self.params[k] else v for k, v in params.items()}
        x = as_batch(x, self._sizes[0], check_finite=self.backend != "numba")
        labels = None if t is None else _batch_labels(x, t, self._sizes[-1])
        if self.backend == "numba":
            x = _kernel_batch(x, keep_float32=False)
        net = BACKENDS[self.backend].MultiLayerNet.from_params(params, activation, lam)
        return net, x, labels, scale

    def predict(self, x: ArrayLike) -> NDArray:
        """Scores of the last affine layer (logits), shape (batch, output_size), or
        (output_size,) for a 1-D ``x``."""
        net, x, _, _ = self._prepare(x)
        return net.predict(x)

    def loss(self, x: ArrayLike, t: ArrayLike) -> float:
        """The book's loss: softmax cross-entropy (with its ``+ 1e-7``) plus
        ``0.5 * lambda * sum(W ** 2)`` over the weight matrices."""
        net, x, t, _ = self._prepare(x, t)
        return float(net.loss(x, t))

    # the same steps as the two-layer network's: validate, pick the twin, call it
    accuracy = TwoLayerNet.accuracy
    numerical_gradient = TwoLayerNet.numerical_gradient
    gradient = TwoLayerNet.gradient


# -- gradient_check -------------------------------------------------------------------------

#: Default pass mark of :func:`gradient_check`: every parameter array's mean absolute
#: difference (the figure the book's script prints) at most this. Why 1e-6 (in full in
#: :func:`gradient_check`'s Notes): a correct backprop differs from the central difference by
#: the ``+ 1e-7`` it leaves out of the book's logarithm (about 1.4e-7 on ``b2`` of the book's
#: chapter-5 network on three MNIST images, so 1e-7 would fail a correct network), by the
#: ``O(h^2)`` error and by rounding; a wrong one by the error's share of the gradient.
GRADIENT_CHECK_TOL = 1e-6


@dataclass(frozen=True)
class ParamCheck:
    """One parameter array's line of :func:`gradient_check`.

    Attributes
    ----------
    name : str
    mean_abs_diff : float
        The book's figure (``gradient_check.py``): ``mean |backprop - numerical|``.
    max_abs_diff : float
    max_rel_diff : float
        ``max |backprop - numerical| / max(|numerical|, tiny)`` (as :func:`check_gradient`).
    worst : tuple of int
        Index of the largest absolute difference.
    """

    name: str
    mean_abs_diff: float
    max_abs_diff: float
    max_rel_diff: float
    worst: tuple[int, ...]


@dataclass(frozen=True)
class NetworkGradientCheck(Mapping[str, ParamCheck]):
    """The result of :func:`gradient_check`: a read-only mapping of parameter name to its
    :class:`ParamCheck`, in the network's order, with a verdict.

    ``result["W1"]``, ``"W1" in result``, ``list(result)`` (the names), ``dict(result)`` and
    ``result.items()`` work as for a dict. ``checks`` holds the same :class:`ParamCheck` in
    order; ``numerical`` and ``backprop`` hold the compared gradients. ``str()`` is a table
    whose last line is the verdict.

    Attributes
    ----------
    checks : tuple of ParamCheck
    h : float
        The numerical gradient's step.
    numerical, backprop : dict of str to ndarray
    tol : float
        The pass mark: a parameter array passes when its mean absolute difference is at most
        ``tol``.
    activation : str or None
        The network's hidden activation when it has one (``net.activation``), else None.
    near_kinks : int or None
        For a ReLU :class:`MultiLayerNet`: how many hidden pre-activations of the batch lie
        within ``h * max(1, max |layer input|)`` of 0, where one step of a parameter of their
        own layer can cross the kink (a crossing caused through an earlier layer is not
        counted); None for other networks.
    """

    checks: tuple[ParamCheck, ...]
    h: float
    numerical: dict[str, NDArray] = field(repr=False, compare=False)
    backprop: dict[str, NDArray] = field(repr=False, compare=False)
    tol: float = GRADIENT_CHECK_TOL
    activation: str | None = None
    near_kinks: int | None = None

    def __getitem__(self, name: str) -> ParamCheck:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return (c.name for c in self.checks)

    def __len__(self) -> int:
        return len(self.checks)

    @property
    def max_abs_diff(self) -> float:
        """The largest absolute difference over every parameter."""
        return max(c.max_abs_diff for c in self.checks)

    @property
    def failed(self) -> tuple[str, ...]:
        """Names of the parameter arrays whose mean absolute difference is above ``tol`` (or
        NaN), in order."""
        return tuple(c.name for c in self.checks if not c.mean_abs_diff <= self.tol)

    @property
    def passed(self) -> bool:
        """True when every parameter array's mean absolute difference is at most ``tol``."""
        return not self.failed

    def verdict(self) -> str:
        """The verdict line: ``PASS: ...`` or ``FAIL: ...`` naming ``tol`` and the failed
        arrays, with the likely cause when a ReLU pre-activation lies near its kink."""
        if self.passed:
            return f"PASS: every mean |diff| is at most {self.tol:g}"
        line = f"FAIL: mean |diff| above {self.tol:g} for {', '.join(self.failed)}"
        if self.near_kinks:
            n = self.near_kinks
            which = f"{n} ReLU pre-activation{'s' if n > 1 else ''} of this batch"
            line += (
                f"; {which} {'lie' if n > 1 else 'lies'} within one step of the kink at 0, "
                "where the central difference straddles it: a likely cause, even with a "
                "correct backprop (check on other inputs)"
            )
        return line

    def __str__(self) -> str:
        lines = [
            f"gradient check: backprop vs numerical gradient (h={self.h:g})",
            f"{'param':<8}{'mean |diff|':>14}{'max |diff|':>14}{'max rel diff':>14}  worst index",
        ]
        for c in self.checks:
            lines.append(
                f"{c.name:<8}{c.mean_abs_diff:>14.3e}{c.max_abs_diff:>14.3e}"
                f"{c.max_rel_diff:>14.3e}  {c.worst}"
            )
        lines.append(self.verdict())
        return "\n".join(lines)


def gradient_check(
    net: Any, x: ArrayLike, t: ArrayLike, *, h: float = 1e-4, tol: float = GRADIENT_CHECK_TOL
) -> NetworkGradientCheck:
    """Compare a network's backprop gradient with its numerical gradient, as the book's
    ``gradient_check.py`` does (section 5.7.3), parameter array by parameter array.

    Parameters
    ----------
    net : TwoLayerNet or MultiLayerNet
        Any fastgrad network with ``numerical_gradient(x, t, h)`` and ``gradient(x, t)``, on
        either backend (the front door validates ``x``, ``t`` and ``h``).
    x : ndarray, shape (batch, input_size)
    t : ndarray
        Integer labels or one-hot rows.
    h : float, default 1e-4
        The numerical gradient's step.
    tol : float, default 1e-6
        The pass mark for each array's mean absolute difference (the book's figure); a finite
        float > 0 (``TypeError`` for a non-number, ``ValueError`` otherwise).

    Returns
    -------
    NetworkGradientCheck
        A mapping of parameter name to its figures: the book's (mean absolute difference),
        the largest absolute and relative differences and where the largest is; with the
        verdict (``passed``, ``failed``, the last line of ``str()``).

    Notes
    -----
    The figures are small, not zero: the central difference has an ``O(h^2)`` error and the
    book's backprop leaves out the ``+ 1e-7`` inside the logarithm (about 1e-7 on the last
    bias, hence ``tol=1e-6``). A ReLU network whose pre-activation lies within one step of 0
    can fail with a correct backprop (``near_kinks`` counts them; a failing verdict names
    them). Why the mean, why 1e-6, and the limits of both: ``docs/networks.md``,
    "MultiLayerNet (chapters 5 and 6) and the gradient check".

    Examples
    --------
    >>> net = MultiLayerNet(6, [4], 3, weight_init_std=0.5, rng=0)
    >>> x, t = np.linspace(0, 1, 12).reshape(2, 6), np.array([0, 2])
    >>> report = gradient_check(net, x, t)
    >>> list(report), "W1" in report, report.passed
    (['W1', 'b1', 'W2', 'b2'], True, True)
    >>> str(report).splitlines()[-1]
    'PASS: every mean |diff| is at most 1e-06'
    """
    for method in ("numerical_gradient", "gradient"):
        if not callable(getattr(net, method, None)):
            raise TypeError(
                f"net must be a fastgrad network with numerical_gradient and gradient methods "
                f"(TwoLayerNet, MultiLayerNet), got {type(net).__name__}"
            )
    h = check_h(h)
    tol = check_positive_float(tol, "tol")
    numerical = net.numerical_gradient(x, t, h)
    backprop = net.gradient(x, t)
    if list(numerical) != list(backprop):
        raise ValueError(
            f"numerical_gradient gave keys {list(numerical)} but gradient {list(backprop)}"
        )
    checks = tuple(_param_check(name, numerical[name], backprop[name]) for name in numerical)
    activation = getattr(net, "activation", None)
    return NetworkGradientCheck(
        checks,
        h,
        dict(numerical),
        dict(backprop),
        tol=tol,
        activation=activation if isinstance(activation, str) else None,
        near_kinks=_near_kinks(net, x, h),
    )


def _param_check(name: str, numerical: ArrayLike, backprop: ArrayLike) -> ParamCheck:
    """The figures of one parameter array (shapes must match)."""
    n = np.asarray(numerical, dtype=np.float64)
    b = np.asarray(backprop, dtype=np.float64)
    if n.shape != b.shape:
        raise ValueError(f"{name}: numerical gradient {n.shape}, backprop {b.shape}")
    diff = np.abs(b - n)
    worst = np.unravel_index(int(np.argmax(diff)), diff.shape)
    return ParamCheck(
        name=name,
        mean_abs_diff=float(np.average(diff)),
        max_abs_diff=float(diff.max()),
        max_rel_diff=float(np.max(diff / np.maximum(np.abs(n), np.finfo(np.float64).tiny))),
        worst=tuple(int(i) for i in worst),
    )


def _near_kinks(net: Any, x: ArrayLike, h: float) -> int | None:
    """For a ReLU :class:`MultiLayerNet`, the number of hidden pre-activations of the batch
    within ``h * max(1, max |layer input|)`` of 0 (one step of a weight or bias of their own
    layer can cross the kink); None for any other network. ``x`` is already validated."""
    if not isinstance(net, MultiLayerNet) or net.activation != "relu":
        return None
    z = np.atleast_2d(np.asarray(x, dtype=np.float64))
    count = 0
    for w, b in zip(net._names[:-2:2], net._names[1:-2:2], strict=True):
        a = z @ net.params[w] + net.params[b]
        count += int(np.count_nonzero(np.abs(a) < h * max(1.0, float(np.abs(z).max()))))
        z = np.maximum(a, 0.0)
    return count
