"""fastgrad.gradient_check's result: a mapping of parameter name to its figures, in the
network's order, with a verdict (``tol`` on each array's mean absolute difference) whose line
ends ``str()`` and names a ReLU kink when one lies within a step of a pre-activation."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pytest

import fastgrad

NAMES = ["W1", "b1", "W2", "b2", "W3", "b3"]


@pytest.fixture(scope="module")
def sigmoid_check():
    """A correct backprop of a smooth (sigmoid) network: no kinks, so nothing but backprop
    and the central difference's small errors are compared."""
    net = fastgrad.MultiLayerNet(12, [6, 5], 4, "sigmoid", "sigmoid", rng=0)
    rng = np.random.default_rng(1)
    x, t = rng.random((5, 12)), rng.integers(0, 4, 5)
    return net, x, t, fastgrad.gradient_check(net, x, t)


def test_the_result_is_a_mapping_of_names_in_network_order(sigmoid_check):
    *_, result = sigmoid_check
    assert isinstance(result, Mapping)
    assert list(result) == NAMES == list(result.keys())
    assert "W1" in result and "b3" in result and "W9" not in result
    assert len(result) == 6
    as_dict = dict(result)
    assert list(as_dict) == NAMES
    assert all(as_dict[c.name] is c for c in result.checks)
    assert list(result.values()) == list(result.checks)
    assert result.get("W9") is None and result["W2"].name == "W2"


def test_a_correct_sigmoid_network_passes(sigmoid_check):
    *_, result = sigmoid_check
    assert result.tol == 1e-6 and result.activation == "sigmoid" and result.near_kinks is None
    assert result.passed and result.failed == ()
    assert str(result).splitlines()[-1] == "PASS: every mean |diff| is at most 1e-06"


def test_a_tiny_tol_fails_every_array(sigmoid_check):
    net, x, t, _ = sigmoid_check
    result = fastgrad.gradient_check(net, x, t, tol=1e-30)
    assert result.tol == 1e-30
    assert not result.passed and result.failed == tuple(NAMES)
    last = str(result).splitlines()[-1]
    assert last == "FAIL: mean |diff| above 1e-30 for W1, b1, W2, b2, W3, b3"  # no kink named


def test_the_verdict_is_on_the_mean_not_the_max(sigmoid_check):
    """A tol just above the largest mean passes although the largest absolute differences
    are above it; just below, only the array with that mean fails."""
    net, x, t, first = sigmoid_check
    worst = max(first.values(), key=lambda c: c.mean_abs_diff)
    assert first.max_abs_diff > worst.mean_abs_diff * 1.001  # else the test shows nothing
    above = fastgrad.gradient_check(net, x, t, tol=worst.mean_abs_diff * 1.001)
    below = fastgrad.gradient_check(net, x, t, tol=worst.mean_abs_diff * 0.999)
    assert above.passed
    assert below.failed == (worst.name,)
    assert str(below).splitlines()[-1].endswith(f"for {worst.name}")


@pytest.mark.parametrize(
    ("tol", "error", "match"),
    [
        (0.0, ValueError, "tol must be finite and > 0, got 0.0"),
        (-1e-6, ValueError, "tol must be finite and > 0"),
        (math.nan, ValueError, "tol must be finite and > 0, got nan"),
        (math.inf, ValueError, "tol must be finite and > 0, got inf"),
        ("1e-6", TypeError, "tol must be a positive float, got str"),
        (None, TypeError, "tol must be a positive float, got NoneType"),
        (True, TypeError, "tol must be a positive float, got bool"),
    ],
)
def test_tol_must_be_a_positive_finite_float(tol, error, match):
    net = fastgrad.MultiLayerNet(3, [2], 2, rng=0)
    with pytest.raises(error, match=match):
        fastgrad.gradient_check(net, np.ones((1, 3)), [0], tol=tol)


def kinked_relu_net(offset: float):
    """A ReLU network whose first hidden unit, on the first image, has the pre-activation
    ``offset``, and that image and its label."""
    net = fastgrad.MultiLayerNet(5, [4], 3, weight_init_std=1.0, rng=3)
    x = np.linspace(0.1, 0.9, 10).reshape(2, 5)
    net.params["b1"][0] = offset - x[0] @ net.params["W1"][:, 0]
    return net, x, np.array([2, 0])


def test_a_kink_within_a_step_is_named_in_the_verdict():
    """A pre-activation of 3e-5 < h: the central difference in b1[0] straddles the kink and
    takes half the slope, so b1 fails with a correct backprop, and the verdict says why."""
    net, x, t = kinked_relu_net(3e-5)
    result = fastgrad.gradient_check(net, x, t)
    assert result.activation == "relu" and result.near_kinks == 1
    assert "b1" in result.failed and result["b1"].worst == (0,)
    assert str(result).splitlines()[-1] == (
        f"FAIL: mean |diff| above 1e-06 for {', '.join(result.failed)}; 1 ReLU "
        "pre-activation of this batch lies within one step of the kink at 0, where the "
        "central difference straddles it: a likely cause, even with a correct backprop "
        "(check on other inputs)"
    )


def test_the_same_unit_away_from_its_kink_passes():
    net, x, t = kinked_relu_net(0.1)
    result = fastgrad.gradient_check(net, x, t)
    assert result.near_kinks == 0 and result.passed, str(result)
    failing = fastgrad.gradient_check(net, x, t, tol=1e-30)  # fails, but not for a kink
    assert "ReLU" not in str(failing).splitlines()[-1]


def test_near_kinks_are_counted_in_every_hidden_layer():
    net = fastgrad.MultiLayerNet(3, [4, 4], 2, weight_init_std=1.0, rng=0)
    x = np.array([[0.2, 0.5, 0.7]])
    net.params["b1"][3] = -1e-6 - x[0] @ net.params["W1"][:, 3]  # first layer, unit 3
    z1 = np.maximum(x @ net.params["W1"] + net.params["b1"], 0)
    net.params["b2"][1] = 1e-6 - z1[0] @ net.params["W2"][:, 1]  # second layer, unit 1
    assert fastgrad.gradient_check(net, x, [1]).near_kinks == 2
