"""Group ``twolayer``: the book's network, 784-50-10 at batch 100, on dense, MNIST and
randomly sparse inputs, and (not with ``--quick``) at batch 1,000 and hidden 300 and 1,000:
the reference numerical gradient (on a parameter sample, extrapolated), the kernel, and both
backends' analytic gradient as the yardstick; the kernel with BLAS held at one thread;
thread scaling, on an idle machine and with one core kept busy by another process; the
kernel's peak memory at 784-1000-10, batch 1,000 (not with ``--quick``)."""

from __future__ import annotations

import functools
import subprocess
from collections.abc import Mapping
from typing import Any

from ..checks import TOL_ANALYTIC, TOL_KERNEL, max_abs_diff
from ..probes import peak_memory_probe
from ..recorder import Recorder, Row, relate
from ..settings import Settings
from ..workloads import TwoLayerCase, two_layer_case, two_layer_reference_subset
from ._scaling import busy_core_scaling, thread_scaling

#: The rows' backends.
REFERENCE = "numpy numgrad (reference)"
ANALYTIC = "numpy analytic (reference)"
KERNEL = "numba numgrad"
KERNEL_ANALYTIC = "numba analytic"
KERNEL_BLAS1 = "numba numgrad, BLAS held at 1"
#: The thread-scaling series of the kernel.
SCALING_SERIES = "TwoLayerNet kernel, 784-50-10 b100 dense"
#: Calls per thread count with one core busy.
BUSY_CALLS, BUSY_CALLS_QUICK = 300, 60


def two_layer_rows(
    rec: Recorder,
    s: Settings,
    group: str,
    case: TwoLayerCase,
    k: int,
    meta: Mapping[str, Any] | None = None,
) -> dict[str, Row]:
    """Reference numgrad (subset), numba numgrad, numpy and numba analytic on ``case``."""
    meta = dict(meta or {})
    work = case.label
    P = case.n_params
    sub = two_layer_reference_subset(case, k, s.rng(3))
    ref = rec.add(
        Row(
            group,
            work,
            REFERENCE,
            sub.estimate(),
            P,
            0.0,
            note=sub.label,
            meta={**meta, "series": "numpy numgrad"},
        )
    )
    # the analytic yardstick (the reference's backprop), the kernel and the numba
    # backprop: each checked, then timed
    ref_net = case.reference()
    net = case.net("numba")
    an = rec.add(
        Row(
            group,
            work,
            ANALYTIC,
            None,
            P,
            note="vs numgrad: O(h^2) and the 1e-7 guard",
            meta={**meta, "series": "numpy analytic"},
        )
    )
    nb = rec.add(Row(group, work, KERNEL, None, P, meta={**meta, "series": "numba numgrad"}))
    nba = rec.add(
        Row(
            group,
            work,
            KERNEL_ANALYTIC,
            None,
            P,
            note="vs numpy analytic",
            meta={**meta, "series": "numba analytic"},
        )
    )
    ga = ref_net.gradient(case.x, case.t)
    rec.check(an, sub.max_abs_diff(ga), TOL_ANALYTIC, work)
    net.numerical_gradient(case.x, case.t)  # warm
    rec.check(nb, sub.max_abs_diff(net.numerical_gradient(case.x, case.t)), TOL_KERNEL, work)
    net.gradient(case.x, case.t)
    gna = net.gradient(case.x, case.t)
    rec.check(nba, max_abs_diff(gna, ga), TOL_KERNEL, work)
    calls = [
        (an, functools.partial(ref_net.gradient, case.x, case.t)),
        (nb, functools.partial(net.numerical_gradient, case.x, case.t)),
        (nba, functools.partial(net.gradient, case.x, case.t)),
    ]
    s.time_in_turn(calls)
    relate([ref, an, nb, nba], ref, an)
    return {"ref": ref, "analytic": an, "numba": nb, "numba_analytic": nba}


#: The book's batch on three kinds of input: uniform, the MNIST sample, 80% zeros at random.
INPUTS = ("dense", "mnist", "sparse")
#: Larger workloads (dense inputs, full runs only): ``(hidden, batch)``.
LARGER = ((50, 1000), (300, 100), (1000, 100))


def cases(s: Settings) -> list[TwoLayerCase]:
    """The group's workloads: 784-H-10 networks, the book's initialisation."""
    out = [two_layer_case(784, 50, 10, 100, inputs, s.seed) for inputs in INPUTS]
    if not s.quick:
        out += [two_layer_case(784, h, 10, b, "dense", s.seed) for h, b in LARGER]
    return out


def run(rec: Recorder, s: Settings) -> None:
    for case in cases(s):
        # the larger networks cost the reference 2 forward passes of tens of ms per sampled
        # parameter: a smaller sample there
        k = s.subset if case.x.shape[0] * case.sizes[1] <= 5_000 else max(20, s.subset // 10)
        rows = two_layer_rows(rec, s, "twolayer", case, k)
        rows["ref"].note += f"; inputs: {case.description}"
        nb, an, ref = rows["numba"], rows["analytic"], rows["ref"]
        if nb.timing is not None:
            # The kernel holds BLAS at 1 thread around its own products; this row keeps it
            # there for the
            # whole measurement anyway, so that any difference from the row above is
            # OpenBLAS's idle threads (woken by the reference's NumPy calls) spinning on
            # the cores the kernel needs.
            net = case.net("numba")
            with s.blas1():
                t = s.timeit(functools.partial(net.numerical_gradient, case.x, case.t))
            held = rec.add(
                Row(
                    "twolayer",
                    case.label,
                    KERNEL_BLAS1,
                    t,
                    case.n_params,
                    nb.max_abs_diff,
                    note="BLAS limited to 1 thread around the measurement",
                    check_passed=True,
                )
            )
            relate([held], ref, an)
            rows["numba_blas1"] = held
        for r in rows.values():
            if r.timing is not None:
                rec.project(f"{case.label}: {r.backend}", r.timing)
    # thread scaling of the structure-aware kernel, thread counts interleaved: on an idle
    # machine, then with another process keeping one core busy; BLAS held at one thread for
    # the whole measurement, as in the 'BLAS held at 1' rows
    case = two_layer_case(784, 50, 10, 100, "dense", s.seed)
    net = case.net("numba")
    what = {
        "group": "twolayer",
        "work": case.label,
        "backend": KERNEL,
        "params": case.n_params,
        "call": functools.partial(net.numerical_gradient, case.x, case.t),
    }
    with s.blas1():
        thread_scaling(rec, s, **what, series=SCALING_SERIES, repeat=s.repeat)
        if s.threads >= 2:
            busy_core_scaling(rec, **what, calls=BUSY_CALLS_QUICK if s.quick else BUSY_CALLS)
    if s.quick:
        rec.note("memory probe (hidden 1,000, batch 1,000) runs without --quick")
    else:
        try:
            rec.memory = peak_memory_probe(1000, 1000)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            rec.note(f"memory probe failed: {exc}")
