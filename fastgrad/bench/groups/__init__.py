"""The groups: one module each, whose ``run(rec, s)`` builds its workloads, checks every
result against the reference, times what passed and records the rows in ``rec``
(:class:`~fastgrad.bench.recorder.Recorder`) under the settings ``s``. A new group is a new
module here and one line in :data:`GROUPS`."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from ..recorder import Recorder
from ..settings import Settings

#: The groups, in the order they run.
GROUPS = (
    "simplenet",  # the book's 2x3 SimpleNet, every way in
    "twolayer",  # the book's 784-50-10 network: numerical and analytic gradients
    "multilayer",  # the chapter-6 MultiLayerNet, three networks
    "peers",  # SciPy and numdifftools on the TwoLayerNet loss
    "toolkit",  # numerical_gradient of an njit f, every method; hessian; vectorized; peers
    "dask",  # backend="dask" on a 2-worker LocalCluster; projection to more workers
)


def load(name: str) -> Callable[[Recorder, Settings], None]:
    """The ``run`` function of group ``name`` (its module is imported on first use)."""
    if name not in GROUPS:
        raise ValueError(f"unknown group {name!r}; choose from {', '.join(GROUPS)}")
    return importlib.import_module(f"{__name__}.{name}").run
