"""Regenerate every published figure from the current code: ``python -m fastgrad.bench.publish``.

One command runs, one after the other and alone on the machine:

1. ``fastgrad bench`` (all groups, full settings), with its JSON, text output and plot;
2. ``fastgrad train --data sample``: the default training job (10,000 iterations of numerical
   gradients on the offline MNIST sample, seed 0), with the peak resident memory of the
   process;
3. ``fastgrad train --data sample --grad backprop``: the same run with backprop, for the
   accuracy it is compared with;
4. ``fastgrad bench --quick`` (its wall time is a published figure, and its output is kept);
5. the CI smoke run ``pytest benchmarks --benchmark-disable`` (its wall time is quoted).

The raw results go to ``benchmarks/results/`` (``fastgrad-bench.json`` and ``.txt``,
``fastgrad-bench-quick.json`` and ``.txt``, ``fastgrad-train.json``, ``scaling.png``, and
``publish.json``: the commands, their wall times and exit statuses, the code's commit). They
are written to a staging folder first and moved into place (each through
:func:`fastgrad._files.write_atomically`) only when every step succeeded. Then the generated
blocks of ``README.md`` and ``benchmarks/README.md`` are rewritten by
:func:`fastgrad.bench.readme.render`, a pure function of the JSON.

``--check`` runs nothing: it renders the blocks from the committed JSON and exits with status
1 (and a diff) when a README disagrees; ``tests/test_published_figures.py`` does the same.
``--render`` rewrites the blocks from the committed JSON without running anything. ``--dev``
runs the same steps with quick settings (``fastgrad bench --quick``, 200 training iterations)
to try the machinery: the blocks then say that the figures are not the published ones.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._files import write_atomically
from .readme import (
    BLOCKS,
    DEV_TRAIN_ITERS,
    PUBLISH_COMMAND,
    RESULT_FILES,
    RESULTS_DIR,
    check,
    load_results,
    write_readmes,
)

__all__ = ["STEPS", "publish", "build_parser", "main"]

#: The steps of a publication, in the order they run.
STEPS = ("bench", "train", "bench_quick", "smoke")

#: The repository whose code is published: the folder above this ``fastgrad`` package.
REPO = Path(__file__).resolve().parents[2]


def _write_json(path: Path, doc: Any) -> None:
    data = (json.dumps(doc, indent=1) + "\n").encode("utf-8")
    write_atomically(path, lambda fh: fh.write(data))


# -- running the steps ----------------------------------------------------------------------------


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _run(
    argv: Sequence[str], cwd: Path, stdout: Any, stderr: Any = subprocess.PIPE
) -> tuple[int, float, float | None, str]:
    """Run ``argv`` with ``stdout`` going to an open file; ``(exit status, wall seconds, peak
    RSS in MiB or None, stderr)``. The peak resident set is the child's own (``os.wait4``),
    where the platform has it."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(list(argv), cwd=cwd, stdout=stdout, stderr=stderr, text=True)
    err = proc.stderr.read() if proc.stderr else ""  # small; read before reaping
    peak = None
    if hasattr(os, "wait4"):
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        peak = usage.ru_maxrss / 1024  # KiB on Linux
    else:  # pragma: no cover - not POSIX
        proc.wait()
    return proc.returncode, time.perf_counter() - t0, peak, err


def _git(repo: Path) -> dict[str, Any] | None:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            [
                "git",
                "status",
                "--porcelain",
                "--untracked-files=no",
                "--",
                ".",
                ":!README.md",
                ":!benchmarks/README.md",
                f":!{RESULTS_DIR}",
            ],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return {"commit": head, "uncommitted_changes": bool(status.strip())}


def _say(text: str) -> None:
    print(f"publish: {text}", file=sys.stderr, flush=True)


class _StepFailed(Exception):
    pass


