"""``fastgrad bench``: the command line of :mod:`fastgrad.bench`.

Options in, a run of the chosen groups, the report out (text on stdout, ``--json``,
``--plot``); the exit status says whether every check passed.
"""

from __future__ import annotations

import argparse
import functools
import sys
import textwrap
from collections.abc import Sequence

import numba

from .._validation import check_int
from ..bench import report, runner
from ..bench.groups import GROUPS
from ..bench.settings import Settings

__all__ = ["build_parser", "main"]


def _groups_arg(text: str) -> list[str]:
    names = [g.strip() for g in text.split(",") if g.strip()]
    bad = [g for g in names if g not in GROUPS]
    if bad or not names:
        raise argparse.ArgumentTypeError(
            f"invalid group {', '.join(map(repr, bad)) or repr(text)}; choose from "
            f"{', '.join(GROUPS)}"
        )
    return names


def _threads_arg(text: str, maximum: int | None = None) -> int:
    """A thread count: an integer >= 1, and at most ``maximum`` when given."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid thread count {text!r}") from None
    try:
        check_int(n, "thread count", 1)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if maximum is not None and n > maximum:
        raise argparse.ArgumentTypeError(
            f"thread count must be at most {maximum} (NUMBA_NUM_THREADS), got {n}"
        )
    return n


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fastgrad bench",
        description="Compare the reference (NumPy) and accelerated (Numba) backends and peer "
        "libraries: time, ratios and the difference from the reference.",
        epilog=textwrap.dedent(f"""\
            groups: {", ".join(GROUPS)} (default: all).
            The reference numerical gradient of a real network is timed on a random parameter
            subset and extrapolated; such rows are marked with *."""),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--groups",
        nargs="+",
        type=_groups_arg,
        metavar="GROUP",
        help="groups to run, space- or comma-separated",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: fewer sizes, repeats and sampled parameters; no cold "
        "compilation of the network kernels and no memory probe",
    )
    p.add_argument(
        "--threads",
        default=None,
        metavar="N",
        type=functools.partial(_threads_arg, maximum=numba.config.NUMBA_NUM_THREADS),
        help="kernel threads (default: all); thread scaling runs 1..N",
    )
    p.add_argument(
        "--blas-threads",
        type=_threads_arg,
        default=None,
        metavar="N",
        help="BLAS threads for the whole run (default: BLAS's own setting): the "
        "NumPy rows and the numba TwoLayerNet, SimpleNet, training and peer "
        "rows run under it (the TwoLayerNet kernel holds BLAS at 1 thread "
        "around its own products, but BLAS threads left spinning by NumPy "
        "calls compete for the cores between calls); only "
        "the functions and generic kernel calls and the 'BLAS held at 1' "
        "rows hold BLAS to 1 thread",
    )
    p.add_argument("--json", metavar="PATH", help="write machine-readable results here")
    p.add_argument("--plot", metavar="PATH", help="write a PNG: time vs parameters, scaling")
    p.add_argument("--seed", type=int, default=0, help="random seed of the workloads")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """``fastgrad bench [options]``; returns the exit status (2: bad options, 1: a check
    failed)."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: 0 for --help, 2 for a usage error
        return int(exc.code or 0)
    groups = [g for chunk in (args.groups or [list(GROUPS)]) for g in chunk]
    settings = Settings.make(args.quick, args.threads or numba.config.NUMBA_NUM_THREADS, args.seed)
    result = runner.run(groups, settings, args.blas_threads)
    print(report.text(result))
    if args.json:
        report.write_json(result, args.json, "fastgrad bench " + " ".join(argv))
    if args.plot:
        from ..bench.plot import plot

        plot(result, args.plot)
    return 1 if result.rec.failures else 0
