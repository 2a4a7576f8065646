"""The benchmark behind ``fastgrad bench``: the reference, the kernels and peer libraries side
by side on named workloads, in one process.

Every measurement runs the work once (this also compiles it), checks the result against the
reference, and only then times it; a result that fails its check is reported, not timed, and
makes ``fastgrad bench`` exit with status 1. The groups are in :mod:`fastgrad.bench.groups`;
the workloads, shared with the pytest-benchmark suites in the repository's ``benchmarks/``,
in :mod:`fastgrad.bench.workloads`; the command line is :mod:`fastgrad.cli.bench`.
"""

from .groups import GROUPS
from .settings import H, Settings
from .subset import SubsetGradient, reference_subset
from .timing import Timing, measure

__all__ = ["GROUPS", "H", "Settings", "SubsetGradient", "Timing", "measure", "reference_subset"]
