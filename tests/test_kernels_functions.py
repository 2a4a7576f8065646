"""The function twins: ``kernels.functions`` against ``reference.functions``."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.testing import assert_allclose, assert_array_equal

from fastgrad import kernels as K
from fastgrad import reference as R

from .conftest import FUNC_ATOL, FUNC_RTOL

finite = st.floats(-1000, 1000, allow_nan=False, allow_infinity=False)
arrays = hnp.arrays(
    np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=12), elements=finite
)


@settings(max_examples=60, deadline=None)
@given(x=arrays)
def test_elementwise_twins(x):
    with np.errstate(over="ignore"):
        for name in ("sigmoid", "sigmoid_grad"):
            assert_allclose(
                getattr(K, name)(x), getattr(R, name)(x), rtol=FUNC_RTOL, atol=FUNC_ATOL
            )
    for name in ("relu", "relu_grad", "step_function", "identity_function"):
        assert_array_equal(getattr(K, name)(x), getattr(R, name)(x))


@settings(max_examples=60, deadline=None)
@given(x=arrays)
def test_softmax_twin_any_rank(x):
    got = K.softmax(x)
    assert got.shape == x.shape
    assert_allclose(got, R.softmax(x), rtol=FUNC_RTOL, atol=FUNC_ATOL)


@settings(max_examples=60, deadline=None)
@given(
    batch=st.integers(1, 64),
    n=st.integers(2, 20),
    scale=st.sampled_from([1.0, 30.0, 1000.0]),
    one_hot=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_cross_entropy_and_softmax_loss_twins(batch, n, scale, one_hot, seed):
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(batch, n)) * scale
    labels = rng.integers(0, n, batch)
    t = np.eye(n)[labels] if one_hot else labels
    y = R.softmax(scores)
    ref = R.cross_entropy_error(y, t)
    # the loss sums log terms of size up to 16: a few ulps of the largest term
    tol = FUNC_RTOL * max(1.0, abs(ref)) * 4
    assert abs(K.cross_entropy_error(y, t) - ref) <= tol
    assert abs(K.softmax_loss(scores, t) - R.softmax_loss(scores, t)) <= tol


def test_single_sample_forms():
    y = R.softmax(np.array([0.3, 2.9, 4.0]))
    for t in (np.array([0, 0, 1]), np.array(2), np.array([2])):
        assert K.cross_entropy_error(y, t) == pytest.approx(R.cross_entropy_error(y, t), rel=1e-15)


def test_sum_squared_error_twin(rng):
    y, t = rng.random((5, 3)), rng.random((5, 3))
    assert K.sum_squared_error(y, t) == pytest.approx(R.sum_squared_error(y, t), rel=1e-14)


def test_float32_and_noncontiguous(rng):
    x = rng.normal(size=(8, 10)).astype(np.float32)[:, ::2]
    assert_allclose(K.softmax(x), R.softmax(x.astype(np.float64)), rtol=FUNC_RTOL, atol=FUNC_ATOL)
    assert_allclose(K.sigmoid(x), R.sigmoid(x), rtol=1e-6)


@pytest.mark.parametrize(
    ("t", "match"),
    [
        ([0, 7], "outside"),  # past the end of a row: read out of bounds before
        ([0, -1], "outside"),
        ([0, 1.5], "non-integer"),  # truncated to 1 before
        ([0, np.nan], "outside"),
        ([0, 1, 2], "one integer label per row"),  # 3 labels for 2 rows
        ([0], "one integer label per row"),
    ],
)
def test_cross_entropy_twin_refuses_labels_it_cannot_index(t, match):
    y = R.softmax(np.ones((2, 3)))
    with pytest.raises(ValueError, match=match):
        K.cross_entropy_error(y, np.asarray(t))
    with pytest.raises(ValueError, match=match):
        K.softmax_loss(np.ones((2, 3)), np.asarray(t))
