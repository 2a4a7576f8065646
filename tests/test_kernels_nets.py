"""The TwoLayerNet and SimpleNet kernels against their reference twins."""

from __future__ import annotations

import concurrent.futures

import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

import fastgrad
from fastgrad import kernels as K
from fastgrad import reference as R
from fastgrad.kernels import nets as KN
from fastgrad.kernels import series as S
from fastgrad.kernels.oddsums import F32_BUDGET
from fastgrad.reference.gradient import central_difference

from .conftest import (
    EPS,
    THREAD_COUNTS,
    reference_noise,
    softmax_rows,
    two_layer_logit_magnitude,
)
from .test_reference import BOOK_W, NUMGRAD_VS_ANALYTIC_ATOL, eps_aware_gradient

NAMES = R.nets.PARAM_NAMES


def reference_central_difference(net: R.TwoLayerNet, x, t, h, picks):
    """The reference's central difference for the chosen ``(name, index)`` parameters only,
    element by element as ``reference.numerical_gradient`` does (``central_difference``), so
    each value is bitwise what the full reference gives;
    ``test_partial_reference_is_the_reference`` checks that. It lets large networks be
    compared without 2 forward passes for every parameter.
    """
    loss = lambda w: net.loss(x, t)  # noqa: E731 - the book's idiom
    return np.array([central_difference(loss, net.params[name], idx, h) for name, idx in picks])


def pick_params(rng, params, n):
    picks = []
    for name in NAMES:
        shape = params[name].shape
        for _ in range(n):
            picks.append((name, tuple(int(rng.integers(0, s)) for s in shape)))
    return picks


def make_problem(rng, n_in, hidden, n_out, batch, *, std=0.01, zeros=0.0, dtype=np.float64):
    net = R.TwoLayerNet(n_in, hidden, n_out, weight_init_std=std, rng=rng)
    x = rng.random((batch, n_in)).astype(dtype)
    x[rng.random(x.shape) < zeros] = 0
    t = rng.integers(0, n_out, batch)
    return net, x, t


def kernel_grads(net, x, t, h=1e-4, **kw):
    return K.TwoLayerNet.from_params(net.params).numerical_gradient(x, t, h, **kw)


def test_partial_reference_is_the_reference(rng):
    net, x, t = make_problem(rng, 4, 3, 3, 5, std=0.5)
    full = net.numerical_gradient(x, t)
    picks = [(name, idx) for name in NAMES for idx in np.ndindex(net.params[name].shape)]
    part = reference_central_difference(net, x, t, 1e-4, picks)
    assert_array_equal(part, np.concatenate([full[k].ravel() for k in NAMES]))


@pytest.mark.parametrize("zeros", [0.0, 0.8])
def test_book_network_within_1e_10_of_reference(rng, zeros):
    # the workload: 784-50-10, batch 100, float32 inputs in [0, 1)
    net, x, t = make_problem(rng, 784, 50, 10, 100, zeros=zeros, dtype=np.float32)
    got = kernel_grads(net, x, t)
    picks = pick_params(rng, net.params, 60)
    ref = reference_central_difference(net, x, t, 1e-4, picks)
    mine = np.array([got[name][idx] for name, idx in picks])
    assert np.max(np.abs(mine - ref)) <= 1e-10
    assert np.max(np.abs(mine - ref)) <= reference_noise(net.loss(x, t), 1e-4)


def test_full_reference_small_network(rng):
    net, x, t = make_problem(rng, 12, 7, 4, 9, std=0.5, zeros=0.5)
    ref = net.numerical_gradient(x, t)
    got = kernel_grads(net, x, t)
    tol = reference_noise(net.loss(x, t), 1e-4)
    for k in NAMES:
        assert got[k].shape == ref[k].shape
        assert_allclose(got[k], ref[k], rtol=0, atol=tol)


