"""The plot of a run: time against parameter count per backend (log-log), for the TwoLayerNet
(the hidden-size sweep, else the twolayer rows) and the generic kernel, and thread scaling
(the networks' and the generic kernel's; the toolkit's six methods, one series each, are in
the report and the READMEs instead)."""

from __future__ import annotations

import os
from pathlib import Path

from .._files import write_atomically
from .runner import Result

__all__ = ["plot"]


def plot(result: Result, path: str | os.PathLike[str]) -> None:
    """Time vs parameter count per backend (log-log) and thread scaling, as a PNG (or the
    format that ``path``'s suffix names), written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rec = result.rec
    fig, axes = plt.subplots(1, 3, figsize=(13, 4), dpi=72)

    # left: the hidden-size sweep (parameters grow with the hidden size), else the twolayer rows
    def label(name: str, extrapolated: bool) -> str:
        return name + (" (extrapolated)" if extrapolated else "")

    left: dict[str, list[tuple[int, float]]] = {}
    for p in rec.sweep_points:
        if p["dim"] == "hidden":
            left.setdefault(label(p["backend"], p["extrapolated"]), []).append(
                (p["params"], p["median_s"])
            )
    left_title = "TwoLayerNet 784-H-10, batch 100, H swept"
    if not left:
        left_title = "TwoLayerNet 784-50-10, batch 100"
        for r in rec.rows:
            if r.group == "twolayer" and r.timing is not None and "series" in r.meta:
                left.setdefault(label(r.meta["series"], r.timing.extrapolated), []).append(
                    (r.params, r.timing.median)
                )
    generic: dict[str, list[tuple[int, float]]] = {}
    for r in rec.rows:
        if r.group == "generic" and r.timing is not None and "series" in r.meta:
            name = f"{r.meta['series']} ({r.meta['backend']})"
            if r.meta["backend"] == "numpy":
                name += ", large n extrapolated"
            generic.setdefault(name, []).append((r.params, r.timing.median))
    for ax, series, title in (
        (axes[0], left, left_title),
        (axes[1], generic, "generic numerical_gradient (njit f)"),
    ):
        for name, pts in sorted(series.items()):
            pts = sorted(set(pts))
            ls = "--" if "numpy" in name else "-"
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o", ls=ls, ms=3, label=name)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("parameters")
        ax.set_ylabel("seconds per gradient")
        ax.set_title(title, fontsize=10)
        if series:
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, "not run", ha="center", transform=ax.transAxes)
        ax.grid(True, which="major", alpha=0.3)
    ax = axes[2]
    works: dict[str, list[tuple[int, float]]] = {}
    for p in rec.scaling:
        if not p["work"].startswith("toolkit"):
            works.setdefault(p["work"], []).append((p["threads"], p["speedup"]))
    for work, pts in works.items():
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=work)
    n = max([result.settings.threads, 1])
    ax.plot([1, n], [1, n], "k--", lw=0.8, label="ideal")
    ax.set_xlabel("threads")
    ax.set_ylabel("speedup (median)")
    ax.set_title("thread scaling", fontsize=10)
    ax.set_xticks(range(1, n + 1))
    ax.legend(fontsize=7)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fmt = Path(path).suffix.lstrip(".").lower() or "png"
    try:
        write_atomically(
            path, lambda fh: fig.savefig(fh, format=fmt, pil_kwargs={"optimize": True})
        )
    finally:
        plt.close(fig)
