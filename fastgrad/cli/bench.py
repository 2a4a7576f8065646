"""``fastgrad bench``: the command line of :mod:`fastgrad.bench`.

Options in, a run of the chosen groups, the report out (text on stdout, ``--json``,
``--plot``); the exit status says whether every check passed.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Sequence

import numba

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
    if n < 1 or (maximum is not None and n > maximum):
        most = f" and at most {maximum} (NUMBA_NUM_THREADS)" if maximum is not None else ""
        raise argparse.ArgumentTypeError(f"thread count must be at least 1{most}, got {n}")
    return n


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fastgrad bench",
        description="The reference (NumPy), the Numba kernels and peer libraries side by side: "
        "each result checked against the reference, then timed.",
        epilog=f"groups: {', '.join(GROUPS)} (default: all; with --quick all but dask, whose "
        "cluster of worker processes compiles the kernels anew: name it to run it). Times "
        "marked * are extrapolated from a sample of parameters.",
    )
    p.add_argument(
        "--groups",
        nargs="+",
        type=_groups_arg,
        metavar="GROUP",
        help="groups to run, space- or comma-separated",
    )
    p.add_argument(
        "--quick", action="store_true", help="fewer sizes, repeats and sampled parameters"
    )
    p.add_argument(
        "--threads",
        metavar="N",
        type=functools.partial(_threads_arg, maximum=numba.config.NUMBA_NUM_THREADS),
        help="kernel threads (default: all); thread scaling runs 1..N",
    )
    p.add_argument(
        "--blas-threads",
        metavar="N",
        type=_threads_arg,
        help="BLAS threads for the whole run (default: BLAS's own setting; the networks' "
        "numba rows hold BLAS to 1, as a training loop on that backend does)",
    )
    p.add_argument("--json", metavar="PATH", help="write the results as JSON")
    p.add_argument("--plot", metavar="PATH", help="write a plot: time vs parameters, scaling")
    p.add_argument("--seed", type=int, default=0, help="random seed of the workloads")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """``fastgrad bench [options]``; returns the exit status (2: bad options, 1: a check
    failed)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse: 0 for --help, 2 for a usage error
        return int(exc.code or 0)
    default = [g for g in GROUPS if not (args.quick and g == "dask")]
    groups = [g for chunk in (args.groups or [default]) for g in chunk]
    settings = Settings.make(args.quick, args.threads or numba.config.NUMBA_NUM_THREADS, args.seed)
    result = runner.run(groups, settings, args.blas_threads)
    print(report.text(result))
    if args.json:
        report.write_json(result, args.json, "fastgrad bench " + " ".join(argv))
    if args.plot:
        from ..bench.plot import plot

        plot(result, args.plot)
    return 1 if result.rec.failures else 0
