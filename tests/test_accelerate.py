"""``fastgrad.accelerate`` on networks written as the book writes them.

The three networks below are this project's own, written for these tests in the book's style
(the book's attribute names, layer classes and arithmetic, not its code): chapter 4's
``TwoLayerNet`` (``predict``/``loss`` from functions), chapter 5's layered ``TwoLayerNet``
(``layers``, ``lastLayer``) and ``common/multi_layer_net.py``'s ``MultiLayerNet``
(``Affine{i}``, ``Activation_function{i}``, ``last_layer``, weight decay). Each computes its
numerical gradient with the book's loop, so the sizes are tiny: 6-4-3 (and 6-4-4-3), batch 5.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import fastgrad
from fastgrad._accelerate import LOSS_RTOL

#: fastgrad's numerical gradient against the book's loop on the reader's own network: the
#: target of issue 21. The kernels agree with the book's loop to about 1e-12 here (the same
#: central difference; the loss differences are rounded differently).
NUMGRAD_ATOL = 1e-9
#: Backprop against backprop: the same float64 formulas in another summation order.
BACKPROP_ATOL = 1e-13


# -- the book's functions and layers, in the book's style ------------------------------------


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def sigmoid_grad(x):
    return (1.0 - sigmoid(x)) * sigmoid(x)


def softmax(x):
    x = x - np.max(x, axis=-1, keepdims=True)  # guard against overflow
    return np.exp(x) / np.sum(np.exp(x), axis=-1, keepdims=True)


def cross_entropy_error(y, t, delta=1e-7):
    if y.ndim == 1:
        t = t.reshape(1, t.size)
        y = y.reshape(1, y.size)
    if t.size == y.size:  # one-hot rows: take the labels
        t = t.argmax(axis=1)
    batch_size = y.shape[0]
    return -np.sum(np.log(y[np.arange(batch_size), t] + delta)) / batch_size


def numerical_gradient(f, x):
    """The book's central difference, one entry of ``x`` at a time, in place."""
    h = 1e-4
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        tmp_val = x[idx]
        x[idx] = tmp_val + h
        fxh1 = f(x)
        x[idx] = tmp_val - h
        fxh2 = f(x)
        grad[idx] = (fxh1 - fxh2) / (2 * h)
        x[idx] = tmp_val
    return grad


class Relu:
    def __init__(self):
        self.mask = None

    def forward(self, x):
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout):
        dout[self.mask] = 0
        return dout


class Sigmoid:
    def __init__(self):
        self.out = None

    def forward(self, x):
        self.out = sigmoid(x)
        return self.out

    def backward(self, dout):
        return dout * (1.0 - self.out) * self.out


class Affine:
    def __init__(self, W, b):
        self.W = W
        self.b = b
        self.x = None
        self.dW = None
        self.db = None

    def forward(self, x):
        self.x = x
        return np.dot(x, self.W) + self.b

    def backward(self, dout):
        dx = np.dot(dout, self.W.T)
        self.dW = np.dot(self.x.T, dout)
        self.db = np.sum(dout, axis=0)
        return dx


class SoftmaxWithLoss:
    delta = 1e-7

    def __init__(self):
        self.y = None
        self.t = None

    def forward(self, x, t):
        self.t = t
        self.y = softmax(x)
        return cross_entropy_error(self.y, self.t, self.delta)

    def backward(self, dout=1):
        batch_size = self.t.shape[0]
        if self.t.size == self.y.size:
            return (self.y - self.t) / batch_size
        dx = self.y.copy()
        dx[np.arange(batch_size), self.t] -= 1
        return dx / batch_size


# -- the three networks ---------------------------------------------------------------------


