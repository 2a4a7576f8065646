"""Group ``functions``: softmax, cross_entropy_error and softmax_loss, the reference against
the kernel twins, at batch 1, 100 and 10,000."""

from __future__ import annotations

import functools

import numpy as np

from ... import kernels, reference
from ..checks import TOL_FUNCTIONS, max_abs_diff
from ..recorder import Recorder, Row, relate
from ..settings import Settings


def run(rec: Recorder, s: Settings) -> None:
    rng = s.rng(1)
    for batch in (1, 100, 10_000):
        logits = 3.0 * rng.standard_normal((batch, 10))
        labels = rng.integers(0, 10, batch)
        probs = reference.softmax(logits)
        calls = {
            "softmax": (lambda m, z=logits: m.softmax(z)),
            "cross_entropy_error": (lambda m, p=probs, t=labels: m.cross_entropy_error(p, t)),
            "softmax_loss": (lambda m, z=logits, t=labels: m.softmax_loss(z, t)),
        }
        for name, call in calls.items():
            work = f"{name} batch {batch:,}"
            expected = np.asarray(call(reference))
            ref = rec.add(
                Row(
                    "functions",
                    work,
                    "numpy (reference)",
                    s.timeit(functools.partial(call, reference)),
                )
            )
            with s.blas1():
                got = np.asarray(call(kernels))
                row = rec.add(Row("functions", work, "numba", None))
                if rec.check(row, max_abs_diff(got, expected), TOL_FUNCTIONS, work):
                    row.timing = s.timeit(functools.partial(call, kernels))
            ref.max_abs_diff = 0.0
            relate([ref, row], ref)