def series_path_taken(params, x, h):
    """Which hidden units and whether the logits take the series path, by the kernel's own
    choice of truncation order (``kernels.nets._series_orders``; ``series.EXACT`` is the exact
    path)."""
    xmax = max(1.0, float(np.max(np.abs(x))))
    units, logits = KN._series_orders(np.ascontiguousarray(params["W2"]), h, xmax, False)
    return units != S.EXACT, logits != S.EXACT


SMALL_CASE = dict(
    batch=3,
    n_in=5,
    hidden=4,
    n_out=3,
    zeros=0.0,
    dtype=np.float64,
    layout="C",
    one_hot=False,
    std=0.01,
    x_scale=1.0,
    h=1e-4,
    seed=0,
)


def test_kernel_matches_reference_on_random_shapes():
    # h up to 0.1, unnormalised inputs up to 255 and weight scales on both sides of the
    # series guard: both the series and the exact path must be taken and agree
    seen = {"series": 0, "exact": 0}

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        batch=st.integers(1, 256),
        n_in=st.integers(1, 800),
        hidden=st.integers(1, 64),
        n_out=st.integers(2, 20),
        zeros=st.sampled_from([0.0, 0.5, 0.8, 1.0]),
        dtype=st.sampled_from([np.float32, np.float64]),
        layout=st.sampled_from(["C", "F", "strided", "readonly"]),
        one_hot=st.booleans(),
        std=st.sampled_from([0.01, 0.3, 2.0, 40.0]),
        x_scale=st.sampled_from([1.0, 1.0, 255.0]),
        h=st.sampled_from([1e-4, 1e-4, 1e-3, 0.1]),
        seed=st.integers(0, 2**32 - 1),
    )
    @example(**SMALL_CASE)  # the series path
    @example(**{**SMALL_CASE, "h": 0.1})  # the exact path
    # saturated units (std 40): logits summing magnitudes of 7e3 put the reference's own
    # rounding at 1.4e-13, above a tolerance taken from the loss alone (hypothesis found it)
    @example(
        batch=2,
        n_in=69,
        hidden=53,
        n_out=2,
        zeros=0.5,
        dtype=np.float32,
        layout="C",
        one_hot=False,
        std=40.0,
        x_scale=1.0,
        h=0.1,
        seed=69,
    )
    def check(batch, n_in, hidden, n_out, zeros, dtype, layout, one_hot, std, x_scale, h, seed):
        rng = np.random.default_rng(seed)
        net, x, t = make_problem(rng, n_in, hidden, n_out, batch, std=std, zeros=zeros, dtype=dtype)
        x *= dtype(x_scale)
        if layout == "F":
            x = np.asfortranarray(x)
        elif layout == "strided":
            wide = np.zeros((batch, 2 * n_in), dtype=dtype)
            wide[:, ::2] = x
            x = wide[:, ::2]
        elif layout == "readonly":
            x.flags.writeable = False
        target = np.eye(n_out)[t] if one_hot else t
        x_before = x.copy()
        units, logits = series_path_taken(net.params, x, h)
        seen["series"] += int(units.sum()) + int(logits)
        seen["exact"] += int((~units).sum()) + int(not logits)

        fnet = fastgrad.TwoLayerNet(n_in, hidden, n_out, backend="numba")
        fnet.params = {k: v.copy() for k, v in net.params.items()}
        got = fnet.numerical_gradient(x, target, h)

        picks = pick_params(rng, net.params, 6)
        with np.errstate(over="ignore"):  # saturated sigmoids at std 40: exp(-a) -> inf
            ref = reference_central_difference(net, x, target, h, picks)
            scale = two_layer_logit_magnitude(net.params, x)
            tol = reference_noise(net.loss(x, target), h, scale)
        mine = np.array([got[name][idx] for name, idx in picks])
        assert_allclose(mine, ref, rtol=0, atol=tol)
        assert_array_equal(x, x_before)
        for k in NAMES:
            assert got[k].shape == net.params[k].shape and got[k].dtype == np.float64

    check()
    assert seen["series"] > 0 and seen["exact"] > 0, seen


