"""``fastgrad check``: the book's gradient check (section 5.7.3) from the command line.

It builds one of the book's networks, takes a few images of the offline MNIST sample
(``load_mnist(source="sample")``, normalised, one-hot labels, as ``gradient_check.py``
loads them) and compares the numerical gradient with backprop through
:func:`fastgrad.gradient_check`, printing per parameter the figure the book's script prints
(the mean absolute difference) with the largest absolute and relative differences, and the
result's verdict. The figures are fastgrad's, computed on this run: not the book's printed
ones.

The default network is the one of the book's ``gradient_check.py``: the chapter-5 two-layer
ReLU network, ``MultiLayerNet(784, [50], 10, weight_init_std=0.01)``, on 3 images.
``--hidden 100,100``, ``--activation sigmoid``, ``--weight-init``, ``--weight-decay``,
``--backend`` and ``--batch`` pick another of the book's ``MultiLayerNet`` family.

Exit status: 0 when the check passes (every parameter's mean absolute difference is at most
``--tol``: the verdict of :func:`fastgrad.gradient_check`), 1 when it fails (or the sample
cannot be loaded), 2 on a usage error. Example::

    fastgrad check --hidden 100,100 --weight-decay 0.1 --batch 10
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import MultiLayerNet, gradient_check
from .._api import GRADIENT_CHECK_TOL
from .._validation import check_int, check_positive_float
from ..reference.multilayer import ACTIVATIONS, INIT_NAMES
from .train import Failure, hidden_sizes, weight_init

__all__ = ["build_parser", "main"]

PROG = "fastgrad check"
#: The network of the book's ``gradient_check.py`` (chapter 5): weights of std 0.01.
BOOK_INIT = 0.01
#: The book's batch: ``x_batch = x_train[:3]``.
BOOK_BATCH = 3
#: Default pass mark for each mean |difference|: :func:`fastgrad.gradient_check`'s (1e-6,
#: justified there).
DEFAULT_TOL = GRADIENT_CHECK_TOL


def _arg(convert: Any) -> Any:
    """An argparse ``type=`` from a checker of :mod:`fastgrad.cli.train` that raises its
    one-line failure: a bad value is then a usage error (status 2)."""

    def parse(text: str) -> Any:
        try:
            return convert(text)
        except (Failure, ValueError, TypeError) as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = convert.__name__.strip("_")
    return parse


def _positive_int(text: str) -> int:
    return check_int(int(text), "--batch", 1)


def _decay(text: str) -> float:
    value = float(text)
    if not (np.isfinite(value) and value >= 0):
        raise ValueError(f"--weight-decay must be a finite number >= 0, got {text}")
    return value


def _tol(text: str) -> float:
    return check_positive_float(float(text), "--tol")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``fastgrad check``.

    Returns
    -------
    argparse.ArgumentParser
    """
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Gradient check (Deep Learning from Scratch, section 5.7.3): the numerical "
        "gradient against backprop of one of the book's networks on a few images of the "
        "offline MNIST sample, with the per-parameter figure the book's script prints (mean "
        "|difference|) and a verdict. The "
        "default is gradient_check.py's network: MultiLayerNet(784, [50], 10, "
        "weight_init_std=0.01), ReLU, on 3 images. Exit 0 when it passes, 1 when it fails.",
    )
    p.add_argument(
        "--hidden",
        type=_arg(hidden_sizes),
        default=[50],
        metavar="N[,N...]",
        help="hidden layer widths, a comma list (default: 50)",
    )
    p.add_argument(
        "--activation",
        choices=ACTIVATIONS,
        default="relu",
        help="hidden activation (default: %(default)s)",
    )
    p.add_argument(
        "--weight-init",
        type=_arg(weight_init),
        default=BOOK_INIT,
        metavar="INIT",
        help=f"initial weight scale: {'|'.join(INIT_NAMES)} or a number "
        "(default: %(default)s, the book's gradient_check.py)",
    )
    p.add_argument(
        "--weight-decay",
        type=_arg(_decay),
        default=0.0,
        metavar="LAMBDA",
        help="L2 weight decay lambda (default: %(default)s)",
    )
    p.add_argument(
        "--backend",
        choices=("numba", "numpy"),
        default="numba",
        help="numba kernels or the NumPy reference (default: %(default)s)",
    )
    p.add_argument(
        "--batch",
        type=_arg(_positive_int),
        default=BOOK_BATCH,
        metavar="N",
        help="images of the MNIST sample to check on (default: %(default)s, as the book)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the initial weights (default: %(default)s)",
    )
    p.add_argument(
        "--tol",
        type=_arg(_tol),
        default=DEFAULT_TOL,
        help="pass when every mean |difference| is at most this (default: %(default)s)",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``fastgrad check`` with ``argv`` (default ``sys.argv[1:]``).

    Returns
    -------
    int
        0 when the check passes, 1 when it fails or the sample cannot be loaded, 2 for a
        usage error.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.seed < 0:
            parser.error(f"argument --seed: must be an integer >= 0, got {args.seed}")
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else 2
    try:
        x, t = _sample(args.batch)
    except Failure as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    net = MultiLayerNet(
        x.shape[1],
        args.hidden,
        t.shape[1],
        activation=args.activation,
        weight_init_std=args.weight_init,
        weight_decay_lambda=args.weight_decay,
        backend=args.backend,
        rng=args.seed,
    )
    if args.backend == "numba":  # the wait of a fresh install, said before it starts
        print(
            "compile: the first check on an empty Numba cache (a fresh install) compiles the "
            "kernels, which can take a minute or two; later runs load them from the cache",
            flush=True,
        )
    result = gradient_check(net, x, t, tol=args.tol)
    sizes = "-".join(str(s) for s in (x.shape[1], *args.hidden, t.shape[1]))
    print(
        f"network: MultiLayerNet {sizes} {args.activation}, init {args.weight_init}, weight "
        f"decay {args.weight_decay:g}, backend {args.backend}; {args.batch} MNIST sample "
        f"image{'s' if args.batch != 1 else ''}"
    )
    # this run's figures, in the "key:diff" form the book's gradient_check.py prints
    figures = " ".join(f"{name}:{c.mean_abs_diff:.6g}" for name, c in result.items())
    print(f"this run, printed as the book's gradient_check.py prints it: {figures}")
    print(result)  # the table, then the verdict line
    return 0 if result.passed else 1


def _sample(batch: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``batch`` training images of the offline sample and their one-hot labels."""
    from ..datasets import MNISTError, load_mnist

    try:
        (x_train, t_train), _ = load_mnist(normalize=True, one_hot_label=True, source="sample")
    except (MNISTError, ImportError) as exc:
        raise Failure(f"cannot load the MNIST sample: {exc}") from exc
    if batch > x_train.shape[0]:
        raise Failure(f"--batch {batch} exceeds the sample's {x_train.shape[0]:,} images")
    return x_train[:batch], t_train[:batch]
