"""fastgrad: the numerical gradients of *Deep Learning from Scratch*, chapter 4, made fast.

- :mod:`fastgrad.reference`: the book's code in pure NumPy, the oracle;
- :mod:`fastgrad.kernels`: the Numba twins, on all cores, exploiting the network's structure;
- the front door here: :func:`numerical_gradient` (the book's central difference and five
  more methods), :func:`jacobian`, :func:`hessian`, :func:`check_gradient`,
  :class:`SimpleNet`, :class:`TwoLayerNet`, :class:`MultiLayerNet` (chapter 6: any depth,
  ReLU or sigmoid, weight decay) and :func:`gradient_check` (backprop against the numerical
  gradient, as the book's ``gradient_check.py``), with ``backend="numpy"`` or ``"numba"``,
  input validated once;
- :func:`accelerate`: the same speed for the reader's own book network, on its own arrays.
"""

from typing import TYPE_CHECKING

from . import (
    _config,  # noqa: F401  (picks a thread-safe Numba threading layer first)
    kernels,
    reference,
)
from ._api import (
    BACKENDS,
    MultiLayerNet,
    NetworkGradientCheck,
    ParamCheck,
    SimpleNet,
    TwoLayerNet,
    gradient_check,
)
from ._lazy import lazy_names
from ._threads import get_num_threads, set_num_threads, threads
from ._version import __version__

if TYPE_CHECKING:
    from ._accelerate import accelerate
    from ._differentiate import DerivativeInfo, hessian, jacobian, numerical_gradient
    from ._gradcheck import GradientCheck, check_gradient

__getattr__, __dir__ = lazy_names(
    globals(),
    {
        "accelerate": "._accelerate",
        "DerivativeInfo": "._differentiate",
        "hessian": "._differentiate",
        "jacobian": "._differentiate",
        "numerical_gradient": "._differentiate",
        "GradientCheck": "._gradcheck",
        "check_gradient": "._gradcheck",
    },
)

__all__ = [
    "__version__",
    "reference",
    "kernels",
    "BACKENDS",
    "numerical_gradient",
    "jacobian",
    "hessian",
    "check_gradient",
    "DerivativeInfo",
    "GradientCheck",
    "SimpleNet",
    "TwoLayerNet",
    "MultiLayerNet",
    "gradient_check",
    "accelerate",
    "NetworkGradientCheck",
    "ParamCheck",
    "threads",
    "get_num_threads",
    "set_num_threads",
]