class Chapter4Net:
    """Chapter 4's ``TwoLayerNet``; ``hidden`` swaps its activation for the refusal tests."""

    def __init__(self, input_size, hidden_size, output_size, weight_init_std=0.01, seed=0):
        rng = np.random.default_rng(seed)
        self.params = {}
        self.params["W1"] = weight_init_std * rng.standard_normal((input_size, hidden_size))
        self.params["b1"] = np.zeros(hidden_size)
        self.params["W2"] = weight_init_std * rng.standard_normal((hidden_size, output_size))
        self.params["b2"] = np.zeros(output_size)
        self.hidden = sigmoid

    def predict(self, x):
        W1, W2 = self.params["W1"], self.params["W2"]
        b1, b2 = self.params["b1"], self.params["b2"]
        a1 = np.dot(x, W1) + b1
        z1 = self.hidden(a1)
        a2 = np.dot(z1, W2) + b2
        return softmax(a2)

    def loss(self, x, t):
        y = self.predict(x)
        return cross_entropy_error(y, t)

    def accuracy(self, x, t):  # t one-hot, as in the book
        y = np.argmax(self.predict(x), axis=1)
        t = np.argmax(t, axis=1)
        return np.sum(y == t) / float(x.shape[0])

    def numerical_gradient(self, x, t):
        loss_W = lambda W: self.loss(x, t)  # noqa: E731  (the book's idiom)
        return {k: numerical_gradient(loss_W, self.params[k]) for k in ("W1", "b1", "W2", "b2")}

    def gradient(self, x, t):  # t one-hot, as in the book
        W1, W2 = self.params["W1"], self.params["W2"]
        b1, b2 = self.params["b1"], self.params["b2"]
        batch_num = x.shape[0]
        a1 = np.dot(x, W1) + b1
        z1 = sigmoid(a1)
        a2 = np.dot(z1, W2) + b2
        y = softmax(a2)
        dy = (y - t) / batch_num
        grads = {"W2": np.dot(z1.T, dy), "b2": np.sum(dy, axis=0)}
        dz1 = sigmoid_grad(a1) * np.dot(dy, W2.T)
        grads["W1"] = np.dot(x.T, dz1)
        grads["b1"] = np.sum(dz1, axis=0)
        return grads


class Chapter5Net:
    """Chapter 5's layered ``TwoLayerNet``: ``Affine1, Relu1, Affine2`` and ``lastLayer``."""

    def __init__(self, input_size, hidden_size, output_size, weight_init_std=0.01, seed=0):
        rng = np.random.default_rng(seed)
        self.params = {}
        self.params["W1"] = weight_init_std * rng.standard_normal((input_size, hidden_size))
        self.params["b1"] = np.zeros(hidden_size)
        self.params["W2"] = weight_init_std * rng.standard_normal((hidden_size, output_size))
        self.params["b2"] = np.zeros(output_size)
        self.layers = OrderedDict()
        self.layers["Affine1"] = Affine(self.params["W1"], self.params["b1"])
        self.layers["Relu1"] = Relu()
        self.layers["Affine2"] = Affine(self.params["W2"], self.params["b2"])
        self.lastLayer = SoftmaxWithLoss()

    def predict(self, x):
        for layer in self.layers.values():
            x = layer.forward(x)
        return x

    def loss(self, x, t):
        y = self.predict(x)
        return self.lastLayer.forward(y, t)

    def accuracy(self, x, t):
        y = np.argmax(self.predict(x), axis=1)
        if t.ndim != 1:
            t = np.argmax(t, axis=1)
        return np.sum(y == t) / float(x.shape[0])

    def numerical_gradient(self, x, t):
        loss_W = lambda W: self.loss(x, t)  # noqa: E731
        return {k: numerical_gradient(loss_W, self.params[k]) for k in ("W1", "b1", "W2", "b2")}

    def gradient(self, x, t):
        self.loss(x, t)
        dout = self.lastLayer.backward(1)
        for layer in reversed(list(self.layers.values())):
            dout = layer.backward(dout)
        grads = {}
        for i in (1, 2):
            grads[f"W{i}"] = self.layers[f"Affine{i}"].dW
            grads[f"b{i}"] = self.layers[f"Affine{i}"].db
        return grads


