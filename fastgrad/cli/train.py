"""``fastgrad train``: the book's chapter-4 training run on MNIST, from the command line.

By default it trains the book's 784-50-10 ``TwoLayerNet`` (sigmoid, weights of std 0.01) with
numerical gradients on the numba backend for 10,000 iterations (batch 100, lr 0.1), on the
full MNIST when it is on disk, else on the offline sample, and says which. ``--hidden 100,100``,
``--activation``, ``--weight-init`` or ``--weight-decay`` make it the chapter-6
``MultiLayerNet`` (:func:`_is_multilayer`); ``--optimizer`` picks another of the book's
updates. It reports the JIT compile time apart from the training time and writes, each file
atomically, to ``--out`` (default ``./fastgrad-out``, whose absolute path it prints before the
run, unless ``--quiet``, and with the files written, at the end): ``history.json`` (the run's
settings and summary, and the :class:`~fastgrad.training.History`), ``loss.png`` (the loss by
iteration) and ``accuracy.png`` (the accuracies by epoch), titled with the network and the
optimizer, and ``params.npz``. It checkpoints into ``--out`` too (``checkpoint.npz``, or
``--checkpoint PATH``; none with ``--no-checkpoint``), and ``--resume`` continues the same
run, bit for bit, or refuses, naming the flag that differs.

Ctrl-C (SIGINT) and SIGTERM stop the run cleanly at the end of the iteration in progress
(:class:`~fastgrad.training.StopOnSignal`: no ``KeyboardInterrupt`` is raised, so none lands
inside a compiled kernel): the last checkpoint is written and one line on stderr names it and
gives the command that resumes; the exit status is 128 + the signal's number (130 for SIGINT,
143 for SIGTERM), and the outputs of a finished run are not written.

Bad flags exit with argparse's usage message (status 2); any other failure (a bad value,
missing or corrupt data, an unwritable folder, a refused checkpoint, a run that diverges) with
one line on stderr (status 1), before the outputs are written.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numba
import numpy as np

from .. import MultiLayerNet, TwoLayerNet
from .. import threads as kernel_threads
from .._threads import max_threads, settled
from .._validation import check_int, check_positive_float
from ..optimizers import OPTIMIZERS
from ..reference.multilayer import ACTIVATIONS, INIT_NAMES
from ..training import (
    GRAD_METHODS,
    CheckpointError,
    DivergenceError,
    History,
    StopOnSignal,
    train,
)
from ..training._loop import gradient_method
from ..training._settings import as_optimizer, iters_per_epoch, net_shape, shape_str
from ._train_outputs import output_plan, print_report, run_record, summary, write_outputs

__all__ = ["Failure", "build_parser", "hidden_sizes", "main", "weight_init"]

PROG = "fastgrad train"
#: ``--out``'s default: a folder in the working directory (named, absolute, before the run).
DEFAULT_OUT = "./fastgrad-out"
DEFAULT_CHECKPOINT_EVERY = 1000
#: The checkpoint's file name in ``--out`` unless ``--checkpoint`` names another path.
CHECKPOINT_NAME = "checkpoint.npz"
#: The chapter-4 TwoLayerNet's initial weight scale (the book's ``weight_init_std=0.01``).
TWO_LAYER_INIT = 0.01


class Failure(Exception):
    """A user-facing error: printed as one line, exit status 1."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``fastgrad train``.

    Returns
    -------
    argparse.ArgumentParser
    """
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Train the book's TwoLayerNet on MNIST by mini-batch SGD "
        "(Deep Learning from Scratch, section 4.5), with numerical gradients by default; or "
        "its MultiLayerNet of any depth (chapter 6) with any of its optimizers. The network "
        "is the chapter-4 TwoLayerNet (sigmoid, weights of std 0.01) unless --activation, "
        "--weight-init or --weight-decay is given or --hidden lists more than one layer: "
        "then it is the MultiLayerNet (default ReLU, He init, no weight decay).",
    )
    _add_data_flags(p.add_argument_group("data"))
    model = p.add_argument_group("model and training")
    _add_network_flags(model)
    _add_training_flags(model)
    _add_checkpoint_flags(p.add_argument_group("checkpoints"))
    _add_output_flags(p.add_argument_group("output"))
    return p


def _add_data_flags(group: Any) -> None:
    group.add_argument(
        "--data",
        choices=("auto", "full", "sample"),
        default="auto",
        help="full MNIST, the offline 5,000-image sample, or auto: full when "
        "it is on disk, else the sample (default: %(default)s)",
    )
    group.add_argument(
        "--data-dir",
        metavar="DIR",
        help="folder of the MNIST IDX files, which must exist (default: $FASTGRAD_DATA, else "
        "the user cache folder)",
    )


def _add_network_flags(group: Any) -> None:
    group.add_argument(
        "--backend",
        choices=("numba", "numpy"),
        default="numba",
        help="numba kernels or the NumPy reference (default: %(default)s)",
    )
    group.add_argument(
        "--scheduler",
        metavar="ADDRESS|local:N",
        help="compute the gradients on a Dask cluster (replaces --backend): the address of a "
        "running scheduler (e.g. tcp://10.0.0.5:8786), or local:N to start N worker "
        "processes on 127.0.0.1 for the run; needs pip install 'fastgrad[dask]'",
    )
    group.add_argument(
        "--grad",
        choices=GRAD_METHODS,
        default="numerical",
        help="numerical gradients (chapter 4) or backprop (chapter 5) (default: %(default)s)",
    )
    group.add_argument(
        "--hidden",
        default="50",
        metavar="N[,N...]",
        help="hidden units, a comma list for several layers, e.g. 100,100; one value alone "
        "keeps the chapter-4 TwoLayerNet, more than one makes a MultiLayerNet "
        "(default: %(default)s)",
    )
    group.add_argument(
        "--activation",
        choices=ACTIVATIONS,
        help="hidden activation; makes a MultiLayerNet (default there: relu)",
    )
    group.add_argument(
        "--weight-init",
        metavar="INIT",
        help=f"initial weight scale: {'|'.join(INIT_NAMES)} or a number (relu/he: "
        "sqrt(2/fan_in), sigmoid/xavier: sqrt(1/fan_in)); makes a MultiLayerNet "
        "(default there: relu)",
    )
    group.add_argument(
        "--weight-decay",
        type=float,
        metavar="LAMBDA",
        help="L2 weight decay lambda (the loss adds 0.5 lambda sum W^2); makes a "
        "MultiLayerNet (default there: 0)",
    )


def _add_training_flags(group: Any) -> None:
    group.add_argument(
        "--optimizer",
        choices=tuple(OPTIMIZERS),
        default="sgd",
        help="the book's update rule, with its hyper-parameters (default: %(default)s)",
    )
    group.add_argument(
        "--iters", type=int, default=10_000, metavar="N", help="iterations (default: %(default)s)"
    )
    group.add_argument(
        "--batch-size",
        type=int,
        default=100,
        metavar="N",
        help="mini-batch size (default: %(default)s)",
    )
    group.add_argument(
        "--lr",
        type=float,
        help="learning rate (default: 0.1 for sgd, the book's chapter 4; the book's default "
        "of any other optimizer: 0.01, adam 0.001)",
    )
    group.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the initial weights and the mini-batches (default: %(default)s)",
    )
    group.add_argument(
        "--eval-every",
        type=int,
        metavar="N",
        help="iterations between accuracy evaluations (default: one epoch, "
        "train size // batch size)",
    )
    group.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help=f"kernel threads, at most {numba.config.NUMBA_NUM_THREADS} on this machine "
        "(default: adapts between 1 and all to the machine's load, and says when it changes)",
    )


def _add_checkpoint_flags(group: Any) -> None:
    group.add_argument(
        "--checkpoint",
        metavar="PATH",
        help="the checkpoint file, written every --checkpoint-every iterations, at the end "
        f"and on Ctrl-C or SIGTERM (default: OUT/{CHECKPOINT_NAME}, in the --out folder)",
    )
    group.add_argument(
        "--no-checkpoint",
        action="store_true",
        help="write no checkpoint (Ctrl-C then stops the run with nothing to resume from)",
    )
    group.add_argument(
        "--checkpoint-every",
        type=int,
        metavar="K",
        help=f"iterations between checkpoints (default: {DEFAULT_CHECKPOINT_EVERY})",
    )
    group.add_argument(
        "--resume",
        action="store_true",
        help="continue from the checkpoint (--checkpoint, default the one in --out) if it "
        "exists; ends with the same parameters and history as an uninterrupted run, and "
        "refuses a checkpoint of another backend, data, setting or library version",
    )


def _add_output_flags(group: Any) -> None:
    group.add_argument(
        "--out",
        default=DEFAULT_OUT,
        metavar="DIR",
        help="folder for history.json, loss.png, accuracy.png and params.npz, and the "
        "checkpoint unless --checkpoint puts it elsewhere; its absolute path is printed "
        "before the run (not with --quiet) and at the end (default: %(default)s)",
    )
    group.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bar and no preamble; print only the summary",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``fastgrad train`` with ``argv`` (default ``sys.argv[1:]``).

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after ``train``.

    Returns
    -------
    int
        0 on success, 1 for bad input or a failure (message on stderr), 2 for a usage error;
        130 when stopped by Ctrl-C (SIGINT), 143 by SIGTERM (128 + the signal's number).
    """
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(argv)
        args.argv = argv
        if args.no_checkpoint:
            for flag, given in (
                ("--checkpoint", args.checkpoint is not None),
                ("--checkpoint-every", args.checkpoint_every is not None),
                ("--resume", args.resume),
            ):
                if given:
                    parser.error(f"{flag} and --no-checkpoint exclude each other")
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return _run(args)
    except Failure as exc:
        print(f"{PROG}: error: {_one_line(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # before or after training, where no checkpoint is at stake
        print(f"\n{PROG}: interrupted", file=sys.stderr)
        return 130


def _one_line(message: str) -> str:
    return " ".join(line.strip() for line in message.splitlines() if line.strip())


#: The flag that sets each field a checkpoint records, for its mismatch message.
_FLAGS = {
    "backend": "--backend",
    "activation": "--activation",
    "weight_init": "--weight-init",
    "weight_decay_lambda": "--weight-decay",
    "grad": "--grad",
    "optimizer": "--optimizer",
    "lr": "--lr",
    "batch_size": "--batch-size",
    "eval_every": "--eval-every",
    "seed": "--seed",
}


def _checkpoint_message(exc: CheckpointError, checkpoint: Path | None) -> str:
    """The training module's message, in the words of the command line where a flag differs."""
    flag = _FLAGS.get(exc.field or "")
    if flag is not None:
        return (
            f"checkpoint {checkpoint} was written with {flag} {exc.old} but this run has "
            f"{flag} {exc.new}; a resumed run must be the same run: resume with {flag} "
            f"{exc.old}, or pass another --checkpoint path to start a new run"
        )
    if exc.field == "iters":
        return (
            f"checkpoint {checkpoint} has {exc.old} iterations done but this run asks for "
            f"--iters {exc.new}; pass --iters {exc.old} or more to finish or extend it, or "
            "another --checkpoint path to start a new run"
        )
    return str(exc)


def hidden_sizes(text: str) -> list[int]:
    """``--hidden``'s comma list as integers >= 1."""
    try:
        sizes = [int(v) for v in text.split(",")]
    except ValueError:
        raise Failure(
            f"--hidden must be a comma list of integers >= 1, e.g. 100,100; got {text!r}"
        ) from None
    for size in sizes:
        try:
            check_int(size, "--hidden", 1)
        except ValueError as exc:
            raise Failure(str(exc)) from exc
    return sizes


def weight_init(text: str | None) -> str | float | None:
    """``--weight-init``: a name of :data:`INIT_NAMES` or a finite number > 0."""
    if text is None or text.lower() in INIT_NAMES:
        return None if text is None else text.lower()
    try:
        return check_positive_float(float(text), "--weight-init")
    except ValueError:
        raise Failure(
            f"--weight-init must be one of {', '.join(INIT_NAMES)} or a finite number > 0, "
            f"got {text!r}"
        ) from None


def _check_data_dir(text: str | None) -> None:
    """A ``--data-dir`` the user names must be a folder that exists: else ``--data auto``
    would quietly train on the sample, and ``--data full`` download into a mistyped path."""
    if text is None:
        return
    folder = Path(text).expanduser()
    if not folder.exists():
        raise Failure(
            f"--data-dir {text} does not exist; pass the folder that holds the MNIST IDX "
            "files, or leave --data-dir out (to download MNIST into a new folder, create it "
            "first and pass --data full)"
        )
    if not folder.is_dir():
        raise Failure(
            f"--data-dir {text} is not a folder; pass the folder that holds the MNIST IDX "
            "files, or leave --data-dir out"
        )


def _is_multilayer(args: argparse.Namespace) -> bool:
    """The rule of ``--help``: the chapter-6 MultiLayerNet when any of its own flags is given
    or there is more than one hidden layer; else the chapter-4 TwoLayerNet."""
    return (
        len(args.hidden_sizes) > 1
        or args.activation is not None
        or args.weight_init is not None
        or args.weight_decay is not None
    )


def _check_args(args: argparse.Namespace) -> None:
    """Refuse the values argparse lets through, before anything is loaded or written; put
    the parsed ``hidden_sizes`` and the ``optimizer`` object on ``args``."""
    if args.lr is not None:
        try:
            check_positive_float(args.lr, "--lr")
        except ValueError as exc:
            raise Failure(f"--lr must be a finite number > 0, got {args.lr}") from exc
    _check_data_dir(args.data_dir)
    args.hidden_sizes = hidden_sizes(args.hidden)
    args.weight_init = weight_init(args.weight_init)
    if args.weight_decay is not None and not (
        np.isfinite(args.weight_decay) and args.weight_decay >= 0
    ):
        raise Failure(f"--weight-decay must be a finite number >= 0, got {args.weight_decay}")
    args.optimizer_object = as_optimizer(args.optimizer, args.lr)
    args.local_workers = None
    if args.scheduler is not None:
        args.backend = "dask"
        if args.scheduler.startswith("local:"):
            try:
                args.local_workers = check_int(int(args.scheduler[6:]), "--scheduler", 1)
            except (TypeError, ValueError):
                raise Failure(
                    f"--scheduler local:N needs a number of workers >= 1, got {args.scheduler}"
                ) from None
    for flag, value, minimum in (
        ("--iters", args.iters, 0),
        ("--batch-size", args.batch_size, 1),
        ("--eval-every", args.eval_every, 1),
        ("--threads", args.threads, 1),
        ("--checkpoint-every", args.checkpoint_every, 1),
        ("--seed", args.seed, 0),
    ):
        if value is not None:
            try:
                check_int(value, flag, minimum)
            except ValueError as exc:
                raise Failure(str(exc)) from exc
    if args.threads is not None:
        _check_threads(args.threads)


def _check_threads(n: int) -> None:
    """``--threads`` against the most the kernels can run here: Numba's thread pool, as many
    threads as the machine has CPUs unless ``NUMBA_NUM_THREADS`` in the environment says
    otherwise."""
    limit = numba.config.NUMBA_NUM_THREADS
    if n > limit:
        why = ""
        if "NUMBA_NUM_THREADS" in os.environ:
            why = " (NUMBA_NUM_THREADS in the environment sets it)"
        raise Failure(
            f"--threads {n} is more than this machine allows: the kernels run at most "
            f"{limit} thread{'s' if limit != 1 else ''} here{why}; pass --threads {limit} or "
            "fewer, or leave --threads out to use them all"
        )


def _prepare_folder(folder: Path, what: str) -> bool:
    """Create ``folder`` if needed and check that files can be created in it.

    Returns whether it was created (so that a failed run can remove it again)."""
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".fastgrad-probe.", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise Failure(f"cannot write the {what} to {folder}: {reason}") from exc
    return created


def _load_data(args: argparse.Namespace, say: Any) -> tuple[Any, tuple[np.ndarray, ...]]:
    """The MNIST source and ``(x_train, t_train, x_test, t_test)``, normalised, one-hot."""
    from ..datasets import MNISTError, load_mnist, resolve_mnist_source

    try:
        source = resolve_mnist_source(args.data, args.data_dir)
        if source.kind == "full" and not source.available:
            say(f"data: {source} - downloading")
        else:
            say(f"data: {source}")
        (x_train, t_train), (x_test, t_test) = load_mnist(
            normalize=True,
            one_hot_label=True,
            source=args.data,
            data_dir=args.data_dir,
            progress=False if args.quiet else None,
        )
    except MNISTError as exc:
        raise Failure(f"cannot load MNIST: {exc}") from exc
    return source, (x_train, t_train, x_test, t_test)


def _run(args: argparse.Namespace) -> int:
    _check_args(args)
    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, flush=True))
    out = Path(args.out).expanduser()
    checkpoint = None
    if args.checkpoint is not None:
        checkpoint = Path(args.checkpoint).expanduser()
    elif not args.no_checkpoint:
        checkpoint = out / CHECKPOINT_NAME

    source, data = _load_data(args, say)
    made: list[Path] = []  # folders this run creates: removed again if it fails while empty
    try:
        for folder, what in ((out, "outputs"), (checkpoint and checkpoint.parent, "checkpoint")):
            if folder is not None and _prepare_folder(folder, what):
                made.append(folder)
        say(output_plan(out, checkpoint, default=args.out == DEFAULT_OUT))
        with contextlib.ExitStack() as stack:
            try:
                threads = stack.enter_context(kernel_threads(args.threads))
            except ValueError as exc:
                raise Failure(str(exc)) from exc
            if args.scheduler is not None:
                stack.enter_context(_dask_client(args, say))
            return _train_and_report(args, source, data, out, checkpoint, threads, say)
    except BaseException:
        for folder in reversed(made):
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


