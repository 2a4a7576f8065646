"""The odd sums as BLAS products (``kernels/oddsums.py``), shared by the two-layer kernel and
the multilayer kernel's first two layers, against a direct NumPy evaluation."""

import numpy as np
import pytest

from fastgrad._config import blas_held
from fastgrad.kernels import oddsums as O
from fastgrad.kernels.series import N_ODD, SERIES_ORDERS

EPS = np.finfo(np.float64).eps


def direct(v, C, h):
    """``mean_n v[n, i] (C0 + y^2 C1 + ...)[n, j]``, ``y = h v[n, i]``, term by term."""
    y2 = (h * v) ** 2
    terms = [v.T[:, :, None] * (y2.T[:, :, None] ** p) * C[p][None] for p in range(C.shape[0])]
    return sum(terms).mean(axis=1), sum(np.abs(t) for t in terms).mean(axis=1)


@pytest.mark.parametrize("top", [0, 1, 3])
def test_single_group_holds_every_column_up_to_the_highest_term_used(rng, top):
    C = np.zeros((N_ODD, 7, 5))
    C[: top + 1] = rng.standard_normal((top + 1, 7, 5))
    groups = O.single_group(C)
    assert [g.shape for g in groups] == [
        (g + 1, 7, 5 if g == top else 0) for g in range(SERIES_ORDERS.size)
    ]
    np.testing.assert_array_equal(groups[top], C[: top + 1])
    assert all(g.size == 0 for g in O.single_group(np.zeros((N_ODD, 7, 5))))


def one_layer_sums(v, C, h, start):
    """:func:`odd_sums` of one layer as the multilayer kernel passes it (the second with no
    inputs), added to ``start``; returns the sums and the number of float32 products."""
    N, H = C.shape[1:]
    out = start.copy()
    no_groups = O.by_order(np.empty((N_ODD, N, 0)), np.zeros(SERIES_ORDERS.size, np.int64))
    with blas_held():
        singles = O.odd_sums(
            v, O.single_group(C), np.arange(H), out, np.empty((N, 0)), no_groups, np.arange(0),
            np.empty((0, 0)), h,
        )  # fmt: skip
    return out, singles


@pytest.mark.parametrize("top", [1, 3])
def test_odd_sums_add_the_products_to_what_the_output_holds(rng, top):
    # an input zero in every row is left out and its row of the output keeps its value
    # exactly; at this step (y = 0.02) no term's float32 bound holds: all float64
    N, n_in, H, h = 100, 150, 20, 0.02
    v = rng.random((N, n_in))
    v[:, 7] = 0.0
    C = np.zeros((N_ODD, N, H))
    C[: top + 1] = rng.standard_normal((top + 1, N, H))
    start = rng.standard_normal((n_in, H))
    out, singles = one_layer_sums(v, C, h, start)
    assert singles == 0
    expected, scale = direct(v, C, h)
    # both sides sum N products in float64, in different orders: each within N eps of the
    # sum of the magnitudes, and the start's rounding
    tol = 2 * N * EPS * (scale + np.abs(start))
    assert np.all(np.abs(out - (start + expected)) <= tol)
    np.testing.assert_array_equal(out[7], start[7])


@pytest.mark.parametrize("top", [1, 3])
def test_higher_terms_in_float32_stay_within_their_bound(rng, top):
    # at the book's step the higher terms' products run in float32 (counted: one per term
    # and block of inputs). Each may add F32_BUDGET per row loss, so F32_BUDGET / h on a
    # gradient element, beside the float64 rounding of the test above. The coefficients put
    # each term at a quarter of its float32 limit (gamma y^(2t+1) s = F32_BUDGET / 4, inputs
    # in [0, 1) so y <= h): the term is then 1 / (4 gamma), 4e4 times that tolerance, and an
    # error of 1e-4 of it in a float32 product shows
    N, n_in, H, h = 100, 150, 20, 1e-4
    gamma = (N + 2) * 2.0**-24 / (1 - (N + 2) * 2.0**-24)
    v = rng.random((N, n_in))
    C = np.zeros((N_ODD, N, H))
    C[: top + 1] = rng.standard_normal((top + 1, N, H))
    for t in range(1, top + 1):
        C[t] *= O.F32_BUDGET / 4 / (gamma * h ** (2 * t + 1)) / np.abs(C[t]).mean(axis=0).max()
    start = rng.standard_normal((n_in, H))
    out, singles = one_layer_sums(v, C, h, start)
    assert singles == top * -(-n_in // O.INPUT_BLOCK)
    expected, scale = direct(v, C, h)
    tol = 2 * N * EPS * (scale + np.abs(start)) + top * O.F32_BUDGET / h
    assert np.all(np.abs(out - (start + expected)) <= tol)


def test_in_float32_is_the_rounding_bound():
    # gamma_(N+2) y^(2t+1) s against the budget: the largest s allowed at y = 1e-4, t = 1
    N, y = 100, 1e-4
    gamma = (N + 2) * 2.0**-24 / (1 - (N + 2) * 2.0**-24)
    s_max = O.F32_BUDGET / (gamma * y**3)
    assert O.in_float32(y, 1, 0.99 * s_max, N)
    assert not O.in_float32(y, 1, 1.01 * s_max, N)
    assert O.in_float32(y, 2, 0.99 * s_max, N)  # a higher term is smaller by y^2
    assert not O.in_float32(1.5, 1, 1e-30, N)  # outside the series path: never
