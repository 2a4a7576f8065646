"""MultiLayerNet: the reference against the book's layers and analytic derivatives, the
structure-aware kernel against the reference, the front door and gradient_check."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

import fastgrad
from fastgrad import kernels as K
from fastgrad import reference as R
from fastgrad.kernels import multilayer as KM
from fastgrad.kernels import powersums as KP
from fastgrad.kernels import rowloss as KR
from fastgrad.kernels import series as S
from fastgrad.kernels import unitseries as KU
from fastgrad.reference.functions import cross_entropy_error, sigmoid, softmax
from fastgrad.reference.gradient import central_difference

from .conftest import THREAD_COUNTS, forward_magnitude, reference_noise, softmax_rows

# -- the book's layer classes (common/layers.py), written out as the book has them ---------


class Affine:
    def __init__(self, W, b):
        self.W, self.b = W, b

    def forward(self, x):
        self.original_x_shape = x.shape
        x = x.reshape(x.shape[0], -1)
        self.x = x
        return np.dot(self.x, self.W) + self.b

    def backward(self, dout):
        dx = np.dot(dout, self.W.T)
        self.dW = np.dot(self.x.T, dout)
        self.db = np.sum(dout, axis=0)
        return dx.reshape(*self.original_x_shape)


class Relu:
    def forward(self, x):
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout):
        dout[self.mask] = 0
        return dout


class Sigmoid:
    def forward(self, x):
        self.out = sigmoid(x)
        return self.out

    def backward(self, dout):
        return dout * (1.0 - self.out) * self.out


class SoftmaxWithLoss:
    def forward(self, x, t):
        self.t = t
        self.y = softmax(x)
        self.loss = cross_entropy_error(self.y, self.t)
        return self.loss

    def backward(self, dout=1):
        batch_size = self.t.shape[0]
        if self.t.size == self.y.size:
            return (self.y - self.t) / batch_size
        dx = self.y.copy()
        dx[np.arange(batch_size), self.t] -= 1
        return dx / batch_size


class BookMultiLayerNet:
    """The book's ``common/multi_layer_net.py`` on given parameters: a chain of layers."""

    def __init__(self, params, activation, weight_decay_lambda):
        self.params = params
        self.n = len(params) // 2
        self.lam = weight_decay_lambda
        act = {"relu": Relu, "sigmoid": Sigmoid}[activation]
        self.layers = []
        for idx in range(1, self.n):
            self.layers += [Affine(params[f"W{idx}"], params[f"b{idx}"]), act()]
        self.layers.append(Affine(params[f"W{self.n}"], params[f"b{self.n}"]))
        self.last_layer = SoftmaxWithLoss()

    def predict(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def loss(self, x, t):
        y = self.predict(x)
        weight_decay = 0
        for idx in range(1, self.n + 1):
            W = self.params["W" + str(idx)]
            weight_decay += 0.5 * self.lam * np.sum(W**2)
        return self.last_layer.forward(y, t) + weight_decay

    def gradient(self, x, t):
        self.loss(x, t)
        dout = self.last_layer.backward(1)
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        grads = {}
        for idx in range(1, self.n + 1):
            affine = self.layers[2 * (idx - 1)]
            grads[f"W{idx}"] = affine.dW + self.lam * affine.W
            grads[f"b{idx}"] = affine.db
        return grads


# -- problems and oracles -------------------------------------------------------------------


def make_problem(rng, n_in, hidden, n_out, batch, *, activation="relu", std=0.5, lam=0.0,
                 zeros=0.0, x_scale=1.0):  # fmt: skip
    net = R.MultiLayerNet(n_in, hidden, n_out, activation, std, lam, rng=rng)
    for k in net.params:  # non-zero biases: no accidental symmetry
        if k.startswith("b"):
            net.params[k] = 0.1 * rng.standard_normal(net.params[k].shape)
    x = x_scale * rng.random((batch, n_in))
    x[rng.random(x.shape) < zeros] = 0.0
    t = rng.integers(0, n_out, batch)
    return net, x, t


def put_on_kinks(net, x, rng, h):
    """Shift the biases, layer by layer, so that in every hidden layer each unit has a row
    whose pre-activation lies within ``h/2`` of zero: nudges there cross the ReLU's kink."""
    for li in range(1, net.hidden_layer_num + 1):
        with np.errstate(over="ignore"):
            _, inputs, _ = net._forward(x)
        a = inputs[li - 1] @ net.params[f"W{li}"] + net.params[f"b{li}"]
        units = np.arange(a.shape[1])
        rows = rng.integers(0, a.shape[0], a.shape[1])
        net.params[f"b{li}"] -= a[rows, units] - rng.uniform(-0.5, 0.5, a.shape[1]) * h


def eps_aware_gradient(net, x, t, eps=1e-7):
    """The analytic gradient of the book's loss *with* its ``+ 1e-7`` and the weight decay:
    ``d/da_k [-log(p_t + eps)] = q (s_k - [k == t])``, ``q = p_t / (p_t + eps)``; the ReLU's
    derivative is taken where no pre-activation is 0 (the tests check that none is)."""
    x, t = np.atleast_2d(x), np.atleast_1d(t)
    p, L = net.params, net.hidden_layer_num
    zs, acts = [x], []
    for li in range(1, L + 1):
        a = zs[-1] @ p[f"W{li}"] + p[f"b{li}"]
        acts.append(a)
        zs.append(np.maximum(a, 0) if net.activation == "relu" else 1 / (1 + np.exp(-a)))
    y = softmax(zs[-1] @ p[f"W{L + 1}"] + p[f"b{L + 1}"])
    n = np.arange(x.shape[0])
    q = y[n, t] / (y[n, t] + eps)
    d = y.copy()
    d[n, t] -= 1
    d *= q[:, None] / x.shape[0]
    grads = {}
    for li in range(L + 1, 0, -1):
        grads[f"W{li}"] = zs[li - 1].T @ d + net.weight_decay_lambda * p[f"W{li}"]
        grads[f"b{li}"] = d.sum(0)
        if li > 1:
            d = d @ p[f"W{li}"].T
            a = acts[li - 2]
            d = d * (a > 0) if net.activation == "relu" else d * zs[li - 1] * (1 - zs[li - 1])
    return grads


def names(net):
    return list(net.params)


def pick_params(rng, params, n):
    picks = []
    for name, value in params.items():
        for _ in range(n):
            picks.append((name, tuple(int(rng.integers(0, s)) for s in value.shape)))
    return picks


def reference_central_difference(net, x, t, h, picks):
    """The reference's number for the chosen parameters, element by element as
    ``reference.numerical_gradient`` computes it (``central_difference``), so each value is
    bitwise what the full reference gives (checked in ``test_partial_reference``)."""
    loss = lambda w: net.loss(x, t)  # noqa: E731 - the book's idiom
    return np.array([central_difference(loss, net.params[k], idx, h) for k, idx in picks])


def twin(net):
    return K.MultiLayerNet.from_params(net.params, net.activation, net.weight_decay_lambda)


def path_counts(net, x, t, h, exact=False):
    """How many non-zero nudges of hidden-layer parameters take the series path and how many
    are evaluated exactly, by the kernel's own decision (``kernels.multilayer.nudge_limits``),
    and whether the output layer takes the series path."""
    taus, logits = KM.nudge_limits(net.params, x, t, h, net.activation, exact=exact)
    with np.errstate(over="ignore"):  # saturated sigmoids: the book's exp(-a) overflows
        _, inputs, _ = net._forward(np.atleast_2d(x))
    fast = slow = 0
    for li, tau in taus.items():
        z = np.concatenate([inputs[li - 1], np.ones((tau.shape[0], 1))], axis=1)  # + bias
        y = (h * np.abs(z))[:, :, None]
        moved = y != 0
        series = moved & (y < tau[:, None, :])
        fast += int(series.sum())
        slow += int((moved & ~series).sum())
    return fast, slow, logits


# -- the reference: the book's layers, bit for bit, and the derivatives ---------------------


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
@pytest.mark.parametrize("lam", [0.0, 0.3])
@pytest.mark.parametrize("one_hot", [False, True])
def test_reference_is_the_books_layers_bit_for_bit(rng, activation, lam, one_hot):
    net, x, t = make_problem(rng, 9, [7, 5, 6], 4, 11, activation=activation, lam=lam, zeros=0.3)
    x[0] = 0.0  # with b1 = 0 some pre-activations are exactly 0: ReLU's derivative there is 0
    net.params["b1"][:3] = 0.0
    target = np.eye(4)[t] if one_hot else t
    book = BookMultiLayerNet({k: v.copy() for k, v in net.params.items()}, activation, lam)
    assert_array_equal(net.predict(x), book.predict(x))
    assert net.loss(x, target) == book.loss(x, target)
    want = book.gradient(x, target)
    got = net.gradient(x, target)
    assert list(got) == names(net)
    for k in got:
        assert_array_equal(got[k], want[k])
    assert net.accuracy(x, target) == np.mean(np.argmax(book.predict(x), axis=1) == t)


# Tolerance of numerical vs analytic: the central difference differs from the derivative by
# h^2/6 f''' (these nets have weights of std 0.5, inputs in [0, 1] and at most 4 layers of
# 3-7 units: |f'''| stays below ~10, so < 2e-8) plus the reference's rounding (~1e-12); no
# ReLU kink lies within a nudge (asserted). 1e-7 covers both with margin.
NUMGRAD_VS_ANALYTIC_ATOL = 1e-7


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
@pytest.mark.parametrize(
    ("hidden", "lam", "one_hot"),
    [([5], 0.0, False), ([6, 4], 0.2, True), ([4, 3, 5], 0.0, True), ([3, 5, 4, 3], 0.1, False)],
)
def test_reference_numerical_matches_analytic(rng, activation, hidden, lam, one_hot):
    net, x, t = make_problem(rng, 6, hidden, 3, 8, activation=activation, lam=lam)
    if activation == "relu":  # no nudge crosses a kink: the derivative is what it estimates
        assert path_counts(net, x, t, 1e-4)[1] == 0
    num = net.numerical_gradient(x, np.eye(3)[t] if one_hot else t)
    exact = eps_aware_gradient(net, x, t)
    book = net.gradient(x, t)
    unguarded = eps_aware_gradient(net, x, t, eps=0.0)  # the book's backprop drops the 1e-7
    for k in names(net):
        assert_allclose(num[k], exact[k], rtol=0, atol=NUMGRAD_VS_ANALYTIC_ATOL)
        assert_allclose(book[k], unguarded[k], rtol=1e-10, atol=1e-15)


def test_weight_decay_is_in_the_loss_and_both_gradients(rng):
    net, x, t = make_problem(rng, 5, [4, 3], 3, 6, lam=0.0)
    plain_loss, plain_num, plain_bp = (
        net.loss(x, t),
        net.numerical_gradient(x, t),
        net.gradient(x, t),
    )
    net.weight_decay_lambda = 0.7
    decay = sum(0.5 * 0.7 * np.sum(net.params[f"W{li}"] ** 2) for li in (1, 2, 3))
    assert net.loss(x, t) == pytest.approx(plain_loss + decay, rel=1e-14)
    num, bp = net.numerical_gradient(x, t), net.gradient(x, t)
    for k in names(net):
        extra = 0.7 * net.params[k] if k.startswith("W") else 0.0
        assert_allclose(num[k], plain_num[k] + extra, rtol=0, atol=1e-9)
        assert_allclose(bp[k], plain_bp[k] + extra, rtol=1e-13, atol=1e-15)


def test_partial_reference_is_the_reference(rng):
    net, x, t = make_problem(rng, 4, [3, 2], 3, 5, lam=0.1)
    full = net.numerical_gradient(x, t)
    picks = [(k, idx) for k in names(net) for idx in np.ndindex(net.params[k].shape)]
    part = reference_central_difference(net, x, t, 1e-4, picks)
    assert_array_equal(part, np.concatenate([full[k].ravel() for k in names(net)]))


@pytest.mark.parametrize("cls", [R.MultiLayerNet, K.MultiLayerNet])
@pytest.mark.parametrize(
    ("init", "scales"),
    [
        ("relu", lambda fan: np.sqrt(2.0 / fan)),
        ("He", lambda fan: np.sqrt(2.0 / fan)),
        ("sigmoid", lambda fan: np.sqrt(1.0 / fan)),
        ("xavier", lambda fan: np.sqrt(1.0 / fan)),
        (0.01, lambda fan: 0.01),
    ],
)
def test_initialisation_is_the_books(cls, init, scales):
    # one standard-normal draw per weight matrix, in layer order; zero biases
    draws = np.random.default_rng(11)
    sizes = [20, 7, 5, 3]
    want = {}
    for li in range(1, 4):
        want[f"W{li}"] = scales(sizes[li - 1]) * draws.standard_normal((sizes[li - 1], sizes[li]))
        want[f"b{li}"] = np.zeros(sizes[li])
    net = cls(20, [7, 5], 3, weight_init_std=init, rng=11)
    assert list(net.params) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    for k, v in want.items():
        assert_array_equal(net.params[k], v)


def test_the_chapter_5_network():
    # gradient_check.py's TwoLayerNet is ReLU, 784-50-10, weights 0.01 randn
    net = fastgrad.MultiLayerNet(784, [50], 10, weight_init_std=0.01, rng=3)
    draws = np.random.default_rng(3)
    assert_array_equal(net.params["W1"], 0.01 * draws.standard_normal((784, 50)))
    assert_array_equal(net.params["W2"], 0.01 * draws.standard_normal((50, 10)))
    assert net.activation == "relu" and net.weight_decay_lambda == 0.0


# -- the kernel against the reference ----------------------------------------------------------


def crossing_picks(net, x, t, h, rng, n):
    """Up to ``n`` hidden-layer parameters with at least one nudge evaluated exactly (a kink
    within reach, or beyond a series guard), by the kernel's own decision."""
    taus, _ = KM.nudge_limits(net.params, x, t, h, net.activation)
    with np.errstate(over="ignore"):  # saturated sigmoids: the book's exp(-a) overflows
        _, inputs, _ = net._forward(np.atleast_2d(x))
    found = []
    for li, tau in taus.items():
        z = np.concatenate([inputs[li - 1], np.ones((tau.shape[0], 1))], axis=1)
        y = (h * np.abs(z))[:, :, None]
        exact = ((y != 0) & ~(y < tau[:, None, :])).any(axis=0)  # (inputs + 1, units)
        for i, j in zip(*np.nonzero(exact), strict=True):
            found.append(
                (f"b{li}", (int(j),)) if i == z.shape[1] - 1 else (f"W{li}", (int(i), int(j)))
            )
    order = rng.permutation(len(found))[:n]
    return [found[i] for i in order]


def check_against_reference(net, x, target, h, picks, *, got=None, backend_net=None):
    if got is None:
        got = (backend_net or twin(net)).numerical_gradient(x, target, h)
    with np.errstate(over="ignore"):  # saturated sigmoids: the book's exp(-a) overflows
        ref = reference_central_difference(net, x, target, h, picks)
        scale = forward_magnitude(net.params, x, net.activation)
        tol = reference_noise(net.loss(x, target), h, scale)
    mine = np.array([got[k][idx] for k, idx in picks])
    assert_allclose(mine, ref, rtol=0, atol=tol)
    return got


SMALL_CASE = dict(
    depth=2, widths=[5, 4, 3, 6], n_in=7, n_out=3, batch=6, activation="relu", lam=0.0,
    zeros=0.0, one_hot=False, kinks=False, std="relu", x_scale=1.0, h=1e-4, seed=0,
)  # fmt: skip


def test_kernel_matches_reference_on_random_networks():
    # depth 1-4, widths 1-64, both activations, decay on and off, dense and sparse inputs,
    # one-hot and labels, biases put on the ReLU's kinks, steps up to 0.05, unnormalised
    # inputs and weights on both sides of the series guards: every path must agree
    seen = {(a, p): 0 for a in ("relu", "sigmoid") for p in ("series", "exact")}

    @settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        depth=st.integers(1, 4),
        widths=st.lists(st.integers(1, 64), min_size=4, max_size=4),
        n_in=st.integers(1, 80),
        n_out=st.integers(2, 12),
        batch=st.integers(1, 40),
        activation=st.sampled_from(["relu", "sigmoid"]),
        lam=st.sampled_from([0.0, 0.0, 0.1, 2.0]),
        zeros=st.sampled_from([0.0, 0.5, 0.9, 1.0]),
        one_hot=st.booleans(),
        kinks=st.booleans(),
        std=st.sampled_from(["relu", "sigmoid", 0.01, 1.0, 4.0]),
        x_scale=st.sampled_from([1.0, 1.0, 255.0]),
        h=st.sampled_from([1e-4, 1e-4, 1e-3, 0.05]),
        seed=st.integers(0, 2**32 - 1),
    )
    @example(**SMALL_CASE)  # ReLU, series path
    @example(**{**SMALL_CASE, "kinks": True, "batch": 30})  # ReLU, kinks: the exact path
    @example(**{**SMALL_CASE, "activation": "sigmoid", "std": "sigmoid", "lam": 0.1})
    @example(**{**SMALL_CASE, "activation": "sigmoid", "x_scale": 255.0})  # beyond the guard
    # x W1 = 77.8 against b1 = -77.8 on the kink: the reference's noise is ulp(77.8), not
    # ulp of the loss (0.65): 4.8e-11 against a loss-relative tolerance of 3.6e-11
    @example(**{**SMALL_CASE, "depth": 1, "widths": [1, 1, 1, 1], "n_in": 1, "n_out": 2,
                "batch": 1, "kinks": True, "std": 4.0, "x_scale": 255.0})  # fmt: skip
    def check(depth, widths, n_in, n_out, batch, activation, lam, zeros, one_hot, kinks, std,
              x_scale, h, seed):  # fmt: skip
        rng = np.random.default_rng(seed)
        hidden = widths[:depth]
        net, x, t = make_problem(
            rng, n_in, hidden, n_out, batch, activation=activation, std=std, lam=lam,
            zeros=zeros, x_scale=x_scale,
        )  # fmt: skip
        if kinks:
            put_on_kinks(net, x, rng, h)
        target = np.eye(n_out)[t] if one_hot else t
        fast, slow, _ = path_counts(net, x, t, h)
        seen[activation, "series"] += fast
        seen[activation, "exact"] += slow

        front = fastgrad.MultiLayerNet(n_in, hidden, n_out, activation, backend="numba")
        front.params = {k: v.copy() for k, v in net.params.items()}
        front.weight_decay_lambda = lam
        x_before, t_before = x.copy(), np.copy(target)
        got = front.numerical_gradient(x, target, h)
        picks = pick_params(rng, net.params, 4) + crossing_picks(net, x, t, h, rng, 12)
        check_against_reference(net, x, target, h, picks, got=got)
        assert_array_equal(x, x_before)
        assert_array_equal(target, t_before)
        for k in names(net):
            assert got[k].shape == net.params[k].shape and got[k].dtype == np.float64

    check()
    assert all(v > 0 for v in seen.values()), seen


