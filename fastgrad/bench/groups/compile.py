"""Group ``compile``: JIT compilation and first calls, in fresh processes
(:mod:`fastgrad.bench.probes`): cold (an empty Numba cache) and warm; the first TwoLayerNet
numerical gradient from before ``import fastgrad``; cached kernels called first; and (not
with ``--quick``) the test suite's share of time spent compiling, on an empty cache as in CI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from ..fmt import fmt_time
from ..probes import compile_probe, first_calls_probe, first_gradient_probe
from ..recorder import Recorder, Row
from ..settings import Settings
from ..timing import Timing

ALL_TASKS = ["functions", "generic", "twolayer", "analytic"]


def run(rec: Recorder, s: Settings) -> None:
    if s.quick:
        cold_tasks = ["functions", "generic"]
        warm_tasks = ALL_TASKS
        rec.note(
            "--quick: cold compilation of the TwoLayerNet kernels is left "
            "out (tens of seconds); run without --quick to measure it"
        )
    else:
        cold_tasks = warm_tasks = ALL_TASKS
    with tempfile.TemporaryDirectory(prefix="fastgrad-numba-cache-") as cache:
        runs = [("cold (empty NUMBA_CACHE_DIR)", cold_tasks, cache)]
        runs.append(("warm cache, fresh process", warm_tasks, None if s.quick else cache))
        for label, tasks, cache_dir in runs:
            try:
                res = compile_probe(tasks, cache_dir)
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                rec.fail(f"compile: probe {label} failed: {str(exc)[:300]}")
                continue
            for task, times in res.items():
                entry = {
                    "run": label,
                    "task": task,
                    "first_s": times["first"],
                    "second_s": times.get("second"),
                }
                rec.compile.append(entry)
                t = Timing.from_samples([times["first"]])
                note = (
                    "steady second call " + fmt_time(times["second"]) if "second" in times else ""
                )
                rec.add(Row("compile", f"{task}: first call", label, t, note=note))
    rec.note(
        "generic kernels take the user's function as an argument and cannot "
        "be cached: their first call compiles in every process"
    )
    _first_gradient(rec, s)
    if s.quick:
        rec.note("the test suite's compile share (a run of the whole suite) runs without --quick")
    else:
        _suite_compile_share(rec)
    # a fresh process whose first calls are cached kernels, as a user's would be
    row = rec.add(
        Row(
            "compile", "first calls of cached kernels, fresh process", "numba (package cache)", None
        )
    )
    try:
        first_calls_probe()
        row.check_passed, row.note = True, "ran"
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        row.check_passed = False
        row.note = "CRASHED (numba issue #9938?)"
        rec.fail(f"compile: a fresh process calling cached kernels first failed: {str(exc)[:300]}")


def _first_gradient(rec: Recorder, s: Settings) -> None:
    """``import fastgrad`` plus the first TwoLayerNet numerical gradient, fresh processes:
    cold (an empty cache; not with --quick) and with a warm cache (the one the cold run
    filled, or with --quick the package's own)."""
    work = "import fastgrad + first TwoLayerNet 784-50-10 numgrad"
    with tempfile.TemporaryDirectory(prefix="fastgrad-numba-cache-") as cache:
        runs = [] if s.quick else [("cold", "cold (empty NUMBA_CACHE_DIR)", cache)]
        runs.append(("warm", "warm cache, fresh process", None if s.quick else cache))
        for key, label, cache_dir in runs:
            try:
                res = first_gradient_probe(cache_dir)
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                rec.fail(f"compile: first-gradient probe {label} failed: {str(exc)[:300]}")
                continue
            rec.first_gradient[key] = {"run": label, **res}
            rec.add(
                Row(
                    "compile",
                    work,
                    label,
                    Timing.from_samples([res["total_s"]]),
                    note=f"import {fmt_time(res['import_s'])}, first call "
                    f"{fmt_time(res['first_call_s'])}",
                )
            )


#: The repository's tests, next to the package in a checkout (absent from an installed wheel).
TESTS = Path(__file__).resolve().parents[3] / "tests"
#: The environment variable ``tests/conftest.py`` writes its compile clock to.
COMPILE_REPORT_ENV = "FASTGRAD_COMPILE_REPORT"
SUITE_TIMEOUT = 3600


def _suite_compile_share(rec: Recorder) -> None:
    """Run the test suite as CI does (a fresh process, an empty Numba cache) and record the
    share of its wall time spent in Numba compilations (``tests/conftest.py`` clocks them)."""
    if not (TESTS / "conftest.py").is_file():
        rec.note(f"test suite compile share: no tests at {TESTS} (an installed package)")
        return
    with tempfile.TemporaryDirectory(prefix="fastgrad-suite-") as tmp:
        report = Path(tmp) / "compile.json"
        env = {**os.environ, "NUMBA_CACHE_DIR": str(Path(tmp) / "cache")}
        env[COMPILE_REPORT_ENV] = str(report)
        # the published-figures tests check the committed results, which a publish run is
        # in the middle of replacing: they say nothing about compile time
        cmd = [
            sys.executable, "-m", "pytest", "-q", "-rf", "-p", "no:cacheprovider", str(TESTS),
            f"--ignore={TESTS / 'test_published_figures.py'}",
        ]  # fmt: skip
        try:
            done = subprocess.run(
                cmd, cwd=TESTS.parent, env=env, capture_output=True, text=True,
                timeout=SUITE_TIMEOUT, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            rec.fail(f"compile: the test suite took over {SUITE_TIMEOUT} s")
            return
        if not report.is_file():
            rec.fail(f"compile: the test suite wrote no compile report: {done.stdout[-300:]}")
            return
        doc = json.loads(report.read_text(encoding="utf-8"))
    lines = done.stdout.strip().splitlines()
    summary = lines[-1] if lines else ""
    failed = [line.split()[1] for line in lines if line.startswith("FAILED ")]
    for name in failed:
        rec.fail(f"compile: the test suite run failed {name}")
    rec.suite_compile = {
        **doc,
        "share": doc["compile_s"] / doc["wall_s"],
        "summary": summary,
        "failed": failed,
    }
    rec.add(
        Row(
            "compile",
            "the test suite, empty Numba cache (as CI)",
            "numba compilations in the pytest process",
            Timing.from_samples([doc["compile_s"]]),
            note=f"{100 * rec.suite_compile['share']:.0f}% of the suite's "
            f"{fmt_time(doc['wall_s'])}; {doc['compilations']} compilations; {summary}",
        )
    )
