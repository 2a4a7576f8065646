"""Group ``generic``: the generic ``numerical_gradient`` on functions compiled with
``numba.njit``, reference against kernel (the reference on a parameter sample where it is too
slow to run in full); thread scaling; the kernel's overhead per evaluation beyond ``f``."""

from __future__ import annotations

import contextlib
import functools

from ... import kernels, reference, threads
from ..checks import TOL_GENERIC, max_abs_diff
from ..fmt import fmt_time
from ..recorder import Recorder, Row, relate
from ..settings import H, Settings
from ..subset import reference_subset
from ..timing import measure_interleaved, timed_call
from ..workloads import GENERIC_FUNCTIONS, call_with_args, f_alone, generic_case
from ._scaling import thread_scaling

#: The rows of the overhead measurement, and their work at 1,000 parameters.
OVERHEAD_WORK = "quadratic n={:,}: overhead per evaluation"
F_ALONE = "f alone, 2n calls, serial"
KERNEL_1 = "numba, 1 thread"


def run(rec: Recorder, s: Settings) -> None:
    sizes = (10, 1_000) if s.quick else (10, 1_000, 100_000)
    functions = ("quadratic", "rosenbrock") if s.quick else GENERIC_FUNCTIONS
    for fname in functions:
        warm = True
        for n in sizes:
            f, x, args = generic_case(fname, n, s.seed)
            work = f"{fname} n={x.size:,}"
            meta = {"series": fname, "dim": "params", "value": x.size}
            # the reference: in full when cheap, else on a subset
            xr = x.copy()
            if x.size <= 1_000:
                fpy = functools.partial(call_with_args, f, args)
                fpy(xr)  # compile f outside the timed call
                call_ref = functools.partial(reference.numerical_gradient, fpy, xr, H)
                expected, t_first = timed_call(call_ref)
                ref_timing, ref_note = s.timeit(call_ref, t_first), "all params"
                diff = functools.partial(max_abs_diff, expected=expected)
            else:
                f(xr, *args)  # compile f outside the timed call
                sub = reference_subset(
                    functools.partial(call_with_args, f, args, xr), {"x": xr}, s.subset, s.rng(2)
                )
                ref_timing, ref_note, diff = sub.estimate(), sub.label, sub.max_abs_diff
            ref = rec.add(
                Row(
                    "generic",
                    work,
                    "numpy (reference)",
                    ref_timing,
                    x.size,
                    0.0,
                    note=ref_note,
                    meta={**meta, "backend": "numpy"},
                )
            )
            call = functools.partial(kernels.numerical_gradient, f, x, args, H)
            with s.blas1():
                if warm:  # compile outside the timed call
                    call()
                    warm = False
                g, t_first = timed_call(call)
                row = rec.add(
                    Row("generic", work, "numba", None, x.size, meta={**meta, "backend": "numba"})
                )
                if rec.check(row, diff(g), TOL_GENERIC, work):
                    row.timing = s.timeit(call, t_first)
                    if row.timing.n == 1:
                        row.note = "one call"
            relate([ref, row], ref)
    _threads(rec, s)
    _overhead(rec, s)


def _threads(rec: Recorder, s: Settings) -> None:
    f, x, args = generic_case("rosenbrock", 10_000, s.seed)
    with s.blas1():
        thread_scaling(
            rec,
            s,
            group="generic",
            work="rosenbrock n=10,000",
            backend="numba",
            params=x.size,
            call=functools.partial(kernels.numerical_gradient, f, x, args, H),
            series="generic kernel, rosenbrock n=10,000",
            repeat=max(5, s.repeat // 2),
        )


def per_evaluation(kernel_s: float, alone_s: float, n: int) -> float:
    """The kernel's seconds per evaluation of ``f`` beyond the evaluations themselves."""
    return (kernel_s - alone_s) / (2 * n)


def _overhead(rec: Recorder, s: Settings) -> None:
    for n in (10, 1_000):
        f, x, args = generic_case("quadratic", n, s.seed)
        work = OVERHEAD_WORK.format(n)
        xa = x.copy()
        alone_call = functools.partial(f_alone, f, xa, args, H)
        kernel_call = functools.partial(kernels.numerical_gradient, f, x, args, H)
        alone_call()  # compile
        with s.blas1():
            with threads(1):
                kernel_call()
            t_alone, t_kernel = measure_interleaved(
                [alone_call, kernel_call],
                [contextlib.nullcontext, lambda: threads(1)],
                repeat=s.repeat,
                budget=s.budget,
            )
        per_eval = per_evaluation(t_kernel.median, t_alone.median, n)
        per_eval_best = per_evaluation(t_kernel.best, t_alone.best, n)
        alone = rec.add(
            Row("generic", work, F_ALONE, t_alone, n, note="interleaved with the kernel")
        )
        k = rec.add(
            Row(
                "generic",
                work,
                KERNEL_1,
                t_kernel,
                n,
                note=f"overhead {per_eval * 1e9:.1f} ns per f evaluation (best-of: "
                f"{per_eval_best * 1e9:.1f} ns)",
            )
        )
        relate([alone, k], None)
        if n == 10:
            rec.note(
                f"generic kernel at 10 params (1 thread): {fmt_time(t_kernel.median)} per "
                f"call for 20 evaluations of f; the fixed cost of the call dominates"
            )
