"""Mini-batch training of :class:`fastgrad.TwoLayerNet` and :class:`fastgrad.MultiLayerNet`:
the book's ``train_neuralnet.py``.

:func:`train` is the loop of *Deep Learning from Scratch*, section 4.5.2: each iteration draws a
mini-batch (``rng.choice(train_size, batch_size)``, with replacement as in the book), takes the
gradient (numerical, section 4.4, or backprop, chapter 5), updates ``params[key] -= lr *
grad[key]`` (or the update of another of the book's optimisers, section 6.1,
:mod:`fastgrad.optimizers`) and records the batch loss; every epoch it records the accuracy
on the whole training and test sets. On top of the book's loop it keeps a :class:`History`
with timings, shows a progress bar, calls user callbacks (which may stop training early) and writes
checkpoints from which an interrupted run resumes to exactly the same parameters, bit for bit.

How it is built
---------------
:func:`train` is a few steps, each a function or class of this module: the arguments are
checked once into a ``_TrainSettings`` (whose ``config`` is what a checkpoint records);
``_restore`` resumes from a checkpoint; ``_sgd`` is the loop, to be read side by side with the
book's ``train_neuralnet.py``, plus one check after each update: parameters that are NaN,
infinite or too large for the numerical gradient's step end the run with a
:class:`DivergenceError`. After each iteration the loop calls one hook, ``_Hook``, as
``hook(iteration, history, net)``: the users' callbacks first, which decide whether training
stops, then the built-in ones, the checkpointer (``_Checkpointer``) and the progress bar
(``_ProgressBar``), called the same way and told whether training stops. At the end come the
closing evaluation (below) and the last checkpoint.

Checkpoints
-----------
A checkpoint is one ``.npz`` file (no pickles) with the parameters ``W1, b1, ..., W{L+1},
b{L+1}`` as float64 arrays, the optimiser's state arrays (``optimizer/<slot>/<key>``, and
Adam's ``optimizer/iter``) and a ``meta`` entry: JSON with the iteration count, the layer
sizes, the run's settings, the random generator's ``bit_generator.state`` and the history.
It is written atomically: to a temporary file in the same folder (created with mode
``0o666``, so that the kernel applies the process's umask, which is never read or
changed), flushed and fsynced, then moved over the old one with :func:`os.replace`, so a
crash at any moment leaves either the previous checkpoint or the new one, never a mixture.
Read one with :func:`load_checkpoint`.

Resuming: the same run, or a refusal
------------------------------------
Resuming restores the parameters, the history and the generator's state and continues from the
next iteration. A resumed run must be *the same run* as an uninterrupted one, so the checkpoint
records everything that decides the numbers, and :func:`train` refuses to resume (with a
:class:`CheckpointError` naming the field, the checkpoint's value, this run's value and what
to do) when any of it differs:

- the network: its layer sizes, class, hidden activation, initialisation (when the network
  has a ``weight_init_std`` attribute; the command line's networks do) and weight decay;
- the backend (``net.backend``, or the network's class when it has none): the backends round
  differently (a numpy checkpoint finished on numba once ended 3.9e-12 away from the
  uninterrupted run), so switching mid-run gives a run that neither backend would give;
- the data: a SHA-256 fingerprint of ``x_train, t_train, x_test, t_test`` (dtype, shape and
  bytes of the images; the labels as int64, so one-hot rows and labels, which train alike,
  match), computed once per :func:`train` call that has a checkpoint (about 0.1 s for the whole
  of MNIST), plus
  the set sizes for a clearer message;
- the optimiser (its name) and its hyper-parameters (``lr, momentum, decay_rate, beta1,
  beta2``, None where it has none); its state is restored from the checkpoint exactly;
- every other hyper-parameter: ``grad, batch_size, eval_every`` and ``seed`` (an integer, or
  ``None`` for any other seed: a Generator, a SeedSequence or fresh entropy, whose stream the
  checkpoint's generator state carries on either way);
- the versions of fastgrad, NumPy and Numba: bitwise-identical results are not promised across
  versions, so a checkpoint is finished with the versions that started it.

``iters`` is recorded but may grow on resume (a run of 20 iterations resumed with
``iters=45`` is the run of 45 iterations); it may not shrink below the iterations already done.
``checkpoint_every``, ``progress`` and the callbacks do not change the numbers and may differ.
The machine is not recorded: the numba kernels give the same bits for any thread count, but
another CPU or BLAS library may round the reference's matrix products differently. A
checkpoint of an older format (version 1 recorded neither the backend, nor the data, nor the
versions; version 2 neither the architecture nor the optimiser) is refused; start over.

Everything a run's numbers depend on is then the same as in an uninterrupted run: the
mini-batches (the generator's state), the parameters and the optimiser's state (float64,
saved exactly), and the order
of the floating-point operations (the same calls in the same order). So the final parameters
are identical, bit for bit.

The history too, field by field (timings aside). Its evaluations are the scheduled ones
(iteration 0, ``eval_every``, ``2 * eval_every``, ...) plus a *closing* evaluation of the
last iteration done, when that one is not scheduled, so that the history always describes the
parameters :func:`train` returns, also after an early stop by a callback. The checkpoint
written at the end holds that closing evaluation too (it describes its parameters). When a
resumed run goes on past it, the closing evaluation is dropped first: its iteration is no
longer the last, and an uninterrupted run has no evaluation there. It is recognised without a
flag: an evaluation of the last iteration done that is not on the ``eval_every`` schedule
(which a resume must keep) can only be a closing one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import numbers
import os
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import optimizers
from ._files import write_atomically
from ._validation import (
    STEP_MIN_FACTOR,
    as_batch,
    as_labels,
    check_int,
    check_positive_float,
)
from .reference.multilayer import param_names

__all__ = [
    "GRAD_METHODS",
    "Checkpoint",
    "CheckpointError",
    "DivergenceError",
    "History",
    "StopTraining",
    "load_checkpoint",
    "train",
]

Grad = Literal["numerical", "backprop"]

#: The gradient methods :func:`train` accepts: the network's ``numerical_gradient`` (the
#: book's chapter 4) or its ``gradient`` (backprop, chapter 5).
GRAD_METHODS: tuple[str, ...] = ("numerical", "backprop")

#: Rows per accuracy call when evaluating on a whole data set: bounds the float64 copy the
#: numba front door makes (60,000 x 784 float64 would be 376 MB at once).
EVAL_CHUNK = 10_000

_CHECKPOINT_FORMAT = "fastgrad.training checkpoint"
#: Version 2 records the backend, the data fingerprint and the library versions; version 3
#: the architecture (any depth), the optimiser, its hyper-parameters and its state.
_CHECKPOINT_VERSION = 3

#: The step ``h`` of the networks' ``numerical_gradient`` (the book's 1e-4), which :func:`train`
#: calls without one: parameters beyond ``h / STEP_MIN_FACTOR`` (about 4.5e9) are too large
#: for it to nudge, and the networks refuse them.
NUMERICAL_H = 1e-4

#: The learning rate of the book's chapter-4 run (``train_neuralnet.py``), the default of
#: plain SGD here; the other optimisers default to their own book values (section 6.1).
DEFAULT_SGD_LR = 0.1

#: The optimiser's hyper-parameters a checkpoint records besides ``lr`` (None where the
#: optimiser has no such attribute).
_OPTIMIZER_HYPER = ("momentum", "decay_rate", "beta1", "beta2")

#: The prefix of the optimiser's state arrays in a checkpoint file.
_OPTIMIZER_PREFIX = "optimizer/"

#: What decides the sequence of parameters, in the order :func:`train` compares it on resume:
#: causes before consequences (the default ``eval_every`` follows from ``n_train`` and
#: ``batch_size``; the fingerprint from the sizes), so that a message names the root cause.
_RESUME_KEYS = (
    "backend",
    "network",
    "activation",
    "weight_init",
    "weight_decay_lambda",
    "grad",
    "optimizer",
    "lr",
    *_OPTIMIZER_HYPER,
    "batch_size",
    "n_train",
    "n_test",
    "eval_every",
    "seed",
    "data_sha256",
    "fastgrad_version",
    "numpy_version",
    "numba_version",
)

#: What to do about a mismatch of each key, for the error message.
_RESUME_ADVICE = {
    "backend": "the backends round differently, so switching would not continue the same run; "
    "resume with backend={old!r}, or use another checkpoint path to start a new run",
    "n_train": "resume on the same data, or use another checkpoint path to start a new run",
    "n_test": "resume on the same data, or use another checkpoint path to start a new run",
    "data_sha256": "the data differs (same sizes, other values); resume on the same data, or use "
    "another checkpoint path to start a new run",
}
_VERSION_ADVICE = (
    "results are bitwise identical only with the same versions; finish the run with "
    "{name} {old}, or use another checkpoint path to start over"
)
_SETTINGS_ADVICE = (
    "resume with the same settings (or another checkpoint path) so that the run continues exactly"
)


class StopTraining(Exception):  # noqa: N818 - the name says what raising it does
    """Raise from a callback to end training after the current iteration.

    :func:`train` catches it and returns the history normally, as if the callback had
    returned True.
    """


class CheckpointError(ValueError):
    """A checkpoint cannot be read (corrupt, truncated, not a checkpoint, an older format) or
    does not fit the run being resumed (another network shape, backend, data, setting or
    library version).

    Attributes
    ----------
    field : str or None
        For a mismatch, the recorded field that differs (``"backend"``, ``"lr"``,
        ``"data_sha256"``, ``"numpy_version"``, ...; ``"shape"``, ``"iters"``); else None.
    old, new
        The checkpoint's value and this run's value of ``field`` (None when not a mismatch).
    """

    def __init__(
        self, message: str, *, field: str | None = None, old: Any = None, new: Any = None
    ) -> None:
        super().__init__(message)
        self.field = field
        self.old = old
        self.new = new


class DivergenceError(ArithmeticError):
    """Training diverged: an update left the parameters NaN or infinite, or (with numerical
    gradients) too large for the step ``h`` to nudge. The network keeps the parameters of
    that update; a checkpoint keeps the last one written before it.

    Attributes
    ----------
    iteration : int
        The 0-based index of the iteration whose update diverged, as callbacks count.
    reason : str
        What the update did to the parameters.
    lr : float
        The learning rate of the run.
    """

    def __init__(self, iteration: int, reason: str, lr: float) -> None:
        super().__init__(
            f"training diverged at iteration {iteration}: {reason}; lower the learning rate "
            f"(lr={lr:g}) and start again from fresh parameters"
        )
        self.iteration = iteration
        self.reason = reason
        self.lr = lr


@dataclass
class History:
    """What :func:`train` records.

    Attributes
    ----------
    loss : list of float
        Loss on each iteration's mini-batch, after that iteration's update (as the book
        records it). ``len(loss)`` is the number of iterations done.
    train_acc, test_acc : list of float
        Accuracy on the whole training and test sets at each evaluation.
    epoch_iters : list of int
        The (0-based) iteration after which each evaluation was made: every ``eval_every``
        iterations starting with iteration 0, as in the book, plus the last iteration.
    iter_time : list of float
        Seconds per iteration: drawing the batch, the gradient, the update and the batch loss.
        Evaluations, callbacks and checkpoints are not included.
    grad_time : list of float
        Seconds of each iteration spent in the gradient call.
    total_time : float
        Wall-clock seconds spent in :func:`train`, summed over resumed sessions.

    Examples
    --------
    >>> h = History(loss=[2.3, 2.1], train_acc=[0.1], test_acc=[0.12], epoch_iters=[0])
    >>> History.from_dict(h.to_dict()) == h
    True
    """

    loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    epoch_iters: list[int] = field(default_factory=list)
    iter_time: list[float] = field(default_factory=list)
    grad_time: list[float] = field(default_factory=list)
    total_time: float = 0.0

    @property
    def iterations(self) -> int:
        """The number of iterations recorded."""
        return len(self.loss)

    def to_dict(self) -> dict[str, Any]:
        """The history as plain lists and numbers, ready for :func:`json.dump`.

        Returns
        -------
        dict
            One key per attribute; the lists are copies.
        """
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> History:
        """Rebuild a history from :meth:`to_dict`'s output (for example read back from JSON).

        Parameters
        ----------
        data : dict
            Must have ``loss``, ``train_acc``, ``test_acc`` and ``epoch_iters``;
            ``iter_time``, ``grad_time`` and ``total_time`` are optional.

        Returns
        -------
        History

        Raises
        ------
        ValueError
            If a key is missing or unknown, or the lists have inconsistent lengths.
        """
        if not isinstance(data, dict):
            raise ValueError(f"a history must be a dict, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        missing = [k for k in ("loss", "train_acc", "test_acc", "epoch_iters") if k not in data]
        if unknown or missing:
            raise ValueError(f"not a training history: missing {missing}, unknown {unknown}")
        try:
            h = cls(
                loss=[float(v) for v in data["loss"]],
                train_acc=[float(v) for v in data["train_acc"]],
                test_acc=[float(v) for v in data["test_acc"]],
                epoch_iters=[int(v) for v in data["epoch_iters"]],
                iter_time=[float(v) for v in data.get("iter_time", [])],
                grad_time=[float(v) for v in data.get("grad_time", [])],
                total_time=float(data.get("total_time", 0.0)),
            )
        except (TypeError, ValueError) as exc:
            raise ValueError(f"not a training history: {exc}") from exc
        if not len(h.train_acc) == len(h.test_acc) == len(h.epoch_iters):
            raise ValueError("train_acc, test_acc and epoch_iters must have the same length")
        for name in ("iter_time", "grad_time"):
            if len(getattr(h, name)) not in (0, len(h.loss)):
                raise ValueError(f"{name} must have one entry per iteration, like loss")
        return h


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint read back by :func:`load_checkpoint`.

    Attributes
    ----------
    path : pathlib.Path
    iteration : int
        Iterations done when it was written; a resumed run continues with this index.
    shape : tuple of int
        The layer sizes ``(input_size, *hidden_sizes, output_size)`` of the network.
    params : dict of str to ndarray of float64
        ``W1, b1, ..., W{L+1}, b{L+1}`` after ``iteration`` iterations.
    history : History
    rng_state : dict
        The generator's ``bit_generator.state``.
    config : dict
        What decides the run's numbers (see the module docstring): ``backend, network,
        activation, weight_init, weight_decay_lambda, grad, optimizer, lr, momentum,
        decay_rate, beta1, beta2, batch_size, eval_every, seed, n_train, n_test, data_sha256,
        fastgrad_version, numpy_version, numba_version``, and ``iters``, the iterations the
        run was asked for.
    optimizer_state : dict of str to ndarray
        The optimiser's :meth:`~fastgrad.optimizers.Optimizer.state` (empty for plain SGD).
    """

    path: Path
    iteration: int
    shape: tuple[int, ...]
    params: dict[str, NDArray[np.float64]]
    history: History
    rng_state: dict[str, Any]
    config: dict[str, Any]
    optimizer_state: dict[str, NDArray] = field(default_factory=dict)


