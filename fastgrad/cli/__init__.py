"""``fastgrad`` command line: ``fastgrad train ...``, ``fastgrad bench ...``, ``fastgrad check``.

The command-line front ends live together, above the library they call: each subcommand has
its own module (:mod:`fastgrad.cli.train`, :mod:`fastgrad.cli.bench`) with a
``main(argv) -> int``; this dispatcher only routes, so ``fastgrad --help`` stays fast.
"""

from __future__ import annotations

import importlib
import sys

_COMMANDS = {
    "train": ("fastgrad.cli.train", "train the book's networks on MNIST, numerical gradients"),
    "bench": ("fastgrad.cli.bench", "compare the reference and accelerated backends side by side"),
    "check": ("fastgrad.cli.check", "gradient check of the book's networks on the MNIST sample"),
}


def _usage() -> str:
    lines = [f"usage: fastgrad {{{','.join(_COMMANDS)}}} [options]", "", "commands:"]
    lines += [f"  {name:<8}{doc}" for name, (_, doc) in _COMMANDS.items()]
    lines += ["", "Run 'fastgrad COMMAND --help' for a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``fastgrad`` script; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0 if argv else 2
    if argv[0] in ("-V", "--version"):
        from .._version import __version__

        print(f"fastgrad {__version__}")
        return 0
    command, rest = argv[0], argv[1:]
    if command not in _COMMANDS:
        print(f"fastgrad: unknown command {command!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(_COMMANDS[command][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