@pytest.mark.parametrize("zeros", [0.0, 0.8])  # dense inputs; mostly sparse columns
@pytest.mark.parametrize("hidden", [[6], [5, 4], [4, 5, 3], [3, 4, 3, 4]])
def test_kinks_in_every_hidden_layer(rng, hidden, zeros):
    # pre-activations within h/2 of zero in every hidden layer: the reference's central
    # difference straddles the kink and is not the derivative there; the kernel must give the
    # reference's number, which it evaluates exactly
    net, x, t = make_problem(rng, 8, hidden, 4, 12, lam=0.1, zeros=zeros)
    put_on_kinks(net, x, rng, 1e-4)
    fast, slow, _ = path_counts(net, x, t, 1e-4)
    assert fast > 0 and slow > 0
    ref = net.numerical_gradient(x, t)
    got = twin(net).numerical_gradient(x, t)
    bp = net.gradient(x, t)
    tol = reference_noise(net.loss(x, t), 1e-4)
    straddled = 0.0
    for k in names(net):
        assert_allclose(got[k], ref[k], rtol=0, atol=tol)
        straddled = max(straddled, float(np.max(np.abs(ref[k] - bp[k]))))
    assert straddled > 1e-3  # the kinks are real: backprop and the reference disagree


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_forced_exact_agrees_with_series(rng, activation):
    net, x, t = make_problem(rng, 30, [9, 7], 6, 40, activation=activation, zeros=0.6, lam=0.2)
    series = twin(net).numerical_gradient(x, t)
    exact = twin(net).numerical_gradient(x, t, exact=True)
    assert path_counts(net, x, t, 1e-4, exact=True)[0] == 0
    for k in names(net):
        # the exact path rounds act(a + d) - act(a) (cancellation ~eps |a| / d), ~1e-12
        assert_allclose(series[k], exact[k], rtol=0, atol=reference_noise(net.loss(x, t), 1e-4))


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
@pytest.mark.parametrize("hidden", [[6], [5, 4]])
def test_series_guards_with_large_output_weights(rng, activation, hidden):
    # the guards are per unit (sigmoid) or per row and unit (ReLU): units whose output
    # weights are huge move the logits by much more than the nudge, beyond the series'
    # radius, and must take the exact path; the others the series path; all must agree
    net, x, t = make_problem(rng, 7, hidden, 4, 10, activation=activation, std=0.5, lam=0.1)
    out = f"W{len(hidden) + 1}"
    net.params[out][0] *= 300.0
    net.params[out][2] *= 40.0
    x *= 50.0
    fast, slow, _ = path_counts(net, x, t, 1e-4)
    assert fast > 0 and slow > 0
    ref = net.numerical_gradient(x, t)
    got = twin(net).numerical_gradient(x, t)
    tol = reference_noise(net.loss(x, t), 1e-4)
    for k in names(net):
        assert_allclose(got[k], ref[k], rtol=0, atol=tol)


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_output_layer_guard(rng, activation):
    # the output layer's tasks move one logit by h z_L: with a large step and large
    # activations (ReLU on unnormalised pixels) that is beyond their series' radius, and
    # they are evaluated exactly; with the book's step they take the series
    net, x, t = make_problem(rng, 9, [6, 5], 4, 12, activation=activation, std=1.0, lam=0.1)
    x *= 255.0
    with np.errstate(over="ignore"):
        z_max = np.max(np.abs(net._forward(x)[1][-1]))
    net.params["W3"] /= max(1.0, z_max)  # logits of order 1: the softmax is not saturated
    for h, series in ((1e-4, activation == "sigmoid"), (0.05, False)):
        assert path_counts(net, x, t, h)[2] is series
        with np.errstate(over="ignore"):
            ref = net.numerical_gradient(x, t, h)
            tol = reference_noise(net.loss(x, t), h)
        got = twin(net).numerical_gradient(x, t, h)
        for k in ("W3", "b3"):
            assert_allclose(got[k], ref[k], rtol=0, atol=tol)


