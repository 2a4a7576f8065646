"""The book's ``train_neuralnet.py`` (*Deep Learning from Scratch*, section 4.5.2): :func:`train`.

Read :func:`_sgd` beside the book's script: each iteration draws a mini-batch
(``rng.choice(train_size, batch_size)``, with replacement as in the book), takes the gradient
(numerical, section 4.4, or backprop, chapter 5), updates ``params[key] -= lr * grad[key]``
(or the update of another of the book's optimisers, section 6.1, :mod:`fastgrad.optimizers`)
and records the batch loss; every ``eval_every`` iterations (an epoch, by default) it records
the accuracy on the whole training and test sets. On top of the book's loop: one check after
each update (parameters that are NaN, infinite or too large for the numerical gradient's step
end the run with a :class:`DivergenceError`), timings, and one hook after each iteration
(callbacks, checkpoints and the progress bar, :mod:`._callbacks`). At the end comes a
*closing* evaluation of the last iteration when the schedule did not evaluate it, so that the
history describes the parameters :func:`train` returns.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .. import optimizers
from .._validation import STEP_MIN_FACTOR
from ._callbacks import Clock, Hook
from ._checkpoint import restore, run_config
from ._history import History
from ._settings import Data, Grad, Settings, check_train_args, param_keys

__all__ = ["EVAL_CHUNK", "NUMERICAL_H", "DivergenceError", "gradient_method", "train"]

#: Rows per accuracy call when evaluating on a whole data set: bounds the float64 copy the
#: numba front door makes (60,000 x 784 float64 would be 376 MB at once).
EVAL_CHUNK = 10_000

#: The step ``h`` of the networks' ``numerical_gradient`` (the book's 1e-4), which :func:`train`
#: calls without one: parameters beyond ``h / STEP_MIN_FACTOR`` (about 4.5e9) are too large
#: for it to nudge, and the networks refuse them.
NUMERICAL_H = 1e-4


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


def _accuracy(net: Any, x: NDArray, t: NDArray) -> float:
    """The book's ``net.accuracy(x, t)`` over the whole set, computed in chunks of
    :data:`EVAL_CHUNK` rows (the same value, less memory)."""
    n = x.shape[0]
    correct = 0
    for start in range(0, n, EVAL_CHUNK):
        rows = min(EVAL_CHUNK, n - start)
        acc = net.accuracy(x[start : start + rows], t[start : start + rows])
        correct += round(float(acc) * rows)  # acc = correct / rows exactly, so this is exact
    return correct / float(n)


def _evaluate(net: Any, data: Data, history: History, iteration: int) -> None:
    """Record the accuracy on the whole training and test sets after ``iteration``."""
    history.train_acc.append(_accuracy(net, data.x_train, data.t_train))
    history.test_acc.append(_accuracy(net, data.x_test, data.t_test))
    history.epoch_iters.append(iteration)


def _add_closing_evaluation(net: Any, data: Data, history: History) -> None:
    """Evaluate the last iteration done unless the schedule did, so that the history
    describes the parameters :func:`train` returns (undone on resume by
    :func:`~fastgrad.training._checkpoint.drop_closing_evaluation`)."""
    last = history.iterations - 1
    if last >= 0 and history.epoch_iters[-1:] != [last]:
        _evaluate(net, data, history, last)


def gradient_method(net: Any, grad: Grad) -> Callable[[Any, Any], dict[str, NDArray]]:
    """``net.numerical_gradient`` (the book's chapter 4) or ``net.gradient`` (backprop,
    chapter 5)."""
    return net.numerical_gradient if grad == "numerical" else net.gradient


def _own_float64_params(net: Any) -> None:
    """The in-place update needs float64 arrays of the net's own: copy any other parameter."""
    for key in param_keys(net.params):
        p = net.params[key]
        if not (isinstance(p, np.ndarray) and p.dtype == np.float64 and p.flags.writeable):
            net.params[key] = np.array(p, dtype=np.float64)


def _check_not_diverged(
    params: dict[str, NDArray], names: tuple[str, ...], iteration: int, settings: Settings
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
    data: Data,
    settings: Settings,
    rng: np.random.Generator,
    history: History,
    hook: Hook,
) -> None:
    """The book's ``train_neuralnet.py``, from the iteration after ``history``'s last up to
    ``settings.iters``, with timings; after each iteration ``hook`` may stop it. The update
    is ``settings.optimizer``'s, in place on the network's own arrays; an update that
    diverges raises :class:`DivergenceError` before anything of its iteration is recorded."""
    gradient = gradient_method(net, settings.grad)
    names = param_keys(net.params)
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


