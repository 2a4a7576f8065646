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
    assert set(fastgrad.BACKENDS) == {"numpy", "numba", "dask"}


def test_unknown_backend_lists_choices():
    with pytest.raises(ValueError, match="choose one of 'numpy', 'numba', 'dask'$"):
        fastgrad.TwoLayerNet(3, 2, 2, backend="torch")
    with pytest.raises(ValueError, match="choose one of 'numpy', 'numba', 'dask'$"):
        fastgrad.SimpleNet(backend="gpu")


def test_same_seed_same_params_on_every_backend(backend):
    # the book's initialisation, written out: weight_init_std * randn for W1 then W2, zero
    # biases, from the generator that the seed makes
    draws = np.random.default_rng(5)
    expected = {
        "W1": 0.01 * draws.standard_normal((30, 6)),
        "b1": np.zeros(6),
        "W2": 0.01 * draws.standard_normal((6, 4)),
        "b2": np.zeros(4),
    }
    net = fastgrad.TwoLayerNet(30, 6, 4, backend=backend, rng=5)
    for k in NAMES:
        assert_array_equal(net.params[k], expected[k])
        assert net.params[k].dtype == np.float64


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
    assigned = net.loss(x, t)
    assert assigned != before
    net.params["b2"][0] += 1.0  # updated in place (one logit: softmax sees it)
    updated = net.loss(x, t)
    assert updated != assigned
    grads = net.numerical_gradient(x, t)
    for k in NAMES:
        net.params[k] -= 0.1 * grads[k]  # the book's SGD step, in place
    assert net.loss(x, t) < updated  # a small step along -grad lowers the loss


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
    ("call", "error", "match"),
    [
        (lambda n: n.loss(np.ones((2, 783)), [0, 1]), ValueError, "784 inputs"),
        (lambda n: n.loss(np.ones((2, 784)), [0, 10]), ValueError, "label 10 out of range"),
        (lambda n: n.loss(np.ones((2, 784)), [0, -1]), ValueError, "out of range"),
        (lambda n: n.loss(np.ones((2, 784)), np.ones((2, 9))), ValueError, "one-hot shape"),
        (lambda n: n.loss(np.ones((2, 784)), [0, 1, 2]), ValueError, "expected 2 integer labels"),
        # as many entries as one-hot rows would have, but 1-D: labels of the wrong count
        (lambda n: n.loss(np.ones((5, 784)), np.arange(50) % 10), ValueError, "expected 5"),
        (lambda n: n.loss(np.ones((0, 784)), []), ValueError, "empty batch"),
        (lambda n: n.loss(np.full((1, 784), np.nan), [0]), ValueError, "NaN"),
        (lambda n: n.loss(np.ones((1, 784)), [0.5]), ValueError, "non-integer"),
        (lambda n: n.numerical_gradient(np.ones((1, 784)), [0], h=0.0), ValueError, "h must be"),
        (lambda n: n.numerical_gradient(np.ones((1, 784)), [0], h=-1e-4), ValueError, "h must"),
        (lambda n: n.numerical_gradient(np.ones((1, 784)), [0], h=np.inf), ValueError, "finite"),
        (lambda n: n.predict(np.ones((2, 2, 784))), ValueError, "shape"),
        (lambda n: n.predict(np.array([["a"] * 784])), TypeError, "numeric"),
    ],
)
def test_two_layer_bad_input_on_every_backend(backend, call, error, match):
    net = fastgrad.TwoLayerNet(784, 5, 10, backend=backend, rng=0)
    with pytest.raises(error, match=match):
        call(net)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda p: p.update(W1=np.ones((784, 6))), r"W1 has shape \(784, 6\).*784-5-10"),
        (lambda p: p.update(b1=np.ones(6)), r"b1 has shape \(6,\).*needs \(5,\)"),
        (lambda p: p.update(W2=np.full((5, 10), np.nan)), "W2 contains NaN"),
        (lambda p: p.update(W2=np.ones((5, 1))), r"W2 has shape \(5, 1\)"),
        (lambda p: p.pop("b2"), "keys"),
        (lambda p: p.update(W1=np.ones(3)), r"W1 has shape \(3,\)"),
    ],
)
def test_bad_params(backend, change, match):
    net = fastgrad.TwoLayerNet(784, 5, 10, backend=backend, rng=0)
    change(net.params)
    with pytest.raises(ValueError, match=match):
        net.loss(np.ones((1, 784)), [0])