class MultiLayerNet:
    """``common/multi_layer_net.py``'s network: any depth, ReLU or sigmoid, weight decay."""

    def __init__(
        self,
        input_size,
        hidden_size_list,
        output_size,
        activation="relu",
        weight_init_std="relu",
        weight_decay_lambda=0,
        seed=0,
    ):
        self.input_size = input_size
        self.output_size = output_size
        self.hidden_size_list = hidden_size_list
        self.hidden_layer_num = len(hidden_size_list)
        self.weight_decay_lambda = weight_decay_lambda
        self.params = {}
        rng = np.random.default_rng(seed)
        sizes = [input_size, *hidden_size_list, output_size]
        for idx in range(1, len(sizes)):
            scale = weight_init_std
            if str(weight_init_std).lower() in ("relu", "he"):
                scale = np.sqrt(2.0 / sizes[idx - 1])
            elif str(weight_init_std).lower() in ("sigmoid", "xavier"):
                scale = np.sqrt(1.0 / sizes[idx - 1])
            self.params[f"W{idx}"] = scale * rng.standard_normal((sizes[idx - 1], sizes[idx]))
            self.params[f"b{idx}"] = np.zeros(sizes[idx])
        activation_layer = {"sigmoid": Sigmoid, "relu": Relu}
        self.layers = OrderedDict()
        for idx in range(1, self.hidden_layer_num + 1):
            self.layers[f"Affine{idx}"] = Affine(self.params[f"W{idx}"], self.params[f"b{idx}"])
            self.layers[f"Activation_function{idx}"] = activation_layer[activation]()
        idx = self.hidden_layer_num + 1
        self.layers[f"Affine{idx}"] = Affine(self.params[f"W{idx}"], self.params[f"b{idx}"])
        self.last_layer = SoftmaxWithLoss()

    def predict(self, x):
        for layer in self.layers.values():
            x = layer.forward(x)
        return x

    def loss(self, x, t):
        y = self.predict(x)
        weight_decay = 0
        for idx in range(1, self.hidden_layer_num + 2):
            W = self.params[f"W{idx}"]
            weight_decay += 0.5 * self.weight_decay_lambda * np.sum(W**2)
        return self.last_layer.forward(y, t) + weight_decay

    def accuracy(self, x, t):
        y = np.argmax(self.predict(x), axis=1)
        if t.ndim != 1:
            t = np.argmax(t, axis=1)
        return np.sum(y == t) / float(x.shape[0])

    def numerical_gradient(self, x, t):
        loss_W = lambda W: self.loss(x, t)  # noqa: E731
        grads = {}
        for idx in range(1, self.hidden_layer_num + 2):
            grads[f"W{idx}"] = numerical_gradient(loss_W, self.params[f"W{idx}"])
            grads[f"b{idx}"] = numerical_gradient(loss_W, self.params[f"b{idx}"])
        return grads

    def gradient(self, x, t):
        self.loss(x, t)
        dout = self.last_layer.backward(1)
        for layer in reversed(list(self.layers.values())):
            dout = layer.backward(dout)
        grads = {}
        for idx in range(1, self.hidden_layer_num + 2):
            affine = self.layers[f"Affine{idx}"]
            grads[f"W{idx}"] = affine.dW + self.weight_decay_lambda * affine.W
            grads[f"b{idx}"] = affine.db
        return grads


# -- fixtures -------------------------------------------------------------------------------

#: name -> (build the reader's network, what accelerate should recognise it as)
NETWORKS = {
    "chapter4": (lambda: Chapter4Net(6, 4, 3), "chapter 4's TwoLayerNet 6-4-3 (sigmoid)"),
    "chapter5": (lambda: Chapter5Net(6, 4, 3), "chapter 5's TwoLayerNet 6-4-3 (relu)"),
    "multi-relu-decay": (
        lambda: MultiLayerNet(6, [4, 4], 3, weight_decay_lambda=0.1),
        "MultiLayerNet 6-4-4-3 (relu, weight decay 0.1)",
    ),
    "multi-sigmoid": (
        lambda: MultiLayerNet(6, [4], 3, activation="sigmoid", weight_init_std="sigmoid"),
        "MultiLayerNet 6-4-3 (sigmoid)",
    ),
}


@pytest.fixture(params=list(NETWORKS))
def kind(request):
    return request.param


