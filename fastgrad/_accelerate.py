"""``fastgrad.accelerate``: the reader's own book network on the kernels, on the reader's arrays.

Most readers of the book type its networks themselves, or run the classes of its repository.
:func:`accelerate` recognises such an object from the attributes the book gives it, builds the
matching fastgrad network around the *same* ``params`` dict (so the reader's loop
``network.params[key] -= lr * grad[key]`` updates what fastgrad reads), and proves the match
before it trusts it: the reader's own ``loss(x, t)`` must equal fastgrad's on the batch. A
class name is not proof; a mismatch is refused, never accelerated wrongly.

The proof runs on the first call and again whenever the batch's shape, a parameter array (a
rebinding of ``params[key]``) or the weight decay changes; otherwise a call costs the fastgrad
network's own time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._api import Backend, MultiLayerNet, TwoLayerNet

__all__ = ["accelerate", "LOSS_RTOL", "LOSS_ATOL"]

#: The reader's loss and fastgrad's evaluate the same float64 formula (sigmoid or ReLU,
#: softmax, ``-log(y + 1e-7)``, the weight decay) and differ only in the order of their sums
#: (BLAS blocking, pairwise against sequential sums, exp/log routines within an ulp): a few
#: ulps, about 1e-15 relative for the book's sizes. 1e-9 leaves a million-fold margin for that
#: and still sees the smallest real difference: at the book's 0.01 initialisation, ReLU in
#: place of sigmoid moves the loss by about 4e-3 (2e-3 relative), and ``+ 1e-8`` in place of
#: the book's ``+ 1e-7`` by about 4e-7 relative.
LOSS_RTOL = 1e-9
#: For a loss near 0 (every row fitted): each row's ``-log(y + 1e-7)`` is then near 0 and
#: carries an absolute rounding error of a few 1e-16.
LOSS_ATOL = 1e-12

SUPPORTED = (
    "chapter 4's TwoLayerNet (params W1, b1, W2, b2; predict with a sigmoid hidden layer and "
    "softmax; loss cross_entropy_error with the book's 1e-7), chapter 5's TwoLayerNet (layers "
    "Affine1, Relu1, Affine2; lastLayer a SoftmaxWithLoss) and common/multi_layer_net.py's "
    "MultiLayerNet (layers Affine{i} and Activation_function{i} of class Relu or Sigmoid; "
    "last_layer a SoftmaxWithLoss; weight_decay_lambda)"
)

#: The book's activation layer classes and fastgrad's names for them.
_ACTIVATION_LAYERS = {"Relu": "relu", "Sigmoid": "sigmoid"}


@dataclass(frozen=True)
class Recognised:
    """What :func:`recognise` found: the kind of book network and its architecture."""

    kind: str
    sizes: tuple[int, ...]
    activation: str
    weight_decay_lambda: float

    def __str__(self) -> str:
        decay = f", weight decay {self.weight_decay_lambda:g}" if self.weight_decay_lambda else ""
        return f"{self.kind} {'-'.join(map(str, self.sizes))} ({self.activation}{decay})"


def _refuse(net: Any, found: str, error: type[Exception] = TypeError) -> Exception:
    return error(
        f"fastgrad.accelerate cannot take this {type(net).__name__}: {found}. Supported: "
        f"{SUPPORTED}."
    )


def _check_params(net: Any) -> tuple[dict[str, NDArray], int]:
    """The reader's ``params`` dict and its number of affine layers, or the refusal."""
    params = getattr(net, "params", None)
    if not isinstance(params, dict):
        found = "it has no params dict" if params is None else f"params is {type(params).__name__}"
        raise _refuse(net, found)
    n_layers = len(params) // 2
    names = [f"{p}{i}" for i in range(1, n_layers + 1) for p in ("W", "b")]
    if n_layers < 2 or sorted(params) != sorted(names):
        raise _refuse(net, f"params has keys {sorted(params)}, not W1, b1, ..., WL, bL with L >= 2")
    for name in names:
        arr = params[name]
        if not isinstance(arr, np.ndarray):
            raise _refuse(net, f"params[{name!r}] is a {type(arr).__name__}, not a NumPy array")
        # fastgrad reads the reader's arrays where they lie; a converted copy would be a
        # second array that the reader's updates never reach
        if arr.dtype != np.float64 or not arr.flags.c_contiguous:
            what = "float64" if arr.dtype == np.float64 else str(arr.dtype)
            layout = "C-contiguous" if arr.flags.c_contiguous else "not C-contiguous"
            raise TypeError(
                f"fastgrad.accelerate shares the network's parameter arrays and reads them as "
                f"float64 in C order; params[{name!r}] is {what}, {layout}. Create it so where "
                f"the network is built, before any layer keeps a reference to it: "
                f"np.ascontiguousarray(W, dtype=np.float64) (the book's np.random.randn and "
                f"np.zeros already give that)"
            )
    previous = params["W1"].shape[0] if params["W1"].ndim == 2 else None
    for i in range(1, n_layers + 1):
        W, b = params[f"W{i}"], params[f"b{i}"]
        if W.ndim != 2 or b.shape != W.shape[1:] or W.shape[0] != previous:
            shapes = ", ".join(f"{k} {params[k].shape}" for k in names)
            raise _refuse(net, f"its parameter shapes do not chain: {shapes}", ValueError)
        previous = W.shape[1]
    return params, n_layers