def _step_bench(stage: Path, quick: bool, dev: bool, steps: dict[str, Any]) -> None:
    """``fastgrad bench`` (``quick``: ``--quick``, without the plot) into ``stage``."""
    name = "bench_quick" if quick else "bench"
    stem = "fastgrad-bench-quick" if quick else "fastgrad-bench"
    args = ["--json", f"{stem}.json"] + ([] if quick else ["--plot", "scaling.png"])
    if quick or dev:
        args = ["--quick", *args]
    cmd = [sys.executable, "-m", "fastgrad", "bench", *args]
    _say(f"running fastgrad bench {' '.join(args)}")
    with open(stage / f"{stem}.txt", "w", encoding="utf-8") as fh:
        code, wall, _, _ = _run(cmd, stage, stdout=fh, stderr=None)  # progress to the terminal
    steps[name] = {
        "command": "fastgrad bench " + " ".join(args),
        "exit": code,
        "wall_s": wall,
        "outputs": [f"{stem}.json", f"{stem}.txt"] + ([] if quick else ["scaling.png"]),
    }
    if code != 0:
        raise _StepFailed(
            f"fastgrad bench {' '.join(args)} exited with status {code} (see "
            f"{stage / (stem + '.txt')})"
        )


def _step_train(stage: Path, repo: Path, dev: bool, steps: dict[str, Any]) -> None:
    runs: dict[str, Any] = {}
    for key, extra in (("numerical", []), ("backprop", ["--grad", "backprop"])):
        args = ["--data", "sample", *extra]
        if dev:
            args += ["--iters", str(DEV_TRAIN_ITERS)]
        with tempfile.TemporaryDirectory(prefix="fastgrad-publish-train-") as out:
            cmd = [sys.executable, "-m", "fastgrad", "train", *args, "--quiet", "--out", out]
            _say(f"running fastgrad train {' '.join(args)}")
            with tempfile.TemporaryFile("w+", encoding="utf-8") as fh:
                code, wall, peak, err = _run(cmd, repo, stdout=fh)
                fh.seek(0)
                stdout = fh.read()
            if code != 0:
                raise _StepFailed(
                    f"fastgrad train {' '.join(args)} exited with status "
                    f"{code}: {err.strip()[-2000:]}"
                )
            doc = json.loads((Path(out) / "history.json").read_text(encoding="utf-8"))
        hist = doc.get("history", {})
        loss = hist.get("loss") or []
        runs[key] = {
            "command": "fastgrad train " + " ".join(args),
            "exit": code,
            "process_wall_s": wall,
            "peak_rss_mib": peak,
            "stdout": [line for line in stdout.splitlines() if not line.startswith("wrote: ")],
            "run": doc.get("run", {}),
            "evaluations": {k: hist.get(k) for k in ("epoch_iters", "train_acc", "test_acc")},
            "loss": {
                "first": loss[0] if loss else None,
                "last": loss[-1] if loss else None,
                "mean_last_100": sum(loss[-100:]) / len(loss[-100:]) if loss else None,
            },
        }
        steps[f"train_{key}"] = {
            "command": runs[key]["command"],
            "exit": code,
            "wall_s": wall,
            "outputs": ["fastgrad-train.json"],
        }
    doc = {
        "fastgrad_train_runs": 1,
        "date": _now(),
        "peak_rss_method": "ru_maxrss of the fastgrad train process (os.wait4)",
        "runs": runs,
    }
    _write_json(stage / RESULT_FILES["train"], doc)


def _step_smoke(stage: Path, repo: Path, steps: dict[str, Any]) -> None:
    if not (repo / "benchmarks" / "conftest.py").exists():
        raise _StepFailed(f"no benchmark suites under {repo}/benchmarks")
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "benchmarks",
        "--benchmark-disable",
        "-q",
        "-p",
        "no:cacheprovider",
    ]
    _say("running pytest benchmarks --benchmark-disable -q")
    with tempfile.TemporaryFile("w+", encoding="utf-8") as fh:
        code, wall, _, err = _run(cmd, repo, stdout=fh)
        fh.seek(0)
        out = fh.read()
    tail = [line for line in out.splitlines() if line.strip()][-1:] or [""]
    steps["smoke"] = {
        "command": "pytest benchmarks --benchmark-disable -q",
        "exit": code,
        "wall_s": wall,
        "summary": tail[0],
    }
    if code != 0:
        raise _StepFailed(
            f"pytest benchmarks exited with status {code}:\n{out[-3000:]}{err[-2000:]}"
        )


