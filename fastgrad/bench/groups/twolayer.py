"""Group ``twolayer``: the book's network, 784-50-10 at batch 100, on dense, MNIST and
randomly sparse inputs, and (not with ``--quick``) at batch 1,000 and hidden 300 and 1,000:
the reference numerical gradient (timed on a sample of parameters and extrapolated), the
numba numerical gradient, and both backends' analytic gradient, the yardstick (the numba
rows with BLAS held to one thread, as a training loop on that backend runs them), timed in
alternate blocks of calls; then the kernel's thread scaling. :func:`network_rows` serves the
``multilayer`` group too."""

from __future__ import annotations

import contextlib
import functools

from threadpoolctl import threadpool_limits

from ..checks import TOL_ANALYTIC, TOL_KERNEL, max_abs_diff
from ..recorder import Recorder, Row, relate
from ..settings import Settings
from ..timing import measure_blocks
from ..workloads import NetCase, two_layer_case
from ._scaling import thread_scaling

REFERENCE, ANALYTIC = "numpy numgrad (reference)", "numpy analytic (reference)"
KERNEL, KERNEL_ANALYTIC = "numba numgrad", "numba analytic"
#: (hidden, batch, inputs): the book's batch on three kinds of input, then larger workloads.
SIZES = ((50, 100, "dense"), (50, 100, "mnist"), (50, 100, "sparse"), (50, 1000, "dense"),
         (300, 100, "dense"), (1000, 100, "dense"))  # fmt: skip


def network_rows(
    rec: Recorder, s: Settings, group: str, case: NetCase, k: int, salt: int = 3
) -> list[Row]:
    """The reference numerical gradient on ``k`` parameters drawn by ``s.rng(salt)``; the
    numba numerical gradient and the reference backprop (O(h^2) and the book's 1e-7 guard
    off) checked on them, the numba backprop against the reference's; those that pass, timed
    in alternate blocks of calls (every call a sample). A ReLU kink within ``h`` of a drawn
    parameter fails the backprop's check."""
    x, t, sub = case.x, case.t, case.reference_subset(k, s.rng(salt))
    ref_net, net = case.reference(), case.net("numba")
    rows = [rec.add(Row(group, case.label, b, params=case.n_params, meta={"series": b}))
            for b in (REFERENCE, ANALYTIC, KERNEL, KERNEL_ANALYTIC)]  # fmt: skip
    rows[0].timing, rows[0].max_abs_diff, rows[0].note = sub.estimate(), 0.0, sub.label
    g_an = ref_net.gradient(x, t)
    g_nb = net.numerical_gradient(x, t)  # the first call compiles (or loads the cache)
    checks = (
        (ref_net.gradient, sub.max_abs_diff(g_an), TOL_ANALYTIC),
        (net.numerical_gradient, sub.max_abs_diff(g_nb), TOL_KERNEL),
        (net.gradient, max_abs_diff(net.gradient(x, t), g_an), TOL_KERNEL),
    )
    timed = [(row, fn) for row, (fn, diff, tol) in zip(rows[1:], checks, strict=True)
             if rec.check(row, diff, tol)]  # fmt: skip
    # the sides in alternate blocks of calls, so that a change in the machine's speed (shared
    # machines drift by 2x within minutes) hits their ratio alike
    timings = measure_blocks(
        [functools.partial(fn, x, t) for _, fn in timed],
        [_held if row.backend.startswith("numba") else contextlib.nullcontext for row, _ in timed],
        rounds=max(3, s.repeat // 2),
        block=s.budget / 10,
    )
    for (row, _), timing in zip(timed, timings, strict=True):
        row.timing = timing
    relate(rows, rows[0], rows[1])
    return rows


def _held() -> contextlib.AbstractContextManager:
    """BLAS at one thread, as a training loop on the numba backend runs: BLAS threads woken
    by NumPy would compete with Numba's."""
    return threadpool_limits(1, "blas")


def run(rec: Recorder, s: Settings) -> None:
    for hidden, batch, inputs in SIZES[: 3 if s.quick else None]:
        case = two_layer_case(784, hidden, 10, batch, inputs, s.seed)
        # the larger networks cost tens of ms per sampled parameter: a smaller sample there
        k = s.subset if hidden * batch <= 5_000 else max(20, s.subset // 10)
        network_rows(rec, s, "twolayer", case, k)[0].note += f"; inputs: {case.description}"
    case = two_layer_case(784, 50, 10, 100, "dense", s.seed)
    call = functools.partial(case.net("numba").numerical_gradient, case.x, case.t)
    row = Row("twolayer", case.label, KERNEL, params=case.n_params)
    with threadpool_limits(1, "blas"):
        thread_scaling(rec, s, row, call, f"TwoLayerNet kernel, {case.label}")