def longdouble_central_difference(net, x, t, h, name, idx):
    """``(L(theta + h e) - L(theta - h e)) / 2h`` with every step in 80-bit long double and
    exact row differences (weight decay's share exact): ~1000x more precise than float64."""
    ld = np.longdouble

    def row_losses(shift):
        P = {k: v.astype(ld) for k, v in net.params.items()}
        P[name][idx] += shift
        z = x.astype(ld)
        for li in range(1, net.hidden_layer_num + 1):
            a = z @ P[f"W{li}"] + P[f"b{li}"]
            z = np.maximum(a, 0) if net.activation == "relu" else 1 / (1 + np.exp(-a))
        a = z @ P[f"W{net.hidden_layer_num + 1}"] + P[f"b{net.hidden_layer_num + 1}"]
        a -= a.max(axis=1, keepdims=True)
        y = np.exp(a) / np.exp(a).sum(axis=1, keepdims=True)
        return -np.log(y[np.arange(len(t)), t] + ld(1e-7))

    diff = np.sum(row_losses(ld(h)) - row_losses(-ld(h))) / len(t) / (2 * ld(h))
    decay = net.weight_decay_lambda * net.params[name][idx] if name.startswith("W") else 0.0
    return float(diff) + decay


@pytest.mark.skipif(np.finfo(np.longdouble).eps >= 1e-17, reason="no extended long double")
@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
@pytest.mark.parametrize("x_scale", [1.0, 1.5, 17.0, 70.0])
def test_series_path_against_long_double(rng, activation, x_scale):
    # h max|x| / rho near the limit of each truncation order (3, 5 and 7 for the sigmoid's
    # rho = 1 here), where the remainder bound is weakest; the bound promises < 1e-14
    net, x, t = make_problem(rng, 5, [4, 3], 3, 9, activation=activation, std=0.3, lam=0.1)
    x *= x_scale / x.max()
    if activation == "sigmoid":  # rho = 1 for every unit: the orders switch at x_scale ~ 1.7, 20
        sizes, Wf, woff, _, _ = KM._flat(net.params)
        for li, width in ((1, 4), (2, 3)):
            for j in range(width):
                assert KU.sigmoid_radius(li, j, sizes, Wf, woff, np.empty((2, 8))) == 1.0
    fast, slow, logits = path_counts(net, x, t, 1e-4)
    assert slow == 0 and fast > 0
    got = twin(net).numerical_gradient(x, t)
    for name in names(net):
        for idx in np.ndindex(net.params[name].shape):
            oracle = longdouble_central_difference(net, x, t, 1e-4, name, idx)
            assert abs(got[name][idx] - oracle) <= 1e-14 + 1e-12 * abs(oracle), (name, idx)


