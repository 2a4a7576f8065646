"""Fresh-process probes: what a user's first calls cost, measured in a new Python process.

Each module here is a script that a fresh interpreter runs and that prints one line of JSON:

- ``compile_times``: the import, then the first and second call of each kernel family;
- ``first_gradient``: from before ``import numpy`` and ``import fastgrad`` to the first
  TwoLayerNet numerical gradient;
- ``first_calls``: cached kernels called first in a process must load and run (Numba issue
  #9938: a cached serial kernel that calls a parallel one, loaded before the threading
  layer has started, crashed the process);
- ``peak_memory``: the peak extra resident memory of one TwoLayerNet numerical gradient.

They are run by path (``python .../probes/first_gradient.py``), not with ``python -m``:
``-m fastgrad.bench.probes.NAME`` imports ``fastgrad`` before the script starts, and the
import time that the probes measure would be lost. The functions below run them; the child
imports the same ``fastgrad`` as this process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "run_probe",
    "compile_probe",
    "first_gradient_probe",
    "first_calls_probe",
    "peak_memory_probe",
]

_HERE = Path(__file__).resolve().parent
#: The folder that holds this ``fastgrad`` package, for the child's ``PYTHONPATH``.
_ROOT = _HERE.parents[2]


def run_probe(
    name: str, args: Sequence[str] = (), env: Mapping[str, str] | None = None, timeout: float = 1800
) -> dict[str, Any]:
    """Run the probe ``name`` (a module of this package) in a fresh Python process with
    ``args``; return the JSON it printed last. ``env`` is added to this process's
    environment. Raises ``RuntimeError`` when the probe fails."""
    script = _HERE / f"{name}.py"
    path = os.pathsep.join(p for p in (str(_ROOT), os.environ.get("PYTHONPATH", "")) if p)
    proc = subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": path, **(env or {})},
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"probe failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _cache_env(cache_dir: str | None) -> dict[str, str]:
    return {} if cache_dir is None else {"NUMBA_CACHE_DIR": str(cache_dir)}


def compile_probe(tasks: Sequence[str], cache_dir: str | None = None) -> dict[str, dict]:
    """First and second call times of ``tasks`` in a fresh Python process.

    ``tasks`` among "functions", "generic", "twolayer", "analytic"; the import time is always
    measured. ``cache_dir``: Numba's cache folder for that process (``NUMBA_CACHE_DIR``); an
    empty folder measures cold compilation, a populated one the warm-cache first call, and
    ``None`` uses the package's own ``__pycache__``.
    """
    return run_probe("compile_times", [",".join(tasks)], _cache_env(cache_dir))


def first_gradient_probe(cache_dir: str | None = None) -> dict[str, float]:
    """``import fastgrad`` and the first ``TwoLayerNet(784, 50, 10).numerical_gradient`` at
    batch 100, in a fresh Python process: what a user waits for before the first gradient.

    Returns ``import_s`` (``import numpy`` and ``import fastgrad``), ``first_call_s`` (the
    first gradient: compiling the kernels, or loading them from the cache), ``total_s``
    (from before the imports to the first gradient, inputs and network included),
    ``second_call_s``, ``loss_accuracy_s`` (the first loss and accuracy calls, which
    ``fastgrad train`` also makes before its first iteration) and ``process_s`` (the whole
    process, interpreter start-up included). ``cache_dir`` as in :func:`compile_probe`.
    """
    t0 = time.perf_counter()
    r = run_probe("first_gradient", [], _cache_env(cache_dir))
    r["process_s"] = time.perf_counter() - t0
    return r


def first_calls_probe() -> dict[str, Any]:
    """A fresh process whose first calls are cached kernels, as a user's would be: raises
    ``RuntimeError`` when it crashes."""
    return run_probe("first_calls")


def peak_memory_probe(hidden: int = 1000, batch: int = 1000) -> dict[str, Any]:
    """Peak extra resident memory of one ``TwoLayerNet(784, hidden, 10)`` numerical gradient
    (numba) at ``batch``, measured in a fresh process.

    tracemalloc does not see Numba's allocations, so the operating system's high-water mark
    of the resident set is used. Once the kernel is loaded and the inputs exist, the mark is
    reset (``5`` written to ``/proc/self/clear_refs``); ``extra_mib`` is the mark after the
    call (``VmHWM``) minus the resident set just before it (``VmRSS``). It includes the
    returned gradient. Where the mark cannot be reset, ``ru_maxrss`` is used, and when the
    call did not raise it only an upper bound is known (``exact`` False).
    """
    r = run_probe("peak_memory", [str(hidden), str(batch)])
    exact = r["reset"] or r["after_peak_kib"] > r["before_peak_kib"]
    extra = (r["after_peak_kib"] - r["before_rss_kib"]) / 1024
    method = (
        "peak RSS (VmHWM, reset through /proc/self/clear_refs) minus VmRSS before the "
        "call, in a fresh process"
        if r["reset"]
        else "resource.getrusage ru_maxrss minus VmRSS before the call, in a fresh process"
    )
    return {
        "hidden": hidden,
        "batch": batch,
        "extra_mib": extra,
        "exact": exact,
        "result_mib": r["result_kib"] / 1024,
        "inputs_mib": r["inputs_kib"] / 1024,
        "method": method,
    }
