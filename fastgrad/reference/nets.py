"""The book's networks: ``SimpleNet`` (section 4.4.2) and ``TwoLayerNet`` (section 4.5.1).

Pure NumPy, the book's methods and order of operations, so the numbers are the book's. The
numerical gradients go through :func:`fastgrad.reference.gradient.numerical_gradient` exactly
as in the book, perturbing ``W`` / ``params`` in place. The twin is
:mod:`fastgrad.kernels.nets`.

The methods do what the book's do and nothing more: no input validation on the hot path, so
that a reference timing is the book's cost (a loss call of the numerical gradient is the
book's ``predict`` and ``cross_entropy_error``, nothing else). Bad input gets NumPy's errors,
as in the book; :class:`fastgrad.TwoLayerNet` and :class:`fastgrad.SimpleNet` with
``backend="numpy"`` are the validated way in. The constructors check their arguments (once,
off the hot path); a network needs at least two classes, since a softmax over one class is
the constant 1 and its loss has no gradient to follow.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._validation import as_params_array, check_init_std, check_positive_int
from .functions import cross_entropy_error, sigmoid, sigmoid_grad, softmax
from .gradient import numerical_gradient

__all__ = ["SimpleNet", "TwoLayerNet", "PARAM_NAMES"]

#: The order of ``TwoLayerNet.params``, as in the book.
PARAM_NAMES = ("W1", "b1", "W2", "b2")


def as_rng(rng: Any) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


class SimpleNet:
    """The book's ``simpleNet``: one 2x3 weight matrix, softmax and cross-entropy (section 4.4.2).

    Parameters
    ----------
    W : array_like, shape (2, 3), optional
        Initial weights, copied as float64. Default: standard normal draws from ``rng``.
    rng : int or numpy.random.Generator, optional
        Seed or generator for the default initialisation.

    Attributes
    ----------
    W : ndarray of float64, shape (2, 3)
        The weights; assign a new array between calls as in the book.

    Examples
    --------
    The chapter's worked example:

    >>> net = SimpleNet(W=[[0.47355232, 0.9977393, 0.84668094],
    ...                    [0.85557411, 0.03563661, 0.69422093]])
    >>> x = np.array([0.6, 0.9])
    >>> net.predict(x)
    array([1.05414809, 0.63071653, 1.1328074 ])
    >>> round(float(net.loss(x, np.array([0, 0, 1]))), 8)
    0.92806829
    """

    def __init__(self, W: ArrayLike | None = None, *, rng: Any = None) -> None:
        if W is None:
            self.W = as_rng(rng).standard_normal((2, 3))
        else:
            self.W = np.array(as_params_array(W, (2, 3), "W"), dtype=np.float64)

    def predict(self, x: ArrayLike) -> NDArray:
        """Scores ``x @ W``, shape (3,) or (batch, 3), for ``x`` of shape (2,) or (batch, 2)."""
        return np.dot(x, self.W)

    def loss(self, x: ArrayLike, t: ArrayLike) -> float:
        """Cross-entropy of ``softmax(x @ W)`` against one-hot or label targets ``t``."""
        z = self.predict(x)
        y = softmax(z)
        loss = cross_entropy_error(y, t)

        return loss

    def numerical_gradient(self, x: ArrayLike, t: ArrayLike, h: float = 1e-4) -> NDArray:
        """Central-difference gradient of :meth:`loss` with respect to ``W``, shaped like ``W``."""
        f = lambda w: self.loss(x, t)  # noqa: E731 - the book's idiom
        return numerical_gradient(f, self.W, h)


class TwoLayerNet:
    """The book's two-layer network: affine, sigmoid, affine, softmax (section 4.5.1).

    Parameters
    ----------
    input_size, hidden_size, output_size : int
        Layer widths; the book's MNIST network is 784-50-10.
    weight_init_std : float, default 0.01
        Standard deviation of the Gaussian initial weights; biases start at zero.
    rng : int or numpy.random.Generator, optional
        Seed or generator; the same seed gives the same initial parameters.

    Attributes
    ----------
    params : dict of str to ndarray of float64
        ``W1`` (input_size, hidden_size), ``b1`` (hidden_size,), ``W2`` (hidden_size,
        output_size), ``b2`` (output_size,).

    Examples
    --------
    >>> net = TwoLayerNet(784, 50, 10, rng=0)
    >>> {k: v.shape for k, v in net.params.items()}
    {'W1': (784, 50), 'b1': (50,), 'W2': (50, 10), 'b2': (10,)}
    >>> net.predict(np.zeros((2, 784))).shape
    (2, 10)
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        weight_init_std: float = 0.01,
        *,
        rng: Any = None,
    ) -> None:
        input_size = check_positive_int(input_size, "input_size")
        hidden_size = check_positive_int(hidden_size, "hidden_size")
        output_size = check_positive_int(output_size, "output_size")
        if output_size < 2:
            raise ValueError(
                "output_size must be at least 2: a softmax over one class is always 1, so the "
                "loss is the constant -log(1 + 1e-7) and every gradient is 0"
            )
        weight_init_std = check_init_std(weight_init_std)
        rng = as_rng(rng)
        # the book: weight_init_std * np.random.randn(...), biases zero
        self.params = {}
        self.params["W1"] = weight_init_std * rng.standard_normal((input_size, hidden_size))
        self.params["b1"] = np.zeros(hidden_size)
        self.params["W2"] = weight_init_std * rng.standard_normal((hidden_size, output_size))
        self.params["b2"] = np.zeros(output_size)

    @classmethod
    def from_params(cls, params: dict[str, ArrayLike]) -> TwoLayerNet:
        """A network that uses ``params`` as given (no copy), e.g. for a front door or a test."""
        net = cls.__new__(cls)
        net.params = dict(params)
        return net

    # -- the book's methods -------------------------------------------------------------

    def predict(self, x: ArrayLike) -> NDArray:
        """Softmax output, shape (batch, output_size), or (output_size,) for a 1-D ``x``."""
        W1, W2 = self.params["W1"], self.params["W2"]
        b1, b2 = self.params["b1"], self.params["b2"]

        a1 = np.dot(x, W1) + b1
        z1 = sigmoid(a1)
        a2 = np.dot(z1, W2) + b2
        y = softmax(a2)

        return y

    def loss(self, x: ArrayLike, t: ArrayLike) -> float:
        """Mean cross-entropy (with the book's ``+ 1e-7``) of :meth:`predict` against ``t``."""
        y = self.predict(x)

        return cross_entropy_error(y, t)

    def accuracy(self, x: ArrayLike, t: ArrayLike) -> float:
        """Fraction of rows whose largest output is the target class (labels or one-hot)."""
        y = self.predict(np.atleast_2d(x))
        y = np.argmax(y, axis=1)
        t = np.asarray(t)
        if t.size != y.size:  # one-hot rows, the book's ``t.ndim != 1``
            t = np.argmax(t.reshape(y.size, -1), axis=1)

        accuracy = np.sum(y == t.reshape(y.size)) / float(y.shape[0])
        return accuracy

    def numerical_gradient(self, x: ArrayLike, t: ArrayLike, h: float = 1e-4) -> dict[str, NDArray]:
        """Central-difference gradient of :meth:`loss`, a dict shaped like ``params``.

        Each parameter array is perturbed in place through
        :func:`~fastgrad.reference.gradient.numerical_gradient`, as in the book: 2 forward
        passes per parameter.
        """
        loss_W = lambda W: self.loss(x, t)  # noqa: E731 - the book's idiom

        grads = {}
        for name in PARAM_NAMES:
            grads[name] = numerical_gradient(loss_W, self.params[name], h)

        return grads

    def gradient(self, x: ArrayLike, t: ArrayLike) -> dict[str, NDArray]:
        """The analytic gradient of the loss without the ``1e-7`` guard, by backprop (section 5.7).

        The book's ``gradient`` method; ``t`` may be one-hot rows or labels (turned into
        one-hot rows here). A 1-D ``x`` is a batch of one.
        """
        W1, W2 = self.params["W1"], self.params["W2"]
        b1, b2 = self.params["b1"], self.params["b2"]
        x = np.atleast_2d(x)
        t = np.asarray(t)
        if t.size != x.shape[0] * W2.shape[1]:  # labels: the book's gradient wants one-hot
            t = np.eye(W2.shape[1])[t.reshape(x.shape[0])]
        grads = {}

        batch_num = x.shape[0]

        # forward
        a1 = np.dot(x, W1) + b1
        z1 = sigmoid(a1)
        a2 = np.dot(z1, W2) + b2
        y = softmax(a2)

        # backward
        dy = (y - t.reshape(y.shape)) / batch_num
        grads["W2"] = np.dot(z1.T, dy)
        grads["b2"] = np.sum(dy, axis=0)

        da1 = np.dot(dy, W2.T)
        dz1 = sigmoid_grad(a1) * da1
        grads["W1"] = np.dot(x.T, dz1)
        grads["b1"] = np.sum(dz1, axis=0)

        return {name: grads[name] for name in PARAM_NAMES}
