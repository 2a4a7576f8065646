"""fastgrad.training's loop (``_loop``), its arguments (``_settings``) and its history
(``_history``); the helpers the other training tests share.

The problems are small and synthetic (6 inputs, 3 classes that a linear teacher assigns) so
that the loop is cheap; the numpy backend with backprop keeps most tests fast, and the numba
numerical gradient, the package's main path, runs where the result must not depend on it.
Callbacks: test_training_callbacks.py; checkpoints and resuming: test_training_checkpoints.py.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import fastgrad
from fastgrad.training import DivergenceError, History, load_checkpoint, train
from fastgrad.training._settings import as_optimizer, net_shape

N_IN, N_HIDDEN, N_OUT = 6, 5, 3
PARAMS = ("W1", "b1", "W2", "b2")


def make_problem(seed: int = 0, n_train: int = 300, n_test: int = 100):
    """Float32 rows in [0, 1) (like normalised MNIST), labels from a fixed linear teacher."""
    rng = np.random.default_rng(seed)
    teacher = rng.standard_normal((N_IN, N_OUT))
    x = rng.random((n_train + n_test, N_IN)).astype(np.float32)
    t = np.argmax((x - 0.5) @ teacher, axis=1).astype(np.uint8)
    return x[:n_train], t[:n_train], x[n_train:], t[n_train:]


@pytest.fixture(scope="module")
def problem():
    return make_problem()


def new_net(backend: str = "numpy", hidden: int = N_HIDDEN, seed: int = 1):
    # Initial weights of std 1, not the book's 0.01: the tiny sigmoid net then leaves its
    # plateau within a few dozen iterations.
    return fastgrad.TwoLayerNet(N_IN, hidden, N_OUT, 1.0, backend=backend, rng=seed)


FAST = {"iters": 60, "batch_size": 20, "lr": 1.0, "grad": "backprop", "seed": 3, "progress": False}


def run(problem, net=None, **kwargs):
    net = new_net() if net is None else net
    return net, train(net, *problem, **{**FAST, **kwargs})


def assert_same_params(a, b):
    for k in PARAMS:
        assert_array_equal(a[k], b[k], err_msg=k)


TIMINGS = ("iter_time", "grad_time", "total_time")


def assert_same_history(got: History, expected: History):
    """Every field that does not measure time is equal; the timings have one entry per
    iteration."""
    for f in dataclasses.fields(History):
        if f.name not in TIMINGS:
            assert getattr(got, f.name) == getattr(expected, f.name), f.name
    assert len(got.iter_time) == len(got.grad_time) == got.iterations


DEEP = (N_IN, [5, 4], N_OUT)


def deep_net(backend="numpy", seed=1, **kwargs):
    return fastgrad.MultiLayerNet(*DEEP, backend=backend, rng=seed, **kwargs)


# -- the loop -----------------------------------------------------------------------------


def test_same_seed_same_history_and_params(problem):
    net1, h1 = run(problem)
    net2, h2 = run(problem)
    assert h1.loss == h2.loss
    assert (h1.train_acc, h1.test_acc, h1.epoch_iters) == (
        h2.train_acc,
        h2.test_acc,
        h2.epoch_iters,
    )
    assert_same_params(net1.params, net2.params)
    _, h3 = run(problem, seed=4)
    assert h3.loss != h1.loss


def test_is_the_books_loop(problem):
    """Replays train_neuralnet.py by hand: same batches, update, loss and accuracies."""
    x, t, xt, tt = problem
    net, h = run(problem, iters=25, eval_every=10)
    book = new_net()
    rng = np.random.default_rng(FAST["seed"])
    losses, train_acc, test_acc = [], [], []
    for i in range(25):
        batch_mask = rng.choice(x.shape[0], FAST["batch_size"])
        x_batch, t_batch = x[batch_mask], t[batch_mask]
        grad = book.gradient(x_batch, t_batch)
        for key in PARAMS:
            book.params[key] -= FAST["lr"] * grad[key]
        losses.append(book.loss(x_batch, t_batch))
        if i % 10 == 0 or i == 24:
            train_acc.append(book.accuracy(x, t))
            test_acc.append(book.accuracy(xt, tt))
    assert h.loss == losses
    assert h.train_acc == train_acc
    assert h.test_acc == test_acc
    assert h.epoch_iters == [0, 10, 20, 24]
    assert_same_params(net.params, book.params)


def test_history_records_every_iteration(problem):
    _, h = run(problem)  # 300 rows / batch 20: an epoch is 15 iterations
    assert h.iterations == len(h.loss) == len(h.iter_time) == len(h.grad_time) == 60
    assert h.epoch_iters == [0, 15, 30, 45, 59]
    assert len(h.train_acc) == len(h.test_acc) == 5
    assert all(0.0 <= a <= 1.0 for a in h.train_acc + h.test_acc)
    assert all(g <= it for g, it in zip(h.grad_time, h.iter_time, strict=True))
    assert h.total_time >= sum(h.iter_time)
    assert h.loss[-1] < h.loss[0]  # it learns
    assert h.train_acc[-1] > 0.8


def test_numba_numerical_training_is_deterministic(problem):
    """The package's main path, central differences on the numba kernels: rerun, the same
    bits."""
    net1, h1 = run(problem, new_net("numba"), iters=40, grad="numerical")
    net2, h2 = run(problem, new_net("numba"), iters=40, grad="numerical")
    assert h1.loss == h2.loss and h1.test_acc == h2.test_acc
    assert_same_params(net1.params, net2.params)


def test_numerical_and_backprop_training_agree(problem):
    """numba and the reference compute the same central differences (up to rounding);
    backprop differs from them by the O(h^2) truncation error and by the 1e-7 inside the book's
    log(y + 1e-7), which backprop's (y - t) / N leaves out: about 1e-6 relative here."""
    kw = {"iters": 15}
    nets = {
        (backend, grad): run(problem, new_net(backend), grad=grad, **kw)
        for backend, grad in [("numba", "numerical"), ("numpy", "numerical"), ("numpy", "backprop")]
    }
    (nb, h_nb), (ref, h_ref), (bp, h_bp) = nets.values()
    for k in PARAMS:
        assert_allclose(nb.params[k], ref.params[k], rtol=1e-9, atol=1e-11, err_msg=k)
        assert_allclose(nb.params[k], bp.params[k], rtol=1e-5, atol=1e-6, err_msg=k)
    assert_allclose(h_nb.loss, h_ref.loss, rtol=1e-10)
    assert_allclose(h_nb.loss, h_bp.loss, rtol=1e-5)
    assert_allclose(h_nb.test_acc, h_bp.test_acc, atol=0.02)


