"""``fastgrad bench``: options, output, JSON and plot, and that a result is checked before it is
timed (never how fast anything is)."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys

import numpy as np
import pytest

from fastgrad import bench, cli, reference
from fastgrad.bench import checks, report, runner
from fastgrad.bench.groups import simplenet
from fastgrad.bench.recorder import Recorder, Row
from fastgrad.cli import bench as bench_cli

TWOLAYER_PARAMS = 784 * 50 + 50 + 50 * 10 + 10


def run_bench(argv: list[str]) -> tuple[int, str]:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = bench_cli.main(argv)
    return code, buf.getvalue()


@pytest.fixture(scope="module")
def quick_twolayer(tmp_path_factory):
    """One quick run of the twolayer group, with JSON and plot; shared by the tests below."""
    out = tmp_path_factory.mktemp("bench")
    json_path, png_path = out / "out.json", out / "plot.png"
    argv = ["--quick", "--groups", "twolayer", "--json", str(json_path), "--plot", str(png_path)]
    code, text = run_bench(argv)
    return code, text, json.loads(json_path.read_text()), png_path


def test_quick_twolayer_exits_zero_and_prints_readable_tables(quick_twolayer):
    code, text, _, _ = quick_twolayer
    assert code == 0
    assert text.splitlines()[0].split()[:2] == ["twolayer", "median"]
    for backend in ("numpy numgrad (reference)", "numba numgrad", "numpy analytic (reference)"):
        assert backend in text
    assert "extrapolated from" in text  # the reference is never run in full here
    assert "FAILED" not in text
    assert max(len(line) for line in text.splitlines()) <= report.WIDTH


def test_json_has_the_machine_description(quick_twolayer):
    _, _, doc, _ = quick_twolayer
    m = doc["machine"]
    for key in ("cpu_model", "cores", "numba", "numba_threading_layer", "numpy", "blas"):
        assert key in m, key
    assert m["cores"] >= 1 and m["kernel_threads"] >= 1
    assert doc["quick"] is True and doc["groups"] == ["twolayer"]


def test_json_rows_are_checked_against_the_reference(quick_twolayer):
    _, _, doc, _ = quick_twolayer
    rows = [r for r in doc["rows"] if r["group"] == "twolayer"]
    works = {f"784-50-10 b100 {inputs}" for inputs in ("dense", "mnist", "sparse")}
    assert {r["work"] for r in rows} == works  # --quick: the book's batch only
    assert doc["failures"] == []
    assert all(r["params"] == TWOLAYER_PARAMS for r in rows)
    kernel = [r for r in rows if r["backend"] == "numba numgrad"]
    assert sorted(r["work"] for r in kernel) == sorted(works)
    for r in kernel:
        assert r["check_passed"] is True
        assert 0 <= r["max_abs_diff"] <= checks.TOL_KERNEL
        assert r["timing"]["median"] > 0 and r["timing"]["extrapolated"] is False
        assert r["speedup_vs_reference"] > 0 and r["ratio_to_analytic"] > 0
    ref = [r for r in rows if r["backend"] == "numpy numgrad (reference)"]
    assert all(r["timing"]["extrapolated"] for r in ref)
    threads = [r for r in rows if "thread" in r["backend"]]
    assert all(r["max_abs_diff"] == 0 for r in threads)  # bit for bit on every thread count
    assert {p["threads"] for p in doc["thread_scaling"]} == set(range(1, len(threads) + 1))


def test_plot_is_a_png(quick_twolayer):
    *_, png = quick_twolayer
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_failed_check_is_reported_not_timed_and_exits_1(monkeypatch, tmp_path):
    monkeypatch.setattr(simplenet, "TOL_KERNEL", -1.0)  # no difference can pass
    path = tmp_path / "out.json"
    code, text = run_bench(["--quick", "--groups", "simplenet", "--json", str(path)])
    assert code == 1
    assert "FAILED CHECKS" in text and "CHECK FAILED" in text
    doc = json.loads(path.read_text())
    failed = [r for r in doc["rows"] if r["check_passed"] is False]
    assert len(failed) == len(doc["failures"]) == 3
    assert all(r["timing"] is None for r in failed)
    ref = next(r for r in doc["rows"] if r["backend"] == "numpy (reference)")
    assert ref["timing"]["median"] > 0  # the reference itself is still timed


def test_check_never_times_a_failed_result():
    def never() -> None:
        raise AssertionError("a failed check must not be timed")

    rec = Recorder(out=lambda line: None)
    row = rec.add(Row("g", "work", "backend"))
    assert rec.check(row, 1e-3, 1e-10, never) is False
    assert row.timing is None and row.check_passed is False and rec.failures
    passed = rec.add(Row("g", "work", "other"))
    assert rec.check(passed, 0.0, 1e-10, lambda: bench.Timing(1.0, 1.0, 1.0, 1.0, 1))
    assert passed.timing.median == 1.0


@pytest.mark.parametrize(
    ("argv", "groups"),
    [
        ([], list(bench.GROUPS)),
        (["--quick"], [g for g in bench.GROUPS if g != "dask"]),  # no cluster to start
        (["--quick", "--groups", "dask,peers", "simplenet"], ["dask", "peers", "simplenet"]),
    ],
)
def test_the_groups_that_run(monkeypatch, argv, groups):
    class Ran(Exception):
        pass

    def run(chosen, *args):
        raise Ran(chosen)

    monkeypatch.setattr(runner, "run", run)
    with pytest.raises(Ran) as ran:
        bench_cli.main(argv)
    assert ran.value.args[0] == groups


@pytest.mark.parametrize(
    "argv",
    [
        ["--groups", "nope"],
        ["--groups", "twolayer,bogus"],
        ["--threads", "0"],
        ["--threads", "many"],
        ["--bogus"],
        ["--blas-threads", "-1"],
    ],
)
def test_bad_options_exit_2(argv, capsys):
    assert bench_cli.main(argv) == 2
    assert "usage: fastgrad bench" in capsys.readouterr().err


def test_help_exits_0_and_lists_the_options(capsys):
    assert bench_cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for option in ("--groups", "--quick", "--json", "--plot", "--threads", "--blas-threads"):
        assert option in out
    assert all(group in out for group in bench.GROUPS)


def test_cli_routes_bench_and_exits_2_on_bad_options():
    assert cli.main(["bench", "--groups", "nope"]) == 2
    proc = subprocess.run(
        [sys.executable, "-m", "fastgrad", "bench", "--bogus"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "usage: fastgrad bench" in proc.stderr


def test_missing_peer_is_a_skip_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "numdifftools", None)  # import numdifftools -> ImportError
    code, out = run_bench(["--quick", "--groups", "peers"])
    assert code == 0
    assert "skipped: numdifftools not installed" in out.splitlines()
    assert "numdifftools Gradient" not in out
    assert "scipy approx_derivative 3-point" in out


def test_toolkit_compares_every_method_with_the_peers(tmp_path):
    from fastgrad._differentiate import METHODS
    from fastgrad.bench.groups import toolkit as tk

    path = tmp_path / "out.json"
    code, text = run_bench(["--quick", "--groups", "toolkit", "--json", str(path)])
    doc = json.loads(path.read_text())
    assert code == 0 and doc["failures"] == [] and "FAILED" not in text
    rows = doc["rows"]
    assert all(r["check_passed"] is True for r in rows)
    for method in METHODS:
        work = [r for r in rows if r["work"] == tk.GRADIENT_WORK.format(method)]
        backends = {r["backend"] for r in work}
        assert {tk.REFERENCE, tk.KERNEL} <= backends and len(backends) > 2  # and a peer
    assert {r["backend"] for r in rows if r["work"] == tk.HESSIAN_WORK} >= {tk.KERNEL}
    assert {r["backend"] for r in rows if r["work"] == tk.VECTORIZED_WORK} == {
        tk.LOOP,
        tk.VECTORIZED,
    }


def test_reference_subset_is_the_reference_central_difference():
    """All parameters sampled: the values are the reference's, bit for bit."""
    x = np.array([[0.3, -1.2, 2.0], [0.5, 0.0, -0.7]])

    def f(v):
        return float(np.sum(np.sin(v) * v**2))

    expected = reference.numerical_gradient(f, x.copy())
    xs = x.copy()
    sub = bench.reference_subset(lambda: f(xs), {"x": xs}, 100, np.random.default_rng(0))
    assert sub.k == sub.total == 6 and sub.label == "all params"
    assert sub.max_abs_diff(expected) == 0.0
    np.testing.assert_array_equal(xs, x)  # restored
    assert sub.estimate().extrapolated is False


