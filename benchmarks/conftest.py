"""pytest-benchmark suites: the reference against the Numba kernels, group by group.

``pytest benchmarks`` collects the ``bench_*.py`` files here (the repository's pytest
settings name only ``tests`` and ``fastgrad``; :func:`pytest_configure` adds the pattern).
Every benchmark checks its result against the reference before it times anything, and
compiles (warms) its kernel outside the timed call.

Options:

- ``--bench-large``: also run the slow cases: the generic kernel at 100,000 parameters (its
  cost grows as n^2: seconds a call) and the cold compilation of the TwoLayerNet kernels
  (tens of seconds); benchmarks/README.md quotes the measured figures. Without it they are
  skipped, so that the CI smoke run (``pytest benchmarks --benchmark-disable``) stays short.

Results that are not pytest-benchmark timings (extrapolated reference times, compile times
in fresh processes, peak memory) are printed in the terminal summary under "fastgrad bench
notes" and stored in each benchmark's ``extra_info``.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest
from threadpoolctl import ThreadpoolController

_NOTES: list[str] = []
_BLAS = ThreadpoolController()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("python_files", "bench_*.py")
    # Start Numba's threading layer before any kernel is loaded from the on-disk cache: a
    # cached serial kernel that calls a parallel one (kernels.softmax -> _softmax_rows), as
    # the first parallel code of a process, segfaults otherwise (numba issue #9938, open
    # fix numba/numba#9950). fastgrad itself should do this at import time.
    import fastgrad

    fastgrad.get_num_threads()
    config.addinivalue_line("markers", "large: slow benchmark, run only with --bench-large")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--bench-large",
        action="store_true",
        default=False,
        help="fastgrad: also run the slow benchmarks (generic kernel at 100,000 parameters, "
        "cold compilation of the TwoLayerNet kernels)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--bench-large"):
        return
    skip = pytest.mark.skip(reason="slow benchmark: pass --bench-large to run it")
    for item in items:
        if "large" in item.keywords:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter) -> None:  # noqa: ANN001 - pytest's own type
    if _NOTES:
        terminalreporter.section("fastgrad bench notes")
        for line in _NOTES:
            terminalreporter.write_line(line)


@pytest.fixture
def note():
    """``note(text)``: a line for the terminal summary (results that are not timings)."""
    return _NOTES.append


@pytest.fixture
def blas1():
    """BLAS held to one thread while kernels run (Numba and BLAS threads oversubscribe the
    cores); the front door does the same around the generic kernel. The network kernels call
    no BLAS, and their suites do not use it."""
    with _BLAS.limit(limits=1, user_api="blas"):
        yield


@pytest.fixture
def threads():
    """``threads(n)``: set the kernels' thread count for this test; restored afterwards."""
    import fastgrad

    before = numba.get_num_threads()

    def set_both(n):
        fastgrad.set_num_threads(n)
        numba.set_num_threads(n)

    try:
        yield set_both
    finally:
        fastgrad.set_num_threads(None)
        numba.set_num_threads(before)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def extrapolate(note):
    """``extrapolate(benchmark, factor, what)``: record ``median x factor`` as the time of the
    full work, for a benchmark that timed a parameter subset (the reference, the peers)."""

    def record(benchmark, factor: float, what: str) -> None:  # noqa: ANN001
        benchmark.extra_info["extrapolation_factor"] = factor
        stats = getattr(benchmark, "stats", None)
        if stats is None:  # --benchmark-disable: nothing was timed
            return
        median = stats.stats.median * factor
        benchmark.extra_info["extrapolated_median_s"] = median
        note(
            f"{what}: {median:.4g} s for the full gradient (extrapolated: median of the "
            f"subset x {factor:,.1f})"
        )

    return record
