"""The benchmark groups: one module each, with ``run(rec, s)``.

A group is a small declared function: it builds its workloads, checks every result against
the reference, times what passed, and records rows and figures in ``rec``
(:class:`~fastgrad.bench.recorder.Recorder`) under the settings ``s``
(:class:`~fastgrad.bench.settings.Settings`). What it measures against a goal is declared in
:mod:`fastgrad.bench.targets`, and reporting is :mod:`fastgrad.bench.report`'s.

A new group is a new module here and one line in :data:`GROUPS`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from ..recorder import Recorder
from ..settings import Settings

__all__ = ["GROUPS", "load"]

#: The benchmark groups, in the order they run; each is the module of the same name.
GROUPS = (
    "functions",  # softmax, cross-entropy: reference against the kernel twins
    "generic",  # numerical_gradient on njit functions; thread scaling; overhead beyond f
    "simplenet",  # the book's 2x3 SimpleNet, every way in
    "twolayer",  # the book's 784-50-10 network: numerical and analytic gradients
    "multilayer",  # the chapter-6 MultiLayerNet: [100, 100] and [50] ReLU, sigmoid with decay
    "sweep",  # the same across hidden size, batch and input size
    "training",  # one iteration of the book's training loop
    "peers",  # SciPy, numdifftools, PyTorch on the same loss
    "toolkit",  # every differentiation method: accuracy on test functions, speed vs peers
    "dask",  # backend="dask" on a 2-worker LocalCluster; task overhead; projection to W workers
    "compile",  # JIT compilation and first calls, in fresh processes
)


def load(name: str) -> Callable[[Recorder, Settings], None]:
    """The ``run`` function of group ``name`` (its module is imported on first use)."""
    if name not in GROUPS:
        raise ValueError(f"unknown group {name!r}; choose from {', '.join(GROUPS)}")
    return importlib.import_module(f"{__name__}.{name}").run