@contextlib.contextmanager
def _dask_client(args: argparse.Namespace, say: Any) -> Any:
    """The Dask client of ``--scheduler``, current for the run (the dask networks use it);
    a ``local:N`` cluster listens on 127.0.0.1 only and is closed at the end."""
    try:
        from .._dask import connect, local_cluster

        if args.local_workers is not None:
            cluster = local_cluster(args.local_workers)
            client = connect(cluster.scheduler_address)
        else:
            cluster = None
            client = connect(args.scheduler)
    except (ImportError, OSError, ValueError) as exc:  # ValueError: not an address
        raise Failure(str(exc)) from exc
    try:
        workers = len(client.scheduler_info().get("workers", {}))
        say(
            f"dask: scheduler {client.scheduler.address}, {workers} worker"
            f"{'s' if workers != 1 else ''}, dashboard {client.dashboard_link}"
        )
        with client.as_current():
            yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _train_and_report(
    args: argparse.Namespace,
    source: Any,
    data: tuple[np.ndarray, ...],
    out: Path,
    checkpoint: Path | None,
    threads: int,
    say: Any,
) -> int:
    """Build the network, warm it up, train it, then write and print what came of it."""
    x_train, t_train, x_test, _ = data
    net = _build_net(args, x_train.shape[1], t_train.shape[1])
    epoch = iters_per_epoch(x_train.shape[0], args.batch_size)
    eval_every = args.eval_every or epoch
    checkpoint_every = args.checkpoint_every or DEFAULT_CHECKPOINT_EVERY
    _say_plan(say, args, net, threads, epoch, eval_every, checkpoint, checkpoint_every)
    with StopOnSignal() as stop:  # from here a signal stops the run after an iteration
        jit = _warm_up(net, args, x_train, t_train, say)
        history, ran, wall = _train(args, net, data, eval_every, checkpoint, checkpoint_every, stop)
    if stop.signum is not None and history.iterations < args.iters:
        print(f"{PROG}: {_interrupted_message(args, stop, history, checkpoint)}", file=sys.stderr)
        return stop.exit_status
    run = run_record(args, source, net, args.threads or "adaptive", eval_every, checkpoint)
    run["summary"] = summary(history, ran, wall, jit, settled())
    try:
        paths = write_outputs(out, history, run, net.params, x_train.shape[0])
    except OSError as exc:
        raise Failure(f"cannot write the outputs to {out}: {exc}") from exc
    print_report(run, x_test.shape[0], out, paths, checkpoint)
    return 0


