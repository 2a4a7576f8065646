"""What :func:`fastgrad.training.train` calls after each iteration: callbacks and progress.

The loop calls one :class:`Hook`, as ``hook(iteration, history, net)``. It calls the users'
callbacks first, which decide whether training stops (a true value or :class:`StopTraining`
from any of them; all of them run), then the built-in ones, told whether training stops:
the :class:`Checkpointer` (a checkpoint every ``checkpoint_every`` iterations and at the end)
and the :class:`ProgressBar` (tqdm on stderr), in that order, so a checkpoint is written
before the bar moves. :class:`Clock` sums the seconds of the sessions of a resumed run.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from ._checkpoint import write_checkpoint
from ._history import History
from ._settings import Settings

__all__ = ["Callback", "Checkpointer", "Clock", "Hook", "ProgressBar", "StopTraining"]


class StopTraining(Exception):  # noqa: N818 - the name says what raising it does
    """Raise from a callback to end training after the current iteration.

    :func:`~fastgrad.training.train` catches it and returns the history normally, as if the
    callback had returned True.
    """


class Clock:
    """Seconds spent in :func:`~fastgrad.training.train`, summed over the sessions of a run."""

    def __init__(self, before: float) -> None:
        self.before = before
        self.start = time.perf_counter()

    def __call__(self) -> float:
        return self.before + (time.perf_counter() - self.start)


class Callback:
    """A built-in callback. It is called like the users' callbacks, as ``callback(iteration,
    history, net)``, right after them, and told whether they stop training after this
    iteration (``stopping``). :meth:`close` runs however the loop ends; :meth:`on_end` only
    when it ended normally or by a callback's stop, after the closing evaluation and before
    :meth:`close`."""

    def __call__(
        self, iteration: int, history: History, net: Any, *, stopping: bool = False
    ) -> None:
        pass

    def close(self) -> None:
        pass

    def on_end(self, history: History, net: Any) -> None:
        pass


class Checkpointer(Callback):
    """Writes the checkpoint after every ``checkpoint_every``-th iteration except the last
    one asked for, and once more at the end."""

    def __init__(
        self,
        settings: Settings,
        rng: np.random.Generator,
        shape: tuple[int, ...],
        config: dict[str, Any],
        clock: Clock,
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
        write_checkpoint(
            self.path, net.params, history, self.rng, self.shape, self.config, self.optimizer
        )


class ProgressBar(Callback):
    """A tqdm bar on stderr: a step per iteration, with the loss and the last accuracies after
    every 10th iteration, each evaluation and the iteration a callback stops after; at the end
    (:meth:`on_end`), those of the history :func:`~fastgrad.training.train` returns."""

    def __init__(self, bar: Any) -> None:
        self.bar = bar

    @classmethod
    def open(cls, total: int, initial: int) -> ProgressBar | None:
        """A bar at ``initial`` of ``total`` iterations, or None (and a warning) without tqdm."""
        try:
            from tqdm.auto import tqdm
        except ImportError:  # pragma: no cover - tqdm is in the train and test extras
            # stacklevel: open, Hook.build, run, train, and the line that called train
            warnings.warn("tqdm is not installed: no progress bar", stacklevel=5)
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
            self.show(history)
        self.bar.update(1)

    def show(self, history: History) -> None:
        """Put the last loss and the last accuracies of ``history`` on the bar (the bar
        shows them at its next refresh, at the latest when it is closed)."""
        acc = (
            f" train={history.train_acc[-1]:.4f} test={history.test_acc[-1]:.4f}"
            if history.train_acc
            else ""
        )
        self.bar.set_postfix_str(f"loss={history.loss[-1]:.4f}{acc}", refresh=False)

    def on_end(self, history: History, net: Any) -> None:
        """The closing figures: the accuracies of the last evaluation, the closing one when
        the schedule did not evaluate the last iteration (which comes after the last
        iteration's step), so that the bar ends on the figures of the returned history."""
        if history.loss:
            self.show(history)

    def close(self) -> None:
        self.bar.close()


class Hook:
    """What the loop calls after each iteration, as ``hook(iteration, history, net)``: the
    users' callbacks, which decide whether training stops (a true value or
    :class:`StopTraining` from any of them; all of them run), then the built-in ones."""

    def __init__(self, callbacks: tuple[Callable[..., Any], ...], builtins: list[Callback]) -> None:
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
        settings: Settings,
        history: History,
        rng: np.random.Generator,
        shape: tuple[int, ...],
        config: dict[str, Any],
        clock: Clock,
    ) -> Hook:
        """The users' callbacks, then the checkpointer and the progress bar that ``settings``
        ask for, in that order: a checkpoint is written before the bar moves."""
        builtins: list[Callback] = []
        if settings.checkpoint is not None:
            builtins.append(Checkpointer(settings, rng, shape, config, clock))
        if settings.progress:
            bar = ProgressBar.open(settings.iters, min(history.iterations, settings.iters))
            if bar is not None:
                builtins.append(bar)
        return cls(settings.callbacks, builtins)

    def close(self) -> None:
        for builtin in self.builtins:
            builtin.close()

    def on_end(self, history: History, net: Any) -> None:
        for builtin in self.builtins:
            builtin.on_end(history, net)