@pytest.mark.parametrize("order", [3, 5])
@pytest.mark.parametrize("v_scale", [0.01, 1.0, 10.0])
def test_relu_closed_form_coefficients_are_the_series(rng, v_scale, order):
    # a ReLU unit's logits move along one direction per row; orders 3 and 5 take the closed
    # form, order 7 the series arithmetic: in one call both kinds meet, so they must agree,
    # term by term (the tolerance of the two-layer kernel's closed forms)
    N, K, B = 100, 7, 64
    s, t, q = softmax_rows(rng, N, K, 3)
    sT = np.ascontiguousarray(s.T)
    V = rng.normal(size=(K, B)) * v_scale
    series, closed = np.zeros((4, N)), np.full((4, N), np.nan)
    sf, qb, mom = np.empty(6 * (S.ORDER + 1) * B), np.empty(B), np.empty((6, B))
    for lo in range(0, N, B):
        nb = min(B, N - lo)
        KU._relu_loss_series(V, sT, t, q, lo, nb, order + 1, sf, qb, series)
        KU._relu_loss_closed(V, sT, t, q, lo, nb, order, mom, closed)
    terms = (order + 1) // 2
    assert np.all(series[terms:] == 0) and np.all(closed[terms:] == 0)
    for p in range(terms):
        assert_allclose(closed[p], series[p], rtol=0, atol=1e-13 * np.abs(series[p]).max())


