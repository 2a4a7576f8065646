"""Classic test functions with known derivatives: an accuracy oracle for the differentiation
toolkit.

- :data:`MGH`: 23 functions of the Moré-Garbow-Hillstrom collection (J. J. Moré, B. S.
  Garbow, K. E. Hillstrom, "Testing unconstrained optimization software", ACM TOMS 7(1),
  1981), each the sum of squares of its residuals ``f(x) = sum_i r_i(x)^2``, evaluated at
  the paper's standard starting point ``x0``, at ``10 x0`` (the paper's own second start)
  and at a seeded perturbation of ``x0``;
- :data:`HARD_POINTS`: ``exp``, ``log`` and ``sin`` and their compositions where finite
  differences are hard: large arguments (the ``max(1, |x|)`` step scale is far wider than
  the function's own), close to a singularity, a vanishing derivative, a function value
  rounded by cancellation.

The extended Rosenbrock function (MGH 21) is the bench's toolkit workload, imported from
:mod:`fastgrad.bench.workloads` so that its analytic gradient is checked here too.

Every residual function is written once, in code that Numba compiles (for ``f``, in float64
and complex128: every ``f`` here accepts the complex step) and NumPy runs in any float
dtype: :meth:`Problem.gradient` evaluates the analytic gradient ``2 J(x)^T r(x)`` in long
double (80-bit on x86; plain float64 where the platform has no wider type), so that the
reference's own rounding stays far below every error the tests measure. Constants that
depend on data (``exp(-t_i)``, ``sin(t_i)``, ...) are computed once, in float64, and shared
by ``f`` and its gradient: both describe the same function.

Examples
--------
>>> p = PROBLEMS["Beale"]
>>> p.f(np.array([1.0, 1.0]))  # r = (1.5, 2.25, 2.625): 1.5**2 + 2.25**2 + 2.625**2
14.203125
>>> p.gradient(np.array([1.0, 1.0])).tolist()  # 2 J^T r, by hand: (0, 2 (1.5 + 4.5 + 7.875))
[0.0, 27.75]
>>> len(MGH), sum(p.elements for p in SUITE) > 250
(23, True)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numba
import numpy as np
from numpy.typing import NDArray

from fastgrad.bench.workloads import (
    extended_rosenbrock,
    extended_rosenbrock_gradient,
    extended_rosenbrock_start,
)

__all__ = ["Problem", "MGH", "HARD_POINTS", "SUITE", "PROBLEMS", "TRUTH_DTYPE"]

#: The dtype of the analytic reference: long double (80-bit on x86).
TRUTH_DTYPE = np.longdouble


def _jit(fn: Callable) -> Callable:
    """Plain ``numba.njit``, cached: strict IEEE semantics, as a user would write ``f``."""
    return numba.njit(cache=True)(fn)


@dataclass(frozen=True)
class Problem:
    """A scalar function with a known gradient, and the points to differentiate it at.

    Attributes
    ----------
    name : str
    source : str
        ``"MGH 21"`` (the function's number in the paper) or ``"hard point"``.
    f : numba dispatcher
        ``f(x) -> scalar``, compiled with ``numba.njit``; float64 or complex128 ``x``.
    grad : callable
        ``grad(x) -> ndarray``: the analytic gradient, in ``x``'s float dtype (NumPy).
    points : tuple of ndarray
        float64 points.
    what : str
        Why the points are there (the hard points say what is hard).
    """

    name: str
    source: str
    f: Callable
    grad: Callable[[NDArray], NDArray]
    points: tuple[NDArray, ...]
    what: str = ""

    def gradient(self, x: NDArray, dtype: type = np.float64) -> NDArray:
        """The analytic gradient at ``x``, computed in ``dtype`` (``TRUTH_DTYPE`` for the
        reference) and returned in that dtype."""
        return np.asarray(self.grad(np.asarray(x, dtype=dtype)), dtype=dtype)

    @property
    def elements(self) -> int:
        """Gradient elements over all points."""
        return sum(p.size for p in self.points)


def _sum_of_squares_gradient(
    residuals: Callable[[NDArray], NDArray], jacobian: Callable[[NDArray], NDArray]
) -> Callable[[NDArray], NDArray]:
    """``x -> 2 J(x)^T r(x)``, the gradient of ``sum_i r_i(x)^2``, in ``x``'s dtype."""

    def grad(x: NDArray) -> NDArray:
        r = residuals(x)
        J = jacobian(x)
        return 2 * np.einsum("ij,i->j", J, r)  # no BLAS: long double stays long double

    return grad


def _points(x0: NDArray, seed: int) -> tuple[NDArray, ...]:
    """``x0``, ``10 x0`` (the paper's second start; left out when ``x0 = 0``) and
    ``x0 + 0.1 (1 + |x0|) z`` with ``z`` standard normal from ``seed``."""
    x0 = np.asarray(x0, dtype=np.float64)
    z = np.random.default_rng([0x46, seed]).standard_normal(x0.shape)
    pts = [x0] + ([10 * x0] if np.any(x0) else []) + [x0 + 0.1 * (1 + np.abs(x0)) * z]
    return tuple(pts)


# -- the Moré-Garbow-Hillstrom functions ---------------------------------------------------------
# Each: the residuals (Numba- and NumPy-compatible), their Jacobian (NumPy), f = sum r^2
# (Numba). Indices are 0-based: the paper's x_1 is x[0].


def rosenbrock_residuals(x):
    return np.array([10.0 * (x[1] - x[0] ** 2), 1.0 - x[0]])


def _rosenbrock_jacobian(x):
    z = 0 * x[0]
    return np.array([[-20.0 * x[0], 10.0 + z], [-1.0 + z, z]])


def freudenstein_roth_residuals(x):
    return np.array(
        [
            -13.0 + x[0] + ((5.0 - x[1]) * x[1] - 2.0) * x[1],
            -29.0 + x[0] + ((x[1] + 1.0) * x[1] - 14.0) * x[1],
        ]
    )


def _freudenstein_roth_jacobian(x):
    one = 1 + 0 * x[0]
    return np.array(
        [
            [one, 10.0 * x[1] - 3.0 * x[1] ** 2 - 2.0],
            [one, 3.0 * x[1] ** 2 + 2.0 * x[1] - 14.0],
        ]
    )


def powell_badly_scaled_residuals(x):
    return np.array([1e4 * x[0] * x[1] - 1.0, np.exp(-x[0]) + np.exp(-x[1]) - 1.0001])


def _powell_badly_scaled_jacobian(x):
    return np.array([[1e4 * x[1], 1e4 * x[0]], [-np.exp(-x[0]), -np.exp(-x[1])]])


def brown_badly_scaled_residuals(x):
    return np.array([x[0] - 1e6, x[1] - 2e-6, x[0] * x[1] - 2.0])


def _brown_badly_scaled_jacobian(x):
    z = 0 * x[0]
    return np.array([[1 + z, z], [z, 1 + z], [x[1], x[0]]])


_BEALE_Y = np.array([1.5, 2.25, 2.625])
_BEALE_I = np.array([1.0, 2.0, 3.0])


def beale_residuals(x):
    return _BEALE_Y - x[0] * (1.0 - x[1] ** _BEALE_I)


def _beale_jacobian(x):
    return np.stack([-(1.0 - x[1] ** _BEALE_I), x[0] * _BEALE_I * x[1] ** (_BEALE_I - 1)], axis=1)


_JS_I = np.arange(1.0, 11.0)


def jennrich_sampson_residuals(x):
    return 2.0 + 2.0 * _JS_I - (np.exp(_JS_I * x[0]) + np.exp(_JS_I * x[1]))


def _jennrich_sampson_jacobian(x):
    return np.stack([-_JS_I * np.exp(_JS_I * x[0]), -_JS_I * np.exp(_JS_I * x[1])], axis=1)


_TWO_PI = 2 * math.pi


def helical_valley_residuals(x):
    theta = np.arctan(x[1] / x[0]) / _TWO_PI
    if x[0].real < 0:  # .real: the complex step keeps the real branch
        theta = theta + 0.5
    return np.array(
        [10.0 * (x[2] - 10.0 * theta), 10.0 * (np.sqrt(x[0] ** 2 + x[1] ** 2) - 1.0), x[2]]
    )


def _helical_valley_jacobian(x):
    rho2 = x[0] ** 2 + x[1] ** 2
    rho = np.sqrt(rho2)
    z = 0 * x[0]
    return np.array(
        [
            [100.0 * x[1] / (_TWO_PI * rho2), -100.0 * x[0] / (_TWO_PI * rho2), 10 + z],
            [10.0 * x[0] / rho, 10.0 * x[1] / rho, z],
            [z, z, 1 + z],
        ]
    )


_BARD_Y = np.array(
    [0.14, 0.18, 0.22, 0.25, 0.29, 0.32, 0.35, 0.39, 0.37, 0.58, 0.73, 0.96, 1.34, 2.10, 4.39]
)
_BARD_U = np.arange(1.0, 16.0)
_BARD_V = 16.0 - _BARD_U
_BARD_W = np.minimum(_BARD_U, _BARD_V)


def bard_residuals(x):
    return _BARD_Y - (x[0] + _BARD_U / (_BARD_V * x[1] + _BARD_W * x[2]))


def _bard_jacobian(x):
    d2 = (_BARD_V * x[1] + _BARD_W * x[2]) ** 2
    return np.stack([-1.0 + 0 * d2, _BARD_U * _BARD_V / d2, _BARD_U * _BARD_W / d2], axis=1)


_GAUSSIAN_T = (8.0 - np.arange(1.0, 16.0)) / 2
_GAUSSIAN_Y = np.array(
    [
        0.0009,
        0.0044,
        0.0175,
        0.0540,
        0.1295,
        0.2420,
        0.3521,
        0.3989,
        0.3521,
        0.2420,
        0.1295,
        0.0540,
        0.0175,
        0.0044,
        0.0009,
    ]
)


def gaussian_residuals(x):
    return x[0] * np.exp(-x[1] * (_GAUSSIAN_T - x[2]) ** 2 / 2) - _GAUSSIAN_Y


def _gaussian_jacobian(x):
    d = _GAUSSIAN_T - x[2]
    e = np.exp(-x[1] * d**2 / 2)
    return np.stack([e, -x[0] * e * d**2 / 2, x[0] * e * x[1] * d], axis=1)


_MEYER_T = 45.0 + 5.0 * np.arange(1.0, 17.0)
_MEYER_Y = np.array(
    [
        34780.0,
        28610.0,
        23650.0,
        19630.0,
        16370.0,
        13720.0,
        11540.0,
        9744.0,
        8261.0,
        7030.0,
        6005.0,
        5147.0,
        4427.0,
        3820.0,
        3307.0,
        2872.0,
    ]
)


def meyer_residuals(x):
    return x[0] * np.exp(x[1] / (_MEYER_T + x[2])) - _MEYER_Y


def _meyer_jacobian(x):
    d = _MEYER_T + x[2]
    e = np.exp(x[1] / d)
    return np.stack([e, x[0] * e / d, -x[0] * x[1] * e / d**2], axis=1)


_BOX_T = 0.1 * np.arange(1.0, 11.0)
_BOX_C = np.exp(-_BOX_T) - np.exp(-10.0 * _BOX_T)


def box_3d_residuals(x):
    return np.exp(-_BOX_T * x[0]) - np.exp(-_BOX_T * x[1]) - x[2] * _BOX_C


def _box_3d_jacobian(x):
    return np.stack(
        [-_BOX_T * np.exp(-_BOX_T * x[0]), _BOX_T * np.exp(-_BOX_T * x[1]), -_BOX_C + 0 * x[2]],
        axis=1,
    )


_SQRT5, _SQRT10, _SQRT90 = math.sqrt(5.0), math.sqrt(10.0), math.sqrt(90.0)


def powell_singular_residuals(x):
    return np.array(
        [
            x[0] + 10.0 * x[1],
            _SQRT5 * (x[2] - x[3]),
            (x[1] - 2.0 * x[2]) ** 2,
            _SQRT10 * (x[0] - x[3]) ** 2,
        ]
    )


def _powell_singular_jacobian(x):
    z = 0 * x[0]
    a, b = 2.0 * (x[1] - 2.0 * x[2]), 2.0 * _SQRT10 * (x[0] - x[3])
    return np.array(
        [
            [1 + z, 10 + z, z, z],
            [z, z, _SQRT5 + z, -_SQRT5 + z],
            [z, a, -2.0 * a, z],
            [b, z, z, -b],
        ]
    )


def wood_residuals(x):
    return np.array(
        [
            10.0 * (x[1] - x[0] ** 2),
            1.0 - x[0],
            _SQRT90 * (x[3] - x[2] ** 2),
            1.0 - x[2],
            _SQRT10 * (x[1] + x[3] - 2.0),
            (x[1] - x[3]) / _SQRT10,
        ]
    )


def _wood_jacobian(x):
    z = 0 * x[0]
    return np.array(
        [
            [-20.0 * x[0], 10 + z, z, z],
            [-1 + z, z, z, z],
            [z, z, -2.0 * _SQRT90 * x[2], _SQRT90 + z],
            [z, z, -1 + z, z],
            [z, _SQRT10 + z, z, _SQRT10 + z],
            [z, 1 / _SQRT10 + z, z, -1 / _SQRT10 + z],
        ]
    )


_KO_Y = np.array(
    [0.1957, 0.1947, 0.1735, 0.1600, 0.0844, 0.0627, 0.0456, 0.0342, 0.0323, 0.0235, 0.0246]
)
_KO_U = np.array([4.0, 2.0, 1.0, 0.5, 0.25, 0.167, 0.125, 0.1, 0.0833, 0.0714, 0.0625])


def kowalik_osborne_residuals(x):
    return _KO_Y - x[0] * (_KO_U**2 + _KO_U * x[1]) / (_KO_U**2 + _KO_U * x[2] + x[3])


def _kowalik_osborne_jacobian(x):
    num = _KO_U**2 + _KO_U * x[1]
    den = _KO_U**2 + _KO_U * x[2] + x[3]
    return np.stack(
        [-num / den, -x[0] * _KO_U / den, x[0] * num * _KO_U / den**2, x[0] * num / den**2],
        axis=1,
    )


_BD_T = np.arange(1.0, 21.0) / 5
_BD_EXP, _BD_SIN, _BD_COS = np.exp(_BD_T), np.sin(_BD_T), np.cos(_BD_T)


def brown_dennis_residuals(x):
    return (x[0] + _BD_T * x[1] - _BD_EXP) ** 2 + (x[2] + x[3] * _BD_SIN - _BD_COS) ** 2


def _brown_dennis_jacobian(x):
    a = 2 * (x[0] + _BD_T * x[1] - _BD_EXP)
    b = 2 * (x[2] + x[3] * _BD_SIN - _BD_COS)
    return np.stack([a, a * _BD_T, b, b * _BD_SIN], axis=1)


_OSB_T = 10.0 * np.arange(33.0)
_OSB_Y = np.array(
    [
        0.844,
        0.908,
        0.932,
        0.936,
        0.925,
        0.908,
        0.881,
        0.850,
        0.818,
        0.784,
        0.751,
        0.718,
        0.685,
        0.658,
        0.628,
        0.603,
        0.580,
        0.558,
        0.538,
        0.522,
        0.506,
        0.490,
        0.478,
        0.467,
        0.457,
        0.448,
        0.438,
        0.431,
        0.424,
        0.420,
        0.414,
        0.411,
        0.406,
    ]
)


def osborne1_residuals(x):
    return _OSB_Y - (x[0] + x[1] * np.exp(-_OSB_T * x[3]) + x[2] * np.exp(-_OSB_T * x[4]))


def _osborne1_jacobian(x):
    e4, e5 = np.exp(-_OSB_T * x[3]), np.exp(-_OSB_T * x[4])
    return np.stack([-1.0 + 0 * e4, -e4, -e5, x[1] * _OSB_T * e4, x[2] * _OSB_T * e5], axis=1)


_BIGGS_T = 0.1 * np.arange(1.0, 14.0)
_BIGGS_Y = np.exp(-_BIGGS_T) - 5.0 * np.exp(-10.0 * _BIGGS_T) + 3.0 * np.exp(-4.0 * _BIGGS_T)


def biggs_exp6_residuals(x):
    t = _BIGGS_T
    return x[2] * np.exp(-t * x[0]) - x[3] * np.exp(-t * x[1]) + x[5] * np.exp(-t * x[4]) - _BIGGS_Y


def _biggs_exp6_jacobian(x):
    t = _BIGGS_T
    e0, e1, e4 = np.exp(-t * x[0]), np.exp(-t * x[1]), np.exp(-t * x[4])
    return np.stack([-t * x[2] * e0, t * x[3] * e1, e0, -e1, -t * x[5] * e4, e4], axis=1)


_WATSON_T = np.arange(1.0, 30.0) / 29


def watson_residuals(x):
    n = x.shape[0]
    r = np.empty(31, dtype=x.dtype)
    for i in range(29):
        t = _WATSON_T[i]
        s1 = 0 * x[0]
        s2 = x[0]
        tk = 1.0  # t ** (k - 1)
        for k in range(1, n):
            s1 = s1 + k * x[k] * tk
            tk = tk * t
            s2 = s2 + x[k] * tk
        r[i] = s1 - s2 * s2 - 1.0
    r[29] = x[0]
    r[30] = x[1] - x[0] ** 2 - 1.0
    return r


def _watson_jacobian(x):
    n = x.shape[0]
    k = np.arange(n)
    tk = _WATSON_T[:, None] ** k  # t ** k
    s2 = np.einsum("ik,k->i", tk, x)  # no BLAS: long double stays long double
    tkm1 = np.where(k >= 1, _WATSON_T[:, None] ** np.maximum(k - 1, 0), 0.0)
    J = np.zeros((31, n), dtype=x.dtype)
    J[:29] = k * tkm1 - 2 * s2[:, None] * tk
    J[29, 0] = 1
    J[30, 0], J[30, 1] = -2 * x[0], 1
    return J


def extended_powell_singular_residuals(x):
    r = np.empty(x.shape[0], dtype=x.dtype)
    for i in range(0, x.shape[0], 4):
        r[i] = x[i] + 10.0 * x[i + 1]
        r[i + 1] = _SQRT5 * (x[i + 2] - x[i + 3])
        r[i + 2] = (x[i + 1] - 2.0 * x[i + 2]) ** 2
        r[i + 3] = _SQRT10 * (x[i] - x[i + 3]) ** 2
    return r


def _extended_powell_singular_jacobian(x):
    n = x.shape[0]
    J = np.zeros((n, n), dtype=x.dtype)
    for i in range(0, n, 4):
        J[i : i + 4, i : i + 4] = _powell_singular_jacobian(x[i : i + 4])
    return J


_PENALTY_A = math.sqrt(1e-5)


def penalty1_residuals(x):
    n = x.shape[0]
    r = np.empty(n + 1, dtype=x.dtype)
    s = 0 * x[0]
    for i in range(n):
        r[i] = _PENALTY_A * (x[i] - 1.0)
        s = s + x[i] * x[i]
    r[n] = s - 0.25
    return r


def _penalty1_jacobian(x):
    n = x.shape[0]
    J = np.zeros((n + 1, n), dtype=x.dtype)
    J[np.arange(n), np.arange(n)] = _PENALTY_A
    J[n] = 2 * x
    return J


def variably_dimensioned_residuals(x):
    n = x.shape[0]
    r = np.empty(n + 2, dtype=x.dtype)
    s = 0 * x[0]
    for j in range(n):
        r[j] = x[j] - 1.0
        s = s + (j + 1) * (x[j] - 1.0)
    r[n] = s
    r[n + 1] = s * s
    return r


def _variably_dimensioned_jacobian(x):
    n = x.shape[0]
    w = np.arange(1.0, n + 1)
    s = np.sum(w * (x - 1))
    J = np.zeros((n + 2, n), dtype=x.dtype)
    J[np.arange(n), np.arange(n)] = 1
    J[n] = w
    J[n + 1] = 2 * s * w
    return J


def trigonometric_residuals(x):
    n = x.shape[0]
    c = 0 * x[0]
    for j in range(n):
        c = c + np.cos(x[j])
    r = np.empty(n, dtype=x.dtype)
    for i in range(n):
        r[i] = n - c + (i + 1) * (1.0 - np.cos(x[i])) - np.sin(x[i])
    return r


def _trigonometric_jacobian(x):
    n = x.shape[0]
    J = np.tile(np.sin(x), (n, 1))
    i = np.arange(n)
    J[i, i] += (i + 1) * np.sin(x) - np.cos(x)
    return J


# -- f: the sums of squares, compiled ------------------------------------------------------------
# One module-level line per f: Numba's cache keys a function by its name and line, and cannot
# key closures made by a factory (they miss the cache at every start; a cold compile of the
# whole suite takes tens of seconds).


@numba.njit(cache=True)
def _sq(r):  # pragma: no cover - compiled
    """``sum(r * r)`` (``r * r``, not ``|r|^2``: the complex step must see it)."""
    s = r[0] * r[0]
    for i in range(1, r.shape[0]):
        s += r[i] * r[i]
    return s


_r_rosenbrock = _jit(rosenbrock_residuals)
_r_freudenstein_roth = _jit(freudenstein_roth_residuals)
_r_powell_badly_scaled = _jit(powell_badly_scaled_residuals)
_r_brown_badly_scaled = _jit(brown_badly_scaled_residuals)
_r_beale = _jit(beale_residuals)
_r_jennrich_sampson = _jit(jennrich_sampson_residuals)
_r_helical_valley = _jit(helical_valley_residuals)
_r_bard = _jit(bard_residuals)
_r_gaussian = _jit(gaussian_residuals)
_r_meyer = _jit(meyer_residuals)
_r_box_3d = _jit(box_3d_residuals)
_r_powell_singular = _jit(powell_singular_residuals)
_r_wood = _jit(wood_residuals)
_r_kowalik_osborne = _jit(kowalik_osborne_residuals)
_r_brown_dennis = _jit(brown_dennis_residuals)
_r_osborne1 = _jit(osborne1_residuals)
_r_biggs_exp6 = _jit(biggs_exp6_residuals)
_r_watson = _jit(watson_residuals)
_r_extended_powell_singular = _jit(extended_powell_singular_residuals)
_r_penalty1 = _jit(penalty1_residuals)
_r_variably_dimensioned = _jit(variably_dimensioned_residuals)
_r_trigonometric = _jit(trigonometric_residuals)

rosenbrock = _jit(lambda x: _sq(_r_rosenbrock(x)))
freudenstein_roth = _jit(lambda x: _sq(_r_freudenstein_roth(x)))
powell_badly_scaled = _jit(lambda x: _sq(_r_powell_badly_scaled(x)))
brown_badly_scaled = _jit(lambda x: _sq(_r_brown_badly_scaled(x)))
beale = _jit(lambda x: _sq(_r_beale(x)))
jennrich_sampson = _jit(lambda x: _sq(_r_jennrich_sampson(x)))
helical_valley = _jit(lambda x: _sq(_r_helical_valley(x)))
bard = _jit(lambda x: _sq(_r_bard(x)))
gaussian = _jit(lambda x: _sq(_r_gaussian(x)))
meyer = _jit(lambda x: _sq(_r_meyer(x)))
box_3d = _jit(lambda x: _sq(_r_box_3d(x)))
powell_singular = _jit(lambda x: _sq(_r_powell_singular(x)))
wood = _jit(lambda x: _sq(_r_wood(x)))
kowalik_osborne = _jit(lambda x: _sq(_r_kowalik_osborne(x)))
brown_dennis = _jit(lambda x: _sq(_r_brown_dennis(x)))
osborne1 = _jit(lambda x: _sq(_r_osborne1(x)))
biggs_exp6 = _jit(lambda x: _sq(_r_biggs_exp6(x)))
watson = _jit(lambda x: _sq(_r_watson(x)))
extended_powell_singular = _jit(lambda x: _sq(_r_extended_powell_singular(x)))
penalty1 = _jit(lambda x: _sq(_r_penalty1(x)))
variably_dimensioned = _jit(lambda x: _sq(_r_variably_dimensioned(x)))
trigonometric = _jit(lambda x: _sq(_r_trigonometric(x)))


# -- the table -----------------------------------------------------------------------------------


def _mgh(name: str, number: int, f, residuals, jacobian, x0) -> Problem:
    return Problem(
        name,
        f"MGH {number}",
        f,
        _sum_of_squares_gradient(residuals, jacobian),
        _points(np.asarray(x0, dtype=np.float64), number),
        "standard start x0, 10 x0, a perturbation of x0",
    )


#: The Moré-Garbow-Hillstrom functions, with the paper's standard starting points.
MGH: tuple[Problem, ...] = (
    _mgh("Rosenbrock", 1, rosenbrock, rosenbrock_residuals, _rosenbrock_jacobian, [-1.2, 1]),
    _mgh(
        "Freudenstein-Roth",
        2,
        freudenstein_roth,
        freudenstein_roth_residuals,
        _freudenstein_roth_jacobian,
        [0.5, -2],
    ),
    _mgh(
        "Powell badly scaled",
        3,
        powell_badly_scaled,
        powell_badly_scaled_residuals,
        _powell_badly_scaled_jacobian,
        [0, 1],
    ),
    _mgh(
        "Brown badly scaled",
        4,
        brown_badly_scaled,
        brown_badly_scaled_residuals,
        _brown_badly_scaled_jacobian,
        [1, 1],
    ),
    _mgh("Beale", 5, beale, beale_residuals, _beale_jacobian, [1, 1]),
    _mgh(
        "Jennrich-Sampson",
        6,
        jennrich_sampson,
        jennrich_sampson_residuals,
        _jennrich_sampson_jacobian,
        [0.3, 0.4],
    ),
    _mgh(
        "Helical valley",
        7,
        helical_valley,
        helical_valley_residuals,
        _helical_valley_jacobian,
        [-1, 0, 0],
    ),
    _mgh("Bard", 8, bard, bard_residuals, _bard_jacobian, [1, 1, 1]),
    _mgh("Gaussian", 9, gaussian, gaussian_residuals, _gaussian_jacobian, [0.4, 1, 0]),
    _mgh("Meyer", 10, meyer, meyer_residuals, _meyer_jacobian, [0.02, 4000, 250]),
    _mgh("Box 3-D", 12, box_3d, box_3d_residuals, _box_3d_jacobian, [0, 10, 20]),
    _mgh(
        "Powell singular",
        13,
        powell_singular,
        powell_singular_residuals,
        _powell_singular_jacobian,
        [3, -1, 0, 1],
    ),
    _mgh("Wood", 14, wood, wood_residuals, _wood_jacobian, [-3, -1, -3, -1]),
    _mgh(
        "Kowalik-Osborne",
        15,
        kowalik_osborne,
        kowalik_osborne_residuals,
        _kowalik_osborne_jacobian,
        [0.25, 0.39, 0.415, 0.39],
    ),
    _mgh(
        "Brown-Dennis",
        16,
        brown_dennis,
        brown_dennis_residuals,
        _brown_dennis_jacobian,
        [25, 5, -5, -1],
    ),
    _mgh(
        "Osborne 1",
        17,
        osborne1,
        osborne1_residuals,
        _osborne1_jacobian,
        [0.5, 1.5, -1, 0.01, 0.02],
    ),
    _mgh(
        "Biggs EXP6",
        18,
        biggs_exp6,
        biggs_exp6_residuals,
        _biggs_exp6_jacobian,
        [1, 2, 1, 1, 1, 1],
    ),
    _mgh("Watson (n=6)", 20, watson, watson_residuals, _watson_jacobian, np.zeros(6)),
    Problem(
        "Extended Rosenbrock (n=10)",
        "MGH 21",
        extended_rosenbrock,
        extended_rosenbrock_gradient,
        _points(extended_rosenbrock_start(10), 21),
        "standard start x0, 10 x0, a perturbation of x0",
    ),
    _mgh(
        "Extended Powell singular (n=8)",
        22,
        extended_powell_singular,
        extended_powell_singular_residuals,
        _extended_powell_singular_jacobian,
        np.tile([3.0, -1.0, 0.0, 1.0], 2),
    ),
    _mgh("Penalty I (n=4)", 23, penalty1, penalty1_residuals, _penalty1_jacobian, [1, 2, 3, 4]),
    _mgh(
        "Variably dimensioned (n=6)",
        25,
        variably_dimensioned,
        variably_dimensioned_residuals,
        _variably_dimensioned_jacobian,
        1 - np.arange(1, 7) / 6,
    ),
    _mgh(
        "Trigonometric (n=6)",
        26,
        trigonometric,
        trigonometric_residuals,
        _trigonometric_jacobian,
        np.full(6, 1 / 6),
    ),
)

# -- exp, log, sin and compositions near their hard points ---------------------------------------

exp_sum = _jit(lambda x: np.sum(np.exp(x)))
log_sum = _jit(lambda x: np.sum(np.log(x)))
sin_sum = _jit(lambda x: np.sum(np.sin(x)))
exp_sin_sum = _jit(lambda x: np.sum(np.exp(np.sin(x))))
sin_exp_sum = _jit(lambda x: np.sum(np.sin(np.exp(x))))
softplus_sum = _jit(lambda x: np.sum(np.log(1.0 + np.exp(x))))


def _hard(name: str, f, grad, points, what: str) -> Problem:
    pts = tuple(np.array([p], dtype=np.float64) for p in points)
    return Problem(name, "hard point", f, grad, pts, what)


#: One-parameter points where finite differences are hard, each point on its own (a sum over
#: several points would let the largest term set the rounding of all of them).
HARD_POINTS: tuple[Problem, ...] = (
    _hard(
        "exp(x)",
        exp_sum,
        np.exp,
        (20.0, 60.0),
        "large x: the step scales with |x|, the function's scale is 1",
    ),
    _hard(
        "log(x)",
        log_sum,
        lambda x: 1 / x,
        (0.05, 0.01),
        "near the singularity at 0 (the widest stencil stays inside the domain)",
    ),
    _hard(
        "sin(x)",
        sin_sum,
        np.cos,
        (100.3, 1000.3, math.pi / 2 - 1e-3),
        "large x (step ~ |x|, period 2 pi); a derivative of 1e-3 next to a maximum",
    ),
    _hard(
        "exp(sin(x))",
        exp_sin_sum,
        lambda x: np.cos(x) * np.exp(np.sin(x)),
        (math.pi / 2 + 1e-3,),
        "a derivative of 1e-3 next to a maximum",
    ),
    _hard(
        "sin(exp(x))",
        sin_exp_sum,
        lambda x: np.exp(x) * np.cos(np.exp(x)),
        (3.0, 4.0),
        "fast oscillation: the k-th derivative grows like exp(kx)",
    ),
    _hard(
        "log(1 + exp(x))",
        softplus_sum,
        lambda x: 1 / (1 + np.exp(-x)),
        (-15.0, -30.0),
        "f is rounded by the cancellation in 1 + exp(x)",
    ),
)

#: The whole accuracy suite.
SUITE: tuple[Problem, ...] = MGH + HARD_POINTS

#: The suite by name.
PROBLEMS: dict[str, Problem] = {p.name: p for p in SUITE}
