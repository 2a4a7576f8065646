"""JIT compilation, measured apart from steady state, in fresh processes
(``benchmarks/probes.py``):

- cold: ``NUMBA_CACHE_DIR`` pointed at an empty temporary folder, so every cacheable kernel
  compiles;
- warm: a second fresh process on the now populated folder: the first call loads the
  machine code from the cache;
- the first TwoLayerNet numerical gradient of a fresh process, ``import fastgrad`` included.

The generic kernel takes the user's function as an argument and cannot be cached: its first
call compiles in every process. Cold compilation of the TwoLayerNet kernels takes tens of
seconds and runs only with ``--bench-large``. The figures are printed in the terminal summary
(single first calls, not pytest-benchmark statistics).
"""

from __future__ import annotations

import pytest
from probes import run_probe

CHEAP = "functions,generic"
ALL = "functions,generic,twolayer,analytic"


def _report(note, label, res):
    for task, t in res.items():
        second = f", steady second call {t['second'] * 1e3:.2f} ms" if "second" in t else ""
        note(f"compile, {label}: {task} first call {t['first']:.3f} s{second}")


def test_compile_cold_then_warm(tmp_path, note):
    cold = run_probe("compile", CHEAP, cache_dir=tmp_path)
    warm = run_probe("compile", CHEAP, cache_dir=tmp_path)
    _report(note, "cold (empty NUMBA_CACHE_DIR)", cold)
    _report(note, "warm cache, fresh process", warm)
    # the cacheable kernels load from the cache faster than they compile
    assert warm["functions"]["first"] < cold["functions"]["first"]


def test_compile_warm_package_cache(note):
    """The first call in a fresh process with the package's own cache (``__pycache__``)."""
    res = run_probe("compile", ALL)
    _report(note, "package cache, fresh process", res)
    assert set(res) == {"import", *ALL.split(",")}


def test_first_gradient_counts_the_import(note):
    r = run_probe("first-gradient")
    note(
        f"first TwoLayerNet 784-50-10 numerical gradient, fresh process: {r['total_s']:.3f} s "
        f"(import {r['import_s']:.3f} s, first call {r['first_call_s']:.3f} s)"
    )
    assert r["total_s"] >= r["import_s"] + r["first_call_s"] > 0


@pytest.mark.large
def test_compile_cold_two_layer(tmp_path, note):
    cold = run_probe("compile", ALL, cache_dir=tmp_path)
    warm = run_probe("compile", ALL, cache_dir=tmp_path)
    _report(note, "cold (empty NUMBA_CACHE_DIR)", cold)
    _report(note, "warm cache, fresh process", warm)
    assert warm["twolayer"]["first"] < cold["twolayer"]["first"]