def publish(root: Path, repo: Path, dev: bool, skip: Sequence[str], argv: Sequence[str]) -> int:
    """Run the steps, move the results into place, rewrite the READMEs. Exit status."""
    results = root / RESULTS_DIR
    results.mkdir(parents=True, exist_ok=True)
    old = load_results(results).get("publish") or {}
    steps: dict[str, Any] = dict(old.get("steps", {})) if skip else {}
    if skip and bool(old.get("dev")) != dev:
        _say(
            "--skip keeps earlier results, which must come from the same kind of run (--dev or not)"
        )
        return 2
    t0 = time.perf_counter()
    started = _now()
    stage = Path(tempfile.mkdtemp(prefix=".publish-", dir=results))
    try:
        done: dict[str, Any] = {}
        for step in STEPS:
            if step in skip:
                continue
            if step == "bench":
                _step_bench(stage, False, dev, done)
            elif step == "bench_quick":
                _step_bench(stage, True, dev, done)
            elif step == "train":
                _step_train(stage, repo, dev, done)
            elif step == "smoke":
                _step_smoke(stage, repo, done)
        steps.update(done)
        manifest = {
            "fastgrad_publish": 1,
            "command": " ".join([PUBLISH_COMMAND, *argv]).strip(),
            "dev": dev,
            "date": _now(),
            "started": started,
            "wall_s": time.perf_counter() - t0,
            "git": _git(repo),
            "python": sys.version.split()[0],
            "steps": steps,
        }
        _write_json(stage / RESULT_FILES["publish"], manifest)
        for f in sorted(stage.iterdir()):
            data = f.read_bytes()
            write_atomically(results / f.name, lambda fh, data=data: fh.write(data))
    except _StepFailed as exc:
        _say(f"FAILED: {exc}")
        _say(f"nothing was published; the partial output is in {stage}")
        return 1
    else:
        shutil.rmtree(stage, ignore_errors=True)
    changed = write_readmes(root, load_results(results))
    _say(
        f"results in {results}; rewrote {', '.join(str(c) for c in changed) or 'nothing'}; "
        f"{time.perf_counter() - t0:.0f} s in all"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PUBLISH_COMMAND,
        description="Regenerate every published figure: run fastgrad bench (full and --quick), "
        "the default fastgrad train job and its backprop twin, and the CI smoke "
        "run, one after the other; write the JSON to benchmarks/results/ and the "
        "README tables from it. Run it alone on an idle machine.",
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--check",
        action="store_true",
        help="run nothing: exit 1 when the READMEs disagree with the JSON",
    )
    mode.add_argument(
        "--render", action="store_true", help="run nothing: rewrite the README blocks from the JSON"
    )
    p.add_argument(
        "--dev",
        action="store_true",
        help=f"quick settings to try the machinery (fastgrad bench --quick, "
        f"{DEV_TRAIN_ITERS} training iterations); the READMEs say so",
    )
    p.add_argument(
        "--skip",
        nargs="+",
        choices=STEPS,
        default=[],
        metavar="STEP",
        help=f"steps to leave out, keeping their earlier results ({', '.join(STEPS)})",
    )
    p.add_argument(
        "--root",
        default=".",
        metavar="DIR",
        help="the repository: README.md, benchmarks/README.md and benchmarks/results/ "
        "(default: the current folder)",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    root = Path(args.root)
    for path in BLOCKS:
        if not (root / path).exists():
            print(f"publish: error: no {path} under {root.resolve()} (use --root)", file=sys.stderr)
            return 2
    if args.check:
        problems = check(root)
        for p in problems:
            print(p)
        if problems:
            print(
                f"publish: {len(problems)} block(s) disagree with the JSON in "
                f"{root / RESULTS_DIR}; run {PUBLISH_COMMAND} --render",
                file=sys.stderr,
            )
            return 1
        print("publish: the READMEs agree with the JSON")
        return 0
    if args.render:
        changed = write_readmes(root, load_results(root / RESULTS_DIR))
        print(f"publish: rewrote {', '.join(str(c) for c in changed) or 'nothing'}")
        return 0
    with contextlib.suppress(OSError):
        load = os.getloadavg()[0]
        if load > 0.5:
            _say(f"warning: load average {load:.2f}: other work distorts every figure")
    return publish(root, REPO, args.dev, args.skip, argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
