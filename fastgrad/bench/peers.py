"""Peer libraries that compute numerical gradients, as adapters: a :class:`Peer` turns a
scalar ``f`` and a point ``x`` into a call that returns the peer's gradient at ``x``, and
imports its library then (``ImportError``: not installed, the peer is skipped).
:data:`PEERS` use the book's step :data:`H`; :data:`METHOD_PEERS` and :data:`HESSIAN_PEERS`
are each library's equivalent of fastgrad's methods, at the peer's default step or else the
power of eps that ``h="auto"`` uses. SciPy has no public fixed-step central difference, so
the adapters call ``scipy.optimize._numdiff.approx_derivative``, the function behind
``approx_fprime`` and ``minimize(jac="3-point")``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .checks import TOL_CENTRAL_PEER, TOL_FORWARD_PEER
from .settings import H

__all__ = ["Peer", "PEERS", "METHOD_PEERS", "HESSIAN_PEERS", "PEER_MODULES"]

Make = Callable[[Callable[[NDArray], float], NDArray], Callable[[], Any]]
_EPS = float(np.finfo(np.float64).eps)


@dataclass(frozen=True)
class Peer:
    """A row name, the module it needs, the adapter; the fastgrad methods it is the
    equivalent of (toolkit) or the tolerance of its check at the book's step (peers)."""

    name: str
    module: str
    make: Make
    methods: tuple[str, ...] = ()
    tol: float = TOL_CENTRAL_PEER


def _approx_fprime(f: Callable, x: NDArray) -> Callable[[], Any]:
    from scipy.optimize import approx_fprime

    return lambda: approx_fprime(x, f, H)


def _scipy(method: str, **kw: Any) -> Make:
    def make(f: Callable, x: NDArray) -> Callable[[], Any]:
        from scipy.optimize._numdiff import approx_derivative  # the module docstring says why

        return lambda: approx_derivative(f, x, method=method, **kw)

    return make


def _numdifftools(kind: str = "Gradient", steps: float | None = None, **kw: Any) -> Make:
    """``nd.Gradient(f, **kw)`` or ``nd.Hessian``; ``steps``: the three steps h, h/2, h/4
    from ``h = steps`` (Richardson)."""

    def make(f: Callable, x: NDArray) -> Callable[[], Any]:
        import numdifftools as nd

        options = dict(kw)
        if steps is not None:
            options["step"] = nd.MaxStepGenerator(base_step=steps, num_steps=3, step_ratio=2)
        derivative = getattr(nd, kind)(f, **options)
        return lambda: derivative(x)

    return make


_ND, _GRADIENT = "numdifftools", "numdifftools Gradient"
_H2, _H3, _H5, _H7 = (_EPS ** (1 / p) for p in (2, 3, 5, 7))

#: The peers at the book's step, in the order they run.
PEERS = (
    Peer("scipy approx_fprime (forward)", "scipy", _approx_fprime, tol=TOL_FORWARD_PEER),
    Peer("scipy approx_derivative 3-point", "scipy", _scipy("3-point", abs_step=H)),
    Peer(f"{_GRADIENT} central", _ND, _numdifftools(method="central", step=H)),
)

#: Every method's equivalents, in the order they run.
METHOD_PEERS = (
    Peer("scipy approx_derivative 2-point", "scipy", _scipy("2-point"), ("forward", "backward")),
    Peer("scipy approx_derivative 3-point", "scipy", _scipy("3-point"), ("central",)),
    Peer("scipy approx_derivative cs", "scipy", _scipy("cs"), ("complex",)),
    Peer(f"{_GRADIENT} forward", _ND, _numdifftools(method="forward", step=_H2), ("forward",)),
    Peer(f"{_GRADIENT} backward", _ND, _numdifftools(method="backward", step=_H2), ("backward",)),
    Peer(f"{_GRADIENT} central", _ND, _numdifftools(method="central", step=_H3), ("central",)),
    Peer(f"{_GRADIENT} central order 4", _ND, _numdifftools(order=4, step=_H5), ("central4",)),
    Peer(f"{_GRADIENT} complex", _ND, _numdifftools(method="complex"), ("complex",)),
    Peer(f"{_GRADIENT} (Richardson, 3 steps)", _ND, _numdifftools(steps=_H7), ("richardson",)),
    Peer(f"{_GRADIENT} (default steps)", _ND, _numdifftools(), ("richardson",)),
)

#: numdifftools' second differences at one step, fastgrad's formula (SciPy has no Hessian).
HESSIAN_PEERS = (
    Peer(
        "numdifftools Hessian (one step, eps^(1/4))", _ND, _numdifftools("Hessian", step=_EPS**0.25)
    ),
)

#: The libraries the peers need, once each.
PEER_MODULES = tuple(dict.fromkeys(p.module for p in (*PEERS, *METHOD_PEERS, *HESSIAN_PEERS)))
