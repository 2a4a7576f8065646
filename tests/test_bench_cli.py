"""``fastgrad bench``: options, output and JSON are correct (never how fast anything is)."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import subprocess
import sys

import numpy as np
import pytest

from fastgrad import bench, cli, reference
from fastgrad.bench import checks
from fastgrad.cli import bench as bench_cli


@pytest.fixture(scope="module")
def quick_twolayer(tmp_path_factory):
    """One quick run of the twolayer group, with JSON and plot; shared by the tests below."""
    out = tmp_path_factory.mktemp("bench")
    json_path, png_path = out / "out.json", out / "plot.png"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = bench_cli.main(
            ["--quick", "--groups", "twolayer", "--json", str(json_path), "--plot", str(png_path)]
        )
    return code, buf.getvalue(), json.loads(json_path.read_text()), png_path


def test_quick_twolayer_exits_zero_and_prints_the_table(quick_twolayer):
    code, text, _, _ = quick_twolayer
    assert code == 0
    header = text.splitlines()[0].split()
    assert header[:5] == ["group", "work", "backend", "params", "median"]
    for backend in ("numpy numgrad (reference)", "numba numgrad", "numpy analytic (reference)"):
        assert backend in text
    assert "extrapolated from" in text  # the reference is never run in full here
    assert "Projected 10,000-iteration loop" in text
    assert "FAILED" not in text


def test_json_has_the_machine_description(quick_twolayer):
    _, _, doc, _ = quick_twolayer
    m = doc["machine"]
    for key in (
        "cpu_model",
        "cores",
        "numba",
        "numba_threading_layer",
        "numpy",
        "blas",
        "blas_threads",
        "kernel_threads",
    ):
        assert key in m, key
    assert m["cores"] >= 1
    assert isinstance(m["blas"], list)
    assert doc["quick"] is True and doc["groups"] == ["twolayer"]


def test_json_rows_are_checked_against_the_reference(quick_twolayer):
    _, _, doc, _ = quick_twolayer
    rows = [r for r in doc["rows"] if r["group"] == "twolayer"]
    works = {f"784-50-10 b100 {inputs}" for inputs in ("dense", "mnist", "sparse")}
    assert {r["work"] for r in rows} >= works
    assert doc["failures"] == []
    for r in rows:
        assert r["check_passed"] in (True, None)
        assert r["params"] == 784 * 50 + 50 + 50 * 10 + 10
    kernel = [r for r in rows if r["backend"] == "numba numgrad"]
    assert sorted(r["work"] for r in kernel) == sorted(works)  # --quick: the book's batch only
    for r in kernel:
        assert r["check_passed"] is True
        assert 0 <= r["max_abs_diff"] <= checks.TOL_KERNEL
        assert r["timing"]["median"] > 0 and r["timing"]["extrapolated"] is False
        assert r["speedup_vs_reference"] > 0 and r["ratio_to_analytic"] > 0
    ref = [r for r in rows if r["backend"] == "numpy numgrad (reference)"]
    assert all(r["timing"]["extrapolated"] for r in ref)
    t = doc["targets"]
    assert any("max abs diff" in x["target"] for x in t)


def test_plot_is_a_png(quick_twolayer):
    *_, png = quick_twolayer
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


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


def test_help_exits_0(capsys):
    assert bench_cli.main(["--help"]) == 0
    assert "--groups" in capsys.readouterr().out


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


def test_missing_peer_is_a_skip_line(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "numdifftools", None)  # import numdifftools -> ImportError
    assert bench_cli.main(["--quick", "--groups", "peers"]) == 0
    out = capsys.readouterr().out
    assert "skipped: numdifftools not installed" in out.splitlines()
    assert "numdifftools Gradient" not in out
    assert "scipy approx_derivative 3-point" in out
    try:
        import torch  # noqa: F401
    except ImportError:
        assert "skipped: torch not installed" in out.splitlines()


def test_reference_subset_is_the_reference_central_difference():
    """All parameters sampled: the values are the reference's, bit for bit."""
    x = np.array([[0.3, -1.2, 2.0], [0.5, 0.0, -0.7]])

    def f(v):
        return float(np.sum(np.sin(v) * v**2))

    expected = reference.numerical_gradient(f, x.copy())
    xs = x.copy()
    sub = bench.reference_subset(lambda: f(xs), {"x": xs}, 100, np.random.default_rng(0))
    assert sub.k == sub.total == 6
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