# -- the series path against an extended-precision oracle ---------------------------------


def longdouble_central_difference(params, x, t, h, name, idx):
    """``(L(theta + h e) - L(theta - h e)) / 2h`` with every step in 80-bit long double and
    exact row differences: an oracle ~1000x more precise than float64 for these small nets."""
    ld = np.longdouble

    def row_losses(shift):
        P = {k: v.astype(ld) for k, v in params.items()}
        P[name][idx] += shift
        a1 = x.astype(ld) @ P["W1"] + P["b1"]
        z1 = 1 / (1 + np.exp(-a1))
        a2 = z1 @ P["W2"] + P["b2"]
        a2 -= a2.max(axis=1, keepdims=True)
        y = np.exp(a2) / np.exp(a2).sum(axis=1, keepdims=True)
        return -np.log(y[np.arange(len(t)), t] + ld(1e-7))

    return float(np.sum(row_losses(ld(h)) - row_losses(-ld(h))) / len(t) / (2 * ld(h)))


@pytest.mark.skipif(np.finfo(np.longdouble).eps >= 1e-17, reason="no extended long double")
@pytest.mark.parametrize(
    ("spread", "x_scale"),
    [(0.01, 1.0), (1.0, 1.0), (5.0, 1.0), (19.5, 1.0), (1.0, 10.0), (0.3, 60.0)],
)
def test_series_path_against_long_double(rng, spread, x_scale):
    # ratio = h max|x| max(1, 4 spread(W2[j])) approaches SERIES_RATIO_MAX at the large
    # scales, where the truncation bound is weakest; the bound promises < 1e-14
    net, x, t = make_problem(rng, 6, 5, 4, 11, std=1.0)
    net.params["W2"] *= spread / np.ptp(net.params["W2"], axis=1).max()
    x *= x_scale
    assert 1e-4 * max(1.0, x.max()) * max(1.0, 4 * spread) <= S.SERIES_RATIO_MAX
    got = kernel_grads(net, x, t)
    for name in NAMES:
        for idx in np.ndindex(net.params[name].shape):
            oracle = longdouble_central_difference(net.params, x, t, 1e-4, name, idx)
            assert abs(got[name][idx] - oracle) <= 1e-14 + 1e-12 * abs(oracle), (name, idx)


# -- the truncation order, chosen per hidden unit ------------------------------------------


def oracle_tolerance(loss, h, exact):
    """How far the kernel may be from the long-double oracle.

    - The oracle's own rounding: ``reference_noise`` at long-double precision.
    - On the series path, the truncation bound the order rule keeps (7e-19 per row, so
      ``7e-19 / h`` on a gradient element; docs/design.md, "The truncation order"), the
      rounding of the higher terms' float32 products (at most ``F32_BUDGET`` per row for
      each of ``N_ODD - 1`` terms: the same 7e-19 again; "Single-precision corrections")
      and the float64 rounding of the polynomial sums (a few ulps of values below 2: 1e-15).
    - On the exact path, no truncation, but each perturbed row loss is rounded in float64
      before the difference: ``8 eps max(1, L) / 2h`` (a quarter of ``reference_noise``).
    """
    ld_noise = 32 * float(np.finfo(np.longdouble).eps) * max(1.0, loss) / (2 * h)
    if exact:
        return ld_noise + reference_noise(loss, h) / 4
    return ld_noise + (7e-19 + (S.N_ODD - 1) * F32_BUDGET) / h + 1e-15


def assert_matches_oracle(net, x, t, h, got, exact_units, exact_logits):
    loss = net.loss(x, t)
    for name in NAMES:
        for idx in np.ndindex(net.params[name].shape):
            unit = idx[-1] if name in ("W1", "b1") else None
            exact = exact_logits if unit is None else bool(exact_units[unit])
            oracle = longdouble_central_difference(net.params, x, t, h, name, idx)
            tol = oracle_tolerance(loss, h, exact)
            assert abs(got[name][idx] - oracle) <= tol, (name, idx, exact)


