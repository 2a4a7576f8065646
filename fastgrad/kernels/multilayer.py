"""Numba twin of :mod:`fastgrad.reference.multilayer`: ``MultiLayerNet`` of any depth.

The numerical gradient is the book's central difference for every parameter, computed from
the network's structure (``docs/multilayer.md`` derives it): a nudge of ``W_l[i, j]`` moves
only unit ``j`` of layer ``l``, by ``y = h z_{l-1}[n, i]`` in row ``n``, and the row's loss
change is one function of ``y`` per (row, unit), shared by every input ``i``. Its odd Taylor
coefficients and the largest nudge they are used for come from
:func:`fastgrad.kernels.unitseries.unit_plan` (ReLU directions and kink radii, sigmoid Taylor
mode, the two-layer kernel's order table); every other nudge has its two perturbed row losses
evaluated exactly (at a kink that is the reference's number, not the derivative). The output
layer's tasks use the two-layer kernel's closed forms (:mod:`fastgrad.kernels.series`);
weight decay adds ``lambda * w`` exactly.

The tasks (every hidden unit of every layer, then the logits) run in one ``prange``,
interleaved so that each thread's share of the work is even; each writes only its own
unit's gradient and scratch. The first two hidden layers' weight sums are then BLAS products
over fixed blocks (:mod:`fastgrad.kernels.oddsums`), as is the forward pass, so the result is
bitwise the same at any thread count. :func:`nudge_limits` exposes the path decision.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from numba import prange

from .._config import jit, jit_parallel, next_task
from .._threads import region
from ..reference.functions import CROSS_ENTROPY_DELTA
from ..reference.multilayer import MultiLayerNet as _Reference
from ..reference.multilayer import check_activation, param_names
from .functions import softmax_rows
from .inputs import abs_max, as_labels, as_rows
from .oddsums import odd_sums
from .powersums import power_sums, target_mean
from .rowloss import act, exact_half_difference, exact_half_differences, logit_exact
from .series import (
    BLOCK,
    CLOSED_LOGIT_ORDER,
    EXACT,
    N_ODD,
    ORDER,
    SERIES_RATIO_MAX,
    logit_closed,
    logit_row_series,
    odd_poly,
    odd_poly_sum_const,
    order_for,
)
from .unitseries import (
    KINK_MARGIN,
    LOWEST_ORDER,
    SIGMOID_LIPSCHITZ,
    blk_sigmoid_change,
    layer_series,
    sigmoid_order_max,
    unit_plan,
    view,
)

__all__ = ["MultiLayerNet", "KINK_MARGIN", "SIGMOID_LIPSCHITZ", "LOWEST_ORDER", "nudge_limits"]


# -- flat storage: every layer's arrays in one buffer, addressed by offsets ----------------
#
# The depth is data, not type: one compiled kernel serves every architecture. ``sizes`` is
# ``[I, H1, ..., HL, K]``; ``W_l`` (``sizes[l-1] x sizes[l]``) starts at ``woff[l]`` of ``Wf``
# and ``b_l`` at ``boff[l]`` of ``bf``; per-row arrays of layer ``l`` (``N x sizes[l]``, or
# transposed) start at ``aoff[l]``.


@jit
def _row_offsets(sizes, N):
    """Offsets of the per-row arrays of layers ``1..L+1`` in a flat buffer (``aoff[L+2]`` is
    the total)."""
    L = sizes.shape[0] - 2
    aoff = np.zeros(L + 3, dtype=np.int64)
    for l in range(1, L + 2):
        aoff[l + 1] = aoff[l] + N * sizes[l]
    return aoff


#: Rows per task of the forward pass: one single-threaded BLAS product per layer and task.
#: Fixed, so that the products do not depend on the thread count (as the two-layer kernel's).
_ROW_BLOCK = 25


@jit
def _forward_rows(n0, n1, sizes, Wf, woff, bf, boff, x, relu, Af, Zf, aoff):
    """Rows ``n0:n1`` of :func:`_forward`: per layer one BLAS product, the bias and the
    activation."""
    L = sizes.shape[0] - 2
    m = n1 - n0
    prev = x[n0:n1]
    for l in range(1, L + 2):
        H = sizes[l]
        a = view(Af, aoff[l] + n0 * H, m, H)
        np.dot(prev, view(Wf, woff[l], sizes[l - 1], H), a)
        for r in range(m):
            for k in range(H):
                a[r, k] += bf[boff[l] + k]
        if l <= L:
            z = view(Zf, aoff[l] + n0 * H, m, H)
            for r in range(m):
                for k in range(H):
                    z[r, k] = act(a[r, k], relu)
            prev = z


@jit_parallel
def _forward(sizes, Wf, woff, bf, boff, x, relu):
    """The book's forward pass in parallel over blocks of rows: ``a_l = z_{l-1} W_l + b_l``,
    ``z_l = act(a_l)``; returns the pre-activations ``Af`` (layers 1..L+1, the last being the
    scores), the activations ``Zf`` (1..L), their offsets and the softmax. Callers hold BLAS
    at one thread (``_config.blas_held``), so that each Numba thread runs its own products."""
    N = x.shape[0]
    L = sizes.shape[0] - 2
    aoff = _row_offsets(sizes, N)
    Af = np.empty(aoff[L + 2])
    Zf = np.empty(aoff[L + 1])
    n_blocks = (N + _ROW_BLOCK - 1) // _ROW_BLOCK
    counter = np.zeros(1, dtype=np.int64)
    # block b writes only its rows of every layer; blocks are claimed dynamically (_config)
    for _ in prange(n_blocks):
        b = next_task(counter)
        while b < n_blocks:
            n0 = b * _ROW_BLOCK
            _forward_rows(
                n0, min(N, n0 + _ROW_BLOCK), sizes, Wf, woff, bf, boff, x, relu, Af, Zf, aoff
            )
            b = next_task(counter)
    s = softmax_rows(view(Af, aoff[L + 1], N, sizes[L + 1]))
    return Af, Zf, aoff, s


@jit
def _transposed(Ff, aoff, sizes, N, last):
    """Per-row arrays of layers ``1..last`` transposed (``sizes[l] x N`` each), same offsets."""
    out = np.empty(aoff[last + 1])
    for l in range(1, last + 1):
        src = view(Ff, aoff[l], N, sizes[l])
        dst = view(out, aoff[l], sizes[l], N)
        for n in range(N):
            for k in range(sizes[l]):
                dst[k, n] = src[n, k]
    return out


# -- the sums over inputs -------------------------------------------------------------------


@jit
def _guarded_sum(coef, tau, y):
    """``sum_n odd_poly(coef[:, n], y[n])`` over the rows whose nudge takes the series path
    (``|y| < tau``; ``y = 0`` adds 0, the coefficients being finite wherever ``tau > 0``),
    and the number of non-zero nudges that do not. Two loops: with both reductions in one,
    LLVM did not vectorise it (4x slower here)."""
    total = 0.0
    for n in range(y.shape[0]):
        yn = y[n]
        v = odd_poly(coef[0, n], coef[1, n], coef[2, n], coef[3, n], yn)
        total += v if abs(yn) < tau[n] else 0.0
    nbad = 0
    for n in range(y.shape[0]):
        nbad += 1 if (y[n] != 0.0) & (abs(y[n]) >= tau[n]) else 0
    return total, nbad


@jit
def _column_sum(l, j, coef, tau, y, ex):
    """Half the sum over rows of the central differences of one parameter whose nudge moves
    row ``n`` of unit ``j`` by ``y[n]``: the series rows, then the exact ones, in row order."""
    total, nbad = _guarded_sum(coef, tau, y)
    if nbad > 0:
        for n in range(y.shape[0]):
            yn = y[n]
            if yn != 0.0 and abs(yn) >= tau[n]:
                total += exact_half_difference(l, j, n, yn, ex)
    return total


@jit
def _product_unit(l, j, coef, tau, ymax, h, layer, ex, scale):
    """Unit ``j`` of layer ``l`` (1 or 2), whose weights' sums are products: its coefficients
    into ``C[:, :, j]`` for every row whose nudges all take the series path (``ymax[n] <
    tau[n]``, ``ymax[n] = h max(1, max_i |v[n, i]|)``); the other rows' nudges are summed
    here (by the series, or exactly, a row's exact nudges at once) into column ``j`` of
    ``gW`` (which holds the decay).
    The products (:func:`fastgrad.kernels.oddsums.odd_sums`) add the rest. ``layer = (v, C,
    gW)``: the layer's inputs (``x`` as float64, or ``z1``), coefficient store and gradient.
    A unit with no such row leaves ``gW`` alone: its column is strided, a cache line a row."""
    v, C, gW = layer
    N, I = v.shape
    acc = np.zeros(0)
    beyond = np.empty(0, dtype=np.int64)
    for n in range(N):
        if ymax[n] < tau[n]:
            for p in range(N_ODD):
                C[p, n, j] = coef[p, n]
            continue
        for p in range(N_ODD):  # near a kink, or exact: none of this row in the products
            C[p, n, j] = 0.0
        if acc.shape[0] == 0:
            acc = np.zeros(I)
            beyond = np.empty(I, dtype=np.int64)
        c0, c1, c2, c3 = coef[0, n], coef[1, n], coef[2, n], coef[3, n]
        m = 0  # the nudges beyond the series' reach, evaluated exactly all at once
        for i in range(I):
            y = h * v[n, i]
            if y != 0.0:
                if abs(y) < tau[n]:
                    acc[i] += odd_poly(c0, c1, c2, c3, y)
                else:
                    beyond[m] = i
                    m += 1
        if m > 0:
            ys = np.empty(m)
            for e in range(m):
                ys[e] = h * v[n, beyond[e]]
            half = exact_half_differences(l, j, n, ys, ex)
            for e in range(m):
                acc[beyond[e]] += half[e]
    for i in range(acc.shape[0]):
        gW[i, j] += acc[i] * scale


@jit
def _hidden_unit(l, j, net, fw, h, lam, relu, force_exact, products, gWTf, gbf):
    """Worker: ``gW_l[:, j]`` (into row ``j`` of the transposed block; the first two layers'
    through :func:`_product_unit`) and ``gb_l[j]``.

    ``net = (sizes, Wf, woff, bf, boff)``; ``fw``: what :func:`_prepare` computed;
    ``products``: :func:`_product_unit`'s ``layer`` for layer 1, then for layer 2."""
    sizes, Wf, woff, bf, boff = net
    Af, Zf, aoff, s, q, sT, ATf, ZTf, CTf, hZTf, dTf, ymaxf, t, Ef, muf = fw
    N = t.shape[0]
    L = sizes.shape[0] - 2
    hmax = 1
    for m in range(1, L + 2):
        hmax = max(hmax, sizes[m])
    Hp = sizes[l - 1]
    tau = np.empty(N)
    coef = np.empty((N_ODD, N))
    buf = np.empty((2, hmax))
    unit_plan(l, j, net, fw, relu, force_exact, tau, coef)
    scale = 1.0 / (N * h)  # (sum_n [F(+y) - F(-y)] / N) / (2h), F(+y) - F(-y) = 2 odd(y)
    hb = np.empty(N)
    hb[:] = h  # the bias: input 1 in every row
    ex = (sizes, Wf, woff, Af, aoff, t, relu, buf)  # what an exact evaluation reads
    gbf[boff[l] + j] = _column_sum(l, j, coef, tau, hb, ex) * scale
    if l <= 2:
        layer = products[:3] if l == 1 else products[3:]
        _product_unit(l, j, coef, tau, ymaxf[l - 1], h, layer, ex, scale)
        return
    gWT = view(gWTf, woff[l], sizes[l], Hp)
    W = view(Wf, woff[l], Hp, sizes[l])
    hZT = view(hZTf, aoff[l - 1], Hp, N)
    acc = np.empty(Hp)
    for i in range(Hp):
        acc[i] = _column_sum(l, j, coef, tau, hZT[i], ex)
    for i in range(Hp):
        gWT[j, i] = acc[i] * scale + lam * W[i, j]


@jit
def _logit_task(k, net, fw, h, lam, logit_order, gWTf, gbf):
    """Worker: ``gW_{L+1}[:, k]`` and ``gb_{L+1}[k]``: the two-layer kernel's logit task on the
    last hidden layer (:func:`_logit_series`, or ``rowloss.logit_exact``), plus decay."""
    sizes, Wf, woff, bf, boff = net
    Af, aoff, s, q, ZTf, t = fw[0], fw[2], fw[3], fw[4], fw[7], fw[12]
    N = t.shape[0]
    L = sizes.shape[0] - 2
    K = sizes[L + 1]
    HL = sizes[L]
    gWT = view(gWTf, woff[L + 1], K, HL)
    gb = gbf[boff[L + 1] : boff[L + 1] + K]
    zLT = view(ZTf, aoff[L], HL, N)
    if logit_order != EXACT:
        _logit_series(k, s, t, q, zLT, h, logit_order, gWT, gb)
    else:
        logit_exact(k, view(Af, aoff[L + 1], N, K), zLT, t, h, gWT, gb)
    W = view(Wf, woff[L + 1], HL, K)
    for i in range(HL):
        gWT[k, i] += lam * W[i, k]


@jit
def _logit_series(k, s, t, q, zLT, h, P, gWT, gb):
    """``gW[:, k]`` and ``gb[k]`` from the odd coefficients of order ``P`` of each row's loss
    change when logit ``k`` moves: closed forms up to ``CLOSED_LOGIT_ORDER`` (as the two-layer
    kernel's logits), the series arithmetic beyond."""
    N = s.shape[0]
    coef = np.zeros((N_ODD, N))
    if P <= CLOSED_LOGIT_ORDER:
        logit_closed(s, t, q, k, P, coef)
    else:
        scratch = np.empty((4, P + 1, BLOCK))
        for lo in range(0, N, BLOCK):
            logit_row_series(s, t, q, k, lo, scratch, coef)
    scale = 1.0 / (N * h)
    gb[k] = odd_poly_sum_const(coef, h) * scale
    for j in range(zLT.shape[0]):
        total = 0.0
        for n in range(N):
            total += odd_poly(coef[0, n], coef[1, n], coef[2, n], coef[3, n], h * zLT[j, n])
        gWT[k, j] = total * scale


@jit_parallel
def _numgrad_tasks(
    order, task_layer, net, fw, h, lam, relu, force_exact, products, logit_order, gWTf, gbf
):
    """Parallel driver: task ``order[r]`` is a unit of layer ``task_layer[task]`` (layers
    ``1..L``: hidden units; ``L+1``: the logits). One parallel region, one parallel compile;
    the tasks are claimed in turn from a shared counter (``_config.next_task``), so that a
    thread the OS slows down takes fewer of them."""
    sizes = net[0]
    L = sizes.shape[0] - 2
    start = np.zeros(L + 2, dtype=np.int64)  # index of each layer's first task
    for l in range(1, L + 1):
        start[l + 1] = start[l] + sizes[l]
    n_tasks = order.shape[0]
    counter = np.zeros(1, dtype=np.int64)
    # task (l, j) writes only row j of layer l's transposed weight gradient and b_l[j]; each
    # allocates its own scratch
    for _ in prange(n_tasks):
        r = next_task(counter)
        while r < n_tasks:
            task = order[r]
            l = task_layer[task]
            j = task - start[l]
            if l <= L:
                _hidden_unit(l, j, net, fw, h, lam, relu, force_exact, products, gWTf, gbf)
            else:
                _logit_task(j, net, fw, h, lam, logit_order, gWTf, gbf)
            r = next_task(counter)


@functools.lru_cache(maxsize=64)
def _task_order(sizes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Every layer's tasks spread evenly over the run (the order, and the layer of each
    task): task ``k`` of a layer with ``c`` tasks sits at about ``(k + 1/2) / c`` of the way,
    so the tasks claimed last are a mix of every layer's, not the tail of one. Read-only."""
    counts = sizes[1:]
    task_layer = np.repeat(np.arange(1, len(sizes)), counts)
    key = np.concatenate([(np.arange(c) + 0.5) / c for c in counts])
    order = np.argsort(key, kind="stable")
    order.flags.writeable = task_layer.flags.writeable = False
    return order, task_layer


@jit
def _prepare(sizes, x, t, h, relu, Af, Zf, aoff, s):
    """Everything the tasks read after the forward pass (``Af, Zf, aoff, s``, from
    :func:`_forward`, called apart: a compiled caller would link the parallel pass into its
    own code and compile it again), as one tuple ``fw``: the pre-activations and activations
    (and transposed), ``sigmoid(-a)`` and each sigmoid unit's Taylor coefficients, the
    softmax (and transposed) and ``q = p0 / (p0 + eps)`` per row, ``h z`` of the hidden
    layers, and each layer's largest nudge per row."""
    N = x.shape[0]
    L = sizes.shape[0] - 2
    PM = ORDER + 1
    q = np.empty(N)
    for n in range(N):
        p0 = s[n, t[n]]
        q[n] = p0 / (p0 + CROSS_ENTROPY_DELTA)
    sT = np.ascontiguousarray(s.T)
    ATf = _transposed(Af, aoff, sizes, N, L)
    ZTf = _transposed(Zf, aoff, sizes, N, L)
    CTf = np.empty(0)
    dTf = np.empty(0)
    if not relu:
        CTf = np.empty(ATf.shape[0])
        for e in range(ATf.shape[0]):
            CTf[e] = 1.0 / (1.0 + np.exp(ATf[e]))  # sigmoid(-a), directly
        dTf = np.empty(ATf.shape[0] * PM)
        u = np.zeros((PM, N))
        u[1, :] = 1.0
        G = np.empty((PM, N))
        for l in range(1, L + 1):
            dT = layer_series(dTf, aoff, sizes, l, N)
            ZT = view(ZTf, aoff[l], sizes[l], N)
            CT = view(CTf, aoff[l], sizes[l], N)
            for k in range(sizes[l]):
                blk_sigmoid_change(u, PM, ZT[k], CT[k], G, dT[k])
    hZTf = h * ZTf
    ymaxf = np.empty((L, N))
    for n in range(N):
        ymaxf[0, n] = h * max(1.0, abs_max(x[n]))
    for l in range(1, L):
        Z = view(Zf, aoff[l], N, sizes[l])
        for n in range(N):
            ymaxf[l, n] = h * max(1.0, abs_max(Z[n]))
    return Af, Zf, aoff, s, q, sT, ATf, ZTf, CTf, hZTf, dTf, ymaxf, t


@jit
def _logit_order(sizes, Zf, aoff, h, force_exact):
    """The truncation order of the logit tasks, which move logit ``k`` by ``h z_L[n, j]``
    (biases: ``h``), by the two-layer kernel's table at ``ratio = 2 h max(1, |z_L|)``;
    ``EXACT`` beyond ``SERIES_RATIO_MAX`` or with ``force_exact``."""
    L = sizes.shape[0] - 2
    zmax = 1.0
    for e in range(aoff[L], aoff[L + 1]):
        zmax = max(zmax, abs(Zf[e]))
    ratio = 2.0 * h * zmax
    if force_exact or ratio > SERIES_RATIO_MAX:
        return EXACT
    return order_for(ratio, 1)


def _numgrad(sizes, Wf, woff, bf, boff, x, t, h, lam, relu, force_exact):
    """The book's central difference for every parameter: one forward pass, the guards, the
    parallel tasks, then the first two layers' products. Returns the weight gradients
    transposed (flat; the blocks of the first two layers unused), the biases', and the first
    two layers' weight gradients (the second ``0 x 0`` for one hidden layer).

    Plain Python between the compiled steps: Numba links a callee's code into its caller and
    optimises it again there, so a compiled driver spent its own 10 s of the 100 s cold start
    on code already compiled, for a few microseconds a call."""
    N = x.shape[0]
    L = sizes.shape[0] - 2
    H1 = sizes[1]
    net = (sizes, Wf, woff, bf, boff)
    fw = _pass(net, x, t, h, relu, force_exact)
    Zf, aoff = fw[1], fw[2]
    logit_order = _logit_order(sizes, Zf, aoff, h, force_exact)
    order, task_layer = _task_order(tuple(sizes.tolist()))
    gWTf = np.empty(Wf.shape[0])
    gbf = np.empty(bf.shape[0])
    # the first two hidden layers' weights are summed as products: their inputs, each unit's
    # coefficients (stored by the tasks) and the gradients (the decay, then the rows a task
    # sums itself)
    z1 = Zf[aoff[1] : aoff[1] + N * H1].reshape(N, H1) if L > 1 else np.empty((N, 0))
    W1 = Wf[: woff[2]].reshape(sizes[0], H1)
    W2 = Wf[woff[2] : woff[3]].reshape(H1, sizes[2]) if L > 1 else np.empty((0, 0))
    products = _product_layer(x, W1, lam) + _product_layer(z1, W2, lam)
    _numgrad_tasks(
        order, task_layer, net, fw, h, lam, relu, force_exact, products, logit_order, gWTf, gbf
    )
    v1, C1, gW1, v2, C2, gW2 = products
    odd_sums(v1, C1, np.arange(H1), gW1, v2, C2, np.arange(C2.shape[2]), gW2, h)
    return gWTf, gbf, gW1, gW2


def _product_layer(v, W, lam):
    """A layer summed as products: its inputs ``v``, the coefficient store, and the gradient,
    started at the decay ``lam W``."""
    return v, np.empty((N_ODD, v.shape[0], W.shape[1])), lam * W


def _pass(net, x, t, h, relu, force_exact):
    """What the tasks read (``fw``): :func:`_prepare`'s tuple and the power sums of the
    second-to-last hidden layer, ``E`` and (sigmoid) ``E_3``'s target mean
    (:mod:`fastgrad.kernels.powersums`) or (ReLU) each row's smallest ``|a_L|``, ``1 x N``
    (the floor of its units' kink radii); ``0 x 0`` where no task reads them. Its parallel
    steps are called from here, not from compiled code (see :func:`_numgrad`)."""
    sizes, Wf, woff, bf, boff = net
    Af, Zf, aoff, s = _forward(sizes, Wf, woff, bf, boff, x, relu)
    fw = _prepare(sizes, x, t, h, relu, Af, Zf, aoff, s)
    L = sizes.shape[0] - 2
    none = np.empty((0, 0))
    if force_exact or L < 2:
        return (*fw, none, none)
    N = x.shape[0]
    W = Wf[woff[L] : woff[L + 1]].reshape(sizes[L - 1], sizes[L])
    Wn = Wf[woff[L + 1] : woff[L + 2]].reshape(sizes[L], sizes[L + 1])
    if relu:  # the directions: d_k1 = the mask of layer L; each row's smallest |a_L|
        AT = fw[6][aoff[L] : aoff[L + 1]].reshape(sizes[L], N)
        mask = np.zeros((sizes[L], 2, N))
        mask[:, 1, :] = AT > 0.0
        return (*fw, power_sums(W, mask, Wn, 1), np.abs(AT).min(axis=0)[None, :])
    P = sigmoid_order_max(L - 1, sizes, Wf, woff, fw[11][L - 2])
    dT = layer_series(fw[10], aoff, sizes, L, N)
    E = power_sums(W, dT, Wn, P if P > 3 else 2)  # at order 3, E_3 only through its mean
    return (*fw, E, target_mean(W, dT, Wn, fw[3], t))


@jit
def _plans(net, fw, relu, force_exact):
    """Every hidden unit's ``tau`` (flat, ``N x H_l`` per layer at ``aoff[l]``), by the
    kernel's own :func:`unit_plan`."""
    sizes, aoff = net[0], fw[2]
    N = fw[12].shape[0]
    L = sizes.shape[0] - 2
    out = np.empty(aoff[L + 1])
    coef = np.empty((N_ODD, N))
    tau = np.empty(N)
    for l in range(1, L + 1):
        T = view(out, aoff[l], N, sizes[l])
        for j in range(sizes[l]):
            unit_plan(l, j, net, fw, relu, force_exact, tau, coef)
            for n in range(N):
                T[n, j] = tau[n]
    return out


# -- forward, loss and backprop ---------------------------------------------------------


@jit
def _scores(sizes, Wf, woff, bf, boff, x, relu):
    Af, Zf, aoff, s = _forward(sizes, Wf, woff, bf, boff, x, relu)
    L = sizes.shape[0] - 2
    return view(Af, aoff[L + 1], x.shape[0], sizes[L + 1]).copy()


@jit
def _weight_decay(sizes, Wf, woff, lam):
    """``sum_l 0.5 lambda sum(W_l ** 2)``, layer by layer as the book accumulates it."""
    L = sizes.shape[0] - 2
    wd = 0.0
    for l in range(1, L + 2):
        acc = 0.0
        for e in range(woff[l], woff[l] + sizes[l - 1] * sizes[l]):
            acc += Wf[e] * Wf[e]
        wd += 0.5 * lam * acc
    return wd


@jit
def _loss(sizes, Wf, woff, bf, boff, x, t, relu, lam):
    s = _forward(sizes, Wf, woff, bf, boff, x, relu)[3]
    acc = 0.0
    for n in range(x.shape[0]):
        acc += np.log(s[n, t[n]] + CROSS_ENTROPY_DELTA)
    return -acc / x.shape[0] + _weight_decay(sizes, Wf, woff, lam)


@jit_parallel
def _gradient(sizes, Wf, woff, bf, boff, x, t, relu, lam):
    """The book's backprop (sections 5.7 and 6.4.1) for labels ``t``, in parallel (its own
    loops after :func:`_forward`): weight gradients plus ``lambda W``; the ReLU derivative
    is 0 where ``a <= 0``."""
    N = x.shape[0]
    L = sizes.shape[0] - 2
    K = sizes[L + 1]
    Af, Zf, aoff, s = _forward(sizes, Wf, woff, bf, boff, x, relu)
    hmax = 1
    for m in range(1, L + 2):
        hmax = max(hmax, sizes[m])
    gWf = np.empty(Wf.shape[0])
    gbf = np.empty(bf.shape[0])
    delta = np.empty((N, hmax))
    dprev = np.empty((N, hmax))
    # iteration n writes only row n
    for n in prange(N):
        for k in range(K):
            delta[n, k] = (s[n, k] - (1.0 if k == t[n] else 0.0)) / N
    for l in range(L + 1, 0, -1):
        H = sizes[l]
        Hp = sizes[l - 1]
        W = view(Wf, woff[l], Hp, H)
        gW = view(gWf, woff[l], Hp, H)
        if l == 1:
            inT = np.ascontiguousarray(x.T)
        else:
            inT = np.ascontiguousarray(view(Zf, aoff[l - 1], N, Hp).T)
        # iteration i writes only row i of gW
        for i in prange(Hp):
            for k in range(H):
                gW[i, k] = 0.0
            for n in range(N):
                v = inT[i, n]
                if v != 0.0:
                    for k in range(H):
                        gW[i, k] += v * delta[n, k]
            for k in range(H):
                gW[i, k] += lam * W[i, k]
        for k in range(H):
            gbf[boff[l] + k] = 0.0
        for n in range(N):
            for k in range(H):
                gbf[boff[l] + k] += delta[n, k]
        if l > 1:
            Ap = view(Af, aoff[l - 1], N, Hp)
            Zp = view(Zf, aoff[l - 1], N, Hp)
            # iteration n writes only row n of dprev
            for n in prange(N):
                for i in range(Hp):
                    acc = 0.0
                    for k in range(H):
                        acc += delta[n, k] * W[i, k]
                    if relu:
                        dprev[n, i] = acc if Ap[n, i] > 0.0 else 0.0
                    else:
                        dprev[n, i] = acc * (1.0 - Zp[n, i]) * Zp[n, i]
            delta, dprev = dprev, delta
    return gWf, gbf


# -- the twin class ---------------------------------------------------------------------
#
# No validation beyond what memory safety needs (the front door validates): the parameter
# shapes must chain, ``x`` must match the first layer, labels must be in range. Each parallel
# call runs in a ``_threads.region`` (its call site's thread count, ``_config.PARALLEL_LOCK``).


def _flat(params: dict[str, Any]) -> tuple[np.ndarray, ...]:
    """``sizes, Wf, woff, bf, boff`` from ``W1, b1, ..., W{L+1}, b{L+1}``; ``ValueError`` if the
    keys or shapes do not chain."""
    n_layers = sum(1 for k in params if isinstance(k, str) and k.startswith("W"))
    names = param_names(n_layers)
    if n_layers < 2 or set(params) != set(names):
        raise ValueError(
            f"params must hold W1, b1, ..., Wn, bn for n >= 2 layers, got keys {sorted(params)}"
        )
    Ws = [np.ascontiguousarray(params[f"W{i}"], dtype=np.float64) for i in range(1, n_layers + 1)]
    bs = [np.ascontiguousarray(params[f"b{i}"], dtype=np.float64) for i in range(1, n_layers + 1)]
    ok = all(W.ndim == 2 for W in Ws)
    ok = ok and all(b.shape == (W.shape[1],) for W, b in zip(Ws, bs, strict=True))
    ok = ok and all(Ws[i].shape[0] == Ws[i - 1].shape[1] for i in range(1, n_layers))
    ok = ok and all(W.size > 0 for W in Ws)
    if not ok:
        shapes = ", ".join(f"{k} {np.shape(params[k])}" for k in names)
        raise ValueError(
            f"params do not chain: {shapes}; expected W_l (n_{{l-1}}, n_l) and b_l (n_l,)"
        )
    sizes = np.array([Ws[0].shape[0]] + [W.shape[1] for W in Ws], dtype=np.int64)
    woff = np.zeros(n_layers + 2, dtype=np.int64)
    boff = np.zeros(n_layers + 2, dtype=np.int64)
    for i in range(1, n_layers + 1):
        woff[i + 1] = woff[i] + Ws[i - 1].size
        boff[i + 1] = boff[i] + bs[i - 1].size
    Wf = np.concatenate([W.ravel() for W in Ws])
    bf = np.concatenate(bs)
    return sizes, Wf, woff, bf, boff


def _unflat(
    sizes: np.ndarray,
    gWf: np.ndarray,
    woff: np.ndarray,
    gbf: np.ndarray,
    boff,
    *,
    transposed: bool,
    skip: int = 0,
) -> dict[str, np.ndarray]:
    """The gradient dict from flat weight (transposed or not) and bias blocks, but for the
    weights of the first ``skip`` layers."""
    grads = {}
    for l in range(1, sizes.shape[0]):
        block = gWf[woff[l] : woff[l] + sizes[l - 1] * sizes[l]]
        if l > skip:
            grads[f"W{l}"] = (
                np.ascontiguousarray(block.reshape(sizes[l], sizes[l - 1]).T)
                if transposed
                else block.reshape(sizes[l - 1], sizes[l]).copy()
            )
        grads[f"b{l}"] = gbf[boff[l] : boff[l] + sizes[l]].copy()
    return grads


def nudge_limits(
    params: dict[str, Any],
    x: Any,
    t: Any,
    h: float = 1e-4,
    activation: str = "relu",
    *,
    exact: bool = False,
) -> tuple[dict[int, np.ndarray], bool]:
    """The kernel's path decision, for tests and diagnostics.

    Returns ``({l: tau_l}, logits_series)``: ``tau_l[n, j]`` is the largest ``|y|`` for which
    a nudge moving unit ``j`` of hidden layer ``l`` by ``y`` in row ``n`` takes the series
    path (``y = h z_{l-1}[n, i]`` for ``W_l[i, j]``, ``h`` for ``b_l[j]``; other nudges, and
    zero ones, are evaluated exactly or skipped), and whether the output layer's tasks take
    the series path. Computed by the same function the kernel calls per unit.
    """
    sizes, Wf, woff, bf, boff = _flat(params)
    x2 = as_rows(x, int(sizes[0]))
    labels = as_labels(t, x2.shape[0], int(sizes[-1]))
    relu = activation == "relu"
    with region(("MultiLayerNet", "nudge_limits", x2.shape, tuple(sizes.tolist())), blas=True):
        fw = _pass((sizes, Wf, woff, bf, boff), x2, labels, float(h), relu, exact)
        out = _plans((sizes, Wf, woff, bf, boff), fw, relu, exact)
    aoff = fw[2]
    logits = _logit_order(sizes, fw[1], aoff, float(h), exact) != EXACT
    N = x2.shape[0]
    taus = {
        l: out[aoff[l] : aoff[l] + N * sizes[l]].reshape(N, sizes[l])
        for l in range(1, sizes.shape[0] - 1)
    }
    return taus, bool(logits)


class MultiLayerNet:
    """Twin of :class:`fastgrad.reference.MultiLayerNet` on compiled kernels.

    Same constructor and methods; ``numerical_gradient`` is the structure-aware kernel of the
    module docstring (``exact=True`` evaluates every perturbed row loss directly). ``h`` is
    not checked here: :class:`fastgrad.MultiLayerNet` rejects steps the reference cannot
    resolve.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size_list: Any,
        output_size: int,
        activation: str = "relu",
        weight_init_std: float | str = "relu",
        weight_decay_lambda: float = 0,
        *,
        rng: Any = None,
    ) -> None:
        ref = _Reference(
            input_size,
            hidden_size_list,
            output_size,
            activation,
            weight_init_std,
            weight_decay_lambda,
            rng=rng,
        )
        self.params = ref.params
        self.activation = ref.activation
        self.weight_decay_lambda = ref.weight_decay_lambda
        self.hidden_layer_num = ref.hidden_layer_num

    #: A network that uses ``params`` as given (float64, C-ordered arrays): the reference's.
    from_params = classmethod(_Reference.from_params.__func__)

    def _prepare(self, x: Any, t: Any = None) -> tuple[tuple[np.ndarray, ...], np.ndarray, Any]:
        check_activation(self.activation)
        p = _flat(self.params)
        x2 = as_rows(x, int(p[0][0]))
        if not x2.flags.writeable:  # a read-only array would compile every kernel again
            x2 = x2.copy()
        return p, x2, None if t is None else as_labels(t, x2.shape[0], int(p[0][-1]))

    def _site(self, what: str, p: tuple, x2: np.ndarray) -> tuple:
        """The call site whose thread count adapts (:func:`fastgrad._threads.region`)."""
        return ("MultiLayerNet", what, x2.shape, tuple(p[0].tolist()), self.activation)

    @property
    def _relu(self) -> bool:
        return self.activation == "relu"

    def predict(self, x: Any) -> np.ndarray:
        """Scores of the last affine layer (logits)."""
        p, x2, _ = self._prepare(x)
        with region(self._site("predict", p, x2), blas=True):
            y = _scores(*p, x2, self._relu)
        return y.reshape(np.shape(x)[:-1] + (y.shape[1],))

    def loss(self, x: Any, t: Any) -> float:
        """Softmax cross-entropy plus ``0.5 lambda sum(W ** 2)`` over the weight matrices."""
        p, x2, labels = self._prepare(x, t)
        with region(self._site("loss", p, x2), blas=True):
            return float(_loss(*p, x2, labels, self._relu, self.weight_decay_lambda))

    def accuracy(self, x: Any, t: Any) -> float:
        p, x2, labels = self._prepare(x, t)
        with region(self._site("predict", p, x2), blas=True):
            y = _scores(*p, x2, self._relu)
        return float(np.sum(np.argmax(y, axis=1) == labels) / float(x2.shape[0]))

    def numerical_gradient(
        self, x: Any, t: Any, h: float = 1e-4, *, exact: bool = False
    ) -> dict[str, np.ndarray]:
        p, x2, labels = self._prepare(x, t)
        with region(self._site("numerical_gradient", p, x2), blas=True):
            gWT, gb, gW1, gW2 = _numgrad(
                *p, x2, labels, float(h), self.weight_decay_lambda, self._relu, bool(exact)
            )
        products = {"W1": gW1, "W2": gW2} if p[0].shape[0] > 3 else {"W1": gW1}
        grads = _unflat(p[0], gWT, p[2], gb, p[4], transposed=True, skip=len(products))
        grads.update(products)
        return {name: grads[name] for name in param_names(p[0].shape[0] - 1)}

    def gradient(self, x: Any, t: Any) -> dict[str, np.ndarray]:
        p, x2, labels = self._prepare(x, t)
        with region(self._site("gradient", p, x2), blas=True):
            gW, gb = _gradient(*p, x2, labels, self._relu, self.weight_decay_lambda)
        return _unflat(p[0], gW, p[2], gb, p[4], transposed=False)
