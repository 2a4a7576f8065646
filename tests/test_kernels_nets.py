"""The TwoLayerNet and SimpleNet kernels against their reference twins."""

from __future__ import annotations

import concurrent.futures

import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

import fastgrad
from fastgrad import kernels as K
from fastgrad import reference as R
from fastgrad.kernels import nets as KN

from .conftest import THREAD_COUNTS, reference_noise
from .test_reference import BOOK_W, NUMGRAD_VS_ANALYTIC_ATOL, eps_aware_gradient

NAMES = R.nets.PARAM_NAMES


def reference_central_difference(net: R.TwoLayerNet, x, t, h, picks):
    """The reference's central difference for the chosen ``(name, index)`` parameters only.

    The same five steps as ``reference.numerical_gradient`` for one element (perturb in place,
    loss, perturb, loss, restore), so each value is bitwise what the full reference gives;
    ``test_partial_reference_is_the_reference`` checks that. It lets large networks be
    compared without 2 forward passes for every parameter.
    """
    out = []
    for name, idx in picks:
        p = net.params[name]
        tmp_val = p[idx]
        p[idx] = float(tmp_val) + h
        fxh1 = net.loss(x, t)
        p[idx] = tmp_val - h
        fxh2 = net.loss(x, t)
        p[idx] = tmp_val
        out.append((fxh1 - fxh2) / (2 * h))
    return np.array(out)


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


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    batch=st.integers(1, 256),
    n_in=st.integers(1, 800),
    hidden=st.integers(1, 64),
    n_out=st.integers(2, 20),
    zeros=st.sampled_from([0.0, 0.5, 0.8, 1.0]),
    dtype=st.sampled_from([np.float32, np.float64]),
    layout=st.sampled_from(["C", "F", "strided", "readonly"]),
    one_hot=st.booleans(),
    std=st.sampled_from([0.01, 0.3, 2.0]),
    seed=st.integers(0, 2**32 - 1),
)
def test_kernel_matches_reference_on_random_shapes(
    batch, n_in, hidden, n_out, zeros, dtype, layout, one_hot, std, seed
):
    rng = np.random.default_rng(seed)
    net, x, t = make_problem(rng, n_in, hidden, n_out, batch, std=std, zeros=zeros, dtype=dtype)
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

    fnet = fastgrad.TwoLayerNet(n_in, hidden, n_out, backend="numba")
    fnet.params = {k: v.copy() for k, v in net.params.items()}
    got = fnet.numerical_gradient(x, target)

    picks = pick_params(rng, net.params, 6)
    ref = reference_central_difference(net, x, target, 1e-4, picks)
    mine = np.array([got[name][idx] for name, idx in picks])
    assert_allclose(mine, ref, rtol=0, atol=reference_noise(net.loss(x, target), 1e-4))
    assert_array_equal(x, x_before)
    for k in NAMES:
        assert got[k].shape == net.params[k].shape and got[k].dtype == np.float64


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
    assert 1e-4 * max(1.0, x.max()) * max(1.0, 4 * spread) <= KN.SERIES_RATIO_MAX
    got = kernel_grads(net, x, t)
    for name in NAMES:
        for idx in np.ndindex(net.params[name].shape):
            oracle = longdouble_central_difference(net.params, x, t, 1e-4, name, idx)
            assert abs(got[name][idx] - oracle) <= 1e-14 + 1e-12 * abs(oracle), (name, idx)


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


def test_same_initialisation_as_reference():
    a = K.TwoLayerNet(20, 5, 3, rng=7)
    b = R.TwoLayerNet(20, 5, 3, rng=7)
    for k in NAMES:
        assert_array_equal(a.params[k], b.params[k])


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
