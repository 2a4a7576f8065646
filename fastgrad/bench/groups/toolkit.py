"""Group ``toolkit``: ``numerical_gradient``, ``hessian`` and ``vectorized=True`` against the
peer libraries, on the extended Rosenbrock function compiled with Numba (about a microsecond
an evaluation), as a user's ``f`` would be.

- every method at 1,000 parameters with ``h="auto"``: the numpy backend and every peer's
  equivalent checked against the analytic gradient, relative to ``max(1, |g|)``, the numba
  kernel against the numpy backend; then the kernel's thread scaling (central differences);
- ``hessian`` at 200 parameters against numdifftools' (timed on a 50x50 block and
  extrapolated with ``--quick``), both against the analytic Hessian;
- ``vectorized=True`` against the per-parameter loop, the same function written in NumPy.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from numpy.typing import NDArray

import fastgrad

from ..._differentiate import METHODS
from ..checks import TOL_GENERIC, TOL_HESSIAN, max_rel_error, tolerance_of
from ..peers import HESSIAN_PEERS, METHOD_PEERS
from ..recorder import Recorder, Row, relate
from ..settings import Settings
from ..timing import timed_call
from ..workloads import (
    extended_rosenbrock,
    extended_rosenbrock_gradient,
    extended_rosenbrock_hessian,
    extended_rosenbrock_stack,
    extended_rosenbrock_start,
)
from ._scaling import thread_scaling

GROUP, N, HESSIAN_N, QUICK_HESSIAN_BLOCK = "toolkit", 1_000, 200, 50
GRADIENT_WORK = "gradient, ext. Rosenbrock n=1,000: {}"
HESSIAN_WORK = "Hessian, ext. Rosenbrock n=200"
VECTORIZED_WORK = "gradient, ext. Rosenbrock n=1,000 in NumPy: central"
KERNEL, REFERENCE = "fastgrad (numba)", "fastgrad (numpy)"
LOOP, VECTORIZED = "fastgrad (numpy, per-parameter loop)", "fastgrad (numpy, vectorized=True)"


def run(rec: Recorder, s: Settings) -> None:
    x = extended_rosenbrock_start(N)
    peers = _make_peers(rec, METHOD_PEERS, extended_rosenbrock, x)
    for method in METHODS:
        _gradient(rec, s, method, x, peers)
    grad = functools.partial(fastgrad.numerical_gradient, extended_rosenbrock, x, h="auto")
    row = Row(GROUP, GRADIENT_WORK.format("central"), KERNEL, params=N)
    thread_scaling(rec, s, row, grad, f"numerical_gradient, ext. Rosenbrock n={N:,}")
    _hessian(rec, s)
    x = extended_rosenbrock_start(N)
    loop = Row(GROUP, VECTORIZED_WORK, LOOP, params=N)
    grad = functools.partial(fastgrad.numerical_gradient, extended_rosenbrock_stack, x, h="auto")
    truth = extended_rosenbrock_gradient(x)
    expected = _timed(rec, s, loop, grad, truth, tolerance_of("central"), repeat=3)
    vec = Row(GROUP, VECTORIZED_WORK, VECTORIZED, params=N)
    _timed(rec, s, vec, functools.partial(grad, vectorized=True), expected, TOL_GENERIC)
    relate([loop, vec], loop)


def _make_peers(rec: Recorder, peers: Any, f: Callable, x: NDArray) -> dict[str, Callable]:
    """``{name: call}`` of the peers that can be made; the others are skipped, once each."""
    calls = {}
    for peer in peers:
        try:
            calls[peer.name] = peer.make(f, x.copy())
        except Exception as exc:  # an optional peer must not stop the run
            missing = isinstance(exc, ImportError)
            rec.skip(f"toolkit: {peer.name}: " + ("not installed" if missing else repr(exc)))
    return calls


def _timed(
    rec: Recorder, s: Settings, row: Row, call: Callable, expected: NDArray, tol: float, **kw: Any
) -> Any:
    """Add ``row``; check ``call()`` (its second call: the first compiles, imports, touches
    memory) against ``expected``, relative to ``max(1, |g|)``; then time it."""
    call()
    got, first = timed_call(call)
    rec.check(rec.add(row), max_rel_error(got, expected), tol, lambda: s.timeit(call, first, **kw))
    return got


def _gradient(rec: Recorder, s: Settings, method: str, x: NDArray, peers: dict) -> None:
    work, truth = GRADIENT_WORK.format(method), extended_rosenbrock_gradient(x)
    grad = functools.partial(fastgrad.numerical_gradient, extended_rosenbrock, x, h="auto")
    ref = Row(GROUP, work, REFERENCE, params=N)
    call = functools.partial(grad, method=method, backend="numpy")
    expected = _timed(rec, s, ref, call, truth, tolerance_of(method), repeat=3)
    kernel = Row(GROUP, work, KERNEL, params=N)
    _timed(rec, s, kernel, functools.partial(grad, method=method), expected, TOL_GENERIC)
    rows = [ref, kernel]
    for peer in METHOD_PEERS:
        if method in peer.methods and peer.name in peers:
            rows.append(Row(GROUP, work, peer.name, params=N))
            _timed(rec, s, rows[-1], peers[peer.name], truth, tolerance_of(method), repeat=3)
    relate(rows, ref)


def _hessian(rec: Recorder, s: Settings) -> None:
    x = extended_rosenbrock_start(HESSIAN_N)
    truth = extended_rosenbrock_hessian(x)
    kernel = Row(GROUP, HESSIAN_WORK, KERNEL, params=HESSIAN_N)
    call = functools.partial(fastgrad.hessian, extended_rosenbrock, x)
    _timed(rec, s, kernel, call, truth, TOL_HESSIAN)
    k = QUICK_HESSIAN_BLOCK if s.quick else HESSIAN_N
    block_x = x.copy()

    def block(v: NDArray) -> float:  # f of the first k parameters, the others held at x
        block_x[:k] = v
        return extended_rosenbrock(block_x)

    for name, fn in _make_peers(rec, HESSIAN_PEERS, block, x[:k]).items():
        note = f"timed on the {k}x{k} block, x ({HESSIAN_N}/{k})^2" if k < HESSIAN_N else ""
        row = Row(GROUP, HESSIAN_WORK, name, params=HESSIAN_N, note=note)
        _timed(rec, s, row, fn, truth[:k, :k], TOL_HESSIAN, repeat=3)
        if row.timing is not None and k < HESSIAN_N:
            row.timing = row.timing.scaled((HESSIAN_N / k) ** 2)