def test_blas_threads_help_says_which_rows_hold_blas(capsys):
    """The headline network rows run under BLAS's own setting; only some rows hold it at 1."""
    assert bench_cli.main(["--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "always" not in out
    assert "only the functions and generic kernel calls and the 'BLAS held at 1' rows" in out


def test_first_gradient_probe_counts_the_import():
    """The fresh-process first-call figure starts before ``import fastgrad``."""
    r = bench.first_gradient_probe()
    assert r["total_s"] >= r["import_s"] + r["first_call_s"]
    assert r["import_s"] > 0 and r["first_call_s"] > 0
    assert r["process_s"] >= r["total_s"]


# -- the toolkit group ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def quick_toolkit(tmp_path_factory):
    """One quick run of the toolkit group, with JSON."""
    json_path = tmp_path_factory.mktemp("toolkit") / "out.json"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = bench_cli.main(["--quick", "--groups", "toolkit", "--json", str(json_path)])
    return code, buf.getvalue(), json.loads(json_path.read_text())


def test_toolkit_reports_every_method(quick_toolkit):
    from fastgrad._differentiate import METHODS
    from fastgrad.bench.groups import toolkit as tk

    code, text, doc = quick_toolkit
    assert code == 0 and doc["failures"] == [] and "FAILED" not in text
    assert "Accuracy with h='auto'" in text and "approx_derivative where" in text
    acc = {a["method"]: a for a in doc["accuracy"]}
    assert set(acc) == set(METHODS)
    for a in acc.values():
        assert a["elements"] > 250 and 0 <= a["estimate_covers"] <= 1
        assert 0 < a["median_rel_error"] < 1e-5  # every method beats a broken stencil
    assert [a["method"] for a in doc["scipy_agreement"]] == ["forward", "central", "complex"]
    rows = [r for r in doc["rows"] if r["group"] == "toolkit"]
    assert all(r["check_passed"] is True for r in rows)
    for method in METHODS:
        work = tk.GRADIENT_WORK.format(method)
        kernel = [r for r in rows if r["work"] == work and r["backend"] == tk.KERNEL]
        assert len(kernel) == 1 and kernel[0]["timing"]["median"] > 0
        assert any(r["work"] == work and r["backend"].startswith("scipy") for r in rows) or (
            method in ("central4", "richardson")  # SciPy has no equivalent of these two
        )
        series = {
            p["threads"]
            for p in doc["thread_scaling"]
            if p["work"].startswith(f"toolkit {method},")
        }
        assert series == set(range(1, doc["machine"]["kernel_threads"] + 1))
    hessian = [r for r in rows if r["work"] == tk.HESSIAN_WORK]
    assert {r["backend"] for r in hessian} >= {tk.KERNEL}
    if importlib.util.find_spec("numdifftools"):  # its Hessian, on a block with --quick
        assert any(r["timing"]["extrapolated"] for r in hessian if r["backend"] != tk.KERNEL)


def test_toolkit_targets_and_readme_block(quick_toolkit):
    from fastgrad.bench import readme
    from fastgrad.bench.targets import TOOLKIT_TARGETS

    _, text, doc = quick_toolkit
    names = [t["target"] for t in doc["targets"]]
    assert names == [t.name for t in TOOLKIT_TARGETS]  # every one measured, in order
    assert all(isinstance(t["met"], bool) for t in doc["targets"])
    block = readme.render_block({**readme.example_results(), "bench": doc}, "toolkit")
    for method in ("forward", "central4", "complex", "richardson"):
        assert f"| {method} |" in block
    assert "No toolkit figures yet" not in block
    details = readme.render_block({**readme.example_results(), "bench": doc}, "details")
    assert "### The differentiation toolkit" in details
    assert "toolkit: median relative error, central" in details  # the targets' table
