"""The differentiation toolkit under misuse and failure: an ``f`` that raises or returns
NaN, the book's idiom on every path and from several threads, float32 input, and loose
arguments. Each answer is an error that names the problem, or a right number: never a
silent wrong one."""

from __future__ import annotations

import numba
import numpy as np
import pytest
from numpy.testing import assert_array_equal

import fastgrad
from fastgrad._differentiate import METHODS

from .conftest import THREAD_COUNTS


@numba.njit
def raises_at_7(x):
    if x.reshape(-1)[7] != 7.0:  # any nudge of parameter 7
        raise ZeroDivisionError("boom at 7")
    return np.sum(x * x)


@numba.njit
def vector_raises_at_7(x):
    if x.reshape(-1)[7] != 7.0:
        raise ZeroDivisionError("boom at 7")
    return x.reshape(-1)[:3] * 2.0


def _note(exc: BaseException) -> str:
    return " ".join(getattr(exc, "__notes__", []))


# -- an f that raises: its own exception, naming the parameter, on every path ---------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_a_raising_f_raises_its_own_exception(method, backend, num_threads):
    x = np.arange(20.0)
    before = x.copy()
    for n in THREAD_COUNTS:
        num_threads(n)
        with pytest.raises(ZeroDivisionError, match="boom at 7") as info:
            fastgrad.numerical_gradient(raises_at_7, x, method=method, backend=backend)
        assert info.value.fastgrad_parameter == 7
        assert "parameter 7 (index (7,) of x)" in _note(info.value)
    assert_array_equal(x, before)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_a_raising_f_raises_in_jacobian_and_hessian(backend, num_threads):
    x = np.arange(20.0).reshape(4, 5)
    for n in THREAD_COUNTS:
        num_threads(n)
        with pytest.raises(ZeroDivisionError, match="boom at 7") as info:
            fastgrad.jacobian(vector_raises_at_7, x, backend=backend)
        assert info.value.fastgrad_parameter == 7
        assert "index (1, 2) of x" in _note(info.value)
        with pytest.raises(ZeroDivisionError, match="boom at 7") as info:
            fastgrad.hessian(raises_at_7, x, h=1e-3, backend=backend)
        # the first pair whose points move parameter 7 is (0, 7)
        assert "parameter 0 (index (0, 0) of x) (nudged with [7])" in _note(info.value)


def test_the_kernel_twin_names_the_parameter(num_threads):
    for n in THREAD_COUNTS:
        num_threads(n)
        with pytest.raises(RuntimeError, match="flat parameter index") as info:
            fastgrad.kernels.numerical_gradient(raises_at_7, np.arange(20.0))
        assert info.value.args[1] == 7


@numba.njit
def raises_after_a_while(x, calls):
    calls[0] += 1.0  # args are private per chunk: this counts the chunk's own calls
    if calls[0] > 3.0:
        raise ValueError("only the kernel's chunks get this far")
    return np.sum(x)


def test_a_raising_f_that_does_not_raise_again_is_still_an_error():
    # f raises only inside the kernel's long chunks, never in one call from Python
    x = np.arange(40.0)
    with pytest.raises(RuntimeError, match="not when it was evaluated again"):
        fastgrad.numerical_gradient(raises_after_a_while, x, args=(np.zeros(1),))


@numba.njit
def raises_from_7(x):
    if np.any(x.reshape(-1)[7:] != np.arange(7.0, x.size)):  # a nudge of any p >= 7
        raise ValueError("boom")
    return np.sum(x)


def test_the_first_failing_parameter_is_named_whatever_the_schedule(num_threads):
    # every chunk from the one holding parameter 7 on fails; whichever fails first in time,
    # the parameter named is the smallest (chunks are claimed in order)
    x = np.arange(400.0)
    for n in THREAD_COUNTS:
        num_threads(n)
        for _ in range(5):
            with pytest.raises(ValueError, match="boom") as info:
                fastgrad.numerical_gradient(raises_from_7, x)
            assert info.value.fastgrad_parameter == 7


# -- the book's idiom on every path: f reads the array being nudged ---------------------------


def test_directional_check_nudges_the_callers_array():
    W = np.array([1.0, 2.0, 3.0])
    before = W.copy()

    def f(w):  # the book's idiom: ignores w, reads W
        return float(np.sum(W**3))

    assert not fastgrad.check_gradient(f, lambda v: 0 * v, W, directions=3)
    assert fastgrad.check_gradient(f, lambda v: 3 * W**2, W, directions=3)
    assert fastgrad.check_gradient(f, lambda v: 3 * W**2, W, directions=3, method="central4")
    assert_array_equal(W, before)


def _read_only(a):
    a = a.copy()
    a.flags.writeable = False
    return a


