"""The odd sums as BLAS products (``kernels/oddsums.py``), shared by the two-layer kernel and
the multilayer kernel's first two layers, against a direct NumPy evaluation."""

import numpy as np
import pytest

from fastgrad._config import blas_held
from fastgrad.kernels import oddsums as O
from fastgrad.kernels.series import N_ODD

EPS = np.finfo(np.float64).eps


def direct(v, C, h):
    """``mean_n v[n, i] (C0 + y^2 C1 + ...)[n, j]``, ``y = h v[n, i]``, term by term."""
    y2 = (h * v) ** 2
    terms = [v.T[:, :, None] * (y2.T[:, :, None] ** p) * C[p][None] for p in range(C.shape[0])]
    return sum(terms).mean(axis=1), sum(np.abs(t) for t in terms).mean(axis=1)


def test_term_columns_list_the_columns_that_use_each_term(rng):
    # columns' highest nonzero terms 2, 0, 3, 0, 2, 1 (a lone nonzero row is enough), and
    # one that skips term 2: a term's columns are those nonzero in some row, in order
    N, tops = 7, [2, 0, 3, 0, 2, 1, 3]
    C = np.zeros((N_ODD, N, len(tops)))
    for k, top in enumerate(tops):
        C[:top, :, k] = rng.standard_normal((top, N))
        C[top, 3, k] = rng.standard_normal()
    C[2, :, 6] = 0.0
    flat, flat32, off, lo, cols, scale = O.term_columns(C)
    assert [cols[lo[t] : lo[t + 1]].tolist() for t in range(N_ODD)] == [
        [],
        [0, 2, 4, 5, 6],
        [0, 2, 4],
        [2, 6],
    ]
    for t in range(1, N_ODD):
        used = cols[lo[t] : lo[t + 1]]
        c = flat[off[t] : off[t + 1]].reshape(N, used.size)
        c32 = flat32[off[t] : off[t + 1]].reshape(N, used.size)
        np.testing.assert_array_equal(c, C[t][:, used])
        np.testing.assert_array_equal(c32, C[t][:, used].astype(np.float32))
        assert scale[t] == np.abs(C[t]).mean(axis=0).max()
    # a term every column uses is read from C itself: only its float32 copy is made
    every = np.ascontiguousarray(C[:, :, [0, 2, 4]])
    flat, flat32, off, lo, cols, scale = O.term_columns(every)
    assert lo[2] - lo[1] == 3 and off[2] - off[1] == 3 * N
    np.testing.assert_array_equal(flat32[off[1] : off[2]], every[1].ravel().astype(np.float32))


def one_layer_sums(v, C, h, start):
    """:func:`odd_sums` of one layer as the multilayer kernel passes it (the second with no
    inputs), added to ``start``; returns the sums and the number of float32 products."""
    N, H = C.shape[1:]
    out = start.copy()
    with blas_held():
        singles = O.odd_sums(
            v, C, np.arange(H), out, np.empty((N, 0)), np.empty((N_ODD, N, 0)), np.arange(0),
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


def test_columns_sum_the_terms_they_use_into_their_units(rng):
    # columns of every order side by side, summed into units in another order: each term's
    # product covers the columns that use it (counted: at the book's step every higher term of
    # the columns that use it run in float32, as in the test above: 3 per block of inputs)
    N, n_in, h = 100, 150, 1e-4
    gamma = (N + 2) * 2.0**-24 / (1 - (N + 2) * 2.0**-24)
    tops = np.array([3, 0, 1, 2, 1, 3, 0, 2, 2, 1])
    unit = rng.permutation(tops.size)
    v = rng.random((N, n_in))
    C = rng.standard_normal((N_ODD, N, tops.size)) * (np.arange(N_ODD)[:, None] <= tops)[:, None]
    for t in range(1, N_ODD):
        C[t] *= O.F32_BUDGET / 4 / (gamma * h ** (2 * t + 1)) / np.abs(C[t]).mean(axis=0).max()
    start = rng.standard_normal((n_in, tops.size))
    out = start.copy()
    with blas_held():
        singles = O.odd_sums(
            v, C, unit, out, np.empty((N, 0)), np.empty((N_ODD, N, 0)), np.arange(0),
            np.empty((0, 0)), h,
        )  # fmt: skip
    assert singles == 3 * -(-n_in // O.INPUT_BLOCK)
    expected, scale = direct(v, C, h)
    tol = 2 * N * EPS * (scale + np.abs(start[:, unit])) + 3 * O.F32_BUDGET / h
    assert np.all(np.abs(out[:, unit] - (start[:, unit] + expected)) <= tol)
