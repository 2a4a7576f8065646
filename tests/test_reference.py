"""The oracle pinned to the truth: analytic derivatives, the book's worked numbers, backprop."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from fastgrad import reference as R

from .conftest import EPS

# -- analytic derivatives -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("point", "expected"),
    [((3.0, 4.0), (6.0, 8.0)), ((0.0, 2.0), (0.0, 4.0)), ((3.0, 0.0), (6.0, 0.0))],
)
def test_numerical_gradient_of_sum_of_squares(point, expected):
    # central differences are exact for quadratics up to rounding: (2xh) / 2h
    grad = R.numerical_gradient(lambda x: x[0] ** 2 + x[1] ** 2, np.array(point))
    assert_allclose(grad, expected, atol=1e-7)


@pytest.mark.parametrize(("x", "expected"), [(5.0, 0.2), (10.0, 0.3)])
def test_numerical_diff_of_the_book_function(x, expected):
    assert abs(R.numerical_diff(lambda x: 0.01 * x**2 + 0.1 * x, x) - expected) < 1e-9


def test_numerical_gradient_any_shape_matches_analytic(rng):
    x = rng.normal(size=(3, 4, 2))
    a = rng.normal(size=x.shape)
    # f = sum(a * x^3) has gradient 3 a x^2; the central difference adds a h^2 a term:
    # (f(x+h) - f(x-h)) / 2h = 3 a x^2 + a h^2 exactly in real arithmetic
    grad = R.numerical_gradient(lambda v: np.sum(a * v**3), x)
    assert_allclose(grad, 3 * a * x**2 + a * 1e-8, atol=1e-9)


def test_gradient_descent_reaches_the_book_point():
    x, history = R.gradient_descent(
        lambda x: x[0] ** 2 + x[1] ** 2, np.array([-3.0, 4.0]), lr=0.1, step_num=100
    )
    # the book prints array([-6.11110793e-10,  8.14814391e-10])
    assert_allclose(x, [-6.11110793e-10, 8.14814391e-10], rtol=1e-8)
    assert history.shape == (100, 2)
    assert_array_equal(history[0], [-3.0, 4.0])


def test_gradient_descent_leaves_init_x_alone():
    init = np.array([-3.0, 4.0])
    R.gradient_descent(lambda x: x[0] ** 2 + x[1] ** 2, init)
    assert_array_equal(init, [-3.0, 4.0])


# -- the chapter's worked example (section 4.4.2) -----------------------------------------

BOOK_W = [[0.81712406, 0.99336792, 0.80548288], [0.74296342, 0.23464375, 0.46333048]]


def test_simplenet_worked_example():
    net = R.SimpleNet(W=BOOK_W)
    x = np.array([0.6, 0.9])
    t = np.array([0, 0, 1])
    assert_allclose(net.predict(x), [1.15894151, 0.80720013, 0.90028716], atol=1e-8)
    assert abs(net.loss(x, t) - 1.16511738) < 1e-7
    dW = R.numerical_gradient(lambda w: net.loss(x, t), net.W)
    expected = [[0.24237012, 0.17049818, -0.4128683], [0.36355518, 0.25574726, -0.61930245]]
    assert_allclose(dW, expected, atol=1e-7)
    assert_array_equal(net.numerical_gradient(x, t), dW)
    assert_array_equal(net.numerical_gradient(x, 2), dW)  # label target


def test_simplenet_copies_w():
    W = np.array(BOOK_W)
    net = R.SimpleNet(W=W)
    net.numerical_gradient(np.array([0.6, 0.9]), 2)
    assert net.W is not W


# -- numerical_gradient leaves x alone ----------------------------------------------------


def test_x_restored_bit_for_bit(rng):
    x = rng.normal(size=(4, 5))
    before = x.copy()
    R.numerical_gradient(lambda v: float(np.sum(np.sin(v))), x)
    assert_array_equal(x, before)


def test_x_restored_when_f_raises(rng):
    x = rng.normal(size=(3, 3))
    before = x.copy()
    calls = []

    def f(v):
        calls.append(1)
        if len(calls) == 4:
            raise RuntimeError("boom")
        return float(np.sum(v))

    with pytest.raises(RuntimeError, match="boom"):
        R.numerical_gradient(f, x)
    assert_array_equal(x, before)


# -- TwoLayerNet: numerical against backprop ----------------------------------------------


def eps_aware_gradient(net: R.TwoLayerNet, x, t):
    """The analytic gradient of the book's loss *with* its ``+ 1e-7``:
    d/da_k [-log(p_t + eps)] = q (s_k - [k == t]), q = p_t / (p_t + eps)."""
    x = np.atleast_2d(x)
    t = np.atleast_1d(t)
    p = net.params
    a1 = x @ p["W1"] + p["b1"]
    z1 = 1 / (1 + np.exp(-a1))
    y = R.softmax(z1 @ p["W2"] + p["b2"])
    n = np.arange(x.shape[0])
    q = y[n, t] / (y[n, t] + 1e-7)
    dy = y.copy()
    dy[n, t] -= 1
    dy *= q[:, None] / x.shape[0]
    dz = (dy @ p["W2"].T) * z1 * (1 - z1)
    return {"W1": x.T @ dz, "b1": dz.sum(0), "W2": z1.T @ dy, "b2": dy.sum(0)}


# Tolerance of numerical vs analytic: the central difference differs from the derivative by
# h^2/6 f''' (f''' <= ~1 for inputs in [0, 1] and these small nets: < 2e-9) plus the
# reference's rounding (~1e-12); 1e-8 covers both with margin.
NUMGRAD_VS_ANALYTIC_ATOL = 1e-8


@pytest.mark.parametrize("one_hot", [False, True])
@pytest.mark.parametrize(
    ("n_in", "hidden", "n_out", "batch"), [(5, 4, 3, 7), (8, 6, 4, 1), (3, 2, 2, 20)]
)
def test_two_layer_numerical_matches_backprop(rng, n_in, hidden, n_out, batch, one_hot):
    net = R.TwoLayerNet(n_in, hidden, n_out, weight_init_std=0.5, rng=rng)
    x = rng.random((batch, n_in))
    labels = rng.integers(0, n_out, batch)
    t = np.eye(n_out)[labels] if one_hot else labels
    num = net.numerical_gradient(x, t)
    exact = eps_aware_gradient(net, x, labels)
    book = net.gradient(x, t)
    for k in R.nets.PARAM_NAMES:
        assert_allclose(num[k], exact[k], atol=NUMGRAD_VS_ANALYTIC_ATOL)
        # the book's backprop drops the 1e-7: a relative 1e-7 / p_t difference (p_t > 0.01)
        assert_allclose(book[k], exact[k], rtol=1e-5, atol=1e-12)


def test_two_layer_one_dimensional_input(rng):
    net = R.TwoLayerNet(6, 4, 3, weight_init_std=0.5, rng=rng)
    x = rng.random(6)
    num = net.numerical_gradient(x, 2)
    batch = net.numerical_gradient(x[None, :], np.array([2]))
    for k in num:
        assert_array_equal(num[k], batch[k])
    assert net.predict(x).shape == (3,)
    assert net.accuracy(x, 2) in (0.0, 1.0)
    exact = eps_aware_gradient(net, x, 2)
    for k in num:
        assert_allclose(num[k], exact[k], atol=NUMGRAD_VS_ANALYTIC_ATOL)


def test_two_layer_params_restored(rng):
    net = R.TwoLayerNet(5, 4, 3, rng=rng)
    before = {k: v.copy() for k, v in net.params.items()}
    net.numerical_gradient(rng.random((3, 5)), [0, 1, 2])
    for k in before:
        assert_array_equal(net.params[k], before[k])


def test_two_layer_seeded_initialisation():
    a = R.TwoLayerNet(784, 50, 10, rng=3)
    b = R.TwoLayerNet(784, 50, 10, rng=np.random.default_rng(3))
    for k in a.params:
        assert_array_equal(a.params[k], b.params[k])
        assert a.params[k].dtype == np.float64
    assert not np.array_equal(a.params["W1"], R.TwoLayerNet(784, 50, 10, rng=4).params["W1"])


def test_accuracy_labels_and_one_hot(rng):
    net = R.TwoLayerNet(4, 3, 3, weight_init_std=1.0, rng=rng)
    x = rng.random((30, 4))
    pred = net.predict(x).argmax(1)
    t = pred.copy()
    t[:10] = (t[:10] + 1) % 3
    assert net.accuracy(x, t) == pytest.approx(20 / 30)
    assert net.accuracy(x, np.eye(3)[t]) == pytest.approx(20 / 30)


# -- the functions -----------------------------------------------------------------------


def test_softmax_is_overflow_safe_and_any_rank(rng):
    x = rng.normal(size=(2, 3, 4)) * 1000
    y = R.softmax(x)
    assert np.all(np.isfinite(y))
    assert_allclose(y.sum(-1), 1.0, rtol=4 * EPS)
    assert_allclose(R.softmax(x[0, 0]), y[0, 0])


def test_cross_entropy_batch_one_hot_and_labels(rng):
    y = R.softmax(rng.normal(size=(5, 4)))
    t = rng.integers(0, 4, 5)
    expected = -np.mean(np.log(y[np.arange(5), t] + 1e-7))
    assert R.cross_entropy_error(y, t) == pytest.approx(expected, rel=1e-15)
    assert R.cross_entropy_error(y, np.eye(4)[t]) == R.cross_entropy_error(y, t)


def test_relu_step_sigmoid():
    x = np.array([-2.0, 0.0, 3.0])
    assert_array_equal(R.relu(x), [0, 0, 3])
    assert_array_equal(R.relu_grad(x), [0, 1, 1])
    assert_array_equal(R.step_function(x), [0, 0, 1])
    assert R.sigmoid(0.0) == 0.5
    assert R.sigmoid_grad(0.0) == 0.25
    assert R.sum_squared_error(np.array([1.0, 2.0]), np.array([0.0, 0.0])) == 2.5


# -- bad input ---------------------------------------------------------------------------


def test_reference_hot_path_is_the_books_code(rng):
    # validation belongs to the front door: a loss call of the reference's numerical gradient
    # runs the book's functions and nothing else, so that its timings are the book's cost
    net = R.TwoLayerNet(6, 4, 3, rng=0)
    x, t = rng.random((5, 6)), np.array([0, 1, 2, 0, 1])
    called = set()

    def record(frame, event, arg):
        if event == "call" and os.sep + "fastgrad" + os.sep in frame.f_code.co_filename:
            called.add(frame.f_code.co_name)

    sys.setprofile(record)
    try:
        net.loss(x, t)
    finally:
        sys.setprofile(None)
    assert called == {"loss", "predict", "sigmoid", "softmax", "cross_entropy_error"}


@pytest.mark.parametrize(
    ("args", "error"),
    [((0, 5, 10), ValueError), ((784, -1, 10), ValueError), ((784.5, 5, 10), TypeError)],
)
def test_two_layer_bad_sizes(args, error):
    with pytest.raises(error):
        R.TwoLayerNet(*args)


def test_simplenet_bad_w():
    with pytest.raises(ValueError, match=r"W has shape \(3, 3\)"):
        R.SimpleNet(W=np.ones((3, 3)))
