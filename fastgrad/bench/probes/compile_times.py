"""Probe: the import, then the first and second call of each kernel family, in a fresh process.

``python fastgrad/bench/probes/compile_times.py TASKS``, with ``TASKS`` a comma-separated
list among functions, generic, twolayer, analytic; ``NUMBA_CACHE_DIR`` chooses the cache.
Prints ``{"import": {"first": s}, TASK: {"first": s, "second": s}, ...}``. Run by path (see
:mod:`fastgrad.bench.probes`); :func:`fastgrad.bench.probes.compile_probe` runs it.
"""

import json
import sys
import time


def main(tasks: list[str]) -> dict:
    t0 = time.perf_counter()
    import numba
    import numpy as np

    import fastgrad

    out = {"import": {"first": time.perf_counter() - t0}}
    numba.get_num_threads()  # start the threading layer first: numba issue #9938 (first_calls)
    rng = np.random.default_rng(0)

    def twice(name, fn):
        t0 = time.perf_counter()
        fn()
        t1 = time.perf_counter()
        fn()
        t2 = time.perf_counter()
        out[name] = {"first": t1 - t0, "second": t2 - t1}

    if "functions" in tasks:
        z = rng.standard_normal((100, 10))
        twice("functions", lambda: fastgrad.kernels.softmax_loss(z, np.zeros(100, np.int64)))
    if "generic" in tasks:

        @numba.njit  # a user's function: compiled in this process, never cached
        def quad(x):
            s = 0.0
            for i in range(x.size):
                s += x[i] * x[i]
            return s

        xg = rng.standard_normal(1000)
        twice("generic", lambda: fastgrad.numerical_gradient(quad, xg))
    if "twolayer" in tasks or "analytic" in tasks:
        net = fastgrad.TwoLayerNet(784, 50, 10, rng=0)
        x = rng.random((100, 784))
        t = rng.integers(0, 10, 100)
        if "twolayer" in tasks:
            twice("twolayer", lambda: net.numerical_gradient(x, t))
        if "analytic" in tasks:
            twice("analytic", lambda: net.gradient(x, t))
    return out


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1].split(","))))