@pytest.mark.parametrize("P", [2, 5])
def test_power_sums_are_the_sums(rng, P):
    # E_m[j, n, k2] = sum_k W[j, k]^m d[k, m, n] Wn[k, k2]: BLAS products over blocks of
    # rows (the last one short), laid out per block with rows innermost; and E_3's mean
    # against the target's under the softmax. Higham's bound for sums of H (or H + K)
    # products, with room
    Hp, H, K, N = 7, 9, 5, 70
    W = rng.normal(size=(Hp, H))
    dT = rng.normal(size=(H, S.ORDER + 1, N))
    Wn = rng.normal(size=(H, K))
    s, t, _ = softmax_rows(rng, N, K, 2)
    E, mu = KP.power_sums(W, dT, Wn, P), KP.target_mean(W, dT, Wn, s, t)
    assert E.shape == (P, Hp * N * K) and mu.shape == (Hp, N)
    eps = np.finfo(float).eps
    for m in range(1, max(P, 3) + 1):
        terms = W[:, :, None, None] ** m * dT[None, :, m, :, None] * Wn[None, :, None, :]
        want, size = terms.sum(axis=1), np.abs(terms).sum(axis=1)
        if m == 3:  # sum_k2 (s - onehot(t))[n, k2] E_3[j, n, k2], as sum_k W^3 d (Wn s - Wn_t)
            g = s - np.eye(K)[t]
            inner = np.abs(dT[:, 3]) * (np.abs(Wn) @ s.T + np.abs(Wn[:, t]))
            tol = 2 * (H + K) * eps * (np.abs(W) ** 3 @ inner)
            assert np.all(np.abs(mu - (want * g).sum(axis=2)) <= tol)
        if m > E.shape[0]:
            continue
        for lo in range(0, N, KP.BLOCK_ROWS):
            nb = min(KP.BLOCK_ROWS, N - lo)
            got = KP.sums_view(E, m, Hp, K, lo, nb).reshape(Hp, K, nb).transpose(0, 2, 1)
            tol = 2 * H * eps * size[:, lo : lo + nb]
            assert np.all(np.abs(got - want[:, lo : lo + nb]) <= tol)


def sigmoid_series_plan(li, j, net, fw, coef):
    """A sigmoid unit's coefficients by the series arithmetic (the kernel's own
    ``_sigmoid_block`` and ``_sigmoid_loss_series``), at the orders ``unit_plan`` picks."""
    sizes, Wf, woff = net[:3]
    sT, ymax, t = fw[5], fw[11][li - 1], fw[12]
    N, K, PM, B = t.shape[0], sizes[-1], S.ORDER + 1, KU._SIGMOID_BLOCK
    hmax = int(sizes[1:].max())
    work = (np.empty((hmax, PM, B)), np.empty((hmax, PM, B)), np.empty((PM, PM, B)))
    rho = KU.sigmoid_radius(li, j, sizes, Wf, woff, np.empty((2, hmax)))
    orders = []
    for lo in range(0, N, B):
        nb = min(B, N - lo)
        P = S.order_for(np.max(ymax[lo : lo + nb] / rho), KM.LOWEST_ORDER)
        D = np.empty((K, PM, B))
        args = (np.empty((4, PM, B)), np.empty(B), np.empty(B), D)
        KU._sigmoid_block(li, j, lo, nb, P + 1, net, fw, work, *args)
        KU._sigmoid_loss_series(D, sT, t, fw[4], lo, nb, P + 1, np.empty(6 * PM * B),
                                np.empty(B), coef)  # fmt: skip
        orders.append(P)
    return orders


@pytest.mark.parametrize(
    "w_scale, x_scale, needs",
    [  # (layer, order) pairs the case must take: (1, 3) and (2, 3|5) are the closed forms
        (0.3, 1.0, {(1, 3), (2, 3)}),
        (1.0, 1.0, {(1, 3), (2, 5)}),
        (0.3, 5.0, {(1, 5)}),
        (3.0, 1.0, {(1, 7)}),
    ],
)
def test_sigmoid_closed_forms_are_the_series(rng, w_scale, x_scale, needs):
    # the last hidden layer's units take the two-layer kernel's closed form (orders 3 and 5),
    # the layer before it its own (order 3, from the power sums), orders 5 and 7 the series
    # arithmetic: each against the series arithmetic, term by term (the tolerance of the ReLU
    # closed forms' test). For the layer before the last both read the power sums (checked
    # on their own above), the closed form E_3 only through its mean. The order rises with
    # h max|x| / rho
    net, x, t = make_problem(rng, 6, [5, 4], 3, 45, activation="sigmoid", std=w_scale)
    x *= x_scale / x.max()  # h max|x| / rho: 1e-4 x_scale (rho = 1 at w_scale <= 1)
    params = KM._flat(net.params)
    fw = KM._pass(params, x, t, 1e-4, False, False)
    sizes, Wf, woff = params[:3]  # the series reads E_3 whole: every power sum to order 7
    W2, W3 = (Wf[woff[i] : woff[i + 1]].reshape(sizes[i - 1], sizes[i]) for i in (2, 3))
    dT = KU.layer_series(fw[10], fw[2], sizes, 2, x.shape[0])
    full = (*fw[:13], KP.power_sums(W2, dT, W3, S.ORDER), fw[14])
    tau, coef = np.empty(x.shape[0]), np.empty((S.N_ODD, x.shape[0]))
    seen = set()
    for li, width in ((1, 5), (2, 4)):
        for j in range(width):
            series = np.zeros_like(coef)
            orders = sigmoid_series_plan(li, j, params, full, series)
            KU.unit_plan(li, j, params, fw, False, False, tau, coef)
            seen.update((li, P) for P in orders)
            for p in range(S.N_ODD):
                assert_allclose(coef[p], series[p], rtol=0, atol=1e-13 * np.abs(series[p]).max())
    assert needs <= seen


@pytest.mark.parametrize("kinks", [True, False])
@pytest.mark.parametrize("zeros", [0.0, 0.7])
def test_relu_directions_from_the_power_sums(rng, zeros, kinks):
    # a ReLU unit of layer L - 1 reads its logits' direction from the power sums (E_1 with
    # the mask of layer L), the deeper ones walk the chain of masked mat-vecs: the same
    # direction to the products' rounding. The kink radius: the chain's to the rounding of
    # a product by a rounded reciprocal against a quotient (2 ulps; KINK_MARGIN takes a
    # million), or, where the floor min_k |a_L| / max_k |W_L[j, k]| keeps every nudge of the
    # block's rows inside the margin, that floor, which is below the chain's radius and
    # above every nudge, so no nudge decides otherwise (both ways taken, by the test's setup)
    net, x, t = make_problem(rng, 12, [9, 7, 6], 4, 70, zeros=zeros)
    if kinks:
        put_on_kinks(net, x, rng, 1e-4)
    params = KM._flat(net.params)
    sizes, Wf, woff = params[:3]
    fw = KM._pass(params, x, t, 1e-4, True, False)
    ATf, aoff, N, B = fw[6], fw[2], x.shape[0], KU._RELU_BLOCK
    floor, ymax, eps = fw[14][0], fw[11][1], np.finfo(float).eps
    on = chain = bounded = 0
    for j in range(sizes[2]):
        for lo in range(0, N, B):
            nb = min(B, N - lo)
            V, V2 = np.full((4, B), np.nan), np.full((4, B), np.nan)
            rad, rad2 = np.empty(B), np.empty(B)
            KU._relu_next_block(
                2, j, lo, nb, sizes, Wf, woff, ATf, aoff, N, fw[13], floor, ymax, rad, V
            )
            work = (np.empty((9, B)), np.empty((9, B)))
            KU._relu_block(2, j, lo, nb, sizes, Wf, woff, ATf, aoff, N, *work, rad2, V2)
            rad, rad2 = rad[:nb], rad2[:nb]
            close = np.abs(rad - rad2) <= 2 * eps * rad2
            assert np.all(rad <= rad2 * (1 + 2 * eps))
            assert np.all(close | (rad * (1 - KU.KINK_MARGIN) > ymax[lo : lo + nb]))
            chain += close.all()
            bounded += np.count_nonzero(~close)
            size = np.abs(Wf[woff[3] : woff[4]].reshape(7, 6)[j]) @ np.abs(
                Wf[woff[4] : woff[5]].reshape(6, 4)
            )
            tol = 2 * 6 * eps * size[:, None]
            assert np.all(np.abs(V[:, :nb] - V2[:, :nb]) <= tol)
            on += np.count_nonzero(V2[:, :nb])
    assert on > 0
    assert chain > 0 if kinks else bounded > 0


