"""The report of a run: the text that ``fastgrad bench`` prints, at most :data:`WIDTH` columns
wide, and the JSON document that ``--json`` writes.

>>> fmt_time(1.6213e-5), fmt_time(7300.0), fmt_ratio(11179.4), fmt_ratio(4.183)
('16.2 us', '2.0 h', '11,179x', '4.18x')
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
import textwrap
from pathlib import Path
from typing import Any

from .recorder import Row
from .runner import Result

__all__ = ["WIDTH", "fmt_time", "fmt_ratio", "text", "document", "write_json"]

WIDTH = 120
COLUMNS = {"median": 10, "+-IQR/2": 7, "best": 9, "ref/t": 10, "t/analytic": 10, "max|diff|": 9}
LEGEND = (
    "median: per call (* extrapolated from a sample of parameters: the median time per "
    "parameter x the parameters). +-IQR/2: half the interquartile range, relative to the "
    "median. best: the fastest sample. ref/t: the reference's time / this time. t/analytic: "
    "this best / the best of the reference's analytic gradient, in alternate blocks with it. "
    "max|diff|: from the reference, checked before timing (a row that fails its check is not "
    "timed); toolkit: relative to max(1, |g|), fastgrad (numba) from fastgrad (numpy), "
    "vectorized=True from the loop, the others from the analytic derivative."
)


def fmt_time(s: float | None) -> str:
    """A duration in ns, us, ms, s (below two minutes), min, h or days."""
    if s is None or not math.isfinite(s):
        return "-"
    if s < 1e-6:
        return f"{s * 1e9:.0f} ns"
    if s < 1e-3:
        return f"{s * 1e6:.1f} us"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    if s < 120:
        return f"{s:.2f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h" if s < 3 * 86400 else f"{s / 86400:.1f} days"


def fmt_ratio(r: float | None) -> str:
    if r is None or not math.isfinite(r):
        return "-"
    if r >= 100:
        return f"{r:,.0f}x"
    return f"{r:.1f}x" if r >= 10 else f"{r:.2f}x" if r >= 0.1 else f"{r:.2g}x"


def _line(r: Row, width: int) -> str:
    """The row's line: backend, figures, and its note beside them or below when it is long."""
    t, d = r.timing, r.max_abs_diff
    several = t is not None and t.n > 1
    cells = (
        fmt_time(t.median) + "*" * t.extrapolated if t is not None else "-",
        f"{100 * t.spread:.0f}%" if several else "-",
        fmt_time(t.best) if several else "-",
        fmt_ratio(r.speedup_vs_reference),
        fmt_ratio(r.ratio_to_analytic),
        "-" if d is None else "0" if d == 0 else f"{d:.1e}",
    )
    figures = "".join(f" {c:>{w}}" for c, w in zip(cells, COLUMNS.values(), strict=True))
    line = f"    {r.backend:<{width}}{figures}"
    if r.note and len(line) + 2 + len(r.note) > WIDTH:
        return line + "\n" + textwrap.fill(r.note, WIDTH, initial_indent=" " * 6)
    return line + ("  " + r.note if r.note else "")


def tables(rows: list[Row]) -> list[str]:
    """Per group a header line, per piece of work (in the order they first appear) a line,
    then its rows."""
    width = min(44, max([len(r.backend) for r in rows] + [7]))
    head = "".join(f" {h:>{w}}" for h, w in COLUMNS.items())
    blocks: dict[tuple[str, str], list[Row]] = {}
    for r in rows:
        blocks.setdefault((r.group, r.work), []).append(r)
    out, group = [], None
    for (g, work), block in blocks.items():
        if g != group:
            out += ["", g.ljust(width + 4) + head]
            group = g
        params = block[0].params
        out.append(f"  {work}" + (f", {params:,} params" if params else ""))
        out += [_line(r, width) for r in block]
    return out


def _sections(result: Result) -> list[str]:
    """Thread scaling, notes, skips, failures, the machine."""
    rec, m = result.rec, result.machine
    out = []
    if rec.scaling:
        out += ["", "Thread scaling (speedup = T(1) / T(n) on medians; best-of in brackets):"]
    for p in rec.scaling:
        out.append(
            f"  {p['work']}: {p['threads']} thread(s) {fmt_time(p['median_s'])}, "
            f"{p['speedup']:.2f}x [{p['speedup_best']:.2f}x]"
        )
    if rec.notes or rec.skipped:
        out += [""] + [f"note: {n}" for n in rec.notes] + rec.skipped
    if rec.failures:
        out += ["", "FAILED CHECKS (not timed):"] + [f"  {f}" for f in rec.failures]
    load = " ".join(f"{v:.2f}" for v in m["load_average"] or [])
    return out + [
        "",
        f"{m['cpu_model']}, {m['cores']} cores; numba {m['numba']} "
        f"({m['numba_threading_layer']}, {m['kernel_threads']} threads), numpy {m['numpy']}, "
        f"BLAS threads {m['blas_threads']}; load average {load or 'n/a'}; "
        f"total wall time {result.wall:.1f} s",
    ]


def text(result: Result) -> str:
    """The tables, every other figure, the legend; lines longer than :data:`WIDTH` wrapped."""
    lines = "\n".join(tables(result.rec.rows) + _sections(result) + ["", LEGEND]).split("\n")
    wrapped = [
        textwrap.fill(s, WIDTH, subsequent_indent="    ") if len(s) > WIDTH else s for s in lines
    ]
    return "\n".join(wrapped).strip("\n")


def document(result: Result, command: str) -> dict[str, Any]:
    """The run as the JSON document that ``--json`` writes; ``command`` is its command line."""
    rec = result.rec
    return {
        "fastgrad_bench": 2,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "quick": result.settings.quick,
        "groups": result.groups,
        "wall_s": result.wall,
        "machine": result.machine,
        "rows": [dataclasses.asdict(r) for r in rec.rows],
        "thread_scaling": rec.scaling,
        "notes": rec.notes,
        "skipped": rec.skipped,
        "failures": rec.failures,
    }


def write_json(result: Result, path: str | os.PathLike[str], command: str) -> None:
    Path(path).write_text(json.dumps(document(result, command), indent=1), encoding="utf-8")
