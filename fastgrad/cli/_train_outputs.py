"""What ``fastgrad train`` writes and prints once a run is done.

:func:`run_record` and :func:`summary` make the ``"run"`` record of ``history.json`` (the
settings, the data, the network and the timings of this session); :func:`write_outputs`
writes ``history.json``, the book's figures 4-11 (``loss.png``) and 4-12 (``accuracy.png``)
and ``params.npz``, each atomically; :func:`print_report` prints the closing lines.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from .._files import write_atomically
from .._version import __version__
from ..training import History
from ..training._checkpoint import param_arrays
from ..training._settings import net_shape, shape_str

__all__ = ["print_report", "run_record", "summary", "write_outputs"]


def summary(history: History, ran: int, wall: float, jit: float | None) -> dict[str, Any]:
    """The ``"summary"`` of ``history.json``; the timings are this session's ``ran``
    iterations (None without any)."""
    session = slice(history.iterations - ran, None)
    return {
        "iterations": history.iterations,
        "iterations_this_session": ran,
        "final_train_acc": history.train_acc[-1] if history.train_acc else None,
        "final_test_acc": history.test_acc[-1] if history.test_acc else None,
        "wall_time_s": wall,
        "iterations_per_s": ran / wall if wall > 0 and ran else None,
        "mean_iteration_s": float(np.mean(history.iter_time[session])) if ran else None,
        "mean_gradient_s": float(np.mean(history.grad_time[session])) if ran else None,
        "first_gradient_call_s": jit,
    }


def run_record(
    args: argparse.Namespace,
    source: Any,
    net: Any,
    threads: int,
    eval_every: int,
    checkpoint: Path | None,
) -> dict[str, Any]:
    """The ``"run"`` of ``history.json``: the settings, the data and the network (the caller
    adds the ``"summary"``)."""
    return {
        "fastgrad": __version__,
        "data": str(source),
        "data_kind": source.kind,
        "network": shape_str(net_shape(net)),
        "architecture": {
            "class": type(net).__name__,
            "hidden": args.hidden_sizes,
            "activation": getattr(net, "activation", "sigmoid"),
            "weight_init": net.weight_init_std,
            "weight_decay": getattr(net, "weight_decay_lambda", 0.0),
        },
        "backend": args.backend,
        "grad": args.grad,
        "threads": threads,
        "iters": args.iters,
        "batch_size": args.batch_size,
        "optimizer": args.optimizer,
        "lr": args.optimizer_object.lr,
        "seed": args.seed,
        "eval_every": eval_every,
        "checkpoint": str(checkpoint) if checkpoint else None,
    }


def _axes() -> Any:
    """The axes of a new figure, the size of both plots."""
    from matplotlib.figure import Figure

    return Figure(figsize=(6.4, 4.0), layout="constrained").add_subplot()


def _save_plot(ax: Any, path: Path, title: str, xlabel: str, ylabel: str) -> None:
    """Label the axes, title and grid them, and write their figure to ``path`` as a PNG."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    write_atomically(path, lambda f: ax.figure.savefig(f, format="png", dpi=100))


def _plot_loss(history: History, path: Path) -> None:
    ax = _axes()
    loss = np.asarray(history.loss)
    ax.plot(np.arange(loss.size), loss, lw=0.6, label="mini-batch loss")
    if loss.size >= 100:
        window = max(loss.size // 100, 10)
        smooth = np.convolve(loss, np.ones(window) / window, mode="valid")
        ax.plot(np.arange(window - 1, loss.size), smooth, lw=1.5, label=f"mean of {window}")
        ax.legend(loc="upper right")
    _save_plot(ax, path, "Training loss (book figure 4-11)", "iteration", "loss")


def _plot_accuracy(history: History, iters_per_epoch: int, path: Path) -> None:
    ax = _axes()
    epochs = np.asarray(history.epoch_iters, dtype=float) / iters_per_epoch
    ax.plot(epochs, history.train_acc, marker="o", ms=2, label="train acc")
    ax.plot(epochs, history.test_acc, marker="s", ms=2, ls="--", label="test acc")
    ax.set_ylim(0, 1.0)
    ax.legend(loc="lower right")
    _save_plot(ax, path, "Accuracy (book figure 4-12)", "epochs", "accuracy")


def write_outputs(
    out: Path,
    history: History,
    run: dict[str, Any],
    params: dict[str, np.ndarray],
    iters_per_epoch: int,
) -> list[Path]:
    """Write ``history.json``, ``loss.png``, ``accuracy.png`` and ``params.npz`` to ``out``,
    each atomically; return their paths. An ``OSError`` propagates."""
    paths = [out / "history.json", out / "loss.png", out / "accuracy.png", out / "params.npz"]
    doc = {"run": run, "history": history.to_dict()}
    text = json.dumps(doc, indent=1).encode("utf-8")
    arrays = param_arrays(params)
    write_atomically(paths[0], lambda f: f.write(text))
    _plot_loss(history, paths[1])
    _plot_accuracy(history, iters_per_epoch, paths[2])
    write_atomically(paths[3], lambda f: np.savez(f, **arrays))
    return paths


def print_report(run: dict[str, Any], n_test: int, paths: list[Path]) -> None:
    """The closing lines on stdout, from the record written to ``history.json``."""
    summary = run["summary"]
    if summary["final_train_acc"] is not None:
        print(
            f"final accuracy: train {summary['final_train_acc']:.4f}, "
            f"test {summary['final_test_acc']:.4f} ({run['data_kind']} data, "
            f"{n_test:,} test images)"
        )
    ran, jit = summary["iterations_this_session"], summary["first_gradient_call_s"]
    if ran:
        print(
            f"time: {ran:,} iterations in {summary['wall_time_s']:.1f} s wall "
            f"({summary['iterations_per_s']:.1f} it/s, evaluations included); "
            f"{summary['mean_iteration_s'] * 1e3:.2f} ms per iteration, "
            f"{summary['mean_gradient_s'] * 1e3:.2f} ms per {run['grad']} gradient"
            + ("" if jit is None else f"; first call (JIT) {jit:.2f} s, not included")
        )
    else:
        print(f"time: no iterations to run ({summary['iterations']:,} already done)")
    print(f"wrote: {', '.join(str(p) for p in paths)}")