ROW_LOSS_MAX = -np.log(1e-7)  # the book's -log(p + 1e-7) of one row, at most


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_exact_nudges_of_a_row_at_once(rng, activation):
    # the nudges of one row that the series cannot take are evaluated together, the changes
    # carried as a matrix: each the one-at-a-time evaluation's number, to the rounding of
    # its row losses (a few ulps of at most -log(1e-7)); across kinks (ReLU) too
    net, x, t = make_problem(rng, 8, [7, 6, 5], 4, 6, activation=activation, std=1.0)
    put_on_kinks(net, x, rng, 1e-2)
    sizes, Wf, woff, _, _ = params = KM._flat(net.params)
    fw = KM._pass(params, x, t, 1e-2, activation == "relu", True)
    ex = (sizes, Wf, woff, fw[0], fw[2], t, activation == "relu", np.empty((2, 7)))
    ys = np.concatenate([rng.uniform(1e-4, 3e-2, 9), [1e-12, 5.0]])
    for li in (1, 2, 3):
        for j in range(sizes[li]):
            for n in range(x.shape[0]):
                got = KR.exact_half_differences(li, j, n, ys, ex)
                want = [KR.exact_half_difference(li, j, n, y, ex) for y in ys]
                assert_allclose(got, want, rtol=0, atol=8 * np.finfo(float).eps * ROW_LOSS_MAX)


def test_truncation_orders():
    # each order's ratio keeps 5 r^(P+2) / (1 - r^2) at the bound of order 7 at 0.008
    # (the one table, shared with the two-layer kernel; a hidden unit starts at order 3)
    bound = 5 * S.SERIES_RATIO_MAX**9
    for P, ratio in zip(S.SERIES_ORDERS, S.SERIES_ORDER_RATIO, strict=True):
        assert S.order_ratio(P) == ratio
        assert S.order_for(ratio, 1) == P
        assert S.order_for(ratio * (1 + 1e-9), 1) == min(P + 2, 7)
        assert S.order_for(ratio, KM.LOWEST_ORDER) == max(P, KM.LOWEST_ORDER)
        assert 5 * ratio ** (P + 2) == pytest.approx(bound, rel=1e-9)


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_bitwise_identical_for_any_thread_count(rng, num_threads, activation):
    net, x, t = make_problem(rng, 40, [13, 9, 7], 6, 70, activation=activation, zeros=0.7)
    put_on_kinks(net, x, rng, 1e-4)  # both paths in one call
    fast, slow, _ = path_counts(net, x, t, 1e-4)
    assert fast > 0 and (slow > 0 or activation == "sigmoid")
    runs = {"series": [], "exact": [], "backprop": []}
    for n in THREAD_COUNTS:
        num_threads(n)
        runs["series"].append(twin(net).numerical_gradient(x, t))
        runs["exact"].append(twin(net).numerical_gradient(x, t, exact=True))
        runs["backprop"].append(twin(net).gradient(x, t))
    for results in runs.values():
        for other in results[1:]:
            for k in names(net):
                assert_array_equal(other[k], results[0][k])


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
@pytest.mark.parametrize("one_hot", [False, True])
def test_backprop_forward_and_loss_twins(rng, activation, one_hot):
    net, x, t = make_problem(rng, 30, [10, 8], 7, 25, activation=activation, lam=0.3, zeros=0.5)
    x[0] = 0.0  # with b1 = 0 some pre-activations are exactly 0: ReLU's derivative there is 0
    net.params["b1"][:4] = 0.0
    target = np.eye(7)[t] if one_hot else t
    knet = twin(net)
    ref_g, ker_g = net.gradient(x, target), knet.gradient(x, target)
    assert list(ker_g) == names(net)
    for k in names(net):
        assert_allclose(ker_g[k], ref_g[k], rtol=1e-12, atol=1e-15)
    assert_allclose(knet.predict(x), net.predict(x), rtol=1e-13, atol=1e-15)
    assert knet.loss(x, target) == pytest.approx(net.loss(x, target), rel=1e-13)
    assert knet.accuracy(x, target) == net.accuracy(x, target)
    assert knet.predict(x[0]).shape == (7,)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda n, x: n.numerical_gradient(x, [0, 1, 5]), "outside"),
        (lambda n, x: n.numerical_gradient(x, [0, 1, 1.5]), "non-integer"),
        (lambda n, x: n.gradient(x, [0, 1, -1]), "outside"),
        (lambda n, x: n.loss(x, [0, 1]), "one integer label per row"),
        (lambda n, x: n.accuracy(x, [0, 1, 9]), "outside"),
        (lambda n, x: n.numerical_gradient(x[:, :3], [0, 1, 2]), r"x has shape \(3, 3\)"),
        (lambda n, x: n.predict(np.ones((3, 5))), r"x has shape \(3, 5\)"),
    ],
)
def test_twin_class_refuses_what_it_cannot_index(call, match):
    net = K.MultiLayerNet(4, [3, 2], 3, rng=0)
    with pytest.raises(ValueError, match=match):
        call(net, np.ones((3, 4)))


@pytest.mark.parametrize(
    "change",
    [
        lambda p: p.update(b1=np.zeros(5)),
        lambda p: p.update(W2=np.zeros((4, 2))),
        lambda p: p.update(W3=np.zeros(6)),
        lambda p: p.pop("b3"),
        lambda p: p.update(W4=np.zeros((3, 3))),
    ],
)
def test_twin_class_refuses_params_that_do_not_chain(change):
    net = K.MultiLayerNet(4, [3, 2], 3, rng=0)
    change(net.params)
    with pytest.raises(ValueError, match="params (do not chain|must hold)"):
        net.numerical_gradient(np.ones((2, 4)), [0, 1])