@pytest.fixture
def batch():
    """Five rows of 6 inputs and their one-hot targets (chapter 4 needs one-hot)."""
    rng = np.random.default_rng(1)
    x = rng.random((5, 6))
    t = np.eye(3)[rng.integers(0, 3, size=5)]
    return x, t


# -- recognised, and the book's numbers ---------------------------------------------------


def test_each_kind_is_recognised(kind):
    build, found = NETWORKS[kind]
    fast = fastgrad.accelerate(build())
    expected = fastgrad.TwoLayerNet if kind == "chapter4" else fastgrad.MultiLayerNet
    assert isinstance(fast, expected)
    assert str(fast.recognised) == found
    assert found in repr(fast)


def test_numerical_gradient_is_the_readers_own(kind, batch):
    x, t = batch
    net = NETWORKS[kind][0]()
    fast = fastgrad.accelerate(net).numerical_gradient(x, t)
    book = net.numerical_gradient(x, t)
    assert list(fast) == list(book)
    for key in book:
        assert_allclose(fast[key], book[key], rtol=0, atol=NUMGRAD_ATOL, err_msg=key)


def test_float32_images_as_the_books_mnist_loader_gives(batch):
    x, t = batch
    x = x.astype(np.float32)  # load_mnist(normalize=True) gives float32 images
    net = Chapter4Net(6, 4, 3)
    fast = fastgrad.accelerate(net).numerical_gradient(x, t)
    book = net.numerical_gradient(x, t)
    for key in book:
        assert_allclose(fast[key], book[key], rtol=0, atol=NUMGRAD_ATOL, err_msg=key)


def test_gradient_loss_and_accuracy_are_the_readers_own(kind, batch):
    x, t = batch
    net = NETWORKS[kind][0]()
    fast = fastgrad.accelerate(net)
    book = net.gradient(x, t)
    ours = fast.gradient(x, t)
    for key in book:
        assert_allclose(ours[key], book[key], rtol=0, atol=BACKPROP_ATOL, err_msg=key)
    assert fast.loss(x, t) == pytest.approx(net.loss(x, t), rel=LOSS_RTOL)
    assert fast.accuracy(x, t) == net.accuracy(x, t)
    assert_allclose(fast.predict(x), net.predict(x), rtol=1e-12, atol=1e-15)


# -- the same arrays ------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_parameters_are_shared_and_updates_are_seen(kind, batch, backend):
    x, t = batch
    net = NETWORKS[kind][0]()
    fast = fastgrad.accelerate(net, backend=backend)
    assert fast.params is net.params
    for key in net.params:
        assert fast.params[key] is net.params[key]
    before = fast.numerical_gradient(x, t)
    for key in ("W1", "b1", "W2", "b2"):
        net.params[key] -= 0.5 * before[key] / np.abs(before[key]).max()  # the book's step
    after = fast.numerical_gradient(x, t)
    book = net.numerical_gradient(x, t)
    for key in book:
        assert not np.allclose(after[key], before[key], rtol=0, atol=1e-6), key
        assert_allclose(after[key], book[key], rtol=0, atol=NUMGRAD_ATOL, err_msg=key)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_a_call_leaves_the_readers_arrays_as_they_were(kind, batch, backend):
    x, t = batch
    net = NETWORKS[kind][0]()
    arrays = dict(net.params)
    copies = {k: v.copy() for k, v in net.params.items()}
    fast = fastgrad.accelerate(net, backend=backend)
    fast.numerical_gradient(x, t)
    fast.gradient(x, t)
    fast.loss(x, t)
    fast.accuracy(x, t)
    for key, value in copies.items():
        assert net.params[key] is arrays[key]
        assert_array_equal(net.params[key], value)
    for i, name in ((1, "Affine1"), (2, "Affine2")):
        if hasattr(net, "layers"):
            assert net.layers[name].W is net.params[f"W{i}"]