def _class_name(obj: Any) -> str:
    return type(obj).__name__


def recognise(net: Any) -> Recognised:
    """The kind and architecture of the book network ``net``, or ``TypeError``/``ValueError``
    saying what was found and what is supported. Reads attributes only; calls nothing."""
    params, n_layers = _check_params(net)
    sizes = (params["W1"].shape[0], *(params[f"W{i}"].shape[1] for i in range(1, n_layers + 1)))
    layers = getattr(net, "layers", None)
    if layers is None:  # chapter 4: the network is its predict and loss methods
        if n_layers != 2 or not all(callable(getattr(net, m, None)) for m in ("predict", "loss")):
            raise _refuse(net, f"it has {n_layers} weight matrices and no layers")
        return Recognised("chapter 4's TwoLayerNet", sizes, "sigmoid", 0.0)

    if not isinstance(layers, Mapping):
        raise _refuse(net, f"layers is a {_class_name(layers)}, not an ordered dict of layers")
    found = [_class_name(layer) for layer in layers.values()]
    activations = set(found[1::2])
    expected_affine = ["Affine"] * n_layers
    if (
        found[::2] != expected_affine
        or len(found) != 2 * n_layers - 1
        or len(activations) != 1
        or not activations <= set(_ACTIVATION_LAYERS)
    ):
        raise _refuse(
            net,
            f"its layers are {', '.join(found)} for {n_layers} weight matrices, not Affine "
            f"layers with one activation between each pair (all Relu or all Sigmoid)",
        )
    kind, last = (
        ("MultiLayerNet", net.last_layer)
        if hasattr(net, "last_layer")
        else ("chapter 5's TwoLayerNet", getattr(net, "lastLayer", None))
    )
    if _class_name(last) != "SoftmaxWithLoss":
        raise _refuse(net, f"its last layer is {_class_name(last)}, not SoftmaxWithLoss")
    affines = list(layers.values())[::2]
    for i, layer in enumerate(affines, start=1):
        if getattr(layer, "W", None) is not params[f"W{i}"] or (
            getattr(layer, "b", None) is not params[f"b{i}"]
        ):
            raise _refuse(
                net,
                f"its Affine layer {i} does not hold the arrays params['W{i}'] and "
                f"params['b{i}'] (a rebinding of params[key] disconnects the book's layers "
                f"from params, so its own loss no longer follows the updates)",
                ValueError,
            )
    for attr, value in (
        ("input_size", sizes[0]),
        ("hidden_size_list", list(sizes[1:-1])),
        ("output_size", sizes[-1]),
    ):
        if hasattr(net, attr) and _as_list(getattr(net, attr)) != value:
            raise _refuse(
                net, f"{attr} is {getattr(net, attr)!r} but params' shapes give {value}", ValueError
            )
    lam = float(getattr(net, "weight_decay_lambda", 0.0))
    return Recognised(kind, sizes, _ACTIVATION_LAYERS[activations.pop()], lam)


