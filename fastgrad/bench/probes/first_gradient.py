"""Probe: the first numerical gradient a user gets in a fresh process, import included.

The clock starts before ``import numpy`` and ``import fastgrad`` and stops when the
gradient of ``TwoLayerNet(784, 50, 10)`` at batch 100 is back; then a second gradient, and
the loss and accuracy that ``fastgrad train`` also calls before its first iteration. Prints
``import_s``, ``first_call_s``, ``total_s``, ``second_call_s``, ``loss_accuracy_s`` as JSON.
Run by path, never with ``-m`` (which imports fastgrad before the clock starts; see
:mod:`fastgrad.bench.probes`); :func:`fastgrad.bench.probes.first_gradient_probe` runs it.
"""

import time


def main() -> dict:
    t0 = time.perf_counter()
    import numpy as np

    import fastgrad

    t1 = time.perf_counter()
    rng = np.random.default_rng(0)
    x = rng.random((100, 784), dtype=np.float32)
    t = rng.integers(0, 10, 100)
    net = fastgrad.TwoLayerNet(784, 50, 10, rng=0)
    t2 = time.perf_counter()
    net.numerical_gradient(x, t)
    t3 = time.perf_counter()
    net.numerical_gradient(x, t)
    t4 = time.perf_counter()
    net.loss(x, t)
    net.accuracy(x, t)
    t5 = time.perf_counter()
    return {
        "import_s": t1 - t0,
        "first_call_s": t3 - t2,
        "total_s": t3 - t0,
        "second_call_s": t4 - t3,
        "loss_accuracy_s": t5 - t4,
    }


if __name__ == "__main__":
    result = main()
    import json

    print(json.dumps(result))
