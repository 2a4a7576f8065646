"""The oracle: the book's chapter-4 code in pure NumPy (*Deep Learning from Scratch*).

Every accelerated backend (:mod:`fastgrad.kernels`) is checked against these functions. They
reproduce the book's numbers bit for bit: same names, same operations, same order.
"""

from .functions import (
    cross_entropy_error,
    identity_function,
    relu,
    relu_grad,
    sigmoid,
    sigmoid_grad,
    softmax,
    softmax_loss,
    step_function,
    sum_squared_error,
)
from .gradient import gradient_descent, numerical_diff, numerical_gradient
from .multilayer import MultiLayerNet
from .nets import SimpleNet, TwoLayerNet

__all__ = [
    "identity_function",
    "step_function",
    "sigmoid",
    "sigmoid_grad",
    "relu",
    "relu_grad",
    "softmax",
    "sum_squared_error",
    "cross_entropy_error",
    "softmax_loss",
    "numerical_diff",
    "numerical_gradient",
    "gradient_descent",
    "SimpleNet",
    "TwoLayerNet",
    "MultiLayerNet",
]
