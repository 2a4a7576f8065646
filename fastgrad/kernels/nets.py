"""Numba twins of :mod:`fastgrad.reference.nets`: ``SimpleNet`` and ``TwoLayerNet``.

``TwoLayerNet``'s numerical gradient is the book's central difference for every parameter,
computed from the network's structure (``docs/design.md``, "The series path"): a nudge of
``W1[i, j]`` moves only hidden unit ``j`` of the rows where ``x[n, i] != 0``, and the row's
loss change is one function of that pre-activation, shared by every ``i``. In three steps:

1. the forward pass (:func:`_forward`, one single-threaded BLAS product per block of rows);
2. per hidden unit, the lowest truncation order whose remainder bound holds
   (:func:`fastgrad.kernels.series.series_order`), then the odd Taylor coefficients of each
   row's loss change: closed forms up to order 5, the series arithmetic at order 7, compiled
   only when a task needs it (:func:`_coefficients`, :func:`_series_coefficients`);
3. the sums ``sum_n x^(2p+1) c_p`` shaped like backprop's products
   (:func:`fastgrad.kernels.oddsums.odd_sums`).

A unit beyond the bound (large ``h``, unnormalised inputs, huge weights) takes the exact
path, its perturbed row losses evaluated directly (:func:`_numgrad_exact`). Either path sums
row differences, so it is more accurate than the reference (about ``eps L / h``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import prange, types
from numba.extending import overload

from .._config import FASTMATH, jit, jit_parallel, next_task
from .._threads import region
from ..reference.nets import PARAM_NAMES
from .functions import CROSS_ENTROPY_DELTA
from .inputs import abs_max, as_labels, as_rows
from .oddsums import odd_sums
from .rowloss import logit_exact, row_loss_logit, unit_loss_delta_exact
from .series import (
    BLOCK,
    CLOSED_LOGIT_ORDER,
    CLOSED_UNIT_ORDER,
    EXACT,
    N_ODD,
    ORDER,
    SERIES_RATIO_MAX,
    logit_closed,
    logit_row_series,
    series_order,
    unit_closed,
    unit_series,
)

__all__ = ["SimpleNet", "TwoLayerNet", "PARAM_NAMES", "ORDER", "SERIES_RATIO_MAX"]


# -- the forward pass --------------------------------------------------------------------

#: Rows per task of the forward pass: one single-threaded BLAS product per task. Fixed, so
#: that the products do not depend on the thread count; 25 splits the book's batch of 100
#: evenly over 2 or 4 threads (against 16: forward pass 0.22 -> 0.20 ms on 2 threads here).
_ROW_BLOCK = 25


def _rows64(x, n0, n1, x64):
    """Rows ``n0:n1`` of ``x`` as float64: ``x``'s own for float64, else converted into
    ``x64``'s rows (or a new array if ``x64`` has no rows). Compiled code only: see the
    overload."""


@overload(_rows64, jit_options={"fastmath": FASTMATH})
def _rows64_overload(x, n0, n1, x64):
    if x.dtype == types.float64:
        return lambda x, n0, n1, x64: x[n0:n1]

    def convert(x, n0, n1, x64):
        if x64.shape[0] == 0:
            return x[n0:n1].astype(np.float64)
        out = x64[n0:n1]
        for n in range(n1 - n0):
            for i in range(x.shape[1]):
                out[n, i] = x[n0 + n, i]
        return out

    return convert


@jit
def _forward_rows(n0, n1, W1, b1, W2, b2, x, x64, a1, z1, zc, a2, y):
    """Rows ``n0:n1`` of the forward pass (see :func:`_forward`); returns their ``max|x|``."""
    H = W1.shape[1]
    K = W2.shape[1]
    xmax = 0.0
    for n in range(n0, n1):
        xmax = max(xmax, abs_max(x[n]))
    np.dot(_rows64(x, n0, n1, x64), W1, a1[n0:n1])
    for n in range(n0, n1):
        for j in range(H):
            a1[n, j] += b1[j]
            e = np.exp(-a1[n, j])
            z1[n, j] = 1.0 / (1.0 + e)
            # 1 - z = e / (1 + e), without cancellation; e = inf (a1 < -709) means z = 0
            zc[n, j] = e * z1[n, j] if e < np.inf else 1.0
        for k in range(K):
            a2[n, k] = 0.0
        for j in range(H):
            zj = z1[n, j]
            for k in range(K):
                a2[n, k] += zj * W2[j, k]
        for k in range(K):
            a2[n, k] += b2[k]
        # softmax, as kernels.functions._softmax_rows computes it
        m = a2[n, 0]
        for k in range(1, K):
            m = max(m, a2[n, k])
        total = 0.0
        for k in range(K):
            e = np.exp(a2[n, k] - m)
            y[n, k] = e
            total += e
        for k in range(K):
            y[n, k] /= total
    return xmax


@jit_parallel
def _forward(W1, b1, W2, b2, x, x64):
    """The book's forward pass, ``a1 = x W1 + b1``, ``z1 = sigmoid(a1)``, ``a2 = z1 W2 + b2``,
    ``softmax(a2)``, in parallel over blocks of rows; also ``max(1, max|x|)``, the truncation
    guard's input scale (a bias's input is 1), and ``1 - z1`` as ``exp(-a1) z1`` (no
    cancellation where the sigmoid saturates), which the coefficients need.

    A float32 ``x`` is read as float64 rows, written into ``x64`` if it has rows (the
    numerical gradient's sums then read them: one compiled version of the sums serves both
    dtypes, 2 s of a cold start), else into temporaries (``x64 = np.empty((0, 0))``: the
    same type, so the same compiled forward pass).

    ``x W1`` is one BLAS product per block of rows (Numba's ``np.dot``, SciPy's BLAS): 4-5x
    faster than the loops it replaced. Callers hold BLAS at one thread
    (``_config.blas_held``) so that each Numba thread runs its own single-threaded product;
    the blocks are fixed, so the result does not depend on the thread count.
    """
    N = x.shape[0]
    H = W1.shape[1]
    K = W2.shape[1]
    a1 = np.empty((N, H))
    z1 = np.empty((N, H))
    zc = np.empty((N, H))
    a2 = np.empty((N, K))
    y = np.empty((N, K))
    n_blocks = (N + _ROW_BLOCK - 1) // _ROW_BLOCK
    xmax = np.zeros(n_blocks)
    counter = np.zeros(1, dtype=np.int64)
    # block b writes only its rows of a1, z1, a2 and y and xmax[b]; blocks are claimed
    # dynamically (_config)
    for _ in prange(n_blocks):
        b = next_task(counter)
        while b < n_blocks:
            n0 = b * _ROW_BLOCK
            n1 = min(N, n0 + _ROW_BLOCK)
            xmax[b] = _forward_rows(n0, n1, W1, b1, W2, b2, x, x64, a1, z1, zc, a2, y)
            b = next_task(counter)
    big = 1.0
    for b in range(n_blocks):
        big = max(big, xmax[b])
    return a1, z1, a2, y, big, zc


# -- the truncation order, per hidden unit ------------------------------------------------


@jit
def _series_orders(W2, h, xmax, force_exact):
    """The truncation order of each hidden unit's tasks and of the logits' tasks
    (``xmax = max(1, max|x|)``: every nudge of unit ``j`` is at most ``h xmax``, the bias's
    input 1 included); ``EXACT`` where the series bound fails or ``force_exact``."""
    H, K = W2.shape
    orders = np.empty(H, dtype=np.int64)
    for j in range(H):
        lo, hi = W2[j, 0], W2[j, 0]
        for k in range(1, K):
            lo, hi = min(lo, W2[j, k]), max(hi, W2[j, k])
        orders[j] = EXACT if force_exact else series_order(h * xmax * max(1.0, 4.0 * (hi - lo)))
    return orders, EXACT if force_exact else series_order(2.0 * h)


@jit
def _series_columns(orders):
    """Columns for the series tasks' coefficients: ``col[j]`` is unit ``j``'s column (``-1``
    on the exact path), ``unit[c]`` the unit in column ``c``, in unit order (the sums pick
    the columns each term needs, :func:`fastgrad.kernels.oddsums.term_columns`); and the
    units on the exact path. Plain loops: ``np.flatnonzero`` took 0.3 s of a cold start to
    compile."""
    H = orders.shape[0]
    col = np.empty(H, dtype=np.int64)
    unit = np.empty(H, dtype=np.int64)
    exact = np.empty(H, dtype=np.int64)
    c = e = 0
    for j in range(H):
        col[j] = -1
        if orders[j] != EXACT:
            col[j], unit[c] = c, j
            c += 1
        else:
            exact[e] = j
            e += 1
    return col, unit[:c], exact[:e]


@jit
def _plan(W2, s, t, zc, z1, h, xmax, force_exact):
    """What the coefficients need after the forward pass, in one compiled call (the NumPy
    calls it replaced cost 0.2 ms a gradient, serial): each row's ``q = p / (p + delta)``
    for the target's probability ``p``; the orders, the series columns, the units on the
    exact path and whether any task needs the series arithmetic; ``zc``, ``z1`` and ``s``
    transposed (rows innermost)."""
    N, H = z1.shape
    K = s.shape[1]
    q = np.empty(N)
    zcT = np.empty((H, N))
    z1T = np.empty((H, N))
    sT = np.empty((K, N))
    for n in range(N):
        q[n] = s[n, t[n]] / (s[n, t[n]] + CROSS_ENTROPY_DELTA)
        for j in range(H):
            zcT[j, n], z1T[j, n] = zc[n, j], z1[n, j]
        for k in range(K):
            sT[k, n] = s[n, k]
    orders, logit_order = _series_orders(W2, h, xmax, force_exact)
    col, unit, exact = _series_columns(orders)
    series = logit_order != EXACT and logit_order > CLOSED_LOGIT_ORDER
    for j in range(H):
        series |= orders[j] != EXACT and orders[j] > CLOSED_UNIT_ORDER
    return (q, orders, logit_order, col, unit, zcT, z1T, sT), exact, series


# -- the series path: coefficients, then sums shaped like backprop's products ---------------


@jit
def _closed_form_task(r, W2, s, t, h, plan, C, E, gb1, gb2):
    """Task ``r`` of :func:`_coefficients` if its order has closed-form coefficients."""
    q, orders, logit_order, col, _, zcT, z1T, sT = plan
    H = W2.shape[0]
    P = orders[r] if r < H else logit_order
    if P == EXACT or P > (CLOSED_UNIT_ORDER if r < H else CLOSED_LOGIT_ORDER):
        return
    coef = np.zeros((N_ODD, s.shape[0]))
    if r < H:
        unit_closed(W2[r], sT, t, q, zcT[r], z1T[r], P, coef)
        gb1[r] = _store_column(coef, C, col[r], h)
    else:
        logit_closed(s, t, q, r - H, P, coef)
        gb2[r - H] = _store_column(coef, E, r - H, h)


@jit
def _series_task(r, W2, s, t, h, plan, C, E, gb1, gb2):
    """Task ``r`` of :func:`_series_coefficients` if its order is beyond the closed forms."""
    q, orders, logit_order, col, _, zcT, z1T, _ = plan
    N = s.shape[0]
    H = W2.shape[0]
    P = orders[r] if r < H else logit_order
    if P == EXACT or P <= (CLOSED_UNIT_ORDER if r < H else CLOSED_LOGIT_ORDER):
        return
    coef = np.zeros((N_ODD, N))
    if r < H:
        scratch = np.empty((6, P + 1, BLOCK))
        for lo in range(0, N, BLOCK):
            unit_series(W2[r], s, t, q, zcT[r], z1T[r], lo, scratch, coef)
        gb1[r] = _store_column(coef, C, col[r], h)
    else:
        scratch = np.empty((4, P + 1, BLOCK))
        for lo in range(0, N, BLOCK):
            logit_row_series(s, t, q, r - H, lo, scratch, coef)
        gb2[r - H] = _store_column(coef, E, r - H, h)


@jit
def _store_column(coef, C, c, h):
    """Store a task's coefficients as column ``c`` of ``C``; return its bias's central
    difference (an input of 1 in every row: the polynomial at ``y = h``, over ``h``, the
    mean over rows; the terms beyond the task's order are exactly 0)."""
    y2 = h * h
    N = coef.shape[1]
    acc = 0.0
    for n in range(N):
        acc += coef[0, n] + y2 * (coef[1, n] + y2 * (coef[2, n] + y2 * coef[3, n]))
    for p in range(coef.shape[0]):
        for n in range(N):
            C[p, n, c] = coef[p, n]
    return acc / N


@jit_parallel
def _coefficients(W2, s, t, h, plan, C, E, gb1, gb2):
    """Odd Taylor coefficients, ``C[p, n, col[j]]`` of hidden unit ``j``'s ``F_nj`` (term
    ``2p + 1``) and ``E[p, n, k]`` of logit ``k``'s, up to each task's order, and the
    biases' central differences: the tasks with closed-form coefficients. Task ``j < H`` is
    unit ``j``, task ``H + k`` logit ``k``."""
    n_tasks = W2.shape[0] + W2.shape[1]
    counter = np.zeros(1, dtype=np.int64)
    # task j writes only column col[j] of C and gb1[j], task H + k only column k of E and
    # gb2[k]; each allocates its own scratch; tasks are claimed dynamically (_config)
    for _ in prange(n_tasks):
        r = next_task(counter)
        while r < n_tasks:
            _closed_form_task(r, W2, s, t, h, plan, C, E, gb1, gb2)
            r = next_task(counter)


@jit_parallel
def _series_coefficients(W2, s, t, h, plan, C, E, gb1, gb2):
    """:func:`_coefficients` for the tasks whose order is beyond the closed forms, by the
    series arithmetic."""
    n_tasks = W2.shape[0] + W2.shape[1]
    counter = np.zeros(1, dtype=np.int64)
    # as in _coefficients
    for _ in prange(n_tasks):
        r = next_task(counter)
        while r < n_tasks:
            _series_task(r, W2, s, t, h, plan, C, E, gb1, gb2)
            r = next_task(counter)


# -- the exact path ------------------------------------------------------------------------


@jit
def _hidden_unit_exact(j, W2, a1, z1, a2, t, x, h, out):
    """``gW1[:, j]`` into ``out`` and ``gb1[j]`` (returned) from directly evaluated row
    losses: the fallback where unit ``j``'s series bound fails."""
    N, I = x.shape
    w2j = W2[j]
    acc_b = 0.0
    for n in range(N):
        acc_b += unit_loss_delta_exact(a1[n, j], z1[n, j], a2[n], w2j, t[n], h)
    out[:] = 0.0
    for n in range(N):
        for i in range(I):
            if x[n, i] != 0.0:  # a zero input leaves the row unchanged, exactly
                d = h * x[n, i]
                out[i] += unit_loss_delta_exact(a1[n, j], z1[n, j], a2[n], w2j, t[n], d)
    for i in range(I):
        out[i] = out[i] / (2 * h) / N
    return acc_b / (2 * h) / N


@jit_parallel
def _numgrad_exact(W2, a1, z1, a2, t, x, h, units, logits, gW1, gb1, gW2, gb2):
    """The exact path for the hidden ``units`` listed and, if ``logits``, for every logit:
    the two perturbed row losses evaluated directly. Compiled on first need only."""
    N, I = x.shape
    H, K = W2.shape
    U = units.shape[0]
    z1T = np.ascontiguousarray(z1.T)
    cols = np.empty((U, I))
    gW2T = np.empty((K, H))
    n_tasks = U + K if logits else U
    # task r < U writes only cols[r] and gb1[units[r]]; task U + k only gW2T[k] and gb2[k]
    for r in prange(n_tasks):
        if r < U:
            gb1[units[r]] = _hidden_unit_exact(units[r], W2, a1, z1, a2, t, x, h, cols[r])
        else:
            logit_exact(r - U, a2, z1T, t, h, gW2T, gb2)
    for r in range(U):
        for i in range(I):
            gW1[i, units[r]] = cols[r, i]
    if logits:
        for j in range(H):
            for k in range(K):
                gW2[j, k] = gW2T[k, j]


def _numgrad_two_layer(W1, b1, W2, b2, x, t, h, force_exact):
    """The book's central difference for every parameter of TwoLayerNet: the forward pass, a
    truncation order per task, the coefficients (series arithmetic and the exact path
    compiled only the first time a task needs them), the sums.

    Plain Python between the compiled steps: one compiled driver would link and optimise
    every step's code once more (seconds of a cold start) to save a few microseconds. The
    NumPy work between them is compiled too (:func:`_plan`; the biases' sums in the
    coefficients' tasks): it ran serially and cost 0.2 ms a gradient."""
    N, I = x.shape
    H, K = W2.shape
    # the sums and the exact path read x as float64 rows, which the forward pass converts
    x64 = x if x.dtype == np.float64 else np.empty((N, I))
    a1, z1, a2, s, xmax, zc = _forward(W1, b1, W2, b2, x, x64)
    plan, exact, series = _plan(W2, s, t, zc, z1, h, xmax, force_exact)
    _, _, logit_order, _, unit, _, _, _ = plan
    C = np.empty((N_ODD, N, unit.size))  # every column written by its task
    E = np.zeros((N_ODD, N, K))  # zeros on the exact path
    gb1 = np.zeros(H)
    gb2 = np.zeros(K)
    _coefficients(W2, s, t, h, plan, C, E, gb1, gb2)
    if series:
        _series_coefficients(W2, s, t, h, plan, C, E, gb1, gb2)
    gW1 = np.zeros((I, H))
    gW2 = np.zeros((H, K))
    odd_sums(x64, C, unit, gW1, z1, E, np.arange(K), gW2, h)
    logits = logit_order == EXACT
    if exact.size or logits:  # their gradients are set there, whatever the sums added
        _numgrad_exact(W2, a1, z1, a2, t, x64, h, exact, logits, gW1, gb1, gW2, gb2)
    return gW1, gb1, gW2, gb2


# -- forward, loss and backprop ---------------------------------------------------------


@jit
def _predict(W1, b1, W2, b2, x):
    return _forward(W1, b1, W2, b2, x, np.empty((0, 0)))[3]


@jit
def _loss_two_layer(W1, b1, W2, b2, x, t):
    s = _forward(W1, b1, W2, b2, x, np.empty((0, 0)))[3]
    acc = 0.0
    for n in range(x.shape[0]):
        acc += np.log(s[n, t[n]] + CROSS_ENTROPY_DELTA)
    return -acc / x.shape[0]


@jit_parallel
def _gradient_two_layer(W1, b1, W2, b2, x, t):
    """The book's backprop (section 5.7) for labels ``t``, in parallel, without BLAS."""
    N, I = x.shape
    H = W1.shape[1]
    K = W2.shape[1]
    a1, z1, a2, y, _, _ = _forward(W1, b1, W2, b2, x, np.empty((0, 0)))
    dy = np.empty((N, K))
    dz1 = np.empty((N, H))
    # iteration n writes only row n of dy and dz1
    for n in prange(N):
        for k in range(K):
            dy[n, k] = (y[n, k] - (1.0 if k == t[n] else 0.0)) / N
        for j in range(H):
            da = 0.0
            for k in range(K):
                da += dy[n, k] * W2[j, k]
            dz1[n, j] = (1.0 - z1[n, j]) * z1[n, j] * da
    xT = np.ascontiguousarray(x.T)
    gW1 = np.zeros((I, H))
    # iteration i writes only row i of gW1
    for i in prange(I):
        for n in range(N):
            v = xT[i, n]
            if v != 0.0:
                for j in range(H):
                    gW1[i, j] += v * dz1[n, j]
    gW2 = np.zeros((H, K))
    # iteration j writes only row j of gW2
    for j in prange(H):
        for n in range(N):
            zj = z1[n, j]
            for k in range(K):
                gW2[j, k] += zj * dy[n, k]
    gb1 = np.zeros(H)
    gb2 = np.zeros(K)
    for n in range(N):
        for j in range(H):
            gb1[j] += dz1[n, j]
        for k in range(K):
            gb2[k] += dy[n, k]
    return gW1, gb1, gW2, gb2


@jit
def numgrad_simple(W, x, t, h):
    """SimpleNet: ``W[i, k] +- h`` moves logit ``k`` of row ``n`` by ``+-h x[n, i]``; each row
    loss is evaluated directly (6 parameters, nothing to gain from series)."""
    N = x.shape[0]
    K = W.shape[1]
    a = np.zeros((N, K))
    for n in range(N):
        for i in range(W.shape[0]):
            for k in range(K):
                a[n, k] += x[n, i] * W[i, k]
    grad = np.empty(W.shape)
    for i in range(W.shape[0]):
        for k in range(K):
            acc = 0.0
            for n in range(N):
                d = h * x[n, i]
                if d != 0.0:
                    acc += row_loss_logit(a[n], k, d, t[n]) - row_loss_logit(a[n], k, -d, t[n])
            grad[i, k] = acc / (2 * h) / N
    return grad


# -- the twin classes ------------------------------------------------------------------
#
# No validation beyond what memory safety needs (the package root validates): shapes that
# must agree for every index a kernel computes to stay inside its array, and labels in range
# (``functions._labels``). Each parallel call runs in a ``_threads.region``: its call site's
# thread count, ``_config.PARALLEL_LOCK``, and for TwoLayerNet BLAS held at one thread (the
# forward pass's products run one per Numba thread).


def _chained(params: dict[str, Any]) -> tuple[np.ndarray, ...]:
    """``W1, b1, W2, b2`` as float64 C arrays whose shapes chain; else ``ValueError``."""
    W1, b1, W2, b2 = (np.ascontiguousarray(params[k], dtype=np.float64) for k in PARAM_NAMES)
    if not (
        W1.ndim == W2.ndim == 2
        and b1.shape == (W1.shape[1],)
        and W2.shape[0] == W1.shape[1]
        and b2.shape == (W2.shape[1],)
    ):
        raise ValueError(
            f"params do not chain: W1 {W1.shape}, b1 {b1.shape}, W2 {W2.shape}, b2 {b2.shape}; "
            "expected (I, H), (H,), (H, K), (K,)"
        )
    return W1, b1, W2, b2


class SimpleNet:
    """Twin of :class:`fastgrad.reference.SimpleNet` on compiled kernels."""

    def __init__(self, W: Any = None, *, rng: Any = None) -> None:
        if W is None:
            rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
            W = rng.standard_normal((2, 3))
        self.W = np.ascontiguousarray(W, dtype=np.float64)  # kernels never write to W

    def _w(self) -> np.ndarray:
        W = np.ascontiguousarray(self.W, dtype=np.float64)
        if W.ndim != 2:
            raise ValueError(f"W must be 2-D, got shape {W.shape}")
        return W

    def predict(self, x: Any) -> np.ndarray:
        W = self._w()
        out = np.dot(as_rows(x, W.shape[0]), W)
        return out.reshape(np.shape(x)[:-1] + (W.shape[1],))

    def loss(self, x: Any, t: Any) -> float:
        from .functions import softmax_loss

        W = self._w()
        scores = np.dot(as_rows(x, W.shape[0]), W)
        labels = as_labels(t, scores.shape[0], scores.shape[1])
        with region(("SimpleNet.loss", scores.shape)):
            return float(softmax_loss(scores, labels))

    def numerical_gradient(self, x: Any, t: Any, h: float = 1e-4) -> np.ndarray:
        W = self._w()
        x2 = as_rows(x, W.shape[0])
        return numgrad_simple(W, x2, as_labels(t, x2.shape[0], W.shape[1]), float(h))


class TwoLayerNet:
    """Twin of :class:`fastgrad.reference.TwoLayerNet` on compiled kernels.

    Same constructor and methods; ``numerical_gradient`` is the structure-aware kernel
    described in the module docstring (``exact=True`` forces the direct evaluation of every
    perturbed row loss). ``h`` is not checked here: :class:`fastgrad.TwoLayerNet` rejects
    steps the reference cannot resolve.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        weight_init_std: float = 0.01,
        *,
        rng: Any = None,
    ) -> None:
        from ..reference.nets import TwoLayerNet as _Reference

        ref = _Reference(input_size, hidden_size, output_size, weight_init_std, rng=rng)
        self.params = ref.params

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> TwoLayerNet:
        """A network that uses ``params`` as given (float64, C-ordered arrays)."""
        net = cls.__new__(cls)
        net.params = dict(params)
        return net

    def _prepare(self, x: Any, t: Any = None) -> tuple[tuple[np.ndarray, ...], np.ndarray, Any]:
        p = _chained(self.params)
        x2 = as_rows(x, p[0].shape[0], keep_float32=True)
        return p, x2, None if t is None else as_labels(t, x2.shape[0], p[2].shape[1])

    def _site(self, what: str, x2: np.ndarray) -> tuple:
        """The call site whose thread count adapts (:func:`fastgrad._threads.region`)."""
        return ("TwoLayerNet", what, x2.shape, x2.dtype.char, self.params["W1"].shape)

    def predict(self, x: Any) -> np.ndarray:
        p, x2, _ = self._prepare(x)
        with region(self._site("predict", x2), blas=True):
            y = _predict(*p, x2)
        return y.reshape(np.shape(x)[:-1] + (y.shape[1],))

    def loss(self, x: Any, t: Any) -> float:
        p, x2, labels = self._prepare(x, t)
        with region(self._site("loss", x2), blas=True):
            return float(_loss_two_layer(*p, x2, labels))

    def accuracy(self, x: Any, t: Any) -> float:
        p, x2, labels = self._prepare(x, t)
        with region(self._site("predict", x2), blas=True):
            y = _predict(*p, x2)
        return float(np.sum(np.argmax(y, axis=1) == labels) / float(x2.shape[0]))

    def numerical_gradient(
        self, x: Any, t: Any, h: float = 1e-4, *, exact: bool = False
    ) -> dict[str, np.ndarray]:
        p, x2, labels = self._prepare(x, t)
        with region(self._site("numerical_gradient", x2), blas=True):
            grads = _numgrad_two_layer(*p, x2, labels, float(h), exact)
        return dict(zip(PARAM_NAMES, grads, strict=True))

    def gradient(self, x: Any, t: Any) -> dict[str, np.ndarray]:
        p, x2, labels = self._prepare(x, t)
        with region(self._site("gradient", x2), blas=True):
            grads = _gradient_two_layer(*p, x2, labels)
        return dict(zip(PARAM_NAMES, grads, strict=True))