@pytest.mark.parametrize(
    "call",
    [
        lambda W: fastgrad.check_gradient(lambda w: np.sum(W**3), lambda v: 0 * v, _read_only(W)),
        lambda W: fastgrad.check_gradient(
            lambda w: np.sum(W**3), lambda v: 0 * v, _read_only(W), directions=2
        ),
        lambda W: fastgrad.jacobian(lambda w: W**2, _read_only(W)),
        lambda W: fastgrad.hessian(lambda w: np.sum(W**3), _read_only(W)),
        lambda W: fastgrad.hessian(lambda w: np.sum(W**3), W.astype(np.float16)),
    ],
    ids=["check", "check-directions", "jacobian", "hessian", "hessian-float16"],
)
def test_an_f_that_ignores_a_copied_argument_is_an_error(call):
    with pytest.raises(ValueError, match="did not change when its argument changed"):
        call(np.array([1.0, 2.0, 3.0]))


def test_jacobian_and_hessian_nudge_the_callers_array():
    W = np.array([1.0, 2.0, 3.0])
    assert_array_equal(fastgrad.jacobian(lambda w: W**2, W, h=2.0**-10).round(6), np.diag(2 * W))
    assert np.allclose(fastgrad.hessian(lambda w: np.sum(W**3), W), np.diag(6 * W), rtol=1e-5)
    assert_array_equal(W, [1.0, 2.0, 3.0])


# -- float32 input ------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_float32_input_with_the_books_step_is_differentiated_in_float64(backend):
    # the README's example: in float32 arithmetic every element was 0 or 9.765625 (one ulp of
    # f over 2h); in float64 the central difference of w**2 is 2w up to f's rounding
    # (about 1e-16 * 8e3 / 2e-4 = 4e-9)
    x = np.random.default_rng(0).random((100, 784), dtype=np.float32)
    f = numba.njit(lambda w: (w**2).sum()) if backend == "numba" else (lambda w: (w**2).sum())
    g = fastgrad.numerical_gradient(f, x, backend=backend)
    assert np.max(np.abs(g - 2 * x.astype(np.float64))) < 1e-7


def test_float32_idiom_with_the_books_step_is_refused_rather_than_rounded():
    W = np.array([0.5, 1.5], dtype=np.float32)
    with pytest.raises(ValueError, match="only float64 arrays are nudged in place"):
        fastgrad.numerical_gradient(lambda w: float(np.sum(W.astype(np.float64) ** 2)), W)
    g = fastgrad.numerical_gradient(lambda w: np.sum(W**2), W, h="auto")  # float32, in place
    assert np.allclose(g, 2 * W, rtol=1e-3)


@pytest.mark.parametrize("method", METHODS)
def test_float32_auto_steps_have_an_error_estimate_that_covers_the_rounding(method):
    x = np.random.default_rng(1).random(300, dtype=np.float32)
    g, info = fastgrad.numerical_gradient(
        lambda w: np.sum(w.astype(w.dtype) ** 2), x, h="auto", method=method, full_output=True
    )
    assert np.all(info.error >= np.abs(g - 2 * x.astype(np.float64)))


# -- the book's idiom from several threads ------------------------------------------------------


@pytest.fixture
def quick_switches():
    """Python threads switch every microsecond, so that unserialised nudges interleave."""
    import sys

    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def _in_threads(calls):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(len(calls)) as pool:
        return [f.result() for f in [pool.submit(c) for c in calls]]


def test_the_idiom_from_several_threads_is_serialised(quick_switches):
    W = np.linspace(-1.0, 1.0, 400)
    before = W.copy()

    def f(w):  # reads W, as the book's lambda w: net.loss(x, t) reads net.W
        return float(np.sum(W**3) + np.sum(np.sin(W)))

    want = fastgrad.numerical_gradient(f, W)
    calls = [lambda: fastgrad.numerical_gradient(f, W)] * 3
    calls.append(lambda: fastgrad.numerical_gradient(f, W[100:200]))  # a view of W
    calls.append(lambda: fastgrad.hessian(f, W[:20]))  # another part: f reads all of W
    calls.append(
        lambda: fastgrad.check_gradient(f, lambda v: 3 * W**2 + np.cos(W), W, directions=2)
    )
    got = _in_threads(calls)
    for g in got[:3]:
        assert_array_equal(g, want)
    assert_array_equal(got[3], want[100:200])
    assert got[5]
    assert_array_equal(W, before)


def test_a_failed_nudge_releases_the_array():
    W = np.ones(5)

    def f(w):
        if W[3] != 1.0:
            raise ValueError("boom")
        return float(np.sum(W))

    with pytest.raises(ValueError, match="boom"):
        fastgrad.numerical_gradient(f, W)
    assert_array_equal(W, np.ones(5))
    # another thread may nudge W now (a lock left held would hang here: the timeout says so)
    g = _in_threads([lambda: fastgrad.numerical_gradient(lambda w: float(np.sum(w**2)), W)])[0]
    assert g == pytest.approx(2 * W)


def test_different_arrays_of_one_network_from_several_threads(quick_switches):
    # the book's TwoLayerNet.numerical_gradient nudges W1, then b1, ...; f reads them all
    params = {"W": np.linspace(-1.0, 1.0, 300), "b": np.linspace(0.0, 2.0, 300)}

    def loss(_):
        return float(np.sum(np.tanh(params["W"] + params["b"] ** 2)))

    want = {k: fastgrad.numerical_gradient(loss, v) for k, v in params.items()}
    keys = ["W", "b"] * 2
    got = _in_threads([lambda k=k: fastgrad.numerical_gradient(loss, params[k]) for k in keys])
    for k, g in zip(keys, got, strict=True):
        assert_array_equal(g, want[k])


