"""The committed figures in ``benchmarks/results/`` are whole, from runs that passed every
check, and say what they are. Nothing here runs a benchmark or times anything.

The README's dated table quotes these files. They are data: no test of the package reads
them, and this module is not collected by ``pytest`` or ``pytest benchmarks``; CI runs it as
its own step, ``pytest benchmarks/check_results.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

RESULTS = Path(__file__).resolve().parent / "results"
FILES = {
    "bench": "fastgrad-bench.json",
    "bench_quick": "fastgrad-bench-quick.json",
    "train": "fastgrad-train.json",
    "publish": "publish.json",
}


@pytest.fixture(scope="module")
def results():
    return {kind: json.loads((RESULTS / name).read_text()) for kind, name in FILES.items()}


def test_every_result_file_is_committed():
    for name in (*FILES.values(), "fastgrad-bench.txt", "fastgrad-bench-quick.txt", "scaling.png"):
        assert (RESULTS / name).is_file(), name


@pytest.mark.parametrize("kind", ["bench", "bench_quick"])
def test_committed_bench_runs_passed_every_check(results, kind):
    doc = results[kind]
    assert doc["failures"] == []
    assert all(r["check_passed"] in (True, None) for r in doc["rows"])
    text = (RESULTS / FILES[kind].replace(".json", ".txt")).read_text()
    assert "FAILED" not in text and "CRASHED" not in text
    # the text output comes from the same run as the JSON next to it
    assert text.rstrip().endswith(f"total wall time {doc['wall_s']:.1f} s")
    assert doc["quick"] is (kind == "bench_quick")


def test_the_full_run_ran_every_group_it_had(results):
    bench = results["bench"]
    assert bench["quick"] is False and "--groups" not in bench["command"]
    assert len(bench["groups"]) == len(set(bench["groups"])) > 1


def test_the_publication_steps_succeeded_and_match_the_files(results):
    pub = results["publish"]
    assert pub["dev"] is False
    assert all(step["exit"] == 0 for step in pub["steps"].values())
    assert pub["steps"]["bench"]["command"] == results["bench"]["command"]
    assert pub["steps"]["bench_quick"]["command"] == results["bench_quick"]["command"]
    for key in ("numerical", "backprop"):
        run = results["train"]["runs"][key]
        assert run["exit"] == 0
        assert pub["steps"][f"train_{key}"]["command"] == run["command"]


def test_the_training_figures_are_the_default_job(results):
    runs = results["train"]["runs"]
    for key, grad in (("numerical", "numerical"), ("backprop", "backprop")):
        run = runs[key]["run"]
        assert run["grad"] == grad and run["data_kind"] == "sample"
        assert run["iters"] == run["summary"]["iterations"] == 10_000
        assert (run["network"], run["batch_size"], run["lr"], run["seed"]) == (
            "784-50-10",
            100,
            0.1,
            0,
        )
    assert runs["numerical"]["peak_rss_mib"] > 0


def test_the_first_call_figure_includes_the_import(results):
    for run in results["bench"]["first_gradient"].values():
        assert run["total_s"] >= run["import_s"] + run["first_call_s"] > 0