def _as_list(value: Any) -> Any:
    return list(value) if isinstance(value, (list, tuple)) else value


class _Proven:
    """What an accelerated network adds to fastgrad's: the reader's network, and the proof
    that its loss is fastgrad's before each new batch shape, parameter array or weight decay.
    """

    network: Any
    recognised: Recognised
    backend: str
    params: dict[str, NDArray]

    def _attach(self, network: Any, recognised: Recognised) -> None:
        self.network = network
        self.recognised = recognised
        self.params = network.params  # the very dict: fastgrad reads the reader's arrays
        self._state: tuple[Any, ...] | None = None
        self._shapes_proven: set[tuple[Any, ...]] = set()

    def _prove(self, x: ArrayLike, t: ArrayLike) -> None:
        net = self.network
        state = (*net.params.values(), getattr(net, "weight_decay_lambda", 0.0))
        # identity, not equality: the arrays change in place every step, as they should
        if (
            self._state is None
            or len(state) != len(self._state)
            or any(a is not b for a, b in zip(state[:-1], self._state[:-1], strict=True))
            or state[-1] != self._state[-1]
        ):
            again = recognise(net)
            if again != self.recognised:
                raise ValueError(
                    f"the network changed since fastgrad.accelerate: it was {self.recognised} "
                    f"and is now {again}; call fastgrad.accelerate(network) again"
                )
            self.params = net.params
            self._state, self._shapes_proven = state, set()
        key = (np.shape(x), np.shape(t))
        if key in self._shapes_proven:
            return
        theirs = float(net.loss(x, t))
        ours = super().loss(x, t)  # type: ignore[misc]
        if not math.isclose(ours, theirs, rel_tol=LOSS_RTOL, abs_tol=LOSS_ATOL):
            hint = ""
            if self.recognised.kind.startswith("chapter 4") and np.ndim(t) == np.ndim(x) - 1:
                hint = " (chapter 4's loss may need one-hot targets t, as the book's are)"
            raise ValueError(
                f"fastgrad.accelerate refuses this {type(net).__name__}: it looks like "
                f"{self.recognised}, but on this batch its own loss(x, t) is {theirs!r} and "
                f"fastgrad's is {ours!r} (relative difference "
                f"{abs(ours - theirs) / max(abs(theirs), LOSS_ATOL):.1e}, allowed "
                f"{LOSS_RTOL:g}){hint}: it computes something else (another activation, "
                f"layer or loss). Supported: {SUPPORTED}. Use the network's own "
                f"numerical_gradient, or fastgrad.numerical_gradient(f, params[key])."
            )
        self._shapes_proven.add(key)

    def loss(self, x: ArrayLike, t: ArrayLike) -> float:
        self._prove(x, t)
        return super().loss(x, t)  # type: ignore[misc]

    def accuracy(self, x: ArrayLike, t: ArrayLike) -> float:
        self._prove(x, t)
        return super().accuracy(x, t)  # type: ignore[misc]

    def numerical_gradient(self, x: ArrayLike, t: ArrayLike, h: float = 1e-4) -> dict[str, NDArray]:
        self._prove(x, t)
        return super().numerical_gradient(x, t, h)  # type: ignore[misc]

    def gradient(self, x: ArrayLike, t: ArrayLike) -> dict[str, NDArray]:
        self._prove(x, t)
        return super().gradient(x, t)  # type: ignore[misc]

    def __repr__(self) -> str:
        return (
            f"<fastgrad.accelerate of {type(self.network).__name__}: {self.recognised}, "
            f"backend={self.backend!r}>"
        )


