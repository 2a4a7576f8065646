"""An installed copy of fastgrad (not the editable checkout) keeps Numba's cache: its second
process loads a kernel's machine code instead of compiling it again."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import json, sys
sys.path.insert(0, sys.argv[1])
import numpy as np
import fastgrad
from fastgrad.kernels import functions
functions.softmax(np.ones((2, 3)))
stats = functions.softmax.stats
print(json.dumps({"file": fastgrad.__file__, "hits": sum(stats.cache_hits.values()),
                  "misses": sum(stats.cache_misses.values())}))
"""


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The package copied into a folder of its own, as an install lays it out, without the
    checkout's caches (building a wheel would need a newer setuptools from the network)."""
    site = tmp_path_factory.mktemp("site")
    ignore = shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc", "*.pyc")
    shutil.copytree(ROOT / "fastgrad", site / "fastgrad", ignore=ignore)
    return site


def test_an_installed_copy_loads_its_kernels_from_the_cache(installed):
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["PYTHONPATH"] = ""
    first, second = (
        json.loads(run(sys.executable, "-c", PROBE, str(installed), env=env).stdout)
        for _ in range(2)
    )
    assert first["file"].startswith(str(installed))  # the installed copy, not the checkout
    assert first["hits"] == 0 and first["misses"] >= 1  # a fresh install compiles
    assert second["hits"] >= 1  # the next process loads it
