"""The book's optimisers (*Deep Learning from Scratch*, section 6.1, ``common/optimizer.py``).

Each updates a ``params`` dict in place from a ``grads`` dict of the same keys, with the
book's default hyper-parameters and its order of operations, so that a training run with
them reproduces the book's numbers. The state they carry (velocities, squared-gradient
sums, Adam's moments and step count) is read and restored exactly through
:meth:`Optimizer.state` and :meth:`Optimizer.load_state`, so that a checkpointed run resumes
bit for bit.

========== ================================================ =================
name       update of each parameter ``w`` with gradient ``g``  defaults
========== ================================================ =================
sgd        ``w -= lr g``                                    lr 0.01
momentum   ``v = momentum v - lr g;  w += v``               lr 0.01, 0.9
adagrad    ``h += g g;  w -= lr g / (sqrt(h) + 1e-7)``      lr 0.01
rmsprop    ``h = decay h + (1 - decay) g g;  w -= ...``     lr 0.01, 0.99
adam       moments ``m, v``; ``w -= lr_t m / (sqrt(v) + 1e-7)``  lr 0.001, 0.9, 0.999
========== ================================================ =================
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._validation import check_positive_float

__all__ = ["OPTIMIZERS", "Optimizer", "SGD", "Momentum", "AdaGrad", "RMSprop", "Adam", "make"]

#: The book's guard in the denominators of AdaGrad, RMSprop and Adam.
EPS = 1e-7


def _check_fraction(value: Any, name: str) -> float:
    value = check_positive_float(value, name)
    if not value < 1:
        raise ValueError(f"{name} must lie in (0, 1), got {value!r}")
    return value


class Optimizer(abc.ABC):
    """Base class: ``update(params, grads)`` in place; the state as a dict of arrays."""

    #: Names of the per-parameter state arrays (dicts keyed like ``params``).
    _slots: tuple[str, ...] = ()

    def __init__(self, lr: float) -> None:
        self.lr = check_positive_float(lr, "lr")
        for slot in self._slots:
            setattr(self, slot, None)

    @abc.abstractmethod
    def update(self, params: dict[str, NDArray], grads: Mapping[str, NDArray]) -> None:
        """Update every array of ``params`` in place from ``grads``."""

    def _zeros(self, params: Mapping[str, NDArray]) -> dict[str, NDArray]:
        return {key: np.zeros_like(val) for key, val in params.items()}

    def state(self) -> dict[str, NDArray]:
        """The optimiser's state as flat ``"slot/key"`` arrays (empty before the first update),
        for a checkpoint."""
        out: dict[str, NDArray] = {}
        for slot in self._slots:
            arrays = getattr(self, slot)
            if arrays is not None:
                out.update({f"{slot}/{key}": np.array(val) for key, val in arrays.items()})
        if hasattr(self, "iter"):
            out["iter"] = np.array(self.iter)
        return out

    def load_state(self, state: Mapping[str, NDArray]) -> None:
        """Restore what :meth:`state` returned, exactly."""
        for slot in self._slots:
            arrays = {
                name.split("/", 1)[1]: np.array(val)
                for name, val in state.items()
                if name.startswith(slot + "/")
            }
            setattr(self, slot, arrays or None)
        if hasattr(self, "iter"):
            self.iter = int(state.get("iter", 0))


class SGD(Optimizer):
    """Stochastic gradient descent: ``w -= lr * g`` (section 6.1.2)."""

    def __init__(self, lr: float = 0.01) -> None:
        super().__init__(lr)

    def update(self, params: dict[str, NDArray], grads: Mapping[str, NDArray]) -> None:
        for key in params.keys():
            params[key] -= self.lr * grads[key]


class Momentum(Optimizer):
    """``v = momentum * v - lr * g; w += v`` (section 6.1.4)."""

    _slots = ("v",)

    def __init__(self, lr: float = 0.01, momentum: float = 0.9) -> None:
        super().__init__(lr)
        self.momentum = _check_fraction(momentum, "momentum")

    def update(self, params: dict[str, NDArray], grads: Mapping[str, NDArray]) -> None:
        if self.v is None:
            self.v = self._zeros(params)
        for key in params.keys():
            self.v[key] = self.momentum * self.v[key] - self.lr * grads[key]
            params[key] += self.v[key]


class AdaGrad(Optimizer):
    """``h += g * g; w -= lr * g / (sqrt(h) + 1e-7)`` (section 6.1.5)."""

    _slots = ("h",)

    def __init__(self, lr: float = 0.01) -> None:
        super().__init__(lr)

    def update(self, params: dict[str, NDArray], grads: Mapping[str, NDArray]) -> None:
        if self.h is None:
            self.h = self._zeros(params)
        for key in params.keys():
            self.h[key] += grads[key] * grads[key]
            params[key] -= self.lr * grads[key] / (np.sqrt(self.h[key]) + EPS)


class RMSprop(Optimizer):
    """AdaGrad with a decaying sum: ``h = decay * h + (1 - decay) * g * g``."""

    _slots = ("h",)

    def __init__(self, lr: float = 0.01, decay_rate: float = 0.99) -> None:
        super().__init__(lr)
        self.decay_rate = _check_fraction(decay_rate, "decay_rate")

    def update(self, params: dict[str, NDArray], grads: Mapping[str, NDArray]) -> None:
        if self.h is None:
            self.h = self._zeros(params)
        for key in params.keys():
            self.h[key] *= self.decay_rate
            self.h[key] += (1 - self.decay_rate) * grads[key] * grads[key]
            params[key] -= self.lr * grads[key] / (np.sqrt(self.h[key]) + EPS)


class Adam(Optimizer):
    """Adam (section 6.1.6), with the book's bias correction folded into ``lr_t``."""

    _slots = ("m", "v")

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999) -> None:
        super().__init__(lr)
        self.beta1 = _check_fraction(beta1, "beta1")
        self.beta2 = _check_fraction(beta2, "beta2")
        self.iter = 0

    def update(self, params: dict[str, NDArray], grads: Mapping[str, NDArray]) -> None:
        if self.m is None:
            self.m, self.v = self._zeros(params), self._zeros(params)
        self.iter += 1
        lr_t = self.lr * np.sqrt(1.0 - self.beta2**self.iter) / (1.0 - self.beta1**self.iter)
        for key in params.keys():
            self.m[key] += (1 - self.beta1) * (grads[key] - self.m[key])
            self.v[key] += (1 - self.beta2) * (grads[key] ** 2 - self.v[key])
            params[key] -= lr_t * self.m[key] / (np.sqrt(self.v[key]) + EPS)


#: Name -> class, the names ``fastgrad train --optimizer`` accepts.
OPTIMIZERS: dict[str, type[Optimizer]] = {
    "sgd": SGD,
    "momentum": Momentum,
    "adagrad": AdaGrad,
    "rmsprop": RMSprop,
    "adam": Adam,
}


def make(name: str, lr: float | None = None) -> Optimizer:
    """The optimiser called ``name`` with the book's defaults (``lr`` if given).

    Examples
    --------
    >>> opt = make("adam")
    >>> type(opt).__name__, opt.lr
    ('Adam', 0.001)
    """
    if name not in OPTIMIZERS:
        choices = ", ".join(repr(n) for n in OPTIMIZERS)
        raise ValueError(f"unknown optimizer {name!r}; choose one of {choices}")
    cls = OPTIMIZERS[name]
    return cls() if lr is None else cls(lr=lr)