@pytest.mark.skipif(np.finfo(np.longdouble).eps >= 1e-17, reason="no extended long double")
@pytest.mark.parametrize(
    ("h", "order"), [(1e-7, 1), (1e-4, 3), (1e-3, 5), (5e-3, 7), (0.05, S.EXACT)]
)
def test_every_truncation_order_is_taken_and_correct(rng, h, order):
    # inputs in [0, 1] and W2 rows of spread <= 0.25: ratio = h, so each h lands in one order
    net, x, t = make_problem(rng, 6, 5, 4, 11, std=0.05)
    units, logits = KN._series_orders(np.ascontiguousarray(net.params["W2"]), h, 1.0, False)
    assert np.all(units == order), units
    got = kernel_grads(net, x, t, h)
    assert_matches_oracle(net, x, t, h, got, units == S.EXACT, logits == S.EXACT)


@pytest.mark.skipif(np.finfo(np.longdouble).eps >= 1e-17, reason="no extended long double")
def test_units_of_one_call_take_different_orders(rng):
    # W2 rows of different spreads put the units of one call in different orders (and one on
    # the exact path): the kernel groups the columns by order and must put each result back
    # in its own unit's place
    net, x, t = make_problem(rng, 7, 6, 4, 13, std=1.0)
    spreads = np.array([0.1, 1.0, 10.0, 0.2, 60.0, 4.0])
    W2 = net.params["W2"]
    W2 *= (spreads / np.ptp(W2, axis=1))[:, None]
    units, logits = KN._series_orders(np.ascontiguousarray(W2), 1e-4, 1.0, False)
    assert set(units.tolist()) == {3, 5, 7, S.EXACT}, units
    got = kernel_grads(net, x, t)
    assert_matches_oracle(net, x, t, 1e-4, got, units == S.EXACT, logits == S.EXACT)


@pytest.mark.parametrize("order", [1, 3, 5])
@pytest.mark.parametrize("w2_scale", [0.01, 1.0, 10.0])
def test_closed_form_unit_coefficients_are_the_series(rng, w2_scale, order):
    # orders 1, 3 and 5 of the hidden units take closed-form coefficients, order 7 the series
    # arithmetic: in one call both kinds meet, so they must agree, term by term
    N, K = 70, 7
    w = rng.normal(size=K) * w2_scale
    s, t, q = softmax_rows(rng, N, K, 3)
    a1 = rng.normal(size=N) * 4
    z1 = 1 / (1 + np.exp(-a1))
    zc = 1 / (1 + np.exp(a1))  # 1 - z1
    series = np.zeros((4, N))
    scratch = np.empty((6, order + 1, S.BLOCK))
    for lo in range(0, N, S.BLOCK):
        S.unit_series(w, s, t, q, zc, z1, lo, scratch, series)
    closed = np.zeros((4, N))
    S.unit_closed(w, np.ascontiguousarray(s.T), t, q, zc, z1, order, closed)
    terms = (order + 1) // 2
    assert np.all(series[terms:] == 0) and np.all(closed[terms:] == 0)
    for p in range(terms):
        assert_allclose(closed[p], series[p], rtol=0, atol=1e-13 * np.abs(series[p]).max())


def logit_series(s, t, q, k):
    N = s.shape[0]
    series = np.zeros((4, N))
    scratch = np.empty((4, 6, S.BLOCK))
    for lo in range(0, N, S.BLOCK):
        S.logit_row_series(s, t, q, k, lo, scratch, series)
    return series


