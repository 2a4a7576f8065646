"""Activation and loss functions: the NumPy reference against the Numba twins.

One group per function and batch size, so each table compares the two backends on the
same logits.
"""

from __future__ import annotations

import numpy as np
import pytest

from fastgrad import kernels, reference
from fastgrad.bench.checks import TOL_FUNCTIONS

BACKENDS = {"numpy": reference, "numba": kernels}
BATCHES = [1, 100, 10_000]


def _inputs(name: str, batch: int):
    rng = np.random.default_rng(batch)
    logits = 3.0 * rng.standard_normal((batch, 10))
    labels = rng.integers(0, 10, batch)
    if name == "cross_entropy_error":
        return reference.softmax(logits), labels
    if name == "softmax":
        return (logits,)
    return logits, labels


@pytest.mark.parametrize("batch", BATCHES, ids=lambda b: f"batch{b}")
@pytest.mark.parametrize("name", ["softmax", "cross_entropy_error", "softmax_loss"])
@pytest.mark.parametrize("backend", list(BACKENDS))
def test_function(benchmark, blas1, backend, name, batch):
    benchmark.group = f"functions: {name}, batch {batch:,}"
    args = _inputs(name, batch)
    fn = getattr(BACKENDS[backend], name)
    expected = np.asarray(getattr(reference, name)(*args))
    got = np.asarray(fn(*args))  # also compiles
    assert np.max(np.abs(got - expected)) <= TOL_FUNCTIONS
    benchmark(fn, *args)
