"""Peer libraries that compute numerical gradients, as adapters.

- :data:`PEERS` (the ``peers`` group): each :class:`Peer` turns a scalar loss ``f(v)`` of a
  flat parameter vector and the point ``v0`` into a zero-argument call that returns the
  peer's gradient at ``v0``, with the book's step :data:`~fastgrad.bench.settings.H`.
- :data:`METHOD_PEERS` and :data:`HESSIAN_PEERS` (the ``toolkit`` group): each
  :class:`MethodPeer` is a library's equivalent of some of ``fastgrad.numerical_gradient``'s
  methods (or of ``fastgrad.hessian``), made the same way from ``f`` and ``x``.
  :data:`NO_EQUIVALENT` names the libraries that have numerical differentiation but nothing
  to time against (JAX checks gradients but returns none).

The peers' imports happen inside ``make``: a peer that is not installed raises
``ImportError`` there, and the caller skips it.

Two adapters reach past a library's documented API, because the library has no public
function that does the same work:

- SciPy offers no public fixed-step central difference (``scipy.optimize.approx_fprime``
  is a forward difference; ``scipy.differentiate`` adapts its step), so the 3-point peer
  (and the toolkit's 2-point, 3-point and complex-step peers) call
  ``scipy.optimize._numdiff.approx_derivative``, the function behind ``approx_fprime``
  and ``minimize(jac="3-point")``;
- PyTorch releases that dropped ``torch.autograd.gradcheck.get_numerical_jacobian`` keep
  only ``_get_numerical_jacobian``, which the adapter falls back to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .checks import TOL_CENTRAL_PEER, TOL_FORWARD_PEER
from .settings import H

__all__ = [
    "Peer",
    "PEERS",
    "PEER_MODULES",
    "MethodPeer",
    "METHOD_PEERS",
    "HESSIAN_PEERS",
    "NO_EQUIVALENT",
]


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
    return _torch_jacobian(f, v0, H)


def _torch_jacobian(f: Callable, v0: NDArray, eps: float) -> Callable[[], Any]:
    """PyTorch's gradcheck finite-difference Jacobian (central differences, step ``eps``) of
    a scalar ``f``, as a flat gradient."""
    import torch

    try:
        from torch.autograd.gradcheck import get_numerical_jacobian as jac
    except ImportError:  # newer releases keep only the private one
        from torch.autograd.gradcheck import _get_numerical_jacobian as jac

    def fn(v: Any) -> Any:
        return torch.tensor(f(v.detach().numpy()), dtype=torch.float64)

    vt = torch.tensor(v0, dtype=torch.float64)
    return lambda: jac(fn, (vt,), eps=eps)[0].numpy().ravel()


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


# -- the differentiation toolkit's peers: each method's equivalents --------------------------
# ``toolkit`` group. Each adapter turns a scalar ``f`` (here a Numba-compiled function, called
# from Python as the peer calls any function) and the point ``x`` into a zero-argument call
# that returns the peer's gradient at ``x``. Steps: the peer's own default where it has one
# (SciPy's relative steps), else the power of eps that fastgrad's h="auto" uses.

_EPS = float(np.finfo(np.float64).eps)


@dataclass(frozen=True)
class MethodPeer:
    """A peer library's equivalent of some of fastgrad's methods: ``methods`` names them."""

    name: str
    module: str
    methods: tuple[str, ...]
    make: Callable[[Callable[[NDArray], float], NDArray], Callable[[], Any]]


def _scipy(method: str) -> Callable[[Callable, NDArray], Callable[[], Any]]:
    def make(f: Callable, x: NDArray) -> Callable[[], Any]:
        from scipy.optimize._numdiff import approx_derivative  # the module docstring says why

        return lambda: approx_derivative(f, x, method=method)

    return make


def _nd_gradient(**kw: Any) -> Callable[[Callable, NDArray], Callable[[], Any]]:
    def make(f: Callable, x: NDArray) -> Callable[[], Any]:
        import numdifftools as nd

        options = dict(kw)
        if "steps" in options:  # a 3-step generator: h, h/2, h/4 (the Richardson stencil)
            options["step"] = nd.MaxStepGenerator(
                base_step=options.pop("steps"), num_steps=3, step_ratio=2
            )
        grad = nd.Gradient(f, **options)
        return lambda: grad(x)

    return make


def _torch_central(f: Callable, x: NDArray) -> Callable[[], Any]:
    return _torch_jacobian(f, x, _EPS ** (1 / 3))


#: Every method's equivalents in the peer libraries, in the order they run.
METHOD_PEERS = (
    MethodPeer(
        "scipy approx_derivative 2-point", "scipy", ("forward", "backward"), _scipy("2-point")
    ),
    MethodPeer("scipy approx_derivative 3-point", "scipy", ("central",), _scipy("3-point")),
    MethodPeer("scipy approx_derivative cs", "scipy", ("complex",), _scipy("cs")),
    MethodPeer(
        "numdifftools Gradient forward",
        "numdifftools",
        ("forward",),
        _nd_gradient(method="forward", step=_EPS ** (1 / 2)),
    ),
    MethodPeer(
        "numdifftools Gradient backward",
        "numdifftools",
        ("backward",),
        _nd_gradient(method="backward", step=_EPS ** (1 / 2)),
    ),
    MethodPeer(
        "numdifftools Gradient central",
        "numdifftools",
        ("central",),
        _nd_gradient(method="central", step=_EPS ** (1 / 3)),
    ),
    MethodPeer(
        "numdifftools Gradient central order 4",
        "numdifftools",
        ("central4",),
        _nd_gradient(method="central", order=4, step=_EPS ** (1 / 5)),
    ),
    MethodPeer(
        "numdifftools Gradient complex",
        "numdifftools",
        ("complex",),
        _nd_gradient(method="complex"),
    ),
    MethodPeer(
        "numdifftools Gradient (Richardson, 3 steps)",
        "numdifftools",
        ("richardson",),
        _nd_gradient(method="central", steps=_EPS ** (1 / 7)),
    ),
    MethodPeer(
        "numdifftools Gradient (Richardson, default steps)",
        "numdifftools",
        ("richardson",),
        _nd_gradient(),
    ),
    MethodPeer("torch gradcheck numerical Jacobian", "torch", ("central",), _torch_central),
)


def _numdifftools_hessian(f: Callable, x: NDArray) -> Callable[[], Any]:
    import numdifftools as nd

    hess = nd.Hessian(f, step=_EPS ** (1 / 4))
    return lambda: hess(x)


#: The Hessian's equivalents: numdifftools' second differences at one step (fastgrad's
#: formula, ``h = eps^(1/4)``). SciPy has no numerical Hessian.
HESSIAN_PEERS = (
    MethodPeer(
        "numdifftools Hessian (one step, eps^(1/4))",
        "numdifftools",
        ("hessian",),
        _numdifftools_hessian,
    ),
)

#: Libraries with numerical differentiation that offer no equivalent to time, and why.
NO_EQUIVALENT = {
    "jax": "jax.test_util.check_grads compares autodiff with finite differences but returns "
    "no numerical gradient",
}

#: The libraries the peers need, once each.
PEER_MODULES = tuple(
    dict.fromkeys([p.module for p in (*PEERS, *METHOD_PEERS, *HESSIAN_PEERS)] + [*NO_EQUIVALENT])
)
