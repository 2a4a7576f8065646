"""Group ``peers``: SciPy, numdifftools and PyTorch (:mod:`fastgrad.bench.peers`) on the
TwoLayerNet loss as a function of the flat parameter vector, 784-50-10 b100 dense. Every peer
and the reference are timed on the same sample of parameters and extrapolated; the kernel's
full gradient is the yardstick (the twolayer group's figure when that group ran)."""

from __future__ import annotations

import functools

import numpy as np

from ..checks import max_abs_diff
from ..peers import PEERS
from ..recorder import Recorder, Row, relate
from ..settings import Settings
from ..subset import reference_subset
from ..timing import timed_call
from ..workloads import FlatLoss, two_layer_case
from .twolayer import KERNEL, REFERENCE


def run(rec: Recorder, s: Settings) -> None:
    case = two_layer_case(784, 50, 10, 100, "dense", s.seed)
    P = case.n_params
    work = case.label
    k = max(10, s.subset // 4) if s.quick else min(100, s.subset)
    picks = np.sort(s.rng(10).choice(P, size=k, replace=False))
    flat = FlatLoss(case, picks)
    loss, arrays = flat.sub_arrays()
    sub = reference_subset(loss, arrays, k, s.rng(11))
    sub.total = P  # the k picked parameters stand for all P
    expected = sub.values
    v0 = flat.theta0[picks].copy()
    ref = rec.add(Row("peers", work, REFERENCE, sub.estimate(), P, 0.0, note=sub.label))
    measured = rec.find("twolayer", work, KERNEL)
    if measured is not None and measured.timing is not None:
        kernel = measured.timing
    else:
        net = case.net("numba")
        net.numerical_gradient(case.x, case.t)
        kernel = s.timeit(functools.partial(net.numerical_gradient, case.x, case.t))
    nb = rec.add(Row("peers", work, KERNEL, kernel, P, note="as in twolayer"))
    peer_rows = []
    for peer in PEERS:
        try:
            fn = peer.make(flat.sub, v0)
        except ImportError:
            rec.skip(f"{peer.module} not installed")
            continue
        except Exception as exc:  # noqa: BLE001 - an optional peer must not stop the run
            rec.skip(f"{peer.name}: {type(exc).__name__}: {exc}")
            continue
        row = rec.add(Row("peers", work, peer.name, None, P))
        got, t_first = timed_call(fn)
        if rec.check(row, max_abs_diff(np.ravel(got), expected), peer.tol, work):
            row.timing = s.timeit(fn, t_first, repeat=3).scaled(P / k)
            row.note = f"extrapolated from {k:,} of {P:,} params"
        peer_rows.append(row)
    relate([ref, nb, *peer_rows], ref)
    for r in (ref, *(r for r in peer_rows if r.timing is not None)):
        rec.project(f"{work}: {r.backend}", r.timing)
