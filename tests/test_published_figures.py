"""The published figures: every generated README block is rendered from the committed JSON.

Nothing here runs a benchmark or times anything: the blocks of ``README.md`` and
``benchmarks/README.md`` are rendered from ``benchmarks/results/*.json`` with
:func:`fastgrad.bench.figures.render` and compared with the committed text. When a test here fails,
either the READMEs were edited by hand (run ``python -m fastgrad.bench.publish --render``) or the
figures are stale (run ``python -m fastgrad.bench.publish``, alone on an idle machine).
"""

from __future__ import annotations

import copy
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from fastgrad.bench import publish
from fastgrad.bench import readme as figures
from fastgrad.bench.groups import GROUPS

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / figures.RESULTS_DIR


@pytest.fixture(scope="module")
def results():
    return figures.load_results(RESULTS)


@pytest.fixture
def repo_copy(tmp_path):
    """The READMEs and the committed results, copied: free to edit."""
    for path in figures.BLOCKS:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / path, tmp_path / path)
    shutil.copytree(RESULTS, tmp_path / figures.RESULTS_DIR)
    return tmp_path


def _edit(path: Path, pattern: str, replace) -> None:
    text = path.read_text(encoding="utf-8")
    new, n = re.subn(pattern, replace, text, count=1, flags=re.MULTILINE)
    assert n == 1, f"no match for {pattern!r} in {path}"
    path.write_text(new, encoding="utf-8")


# -- the committed READMEs agree with the committed JSON -----------------------------------------


def test_every_result_file_is_committed(results):
    for kind, name in figures.RESULT_FILES.items():
        assert results[kind] is not None, f"{figures.RESULTS_DIR}/{name} is missing"
    for name in ("fastgrad-bench.txt", "fastgrad-bench-quick.txt", "scaling.png"):
        assert (RESULTS / name).is_file(), name


def test_readmes_agree_with_the_committed_json():
    problems = figures.check(ROOT)
    assert not problems, (
        "the READMEs disagree with benchmarks/results/*.json (python -m fastgrad.bench.publish "
        "--render rewrites them from the JSON):\n" + "\n".join(problems)
    )


# -- the check can fail ---------------------------------------------------------------------------


def test_copy_agrees_before_any_edit(repo_copy):
    assert figures.check(repo_copy) == []


def test_an_edited_readme_table_fails(repo_copy):
    readme = repo_copy / "README.md"
    _edit(
        readme, r"^(\| \*\*fastgrad numba numerical gradient\*\* \| \*\*)([^*]+)", r"\g<1>0.01 ms"
    )
    problems = figures.check(repo_copy)
    assert len(problems) == 1
    assert "README.md [summary]" in problems[0]
    assert "-| **fastgrad numba numerical gradient** | **0.01 ms" in problems[0]


def test_an_edited_benchmarks_table_fails(repo_copy):
    _edit(
        repo_copy / "benchmarks/README.md",
        r"^(\| reference analytic gradient \(numpy\) \| )",
        r"\g<1>1 ns (1 ns) | ",
    )
    problems = figures.check(repo_copy)
    assert len(problems) == 1 and "benchmarks/README.md [details]" in problems[0]


def test_an_edited_target_verdict_fails(repo_copy):
    _edit(
        repo_copy / "benchmarks/README.md",
        r"\| \*\*no\*\* \|$|\| yes \|$",
        lambda m: "| yes |" if "no" in m[0] else "| **no** |",
    )
    assert figures.check(repo_copy)


def test_changed_json_fails(repo_copy):
    path = repo_copy / figures.RESULTS_DIR / figures.RESULT_FILES["bench"]
    doc = json.loads(path.read_text())
    row = next(
        r for r in doc["rows"] if r["group"] == "twolayer" and r["backend"] == "numba numgrad"
    )
    row["timing"]["median"] *= 3
    path.write_text(json.dumps(doc))
    problems = figures.check(repo_copy)
    assert any("README.md [summary]" in p for p in problems)


def test_changed_training_json_fails(repo_copy):
    path = repo_copy / figures.RESULTS_DIR / figures.RESULT_FILES["train"]
    doc = json.loads(path.read_text())
    doc["runs"]["numerical"]["run"]["summary"]["final_test_acc"] = 0.123
    path.write_text(json.dumps(doc))
    problems = figures.check(repo_copy)
    assert any("test accuracy 0.123" in p for p in problems)


def test_a_missing_block_fails(repo_copy):
    _edit(repo_copy / "README.md", r"^<!-- fastgrad:results quickstart end -->\n", "")
    problems = figures.check(repo_copy)
    assert any("no 'quickstart' block" in p for p in problems)


def test_render_rewrites_an_edited_block(repo_copy):
    readme = repo_copy / "README.md"
    before = readme.read_text()
    _edit(readme, r"^(\| reference numerical gradient \(the book\) \| )", r"\g<1>9 s* | ")
    assert publish.main(["--check", "--root", str(repo_copy)]) == 1
    assert publish.main(["--render", "--root", str(repo_copy)]) == 0
    assert readme.read_text() == before
    assert publish.main(["--check", "--root", str(repo_copy)]) == 0


# -- render is a pure function of the JSON --------------------------------------------------------


