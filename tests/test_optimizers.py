"""The book's optimisers: their updates by hand, and a bit-exact restore of their state."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from fastgrad import optimizers as O


def one_param(w=1.0):
    return {"w": np.array([w, -2.0 * w])}


G = {"w": np.array([0.5, -0.25])}


def test_sgd_and_momentum_by_hand():
    p = one_param()
    O.SGD(lr=0.1).update(p, G)
    assert_allclose(p["w"], [1.0 - 0.05, -2.0 + 0.025])
    p, opt = one_param(), O.Momentum(lr=0.1, momentum=0.9)
    opt.update(p, G)  # v = -0.1 g
    opt.update(p, G)  # v = 0.9 (-0.1 g) - 0.1 g = -0.19 g; w = w0 - 0.29 g
    assert_allclose(p["w"], one_param()["w"] - 0.29 * G["w"], rtol=1e-15)


def test_adagrad_and_rmsprop_by_hand():
    p, opt = one_param(), O.AdaGrad(lr=0.1)
    opt.update(p, G)  # h = g^2, step = 0.1 g / (|g| + 1e-7)
    assert_allclose(p["w"], one_param()["w"] - 0.1 * G["w"] / (np.abs(G["w"]) + 1e-7))
    p, opt = one_param(), O.RMSprop(lr=0.1, decay_rate=0.99)
    opt.update(p, G)  # h = 0.01 g^2
    h = 0.01 * G["w"] ** 2
    assert_allclose(p["w"], one_param()["w"] - 0.1 * G["w"] / (np.sqrt(h) + 1e-7))


def test_adam_by_hand():
    p, opt = one_param(), O.Adam(lr=0.001)
    opt.update(p, G)  # m = 0.1 g, v = 0.001 g^2, lr_t = 0.001 sqrt(0.001) / 0.1
    lr_t = 0.001 * np.sqrt(1 - 0.999) / (1 - 0.9)
    want = one_param()["w"] - lr_t * (0.1 * G["w"]) / (np.sqrt(0.001 * G["w"] ** 2) + 1e-7)
    assert_allclose(p["w"], want, rtol=1e-14)
    assert opt.iter == 1


@pytest.mark.parametrize("name", list(O.OPTIMIZERS))
def test_state_restores_bit_for_bit(name, rng):
    grads = [{"w": rng.normal(size=3), "b": rng.normal(size=2)} for _ in range(6)]
    start = {"w": rng.normal(size=3), "b": rng.normal(size=2)}
    straight = {k: v.copy() for k, v in start.items()}
    opt = O.make(name, lr=0.05)
    for g in grads:
        opt.update(straight, g)
    resumed = {k: v.copy() for k, v in start.items()}
    first = O.make(name, lr=0.05)
    for g in grads[:3]:
        first.update(resumed, g)
    second = O.make(name, lr=0.05)
    second.load_state({k: v.copy() for k, v in first.state().items()})
    for g in grads[3:]:
        second.update(resumed, g)
    for k in start:
        assert_array_equal(resumed[k], straight[k])


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: O.make("lbfgs"), "unknown optimizer 'lbfgs'"),
        (lambda: O.SGD(lr=0), "lr must be finite and > 0"),
        (lambda: O.Momentum(momentum=1.0), r"momentum must lie in \(0, 1\)"),
        (lambda: O.Adam(beta2=1.5), "beta2 must lie"),
        (lambda: O.RMSprop(decay_rate=-0.1), "decay_rate must be finite and > 0"),
    ],
)
def test_bad_hyper_parameters(make, match):
    with pytest.raises(ValueError, match=match):
        make()
