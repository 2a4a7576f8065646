"""Group ``simplenet``: the numerical gradient of the book's 2x3 SimpleNet (section 4.4.2):
the reference, the front door on both backends, and the kernel twin."""

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
    W, X, T = simplenet_example()
    ref_net = reference.SimpleNet(W.copy())
    expected = ref_net.numerical_gradient(X, T)
    ref = rec.add(
        Row(
            "simplenet",
            WORK,
            "numpy (reference)",
            s.timeit(lambda: ref_net.numerical_gradient(X, T)),
            6,
            0.0,
        )
    )
    rows = [ref]
    impls = {
        "numpy (front door)": fastgrad.SimpleNet(W, backend="numpy"),
        "numba (front door)": fastgrad.SimpleNet(W, backend="numba"),
        "numba (kernel twin)": kernels.SimpleNet(W),
    }
    for backend, net in impls.items():
        row = rec.add(Row("simplenet", WORK, backend, None, 6))
        g = net.numerical_gradient(X, T)
        if rec.check(row, max_abs_diff(g, expected), TOL_KERNEL, WORK):
            row.timing = s.timeit(functools.partial(net.numerical_gradient, X, T))
        rows.append(row)
    relate(rows, ref)
