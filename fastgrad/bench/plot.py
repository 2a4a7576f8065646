"""The plot of a run: time per gradient against parameter count (log-log), one series per
group and backend (the networks, the generic gradient per function), and thread scaling."""

from __future__ import annotations

import os

from .runner import Result

__all__ = ["plot"]


def _series(result: Result) -> dict[str, list[tuple[int, float]]]:
    """``{label: [(parameters, seconds), ...]}`` of the rows that name a series."""
    out: dict[str, list[tuple[int, float]]] = {}
    for r in result.rec.rows:
        if r.timing is not None and r.params and "series" in r.meta:
            out.setdefault(f"{r.group}: {r.meta['series']}", []).append((r.params, r.timing.median))
    return out


def plot(result: Result, path: str | os.PathLike[str]) -> None:
    """Write the figure to ``path``, in the format its suffix names (PNG by default)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), dpi=72)
    for label, pts in sorted(_series(result).items()):
        xs, ys = zip(*sorted(pts), strict=True)
        left.plot(xs, ys, "o", ls="--" if "numpy" in label else "-", ms=3, label=label)
    left.set(xscale="log", yscale="log", xlabel="parameters", ylabel="seconds per gradient")
    left.set_title("time per gradient", fontsize=10)
    works: dict[str, list[tuple[int, float]]] = {}
    for p in result.rec.scaling:
        works.setdefault(p["work"], []).append((p["threads"], p["speedup"]))
    for work, pts in works.items():
        right.plot(*zip(*pts, strict=True), "o-", label=work)
    n = max(1, result.settings.threads)
    right.plot([1, n], [1, n], "k--", lw=0.8, label="ideal")
    right.set(xlabel="threads", ylabel="speedup (median)", xticks=range(1, n + 1))
    right.set_title("thread scaling", fontsize=10)
    for ax in (left, right):
        if ax.lines:
            ax.legend(fontsize=7)
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    try:
        fig.savefig(path)
    finally:
        plt.close(fig)
