"""Peer libraries on the same TwoLayerNet loss (784-50-10, batch 100, dense inputs).

Each peer differentiates the loss as a function of a flat parameter vector. A full gradient
would take tens of seconds per call, so every peer (and the reference) is timed on the same random
subset of parameters and extrapolated to all 39,760 (see the notes and ``extra_info``).
Missing peers are skipped with a message; PyTorch is optional and never installed for this.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from fastgrad.bench import (
    TOL_CENTRAL_PEER,
    TOL_FORWARD_PEER,
    TOL_KERNEL,
    FlatLoss,
    H,
    reference_subset,
    two_layer_case,
)

K = 20


@functools.lru_cache(maxsize=1)
def _setup():
    case = two_layer_case(784, 50, 10, 100, "dense")
    picks = np.sort(np.random.default_rng(2).choice(case.n_params, K, replace=False))
    flat = FlatLoss(case, picks)
    loss, arrays = flat.sub_arrays()
    sub = reference_subset(loss, arrays, K, np.random.default_rng(3))
    return case, flat, sub.values


def _peer(name):
    case, flat, expected = _setup()
    v0 = flat.theta0[flat.picks].copy()
    if name == "scipy-approx_fprime":
        from scipy.optimize import approx_fprime

        return (lambda: approx_fprime(v0, flat.sub, H)), TOL_FORWARD_PEER
    if name == "scipy-approx_derivative-3point":
        from scipy.optimize._numdiff import approx_derivative

        return (lambda: approx_derivative(flat.sub, v0, method="3-point", abs_step=H),
                TOL_CENTRAL_PEER)
    if name == "numdifftools-Gradient-central":
        import numdifftools as nd

        grad = nd.Gradient(flat.sub, step=H, method="central")
        return (lambda: grad(v0)), TOL_CENTRAL_PEER
    raise ValueError(name)


PEERS = {
    "scipy-approx_fprime": "scipy",
    "scipy-approx_derivative-3point": "scipy",
    "numdifftools-Gradient-central": "numdifftools",
}


@pytest.mark.parametrize("peer", list(PEERS))
def test_peer(benchmark, extrapolate, peer):
    pytest.importorskip(PEERS[peer], reason=f"{PEERS[peer]} not installed")
    benchmark.group = f"peers: TwoLayerNet 784-50-10 b100 loss, {K}-parameter subset"
    case, _, expected = _setup()
    fn, tol = _peer(peer)
    assert np.max(np.abs(np.ravel(fn()) - expected)) <= tol
    benchmark.pedantic(fn, rounds=3)
    extrapolate(benchmark, case.n_params / K, f"peer {peer}")


def test_peer_torch_gradcheck(benchmark, extrapolate):
    torch = pytest.importorskip("torch", reason="torch not installed")
    try:
        from torch.autograd.gradcheck import get_numerical_jacobian as jac
    except ImportError:
        from torch.autograd.gradcheck import _get_numerical_jacobian as jac
    benchmark.group = f"peers: TwoLayerNet 784-50-10 b100 loss, {K}-parameter subset"
    case, flat, expected = _setup()
    vt = torch.tensor(flat.theta0[flat.picks], dtype=torch.float64)

    def fn(v):
        return torch.tensor(flat.sub(v.detach().numpy()), dtype=torch.float64)

    def run():
        return jac(fn, (vt,), eps=H)[0].numpy()

    assert np.max(np.abs(np.ravel(run()) - expected)) <= TOL_CENTRAL_PEER
    benchmark.pedantic(run, rounds=3)
    extrapolate(benchmark, case.n_params / K, "peer torch gradcheck numerical Jacobian")


def test_numba_kernel_same_loss(benchmark):
    """The yardstick in the same group: the kernel's full gradient of the same loss."""
    benchmark.group = f"peers: TwoLayerNet 784-50-10 b100 loss, {K}-parameter subset"
    case, flat, expected = _setup()
    net = case.net("numba")
    g = net.numerical_gradient(case.x, case.t)
    theta = np.concatenate([g[k].ravel() for k in ("W1", "b1", "W2", "b2")])
    assert np.max(np.abs(theta[flat.picks] - expected)) <= TOL_KERNEL
    benchmark(net.numerical_gradient, case.x, case.t)