# -- the issue's workloads: MNIST sample digits, batch 100 ------------------------------------


@pytest.fixture(scope="module")
def digits():
    from fastgrad.datasets import load_mnist

    (x, t), _ = load_mnist(source="sample")
    return x[:100], t[:100]


@pytest.mark.parametrize(
    ("hidden", "activation", "lam", "kinks"),
    [
        ([100, 100], "relu", 0.0, False),
        ([50], "relu", 0.0, False),
        ([100, 100], "sigmoid", 0.1, False),
        ([100, 100], "relu", 0.1, True),
    ],
)
def test_issue_workloads_within_1e_10_of_the_reference(digits, hidden, activation, lam, kinks):
    # the bench's networks on the sample digits (float32 pixels in [0, 1]); with kinks=True
    # the biases put pre-activations within h x of zero in every hidden layer
    x, t = digits
    rng = np.random.default_rng(5)
    net = R.MultiLayerNet(784, hidden, 10, activation, weight_decay_lambda=lam, rng=rng)
    if kinks:
        put_on_kinks(net, x.astype(np.float64), rng, 1e-4)
    front = fastgrad.MultiLayerNet(784, hidden, 10, activation, weight_decay_lambda=lam)
    front.params = {k: v.copy() for k, v in net.params.items()}
    got = front.numerical_gradient(x, t)
    picks = pick_params(rng, net.params, 12) + crossing_picks(net, x, t, 1e-4, rng, 24)
    if kinks:
        assert len(crossing_picks(net, x, t, 1e-4, rng, 1)) == 1
    with np.errstate(over="ignore"):
        ref = reference_central_difference(net, x, t, 1e-4, picks)
    mine = np.array([got[k][idx] for k, idx in picks])
    assert np.max(np.abs(mine - ref)) <= 1e-10
    assert np.max(np.abs(mine - ref)) <= reference_noise(net.loss(x, t), 1e-4)


# -- the front door ---------------------------------------------------------------------------


def test_backends_agree(rng, backend):
    net = fastgrad.MultiLayerNet(12, [6, 5], 4, "sigmoid", 0.5, 0.2, backend=backend, rng=1)
    ref = R.MultiLayerNet(12, [6, 5], 4, "sigmoid", 0.5, 0.2, rng=1)
    x, t = rng.random((9, 12)).astype(np.float32), rng.integers(0, 4, 9)
    for k in names(ref):
        assert_array_equal(net.params[k], ref.params[k])
    tol = reference_noise(ref.loss(x, t), 1e-4)
    got, want = net.numerical_gradient(x, t), ref.numerical_gradient(x, t)
    g, gr = net.gradient(x, t), ref.gradient(x, t)
    for k in names(ref):
        assert_allclose(got[k], want[k], rtol=0, atol=tol)
        assert_allclose(g[k], gr[k], rtol=1e-12, atol=1e-16)
    assert_allclose(net.predict(x), ref.predict(x), rtol=1e-13, atol=1e-15)
    assert net.loss(x, t) == pytest.approx(ref.loss(x, t), rel=1e-13)
    assert net.accuracy(x, np.eye(4)[t]) == ref.accuracy(x, t)


def test_params_and_settings_read_at_call_time(backend, rng):
    net = fastgrad.MultiLayerNet(5, [3, 3], 2, backend=backend, rng=0)
    x, t = rng.random((4, 5)), np.array([0, 1, 1, 0])
    before = net.loss(x, t)
    net.params["W3"] = net.params["W3"] * 50  # assigned, as the book's training loop does
    assigned = net.loss(x, t)
    assert assigned != before
    net.weight_decay_lambda = 0.5
    assert net.loss(x, t) > assigned
    grads = net.numerical_gradient(x, t)
    for k in grads:
        net.params[k] -= 0.01 * grads[k]  # the book's SGD step, in place
    assert net.loss(x, t) < assigned + 0.5 * 0.5 * sum(
        np.sum(v**2) for k, v in net.params.items() if k.startswith("W")
    )


def test_one_dimensional_input_and_batch_of_one(backend, rng):
    net = fastgrad.MultiLayerNet(6, [4, 3], 3, "sigmoid", backend=backend, rng=0)
    x = rng.random(6)
    single = net.numerical_gradient(x, 2)
    batch = net.numerical_gradient(x[None], [2])
    for k in single:
        assert_allclose(single[k], batch[k], rtol=0, atol=1e-13)
    assert net.predict(x).shape == (3,)
    assert net.predict(x[None]).shape == (1, 3)
    assert net.accuracy(x, [0, 0, 1]) in (0.0, 1.0)


