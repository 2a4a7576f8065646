"""The kernels' input helpers: a row's ``max |v|`` in compiled code, and an array's for the
front door."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from fastgrad.kernels.inputs import abs_max, max_magnitude


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_abs_max_is_numpys(rng, dtype):
    # the guards' max |v| of a row, by its bit patterns: NumPy's, exactly, for rows of both
    # signs and magnitudes far apart, a strided row (the plain loop), an infinity, a NaN, and
    # an empty row (0)
    @numba.njit
    def rows(v):
        return np.array([abs_max(v[n]) for n in range(v.shape[0])])

    v = (rng.standard_normal((6, 50)) * np.logspace(-30, 30, 6)[:, None]).astype(dtype)
    v[2, 7] = -np.inf
    np.testing.assert_array_equal(rows(v), np.abs(v).max(axis=1))
    np.testing.assert_array_equal(rows(v[:, ::3]), np.abs(v[:, ::3]).max(axis=1))
    v[4, 9] = np.nan
    assert np.isnan(rows(v)[4])
    np.testing.assert_array_equal(rows(np.zeros((2, 0), dtype)), [0.0, 0.0])


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.uint8])
def test_max_magnitude_is_numpys(dtype, rng):
    a = (rng.standard_normal((40, 30)) * 50).astype(dtype)
    for v in (a, a[:, ::3], a.T, a[:1, :1], a[:0]):
        want = float(np.abs(v.astype(np.float64)).max()) if v.size else 0.0
        assert max_magnitude(v) == want
    if np.issubdtype(dtype, np.floating):
        for bad in (np.nan, np.inf, -np.inf):
            b = a.copy()
            b[17, 3] = bad
            assert max_magnitude(b) == np.inf or np.isnan(bad) and np.isnan(max_magnitude(b))
            assert np.isnan(max_magnitude(b)) == np.isnan(bad)