# -- train()'s arguments, checked once ------------------------------------------------------


def _n_layers(params: Any) -> int:
    """The number of affine layers of a ``params`` dict: its keys ``W1, W2, ...`` in a row."""
    n = 0
    while f"W{n + 1}" in params:
        n += 1
    return n


def _param_names(params: Any) -> tuple[str, ...]:
    """``W1, b1, ..., W{L+1}, b{L+1}``: the keys training updates and a checkpoint saves."""
    return param_names(_n_layers(params))


def _net_shape(net: Any) -> tuple[int, ...]:
    """The layer sizes ``(input_size, *hidden_sizes, output_size)`` of ``net``: a
    ``TwoLayerNet``, a ``MultiLayerNet`` of any depth, or any object with their ``params``
    dict ``W1, b1, ..., W{L+1}, b{L+1}`` (at least one hidden layer) and methods."""
    params = getattr(net, "params", None)
    if (
        not isinstance(params, dict)
        or _n_layers(params) < 2
        or not set(_param_names(params)) <= set(params)
    ):
        raise TypeError(
            "net must be a TwoLayerNet or a MultiLayerNet: an object with a params dict "
            "holding W1, b1, ..., W{L+1}, b{L+1} (L >= 1 hidden layers) and the methods "
            "numerical_gradient, gradient, loss and accuracy"
        )
    shapes = [np.shape(params[f"W{k}"]) for k in range(1, _n_layers(params) + 1)]
    if any(len(w) != 2 for w in shapes) or any(
        a[1] != b[0] for a, b in zip(shapes[:-1], shapes[1:], strict=True)
    ):
        listed = ", ".join(f"W{k} {w}" for k, w in enumerate(shapes, 1))
        raise ValueError(f"net.params {listed} do not chain into a network")
    return (int(shapes[0][0]), *(int(w[1]) for w in shapes))