def _run(net: Any, shape: tuple[int, ...], data: Data, settings: Settings) -> History:
    """Restore from the checkpoint if asked, train, evaluate the end, write the last
    checkpoint (checked arguments: :func:`train` documents them)."""
    rng = np.random.default_rng(settings.seed)
    history = History()
    config = run_config(settings, net, data) if settings.checkpoint is not None else {}
    if settings.resume and settings.checkpoint is not None and settings.checkpoint.exists():
        history, rng = restore(net, shape, settings, config)
    _own_float64_params(net)

    clock = Clock(history.total_time)
    hook = Hook.build(settings, history, rng, shape, config, clock)
    try:
        _sgd(net, data, settings, rng, history, hook)
        _add_closing_evaluation(net, data, history)
        hook.on_end(history, net)  # before close: the bar's last figures are the closing ones
    finally:
        hook.close()
    history.total_time = clock()
    return history


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
    """Train ``net`` by mini-batch SGD: the book's ``train_neuralnet.py`` (section 4.5.2).

    Parameters
    ----------
    net : TwoLayerNet or MultiLayerNet
        Any backend or depth, or an object with their ``params`` and methods; updated in place.
    x_train, t_train, x_test, t_test : ndarray
        Images ``(n, input_size)``; integer labels ``(n,)`` or one-hot rows. Never modified.
    iters, batch_size : int, default 10_000 and 100
        Iterations in all (resumed runs count those done); rows per batch, with replacement.
    lr, optimizer : float, and {"sgd", "momentum", "adagrad", "rmsprop", "adam"} or Optimizer
        The update (section 6.1, :mod:`fastgrad.optimizers`; an Optimizer is used as is):
        default plain SGD with lr 0.1, the book's chapter 4; else the book's defaults.
    grad : {"numerical", "backprop"}, default "numerical"
        ``net.numerical_gradient`` (chapter 4) or ``net.gradient`` (chapter 5).
    seed : int, numpy.random.SeedSequence or numpy.random.Generator, optional
        Draws the mini-batches: the same seed, network, data and backend give the same bits.
    eval_every : int, optional
        Iterations between accuracy evaluations; default one epoch, ``n_train // batch_size``.
    progress : bool, default True
        A tqdm progress bar on stderr: the loss, the last accuracies, it/s and ETA.
    callbacks : callable or iterable of callables
        ``callback(iteration, history, net)`` after each iteration (0-based); a true value
        or :class:`StopTraining` stops training after it. A :class:`StopOnSignal`, active in
        its ``with`` block, stops it after the iteration in which Ctrl-C or SIGTERM came.
    checkpoint, checkpoint_every, resume : path-like, int and bool, optional
        Write a checkpoint every ``checkpoint_every`` iterations (default ``eval_every``) and
        at the end; ``resume`` continues the run it holds, if there is one, bit for bit.

    Returns
    -------
    History
        Evaluated after iteration 0, ``eval_every``, ... and after the last iteration.

    Raises
    ------
    ValueError, TypeError
        An argument that is out of range or of the wrong type, or data that does not fit.
    CheckpointError
        A checkpoint that is unreadable, or holds another run; the message says what differs.
    DivergenceError
        An update left the parameters NaN, infinite or too large for :data:`NUMERICAL_H`.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgrad import TwoLayerNet
    >>> x, t = np.random.default_rng(0).random((200, 4)), np.arange(200) % 3
    >>> h = train(TwoLayerNet(4, 5, 3, backend="numpy", rng=0), x, t, x[:50], t[:50],
    ...           iters=30, batch_size=20, grad="backprop", seed=0, progress=False)
    >>> len(h.loss), h.epoch_iters
    (30, [0, 10, 20, 29])
    """
    shape, data, settings = check_train_args(
        net, x_train, t_train, x_test, t_test, iters=iters, batch_size=batch_size, lr=lr,
        optimizer=optimizer, grad=grad, seed=seed, eval_every=eval_every, progress=progress,
        callbacks=callbacks, checkpoint=checkpoint, checkpoint_every=checkpoint_every,
        resume=resume,
    )  # fmt: skip
    return _run(net, shape, data, settings)
