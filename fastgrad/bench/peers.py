"""Peer libraries that compute numerical gradients, as adapters on one loss.

Each :class:`Peer` turns a scalar loss ``f(v)`` of a flat parameter vector and the point
``v0`` into a zero-argument call that returns the peer's gradient at ``v0``, with the book's
step :data:`~fastgrad.bench.settings.H`. The peers' imports happen inside ``make``: a peer
that is not installed raises ``ImportError`` there, and the caller skips it.

Two adapters reach past a library's documented API, because the library has no public
function that does the same work:

- SciPy offers no public fixed-step central difference (``scipy.optimize.approx_fprime``
  is a forward difference; ``scipy.differentiate`` adapts its step), so the 3-point peer
  calls ``scipy.optimize._numdiff.approx_derivative``, the function behind ``approx_fprime``
  and ``minimize(jac="3-point")``;
- PyTorch releases that dropped ``torch.autograd.gradcheck.get_numerical_jacobian`` keep
  only ``_get_numerical_jacobian``, which the adapter falls back to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from numpy.typing import NDArray

from .checks import TOL_CENTRAL_PEER, TOL_FORWARD_PEER
from .settings import H

__all__ = ["Peer", "PEERS", "PEER_MODULES"]


@dataclass(frozen=True)
class Peer:
    """One peer: its row name, the module it needs, the adapter, the check's tolerance, and
    the names the README uses for it (in a table, in a sentence, in a short list)."""

    name: str
    module: str
    make: Callable[[Callable[[NDArray], float], NDArray], Callable[[], Any]]
    tol: float
    title: str
    brief: str
    short: str


def _approx_fprime(f: Callable, v0: NDArray) -> Callable[[], Any]:
    from scipy.optimize import approx_fprime

    return lambda: approx_fprime(v0, f, H)


def _approx_derivative(f: Callable, v0: NDArray) -> Callable[[], Any]:
    from scipy.optimize._numdiff import approx_derivative  # no public twin: module docstring

    return lambda: approx_derivative(f, v0, method="3-point", abs_step=H)


def _numdifftools(f: Callable, v0: NDArray) -> Callable[[], Any]:
    import numdifftools as nd

    grad = nd.Gradient(f, step=H, method="central")
    return lambda: grad(v0)


def _torch_gradcheck(f: Callable, v0: NDArray) -> Callable[[], Any]:
    import torch

    try:
        from torch.autograd.gradcheck import get_numerical_jacobian as jac
    except ImportError:  # newer releases keep only the private one
        from torch.autograd.gradcheck import _get_numerical_jacobian as jac

    def fn(v: Any) -> Any:
        return torch.tensor(f(v.detach().numpy()), dtype=torch.float64)

    vt = torch.tensor(v0, dtype=torch.float64)
    return lambda: jac(fn, (vt,), eps=H)[0].numpy()


#: The peers, in the order they run.
PEERS = (
    Peer(
        "scipy approx_fprime (forward)",
        "scipy",
        _approx_fprime,
        TOL_FORWARD_PEER,
        title="SciPy `approx_fprime` (forward differences: n+1 evaluations)",
        brief="SciPy `approx_fprime`",
        short="SciPy `approx_fprime` (forward differences)",
    ),
    Peer(
        "scipy approx_derivative 3-point",
        "scipy",
        _approx_derivative,
        TOL_CENTRAL_PEER,
        title='SciPy `approx_derivative(method="3-point")`',
        brief="SciPy `approx_derivative`",
        short="SciPy `approx_derivative` (3-point)",
    ),
    Peer(
        "numdifftools Gradient central",
        "numdifftools",
        _numdifftools,
        TOL_CENTRAL_PEER,
        title='numdifftools `Gradient(method="central", step=1e-4)`',
        brief="numdifftools `Gradient`",
        short="numdifftools `Gradient` (central)",
    ),
    Peer(
        "torch gradcheck numerical Jacobian",
        "torch",
        _torch_gradcheck,
        TOL_CENTRAL_PEER,
        title="PyTorch gradcheck numerical Jacobian",
        brief="PyTorch gradcheck",
        short="PyTorch gradcheck (finite differences)",
    ),
)

#: The libraries the peers need, once each.
PEER_MODULES = tuple(dict.fromkeys(p.module for p in PEERS))