def _shape_str(shape: Iterable[int]) -> str:
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


class _Data(NamedTuple):
    """The training and test sets, checked against the network: the images as given, the
    targets as integer labels."""

    x_train: NDArray
    t_train: NDArray
    x_test: NDArray
    t_test: NDArray

    @classmethod
    def check(
        cls, shape: tuple[int, ...], x_train: Any, t_train: Any, x_test: Any, t_test: Any
    ) -> _Data:
        return cls(
            *_check_data(x_train, t_train, shape, "x_train", "t_train"),
            *_check_data(x_test, t_test, shape, "x_test", "t_test"),
        )

    @property
    def n_train(self) -> int:
        return self.x_train.shape[0]

    def fingerprint(self) -> str:
        """The SHA-256 that tells this data from any other (module docstring); the labels as
        int64, so that one-hot rows and labels, which train alike, match."""
        return _data_fingerprint(
            [
                ("x_train", self.x_train),
                ("t_train", self.t_train.astype(np.int64, copy=False)),
                ("x_test", self.x_test),
                ("t_test", self.t_test.astype(np.int64, copy=False)),
            ]
        )


def _iters_per_epoch(n_train: int, batch_size: int) -> int:
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


@dataclass(frozen=True)
class _TrainSettings:
    """:func:`train`'s keyword arguments, checked and with their defaults filled in.

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

    @classmethod
    def check(
        cls,
        n_train: int,
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
    ) -> _TrainSettings:
        """Check the arguments in the order of :func:`train`'s signature; the first bad one
        raises the ``TypeError`` or ``ValueError`` that :func:`train` documents."""
        iters = check_int(iters, "iters", 0)
        batch_size = check_int(batch_size, "batch_size", 1)
        optimizer = _as_optimizer(optimizer, lr)
        if grad not in GRAD_METHODS:
            raise ValueError(
                f"grad must be one of {', '.join(map(repr, GRAD_METHODS))}, not {grad!r}"
            )
        if eval_every is None:
            eval_every = _iters_per_epoch(n_train, batch_size)
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
        return cls(
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

    def config(self, net: Any, data: _Data) -> dict[str, Any]:
        """What a checkpoint records (its ``config``): all that decides the run's numbers
        (module docstring), and ``iters``."""
        return {
            "backend": _backend_name(net),
            **_architecture(net),
            "grad": self.grad,
            "optimizer": _optimizer_name(self.optimizer),
            "lr": self.lr,
            **{name: _hyper(self.optimizer, name) for name in _OPTIMIZER_HYPER},
            "batch_size": self.batch_size,
            "eval_every": self.eval_every,
            "seed": int(self.seed) if isinstance(self.seed, numbers.Integral) else None,
            "n_train": data.n_train,
            "n_test": int(data.x_test.shape[0]),
            "data_sha256": data.fingerprint(),
            **_versions(),
            "iters": self.iters,
        }


def _as_optimizer(optimizer: Any, lr: Any) -> optimizers.Optimizer:
    """:func:`train`'s ``optimizer`` and ``lr`` as one optimiser: None is plain SGD; a name
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