@pytest.mark.parametrize("temperature", [0.1, 3.0])
def test_closed_form_logit_coefficients_are_the_series(rng, temperature):
    # logits up to order 5 take closed-form coefficients, the series arithmetic beyond: in
    # one call both kinds meet, so they must agree
    s, t, q = softmax_rows(rng, 70, 6, temperature)
    for k in range(6):
        series = logit_series(s, t, q, k)
        closed = np.zeros((4, 70))
        S.logit_closed(s, t, q, k, 5, closed)
        assert np.all(series[3] == 0) and np.all(closed[3] == 0)
        for p in range(3):
            assert_allclose(closed[p], series[p], rtol=0, atol=1e-13 * np.abs(series[p]).max())


@pytest.mark.parametrize("temperature", [0.1, 3.0, 30.0])
def test_closed_form_logit_coefficients_against_mpmath(rng, temperature):
    # against 80-digit Taylor coefficients of -log(p_t(u) + 1e-7) + log(p_t(0) + 1e-7), up to
    # saturated softmax rows (temperature 30), where the series arithmetic itself loses a few
    # digits on c5 (3e-12 relative, seen here) and the closed form does not
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 80
    N, K = 6, 5
    s, t, q = softmax_rows(rng, N, K, temperature)
    for k in range(K):
        closed = np.zeros((4, N))
        S.logit_closed(s, t, q, k, 5, closed)
        for n in range(N):
            row = [mpmath.mpf(float(v)) for v in s[n]]

            def g(u, row=row, n=n, k=k):
                e = [row[i] * (mpmath.exp(u) if i == k else 1) for i in range(K)]
                p = e[t[n]] / sum(e)
                return -mpmath.log(p + mpmath.mpf(1e-7)) + mpmath.log(row[t[n]] + mpmath.mpf(1e-7))

            taylor = mpmath.taylor(g, 0, 5)
            for p in range(3):
                exact = float(taylor[2 * p + 1])
                # a few roundings of terms no larger than the coefficient's own scale; below
                # 1e-40 a coefficient moves no gradient (and the oracle's finite differences
                # at 80 digits lose it against the O(1) logarithms)
                assert abs(closed[p, n] - exact) <= 64 * EPS * abs(exact) + 1e-40, (k, n, p)


@pytest.mark.parametrize(
    ("h", "x_scale", "w2_scale"), [(0.05, 1.0, 1.0), (1e-4, 255.0, 1.0), (1e-4, 1.0, 100.0)]
)
def test_exact_fallback_matches_reference(rng, h, x_scale, w2_scale):
    # large h, unnormalised pixels, huge weights: the series bound fails, the kernel must
    # evaluate the perturbed losses directly and still agree with the reference
    net, x, t = make_problem(rng, 10, 6, 5, 8, std=0.5)
    x *= x_scale
    net.params["W2"] *= w2_scale
    ref = net.numerical_gradient(x, t, h)
    got = kernel_grads(net, x, t, h)
    tol = reference_noise(net.loss(x, t), h)
    for k in NAMES:
        assert_allclose(got[k], ref[k], rtol=0, atol=tol)


def test_mixed_series_and_exact_units(rng):
    # the guard is per hidden unit: two units with huge W2 rows take the exact path, the
    # others the series; both kinds must agree with the reference in one call
    net, x, t = make_problem(rng, 12, 6, 4, 9, std=0.5, zeros=0.4)
    net.params["W2"][0] *= 200
    net.params["W2"][3] *= 50
    ref = net.numerical_gradient(x, t)
    got = kernel_grads(net, x, t)
    tol = reference_noise(net.loss(x, t), 1e-4)
    for k in NAMES:
        assert_allclose(got[k], ref[k], rtol=0, atol=tol)


def test_forced_exact_agrees_with_series(rng):
    net, x, t = make_problem(rng, 30, 9, 6, 40, std=0.3, zeros=0.6)
    series = kernel_grads(net, x, t)
    exact = kernel_grads(net, x, t, exact=True)
    for k in NAMES:
        # the exact path rounds sigmoid(a + d) - sigmoid(a) (cancellation ~eps), ~1e-12
        assert_allclose(series[k], exact[k], rtol=0, atol=reference_noise(net.loss(x, t), 1e-4))


