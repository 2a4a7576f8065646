"""Probe: a user's first calls in a fresh process, nothing else: cached kernels must load
and run.

A cached serial kernel that calls a parallel one, loaded before Numba's threading layer has
started, crashed the process (numba issue #9938). Prints ``{"ok": true}`` when every call
returned. Run by path (see :mod:`fastgrad.bench.probes`);
:func:`fastgrad.bench.probes.first_calls_probe` runs it.
"""

import json


def main() -> dict:
    import numpy as np

    import fastgrad

    fastgrad.kernels.softmax(np.ones((1, 10)))
    fastgrad.kernels.cross_entropy_error(np.full((1, 10), 0.1), np.zeros(1, np.int64))
    net = fastgrad.TwoLayerNet(784, 4, 10, rng=0)
    net.numerical_gradient(np.ones((3, 784)), np.arange(3))
    net.gradient(np.ones((3, 784)), np.arange(3))
    return {"ok": True}


if __name__ == "__main__":
    print(json.dumps(main()))