def _optimizer_name(optimizer: optimizers.Optimizer) -> str:
    """The name :func:`fastgrad.optimizers.make` knows it by, else its class's full name."""
    for name, cls in optimizers.OPTIMIZERS.items():
        if type(optimizer) is cls:
            return name
    cls = type(optimizer)
    return f"{cls.__module__}.{cls.__qualname__}"


def _hyper(optimizer: optimizers.Optimizer, name: str) -> float | None:
    value = getattr(optimizer, name, None)
    return float(value) if isinstance(value, numbers.Real) else None


def _architecture(net: Any) -> dict[str, Any]:
    """What a checkpoint records of the network besides its layer sizes: its class, its
    hidden activation, its initialisation (when the network tells it, as a
    ``weight_init_std`` attribute: the command line's networks do) and its weight decay. The
    book's ``TwoLayerNet`` is sigmoid without decay."""
    network = type(net).__name__
    activation = getattr(net, "activation", "sigmoid" if network == "TwoLayerNet" else None)
    init = getattr(net, "weight_init_std", None)
    if isinstance(init, numbers.Real) and not isinstance(init, bool):
        init = float(init)
    elif not isinstance(init, str):
        init = None
    decay = getattr(net, "weight_decay_lambda", 0.0)
    return {
        "network": network,
        "activation": activation if isinstance(activation, str) else None,
        "weight_init": init,
        "weight_decay_lambda": float(decay) if isinstance(decay, numbers.Real) else None,
    }


def _backend_name(net: Any) -> str:
    backend = getattr(net, "backend", None)
    if isinstance(backend, str):
        return backend
    cls = type(net)
    return f"{cls.__module__}.{cls.__qualname__}"