@pytest.mark.parametrize("scale", [300.0, 1000.0])
def test_extreme_logits_and_saturated_sigmoids(rng, scale):
    net, x, t = make_problem(rng, 8, 5, 4, 6, std=1.0)
    net.params["W1"] *= scale  # pre-activations of hundreds: saturated sigmoids
    net.params["W2"] *= scale  # logits of +-1000
    with np.errstate(over="ignore"):  # the book's sigmoid overflows exp(-a) to inf: fine
        ref = net.numerical_gradient(x, t)
        loss = net.loss(x, t)
    got = kernel_grads(net, x, t)
    tol = reference_noise(loss, 1e-4)
    for k in NAMES:
        assert np.all(np.isfinite(got[k]))
        assert_allclose(got[k], ref[k], rtol=0, atol=tol)


def test_saturated_sigmoid_on_the_series_path(rng):
    # a unit whose pre-activation is below -745 (exp(-a) overflows, z = 0) while its W2 row is
    # small (the series path): 1 - z must be 1, not inf * 0 (a NaN hypothesis found)
    net, x, t = make_problem(rng, 8, 4, 3, 6, std=0.01)
    net.params["W1"][:, 1] = -1000.0
    net.params["W1"][:, 2] = 1000.0
    units, _ = series_path_taken(net.params, x, 1e-4)
    assert units.all()
    with np.errstate(over="ignore"):
        ref = net.numerical_gradient(x, t)
        loss = net.loss(x, t)
    got = kernel_grads(net, x, t)
    for k in NAMES:
        assert np.all(np.isfinite(got[k]))
        assert_allclose(got[k], ref[k], rtol=0, atol=reference_noise(loss, 1e-4))


def test_kernel_numerical_matches_analytic(rng):
    net, x, t = make_problem(rng, 20, 8, 5, 30, std=0.5)
    got = kernel_grads(net, x, t)
    exact = eps_aware_gradient(net, x, t)
    for k in NAMES:
        assert_allclose(got[k], exact[k], atol=NUMGRAD_VS_ANALYTIC_ATOL)


def test_backprop_forward_and_loss_twins(rng):
    net, x, t = make_problem(rng, 30, 10, 7, 25, std=0.5)
    knet = K.TwoLayerNet.from_params(net.params)
    ref_g, ker_g = net.gradient(x, t), knet.gradient(x, t)
    for k in NAMES:
        assert_allclose(ker_g[k], ref_g[k], rtol=1e-12, atol=1e-15)
    assert_allclose(knet.predict(x), net.predict(x), rtol=1e-13)
    assert knet.loss(x, t) == pytest.approx(net.loss(x, t), rel=1e-13)
    assert knet.accuracy(x, t) == net.accuracy(x, t)


@pytest.mark.parametrize("cls", [K.TwoLayerNet, R.TwoLayerNet])
def test_same_initialisation_as_the_book(cls):
    # the book: weight_init_std * randn(...) for W1, then W2; zero biases
    draws = np.random.default_rng(7)
    W1, W2 = 0.5 * draws.standard_normal((20, 5)), 0.5 * draws.standard_normal((5, 3))
    net = cls(20, 5, 3, weight_init_std=0.5, rng=7)
    for k, want in zip(NAMES, (W1, np.zeros(5), W2, np.zeros(3)), strict=True):
        assert_array_equal(net.params[k], want)


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
    # the public twin does no validation for the front door's sake, but no input may make
    # a kernel read outside its arrays: labels and widths are checked
    net = K.TwoLayerNet(4, 3, 3, rng=0)
    with pytest.raises(ValueError, match=match):
        call(net, np.ones((3, 4)))