def test_reference_subset_extrapolates_by_the_parameter_count():
    arrays = {"a": np.zeros((10, 10)), "b": np.zeros(100)}
    sub = bench.reference_subset(lambda: 0.0, arrays, 20, np.random.default_rng(0))
    assert sub.k == 20 and sub.total == 200
    assert len(set(zip(sub.names, sub.indices, strict=True))) == 20
    est = sub.estimate()
    assert est.extrapolated
    assert est.median == pytest.approx(np.median(sub.seconds) * 200)


def test_measure_reports_consistent_quartiles():
    t = bench.measure(lambda: None, repeat=5, budget=0.05)
    assert t.n >= 3 and 0 <= t.best <= t.q1 <= t.median <= t.q3


def test_measure_blocks_alternates_blocks_of_calls_each_in_its_context():
    from fastgrad.bench.timing import measure_blocks

    log = []

    @contextlib.contextmanager
    def side(name):
        log.append(f"enter {name}")
        yield
        log.append(f"exit {name}")

    def call(name):
        return lambda: log.append(name)

    timings = measure_blocks(
        [call("a"), call("b")],
        [lambda: side("A"), lambda: side("B")],
        rounds=3,
        block=0.002,
    )
    # one untimed call each sizes the blocks, then rounds of a block of a, a block of b
    blocks = [entry for entry in log[2:] if entry.startswith("enter")]
    assert blocks == ["enter A", "enter B"] * 3
    a_calls = [entry for entry in log[2:] if entry == "a"]
    assert timings[0].n == len(a_calls) and len(a_calls) % 3 == 0 and len(a_calls) > 3
    # every call of a block runs inside its own side's context
    inside = None
    for entry in log[2:]:
        if entry.startswith("enter"):
            inside = entry[-1].lower()
        elif entry.startswith("exit"):
            inside = None
        else:
            assert entry == inside
