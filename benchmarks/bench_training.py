"""One training iteration of the book's loop (sample a batch, gradient, update), per backend
and gradient mode, on the MNIST sample that ships with fastgrad.

The reference numerical gradient is not run here (tens of seconds per iteration); its
iteration time is the twolayer group's extrapolated gradient time plus the rest.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import fastgrad
from fastgrad.bench.checks import TOL_ANALYTIC, TOL_KERNEL
from fastgrad.bench.workloads import mnist_images, two_layer_case
from fastgrad.reference.nets import PARAM_NAMES

MODES = {
    "numba-numgrad": ("numba", "numerical_gradient", TOL_KERNEL),
    "numba-analytic": ("numba", "gradient", TOL_ANALYTIC),
    "numpy-analytic": ("numpy", "gradient", TOL_ANALYTIC),
}


def _data():
    x_train, t_train, _ = mnist_images(4000, np.random.default_rng(0))
    return x_train, t_train


@pytest.mark.parametrize("mode", list(MODES))
def test_training_iteration(benchmark, mode):
    benchmark.group = "training: one iteration, 784-50-10 batch 100"
    backend, method, tol = MODES[mode]
    x_train, t_train = _data()
    net = fastgrad.TwoLayerNet(784, 50, 10, backend=backend, rng=0)
    rng = np.random.default_rng(0)
    mask = rng.choice(x_train.shape[0], 100)
    case = dataclasses.replace(
        two_layer_case(), x=x_train[mask], t=t_train[mask], params=net.params
    )
    sub = case.reference_subset(20, np.random.default_rng(1))
    assert sub.max_abs_diff(getattr(net, method)(case.x, case.t)) <= tol

    def iteration():
        batch_mask = rng.choice(x_train.shape[0], 100)
        grads = getattr(net, method)(x_train[batch_mask], t_train[batch_mask])
        for key in PARAM_NAMES:
            net.params[key] -= 0.1 * grads[key]

    benchmark(iteration)
