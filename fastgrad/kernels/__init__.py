"""Numba twins of :mod:`fastgrad.reference`: same names, same results, on all cores.

``reference/functions.py`` <-> ``kernels/functions.py``, ``reference/gradient.py`` <->
``kernels/gradient.py``, ``reference/nets.py`` <-> ``kernels/nets.py``, and so on; what the
network kernels share lives in ``series.py``, ``rowloss.py``, ``unitseries.py`` and
``inputs.py``. Kernels check only what keeps them inside their arrays (label range, widths,
shapes that chain); the package root (``fastgrad.numerical_gradient``,
``fastgrad.TwoLayerNet``) validates.
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_names
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
from .nets import SimpleNet, TwoLayerNet

if TYPE_CHECKING:
    from .multilayer import MultiLayerNet

__getattr__, __dir__ = lazy_names(globals(), {"MultiLayerNet": ".multilayer"})

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