def _build_net(args: argparse.Namespace, n_in: int, n_out: int) -> Any:
    """The network of ``--hidden`` units on ``--backend``: the chapter-4 TwoLayerNet, or the
    MultiLayerNet by :func:`_is_multilayer`'s rule. Its initial weights come from the first
    child of ``--seed``'s seed sequence; the mini-batches from ``--seed`` itself. The
    initialisation is kept as ``weight_init_std`` so that a checkpoint records it."""
    init_rng = np.random.default_rng(np.random.SeedSequence(args.seed).spawn(1)[0])
    if not _is_multilayer(args):
        net: Any = TwoLayerNet(
            n_in,
            args.hidden_sizes[0],
            n_out,
            TWO_LAYER_INIT,
            backend=args.backend,
            rng=init_rng,
        )
        net.weight_init_std = TWO_LAYER_INIT
        return net
    init = "relu" if args.weight_init is None else args.weight_init
    net = MultiLayerNet(
        n_in,
        args.hidden_sizes,
        n_out,
        activation=args.activation or "relu",
        weight_init_std=init,
        weight_decay_lambda=args.weight_decay or 0.0,
        backend=args.backend,
        rng=init_rng,
    )
    net.weight_init_std = init
    return net


def _network_words(net: Any) -> str:
    """``TwoLayerNet 784-50-10``, or ``MultiLayerNet 784-100-100-10 relu, init relu, weight
    decay 0.1``."""
    words = f"{type(net).__name__} {shape_str(net_shape(net))}"
    if isinstance(net, MultiLayerNet):
        words += (
            f" {net.activation}, init {net.weight_init_std}, "
            f"weight decay {net.weight_decay_lambda:g}"
        )
    return words