def test_render_is_pure(results):
    before = copy.deepcopy(results)
    first = figures.render(results)
    assert figures.render(results) == first
    assert results == before
    assert set(first) == set(figures.BLOCKS)
    for path, names in figures.BLOCKS.items():
        assert set(first[path]) == set(names)


def test_render_without_results_says_so():
    blocks = figures.render(figures.example_results())
    assert "No benchmark results yet" in blocks["README.md"]["summary"]
    assert "compiles the kernels" in blocks["README.md"]["quickstart"]


def test_replace_blocks_keeps_the_rest_and_refuses_missing_markers():
    text = (
        "intro\n<!-- fastgrad:results a begin -->\nold a\n<!-- fastgrad:results a end -->\n"
        "middle\n<!-- fastgrad:results b begin -->\nold b\n<!-- fastgrad:results b end -->\n"
        "outro\n"
    )
    new = figures.replace_blocks(text, {"a": "new a"})
    assert new.startswith("intro\n") and new.endswith("outro\n")
    assert figures.extract_blocks(new) == {"a": "\nnew a\n\n", "b": "old b\n"}
    with pytest.raises(ValueError, match="no 'c' block"):
        figures.replace_blocks(text, {"c": "x"})
    with pytest.raises(ValueError, match="twice"):
        figures.extract_blocks(text + text)


# -- the committed results are from runs that passed, and say what they are -----------------------


@pytest.mark.parametrize("kind", ["bench", "bench_quick"])
def test_committed_bench_runs_passed_every_check(results, kind):
    doc = results[kind]
    assert doc["failures"] == []
    assert all(r["check_passed"] in (True, None) for r in doc["rows"])
    stem = Path(figures.RESULT_FILES[kind]).stem
    text = (RESULTS / f"{stem}.txt").read_text()
    assert "FAILED" not in text and "CRASHED" not in text
    # the text output comes from the same run as the JSON next to it
    assert text.rstrip().endswith(f"total wall time {doc['wall_s']:.1f} s")
    assert doc["quick"] is (kind == "bench_quick" or results["publish"]["dev"])


def test_committed_publication_steps_succeeded(results):
    pub = results["publish"]
    assert set(pub["steps"]) == {
        "bench",
        "bench_quick",
        "train_numerical",
        "train_backprop",
        "smoke",
    }
    assert all(step["exit"] == 0 for step in pub["steps"].values())
    assert pub["steps"]["bench"]["command"] == results["bench"]["command"]
    assert pub["steps"]["bench_quick"]["command"] == results["bench_quick"]["command"]
    for key in ("numerical", "backprop"):
        run = results["train"]["runs"][key]
        assert run["exit"] == 0
        assert pub["steps"][f"train_{key}"]["command"] == run["command"]


def test_training_figures_are_the_default_job(results):
    runs = results["train"]["runs"]
    num, bp = runs["numerical"]["run"], runs["backprop"]["run"]
    iters = figures.DEV_TRAIN_ITERS if results["publish"]["dev"] else 10_000
    for run, grad in ((num, "numerical"), (bp, "backprop")):
        assert run["grad"] == grad and run["data_kind"] == "sample"
        assert run["iters"] == run["summary"]["iterations"] == iters
        assert (run["network"], run["batch_size"], run["lr"], run["seed"]) == (
            "784-50-10",
            100,
            0.1,
            0,
        )
    assert runs["numerical"]["peak_rss_mib"] > 0


def test_first_call_figure_includes_the_import(results):
    warm = results["bench"]["first_gradient"]["warm"]
    assert warm["total_s"] >= warm["import_s"] + warm["first_call_s"]
    target = next(
        t
        for t in results["bench"]["targets"]
        if t["target"].startswith("first TwoLayerNet numerical gradient")
    )
    assert "import fastgrad included" in target["target"]
    assert target["value"] == warm["total_s"]
    assert target["met"] is (warm["total_s"] < 0.5)


def test_published_run_is_the_full_one_or_says_it_is_not(results):
    if results["publish"]["dev"]:
        for names in figures.render(results).values():
            for markdown in names.values():
                assert "Development figures, not the published results" in markdown
        return
    bench = results["bench"]
    assert bench["quick"] is False and set(bench["groups"]) == set(GROUPS)
    assert "merged" not in bench  # every group from the one published run
    assert {"cold", "warm"} <= set(bench["first_gradient"])
    assert bench["memory"] is not None
    quickstart = figures.render(results)["README.md"]["quickstart"]
    cold = bench["first_gradient"]["cold"]
    assert figures._t(cold["total_s"] + cold["loss_accuracy_s"]) in quickstart


# -- the README's toolkit example runs ------------------------------------------------------------


def test_readme_toolkit_example_runs():
    """The five lines under "Numerical differentiation toolkit" in README.md, as written."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Numerical differentiation toolkit\n", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL)[1]
    assert len([line for line in code.splitlines() if line.strip()]) == 5
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    g, info, x = namespace["g"], namespace["info"], namespace["x"]
    assert g.shape == x.shape and info.method == "richardson" and info.nfev == 6 * x.size + 1
    exact = np.exp(x) * (np.sin(x) + np.cos(x))
    assert np.max(np.abs(g - exact) / np.abs(exact)) <= 1e-9  # the sum's rounding: ~1e-10
    assert np.mean(np.abs(g - exact) <= info.error) >= 0.95
