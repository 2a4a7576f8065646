"""The benchmark behind ``fastgrad bench`` (:mod:`fastgrad.cli.bench`): the reference, the
kernels and peer libraries side by side on the workloads of :mod:`fastgrad.bench.workloads`,
one module per group in :mod:`fastgrad.bench.groups`. Every result is checked against the
reference before it is timed; one that fails is reported, not timed, and makes ``fastgrad
bench`` exit with status 1."""

from .groups import GROUPS
from .settings import H, Settings
from .subset import SubsetGradient, reference_subset
from .timing import Timing, measure

__all__ = ["GROUPS", "H", "Settings", "SubsetGradient", "Timing", "measure", "reference_subset"]
