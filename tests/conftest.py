"""Shared fixtures, the Hypothesis profiles and the tolerances of the harness, each justified
once here."""

from __future__ import annotations

import json
import os
import time

import numba
import numpy as np
import pytest
from hypothesis import settings
from numba.core import event as numba_event

import fastgrad

# -- hypothesis profiles --------------------------------------------------------------------
#
# "ci" draws the same examples on every run, so CI cannot go red on an example that no one
# changed: each test's examples are seeded from a hash of the test (derandomize=True, until
# the test, Hypothesis or Python changes), no example database, no deadline (a slow CI
# machine is not a failure), and a failure prints its reproduction blob. "dev" (local runs)
# draws new examples on every run and replays the failures it saved in .hypothesis/. Both
# budget 100 examples to a test that sets no max_examples. CI (.ci/run) sets CI=true, which
# selects "ci"; ``pytest --hypothesis-profile NAME`` selects either. An example that ever
# failed is pinned on its test with @example.
#
# Both derive from Hypothesis's "default" profile, not from the one loaded now: with CI set,
# recent Hypothesis versions load their own derandomized "ci" profile at import.
_DEFAULT = settings.get_profile("default")
settings.register_profile(
    "ci",
    parent=_DEFAULT,
    max_examples=100,
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
)
settings.register_profile("dev", parent=_DEFAULT, max_examples=100)
IN_CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
settings.load_profile("ci" if IN_CI else "dev")

EPS = np.finfo(np.float64).eps

#: Element-wise twins (sigmoid, softmax, cross-entropy): NumPy and LLVM use different, both
#: faithful (< 1 ulp) exp/log routines, and softmax/cross-entropy sums run in a different
#: order (NumPy: pairwise; kernels: sequential), which costs a few ulps more.
FUNC_RTOL = 16 * EPS
FUNC_ATOL = 16 * EPS


def reference_noise(loss: float, h: float, scale: float = 0.0) -> float:
    """Rounding noise of the reference's central difference ``(L(+) - L(-)) / 2h``.

    Each of ``L(+)`` and ``L(-)`` is a float64 batch mean of row losses, rounded to a few
    ulps of ``|L|`` (pairwise summation over at most a few thousand rows: < 16 ulps); their
    difference keeps that absolute error and the division by ``2h`` magnifies it. The kernels
    sum exact per-row differences and are far more accurate, so this bounds the gap.

    A row's loss is also off by the rounding of the logits it is computed from, which is a
    few ulps of the magnitudes summed into them, not of the logits themselves: ``x W1 + b1``
    with ``x W1 = 77.8`` and ``b1 = -77.8`` is 0 with an error of ulp(77.8), and the softmax
    cross-entropy passes a logit's error on to the loss at most once (its gradient in the
    logits has entries in [-1, 1] summing to 0). ``scale`` is a bound on those magnitudes
    (:func:`forward_magnitude`); the noise is taken relative to the larger of the two.
    """
    return 32 * EPS * max(1.0, abs(loss), scale) / (2 * h)


def forward_magnitude(params: dict, x, activation: str) -> float:
    """A bound on the magnitudes summed into any logit of a ``W1, b1, ..., WL, bL`` network:
    the forward pass on absolute values, ``M_l = M_(l-1) |W_l| + |b_l|`` from ``M_0 = |x|``,
    which bounds every pre-activation and, times a few ulps, its rounding error carried
    forward (ReLU passes a value and its error on at most unchanged; a sigmoid's value is
    below 1 and its error a quarter of its input's, hence ``1 + M`` after a sigmoid)."""
    layers = sum(1 for k in params if k.startswith("W"))
    m = np.abs(np.atleast_2d(x))
    for li in range(1, layers + 1):
        if li > 1 and activation == "sigmoid":
            m = 1.0 + m
        m = m @ np.abs(params[f"W{li}"]) + np.abs(params[f"b{li}"])
    return float(np.max(m))


