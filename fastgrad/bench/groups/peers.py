"""Group ``peers``: SciPy and numdifftools (:data:`~fastgrad.bench.peers.PEERS`) on the
TwoLayerNet loss as a function of the flat parameter vector, 784-50-10 b100 dense, at the
book's step. The reference and every peer are timed on the same sample of parameters and
extrapolated; the numba kernel's full gradient (the ``twolayer`` group's row when that group
ran) is the yardstick. A peer that is not installed is skipped."""

from __future__ import annotations

import functools

import numpy as np

from ..checks import TOL_KERNEL, max_abs_diff
from ..peers import PEERS
from ..recorder import Recorder, Row, relate
from ..settings import Settings
from ..subset import reference_subset
from ..timing import timed_call
from ..workloads import FlatLoss, two_layer_case
from .twolayer import KERNEL, REFERENCE


def run(rec: Recorder, s: Settings) -> None:
    case = two_layer_case(784, 50, 10, 100, "dense", s.seed)
    P, work = case.n_params, case.label
    k = max(10, s.subset // 4) if s.quick else min(100, s.subset)
    flat = FlatLoss(case, np.sort(s.rng(10).choice(P, size=k, replace=False)))
    sub = reference_subset(*flat.sub_arrays(), k, s.rng(11))
    sub.total = P  # the k picked parameters stand for all P
    ref = rec.add(Row("peers", work, REFERENCE, sub.estimate(), P, 0.0, note=sub.label))
    kernel = rec.add(Row("peers", work, KERNEL, params=P))
    measured = rec.find("twolayer", work, KERNEL)
    if measured is not None and measured.timing is not None:
        kernel.timing, kernel.note = measured.timing, "as in the twolayer group"
    else:
        net = case.net("numba")
        call = functools.partial(net.numerical_gradient, case.x, case.t)
        diff = max_abs_diff(FlatLoss.flatten(call())[flat.picks], sub.values)
        rec.check(kernel, diff, TOL_KERNEL, lambda: s.timeit(call))
    rows = [ref, kernel]
    for peer in PEERS:
        try:
            fn = peer.make(flat.sub, flat.theta0[flat.picks].copy())
        except Exception as exc:  # an optional peer must not stop the run
            missing = isinstance(exc, ImportError)
            rec.skip(f"{peer.module} not installed" if missing else f"{peer.name}: {exc!r}")
            continue
        row = rec.add(Row("peers", work, peer.name, params=P))
        got, first = timed_call(fn)
        if rec.check(row, max_abs_diff(np.ravel(got), sub.values), peer.tol):
            row.timing, row.note = s.timeit(fn, first, repeat=3).scaled(P / k), sub.label
        rows.append(row)
    relate(rows, ref)