def test_the_readers_loss_is_called_once_per_batch_shape(batch):
    x, t = batch
    net = Chapter4Net(6, 4, 3)
    calls = []
    own_loss = net.loss
    net.loss = lambda x, t: calls.append(x.shape) or own_loss(x, t)
    fast = fastgrad.accelerate(net)
    for _ in range(3):
        fast.numerical_gradient(x, t)
        net.params["W1"] -= 0.1  # in place: nothing to prove again
    fast.gradient(x[:2], t[:2])
    assert calls == [(5, 6), (2, 6)]
    net.params["W1"] = net.params["W1"].copy()  # rebound: proved again
    fast.numerical_gradient(x, t)
    assert calls == [(5, 6), (2, 6), (5, 6)]
    assert fast.params["W1"] is net.params["W1"]


# -- refusals -------------------------------------------------------------------------------


def _chapter5_with(*layers):
    net = Chapter5Net(6, 4, 3)
    net.layers = OrderedDict(layers)
    return net


class Tanh:
    def forward(self, x):
        return np.tanh(x)


class Dropout:
    def forward(self, x):
        return x


class LeakyRelu(Relu):
    """A different activation under the book's class name: a name is not proof."""

    def forward(self, x):
        return np.where(x > 0, x, 0.01 * x)


LeakyRelu.__name__ = "Relu"


class SoftmaxWithLossDelta8(SoftmaxWithLoss):
    delta = 1e-8


SoftmaxWithLossDelta8.__name__ = "SoftmaxWithLoss"


def test_an_unknown_object_is_refused():
    with pytest.raises(TypeError, match=r"this object: it has no params dict.*Supported: chapter"):
        fastgrad.accelerate(object())
    with pytest.raises(TypeError, match=r"params is list"):
        fastgrad.accelerate(type("Net", (), {"params": []})())


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        pytest.param(
            lambda net: net.params.pop("b2"),
            TypeError,
            r"params has keys \['W1', 'W2', 'b1'\], not W1, b1, \.\.\., WL, bL",
            id="missing-key",
        ),
        pytest.param(
            lambda net: net.params.update(W1=net.params["W1"].astype(np.float32)),
            TypeError,
            r"params\['W1'\] is float32, C-contiguous\. .*np\.ascontiguousarray",
            id="float32",
        ),
        pytest.param(
            lambda net: net.params.update(W1=np.asfortranarray(net.params["W1"])),
            TypeError,
            r"params\['W1'\] is float64, not C-contiguous",
            id="fortran-order",
        ),
        pytest.param(
            lambda net: net.params.update(W2=np.zeros((5, 3))),
            ValueError,
            r"shapes do not chain: W1 \(6, 4\), b1 \(4,\), W2 \(5, 3\)",
            id="shapes",
        ),
    ],
)
def test_parameters_that_cannot_be_shared_are_refused(change, error, message):
    net = Chapter4Net(6, 4, 3)
    change(net)
    with pytest.raises(error, match=message):
        fastgrad.accelerate(net)


@pytest.mark.parametrize(
    ("net", "message"),
    [
        pytest.param(
            _chapter5_with(
                ("Affine1", Affine(np.zeros((6, 4)), np.zeros(4))),
                ("Tanh1", Tanh()),
                ("Affine2", Affine(np.zeros((4, 3)), np.zeros(3))),
            ),
            r"its layers are Affine, Tanh, Affine for 2 weight matrices",
            id="tanh-layer",
        ),
        pytest.param(
            _chapter5_with(
                ("Affine1", Affine(np.zeros((6, 4)), np.zeros(4))),
                ("Relu1", Relu()),
                ("Dropout1", Dropout()),
                ("Affine2", Affine(np.zeros((4, 3)), np.zeros(3))),
            ),
            r"its layers are Affine, Relu, Dropout, Affine",
            id="extra-layer",
        ),
    ],
)
def test_layers_other_than_the_books_are_refused(net, message):
    with pytest.raises(TypeError, match=message + r".*Supported: "):
        fastgrad.accelerate(net)


def test_a_last_layer_other_than_softmax_with_loss_is_refused():
    net = Chapter5Net(6, 4, 3)
    net.lastLayer = Dropout()
    with pytest.raises(TypeError, match=r"its last layer is Dropout, not SoftmaxWithLoss"):
        fastgrad.accelerate(net)


