"""The benchmark: the reference and the accelerated backends side by side, in one process.

How a benchmark is made, one module per idea:

- :mod:`~fastgrad.bench.timing`: the timer and its statistics (:func:`measure`,
  :func:`measure_interleaved`, :class:`Timing`);
- :mod:`~fastgrad.bench.subset`: the reference's gradient on a parameter sample,
  extrapolated to all parameters (:func:`reference_subset`);
- :mod:`~fastgrad.bench.workloads`: the cases, shared with the pytest-benchmark suites in
  ``benchmarks/`` (:func:`generic_case`, :func:`two_layer_case`, MNIST batches, ...);
- :mod:`~fastgrad.bench.peers`: SciPy, numdifftools and PyTorch as adapters on one loss;
- :mod:`~fastgrad.bench.probes`: fresh-process probes (compilation, first calls, memory);
- :mod:`~fastgrad.bench.groups`: one module per group and the registry :data:`GROUPS`;
- :mod:`~fastgrad.bench.checks` and :mod:`~fastgrad.bench.settings`: the tolerances, the
  book's step and the quick and full settings;
- :mod:`~fastgrad.bench.recorder`: the rows and failures a run records;
- :mod:`~fastgrad.bench.targets`: the goals, declared in one table;
- :mod:`~fastgrad.bench.runner`, :mod:`~fastgrad.bench.report`, :mod:`~fastgrad.bench.plot`:
  a run, its text and JSON, its plot;
- :mod:`~fastgrad.bench.readme` and :mod:`~fastgrad.bench.publish`: the published figures
  and the one command that regenerates them (``python -m fastgrad.bench.publish``).

Every measurement follows the same three steps: run the work once (this also compiles it),
check the result against the reference, and only then time it. A result that fails its
check is reported as failed, is not timed, and makes ``fastgrad bench`` exit with status 1.
The command line is :mod:`fastgrad.cli.bench`.
"""

from .groups import GROUPS
from .machine import machine_info
from .probes import compile_probe, first_gradient_probe, peak_memory_probe
from .settings import H, Settings
from .subset import SubsetGradient, reference_subset
from .timing import Timing, measure, measure_interleaved
from .workloads import (
    FlatLoss,
    TwoLayerCase,
    f_alone,
    generic_case,
    mlp_loss,
    mnist_like_batch,
    mnist_train_data,
    quadratic,
    rosenbrock,
    two_layer_case,
    two_layer_reference_subset,
)

__all__ = [
    "GROUPS",
    "H",
    "Settings",
    "Timing",
    "measure",
    "measure_interleaved",
    "SubsetGradient",
    "reference_subset",
    "quadratic",
    "rosenbrock",
    "mlp_loss",
    "generic_case",
    "f_alone",
    "TwoLayerCase",
    "two_layer_case",
    "two_layer_reference_subset",
    "mnist_like_batch",
    "mnist_train_data",
    "FlatLoss",
    "compile_probe",
    "first_gradient_probe",
    "peak_memory_probe",
    "machine_info",
]