def test_twin_class_refuses_params_that_do_not_chain():
    net = K.TwoLayerNet(4, 3, 3, rng=0)
    net.params["b1"] = np.zeros(5)
    with pytest.raises(ValueError, match="params do not chain"):
        net.numerical_gradient(np.ones((2, 4)), [0, 1])
    snet = K.SimpleNet(W=BOOK_W)
    with pytest.raises(ValueError, match=r"x has shape \(1, 3\)"):
        snet.numerical_gradient(np.ones((1, 3)), [0])
    with pytest.raises(ValueError, match="outside"):
        snet.numerical_gradient(np.ones((1, 2)), [3])


# -- determinism and concurrency ---------------------------------------------------------


@pytest.mark.parametrize("zeros", [0.0, 0.8])
def test_bitwise_identical_for_any_thread_count(rng, num_threads, zeros):
    net, x, t = make_problem(rng, 50, 13, 6, 70, std=0.3, zeros=zeros)
    series, exact = [], []
    for n in THREAD_COUNTS:
        num_threads(n)
        series.append(kernel_grads(net, x, t))
        exact.append(kernel_grads(net, x, t, exact=True))
    for runs in (series, exact):
        for other in runs[1:]:
            for k in NAMES:
                assert_array_equal(other[k], runs[0][k])


def test_threading_layer_is_thread_safe():
    kernel_grads(*make_problem(np.random.default_rng(0), 3, 2, 2, 2))
    assert numba.threading_layer() in ("tbb", "omp")


def test_concurrent_calls_from_python_threads(rng):
    problems = [make_problem(rng, 40, 8, 5, 30, std=0.3, zeros=0.5) for _ in range(6)]
    expected = [kernel_grads(*p) for p in problems]
    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        for _ in range(3):
            got = list(pool.map(lambda p: kernel_grads(*p), problems))
            for g, e in zip(got, expected, strict=True):
                for k in NAMES:
                    assert_array_equal(g[k], e[k])


def test_inputs_never_modified(rng):
    net, x, t = make_problem(rng, 10, 4, 3, 5, std=0.5)
    before = {k: v.copy() for k, v in net.params.items()}
    x_before, t_before = x.copy(), t.copy()
    fnet = fastgrad.TwoLayerNet(10, 4, 3)
    fnet.params = net.params
    for method in ("numerical_gradient", "gradient", "loss", "accuracy"):
        getattr(fnet, method)(x, t)
    for k in NAMES:
        assert_array_equal(net.params[k], before[k])
    assert_array_equal(x, x_before)
    assert_array_equal(t, t_before)


# -- SimpleNet ----------------------------------------------------------------------------


def test_simplenet_worked_example_on_kernels():
    x, t = np.array([0.6, 0.9]), np.array([0, 0, 1])
    ref = R.SimpleNet(W=BOOK_W)
    ker = K.SimpleNet(W=BOOK_W)
    expected = [[0.24237012, 0.17049818, -0.4128683], [0.36355518, 0.25574726, -0.61930245]]
    got = ker.numerical_gradient(x, t)
    assert_allclose(got, expected, atol=1e-7)
    assert_allclose(
        got, ref.numerical_gradient(x, t), rtol=0, atol=reference_noise(ref.loss(x, t), 1e-4)
    )
    assert_allclose(ker.predict(x), ref.predict(x), rtol=1e-15)
    assert ker.loss(x, t) == pytest.approx(ref.loss(x, t), rel=1e-14)


def test_simplenet_batches(rng):
    W = rng.normal(size=(2, 3))
    x = rng.normal(size=(17, 2))
    t = rng.integers(0, 3, 17)
    ref = R.SimpleNet(W=W)
    got = K.SimpleNet(W=W).numerical_gradient(x, t)
    assert_allclose(
        got, ref.numerical_gradient(x, t), rtol=0, atol=reference_noise(ref.loss(x, t), 1e-4)
    )
