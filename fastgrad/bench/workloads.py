"""The workloads of the bench's groups, shared with the pytest-benchmark suites in
``benchmarks/``: MNIST-like inputs, the book's networks with the same parameters for every
backend (:class:`NetCase`), the TwoLayerNet loss of a flat parameter vector for the peers
(:class:`FlatLoss`), and the extended Rosenbrock function with its analytic derivatives.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
from numpy.typing import NDArray

from .. import MultiLayerNet, TwoLayerNet, reference
from ..reference.nets import PARAM_NAMES
from .subset import SubsetGradient, reference_subset


@functools.lru_cache(maxsize=1)
def _mnist_sample() -> tuple[NDArray, NDArray] | None:
    """The offline MNIST sample's 4,000 training images and labels; None if its files
    cannot be read."""
    from ..datasets import MNISTError, load_mnist

    try:
        return load_mnist(normalize=True, flatten=True, source="sample")[0]
    except (ImportError, MNISTError, OSError):
        return None


def mnist_images(
    n: int, rng: np.random.Generator, synthetic: bool = False, n_in: int = 784
) -> tuple[NDArray, NDArray, str]:
    """``(x, t, description)``: ``n`` MNIST sample digits or, ``synthetic``, without the
    sample's files or at another input size, float32 images with about 80% zero pixels at
    random positions (MNIST's sit mostly at the borders) and random labels."""
    data = None if synthetic or n_in != 784 else _mnist_sample()
    if data is not None:
        idx = rng.choice(data[0].shape[0], n, replace=False)
        return data[0][idx], data[1][idx].astype(np.int64), "MNIST sample digits"
    x = rng.random((n, n_in), dtype=np.float32)
    x[rng.random((n, n_in)) < 0.8] = 0.0
    return x, rng.integers(0, 10, n), "synthetic, ~80% zeros at random positions"


def simplenet_example() -> tuple[NDArray, NDArray, NDArray]:
    """``(W, x, t)``: the book's SimpleNet example (section 4.4.2), fresh arrays."""
    W = np.array([[0.47355232, 0.9977393, 0.84668094], [0.85557411, 0.03563661, 0.69422093]])
    return W, np.array([0.6, 0.9]), np.array([0, 0, 1])


@dataclass
class NetCase:
    """A network's parameters and a batch: :meth:`net` and :meth:`reference` build networks
    that start from copies of the same parameters."""

    label: str
    x: NDArray
    t: NDArray
    params: dict[str, NDArray]
    description: str
    #: ``make(backend=...)``: fastgrad's network; ``make_reference(params)``: the reference's
    make: Callable[..., Any]
    make_reference: Callable[[dict], Any]

    @property
    def n_params(self) -> int:
        return sum(v.size for v in self.params.values())

    def net(self, backend: str = "numba") -> Any:
        net = self.make(backend=backend)
        net.params = {k: v.copy() for k, v in self.params.items()}
        return net

    def reference(self) -> Any:
        return self.make_reference({k: v.copy() for k, v in self.params.items()})

    def reference_subset(self, k: int, rng: np.random.Generator) -> SubsetGradient:
        """The reference's numerical gradient on ``k`` random parameters."""
        ref = self.reference()
        return reference_subset(functools.partial(ref.loss, self.x, self.t), ref.params, k, rng)


def two_layer_case(
    n_in: int = 784,
    n_hidden: int = 50,
    n_out: int = 10,
    batch: int = 100,
    inputs: str = "dense",
    seed: int = 0,
) -> NetCase:
    """The book's TwoLayerNet with its initialisation, on ``inputs``: "dense" (float32
    uniform [0, 1)), "mnist" or "sparse" (:func:`mnist_images`, synthetic)."""
    rng = np.random.default_rng(seed)
    params = reference.TwoLayerNet(n_in, n_hidden, n_out, rng=rng).params
    if inputs == "dense":
        x, t = rng.random((batch, n_in), dtype=np.float32), rng.integers(0, n_out, batch)
        description = "float32 uniform [0, 1)"
    elif inputs in ("mnist", "sparse"):
        x, t, description = mnist_images(batch, rng, inputs == "sparse", n_in)
    else:
        raise ValueError(f"inputs must be 'dense', 'mnist' or 'sparse', not {inputs!r}")
    label = f"{n_in}-{n_hidden}-{n_out} b{batch} {inputs}"
    make = functools.partial(TwoLayerNet, n_in, n_hidden, n_out)
    return NetCase(label, x, t, params, description, make, reference.TwoLayerNet.from_params)


class FlatLoss:
    """The TwoLayerNet loss as a function of a flat parameter vector (``PARAM_NAMES`` order),
    for the peers: ``sub(v)`` is the loss with only the parameters at flat positions
    ``picks`` set to ``v``, the others at ``theta0``."""

    def __init__(self, case: NetCase, picks: NDArray) -> None:
        self.theta0 = self.flatten(case.params)
        self._work = self.theta0.copy()
        ends = np.cumsum([case.params[k].size for k in PARAM_NAMES])[:-1]
        views = zip(PARAM_NAMES, np.split(self._work, ends), strict=True)  # views, not copies
        self._net = reference.TwoLayerNet.from_params(
            {k: v.reshape(case.params[k].shape) for k, v in views}
        )
        self._x, self._t, self.picks = case.x, case.t, np.asarray(picks)

    @staticmethod
    def flatten(arrays: dict[str, NDArray]) -> NDArray:
        """Parameters or gradients ``{name: array}`` as one vector, in ``PARAM_NAMES`` order."""
        return np.concatenate([arrays[k].ravel() for k in PARAM_NAMES])

    def sub(self, v: NDArray) -> float:
        self._work[self.picks] = v
        return float(self._net.loss(self._x, self._t))

    def sub_arrays(self) -> tuple[Callable[[], float], dict[str, NDArray]]:
        """``(loss, {"v": v})`` for :func:`reference_subset` over the picked parameters."""
        v = self.theta0[self.picks].copy()
        return (lambda: self.sub(v)), {"v": v}


#: The chapter-6 MultiLayerNets: hidden sizes, activation, weight decay.
NETWORKS = (((100, 100), "relu", 0.0), ((50,), "relu", 0.0), ((100, 100), "sigmoid", 0.1))


def multilayer_case(
    hidden: tuple[int, ...], activation: str, decay: float, seed: int = 0
) -> NetCase:
    """A MultiLayerNet 784-hidden-10 with the class's default (He) initialisation, batch 100
    of MNIST sample digits, as float64."""
    rng = np.random.default_rng(seed)
    options = {"activation": activation, "weight_decay_lambda": decay}
    params = reference.MultiLayerNet(784, list(hidden), 10, rng=rng, **options).params
    x, t, description = mnist_images(100, rng)
    sizes = "-".join(map(str, (784, *hidden, 10)))
    label = f"{sizes} {activation}{f' wd{decay:g}' if decay else ''} b100 mnist"
    make = functools.partial(MultiLayerNet, 784, list(hidden), 10, **options)
    make_reference = functools.partial(reference.MultiLayerNet.from_params, **options)
    x = np.asarray(x, dtype=np.float64)
    return NetCase(label, x, t, params, description, make, make_reference)


# -- the extended Rosenbrock function (Moré-Garbow-Hillstrom 21) ---------------------------------


@numba.njit(cache=True)
def extended_rosenbrock(x):  # pragma: no cover - compiled
    """``sum_i (10 (x_2i+1 - x_2i^2))^2 + (1 - x_2i)^2`` for even ``n``: a loop that
    allocates nothing and accepts the complex step."""
    s = 0.0
    for i in range(0, x.size - 1, 2):
        a = 10.0 * (x[i + 1] - x[i] * x[i])
        b = 1.0 - x[i]
        s += a * a + b * b
    return s


def extended_rosenbrock_stack(X: NDArray) -> NDArray:
    """:func:`extended_rosenbrock` in NumPy, for a point ``(n,)`` or a stack ``(k, n)``."""
    a, b = X[..., 0::2], X[..., 1::2]
    return np.sum((10.0 * (b - a * a)) ** 2 + (1.0 - a) ** 2, axis=-1)


def extended_rosenbrock_start(n: int) -> NDArray:
    """The standard starting point: ``(-1.2, 1)`` repeated."""
    if n % 2:
        raise ValueError(f"the extended Rosenbrock function needs an even n, got {n}")
    return np.tile([-1.2, 1.0], n // 2)


def extended_rosenbrock_gradient(x: NDArray) -> NDArray:
    """The analytic gradient of :func:`extended_rosenbrock`, in ``x``'s dtype."""
    a, b = x[0::2], x[1::2]
    g = np.empty_like(x)
    g[0::2] = -400.0 * a * (b - a * a) - 2.0 * (1.0 - a)
    g[1::2] = 200.0 * (b - a * a)
    return g


def extended_rosenbrock_hessian(x: NDArray) -> NDArray:
    """The analytic Hessian of :func:`extended_rosenbrock`: 2x2 blocks on the diagonal."""
    a, b = x[0::2], x[1::2]
    H = np.zeros((x.size, x.size), dtype=x.dtype)
    i = np.arange(0, x.size, 2)
    H[i, i] = 1200.0 * a * a - 400.0 * b + 2.0
    H[i, i + 1] = H[i + 1, i] = -400.0 * a
    H[i + 1, i + 1] = 200.0
    return H