NETWORKS = {
    "two-layer": lambda backend: fastgrad.TwoLayerNet(784, 5, 10, backend=backend, rng=0),
    "multilayer": lambda backend: fastgrad.MultiLayerNet(784, [5], 10, backend=backend, rng=0),
}


@pytest.mark.parametrize("network", NETWORKS)
@pytest.mark.parametrize("where", ["W1", "b1", "W2", "b2", "x", "x float32"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_non_finite_value_anywhere_is_named(backend, network, where, bad):
    # the numba backend checks finiteness by one compiled pass per array (float64 and
    # float32, large and small arrays, the last element), the numpy backend by NumPy's
    # isfinite: the same error on both
    net = NETWORKS[network](backend)
    x = np.ones((2, 784), dtype=np.float32 if where == "x float32" else np.float64)
    if where.startswith("x"):
        x[1, -1] = bad
    else:
        net.params[where] = net.params[where].copy()
        net.params[where].reshape(-1)[-1] = bad
    name = where.split()[0]
    for call in (net.numerical_gradient, net.loss, net.gradient):
        with pytest.raises(ValueError, match=f"^{name} contains NaN or infinite values$"):
            call(x, [0, 1])


@pytest.mark.parametrize("network", NETWORKS)
@pytest.mark.parametrize("where", ["W1", "b2"])
def test_the_step_is_checked_against_the_largest_parameter(backend, network, where):
    # the scale of the step's check is max |params|, whichever array holds it, negative too
    net = NETWORKS[network](backend)
    x, t = np.ones((2, 784)), [0, 1]
    x[:, -1] = 0.0  # the last input meets W1's last row: no overflow in the reference
    net.params[where] = net.params[where].copy()
    net.params[where].reshape(-1)[-1] = -1e12
    with pytest.raises(ValueError, match="too small for parameters as large as 1e"):
        net.numerical_gradient(x, t, h=1e-4)
    net.params[where].reshape(-1)[-1] = -1e6
    assert np.isfinite(net.numerical_gradient(x, t, h=1e-4)[where]).all()


# -- the book's idiom: f reads the array being nudged (section 4.4.2) -----------------------

BOOK_DW = [[0.21924763, 0.14356247, -0.36281009], [0.32887144, 0.2153437, -0.54421514]]
BOOK_EXAMPLE_W = [[0.47355232, 0.9977393, 0.84668094], [0.85557411, 0.03563661, 0.69422093]]


def test_book_idiom_through_the_front_door(backend):
    # the chapter's worked example, as the book writes it: f ignores its argument and reads
    # net.W, so the front door must nudge net.W itself (on either network backend)
    net = fastgrad.SimpleNet(W=BOOK_EXAMPLE_W, backend=backend)
    x, t = np.array([0.6, 0.9]), np.array([0, 0, 1])
    W_before = net.W.copy()
    dW = fastgrad.numerical_gradient(lambda w: net.loss(x, t), net.W)
    # the book prints W rounded to 8 digits; the dW of the rounded W differs from the printed
    # dW by up to 1.4e-7 (and is 0 everywhere when the idiom is broken)
    assert_allclose(dW, BOOK_DW, rtol=0, atol=2e-7)
    assert_array_equal(net.W, W_before)
    assert_array_equal(dW, R.numerical_gradient(lambda w: net.loss(x, t), net.W))


def test_book_idiom_on_two_layer_params(backend, rng):
    net = fastgrad.TwoLayerNet(6, 4, 3, weight_init_std=0.5, backend=backend, rng=0)
    x, t = rng.random((5, 6)), np.array([0, 1, 2, 0, 1])
    before = {k: v.copy() for k, v in net.params.items()}
    want = net.numerical_gradient(x, t)
    for k in NAMES:
        got = fastgrad.numerical_gradient(lambda w: net.loss(x, t), net.params[k])
        assert_allclose(got, want[k], rtol=0, atol=reference_noise(net.loss(x, t), 1e-4))
        assert_array_equal(net.params[k], before[k])


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyboardInterrupt()])
def test_in_place_nudge_restored_when_f_raises(rng, exc):
    x = rng.normal(size=(3, 4))[:, ::2]  # non-contiguous: still nudged in place
    before = x.copy()
    calls = []

    def f(v):
        assert v is x  # the caller's own array, as in the book
        calls.append(1)
        if len(calls) == 5:
            raise exc
        return float(np.sum(v**2))

    with pytest.raises(type(exc)):
        fastgrad.numerical_gradient(f, x)
    assert_array_equal(x, before)


def read_only(a):
    a.flags.writeable = False
    return a


