"""Every Python code block of README.md and docs/*.md runs on its own.

Each block fenced as ```python (or ```py) is written to a file and run with this interpreter
in a fresh process, from an empty temporary folder, with this checkout first on PYTHONPATH:
what a reader gets who pastes the block alone into a new script. A block fails the test when
it exits with a non-zero status (an exception, a failed ``assert``).

Blocks run as a script file rather than through ``python -c`` because Dask's LocalCluster
starts its workers by spawning processes that import the main module again: a block that
starts a cluster needs its ``if __name__ == "__main__":`` guard, and a file tests it.

Not executed, on purpose:

- ```bash blocks: shell commands. They install packages (``pip install``), train for minutes
  (``fastgrad train``), or start servers that run until stopped (``dask scheduler``); the
  commands themselves are tested by the CLI tests.
- ```text and unlabelled blocks: formulas, tables of files, output. They are not code.

A Python block that needs a cluster starts one itself on 127.0.0.1 and closes it; no block may
need the network.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PYTHON_INFO = {"python", "py"}
# The first call of each kernel compiles it when Numba's cache is empty (tens of seconds on a
# loaded 2-core machine); a block warm in the cache takes a few seconds.
TIMEOUT_S = 600

_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`\s]*)")


def fenced_blocks(text: str) -> list[tuple[str, int, str]]:
    """``(info, first line number, code)`` of every fenced block of Markdown ``text``, in
    order; ``info`` is the fence's language word, lower case ("" when there is none).

    A fence opens with three or more backticks (or tildes), indented or not (a block inside a
    list item), and closes with at least as many of the same character; the code is dedented.
    ``ValueError`` for a fence left open, which would otherwise hide the blocks after it.
    """
    blocks = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if m is None:
            i += 1
            continue
        fence, info, start = m["fence"], m["info"].lower(), i + 1
        body = []
        i += 1
        while i < len(lines):
            line = lines[i].strip()
            if line.startswith(fence[0] * len(fence)) and not line.strip(fence[0]):
                break
            body.append(lines[i])
            i += 1
        else:
            raise ValueError(f"the fence opened at line {start} is never closed")
        blocks.append((info, start, textwrap.dedent("\n".join(body) + "\n")))
        i += 1
    return blocks


def python_blocks() -> list:
    """One pytest param per Python block, with the id ``<file>-<index>`` (the index counts the
    Python blocks of that file from 0)."""
    params = []
    for path in DOCS:
        rel = path.relative_to(ROOT).as_posix()
        blocks = [b for b in fenced_blocks(path.read_text(encoding="utf-8")) if b[0] in PYTHON_INFO]
        for index, (_, line, code) in enumerate(blocks):
            params.append(pytest.param(rel, line, code, id=f"{rel}-{index}"))
    return params


def test_fences_parse() -> None:
    # the parser the other tests rely on: languages, line numbers, closing fences
    text = (
        "a\n```python\nx = 1\n```\n\n````bash\nls\n```\n````\n~~~\nplain\n~~~\n"
        "- item:\n\n  ```py\n  if x:\n      y = 2\n  ```\n"
    )
    assert fenced_blocks(text) == [
        ("python", 2, "x = 1\n"),
        ("bash", 6, "ls\n```\n"),
        ("", 10, "plain\n"),
        ("py", 15, "if x:\n    y = 2\n"),
    ]
    with pytest.raises(ValueError, match="line 2"):
        fenced_blocks("a\n```python\nx = 1\n")


def test_docs_have_python_blocks() -> None:
    # were no block found (a renamed folder, a broken parser), the parametrized test below
    # would pass by running nothing
    assert any(p.values[0] == "README.md" for p in python_blocks())
    for path in DOCS:  # and every fence of every page is closed
        fenced_blocks(path.read_text(encoding="utf-8"))


@pytest.mark.timeout(TIMEOUT_S + 60)
@pytest.mark.parametrize(("doc", "line", "code"), python_blocks())
def test_code_block_runs_alone(doc: str, line: int, code: str, tmp_path: Path) -> None:
    script = tmp_path / "block.py"
    script.write_text(code, encoding="utf-8")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env["MPLBACKEND"] = "Agg"  # a block that plots must not open a window
    try:
        run = subprocess.run(
            [sys.executable, str(script)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{doc}, the Python block at line {line}: still running after {TIMEOUT_S} s")
    assert run.returncode == 0, (
        f"{doc}, the Python block at line {line}, run alone, exited with {run.returncode}:\n"
        f"--- stdout ---\n{run.stdout[-3000:]}\n--- stderr ---\n{run.stderr[-5000:]}"
    )
