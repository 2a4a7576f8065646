"""Group ``simplenet``: the numerical gradient of the book's 2x3 SimpleNet (section 4.4.2):
the reference, ``fastgrad.SimpleNet`` on both backends, and the kernel class."""

from __future__ import annotations

import functools

import fastgrad

from ... import kernels, reference
from ..checks import TOL_KERNEL, max_abs_diff
from ..recorder import Recorder, Row, relate
from ..settings import Settings
from ..workloads import simplenet_example

WORK = "SimpleNet 2x3 (the book's example)"


def run(rec: Recorder, s: Settings) -> None:
    W, x, t = simplenet_example()
    ref_net = reference.SimpleNet(W.copy())
    expected = ref_net.numerical_gradient(x, t)
    ref = rec.add(Row("simplenet", WORK, "numpy (reference)", params=6, max_abs_diff=0.0))
    ref.timing = s.timeit(functools.partial(ref_net.numerical_gradient, x, t))
    nets = {
        "numpy (fastgrad.SimpleNet)": fastgrad.SimpleNet(W, backend="numpy"),
        "numba (fastgrad.SimpleNet)": fastgrad.SimpleNet(W, backend="numba"),
        "numba (fastgrad.kernels.SimpleNet)": kernels.SimpleNet(W),
    }
    rows = [ref]
    for backend, net in nets.items():
        call = functools.partial(net.numerical_gradient, x, t)
        rows.append(rec.add(Row("simplenet", WORK, backend, params=6)))
        rec.check(rows[-1], max_abs_diff(call(), expected), TOL_KERNEL, lambda c=call: s.timeit(c))
    relate(rows, ref)