def _say_plan(
    say: Any,
    args: argparse.Namespace,
    net: Any,
    threads: int,
    iters_per_epoch: int,
    eval_every: int,
    checkpoint: Path | None,
    checkpoint_every: int,
) -> None:
    """The preamble: the network, the training settings and the checkpoint."""
    n_params = sum(p.size for p in net.params.values())
    say(
        f"network: {_network_words(net)} ({n_params:,} parameters), "
        f"backend {args.backend}, {args.grad} gradients, "
        + (
            f"{threads} thread{'s' if threads != 1 else ''}"
            if args.threads
            else f"threads adapting between 1 and {threads}"
        )
    )
    say(
        f"training: {args.iters:,} iterations, batch {args.batch_size}, "
        f"optimizer {args.optimizer}, lr {args.optimizer_object.lr}, "
        f"seed {args.seed}, accuracy every {eval_every} iterations (epoch = {iters_per_epoch})"
    )
    if checkpoint is None:
        say("checkpoint: none (--no-checkpoint); Ctrl-C stops the run with nothing saved")
        return
    say(
        f"checkpoint: {checkpoint} every {checkpoint_every} iterations, at the end and on "
        "Ctrl-C" + (", resuming from it if it exists" if args.resume else "")
    )


def _resume_command(argv: Sequence[str]) -> str:
    """The command that resumes the run of ``argv``: the same flags and ``--resume``."""
    argv = list(argv)
    if "--resume" not in argv:
        argv.append("--resume")
    return shlex.join(["fastgrad", "train", *argv])


