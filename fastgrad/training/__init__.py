"""Mini-batch training of :class:`fastgrad.TwoLayerNet` and :class:`fastgrad.MultiLayerNet`:
the book's ``train_neuralnet.py``, with a history, callbacks and exact checkpoints.

- ``_loop``: :func:`train`, the loop to read beside the book's script (section 4.5.2);
- ``_settings``: its arguments, checked once before anything runs;
- ``_history``: :class:`History`, what a run records;
- ``_checkpoint``: the checkpoint file (:func:`load_checkpoint`) and the rules for resuming
  from one, which continue the same run bit for bit or refuse (:class:`CheckpointError`);
- ``_callbacks``: what runs after each iteration: the users' callbacks
  (:class:`StopTraining`), the checkpointer and the progress bar;
- ``_signals``: :class:`StopOnSignal`, which turns Ctrl-C and SIGTERM into a stop after the
  current iteration (and so a last checkpoint).
"""

from ._callbacks import StopTraining
from ._checkpoint import Checkpoint, CheckpointError, load_checkpoint
from ._history import History
from ._loop import EVAL_CHUNK, NUMERICAL_H, DivergenceError, train
from ._settings import DEFAULT_SGD_LR, GRAD_METHODS
from ._signals import StopOnSignal

__all__ = [
    "DEFAULT_SGD_LR",
    "EVAL_CHUNK",
    "GRAD_METHODS",
    "NUMERICAL_H",
    "Checkpoint",
    "CheckpointError",
    "DivergenceError",
    "History",
    "StopOnSignal",
    "StopTraining",
    "load_checkpoint",
    "train",
]
