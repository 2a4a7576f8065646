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


@pytest.mark.parametrize("top", [1, 3])
def test_odd_sums_add_the_products_to_what_the_output_holds(rng, top):
    # one layer as the multilayer kernel passes it (the second with no inputs); an input
    # zero in every row is left out and its row of the output keeps its value exactly
    N, n_in, H, h = 100, 150, 20, 0.02
    v = rng.random((N, n_in))
    v[:, 7] = 0.0
    C = np.zeros((N_ODD, N, H))
    C[: top + 1] = rng.standard_normal((top + 1, N, H))
    start = rng.standard_normal((n_in, H))
    out = start.copy()
    none = np.empty((N, 0))
    no_groups = O.by_order(np.empty((N_ODD, N, 0)), np.zeros(SERIES_ORDERS.size, np.int64))
    with blas_held():
        O.odd_sums(
            v, O.single_group(C), np.arange(H), out, none, no_groups, np.arange(0),
            np.empty((0, 0)), h,
        )  # fmt: skip
    expected, scale = direct(v, C, h)
    # both sides sum N products in float64, in different orders: each within N eps of the
    # sum of the magnitudes, and the start's rounding
    tol = 2 * N * EPS * (scale + np.abs(start))
    assert np.all(np.abs(out - (start + expected)) <= tol)
    np.testing.assert_array_equal(out[7], start[7])