def _interrupted_message(
    args: argparse.Namespace, stop: StopOnSignal, history: History, checkpoint: Path | None
) -> str:
    """The one line of a run stopped by a signal: where, what was saved, how to go on."""
    where = f"stopped by {stop.name} after iteration {history.iterations:,} of {args.iters:,}"
    if checkpoint is None:
        return f"{where}; no checkpoint (--no-checkpoint), nothing to resume from"
    return f"{where}; checkpoint written to {checkpoint}; resume with: " + _resume_command(
        args.argv
    )


def _warm_up(
    net: Any, args: argparse.Namespace, x: np.ndarray, t: np.ndarray, say: Any
) -> float | None:
    """Time the first gradient call (JIT compilation, or loading the compiled code from the
    cache) and compile the loss and accuracy kernels, so that none of it lands in the
    per-iteration figures, and say so. The numpy backend has nothing to compile: None."""
    if net.backend == "numpy":
        say("compile: none (numpy backend)")
        return None
    xb, tb = x[: args.batch_size], t[: args.batch_size]
    gradient = gradient_method(net, args.grad)
    say(
        f"compile: first {args.grad} gradient call; on an empty Numba cache (a fresh "
        "install) it compiles the kernels, which takes seconds for a TwoLayerNet and up to "
        "minutes for a MultiLayerNet; later runs load them from the cache"
    )
    t0 = time.perf_counter()
    gradient(xb, tb)
    elapsed = time.perf_counter() - t0
    net.loss(xb, tb)
    net.accuracy(xb, tb)
    say(
        f"compile: first {args.grad} gradient call {elapsed:.2f} s (JIT compilation or cache "
        "load; excluded from the timings below)"
    )
    return elapsed