def test_a_nested_call_on_the_same_array_in_one_thread_is_allowed():
    W = np.array([1.0, 2.0])

    def f(w):  # differentiates inside, on the array its caller is nudging
        return float(np.sum(fastgrad.numerical_gradient(lambda v: float(np.sum(v**2)), W)))

    assert fastgrad.numerical_gradient(f, W) == pytest.approx([2.0, 2.0])


# -- an f that returns NaN or inf: the values are kept, with one warning ------------------------


@numba.njit
def infinite_past_3(w):
    return np.sum(w * w) + (np.inf if w[3] > 3.0 else 0.0)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_non_finite_elements_are_kept_with_one_warning(backend, recwarn):
    x = np.arange(6.0)
    g = fastgrad.numerical_gradient(infinite_past_3, x, backend=backend)
    assert [str(w.message)[:53] for w in recwarn] == [
        "1 of 6 elements of the gradient are NaN or infinite, "
    ]
    assert "first at index (3,)" in str(recwarn[0].message)
    assert recwarn[0].filename == __file__  # points at the caller's line
    assert g[3] == np.inf and np.allclose(np.delete(g, 3), 2 * np.delete(x, 3))


def test_non_finite_jacobian_and_hessian_warn(recwarn):
    fastgrad.jacobian(lambda w: np.array([np.inf if w[2] > 2 else 1.0]), np.arange(3.0))
    fastgrad.hessian(infinite_past_3, np.arange(5.0))
    messages = [str(w.message) for w in recwarn]  # one a call, none from NumPy's inf - inf
    assert len(messages) == 2
    assert "1 of 3 elements of the Jacobian are NaN or infinite" in messages[0]
    assert "first at index (0, 2)" in messages[0]
    assert "of the Hessian are NaN or infinite" in messages[1]


# -- loose arguments: refused, never guessed ----------------------------------------------------


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda x: fastgrad.numerical_gradient(np.sum, x, full_output="no"), TypeError, "full_o"),
        (lambda x: fastgrad.jacobian(lambda v: v * 2, x, full_output=1), TypeError, "full_output"),
        (lambda x: fastgrad.hessian(np.sum, x, full_output="no"), TypeError, "full_output"),
        (lambda x: fastgrad.numerical_gradient(np.sum, x, vectorized="no"), TypeError, "vectori"),
        (lambda x: fastgrad.jacobian(lambda v: v * 2, x, vectorized=0), TypeError, "vectorized"),
        # complex values from a real point: refused as for a scalar f
        (lambda x: fastgrad.jacobian(lambda v: v * 1j, x), TypeError, "complex values"),
        (
            lambda x: fastgrad.numerical_gradient(lambda X: X.sum(1) * 1j, x, vectorized=True),
            TypeError,
            "vectorized f returned complex values",
        ),
        (
            lambda x: fastgrad.jacobian(lambda X: X * 1j, x, vectorized=True),
            TypeError,
            "complex values",
        ),
        # str, object and bool values: named, not a NumPy error from deep inside
        (lambda x: fastgrad.jacobian(lambda v: v > 0, x), TypeError, "dtype bool"),
        (lambda x: fastgrad.jacobian(lambda v: v.astype(str), x), TypeError, "dtype <U"),
        (lambda x: fastgrad.jacobian(lambda v: v.astype(object), x), TypeError, "dtype object"),
        (
            lambda x: fastgrad.numerical_gradient(lambda X: X.sum(1) > 0, x, vectorized=True),
            TypeError,
            "vectorized f must return real numbers, got an array of dtype bool",
        ),
        (
            lambda x: fastgrad.numerical_gradient(
                lambda X: X.sum(1).astype(str), x, vectorized=True
            ),
            TypeError,
            "dtype <U",
        ),
        (
            lambda x: fastgrad.jacobian(lambda X: X.astype(object), x, vectorized=True),
            TypeError,
            "dtype object",
        ),
    ],
)
def test_loose_arguments_and_results_are_refused(call, error, match):
    with pytest.raises(error, match=match):
        call(np.array([1.0, 2.0]))


@pytest.mark.parametrize("make", [fastgrad.TwoLayerNet, fastgrad.MultiLayerNet])
@pytest.mark.parametrize("std", [-1, -0.01, np.nan])
def test_a_negative_weight_init_std_is_refused(make, std):
    hidden = 3 if make is fastgrad.TwoLayerNet else [3]
    with pytest.raises(ValueError, match="weight_init_std must be a finite standard deviation"):
        make(4, hidden, 2, weight_init_std=std)


def test_complex_values_at_complex_points_are_still_the_complex_step():
    x = np.array([1.0, 2.0])
    J = fastgrad.jacobian(lambda v: v**2, x, method="complex")
    assert_array_equal(J, np.diag(2 * x))
    g = fastgrad.numerical_gradient(lambda X: (X**2).sum(1), x, vectorized=True, method="complex")
    assert_array_equal(g, 2 * x)
