"""Peer libraries on the same TwoLayerNet loss (784-50-10, batch 100, dense inputs).

Each peer differentiates the loss as a function of a flat parameter vector, through the
adapters of :mod:`fastgrad.bench.peers` (the ones ``fastgrad bench`` uses). A full gradient
would take tens of seconds per call, so every peer (and the reference) is timed on the same
random subset of parameters and extrapolated to all 39,760 (see the notes and
``extra_info``). Missing peers are skipped with a message.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from fastgrad.bench.checks import TOL_KERNEL, max_abs_diff
from fastgrad.bench.peers import PEERS
from fastgrad.bench.subset import reference_subset
from fastgrad.bench.workloads import FlatLoss, two_layer_case

K = 20
GROUP = f"peers: TwoLayerNet 784-50-10 b100 loss, {K}-parameter subset"


@functools.lru_cache(maxsize=1)
def _setup():
    case = two_layer_case(784, 50, 10, 100, "dense")
    picks = np.sort(np.random.default_rng(2).choice(case.n_params, K, replace=False))
    flat = FlatLoss(case, picks)
    loss, arrays = flat.sub_arrays()
    sub = reference_subset(loss, arrays, K, np.random.default_rng(3))
    return case, flat, sub.values


#: The suites' names for the peers (those of earlier saved runs, for --benchmark-compare).
IDS = {
    "scipy approx_fprime (forward)": "scipy-approx_fprime",
    "scipy approx_derivative 3-point": "scipy-approx_derivative-3point",
    "numdifftools Gradient central": "numdifftools-Gradient-central",
}


@pytest.mark.parametrize("peer", PEERS, ids=[IDS.get(p.name, p.name) for p in PEERS])
def test_peer(benchmark, extrapolate, peer):
    pytest.importorskip(peer.module, reason=f"{peer.module} not installed")
    benchmark.group = GROUP
    case, flat, expected = _setup()
    fn = peer.make(flat.sub, flat.theta0[flat.picks].copy())
    assert max_abs_diff(np.ravel(fn()), expected) <= peer.tol
    benchmark.pedantic(fn, rounds=3)
    extrapolate(benchmark, case.n_params / K, f"peer {peer.name}")


def test_numba_kernel_same_loss(benchmark):
    """The yardstick in the same group: the kernel's full gradient of the same loss."""
    benchmark.group = GROUP
    case, flat, expected = _setup()
    net = case.net("numba")
    theta = FlatLoss.flatten(net.numerical_gradient(case.x, case.t))
    assert max_abs_diff(theta[flat.picks], expected) <= TOL_KERNEL
    benchmark(net.numerical_gradient, case.x, case.t)
