"""The book's chapter-6 ``MultiLayerNet`` (``common/multi_layer_net.py``) in NumPy: the oracle.

Any number of hidden layers, ReLU or sigmoid, He/Xavier initialisation and weight decay. The
forward pass is the book's chain of layers, operation for operation: ``Affine`` is
``np.dot(x, W) + b``, ``Relu`` copies its input and zeroes the entries ``<= 0`` (its backward
uses the same mask, so the derivative at exactly 0 is 0), ``Sigmoid`` is
:func:`~fastgrad.reference.functions.sigmoid`, and the last affine layer's scores go to the
book's ``SoftmaxWithLoss``, ``cross_entropy_error(softmax(scores), t)`` with its ``+ 1e-7``.
The loss adds ``0.5 * lambda * np.sum(W ** 2)`` for each weight matrix in layer order, as the
book's ``loss`` accumulates it. The twin is :mod:`fastgrad.kernels.multilayer`.

As in :mod:`fastgrad.reference.nets`, the methods validate nothing (a reference timing is the
book's cost; :class:`fastgrad.MultiLayerNet` is the validated way in) and the constructor
checks its arguments once.

The book's chapter-5 two-layer ReLU network (``gradient_check.py``) is
``MultiLayerNet(784, [50], 10, weight_init_std=0.01)``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._validation import check_init_std, check_int
from .functions import cross_entropy_error, sigmoid, softmax
from .gradient import numerical_gradient
from .nets import TwoLayerNet, as_rng

__all__ = [
    "MultiLayerNet",
    "ACTIVATIONS",
    "INIT_NAMES",
    "param_names",
    "check_architecture",
    "check_activation",
    "check_weight_decay",
]

#: The hidden-layer activations of the book's ``MultiLayerNet``.
ACTIVATIONS = ("relu", "sigmoid")
#: ``weight_init_std`` names: He (``sqrt(2 / fan_in)``) and Xavier (``sqrt(1 / fan_in)``).
INIT_NAMES = {"relu": 2.0, "he": 2.0, "sigmoid": 1.0, "xavier": 1.0}


def param_names(n_layers: int) -> tuple[str, ...]:
    """``("W1", "b1", ..., "W{n}", "b{n}")``: the book's parameter keys, in layer order."""
    return tuple(f"{p}{i}" for i in range(1, n_layers + 1) for p in ("W", "b"))


def check_activation(activation: Any) -> str:
    """``activation`` in lower case, or ``ValueError`` naming the choices."""
    if not isinstance(activation, str) or activation.lower() not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
    return activation.lower()


def check_weight_decay(weight_decay_lambda: Any) -> float:
    """``weight_decay_lambda`` as a float, or an error if it is not a finite number >= 0."""
    if isinstance(weight_decay_lambda, bool) or not isinstance(weight_decay_lambda, numbers.Real):
        raise TypeError(
            f"weight_decay_lambda must be a number >= 0, got {type(weight_decay_lambda).__name__}"
        )
    lam = float(weight_decay_lambda)
    if not (math.isfinite(lam) and lam >= 0):
        raise ValueError(
            f"weight_decay_lambda must be finite and >= 0, got {weight_decay_lambda!r}"
        )
    return lam


def check_architecture(
    input_size: Any,
    hidden_size_list: Any,
    output_size: Any,
    activation: Any,
    weight_init_std: Any,
    weight_decay_lambda: Any,
) -> tuple[list[int], str, float | str, float]:
    """Check the constructor's arguments; return ``(sizes, activation, init, lambda)``.

    ``sizes`` is ``[input_size, *hidden_size_list, output_size]``; ``init`` is a lower-case
    name of :data:`INIT_NAMES` or a finite float. Errors name the argument.
    """
    input_size = check_int(input_size, "input_size")
    output_size = check_int(output_size, "output_size")
    if output_size < 2:
        raise ValueError(
            "output_size must be at least 2: a softmax over one class is always 1, so the "
            "loss is the constant -log(1 + 1e-7) and every gradient is 0"
        )
    if isinstance(hidden_size_list, (str, bytes)) or not isinstance(
        hidden_size_list, (Sequence, np.ndarray)
    ):
        raise TypeError(
            f"hidden_size_list must be a list of layer widths, e.g. [100, 100], got "
            f"{type(hidden_size_list).__name__}"
        )
    if len(hidden_size_list) == 0:
        raise ValueError(
            "hidden_size_list is empty; the book's MultiLayerNet has at least one hidden "
            "layer, e.g. [50]"
        )
    hidden = [check_int(v, f"hidden_size_list[{i}]") for i, v in enumerate(hidden_size_list)]
    activation = check_activation(activation)
    if isinstance(weight_init_std, str):
        init: float | str = weight_init_std.lower()
        if init not in INIT_NAMES:
            raise ValueError(
                f"weight_init_std must be a number or one of {tuple(INIT_NAMES)}, "
                f"got {weight_init_std!r}"
            )
    elif isinstance(weight_init_std, numbers.Real) and not isinstance(weight_init_std, bool):
        init = check_init_std(weight_init_std)
    else:
        raise TypeError(
            f"weight_init_std must be a number or one of {tuple(INIT_NAMES)}, "
            f"got {type(weight_init_std).__name__}"
        )
    lam = check_weight_decay(weight_decay_lambda)
    return [input_size, *hidden, output_size], activation, init, lam


