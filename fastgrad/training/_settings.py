""":func:`fastgrad.training.train`'s arguments, checked once, before anything runs.

:func:`check_train_args` is the one validation step of :func:`~fastgrad.training.train`
(the entry point calls it first; the loop then trusts its input): the network's layer sizes
(:func:`net_shape`), the data against them (:class:`Data`, the targets turned into integer
labels once) and the keyword arguments with their defaults filled in (:class:`Settings`).
A bad argument raises the ``TypeError`` or ``ValueError`` that ``train`` documents, naming it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .. import optimizers
from .._validation import as_batch, as_labels, check_int, check_positive_float
from ..reference.multilayer import param_names

__all__ = [
    "DEFAULT_SGD_LR",
    "GRAD_METHODS",
    "Data",
    "Settings",
    "as_optimizer",
    "check_train_args",
    "iters_per_epoch",
    "n_layers",
    "net_shape",
    "param_keys",
    "shape_str",
]

Grad = Literal["numerical", "backprop"]

#: The gradient methods :func:`~fastgrad.training.train` accepts: the network's
#: ``numerical_gradient`` (the book's chapter 4) or its ``gradient`` (backprop, chapter 5).
GRAD_METHODS: tuple[str, ...] = ("numerical", "backprop")

#: The learning rate of the book's chapter-4 run (``train_neuralnet.py``), the default of
#: plain SGD here; the other optimisers default to their own book values (section 6.1).
DEFAULT_SGD_LR = 0.1


def n_layers(params: Any) -> int:
    """The number of affine layers of a ``params`` dict: its keys ``W1, W2, ...`` in a row."""
    n = 0
    while f"W{n + 1}" in params:
        n += 1
    return n


def param_keys(params: Any) -> tuple[str, ...]:
    """``W1, b1, ..., W{L+1}, b{L+1}``: the keys training updates and a checkpoint saves."""
    return param_names(n_layers(params))


def net_shape(net: Any) -> tuple[int, ...]:
    """The layer sizes ``(input_size, *hidden_sizes, output_size)`` of ``net``: a
    ``TwoLayerNet``, a ``MultiLayerNet`` of any depth, or any object with their ``params``
    dict ``W1, b1, ..., W{L+1}, b{L+1}`` (at least one hidden layer) and methods."""
    params = getattr(net, "params", None)
    if (
        not isinstance(params, dict)
        or n_layers(params) < 2
        or not set(param_keys(params)) <= set(params)
    ):
        raise TypeError(
            "net must be a TwoLayerNet or a MultiLayerNet: an object with a params dict "
            "holding W1, b1, ..., W{L+1}, b{L+1} (L >= 1 hidden layers) and the methods "
            "numerical_gradient, gradient, loss and accuracy"
        )
    shapes = [np.shape(params[f"W{k}"]) for k in range(1, n_layers(params) + 1)]
    if any(len(w) != 2 for w in shapes) or any(
        a[1] != b[0] for a, b in zip(shapes[:-1], shapes[1:], strict=True)
    ):
        listed = ", ".join(f"W{k} {w}" for k, w in enumerate(shapes, 1))
        raise ValueError(f"net.params {listed} do not chain into a network")
    return (int(shapes[0][0]), *(int(w[1]) for w in shapes))


def shape_str(shape: Iterable[int]) -> str:
    """``784-50-10``: layer sizes as the book writes a network."""
    return "-".join(str(s) for s in shape)


def _check_data(
    x: ArrayLike, t: ArrayLike, shape: tuple[int, ...], xname: str, tname: str
) -> tuple[NDArray, NDArray]:
    x = as_batch(x, shape[0], xname)
    if x.ndim != 2:
        raise ValueError(f"{xname} must have shape (n, {shape[0]}), got {x.shape}")
    t_shape = np.shape(t)
    if not t_shape or t_shape[0] != x.shape[0]:
        raise ValueError(
            f"{tname} has shape {t_shape} but {xname} has {x.shape[0]} rows; "
            "pass one label or one-hot row per image"
        )
    # Labels once, here: the book's loss turns one-hot rows into labels with argmax anyway.
    return x, as_labels(t, x.shape[0], shape[-1], tname)


class Data(NamedTuple):
    """The training and test sets, checked against the network: the images as given, the
    targets as integer labels."""

    x_train: NDArray
    t_train: NDArray
    x_test: NDArray
    t_test: NDArray

    @classmethod
    def check(
        cls, shape: tuple[int, ...], x_train: Any, t_train: Any, x_test: Any, t_test: Any
    ) -> Data:
        return cls(
            *_check_data(x_train, t_train, shape, "x_train", "t_train"),
            *_check_data(x_test, t_test, shape, "x_test", "t_test"),
        )

    @property
    def n_train(self) -> int:
        return self.x_train.shape[0]


def iters_per_epoch(n_train: int, batch_size: int) -> int:
    """The book's ``iter_per_epoch = max(train_size / batch_size, 1)``, in whole iterations."""
    return max(n_train // batch_size, 1)


def _as_callbacks(callbacks: Any) -> tuple[Callable[..., Any], ...]:
    if callable(callbacks):
        callbacks = (callbacks,)
    callbacks = tuple(callbacks)
    for cb in callbacks:
        if not callable(cb):
            raise TypeError(f"callbacks must be callables, got {type(cb).__name__}")
    return callbacks


def as_optimizer(optimizer: Any, lr: Any) -> optimizers.Optimizer:
    """``train``'s ``optimizer`` and ``lr`` as one optimiser: None is plain SGD; a name
    is the book's optimiser with its defaults, the learning rate of plain SGD being
    :data:`DEFAULT_SGD_LR` (the book's chapter 4); ``lr`` overrides it. An
    :class:`~fastgrad.optimizers.Optimizer` is used as is (and its state carried on), so
    ``lr`` must then be None or its own."""
    if isinstance(optimizer, optimizers.Optimizer):
        if lr is not None and check_positive_float(lr, "lr") != optimizer.lr:
            raise ValueError(
                f"lr={lr!r} but the optimizer has lr={optimizer.lr!r}; set the learning rate "
                "on the optimizer (or pass the optimizer's name with lr=)"
            )
        return optimizer
    if optimizer is None:
        optimizer = "sgd"
    if not isinstance(optimizer, str):
        raise TypeError(
            "optimizer must be a name "
            f"({', '.join(map(repr, optimizers.OPTIMIZERS))}) or a fastgrad.optimizers."
            f"Optimizer, got {type(optimizer).__name__}"
        )
    if lr is None and optimizer == "sgd":
        lr = DEFAULT_SGD_LR
    if lr is not None:
        lr = check_positive_float(lr, "lr")
    return optimizers.make(optimizer, lr)


@dataclass(frozen=True)
class Settings:
    """``train``'s keyword arguments, checked and with their defaults filled in.

    ``seed`` is kept as given (``numpy.random.default_rng`` takes it); ``checkpoint_every`` is
    None exactly when ``checkpoint`` is.
    """

    iters: int
    batch_size: int
    lr: float
    optimizer: optimizers.Optimizer
    grad: Grad
    seed: Any
    eval_every: int
    progress: bool
    callbacks: tuple[Callable[..., Any], ...]
    checkpoint: Path | None
    checkpoint_every: int | None
    resume: bool


def check_train_args(
    net: Any,
    x_train: Any,
    t_train: Any,
    x_test: Any,
    t_test: Any,
    *,
    iters: Any,
    batch_size: Any,
    lr: Any,
    optimizer: Any,
    grad: Any,
    seed: Any,
    eval_every: Any,
    progress: Any,
    callbacks: Any,
    checkpoint: Any,
    checkpoint_every: Any,
    resume: Any,
) -> tuple[tuple[int, ...], Data, Settings]:
    """Check ``train``'s arguments in the order of its signature; the first bad one raises
    the ``TypeError`` or ``ValueError`` that ``train`` documents. Returns the network's layer
    sizes, the data and the settings."""
    shape = net_shape(net)
    data = Data.check(shape, x_train, t_train, x_test, t_test)
    iters = check_int(iters, "iters", 0)
    batch_size = check_int(batch_size, "batch_size", 1)
    optimizer = as_optimizer(optimizer, lr)
    if grad not in GRAD_METHODS:
        raise ValueError(f"grad must be one of {', '.join(map(repr, GRAD_METHODS))}, not {grad!r}")
    if eval_every is None:
        eval_every = iters_per_epoch(data.n_train, batch_size)
    eval_every = check_int(eval_every, "eval_every", 1)
    callbacks = _as_callbacks(callbacks)
    if checkpoint is None:
        if checkpoint_every is not None:
            raise ValueError("checkpoint_every needs checkpoint= (the file to write)")
        if resume:
            raise ValueError("resume=True needs checkpoint= (the file to resume from)")
    else:
        checkpoint = Path(checkpoint)
        if checkpoint_every is None:
            checkpoint_every = eval_every
        checkpoint_every = check_int(checkpoint_every, "checkpoint_every", 1)
    settings = Settings(
        iters=iters,
        batch_size=batch_size,
        lr=optimizer.lr,
        optimizer=optimizer,
        grad=grad,
        seed=seed,
        eval_every=eval_every,
        progress=progress,
        callbacks=callbacks,
        checkpoint=checkpoint,
        checkpoint_every=checkpoint_every,
        resume=resume,
    )
    return shape, data, settings