def read_only(a):
    a = a.copy()
    a.flags.writeable = False
    return a


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(hidden_size_list=[]), ValueError, "hidden_size_list is empty"),
        (dict(hidden_size_list=[5, 0]), ValueError, r"hidden_size_list\[1\] must be an integer"),
        (dict(hidden_size_list=[5, -2]), ValueError, r"hidden_size_list\[1\]"),
        (dict(hidden_size_list=[5, 2.5]), TypeError, r"hidden_size_list\[1\]"),
        (dict(hidden_size_list=50), TypeError, "hidden_size_list must be a list"),
        (dict(hidden_size_list="50"), TypeError, "hidden_size_list must be a list"),
        (dict(activation="tanh"), ValueError, "activation must be one of"),
        (dict(activation=None), ValueError, "activation must be one of"),
        (dict(weight_init_std="lecun"), ValueError, "weight_init_std must be a number or one of"),
        (dict(weight_init_std=np.nan), ValueError, "finite standard deviation"),
        (dict(weight_init_std=None), TypeError, "weight_init_std"),
        (dict(weight_decay_lambda=-0.1), ValueError, "weight_decay_lambda must be finite and >= 0"),
        (dict(weight_decay_lambda=np.inf), ValueError, "weight_decay_lambda"),
        (dict(weight_decay_lambda="0.1"), TypeError, "weight_decay_lambda"),
        (dict(output_size=1), ValueError, "output_size must be at least 2"),
        (dict(input_size=0), ValueError, "input_size"),
        (dict(backend="torch"), ValueError, "'numpy', 'numba'"),
    ],
)
def test_bad_constructor_arguments(kwargs, error, match):
    args = dict(input_size=6, hidden_size_list=[5, 4], output_size=3) | kwargs
    hidden = args["hidden_size_list"]
    hidden_before = list(hidden) if isinstance(hidden, list) else None
    with pytest.raises(error, match=match):
        fastgrad.MultiLayerNet(**args)
    if kwargs.get("backend") is None:
        with pytest.raises(error, match=match):
            R.MultiLayerNet(**args)
        with pytest.raises(error, match=match):
            K.MultiLayerNet(**args)
    if hidden_before is not None:
        assert hidden == hidden_before


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda n: n.numerical_gradient(np.ones((2, 783)), [0, 1]), ValueError, "784 inputs"),
        (lambda n: n.loss(np.ones((2, 784)), [0, 10]), ValueError, "label 10 out of range"),
        (lambda n: n.gradient(np.ones((2, 784)), [0, -1]), ValueError, "out of range"),
        (lambda n: n.numerical_gradient(np.ones((2, 784)), np.ones((2, 9))), ValueError, "one-hot"),
        (lambda n: n.accuracy(np.ones((2, 784)), [0, 1, 2]), ValueError, "expected 2 integer"),
        (lambda n: n.loss(np.ones((0, 784)), []), ValueError, "empty batch"),
        (lambda n: n.loss(np.full((1, 784), np.nan), [0]), ValueError, "x contains NaN"),
        (lambda n: n.loss(np.ones((1, 784)), [0.5]), ValueError, "non-integer"),
        (lambda n: n.gradient(np.ones((1, 784)), ["a"]), TypeError, "t must be integer labels"),
        (lambda n: n.numerical_gradient(np.ones((1, 784)), [0], h=0), ValueError, "h must be"),
        (lambda n: n.numerical_gradient(np.ones((1, 784)), [0], h=0.5), ValueError, "too large"),
        (lambda n: n.numerical_gradient(np.ones((1, 784)), [0], h=1e-50), ValueError, "small"),
        (lambda n: n.predict(np.ones((2, 2, 784))), ValueError, "x must have shape"),
        (lambda n: n.predict(np.array([["a"] * 784])), TypeError, "x must be a real numeric"),
    ],
)
def test_bad_input_on_every_backend(backend, call, error, match):
    net = fastgrad.MultiLayerNet(784, [5, 4], 10, backend=backend, rng=0)
    with pytest.raises(error, match=match):
        call(net)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda n: n.params.update(W1=np.ones((784, 6))), r"W1 has shape \(784, 6\).*784-5-4-10"),
        (lambda n: n.params.update(b2=np.ones(5)), r"b2 has shape \(5,\).*needs \(4,\)"),
        (lambda n: n.params.update(W2=np.full((5, 4), np.nan)), "W2 contains NaN"),
        (lambda n: n.params.update(W3=np.ones((4, 1))), r"W3 has shape \(4, 1\)"),
        (lambda n: n.params.pop("b3"), "params must be a dict with keys"),
        (lambda n: n.params.update(W4=np.ones((10, 10))), "params must be a dict with keys"),
        (lambda n: setattr(n, "activation", "tanh"), "activation must be one of"),
        (lambda n: setattr(n, "weight_decay_lambda", -1.0), "weight_decay_lambda must be"),
    ],
)
def test_bad_params_and_settings(backend, change, match):
    net = fastgrad.MultiLayerNet(784, [5, 4], 10, backend=backend, rng=0)
    change(net)
    for call in (net.loss, net.numerical_gradient, net.gradient):
        with pytest.raises(ValueError, match=match):
            call(np.ones((1, 784)), [0])


def test_nothing_passed_in_is_modified(backend, rng):
    net = fastgrad.MultiLayerNet(10, [4, 3], 3, "relu", 0.5, 0.1, backend=backend, rng=0)
    params = {k: v.copy() for k, v in net.params.items()}
    net.params = {k: read_only(v) for k, v in params.items()}  # a write would raise
    x = read_only(rng.random((5, 10)))
    t = read_only(np.eye(3)[[0, 1, 2, 0, 1]])
    x_before, t_before = x.copy(), t.copy()
    for method in ("numerical_gradient", "gradient", "loss", "accuracy", "predict"):
        args = (x,) if method == "predict" else (x, t)
        getattr(net, method)(*args)
    fastgrad.gradient_check(net, x, t)
    for k in params:
        assert_array_equal(net.params[k], params[k])
    assert_array_equal(x, x_before)
    assert_array_equal(t, t_before)


# -- gradient_check ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda b: fastgrad.MultiLayerNet(784, [50], 10, weight_init_std=0.01, backend=b, rng=0),
        lambda b: fastgrad.MultiLayerNet(
            784, [20, 10], 10, "sigmoid", "sigmoid", 0.1, backend=b, rng=0
        ),
        lambda b: fastgrad.TwoLayerNet(784, 20, 10, backend=b, rng=0),
    ],
)
def test_gradient_check_of_a_correct_backprop(digits, backend, make):
    # the book's gradient_check.py, on three images: backprop drops the loss's 1e-7, so each
    # row's share differs by a factor p_t / (p_t + 1e-7) (p_t ~ 0.1 here: ~1e-6 relative, on
    # gradients below 1), and the central difference adds O(h^2): figures below 1e-6
    net = make(backend)
    x, t = digits[0][:3], digits[1][:3]
    report = fastgrad.gradient_check(net, x, t)
    assert list(report) == list(net.params) == list(report.numerical)
    assert report.passed, str(report)
    for c in report.values():
        assert c.max_abs_diff < 1e-6, str(report)
        diff = np.abs(report.backprop[c.name] - report.numerical[c.name])
        assert c.mean_abs_diff == pytest.approx(np.average(diff), rel=1e-12)
        assert diff[c.worst] == c.max_abs_diff
    assert report.max_abs_diff == max(c.max_abs_diff for c in report.values())
    table = str(report)
    assert "mean |diff|" in table and "worst index" in table
    assert all(name in table for name in net.params)
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.h = 1.0


def test_gradient_check_finds_a_wrong_backprop(backend, rng):
    net = fastgrad.MultiLayerNet(8, [5, 4], 3, backend=backend, rng=0)
    x, t = rng.random((6, 8)), rng.integers(0, 3, 6)
    right = fastgrad.gradient_check(net, x, t)
    correct = net.gradient

    def wrong(x, t):  # a classic slip: the first layer's weight gradient transposed
        grads = correct(x, t)
        grads["W2"] = grads["W2"] * 1.5
        grads["b1"] = -grads["b1"]
        return grads

    net.gradient = wrong
    report = fastgrad.gradient_check(net, x, t)
    assert report["W2"].mean_abs_diff > 1e3 * right["W2"].mean_abs_diff
    assert report["W2"].max_rel_diff == pytest.approx(0.5, rel=1e-3)  # relative to numerical
    assert report["b1"].max_rel_diff == pytest.approx(2.0, rel=1e-3)
    assert report["W1"] == right["W1"]
    with pytest.raises(KeyError):
        report["W9"]
    assert right.passed and not report.passed and report.failed == ("b1", "W2")


def test_gradient_check_needs_a_network():
    with pytest.raises(TypeError, match="net must be a fastgrad network"):
        fastgrad.gradient_check(fastgrad.SimpleNet(), np.ones(2), 0)
    with pytest.raises(ValueError, match="h must be"):
        fastgrad.gradient_check(fastgrad.MultiLayerNet(3, [2], 2), np.ones(3), 0, h=-1.0)