@pytest.mark.parametrize(
    ("make", "why"),
    [(lambda W: W.astype(np.float16), "dtype float16"), (read_only, "read-only")],
)
def test_book_idiom_on_an_array_that_cannot_be_nudged_is_an_error(make, why):
    x, t = np.array([0.6, 0.9]), np.array([0, 0, 1])
    net = fastgrad.SimpleNet(W=BOOK_EXAMPLE_W, backend="numpy")
    net.W = make(net.W.copy())
    with pytest.raises(ValueError, match=f"(?s){why}.*lambda w: net.loss"):
        fastgrad.numerical_gradient(lambda w: net.loss(x, t), net.W)


def test_zero_gradient_of_a_function_that_uses_its_argument_is_kept():
    # a legitimate exact zero on a copied input (read-only, float32) is not the idiom error
    ro = np.zeros(3)
    ro.flags.writeable = False
    for x in (ro, np.zeros(3, dtype=np.float32)):
        assert_array_equal(fastgrad.numerical_gradient(lambda v: float(np.sum(v**2)), x), 0.0)


# -- steps the double-precision nudge cannot resolve, or too large for a derivative ----------


@pytest.mark.parametrize("h", [1e-50, 1e-310, 1e-15, 0.5, 1e300])
def test_steps_outside_the_working_range_are_rejected_on_every_backend(backend, h):
    import numba

    net = fastgrad.TwoLayerNet(6, 4, 3, backend=backend, rng=0)
    x, t = np.ones((2, 6)), [0, 1]
    with pytest.raises(ValueError, match=r"h=.* too (small|large).*use h in \["):
        net.numerical_gradient(x, t, h=h)
    with pytest.raises(ValueError, match=r"h=.* too (small|large)"):
        fastgrad.SimpleNet(W=BOOK_W, backend=backend).numerical_gradient(np.ones(2), 0, h=h)
    f = numba.njit(lambda v: np.sum(v**2)) if backend == "numba" else lambda v: np.sum(v**2)
    with pytest.raises(ValueError, match=r"h=.* too (small|large)"):
        fastgrad.numerical_gradient(f, np.ones(3), h=h, backend=backend)


def test_step_range_scales_with_the_parameters():
    # 1e-12 resolves a nudge of parameters near 1 but not of parameters near 1e6, and 50 is
    # a derivative step only for parameters of that size
    f = lambda v: float(np.sum(v**2))  # noqa: E731
    fastgrad.numerical_gradient(f, np.ones(2), h=1e-12)
    with pytest.raises(ValueError, match="too small for parameters as large as 1e"):
        fastgrad.numerical_gradient(f, np.array([1.0, 1e6]), h=1e-12)
    with pytest.raises(ValueError, match="too large"):
        fastgrad.numerical_gradient(f, np.ones(2), h=50.0)
    assert_allclose(fastgrad.numerical_gradient(f, np.array([1e3, 2e3]), h=50.0), [2e3, 4e3])
    # the scale is max |x|: a large negative parameter counts as much as a positive one
    with pytest.raises(ValueError, match="too small for parameters as large as 1e"):
        fastgrad.numerical_gradient(f, np.array([1.0, -1e6]), h=1e-12)
    assert_allclose(fastgrad.numerical_gradient(f, np.array([-1e3, -2e3]), h=50.0), [-2e3, -4e3])


def test_largest_accepted_step_works_on_every_backend(backend, rng):
    net = fastgrad.TwoLayerNet(5, 3, 2, backend=backend, rng=0)
    x, t = rng.random((4, 5)), [0, 1, 1, 0]
    grads = net.numerical_gradient(x, t, h=0.1)
    assert all(np.all(np.isfinite(g)) for g in grads.values())


# -- one output class ---------------------------------------------------------------------


def test_one_output_class_is_refused_alike_on_every_backend(backend):
    with pytest.raises(ValueError, match="output_size must be at least 2: a softmax over one"):
        fastgrad.TwoLayerNet(4, 3, 1, backend=backend)
    with pytest.raises(ValueError, match="output_size must be at least 2"):
        R.TwoLayerNet(4, 3, 1)
    net = fastgrad.TwoLayerNet(4, 3, 2, backend=backend, rng=0)
    net.params["W2"], net.params["b2"] = net.params["W2"][:, :1], net.params["b2"][:1]
    with pytest.raises(ValueError, match=r"W2 has shape \(3, 1\)"):
        net.numerical_gradient(np.ones((2, 4)), [0, 0])