class MultiLayerNet:
    """The book's fully connected network of any depth (section 6.1-6.4, ``MultiLayerNet``).

    Parameters
    ----------
    input_size : int
    hidden_size_list : list of int
        Widths of the hidden layers, at least one, e.g. ``[100, 100]``.
    output_size : int
        At least 2 (a softmax over one class is constant).
    activation : {"relu", "sigmoid"}, default "relu"
    weight_init_std : {"relu", "he", "sigmoid", "xavier"} or float, default "relu"
        ``"relu"``/``"he"``: ``sqrt(2 / fan_in)``; ``"sigmoid"``/``"xavier"``:
        ``sqrt(1 / fan_in)``; a number: that standard deviation for every layer.
    weight_decay_lambda : float, default 0
        ``lambda`` of the L2 penalty ``0.5 * lambda * sum(W ** 2)`` over the weight matrices.
    rng : int or numpy.random.Generator, optional
        One standard-normal draw per weight matrix, in layer order; biases start at zero.

    Attributes
    ----------
    params : dict of str to ndarray of float64
        ``W1`` (input_size, h1), ``b1`` (h1,), ..., ``W{L+1}`` (hL, output_size),
        ``b{L+1}`` (output_size,).

    Examples
    --------
    The chapter-5 network of ``gradient_check.py``:

    >>> net = MultiLayerNet(784, [50], 10, weight_init_std=0.01, rng=0)
    >>> {k: v.shape for k, v in net.params.items()}
    {'W1': (784, 50), 'b1': (50,), 'W2': (50, 10), 'b2': (10,)}
    >>> net.predict(np.zeros((2, 784))).shape
    (2, 10)
    """

    def __init__(
        self,
        input_size: int,
        hidden_size_list: Sequence[int],
        output_size: int,
        activation: str = "relu",
        weight_init_std: float | str = "relu",
        weight_decay_lambda: float = 0,
        *,
        rng: Any = None,
    ) -> None:
        sizes, activation, init, lam = check_architecture(
            input_size,
            hidden_size_list,
            output_size,
            activation,
            weight_init_std,
            weight_decay_lambda,
        )
        self.input_size = sizes[0]
        self.hidden_size_list = sizes[1:-1]
        self.output_size = sizes[-1]
        self.hidden_layer_num = len(self.hidden_size_list)
        self.activation = activation
        self.weight_decay_lambda = lam
        rng = as_rng(rng)
        # the book's __init_weight: scale * np.random.randn(fan_in, fan_out), biases zero
        self.params = {}
        for idx in range(1, len(sizes)):
            scale = init
            if isinstance(init, str):
                scale = np.sqrt(INIT_NAMES[init] / sizes[idx - 1])
            self.params["W" + str(idx)] = scale * rng.standard_normal((sizes[idx - 1], sizes[idx]))
            self.params["b" + str(idx)] = np.zeros(sizes[idx])

    @classmethod
    def from_params(
        cls,
        params: dict[str, ArrayLike],
        activation: str = "relu",
        weight_decay_lambda: float = 0,
    ) -> MultiLayerNet:
        """A network that uses ``params`` as given (no copy), e.g. for a front door or a test.

        The depth is read from the keys ``W1, b1, ..., W{L+1}, b{L+1}``.
        """
        n_layers = sum(1 for k in params if k.startswith("W"))
        net = cls.__new__(cls)
        net.params = dict(params)
        net.hidden_layer_num = n_layers - 1
        net.activation = check_activation(activation)
        net.weight_decay_lambda = float(weight_decay_lambda)
        return net

    # -- the book's layers, as functions of one forward pass ------------------------------

    def _forward(self, x: ArrayLike) -> tuple[NDArray, list, list]:
        """Scores and, per hidden layer, the layer input and the activation's state (the ReLU
        mask ``a <= 0`` or the sigmoid output), as the book's layers keep them."""
        inputs, states = [], []
        for idx in range(1, self.hidden_layer_num + 1):
            inputs.append(x)
            a = np.dot(x, self.params["W" + str(idx)]) + self.params["b" + str(idx)]
            if self.activation == "relu":
                mask = a <= 0  # the book's Relu.forward
                x = a.copy()
                x[mask] = 0
                states.append(mask)
            else:
                x = sigmoid(a)  # the book's Sigmoid.forward
                states.append(x)
        idx = self.hidden_layer_num + 1
        inputs.append(x)
        scores = np.dot(x, self.params["W" + str(idx)]) + self.params["b" + str(idx)]
        return scores, inputs, states

    # -- the book's methods ----------------------------------------------------------------

    def predict(self, x: ArrayLike) -> NDArray:
        """Scores of the last affine layer (logits), shape (batch, output_size) or
        (output_size,) for a 1-D ``x``."""
        return self._forward(x)[0]

    def loss(self, x: ArrayLike, t: ArrayLike) -> float:
        """``cross_entropy_error(softmax(predict(x)), t)`` plus ``0.5 * lambda * sum(W ** 2)``
        for every weight matrix, accumulated in layer order as in the book."""
        return self._loss(softmax(self.predict(x)), t)

    def _loss(self, y: NDArray, t: ArrayLike) -> float:
        """The book's ``loss`` after ``predict``: ``SoftmaxWithLoss`` (here given its softmax
        ``y``) plus the weight decay, accumulated in layer order."""
        weight_decay = 0
        for idx in range(1, self.hidden_layer_num + 2):
            W = self.params["W" + str(idx)]
            weight_decay += 0.5 * self.weight_decay_lambda * np.sum(W**2)

        return cross_entropy_error(y, t) + weight_decay

    #: Fraction of rows whose largest score is the target class: the book's ``accuracy``, the
    #: same as the two-layer network's (the argmax of the scores is that of the softmax).
    accuracy = TwoLayerNet.accuracy

    def numerical_gradient(self, x: ArrayLike, t: ArrayLike, h: float = 1e-4) -> dict[str, NDArray]:
        """Central-difference gradient of :meth:`loss` (weight decay included), a dict like
        ``params``: the book's in-place loop, 2 whole losses per parameter."""
        loss_W = lambda W: self.loss(x, t)  # noqa: E731 - the book's idiom

        grads = {}
        for idx in range(1, self.hidden_layer_num + 2):
            grads["W" + str(idx)] = numerical_gradient(loss_W, self.params["W" + str(idx)], h)
            grads["b" + str(idx)] = numerical_gradient(loss_W, self.params["b" + str(idx)], h)

        return grads

    def gradient(self, x: ArrayLike, t: ArrayLike) -> dict[str, NDArray]:
        """Backprop through the book's layers (section 5.7, 6.4.1): the gradient of the loss
        without the ``1e-7`` guard, plus ``lambda * W`` for each weight matrix.

        ``t`` may be one-hot rows or labels; a 1-D ``x`` is a batch of one. As in the book,
        every affine layer's backward computes its ``dx`` (the first one's is not used).
        """
        x = np.atleast_2d(x)
        t = np.asarray(t)
        # forward: the book calls self.loss(x, t), whose layers keep what backward needs
        scores, inputs, states = self._forward(x)
        y = softmax(scores)
        self._loss(y, t)

        # SoftmaxWithLoss.backward
        batch_size = y.shape[0]
        if t.size == y.size:
            dout = (y - t.reshape(y.shape)) / batch_size
        else:
            dout = y.copy()
            dout[np.arange(batch_size), t.reshape(batch_size)] -= 1
            dout = dout / batch_size

        grads = {}
        for idx in range(self.hidden_layer_num + 1, 0, -1):
            W = self.params["W" + str(idx)]
            # Affine.backward
            dx = np.dot(dout, W.T)
            grads["W" + str(idx)] = np.dot(inputs[idx - 1].T, dout) + self.weight_decay_lambda * W
            grads["b" + str(idx)] = np.sum(dout, axis=0)
            dout = dx
            if idx > 1:  # the activation below this affine layer
                state = states[idx - 2]
                if self.activation == "relu":
                    dout[state] = 0  # Relu.backward
                else:
                    dout = dout * (1.0 - state) * state  # Sigmoid.backward

        return {k: grads[k] for k in param_names(self.hidden_layer_num + 1)}
