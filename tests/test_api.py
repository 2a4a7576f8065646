"""The front door: backends, validation, and the book's idioms on both backends."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import fastgrad
from fastgrad import reference as R

from .conftest import reference_noise
from .test_reference import BOOK_W

NAMES = ("W1", "b1", "W2", "b2")


def test_version_and_registry():
    assert fastgrad.__version__
    assert set(fastgrad.BACKENDS) == {"numpy", "numba"}


def test_unknown_backend_lists_choices():
    with pytest.raises(ValueError, match="'numpy', 'numba'"):
        fastgrad.TwoLayerNet(3, 2, 2, backend="torch")
    with pytest.raises(ValueError, match="'numpy', 'numba'"):
        fastgrad.SimpleNet(backend="gpu")


def test_same_seed_same_params_on_every_backend():
    a = fastgrad.TwoLayerNet(30, 6, 4, backend="numpy", rng=5)
    b = fastgrad.TwoLayerNet(30, 6, 4, backend="numba", rng=5)
    c = R.TwoLayerNet(30, 6, 4, rng=5)
    for k in NAMES:
        assert_array_equal(a.params[k], b.params[k])
        assert_array_equal(a.params[k], c.params[k])


def test_backends_agree(rng, backend):
    net = fastgrad.TwoLayerNet(20, 6, 4, weight_init_std=0.5, backend=backend, rng=1)
    ref = R.TwoLayerNet(20, 6, 4, weight_init_std=0.5, rng=1)
    x, t = rng.random((9, 20)).astype(np.float32), rng.integers(0, 4, 9)
    tol = reference_noise(ref.loss(x, t), 1e-4)
    got, want = net.numerical_gradient(x, t), ref.numerical_gradient(x, t)
    for k in NAMES:
        assert_allclose(got[k], want[k], rtol=0, atol=tol)
    assert_allclose(net.predict(x), ref.predict(x), rtol=1e-13)
    assert net.loss(x, t) == pytest.approx(ref.loss(x, t), rel=1e-13)
    assert net.accuracy(x, np.eye(4)[t]) == ref.accuracy(x, t)
    g, gr = net.gradient(x, t), ref.gradient(x, t)
    for k in NAMES:
        assert_allclose(g[k], gr[k], rtol=1e-12, atol=1e-16)


def test_params_read_at_call_time(backend, rng):
    net = fastgrad.TwoLayerNet(5, 3, 2, backend=backend, rng=0)
    x, t = rng.random((4, 5)), np.array([0, 1, 1, 0])
    before = net.loss(x, t)
    net.params["W2"] = net.params["W2"] * 50  # assigned, as the book's training loop does
    assert net.loss(x, t) != before
    net.params["b2"] -= 1.0  # updated in place
    grads = net.numerical_gradient(x, t)
    for k in NAMES:
        net.params[k] -= 0.1 * grads[k]
    assert net.loss(x, t) < net.loss(x, t) + 1  # still finite and callable
    assert np.isfinite(net.loss(x, t))


def test_one_dimensional_input_and_batch_of_one(backend, rng):
    net = fastgrad.TwoLayerNet(6, 4, 3, weight_init_std=0.5, backend=backend, rng=0)
    x = rng.random(6)
    single = net.numerical_gradient(x, 2)
    batch = net.numerical_gradient(x[None], [2])
    for k in NAMES:
        assert_allclose(single[k], batch[k], rtol=0, atol=1e-13)
    assert net.predict(x).shape == (3,)
    assert net.predict(x[None]).shape == (1, 3)
    assert net.accuracy(x, [0, 0, 1]) in (0.0, 1.0)


def test_simplenet_front_door(backend):
    net = fastgrad.SimpleNet(W=BOOK_W, backend=backend)
    x, t = np.array([0.6, 0.9]), np.array([0, 0, 1])
    expected = [[0.24237012, 0.17049818, -0.4128683], [0.36355518, 0.25574726, -0.61930245]]
    assert_allclose(net.numerical_gradient(x, t), expected, atol=1e-7)
    assert net.loss(x, 2) == pytest.approx(1.16511738, abs=1e-7)
    W = np.array(BOOK_W)
    net.W = W
    net.numerical_gradient(x, t)
    assert_array_equal(W, BOOK_W)  # the reference perturbs a copy, never the user's array


def test_float32_inputs_read_as_float64(rng):
    net = fastgrad.TwoLayerNet(10, 4, 3, weight_init_std=0.5, rng=0)
    x32 = rng.random((5, 10)).astype(np.float32)
    t = np.array([0, 1, 2, 0, 1])
    g32 = net.numerical_gradient(x32, t)
    g64 = net.numerical_gradient(x32.astype(np.float64), t)
    for k in NAMES:
        assert_array_equal(g32[k], g64[k])


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda n: n.numerical_gradient(np.ones((2, 783)), [0, 1]), ValueError, "784 inputs"),
        (lambda n: n.numerical_gradient(np.ones((2, 784)), [0, 10]), ValueError, "out of range"),
        (lambda n: n.numerical_gradient(np.ones((2, 784)), np.ones((2, 9))), ValueError, "one-hot"),
        (lambda n: n.numerical_gradient(np.ones((0, 784)), []), ValueError, "empty batch"),
        (lambda n: n.numerical_gradient(np.ones((1, 784)), [0], h=0), ValueError, "h must"),
        (lambda n: n.numerical_gradient(np.full((1, 784), np.inf), [0]), ValueError, "NaN or inf"),
        (lambda n: n.gradient(np.ones((1, 784)), ["a"]), TypeError, "labels"),
    ],
)
def test_bad_input_on_every_backend(backend, call, error, match):
    net = fastgrad.TwoLayerNet(784, 5, 10, backend=backend, rng=0)
    with pytest.raises(error, match=match):
        call(net)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda p: p.update(W1=np.ones((784, 6))), "b1 has shape"),
        (lambda p: p.update(W2=np.full((5, 10), np.nan)), "W2 contains NaN"),
        (lambda p: p.pop("b2"), "keys"),
        (lambda p: p.update(W1=np.ones(3)), "2-D"),
    ],
)
def test_bad_params(backend, change, match):
    net = fastgrad.TwoLayerNet(784, 5, 10, backend=backend, rng=0)
    change(net.params)
    with pytest.raises(ValueError, match=match):
        net.loss(np.ones((1, 784)), [0])