def test_layers_that_do_not_hold_the_params_arrays_are_refused():
    net = Chapter5Net(6, 4, 3)
    net.params["W2"] = net.params["W2"].copy()  # the book's layers keep the old array
    with pytest.raises(ValueError, match=r"Affine layer 2 does not hold the arrays params\['W2'\]"):
        fastgrad.accelerate(net)


def test_sizes_that_disagree_with_the_arrays_are_refused():
    net = MultiLayerNet(6, [4, 4], 3)
    net.hidden_size_list = [4, 5]
    with pytest.raises(ValueError, match=r"hidden_size_list is \[4, 5\] but params' shapes give"):
        fastgrad.accelerate(net)


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda: _hidden(Chapter4Net(6, 4, 3), np.tanh), id="chapter4-tanh"),
        # at the book's 0.01 initialisation ReLU moves the loss by only about 4e-3
        pytest.param(
            lambda: _hidden(Chapter4Net(6, 4, 3), lambda a: np.maximum(a, 0)), id="chapter4-relu"
        ),
        pytest.param(lambda: _relu_named(Chapter5Net(6, 4, 3)), id="leaky-relu-named-relu"),
        pytest.param(lambda: _delta8(Chapter5Net(6, 4, 3)), id="loss-with-1e-8"),
        pytest.param(lambda: _delta8(MultiLayerNet(6, [4], 3)), id="multilayer-loss-with-1e-8"),
    ],
)
def test_a_network_whose_loss_differs_is_refused(build, batch):
    x, t = batch
    net = build()
    fast = fastgrad.accelerate(net)  # the structure passes; the loss is the proof
    for call in (fast.numerical_gradient, fast.gradient, fast.loss, fast.accuracy):
        with pytest.raises(
            ValueError,
            match=r"refuses this \w+: it looks like .* its own loss\(x, t\) is .* and fastgrad's "
            r"is .* allowed 1e-09\): it computes something else .*Supported: ",
        ):
            call(x, t)


def test_the_tolerance_is_tight_enough_for_a_relu_at_the_books_initialisation(batch):
    x, t = batch
    relu = _hidden(Chapter4Net(6, 4, 3), lambda a: np.maximum(a, 0))
    rel = abs(relu.loss(x, t) / Chapter4Net(6, 4, 3).loss(x, t) - 1)
    assert LOSS_RTOL < rel < 1e-2


def test_a_change_after_acceleration_is_proved_again(batch):
    x, t = batch
    net = Chapter4Net(6, 4, 3)
    fast = fastgrad.accelerate(net)
    fast.numerical_gradient(x, t)
    net.hidden = np.tanh
    with pytest.raises(ValueError, match=r"its own loss\(x, t\)"):
        fast.numerical_gradient(x[:3], t[:3])  # a new batch shape: proved again, refused


def test_a_changed_weight_decay_is_refused(batch):
    x, t = batch
    net = MultiLayerNet(6, [4], 3, weight_decay_lambda=0.1)
    fast = fastgrad.accelerate(net)
    fast.gradient(x, t)
    net.weight_decay_lambda = 0.2
    with pytest.raises(ValueError, match=r"changed since fastgrad.accelerate: .*decay 0\.1.*0\.2"):
        fast.gradient(x, t)


def test_chapter4_label_targets_get_a_hint(batch):
    x, t = batch
    net = Chapter4Net(6, 4, 3)
    net.loss = lambda x, t: cross_entropy_error(net.predict(x), np.eye(3)[t]) + 1.0
    with pytest.raises(ValueError, match=r"may need one-hot targets"):
        fastgrad.accelerate(net).loss(x, t.argmax(axis=1))


def _hidden(net, activation):
    net.hidden = activation
    return net


def _relu_named(net):
    net.layers["Relu1"] = LeakyRelu()
    return net


def _delta8(net):
    if hasattr(net, "lastLayer"):
        net.lastLayer = SoftmaxWithLossDelta8()
    else:
        net.last_layer = SoftmaxWithLossDelta8()
    return net