def test_one_hot_and_label_targets_train_alike(problem):
    x, t, xt, tt = problem
    eye = np.eye(N_OUT)
    net1, h1 = run(problem)
    net2, h2 = run((x, eye[t], xt, eye[tt]))
    assert h1.loss == h2.loss
    assert_same_params(net1.params, net2.params)


def test_data_is_never_modified(problem):
    arrays = [a.copy() for a in problem]
    for a in arrays:
        a.flags.writeable = False
    run(tuple(arrays))
    for a, b in zip(arrays, problem, strict=True):
        assert_array_equal(a, b)


def test_batch_larger_than_the_data_samples_with_replacement(problem):
    x, t, xt, tt = problem
    _, h = run((x[:10], t[:10], xt, tt), iters=5, batch_size=25)
    assert h.iterations == 5 and h.epoch_iters == [0, 1, 2, 3, 4]  # epoch: max(10 // 25, 1)


def test_zero_iterations(problem):
    net, h = run(problem, iters=0)
    assert h.iterations == 0 and h.train_acc == [] and h.epoch_iters == []
    assert_same_params(net.params, new_net().params)


# -- arguments ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"lr": 0.0}, ValueError, "lr"),
        ({"lr": -0.1}, ValueError, "lr"),
        ({"lr": float("nan")}, ValueError, "lr"),
        ({"lr": float("inf")}, ValueError, "lr"),
        ({"lr": "0.1"}, TypeError, "lr"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"batch_size": 2.5}, TypeError, "batch_size"),
        ({"iters": -1}, ValueError, "iters"),
        ({"iters": True}, TypeError, "iters"),
        ({"grad": "finite"}, ValueError, "grad"),
        ({"eval_every": 0}, ValueError, "eval_every"),
        ({"checkpoint_every": 5}, ValueError, "checkpoint"),
        ({"resume": True}, ValueError, "checkpoint"),
        ({"callbacks": [1]}, TypeError, "callbacks"),
    ],
)
def test_bad_arguments(problem, kwargs, error, match):
    with pytest.raises(error, match=match):
        run(problem, **kwargs)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_a_learning_rate_too_large_for_the_numerical_step_is_divergence(problem, backend):
    """lr 1e300: the first update throws the parameters far beyond what h = 1e-4 can nudge.
    The error says so and names the iteration, instead of the network's complaint about h."""
    net = new_net(backend)
    with pytest.raises(
        DivergenceError,
        match=r"training diverged at iteration 0: its update made the parameters as large as "
        r".*, too large for the numerical gradient's step h=0.0001 .*; lower the learning "
        r"rate \(lr=1e\+300\)",
    ) as info:
        train(net, *problem, **{**FAST, "grad": "numerical", "lr": 1e300, "iters": 5})
    assert (info.value.iteration, info.value.lr) == (0, 1e300)


