"""What :func:`fastgrad.training.train` records: the :class:`History` of a run.

The book's ``train_neuralnet.py`` keeps three lists, ``train_loss_list``, ``train_acc_list``
and ``test_acc_list``; :class:`History` keeps them as ``loss``, ``train_acc`` and
``test_acc``, with the iteration of each evaluation and the timings, and round-trips through
JSON (:meth:`History.to_dict`, :meth:`History.from_dict`), which is how a checkpoint and
``fastgrad train``'s ``history.json`` store it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

__all__ = ["History"]


@dataclass
class History:
    """What :func:`~fastgrad.training.train` records.

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
        Wall-clock seconds spent in :func:`~fastgrad.training.train`, summed over resumed
        sessions.

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