def test_a_region_holds_blas_at_one_thread_and_restores_it():
    # the generic kernel runs the user's f under this region: BLAS at 1 thread inside (its
    # threads and Numba's would oversubscribe the cores), the caller's setting afterwards,
    # also when the body raises
    from threadpoolctl import threadpool_info, threadpool_limits

    from fastgrad._threads import region

    def blas_threads():
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    with threadpool_limits(limits=2, user_api="blas"):
        assert blas_threads() and all(n == 2 for n in blas_threads())
        with region("test", blas=True):
            assert all(n == 1 for n in blas_threads())
        assert all(n == 2 for n in blas_threads())
        with pytest.raises(RuntimeError), region("test", blas=True):
            raise RuntimeError("f failed")
        assert all(n == 2 for n in blas_threads())


@pytest.mark.parametrize(
    ("module", "make"),
    [
        ("nets", lambda K: K.TwoLayerNet(6, 4, 3, rng=0)),
        ("multilayer", lambda K: K.MultiLayerNet(6, [5, 4], 3, rng=0)),
    ],
)
def test_every_network_kernel_call_holds_blas_at_one_thread(monkeypatch, module, make):
    # the forward passes and the sums are single-threaded BLAS products inside Numba's
    # threads: with BLAS's own threads on top, a MultiLayerNet forward pass took 11.9 ms
    # instead of 0.9 ms here
    import contextlib
    import importlib

    K = importlib.import_module(f"fastgrad.kernels.{module}")
    seen = []

    @contextlib.contextmanager
    def spy(key, *, blas=False):
        seen.append(blas)
        yield 1

    monkeypatch.setattr(K, "region", spy)
    net, x, t = make(K), np.random.default_rng(0).random((4, 6)), [0, 1, 2, 0]
    net.predict(x)
    for call in (net.loss, net.accuracy, net.numerical_gradient, net.gradient):
        call(x, t)
    assert seen == [True] * 5


@pytest.mark.parametrize(
    "make",
    [
        lambda b: fastgrad.TwoLayerNet(4, 3, 10, backend=b, rng=0),
        lambda b: fastgrad.MultiLayerNet(4, [3, 3], 10, backend=b, rng=0),
    ],
    ids=["TwoLayerNet", "MultiLayerNet"],
)
def test_a_1d_target_is_labels_of_the_batch_count(backend, make):
    net = make(backend)
    x = np.random.default_rng(0).random((5, 4))
    for call in (net.loss, net.accuracy, net.gradient, net.numerical_gradient):
        with pytest.raises(ValueError, match=r"t has shape \(50,\); expected 5 integer labels"):
            call(x, np.arange(50) % 10)
    # one-hot rows and one sample's 1-D one-hot target keep the book's meaning
    t = np.arange(5) % 10
    assert net.loss(x, np.eye(10)[t]) == net.loss(x, t)
    assert net.loss(x[0], np.eye(10)[3]) == net.loss(x[:1], [3])


def test_the_kernel_loss_refuses_labels_of_the_wrong_count():
    y = np.full((5, 10), 0.1)
    with pytest.raises(ValueError, match="one integer label per row"):
        fastgrad.kernels.cross_entropy_error(y, np.arange(50) % 10)
    assert fastgrad.kernels.cross_entropy_error(y, np.eye(10)[:5]) == pytest.approx(-np.log(0.1))


# -- repr (issue 21, deliverable 4) ----------------------------------------------------------


def test_repr_of_every_network_names_its_sizes_and_backend():
    assert repr(fastgrad.SimpleNet(backend="numpy")) == "SimpleNet(2 -> 3, backend='numpy')"
    net = fastgrad.TwoLayerNet(784, 50, 10)
    assert repr(net) == "TwoLayerNet(784, 50, 10, backend='numba')"
    assert str(net) == repr(net)  # print(net) shows it too
    assert repr(fastgrad.TwoLayerNet(4, 3, 2, backend="numpy")) == (
        "TwoLayerNet(4, 3, 2, backend='numpy')"
    )
    deep = fastgrad.MultiLayerNet(784, [100, 100], 10)
    assert repr(deep) == "MultiLayerNet(784, [100, 100], 10, activation='relu', backend='numba')"


def test_repr_of_multilayer_net_shows_activation_and_nonzero_weight_decay():
    net = fastgrad.MultiLayerNet(4, [3], 2, "sigmoid", "sigmoid", np.float64(0.1), backend="numpy")
    assert repr(net) == (
        "MultiLayerNet(4, [3], 2, activation='sigmoid', weight_decay_lambda=0.1, backend='numpy')"
    )
    net.weight_decay_lambda = 0  # the book's attribute, read at every call: so is the repr
    assert "weight_decay" not in repr(net)