class ThreadReport:
    """A training callback that says, above the progress bar, when the thread count of the
    busiest call site (the gradient) settles on a new value (``fastgrad._threads``)."""

    def __init__(self) -> None:
        self.last: int | None = None

    def __call__(self, iteration: int, history: History, net: Any) -> None:
        n = settled()
        if n is None or n == self.last:
            return
        if self.last is not None or n != max_threads():
            message = f"threads: {n} from iteration {iteration + 1}"
            try:
                from tqdm.auto import tqdm
            except ImportError:  # pragma: no cover - tqdm is in the train extra
                print(message, flush=True)
            else:
                tqdm.write(message)
        self.last = n


def _train(
    args: argparse.Namespace,
    net: Any,
    data: tuple[np.ndarray, ...],
    eval_every: int,
    checkpoint: Path | None,
    checkpoint_every: int,
    stop: StopOnSignal,
) -> tuple[History, int, float]:
    """Train; return the history, the iterations this session ran (a resumed run skips those
    done) and the wall time. A checkpoint that is refused or cannot be written fails, and so
    does a run that diverges (the iteration is counted from 1 here, as the progress bar
    counts)."""
    ran: list[int] = []
    t0 = time.perf_counter()
    try:
        history = train(
            net,
            *data,
            iters=args.iters,
            batch_size=args.batch_size,
            optimizer=args.optimizer_object,
            grad=args.grad,
            seed=args.seed,
            eval_every=eval_every,
            progress=not args.quiet,
            checkpoint=checkpoint,
            checkpoint_every=checkpoint_every if checkpoint is not None else None,
            resume=args.resume,
            callbacks=[lambda i, h, n: ran.append(i), stop]
            + ([] if args.quiet or args.threads else [ThreadReport()]),
        )
    except CheckpointError as exc:
        raise Failure(_checkpoint_message(exc, checkpoint)) from exc
    except DivergenceError as exc:
        raise Failure(
            f"training diverged at iteration {exc.iteration + 1} of {args.iters}: "
            f"{exc.reason}; lower --lr (this run has --lr {exc.lr:g})"
        ) from exc
    except OSError as exc:
        raise Failure(f"cannot write the checkpoint {checkpoint}: {exc}") from exc
    return history, len(ran), time.perf_counter() - t0
