"""The report of a run: the text table and sections that ``fastgrad bench`` prints, and the
JSON document it writes (the published figures are rendered from that document)."""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Sequence
from typing import Any

from .._files import write_atomically
from .fmt import fmt_diff, fmt_duration, fmt_load, fmt_ratio, fmt_time
from .recorder import Row
from .runner import Result

__all__ = [
    "LEGEND",
    "format_table",
    "accuracy_lines",
    "agreement_lines",
    "text",
    "document",
    "write_json",
]

LEGEND = (
    "median: per call; * extrapolated from a parameter subset (median per-parameter time x "
    "parameter count).\n+-IQR/2: half the interquartile range relative to the median. best: "
    "the fastest sample. "
    "ref/t: reference time / this time (x faster\nthan the reference). t/analytic: this time / "
    "the reference (NumPy) analytic gradient. max|diff|: against the\nreference, checked "
    "before timing (toolkit: relative to max(1, |g|), against the analytic gradient or\n"
    "Hessian; the numba gradients and vectorized=True against the numpy row of their work)."
)


def format_table(rows: Sequence[Row]) -> str:
    head = [
        "group",
        "work",
        "backend",
        "params",
        "median",
        "+-IQR/2",
        "best",
        "ref/t",
        "t/analytic",
        "max|diff|",
        "note",
    ]
    body = []
    for r in rows:
        t = r.timing
        med = fmt_time(t.median) + ("*" if t is not None and t.extrapolated else "") if t else "-"
        spread = f"{100 * t.spread:.0f}%" if t is not None and t.n > 1 else "-"
        best = fmt_time(t.best) if t is not None and t.n > 1 else "-"
        body.append(
            [
                r.group,
                r.work,
                r.backend,
                f"{r.params:,}" if r.params else "",
                med,
                spread,
                best,
                fmt_ratio(r.speedup_vs_reference),
                fmt_ratio(r.ratio_to_analytic),
                fmt_diff(r.max_abs_diff),
                r.note,
            ]
        )
    widths = [
        max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)
    ]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for b in body:
        lines.append("  ".join(c.ljust(w) for c, w in zip(b, widths, strict=True)).rstrip())
    return "\n".join(lines)


def accuracy_lines(accuracy: Sequence[dict[str, Any]]) -> list[str]:
    """The toolkit's accuracy section: relative error per method over the test-function
    suite, and how often the error estimate bounds the actual error."""
    if not accuracy:
        return []
    a0 = accuracy[0]
    out = [
        f"Accuracy with h='auto' on {a0['suite']} ({a0['elements']:,} gradient elements; "
        f"{a0['zero_elements']} with a derivative of 0 to double precision left out of the "
        "relative errors):",
        f"  {'method':<11} {'median':>8} {'MGH':>8} {'hard':>8} {'90%':>8} {'max':>8}  "
        "error estimate >= actual error",
    ]
    for a in accuracy:
        out.append(
            f"  {a['method']:<11} {a['median_rel_error']:>8.1e} {a['median_rel_error_mgh']:>8.1e}"
            f" {a['median_rel_error_hard']:>8.1e} {a['p90_rel_error']:>8.1e} "
            f"{a['max_rel_error']:>8.1e}  {100 * a['estimate_covers']:.1f}% ({a['estimate']})"
        )
    out.append(
        "  relative error |g - g*| / |g*| per element, g* the analytic gradient in long double;"
        " MGH: the More-Garbow-Hillstrom functions, hard: the exp/log/sin hard points"
    )
    return out


def agreement_lines(agreement: Sequence[dict[str, Any]]) -> list[str]:
    """The toolkit against SciPy's ``approx_derivative`` where the definitions coincide."""
    out = [
        "Against SciPy approx_derivative where the definitions coincide (dyadic points, a "
        "power-of-two abs_step):"
    ]
    for a in agreement:
        out.append(
            f"  {a['method']:<8} vs {a['scipy_method']:<8} {a['elements']:,} elements, max "
            f"|diff| / max(1, |g|) {fmt_diff(a['max_rel_diff'])}"
        )
    return out