def _data_fingerprint(arrays: Iterable[tuple[str, NDArray]]) -> str:
    """SHA-256 of the named arrays: each one's name, dtype, shape and bytes (in row chunks, so
    that a non-contiguous array is not copied whole)."""
    h = hashlib.sha256()
    for name, a in arrays:
        h.update(f"{name}:{a.dtype.str}:{a.shape};".encode())
        rows = a.reshape(a.shape[0], -1) if a.ndim else a.reshape(1)
        step = max(1, (1 << 24) // max(rows[:1].nbytes, 1))  # ~16 MB a chunk
        for start in range(0, rows.shape[0], step):
            h.update(memoryview(np.ascontiguousarray(rows[start : start + step])).cast("B"))
    return h.hexdigest()


def _versions() -> dict[str, str | None]:
    """The versions of the code that computes the numbers."""
    from . import __version__

    try:
        import numba
    except ImportError:  # pragma: no cover - numba is a dependency
        numba_version = None
    else:
        numba_version = numba.__version__
    return {
        "fastgrad_version": __version__,
        "numpy_version": np.__version__,
        "numba_version": numba_version,
    }


# -- files ------------------------------------------------------------------------------------


def _to_json(value: Any) -> Any:
    """``bit_generator.state`` to JSON: MT19937 and Philox hold arrays; PCG64 only ints."""
    if isinstance(value, dict):
        return {k: _to_json(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return {"__ndarray__": value.tolist(), "dtype": value.dtype.str}
    if isinstance(value, np.generic):
        return value.item()
    return value


def _from_json(value: Any) -> Any:
    if isinstance(value, dict):
        if "__ndarray__" in value:
            return np.array(value["__ndarray__"], dtype=np.dtype(value["dtype"]))
        return {k: _from_json(v) for k, v in value.items()}
    return value


def _generator_from_state(state: dict[str, Any]) -> np.random.Generator:
    name = state.get("bit_generator") if isinstance(state, dict) else None
    cls = getattr(np.random, str(name), None)
    if not (isinstance(cls, type) and issubclass(cls, np.random.BitGenerator)):
        raise CheckpointError(f"unknown random bit generator {name!r} in the checkpoint")
    bit_generator = cls()
    bit_generator.state = state
    return np.random.Generator(bit_generator)


def _param_arrays(params: dict[str, Any]) -> dict[str, NDArray[np.float64]]:
    """``W1, b1, ..., W{L+1}, b{L+1}`` as float64 arrays, ready for :func:`numpy.savez`."""
    return {k: np.asarray(params[k], dtype=np.float64) for k in _param_names(params)}


def _write_checkpoint(
    path: Path,
    params: dict[str, NDArray],
    history: History,
    rng: np.random.Generator,
    shape: tuple[int, ...],
    config: dict[str, Any],
    optimizer: optimizers.Optimizer,
) -> None:
    meta = {
        "format": _CHECKPOINT_FORMAT,
        "version": _CHECKPOINT_VERSION,
        "iteration": history.iterations,
        "shape": list(shape),
        "config": config,
        "rng_state": _to_json(rng.bit_generator.state),
        "history": history.to_dict(),
    }
    blob = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    arrays = _param_arrays(params)
    arrays.update({_OPTIMIZER_PREFIX + k: v for k, v in optimizer.state().items()})
    write_atomically(path, lambda f: np.savez(f, meta=blob, **arrays))


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read a checkpoint written by :func:`train`.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    Checkpoint

    Raises
    ------
    FileNotFoundError
        If there is no file at ``path``.
    CheckpointError
        If the file is not a complete, consistent checkpoint (truncated, corrupt, another
        kind of file, parameters or optimiser state holding NaN or infinity); the message
        names the file.
    """
    path = Path(path)

    def bad(why: str) -> CheckpointError:
        return CheckpointError(
            f"checkpoint {path} is unreadable: {why}; delete it (or pick another path) to "
            "start over"
        )

    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise bad("it is a single .npy array, not an .npz archive")
        with data:
            names = param_names(max(_n_layers(data.files), 2))
            missing = [k for k in ("meta", *names) if k not in data.files]
            if missing:
                raise bad(f"it lacks {', '.join(missing)}")
            meta = json.loads(data["meta"].tobytes().decode("utf-8"))
            params = {k: np.array(data[k], dtype=np.float64) for k in names}
            optimizer_state = {
                k[len(_OPTIMIZER_PREFIX) :]: np.array(data[k])
                for k in data.files
                if k.startswith(_OPTIMIZER_PREFIX)
            }
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except CheckpointError:
        raise
    except Exception as exc:  # zip, zlib, npy-header, JSON and UTF-8 errors all mean corrupt
        raise bad(f"corrupt or truncated file ({type(exc).__name__}: {exc})") from exc

    if not isinstance(meta, dict) or meta.get("format") != _CHECKPOINT_FORMAT:
        raise bad("it is not a fastgrad training checkpoint")
    version = meta.get("version")
    if isinstance(version, int) and not isinstance(version, bool) and version < _CHECKPOINT_VERSION:
        raise CheckpointError(
            f"checkpoint {path} has format version {version}, written by an older fastgrad "
            f"that did not record the backend, the data, the library versions, the "
            f"architecture and the optimizer (format {_CHECKPOINT_VERSION} does), so it cannot "
            "be resumed as the same run; delete it (or pick another path) to start over"
        )
    if version != _CHECKPOINT_VERSION:
        raise bad(f"unsupported checkpoint version {version!r} (a newer fastgrad wrote it?)")
    try:
        shape = tuple(int(s) for s in meta["shape"])
        iteration = int(meta["iteration"])
        history = History.from_dict(meta["history"])
        rng_state = _from_json(meta["rng_state"])
        config = dict(meta["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise bad(f"inconsistent metadata ({exc})") from exc
    expected = {}
    for k in range(1, len(shape)):
        expected[f"W{k}"], expected[f"b{k}"] = (shape[k - 1], shape[k]), (shape[k],)
    if set(expected) != set(params) or any(params[k].shape != expected[k] for k in params):
        raise bad("its parameter shapes do not match its network shape")
    if history.iterations != iteration:
        raise bad(f"its history has {history.iterations} iterations, not {iteration}")
    _check_finite_arrays(path, params, optimizer_state)
    return Checkpoint(path, iteration, shape, params, history, rng_state, config, optimizer_state)


def _check_finite_arrays(
    path: Path, params: dict[str, NDArray], optimizer_state: dict[str, NDArray]
) -> None:
    """Refuse a checkpoint whose parameters or optimiser state hold NaN or infinity: no run
    continues from them (the front doors refuse such parameters; an update spreads them)."""
    arrays = {**params, **{_OPTIMIZER_PREFIX + k: v for k, v in optimizer_state.items()}}
    bad = [k for k, v in arrays.items() if v.dtype.kind == "f" and not np.isfinite(v).all()]
    if bad:
        raise CheckpointError(
            f"checkpoint {path} holds NaN or infinite values in {', '.join(bad)}: the run it "
            "saved had diverged, or the file was altered; delete it (or pick another path) "
            "to start over"
        )


def _check_resumable(ck: Checkpoint, shape: tuple[int, ...], config: dict[str, Any]) -> None:
    """Refuse to resume from ``ck`` unless the run it holds is this one (module docstring)."""
    if ck.shape != shape:
        raise CheckpointError(
            f"checkpoint {ck.path} is for a {_shape_str(ck.shape)} network but the network "
            f"being trained is {_shape_str(shape)}; use a matching network or another "
            "checkpoint path",
            field="shape",
            old=ck.shape,
            new=shape,
        )
    for key in _RESUME_KEYS:
        old, new = ck.config.get(key), config[key]
        if old == new and type(old) is type(new):  # 1 == 1.0 == True: not the same setting
            continue
        if key.endswith("_version"):
            name = key[: -len("_version")]
            advice = _VERSION_ADVICE.format(name=name, old=old)
            message = (
                f"checkpoint {ck.path} was written with {name} {old} but this run has "
                f"{name} {new}; {advice}"
            )
        else:
            shown_old, shown_new = old, new
            if key == "data_sha256":  # a prefix is enough to tell them apart
                shown_old = old[:16] + "..." if isinstance(old, str) else old
                shown_new = new[:16] + "..."
            advice = _RESUME_ADVICE.get(key, _SETTINGS_ADVICE).format(old=old)
            message = (
                f"checkpoint {ck.path} was written with {key}={shown_old!r} but this run "
                f"has {key}={shown_new!r}; {advice}"
            )
        raise CheckpointError(message, field=key, old=old, new=new)
    if config["iters"] < ck.iteration:
        raise CheckpointError(
            f"checkpoint {ck.path} has {ck.iteration} iterations done but this run asks for "
            f"iters={config['iters']}; a resumed run may go on to more iterations, not fewer: "
            f"pass iters >= {ck.iteration}, or use another checkpoint path",
            field="iters",
            old=ck.iteration,
            new=config["iters"],
        )


def _restore(
    net: Any, shape: tuple[int, ...], settings: _TrainSettings, config: dict[str, Any]
) -> tuple[History, np.random.Generator]:
    """Resume from ``settings.checkpoint``: refuse it unless it holds this very run, then put
    its parameters into ``net`` and return its history and random generator, with which the
    run continues exactly.

    When the run goes on past the checkpoint, the history loses the closing evaluation of the
    session that wrote it (module docstring)."""
    path = settings.checkpoint
    ck = load_checkpoint(path)
    _check_resumable(ck, shape, config)
    for key in ck.params:
        net.params[key] = ck.params[key]
    try:
        settings.optimizer.load_state(ck.optimizer_state)
    except (TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"checkpoint {path} has a bad optimizer state: {exc}") from exc
    history = ck.history
    if ck.iteration < settings.iters:
        _drop_closing_evaluation(history, settings.eval_every)
    try:
        rng = _generator_from_state(ck.rng_state)
    except (TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"checkpoint {path} has a bad random state: {exc}") from exc
    return history, rng


# -- callbacks: the users', then the checkpointer and the progress bar ------------------------


class _Clock:
    """Seconds spent in :func:`train`, summed over the sessions of a run."""

    def __init__(self, before: float) -> None:
        self.before = before
        self.start = time.perf_counter()

    def __call__(self) -> float:
        return self.before + (time.perf_counter() - self.start)


class _Callback:
    """A built-in callback. It is called like the users' callbacks, as ``callback(iteration,
    history, net)``, right after them, and told whether they stop training after this
    iteration (``stopping``). :meth:`close` runs however the loop ends; :meth:`on_end` only
    when it ended normally or by a callback's stop, after the closing evaluation."""

    def __call__(
        self, iteration: int, history: History, net: Any, *, stopping: bool = False
    ) -> None:
        pass

    def close(self) -> None:
        pass

    def on_end(self, history: History, net: Any) -> None:
        pass


class _Checkpointer(_Callback):
    """Writes the checkpoint after every ``checkpoint_every``-th iteration except the last
    one asked for, and once more at the end."""

    def __init__(
        self,
        settings: _TrainSettings,
        rng: np.random.Generator,
        shape: tuple[int, ...],
        config: dict[str, Any],
        clock: _Clock,
    ) -> None:
        self.path = settings.checkpoint
        self.every = settings.checkpoint_every
        self.iters = settings.iters
        self.rng = rng
        self.shape = shape
        self.config = config
        self.clock = clock
        self.optimizer = settings.optimizer

    def __call__(
        self, iteration: int, history: History, net: Any, *, stopping: bool = False
    ) -> None:
        done = iteration + 1
        if done % self.every == 0 and done < self.iters:
            self.save(history, net)

    def on_end(self, history: History, net: Any) -> None:
        self.save(history, net)

    def save(self, history: History, net: Any) -> None:
        history.total_time = self.clock()
        _write_checkpoint(
            self.path, net.params, history, self.rng, self.shape, self.config, self.optimizer
        )


class _ProgressBar(_Callback):
    """A tqdm bar on stderr: a step per iteration, with the loss and the last accuracies after
    every 10th iteration, each evaluation and the iteration a callback stops after."""

    def __init__(self, bar: Any) -> None:
        self.bar = bar

    @classmethod
    def open(cls, total: int, initial: int) -> _ProgressBar | None:
        """A bar at ``initial`` of ``total`` iterations, or None (and a warning) without tqdm."""
        try:
            from tqdm.auto import tqdm
        except ImportError:  # pragma: no cover - tqdm is in the train and test extras
            # stacklevel: open, _Hook.build, train, and the line that called train
            warnings.warn("tqdm is not installed: no progress bar", stacklevel=4)
            return None
        bar = tqdm(
            total=total,
            initial=initial,
            desc="train",
            unit="it",
            dynamic_ncols=True,
            mininterval=0.25,
            smoothing=0.05,
        )
        return cls(bar)

    def __call__(
        self, iteration: int, history: History, net: Any, *, stopping: bool = False
    ) -> None:
        if iteration % 10 == 0 or stopping or history.epoch_iters[-1:] == [iteration]:
            acc = (
                f" train={history.train_acc[-1]:.4f} test={history.test_acc[-1]:.4f}"
                if history.train_acc
                else ""
            )
            self.bar.set_postfix_str(f"loss={history.loss[-1]:.4f}{acc}", refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


class _Hook:
    """What the loop calls after each iteration, as ``hook(iteration, history, net)``: the
    users' callbacks, which decide whether training stops (a true value or
    :class:`StopTraining` from any of them; all of them run), then the built-in ones."""

    def __init__(
        self, callbacks: tuple[Callable[..., Any], ...], builtins: list[_Callback]
    ) -> None:
        self.callbacks = callbacks
        self.builtins = builtins

    def __call__(self, iteration: int, history: History, net: Any) -> bool:
        stop = False
        for cb in self.callbacks:
            try:
                stop = bool(cb(iteration, history, net)) or stop
            except StopTraining:
                stop = True
        for builtin in self.builtins:
            builtin(iteration, history, net, stopping=stop)
        return stop

    @classmethod
    def build(
        cls,
        settings: _TrainSettings,
        history: History,
        rng: np.random.Generator,
        shape: tuple[int, ...],
        config: dict[str, Any],
        clock: _Clock,
    ) -> _Hook:
        """The users' callbacks, then the checkpointer and the progress bar that ``settings``
        ask for, in that order: a checkpoint is written before the bar moves."""
        builtins: list[_Callback] = []
        if settings.checkpoint is not None:
            builtins.append(_Checkpointer(settings, rng, shape, config, clock))
        if settings.progress:
            bar = _ProgressBar.open(settings.iters, min(history.iterations, settings.iters))
            if bar is not None:
                builtins.append(bar)
        return cls(settings.callbacks, builtins)

    def close(self) -> None:
        for builtin in self.builtins:
            builtin.close()

    def on_end(self, history: History, net: Any) -> None:
        for builtin in self.builtins:
            builtin.on_end(history, net)


# -- the loop ---------------------------------------------------------------------------------


def _accuracy(net: Any, x: NDArray, t: NDArray) -> float:
    """The book's ``net.accuracy(x, t)`` over the whole set, computed in chunks."""
    n = x.shape[0]
    correct = 0
    for start in range(0, n, EVAL_CHUNK):
        rows = min(EVAL_CHUNK, n - start)
        acc = net.accuracy(x[start : start + rows], t[start : start + rows])
        correct += round(float(acc) * rows)  # acc = correct / rows exactly, so this is exact
    return correct / float(n)


def _evaluate(net: Any, data: _Data, history: History, iteration: int) -> None:
    """Record the accuracy on the whole training and test sets after ``iteration``."""
    history.train_acc.append(_accuracy(net, data.x_train, data.t_train))
    history.test_acc.append(_accuracy(net, data.x_test, data.t_test))
    history.epoch_iters.append(iteration)


def _add_closing_evaluation(net: Any, data: _Data, history: History) -> None:
    """Evaluate the last iteration done unless the schedule did, so that the history
    describes the parameters :func:`train` returns (module docstring)."""
    last = history.iterations - 1
    if last >= 0 and history.epoch_iters[-1:] != [last]:
        _evaluate(net, data, history, last)


def _drop_closing_evaluation(history: History, eval_every: int) -> None:
    """Undo :func:`_add_closing_evaluation` in a resumed history that goes on: an evaluation
    of the last iteration done that is off the ``eval_every`` schedule can only be the
    closing one."""
    last = history.iterations - 1
    if history.epoch_iters[-1:] == [last] and last % eval_every:
        del history.train_acc[-1], history.test_acc[-1], history.epoch_iters[-1]


def _gradient_method(net: Any, grad: Grad) -> Callable[[Any, Any], dict[str, NDArray]]:
    """``net.numerical_gradient`` (the book's chapter 4) or ``net.gradient`` (backprop,
    chapter 5)."""
    return net.numerical_gradient if grad == "numerical" else net.gradient


def _own_float64_params(net: Any) -> None:
    """The in-place update needs float64 arrays of the net's own: copy any other parameter."""
    for key in _param_names(net.params):
        p = net.params[key]
        if not (isinstance(p, np.ndarray) and p.dtype == np.float64 and p.flags.writeable):
            net.params[key] = np.array(p, dtype=np.float64)


def _check_not_diverged(
    params: dict[str, NDArray], names: tuple[str, ...], iteration: int, settings: _TrainSettings
) -> None:
    """Raise :class:`DivergenceError` if the update of ``iteration`` left a parameter NaN or
    infinite or, with numerical gradients, beyond the scale that :data:`NUMERICAL_H` can
    nudge (the bound the networks' ``numerical_gradient`` enforces)."""
    scale = 0.0
    for key in names:
        hi, lo = float(params[key].max()), float(params[key].min())  # NaN propagates
        if not (math.isfinite(hi) and math.isfinite(lo)):
            reason = f"its update made {key} non-finite (NaN or infinity)"
            raise DivergenceError(iteration, reason, settings.lr)
        scale = max(scale, hi, -lo)
    if settings.grad == "numerical" and NUMERICAL_H < STEP_MIN_FACTOR * scale:
        reason = (
            f"its update made the parameters as large as {scale:.3g}, too large for the "
            f"numerical gradient's step h={NUMERICAL_H:g} (it nudges parameters up to "
            f"{NUMERICAL_H / STEP_MIN_FACTOR:.3g})"
        )
        raise DivergenceError(iteration, reason, settings.lr)


def _sgd(
    net: Any,
    gradient: Callable[[Any, Any], dict[str, NDArray]],
    data: _Data,
    settings: _TrainSettings,
    rng: np.random.Generator,
    history: History,
    hook: _Hook,
) -> None:
    """The book's ``train_neuralnet.py``, from the iteration after ``history``'s last up to
    ``settings.iters``, with timings; after each iteration ``hook`` may stop it. The update
    is ``settings.optimizer``'s, in place on the network's own arrays; an update that
    diverges raises :class:`DivergenceError` before anything of its iteration is recorded."""
    names = _param_names(net.params)
    for i in range(history.iterations, settings.iters):
        t0 = time.perf_counter()
        batch_mask = rng.choice(data.n_train, settings.batch_size)
        x_batch = data.x_train[batch_mask]
        t_batch = data.t_train[batch_mask]
        t1 = time.perf_counter()
        grad = gradient(x_batch, t_batch)
        t2 = time.perf_counter()
        # plain SGD: params[key] -= lr * grad[key], the book's chapter-4 update, bit for bit
        params = {key: net.params[key] for key in names}
        settings.optimizer.update(params, grad)
        net.params.update(params)
        _check_not_diverged(net.params, names, i, settings)
        loss = float(net.loss(x_batch, t_batch))
        history.iter_time.append(time.perf_counter() - t0)
        history.grad_time.append(t2 - t1)
        history.loss.append(loss)

        if i % settings.eval_every == 0:
            _evaluate(net, data, history, i)
        if hook(i, history, net):
            break


def train(
    net: Any,
    x_train: ArrayLike,
    t_train: ArrayLike,
    x_test: ArrayLike,
    t_test: ArrayLike,
    *,
    iters: int = 10_000,
    batch_size: int = 100,
    lr: float | None = None,
    optimizer: str | optimizers.Optimizer | None = None,
    grad: Grad = "numerical",
    seed: int | np.random.SeedSequence | np.random.Generator | None = None,
    eval_every: int | None = None,
    progress: bool = True,
    callbacks: Iterable[Callable[[int, History, Any], Any]] | Callable[..., Any] = (),
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_every: int | None = None,
    resume: bool = False,
) -> History:
    """Train ``net`` by mini-batch SGD, the book's ``train_neuralnet.py`` (section 4.5.2), or
    by another of the book's optimisers (section 6.1).

    Parameters
    ----------
    net : TwoLayerNet or MultiLayerNet
        :class:`fastgrad.TwoLayerNet` or :class:`fastgrad.MultiLayerNet` (any backend, any
        depth) or any object with their ``params`` dict ``W1, b1, ..., W{L+1}, b{L+1}`` and
        methods. Its parameters are updated in place.
    x_train : ndarray, shape (n_train, input_size)
        Training images, e.g. ``load_mnist()``'s float32 rows. Never modified.
    t_train : ndarray, shape (n_train,) or (n_train, output_size)
        Integer labels or one-hot rows. Never modified.
    x_test, t_test : ndarray
        The test set, the same way; used only for the accuracy.
    iters : int, default 10_000
        Iterations to run in all (a resumed run counts those already done).
    batch_size : int, default 100
        Rows per mini-batch, drawn with replacement as in the book, so it may exceed
        ``n_train``.
    lr : float, optional
        Learning rate, finite and > 0. Default: 0.1 for plain SGD (the book's chapter 4),
        the book's default of any other optimiser named by ``optimizer``.
    optimizer : {"sgd", "momentum", "adagrad", "rmsprop", "adam"} or Optimizer, optional
        The update rule (:mod:`fastgrad.optimizers`): a name, with the book's
        hyper-parameters, or an :class:`~fastgrad.optimizers.Optimizer` used as is (then
        ``lr`` must be None or its ``lr``). Default: plain SGD, ``params[key] -= lr *
        grad[key]``.
    grad : {"numerical", "backprop"}, default "numerical"
        ``net.numerical_gradient`` (central differences) or ``net.gradient`` (backprop).
    seed : int, numpy.random.SeedSequence or numpy.random.Generator, optional
        Seeds ``numpy.random.default_rng``, which draws the mini-batches. The same seed,
        network, data and backend give the same history and bit-identical parameters. A
        Generator is used (and advanced) as is. On resume, the checkpoint's generator state
        takes over.
    eval_every : int, optional
        Evaluate the accuracy every this many iterations. Default: one epoch,
        ``max(n_train // batch_size, 1)`` iterations, as in the book.
    progress : bool, default True
        Show a tqdm progress bar (on stderr) with the loss, the last accuracies, it/s and ETA.
    callbacks : callable or iterable of callables
        Each is called after every iteration as ``callback(iteration, history, net)``, with the
        0-based index of the iteration just done. A callback stops training after that
        iteration by returning a true value or by raising :class:`StopTraining`; all callbacks
        of the iteration still run, and :func:`train` returns normally.
    checkpoint : path-like, optional
        File to write a checkpoint to (see the module docstring), every ``checkpoint_every``
        iterations and at the end.
    checkpoint_every : int, optional
        Default: every ``eval_every`` iterations (each epoch). Needs ``checkpoint``.
    resume : bool, default False
        If ``checkpoint`` exists, restore the parameters, history and random state from it and
        continue, after checking that it holds this very run (same backend, data, settings
        and versions; ``iters`` may be larger). Needs ``checkpoint``; if the file does not
        exist yet, training starts afresh.

    Returns
    -------
    History
        The loss of every iteration and the accuracies of every evaluation, with timings.
        Evaluations happen after iteration 0, ``eval_every``, ``2 * eval_every``, ... (the
        book's ``i % iter_per_epoch == 0``) and also after the last iteration, so that the
        last accuracies are those of the returned parameters.

    Raises
    ------
    ValueError
        If an argument is out of range or the data does not fit the network (the message names
        the argument).
    TypeError
        If an argument has the wrong type.
    CheckpointError
        If ``resume`` finds a checkpoint that is unreadable, of an older format or holding
        NaN or infinite values, or that holds another run: another network shape, class,
        activation, initialisation or weight decay, backend, data, ``grad``, optimiser or
        optimiser setting (``lr``, ...), ``batch_size, eval_every`` or ``seed``, other
        fastgrad, NumPy or Numba versions, or more iterations than ``iters`` (see the module
        docstring). The message names the field, both values and what to do; the
        exception's ``field``, ``old`` and ``new`` hold them.
    DivergenceError
        If an update leaves the parameters NaN or infinite or, with ``grad="numerical"``,
        too large for the step ``h`` = :data:`NUMERICAL_H` (beyond about 4.5e9), which means
        the learning rate is too large: the message names the iteration (0-based) and says
        to lower it. The network keeps the diverged parameters; no checkpoint is written
        after the last good one.

    Notes
    -----
    The iteration follows the book: ``batch_mask = rng.choice(train_size, batch_size)``, the
    gradient on ``x_train[batch_mask]``, ``params[key] -= lr * grad[key]`` for ``W1, b1, ...,
    W{L+1}, b{L+1}`` (or the optimiser's update), then ``loss(x_batch, t_batch)`` with the
    updated parameters. Accuracy on a whole set
    is computed in chunks of :data:`EVAL_CHUNK` rows (the same value, less memory).

    A resumed run ends with exactly the parameters and the history (timings aside) of an
    uninterrupted one with the same seed, settings, data and backend: the random state,
    parameters and history are restored exactly and the same operations follow. An early stop
    leaves a closing evaluation of the last iteration in the history and in the checkpoint;
    a resumed run that goes on drops it, as an uninterrupted run has none there.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgrad import TwoLayerNet
    >>> rng = np.random.default_rng(0)
    >>> x, t = rng.random((200, 4)), rng.integers(0, 3, 200)
    >>> net = TwoLayerNet(4, 5, 3, backend="numpy", rng=0)
    >>> h = train(net, x, t, x[:50], t[:50], iters=30, batch_size=20, lr=0.5,
    ...           grad="backprop", seed=0, progress=False)
    >>> len(h.loss), h.epoch_iters
    (30, [0, 10, 20, 29])
    >>> h2 = train(TwoLayerNet(4, 5, 3, backend="numpy", rng=0), x, t, x[:50], t[:50],
    ...            iters=30, batch_size=20, lr=0.5, grad="backprop", seed=0, progress=False)
    >>> h2.loss == h.loss
    True
    """
    shape = _net_shape(net)
    data = _Data.check(shape, x_train, t_train, x_test, t_test)
    settings = _TrainSettings.check(
        data.n_train,
        iters=iters,
        batch_size=batch_size,
        lr=lr,
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
    rng = np.random.default_rng(settings.seed)
    history = History()
    config = settings.config(net, data) if settings.checkpoint is not None else {}
    if settings.resume and settings.checkpoint is not None and settings.checkpoint.exists():
        history, rng = _restore(net, shape, settings, config)
    _own_float64_params(net)
    gradient = _gradient_method(net, settings.grad)

    clock = _Clock(history.total_time)
    hook = _Hook.build(settings, history, rng, shape, config, clock)
    try:
        _sgd(net, gradient, data, settings, rng, history, hook)
        _add_closing_evaluation(net, data, history)
    finally:
        hook.close()
    hook.on_end(history, net)
    history.total_time = clock()
    return history
