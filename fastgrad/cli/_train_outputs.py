"""What ``fastgrad train`` writes and prints once a run is done.

:func:`run_record` and :func:`summary` make the ``"run"`` record of ``history.json`` (the
settings, the data, the network and the timings of this session); :func:`write_outputs`
writes ``history.json``, ``loss.png`` (the loss of every mini-batch, by iteration, like the
book's figure 4-11), ``accuracy.png`` (the train and test accuracy of every evaluation, by
epoch, like its figure 4-12) and ``params.npz``, each atomically; the plots are titled with
the run's network and optimizer (:func:`run_title`). :func:`output_plan` is the line that
says, before the run, where it writes; :func:`print_report` prints the closing lines.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .._files import write_atomically
from .._version import __version__
from ..optimizers import OPTIMIZERS
from ..training import History
from ..training._checkpoint import param_arrays
from ..training._settings import net_shape, shape_str

__all__ = [
    "OUTPUT_NAMES",
    "accuracy_figure",
    "epochs_done",
    "loss_figure",
    "output_plan",
    "print_report",
    "run_record",
    "run_title",
    "summary",
    "write_outputs",
]

#: The files :func:`write_outputs` writes into the output folder, in order.
OUTPUT_NAMES = ("history.json", "loss.png", "accuracy.png", "params.npz")


def summary(
    history: History, ran: int, wall: float, jit: float | None, threads: int | None
) -> dict[str, Any]:
    """The ``"summary"`` of ``history.json``; the timings are this session's ``ran``
    iterations (None without any); ``threads``: the count the gradient settled on where it
    adapts."""
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
        "threads_settled": threads,
    }


def run_record(
    args: argparse.Namespace,
    source: Any,
    net: Any,
    threads: int | str,
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


def _label(ax: Any, title: str, xlabel: str, ylabel: str) -> Any:
    """Label the axes, title and grid them; return their figure."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize="medium")
    ax.grid(alpha=0.3)
    return ax.figure


def run_title(run: dict[str, Any]) -> str:
    """What the plots' titles say of the run: ``MultiLayerNet 784-100-100-10, Adam lr
    0.001``, from :func:`run_record`'s record."""
    optimizer = OPTIMIZERS[run["optimizer"]].__name__
    return f"{run['architecture']['class']} {run['network']}, {optimizer} lr {run['lr']:g}"


def loss_figure(history: History, run: dict[str, Any]) -> Any:
    """The loss of each iteration's mini-batch against the iteration (0-based, as
    :attr:`History.loss` is indexed) and, in runs of 100 iterations or more, its running
    mean: the book's figure 4-11 for this run. A matplotlib ``Figure``."""
    ax = _axes()
    loss = np.asarray(history.loss)
    ax.plot(np.arange(loss.size), loss, lw=0.6, label="mini-batch loss")
    if loss.size >= 100:
        window = max(loss.size // 100, 10)
        smooth = np.convolve(loss, np.ones(window) / window, mode="valid")
        ax.plot(np.arange(window - 1, loss.size), smooth, lw=1.5, label=f"mean of {window}")
        ax.legend(loc="upper right")
    return _label(ax, f"Training loss: {run_title(run)}", "iteration", "loss")


def epochs_done(epoch_iters: list[int], batch_size: int, n_train: int) -> np.ndarray:
    """The epochs done at each evaluation: images drawn over training images, ``(i + 1) *
    batch_size / n_train`` after the 0-based iteration ``i`` (the book's epoch of
    ``train_size / batch_size`` iterations, not rounded to whole iterations)."""
    return (np.asarray(epoch_iters, dtype=float) + 1.0) * batch_size / n_train


def accuracy_figure(history: History, run: dict[str, Any], n_train: int) -> Any:
    """The train and test accuracy of each evaluation against the epochs done then
    (:func:`epochs_done`, of ``n_train`` training images): the book's figure 4-12 for this
    run. A matplotlib ``Figure``."""
    ax = _axes()
    batch = run["batch_size"]
    epochs = epochs_done(history.epoch_iters, batch, n_train)
    ax.plot(epochs, history.train_acc, marker="o", ms=2, label="train acc")
    ax.plot(epochs, history.test_acc, marker="s", ms=2, ls="--", label="test acc")
    ax.set_ylim(0, 1.0)
    ax.legend(loc="lower right")
    xlabel = f"epochs (iterations × batch {batch} / {n_train:,} training images)"
    return _label(ax, f"Accuracy: {run_title(run)}", xlabel, "accuracy")


def _save_png(figure: Any, path: Path) -> None:
    """Write ``figure`` as a PNG whose ``Title`` text field is the plot's title."""
    meta = {"Title": figure.axes[0].get_title()}
    write_atomically(path, lambda f: figure.savefig(f, format="png", dpi=100, metadata=meta))


def write_outputs(
    out: Path,
    history: History,
    run: dict[str, Any],
    params: dict[str, np.ndarray],
    n_train: int,
) -> list[Path]:
    """Write :data:`OUTPUT_NAMES` to ``out``: ``history.json``, ``loss.png``
    (:func:`loss_figure`), ``accuracy.png`` (:func:`accuracy_figure`, epochs of ``n_train``
    training images) and ``params.npz``, each atomically; return their paths. An
    ``OSError`` propagates."""
    paths = [out / name for name in OUTPUT_NAMES]
    doc = {"run": run, "history": history.to_dict()}
    text = json.dumps(doc, indent=1).encode("utf-8")
    arrays = param_arrays(params)
    write_atomically(paths[0], lambda f: f.write(text))
    _save_png(loss_figure(history, run), paths[1])
    _save_png(accuracy_figure(history, run, n_train), paths[2])
    write_atomically(paths[3], lambda f: np.savez(f, **arrays))
    return paths


def _absolute(path: Path) -> Path:
    """``path`` made absolute and normalised (symbolic links kept as named)."""
    return Path(os.path.abspath(path))


def _checkpoint_words(out: Path, checkpoint: Path | None) -> tuple[str | None, str]:
    """The checkpoint's name when it is in the folder ``out``; else None and the words
    that name it elsewhere (none without a checkpoint)."""
    if checkpoint is None:
        return None, ""
    if _absolute(checkpoint).parent == _absolute(out):
        return checkpoint.name, ""
    return None, f"; the checkpoint to {_absolute(checkpoint)}"


def output_plan(out: Path, checkpoint: Path | None, default: bool) -> str:
    """The line that says, before the run, where it writes: the absolute output folder, the
    files of :data:`OUTPUT_NAMES`, and the checkpoint if there is one (``default``: ``out``
    is ``--out``'s default, which the line then says)."""
    name, elsewhere = _checkpoint_words(out, checkpoint)
    line = f"output: writing to {_absolute(out)}: {', '.join(OUTPUT_NAMES)} at the end"
    line += f", {name} during the run" if name else elsewhere
    if default:
        line += " (the default --out; --out DIR writes elsewhere)"
    return line


def print_report(
    run: dict[str, Any], n_test: int, out: Path, paths: list[Path], checkpoint: Path | None
) -> None:
    """The closing lines on stdout, from the record written to ``history.json``; the last
    names the absolute output folder and the files written there (``paths``), and the
    checkpoint."""
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
            + (
                ""
                if summary["threads_settled"] is None
                else f"; threads settled on {summary['threads_settled']}"
            )
        )
    else:
        print(f"time: no iterations to run ({summary['iterations']:,} already done)")
    name, elsewhere = _checkpoint_words(out, checkpoint)
    names = [path.name for path in paths] + ([name] if name else [])
    print(f"wrote to {_absolute(out)}: {', '.join(names)}{elsewhere}")