class AcceleratedTwoLayerNet(_Proven, TwoLayerNet):
    """:class:`fastgrad.TwoLayerNet` on a chapter-4 network's own ``params``."""


class AcceleratedMultiLayerNet(_Proven, MultiLayerNet):
    """:class:`fastgrad.MultiLayerNet` on a chapter-5 or -6 network's own ``params``."""


def accelerate(net: Any, *, backend: Backend = "numba") -> TwoLayerNet | MultiLayerNet:
    """A fastgrad network on the parameter arrays of a network written as the book writes it.

    Parameters
    ----------
    net : object
        The reader's network: chapter 4's ``TwoLayerNet``, chapter 5's layered
        ``TwoLayerNet`` or ``common/multi_layer_net.py``'s ``MultiLayerNet``, recognised from
        its ``params``, ``layers`` and ``lastLayer``/``last_layer``.
    backend : {"numba", "numpy"}, default "numba"

    Returns
    -------
    TwoLayerNet or MultiLayerNet
        A fastgrad network whose ``params`` is ``net.params`` (the same dict, the same
        arrays: update them in place as the book does and the next call sees it), with
        ``numerical_gradient(x, t)``, ``gradient(x, t)``, ``loss``, ``accuracy`` and
        ``predict`` returning what the book's methods return.

    Raises
    ------
    TypeError, ValueError
        At once, for an object that is not one of those networks or whose arrays cannot be
        shared (not float64, not C-contiguous); at the first call on a batch, when
        ``net.loss(x, t)`` and fastgrad's loss differ by more than :data:`LOSS_RTOL`.

    Notes
    -----
    Before trusting the match, each of ``loss``, ``accuracy``, ``numerical_gradient`` and
    ``gradient`` compares ``net.loss(x, t)`` with fastgrad's on the first batch of each shape,
    and again after a parameter array is rebound or the weight decay changes. ``predict``
    has no targets to prove with; call it after one of the others.

    Examples
    --------
    >>> class Net:  # chapter 4, in short
    ...     def __init__(self):
    ...         rng = np.random.default_rng(0)
    ...         self.params = {"W1": 0.01 * rng.standard_normal((4, 3)), "b1": np.zeros(3),
    ...                        "W2": 0.01 * rng.standard_normal((3, 2)), "b2": np.zeros(2)}
    ...     def predict(self, x):
    ...         z = 1 / (1 + np.exp(-(x @ self.params["W1"] + self.params["b1"])))
    ...         a = z @ self.params["W2"] + self.params["b2"]
    ...         return np.exp(a) / np.exp(a).sum(axis=1, keepdims=True)
    ...     def loss(self, x, t):
    ...         y = self.predict(x)
    ...         return -np.log(y[np.arange(len(t)), t] + 1e-7).mean()
    >>> net = Net()
    >>> fast = accelerate(net)
    >>> fast.params["W1"] is net.params["W1"]
    True
    >>> sorted(fast.numerical_gradient(np.ones((5, 4)), np.array([0, 1, 1, 0, 1])))
    ['W1', 'W2', 'b1', 'b2']
    """
    found = recognise(net)
    if found.kind.startswith("chapter 4"):
        fast: Any = AcceleratedTwoLayerNet(*found.sizes, backend=backend, rng=0)
    else:
        fast = AcceleratedMultiLayerNet(
            found.sizes[0],
            list(found.sizes[1:-1]),
            found.sizes[-1],
            found.activation,
            weight_decay_lambda=found.weight_decay_lambda,
            backend=backend,
            rng=0,
        )
    fast._attach(net, found)
    return fast