def softmax_rows(rng, N: int, K: int, temperature: float):
    """Random softmax rows ``s`` (``N x K``, logits of scale ``temperature``), labels ``t``
    and ``q = p0 / (p0 + 1e-7)``: what the closed forms and the series read."""
    a = rng.normal(size=(N, K)) * temperature
    s = np.exp(a - a.max(axis=1, keepdims=True))
    s /= s.sum(axis=1, keepdims=True)
    t = rng.integers(0, K, N)
    p0 = s[np.arange(N), t]
    return s, t, p0 / (p0 + 1e-7)


def two_layer_logit_magnitude(params: dict, x) -> float:
    """The magnitudes summed into the logits of the two-layer sigmoid network, first order in
    the rounding of ``a1``: ``(z1 + sigmoid'(a1) M1) |W2| + |b2|`` with ``M1 = |x| |W1| + |b1|``
    (``a1``'s error is a few ulps of ``M1``, and the sigmoid passes it on times its
    derivative). :func:`forward_magnitude`'s ``1 + M`` after a sigmoid bounds the same error
    without the derivative, a million times too loosely for a saturated unit (std 40)."""
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    a1 = x @ params["W1"] + params["b1"]
    with np.errstate(over="ignore"):
        z1 = 1 / (1 + np.exp(-a1))
    m1 = np.abs(x) @ np.abs(params["W1"]) + np.abs(params["b1"])
    return float(np.max((z1 + z1 * (1 - z1) * m1) @ np.abs(params["W2"]) + np.abs(params["b2"])))


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(params=[b for b in fastgrad.BACKENDS if b != "dask"])  # dask: test_dask.py
def backend(request):
    return request.param


@pytest.fixture
def num_threads():
    """Yields a setter for the kernels' thread count, restored afterwards: fastgrad's fixed
    count (the front door and the twin classes) and Numba's (compiled kernels called
    directly), so that a test runs at exactly the count it asks for."""
    before = numba.get_num_threads()

    def set_both(n):
        fastgrad.set_num_threads(n)
        numba.set_num_threads(n)

    try:
        yield set_both
    finally:
        fastgrad.set_num_threads(None)
        numba.set_num_threads(before)


THREAD_COUNTS = sorted({1, 2, numba.config.NUMBA_NUM_THREADS})


# -- the suite's compile share ------------------------------------------------------------------


class CompileClock(numba_event.Listener):
    """Seconds this pytest process spends in Numba compilations: the outermost ones only (a
    compilation compiles its callees inside it). Dask workers compile in their own
    processes and are not counted."""

    def __init__(self) -> None:
        self.depth = 0
        self.started = 0.0
        self.seconds = 0.0
        self.compilations = 0

    def on_start(self, event: numba_event.Event) -> None:
        if self.depth == 0:
            self.started = time.perf_counter()
        self.depth += 1

    def on_end(self, event: numba_event.Event) -> None:
        self.depth -= 1
        if self.depth == 0:
            self.seconds += time.perf_counter() - self.started
            self.compilations += 1


COMPILE_CLOCK = CompileClock()
#: Where the share is also written as JSON (the bench's compile group reads it).
COMPILE_REPORT_ENV = "FASTGRAD_COMPILE_REPORT"


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config._fastgrad_started = time.perf_counter()
    numba_event.register("numba:compile", COMPILE_CLOCK)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    wall = time.perf_counter() - config._fastgrad_started
    c = COMPILE_CLOCK
    terminalreporter.write_line(
        f"numba compilation: {c.seconds:.1f} s of {wall:.1f} s ({100 * c.seconds / wall:.0f}%), "
        f"{c.compilations} compilations in this process"
    )
    path = os.environ.get(COMPILE_REPORT_ENV)
    if path:
        doc = {"compile_s": c.seconds, "wall_s": wall, "compilations": c.compilations}
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(doc, fh)
