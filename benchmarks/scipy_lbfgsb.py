"""fastgrad as ``jac`` of SciPy's L-BFGS-B: 10 iterations on the extended Rosenbrock function
of 1,000 parameters, SciPy's default (no ``jac``: its own finite differences) against each
fastgrad route of docs/toolkit.md ("With SciPy's optimisers"), in rounds, best of 5; and how
far each route's iterate ends from the one with the analytic gradient.

The compiled route's first call compiles its kernel; it is made before the rounds (a
process that optimises once pays it once: it is printed on its own).

Run it alone on the machine: python benchmarks/scipy_lbfgsb.py
"""

import time

import numba
import numpy as np
from scipy.optimize import minimize, rosen, rosen_der

import fastgrad

N = 1000
OPTIONS = {"maxiter": 10}


@numba.njit
def rosen_compiled(x):
    total = 0.0
    for i in range(x.size - 1):
        total += 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return total


def rosen_stacked(X):
    """Rosenbrock of each row of a stack of points (``vectorized=True``)."""
    return np.sum(100.0 * (X[:, 1:] - X[:, :-1] ** 2) ** 2 + (1.0 - X[:, :-1]) ** 2, axis=1)


ROUTES = {
    "SciPy default (jac=None)": (rosen, None),
    "analytic rosen_der": (rosen, rosen_der),
    "fastgrad, compiled f": (
        rosen_compiled,
        lambda x: fastgrad.numerical_gradient(rosen_compiled, x),
    ),
    "fastgrad, NumPy f, vectorized=True": (
        rosen,
        lambda x: fastgrad.numerical_gradient(rosen_stacked, x, vectorized=True),
    ),
}


def run(f, jac, x0):
    return minimize(f, x0, jac=jac, method="L-BFGS-B", options=OPTIONS).x


def main() -> None:
    x0 = np.full(N, -1.2)
    x0[1::2] = 1.0
    start = time.perf_counter()
    fastgrad.numerical_gradient(rosen_compiled, x0)
    print(f"first compiled call (compiles): {time.perf_counter() - start:.2f} s")
    best = dict.fromkeys(ROUTES, np.inf)
    ends = {}
    for _ in range(5):  # rounds: every route once per round
        for name, (f, jac) in ROUTES.items():
            start = time.perf_counter()
            ends[name] = run(f, jac, x0)
            best[name] = min(best[name], time.perf_counter() - start)
    ref = ends["analytic rosen_der"]
    default = best["SciPy default (jac=None)"]
    for name in ROUTES:
        gap = np.max(np.abs(ends[name] - ref))
        print(
            f"{name:36s} {best[name] * 1e3:9.1f} ms  SciPy default / this: "
            f"{default / best[name]:6.2f}x  max |x - x_analytic| {gap:.1e}"
        )


if __name__ == "__main__":
    main()