def text(result: Result) -> str:
    """What ``fastgrad bench`` prints: the table, then every other figure of the run."""
    rec, machine, wall = result.rec, result.machine, result.wall
    out = [format_table(rec.rows), "", LEGEND]
    if rec.scaling:
        out += [
            "",
            "Thread scaling (speedup = T(1) / T(n) on medians; efficiency = speedup / n;"
            " best-of in brackets):",
        ]
        for p in rec.scaling:
            out.append(
                f"  {p['work']}: {p['threads']} thread(s) {fmt_time(p['median_s'])}, "
                f"speedup {p['speedup']:.2f}x, efficiency {100 * p['efficiency']:.0f}% "
                f"[{p['speedup_best']:.2f}x]"
            )
    if rec.exponents:
        out += [
            "",
            "Empirical exponents (log-log least-squares slope of time vs the swept "
            "size, others fixed at 784-50-10 b100):",
        ]
        for e in rec.exponents:
            out.append(
                f"  {e['dim']:<7} {e['backend']:<28} {e['exponent']:+.2f}  ({e['points']} points)"
            )
    if rec.projections:
        out += [
            "",
            "Projected 10,000-iteration loop (the book's chapter 4; time per gradient or "
            "iteration x 10,000; * extrapolated):",
        ]
        for p in rec.projections:
            star = "*" if p["extrapolated"] else ""
            out.append(f"  {p['what']:<70} {fmt_duration(p['loop_s'])}{star}")
    if rec.compile:
        out += [
            "",
            "JIT compilation, in fresh processes (first call includes compiling or "
            "loading the cache):",
        ]
        for c in rec.compile:
            second = f", then {fmt_time(c['second_s'])}" if c["second_s"] is not None else ""
            out.append(f"  {c['run']:<30} {c['task']:<10} first {fmt_time(c['first_s'])}{second}")
    if rec.first_gradient:
        out += [
            "",
            "First TwoLayerNet 784-50-10 numerical gradient in a fresh process, from "
            "before `import fastgrad` to the gradient:",
        ]
        for fg in rec.first_gradient.values():
            out.append(
                f"  {fg['run']:<30} {fmt_time(fg['total_s'])} (import "
                f"{fmt_time(fg['import_s'])}, first call {fmt_time(fg['first_call_s'])}"
                f"; then loss and accuracy {fmt_time(fg['loss_accuracy_s'])}; whole "
                f"process {fmt_time(fg['process_s'])})"
            )
    if rec.training_job:
        job = rec.training_job
        out += [
            "",
            f"Default training job (`{job['command']}`, a fresh process): "
            f"{job['wall_time_s']:.1f} s of training ({job['iterations']:,} iterations), "
            f"final test accuracy {job['test_acc']:.3f}; whole process {job['process_s']:.1f} s",
        ]
    if rec.memory:
        m = rec.memory
        bound = "" if m["exact"] else " (upper bound: the call did not raise the peak)"
        out += [
            "",
            f"Peak extra memory of the TwoLayerNet kernel, 784-{m['hidden']}-10 batch "
            f"{m['batch']}: {m['extra_mib']:.1f} MiB{bound}, of which {m['result_mib']:.1f}"
            f" MiB is the returned gradient\n  method: {m['method']}",
        ]
    if rec.accuracy:
        out += ["", *accuracy_lines(rec.accuracy)]
    if rec.agreement:
        out += ["", *agreement_lines(rec.agreement)]
    if rec.targets:
        out += ["", "Targets (reported, not asserted):"]
        for s in rec.targets:
            met = {True: "met", False: "MISSED", None: "-"}[s["met"]]
            out.append(f"  {s['target']}: {s['shown']} (goal {s['goal']}): {met}")
    for n in rec.notes:
        out.append(f"note: {n}")
    out += rec.skipped
    if rec.failures:
        out += ["", "FAILED CHECKS:"] + [f"  {f}" for f in rec.failures]
    out += [
        "",
        f"{machine['cpu_model']}, {machine['cores']} cores, numba {machine['numba']} "
        f"({machine['numba_threading_layer']}, {machine['kernel_threads']} kernel threads), "
        f"numpy {machine['numpy']}, BLAS threads {machine['blas_threads']} (held to 1 "
        f"only around the functions and generic kernel calls and in the 'BLAS held at 1' "
        f"rows); load average {fmt_load(machine['load_average'])}; total wall time "
        f"{wall:.1f} s",
    ]
    return "\n".join(out)


def document(result: Result, command: str) -> dict[str, Any]:
    """The run as the JSON document that ``fastgrad bench --json`` writes; ``command`` is
    the command line that ran it."""
    rec = result.rec
    return {
        "fastgrad_bench": 1,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "quick": result.settings.quick,
        "groups": result.groups,
        "wall_s": result.wall,
        "machine": result.machine,
        "rows": [r.as_json() for r in rec.rows],
        "thread_scaling": rec.scaling,
        "exponents": rec.exponents,
        "sweep": rec.sweep_points,
        "projections": rec.projections,
        "compile": rec.compile,
        "first_gradient": rec.first_gradient,
        "training_job": rec.training_job,
        "suite_compile": rec.suite_compile,
        "memory": rec.memory,
        "accuracy": rec.accuracy,
        "scipy_agreement": rec.agreement,
        "targets": rec.targets,
        "notes": rec.notes,
        "skipped": rec.skipped,
        "failures": rec.failures,
    }


def write_json(result: Result, path: str | os.PathLike[str], command: str) -> None:
    """Write :func:`document` to ``path``, atomically."""
    data = json.dumps(document(result, command), indent=1).encode()
    write_atomically(path, lambda fh: fh.write(data))