def test_an_update_to_nan_stops_training_at_its_iteration(problem, tmp_path):
    """The iteration whose update made a parameter NaN is named; nothing of it is recorded,
    and the checkpoint keeps the last good iteration."""
    net = new_net()
    gradient, calls = net.gradient, []

    def nan_in_the_fourth(x, t):
        calls.append(None)
        grads = gradient(x, t)
        if len(calls) == 4:
            grads["W1"] = np.full_like(grads["W1"], np.nan)
        return grads

    net.gradient = nan_in_the_fourth
    seen, ck = [], tmp_path / "ck.npz"
    with pytest.raises(
        DivergenceError,
        match=r"training diverged at iteration 3: its update made W1 non-finite \(NaN or "
        r"infinity\); lower the learning rate \(lr=1\)",
    ) as info:
        train(
            net,
            *problem,
            **{**FAST, "iters": 10},
            checkpoint=ck,
            checkpoint_every=1,
            callbacks=lambda i, h, n: seen.append(i),
        )
    assert info.value.iteration == 3 and seen == [0, 1, 2]
    assert load_checkpoint(ck).iteration == 3


@pytest.mark.parametrize(
    ("index", "bad", "match"),
    [
        (0, lambda x: x[:, :5], r"x_train has shape \(300, 5\)"),
        (0, lambda x: x[0], r"x_train must have shape \(n, 6\)"),
        (0, lambda x: np.where(x > 0.5, np.nan, x), "x_train contains NaN"),
        (1, lambda t: t[:-1], "t_train has shape .* x_train has 300 rows"),
        (1, lambda t: t + 3, "t_train holds label"),
        (2, lambda x: x[:, :7].repeat(2, axis=1), "x_test has shape"),
        (3, lambda t: np.eye(4)[t], "t_test has one-hot shape"),
    ],
)
def test_data_that_does_not_fit_the_network(problem, index, bad, match):
    args = list(problem)
    args[index] = bad(args[index])
    with pytest.raises(ValueError, match=match):
        run(tuple(args))


def test_not_a_network(problem):
    with pytest.raises(TypeError, match="TwoLayerNet"):
        train(object(), *problem)


# -- history ------------------------------------------------------------------------------


def test_history_round_trips_through_json(problem):
    _, h = run(problem, iters=10)
    back = History.from_dict(json.loads(json.dumps(h.to_dict())))
    assert back == h


@pytest.mark.parametrize(
    "data",
    [
        {"loss": []},
        {"loss": [], "train_acc": [], "test_acc": [], "epoch_iters": [], "extra": 1},
        {"loss": [1.0], "train_acc": [0.5], "test_acc": [], "epoch_iters": [0]},
        {"loss": [1.0], "train_acc": [], "test_acc": [], "epoch_iters": [], "iter_time": [1, 2]},
        {"loss": ["x"], "train_acc": [], "test_acc": [], "epoch_iters": []},
        [1, 2],
    ],
)
def test_history_from_bad_dict(data):
    with pytest.raises(ValueError, match="history|length|entry"):
        History.from_dict(data)


# -- deeper networks and the book's optimisers ----------------------------------------------


