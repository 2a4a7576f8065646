"""Stopping :func:`~fastgrad.training.train` cleanly on Ctrl-C (SIGINT) and SIGTERM.

Python's default SIGINT handler raises ``KeyboardInterrupt`` wherever the main thread is;
inside a compiled Numba kernel that ends the run in ``SystemError: CPUDispatcher(...) returned
a result with an exception set``, and SIGTERM ends the process at once. :class:`StopOnSignal`
replaces both handlers, while it is active, by one that only records the signal; used as a
callback it stops training after the iteration in progress, so that the checkpointer writes
its last checkpoint and :func:`~fastgrad.training.train` returns normally.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterable
from types import FrameType
from typing import Any

__all__ = ["StopOnSignal"]


class StopOnSignal:
    """A context manager and callback that turns SIGINT and SIGTERM into a clean stop.

    While the ``with`` block runs, a signal of ``signals`` only sets :attr:`signum` (further
    signals change nothing: a second Ctrl-C does not stop faster; SIGKILL does); the handlers
    that were installed before are put back when the block ends, however it ends. Passed to
    :func:`~fastgrad.training.train` among its ``callbacks``, it returns True after the
    iteration in which a signal came, so training stops there as after any callback's stop:
    the closing evaluation, then the last checkpoint (with ``checkpoint=``), then ``train``
    returns the history. Signal handlers can only be set from the main thread: elsewhere the
    block installs nothing and the signals keep their handlers; a signal that is ignored
    (``SIG_IGN``, as under ``nohup``) stays ignored.

    Parameters
    ----------
    signals : iterable of int, default (SIGINT, SIGTERM)

    Attributes
    ----------
    signum : int or None
        The first signal received, or None.

    Examples
    --------
    >>> import signal
    >>> with StopOnSignal() as stop:
    ...     signal.raise_signal(signal.SIGINT)  # no KeyboardInterrupt
    ...     stop(0, None, None)
    True
    >>> stop.signum == signal.SIGINT, stop.exit_status
    (True, 130)
    """

    def __init__(self, signals: Iterable[int] = (signal.SIGINT, signal.SIGTERM)) -> None:
        self.signals = tuple(signals)
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum = signum

    @property
    def name(self) -> str | None:
        """The name of the signal received (``"SIGINT"``), or None."""
        return None if self.signum is None else signal.Signals(self.signum).name

    @property
    def exit_status(self) -> int | None:
        """The shell's status for a process ended by the signal: 128 + its number (130 for
        SIGINT, 143 for SIGTERM), or None."""
        return None if self.signum is None else 128 + self.signum

    def __enter__(self) -> StopOnSignal:
        if threading.current_thread() is threading.main_thread():
            for signum in self.signals:
                if signal.getsignal(signum) is not signal.SIG_IGN:  # nohup, a background job
                    self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        previous, self._previous = self._previous, {}
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)

    def __call__(self, iteration: int, history: Any, net: Any) -> bool:
        return self.signum is not None