def test_a_multilayer_net_is_the_books_loop_with_adam(problem):
    """Replays the loop by hand with the book's Adam on a two-hidden-layer ReLU net."""
    x, t, _, _ = problem
    net = deep_net(weight_decay_lambda=0.01)
    h = train(net, *problem, **{**FAST, "lr": None, "iters": 12}, optimizer="adam")
    book = deep_net(weight_decay_lambda=0.01)
    opt = fastgrad.optimizers.Adam()
    rng = np.random.default_rng(FAST["seed"])
    losses = []
    for _ in range(12):
        batch_mask = rng.choice(x.shape[0], FAST["batch_size"])
        grad = book.gradient(x[batch_mask], t[batch_mask])
        opt.update(book.params, grad)
        losses.append(book.loss(x[batch_mask], t[batch_mask]))
    assert h.loss == losses
    for k in book.params:
        assert_array_equal(net.params[k], book.params[k], err_msg=k)
    assert list(net.params) == ["W1", "b1", "W2", "b2", "W3", "b3"]


def test_default_learning_rates(problem):
    """Plain SGD keeps the book's chapter-4 0.1; a named optimiser its own book default."""
    assert as_optimizer(None, None).lr == 0.1
    assert as_optimizer("sgd", None).lr == 0.1
    assert as_optimizer("adam", None).lr == 0.001
    assert as_optimizer("momentum", None).lr == 0.01
    assert as_optimizer("rmsprop", 0.5).lr == 0.5
    opt = fastgrad.optimizers.Momentum(lr=0.2)
    assert as_optimizer(opt, None) is opt
    assert as_optimizer(opt, 0.2) is opt


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"optimizer": "nesterov"}, ValueError, "unknown optimizer 'nesterov'"),
        ({"optimizer": 3}, TypeError, "optimizer must be a name"),
        ({"optimizer": "adam", "lr": -1.0}, ValueError, "lr"),
    ],
)
def test_bad_optimizer_arguments(problem, kwargs, error, match):
    with pytest.raises(error, match=match):
        run(problem, **kwargs)


def test_an_optimizer_object_and_another_lr_are_refused(problem):
    with pytest.raises(ValueError, match="lr=1.0 but the optimizer has lr=0.2"):
        run(problem, optimizer=fastgrad.optimizers.Momentum(lr=0.2))


def test_an_optimizer_object_is_used_as_is(problem):
    """An Optimizer instance gives the run its name gives, and keeps its state."""
    opt = fastgrad.optimizers.Momentum(lr=0.3)
    net1, h1 = run(problem, deep_net(), iters=10, lr=None, optimizer=opt)
    net2, h2 = run(problem, deep_net(), iters=10, lr=0.3, optimizer="momentum")
    assert h1.loss == h2.loss
    assert set(opt.state()) == {f"v/{k}" for k in net1.params}


def test_net_shape_of_any_depth_and_params_that_do_not_chain():
    assert net_shape(deep_net()) == (N_IN, 5, 4, N_OUT)
    assert net_shape(new_net()) == (N_IN, N_HIDDEN, N_OUT)
    net = deep_net()
    net.params["W3"] = np.zeros((3, N_OUT))
    with pytest.raises(ValueError, match=r"W2 \(5, 4\), W3 \(3, 3\) do not chain"):
        net_shape(net)
    lone = deep_net()
    del lone.params["b2"]
    with pytest.raises(TypeError, match="W1, b1, ..., W{L\\+1}, b{L\\+1}"):
        net_shape(lone)
    single = fastgrad.SimpleNet(rng=0)  # one affine layer, no hidden layer: not trained here
    single.params = {"W1": single.W, "b1": np.zeros(3)}
    with pytest.raises(TypeError, match="L >= 1 hidden layers"):
        net_shape(single)


def test_data_checks_read_the_last_layer_of_a_deep_net(problem):
    x, t, xt, tt = problem
    with pytest.raises(ValueError, match="t_test has one-hot shape"):
        train(deep_net(), x, t, xt, np.eye(4)[tt], progress=False)
    with pytest.raises(ValueError, match=r"x_train has shape \(300, 5\)"):
        train(deep_net(), x[:, :5], t, xt, tt, progress=False)
